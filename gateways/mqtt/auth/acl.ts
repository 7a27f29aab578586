import { checkTopicFilter } from "../../../actors/index.ts";
import { SwitchboardError } from "../../../runtime/index.ts";

export type MqttAclAccess = "publish" | "subscribe" | "all";
export type MqttAclAction = "allow" | "deny";

/** One line of the access list. */
export interface MqttAclRule {
  readonly action: MqttAclAction;
  /** A tenant name, or `*` for every tenant. */
  readonly tenant: string;
  /** A user name, or `*` for every user (an anonymous client's user is its client id). */
  readonly user: string;
  /** `true`: only anonymous clients; `false`: only clients that proved who they are; absent: both. */
  readonly anonymous?: boolean;
  readonly access: MqttAclAccess;
  /**
   * An MQTT topic filter. A level that is exactly `%u` stands for the user, one that is
   * exactly `%c` for the client id, as in Mosquitto's `pattern` lines.
   */
  readonly topic: string;
}

/** The access list: rules tried in order, the first that matches decides, else `default`. */
export interface MqttAclSettings {
  readonly default: MqttAclAction;
  readonly rules: readonly MqttAclRule[];
}

/** Who is asking: what the authenticator said, and the connection's client id. */
export interface MqttClientIdentity {
  readonly tenant: string;
  readonly user: string;
  readonly clientId: string;
  readonly anonymous?: boolean;
}

/** The access list applied to one client: what a connection keeps for its lifetime. */
export interface MqttClientAcl {
  /** Whether the client may publish to `topic` (a topic name; one holding a wildcard is refused). */
  canPublish(topic: string): boolean;
  /**
   * Whether the client may subscribe to `filter`: allowed only when an allowing rule's
   * filter covers every topic `filter` matches. A shared subscription
   * (`$share/<group>/<filter>`) is checked by its filter. A malformed filter is refused.
   */
  canSubscribe(filter: string): boolean;
  /**
   * Whether a message on `topic`, matched by one of the client's subscriptions, may be
   * delivered to it, under the subscribe rules. A deny narrower than a subscription
   * does not refuse the subscription (deny `sensors/secret/#` then allow `sensors/#`
   * still grants `sensors/#`), so it holds at delivery, as Mosquitto's read check does.
   * Needed only when `checksDelivery`.
   */
  canReceive(topic: string): boolean;
  /** Whether any subscribe rule for this client denies: only then can `canReceive` refuse what a granted subscription matches. */
  readonly checksDelivery: boolean;
}

export interface MqttAcl {
  canPublish(who: MqttClientIdentity, topic: string): boolean;
  canSubscribe(who: MqttClientIdentity, filter: string): boolean;
  canReceive(who: MqttClientIdentity, topic: string): boolean;
  /**
   * The rules that concern `who`, substituted once: what a connection keeps for its
   * lifetime. Clients that no rule concerns share one view, so they cost no memory.
   */
  forClient(who: MqttClientIdentity): MqttClientAcl;
}

const user = Symbol("%u");
const client = Symbol("%c");
type PatternLevel = string | typeof user | typeof client;

interface CompiledRule {
  readonly rule: MqttAclRule;
  readonly allow: boolean;
  readonly publish: boolean;
  readonly subscribe: boolean;
  readonly levels: readonly PatternLevel[];
  readonly substitutes: boolean;
}

/** A rule bound to one client: its levels with `%u`/`%c` replaced, or `"any"` (see `bind`). */
interface BoundRule {
  readonly allow: boolean;
  readonly levels: readonly string[] | "any";
}

/**
 * Checks a rule's topic pattern: a well-formed topic filter where `%u` and `%c` stand
 * alone in their level. Throws `invalid_argument`.
 */
export function checkAclPattern(topic: string): string {
  checkTopicFilter(topic);
  for (const level of topic.split("/")) {
    if (level !== "%u" && level !== "%c" && (level.includes("%u") || level.includes("%c"))) {
      throw new SwitchboardError("invalid_argument", `${JSON.stringify(topic)}: %u and %c stand alone in their level (devices/%u/#, not devices/id-%u)`);
    }
  }
  return topic;
}

/**
 * Compiles the rules once (their filters split into levels); each connection makes its
 * client's view of them once (only the rules for its tenant and user, `%u` and `%c`
 * substituted), so a check walks the client's rules level by level without allocating
 * more than the topic's split. Rules must already be checked (`checkAclPattern`).
 */
export function createAcl(settings: MqttAclSettings): MqttAcl {
  const compiled: CompiledRule[] = settings.rules.map((rule) => {
    const levels = rule.topic.split("/").map((l): PatternLevel => (l === "%u" ? user : l === "%c" ? client : l));
    return {
      rule,
      allow: rule.action === "allow",
      publish: rule.access !== "subscribe",
      subscribe: rule.access !== "publish",
      levels,
      substitutes: levels.some((l) => typeof l !== "string"),
    };
  });
  const fallback = settings.default === "allow";
  const byDefault = new ClientAcl([], [], fallback);

  function forClient(who: MqttClientIdentity): MqttClientAcl {
    const publish: BoundRule[] = [];
    const subscribe: BoundRule[] = [];
    for (const c of compiled) {
      if (!applies(c.rule, who)) continue;
      const bound = bind(c, who);
      if (bound === undefined) continue;
      if (c.publish) publish.push(bound);
      if (c.subscribe) subscribe.push(bound);
    }
    return publish.length === 0 && subscribe.length === 0 ? byDefault : new ClientAcl(publish, subscribe, fallback);
  }

  return {
    canPublish: (who, topic) => forClient(who).canPublish(topic),
    canSubscribe: (who, filter) => forClient(who).canSubscribe(filter),
    canReceive: (who, topic) => forClient(who).canReceive(topic),
    forClient,
  };
}

