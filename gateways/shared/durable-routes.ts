import { createHash } from "node:crypto";
import type { Message } from "../../protos/index.ts";
import type { KvTable, KvWatch, Logger } from "../../runtime/index.ts";
import { TopicTree } from "./topic-tree.ts";

/**
 * A subscription that outlives its connection: a persistent client session's
 * subscription of QoS 1 or 2. Messages it matches are queued in the session (its
 * actor) by whichever node they are published on, before the publisher is answered.
 */
export interface DurableRoute {
  readonly tenant: string;
  readonly clientId: string;
  readonly filter: string;
  /** The subscription's maximum QoS: 1 or 2. */
  readonly qos: 1 | 2;
  /** Subscription Identifier (MQTT 5); 0 none. */
  readonly id: number;
  /** No Local: messages the session's own client published are not queued. */
  readonly nl: boolean;
  /** Retain As Published. */
  readonly rap: boolean;
}

/** What one message means for one session: every route of it that matched, folded. */
export interface RouteMatch {
  readonly clientId: string;
  /** The delivery QoS: the highest over the matching routes, at most the message's. */
  readonly qos: 1 | 2;
  readonly subscriptionIds: number[];
  readonly retain: boolean;
}

/** Queues `message` in a session; `gone` when there is no session any more. */
export type Enqueue = (tenant: string, match: RouteMatch, message: Message) => Promise<{ gone: boolean }>;

/**
 * The cluster's durable routes, kept in a `KvTable` (JetStream key-value in a cluster,
 * level on one node) and mirrored in memory on every node as a topic tree per tenant.
 * This node's own changes apply at once; other nodes' arrive through the table's
 * watch, within moments: a message published elsewhere in that moment reaches the
 * subscriber live, if it is connected, but is not queued.
 *
 * A route whose session has ended (its expiry passed while offline) is found out when
 * a message is queued for it, and removed then.
 */
export class DurableRoutes {
  readonly #table: KvTable;
  readonly #logger: Logger;
  readonly #trees = new Map<string, TopicTree<DurableRoute>>();
  /** Every route by its table key. */
  readonly #byKey = new Map<string, DurableRoute>();
  #watch: KvWatch | undefined;
  #following: Promise<void> | undefined;

  constructor(table: KvTable, logger: Logger) {
    this.#table = table;
    this.#logger = logger;
  }

  /** Loads the table and follows it. */
  async start(): Promise<void> {
    this.#watch = this.#table.watch();
    for (const e of await this.#table.entries()) this.#put(e.key, e.value);
    const watch = this.#watch;
    this.#following = (async () => {
      try {
        for await (const change of watch) {
          if (change.op === "put") this.#put(change.entry.key, change.entry.value);
          else this.#delete(change.key);
        }
      } catch (err) {
        this.#logger.warn({ err }, "durable routes: the table watch ended");
      }
    })();
  }

  /** Routes held now, for metrics and tests. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Records (or replaces) a route; this node matches it at once. */
  async add(route: DurableRoute): Promise<void> {
    const key = routeKey(route.tenant, route.clientId, route.filter);
    const value = new TextEncoder().encode(JSON.stringify(route));
    this.#put(key, value);
    await this.#table.put(key, value);
  }

  /** Removes a session's route for `filter`, if any. */
  async remove(tenant: string, clientId: string, filter: string): Promise<void> {
    const key = routeKey(tenant, clientId, filter);
    if (!this.#byKey.has(key)) return;
    this.#delete(key);
    await this.#table.delete(key);
  }

  /** Removes every route of a session (its end, a clean start). */
  async removeAll(tenant: string, clientId: string): Promise<void> {
    const prefix = `${token(tenant)}.${token(clientId)}.`;
    const keys = new Set([...this.#byKey.keys()].filter((k) => k.startsWith(prefix)));
    for (const e of await this.#table.entries(prefix)) keys.add(e.key);
    for (const key of keys) {
      this.#delete(key);
      await this.#table.delete(key);
    }
  }

  /**
   * The sessions a message of QoS 1 or 2 on `topic` is queued for: the routes that
   * match, folded per session, without those whose No Local excludes the message's
   * own client.
   */
  match(tenant: string, topic: string, message: Message): RouteMatch[] {
    const tree = this.#trees.get(tenant);
    if (tree === undefined || message.qos === 0) return [];
    const bySession = new Map<string, { qos: 1 | 2; ids: number[]; retain: boolean }>();
    tree.match(topic, (r) => {
      if (r.nl && message.fromResource === r.clientId) return;
      const qos = Math.min(r.qos, message.qos) as 1 | 2;
      const m = bySession.get(r.clientId);
      if (m === undefined) bySession.set(r.clientId, { qos, ids: r.id > 0 ? [r.id] : [], retain: r.rap && message.retain });
      else {
        if (qos > m.qos) m.qos = qos;
        if (r.id > 0) m.ids.push(r.id);
        if (r.rap && message.retain) m.retain = true;
      }
    });
    return [...bySession].map(([clientId, m]) => ({ clientId, qos: m.qos, subscriptionIds: m.ids, retain: m.retain }));
  }

  /**
   * Queues `message` in every session it matches; resolves when all are stored.
   * Sessions found gone lose their routes.
   */
  async deliver(tenant: string, topic: string, message: Message, enqueue: Enqueue): Promise<void> {
    const matches = this.match(tenant, topic, message);
    if (matches.length === 0) return;
    await Promise.all(
      matches.map(async (m) => {
        const r = await enqueue(tenant, m, message);
        if (r.gone) await this.removeAll(tenant, m.clientId).catch((err: unknown) => this.#logger.warn({ err, clientId: m.clientId }, "stale durable routes not removed"));
      }),
    );
  }

  async close(): Promise<void> {
    this.#watch?.close();
    await this.#following;
  }

  #put(key: string, value: Uint8Array): void {
    let route: DurableRoute;
    try {
      route = JSON.parse(new TextDecoder().decode(value)) as DurableRoute;
    } catch {
      this.#logger.warn({ key }, "durable routes: an entry is not a route");
      return;
    }
    this.#delete(key);
    this.#byKey.set(key, route);
    let tree = this.#trees.get(route.tenant);
    if (tree === undefined) this.#trees.set(route.tenant, (tree = new TopicTree()));
    tree.add(route.filter, route);
  }

  #delete(key: string): void {
    const old = this.#byKey.get(key);
    if (old === undefined) return;
    this.#byKey.delete(key);
    const tree = this.#trees.get(old.tenant);
    if (tree?.remove(old.filter, old) && tree.size === 0) this.#trees.delete(old.tenant);
  }
}

/** `<tenant>.<client>.<filter hash>`, each part in the characters a KV key allows. */
function routeKey(tenant: string, clientId: string, filter: string): string {
  return `${token(tenant)}.${token(clientId)}.${createHash("sha256").update(filter).digest("base64url").slice(0, 32)}`;
}

/** A name as key characters; a long one by its hash, so a key stays within 256 characters. */
function token(s: string): string {
  const plain = Buffer.from(s, "utf8").toString("base64url");
  if (plain.length === 0) return "_";
  return plain.length <= 88 ? plain : `h${createHash("sha256").update(s).digest("base64url")}`;
}