class ClientAcl implements MqttClientAcl {
  readonly #publish: readonly BoundRule[];
  readonly #subscribe: readonly BoundRule[];
  readonly #fallback: boolean;
  readonly checksDelivery: boolean;

  constructor(publish: readonly BoundRule[], subscribe: readonly BoundRule[], fallback: boolean) {
    this.#publish = publish;
    this.#subscribe = subscribe;
    this.#fallback = fallback;
    this.checksDelivery = subscribe.some((r) => !r.allow);
  }

  canPublish(topic: string): boolean {
    if (!isTopicName(topic)) return false;
    return this.#publish.length === 0 ? this.#fallback : decide(this.#publish, topic.split("/"), this.#fallback);
  }

  canSubscribe(filter: string): boolean {
    const levels = filterLevels(filter);
    if (levels === undefined) return false;
    return this.#subscribe.length === 0 ? this.#fallback : decide(this.#subscribe, levels, this.#fallback);
  }

  canReceive(topic: string): boolean {
    return this.#subscribe.length === 0 ? this.#fallback : decide(this.#subscribe, topic.split("/"), this.#fallback);
  }
}

function applies(rule: MqttAclRule, who: MqttClientIdentity): boolean {
  return (
    (rule.tenant === "*" || rule.tenant === who.tenant) &&
    (rule.user === "*" || rule.user === who.user) &&
    (rule.anonymous === undefined || rule.anonymous === (who.anonymous === true))
  );
}

/**
 * Substitutes `%u` and `%c`. A value that is empty or holds `/`, `+` or `#` would
 * change the pattern's shape (client `a/b` would reach into client `a`'s
 * `devices/a/#`), so it is never substituted: an allowing rule then does not apply,
 * and a denying rule denies everything, since what it meant to deny cannot be told.
 */
function bind(c: CompiledRule, who: MqttClientIdentity): BoundRule | undefined {
  if (!c.substitutes) return { allow: c.allow, levels: c.levels as string[] };
  const levels: string[] = [];
  for (const l of c.levels) {
    const value = l === user ? who.user : l === client ? who.clientId : l;
    if (typeof l !== "string" && !isSafeLevel(value)) return c.allow ? undefined : { allow: false, levels: "any" };
    levels.push(value);
  }
  return { allow: c.allow, levels };
}

function isSafeLevel(value: string): boolean {
  return value.length > 0 && !value.includes("/") && !value.includes("+") && !value.includes("#");
}

function decide(rules: readonly BoundRule[], levels: readonly string[], fallback: boolean): boolean {
  for (const r of rules) {
    if (r.levels === "any" || filterCovers(r.levels, levels)) return r.allow;
  }
  return fallback;
}

/**
 * Whether the filter `rule` matches every topic that the filter (or topic name)
 * `filter` matches, both given as their levels and well-formed. With topic names this
 * is plain matching. `+` is one level (possibly empty), a last `#` is its parent and
 * every level below, and a topic starting with `$` is matched by no filter that starts
 * with a wildcard ([MQTT-4.7.2-1]), so `#` covers no `$SYS/…` topic.
 */
export function filterCovers(rule: readonly string[], filter: readonly string[]): boolean {
  if (filter[0]!.startsWith("$") && (rule[0] === "+" || rule[0] === "#")) return false;
  for (let i = 0; ; i++) {
    const r = rule[i];
    const f = filter[i];
    if (r === "#") return true; // the parent (f undefined) and everything below
    if (f === undefined) return r === undefined;
    if (r === undefined) return false;
    // `#` matches the parent level too, which only another `#` covers; except that a
    // whole-tree `#` has no parent level (a topic has at least one), and `+/#` matches
    // every topic with at least one level.
    if (f === "#") return i === 0 && r === "+" && rule.length === 2 && rule[1] === "#";
    if (f === "+") {
      if (r !== "+") return false;
    } else if (r !== "+" && r !== f) return false;
  }
}

function isTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes("+") && !topic.includes("#");
}

/** The levels of a well-formed filter, `$share/<group>/` removed; undefined when malformed. */
function filterLevels(filter: string): string[] | undefined {
  if (filter.startsWith("$share/")) {
    const slash = filter.indexOf("/", 7);
    if (slash <= 7) return undefined;
    const group = filter.slice(7, slash);
    if (group.includes("+") || group.includes("#")) return undefined; // [MQTT-4.8.2-2]
    filter = filter.slice(slash + 1);
  }
  if (filter.length === 0) return undefined;
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l === "#") {
      if (i !== levels.length - 1) return undefined;
    } else if (l !== "+" && (l.includes("+") || l.includes("#"))) return undefined;
  }
  return levels;
}
