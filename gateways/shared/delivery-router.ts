import { createHash } from "node:crypto";
import { Event } from "../../protos/index.ts";
import { createLogger, type Logger, type Transport, type TransportSubscription } from "../../runtime/index.ts";
import { channelSubject, filterSubjects } from "./delivery-subjects.ts";
import { oneOrMoreEach, oneOrMoreSize, OneOrMoreMap, TopicTree } from "./topic-tree.ts";

/** Who gets events: a client connection, a gRPC stream. */
export interface Receiver {
  /**
   * One event, with every subscription of this receiver that it matched (several
   * when overlapping topic filters match one message). Called synchronously inside
   * `publish` for local events; must not throw.
   */
  receive(event: Event, matched: readonly RouterSubscription[]): void;
}

/** One subscription: a receiver's interest in a channel or, for topics, a filter. */
export interface RouterSubscription {
  readonly receiver: Receiver;
  readonly tenant: string;
  /** `topic:<filter>`, `user:<user>`, `presence:<user>` or `topics`. */
  readonly channel: string;
  /** Whatever the subscriber wants back with each event (MQTT's QoS and options). */
  readonly data: unknown;
  close(): void;
}

export interface DeliveryRouterOptions {
  /**
   * The cluster's transport, with echo off: events published here travel to the other
   * nodes over it, and theirs come back. Absent in the embedded mode.
   */
  readonly transport?: Transport;
  /**
   * A second connection, with echo on, for shared subscriptions (NATS queue groups):
   * a group's members on every node, this one included, share each message. Needed
   * with `transport`.
   */
  readonly sharedTransport?: Transport;
  /** Subject prefix, e.g. `sb.<cluster>.d`. Default `sb.d`. */
  readonly subjectPrefix?: string;
  readonly logger?: Logger;
}

export interface RouterMetrics {
  /** Events published on this node. */
  published: number;
  /** Events that arrived from other nodes. */
  received: number;
  /** Arrivals dropped because the same event had arrived already (two subscriptions of this node matched it). */
  duplicates: number;
  /** Deliveries to receivers (one per receiver per event). */
  delivered: number;
}

/**
 * This node's end of the data path. Receivers subscribe to channels; an event
 * published on this node reaches its local receivers at once and the other nodes over
 * NATS; an event from another node reaches the local receivers the same way.
 *
 * Fan-out rides NATS interest: the router holds one NATS subscription per subject it
 * has local receivers for, however many receivers share it, so one event crosses NATS
 * once per interested node and is fanned out here. A topic filter is matched in a
 * local tree. When two of the node's NATS subscriptions match one event (overlapping
 * wildcards) it arrives twice and is delivered once.
 */
export class DeliveryRouter {
  readonly metrics: RouterMetrics = { published: 0, received: 0, duplicates: 0, delivered: 0 };
  readonly #transport: Transport | undefined;
  readonly #prefix: string;
  readonly #logger: Logger;
  /** Exact channels: `tenant\0channel` → subscriptions. */
  readonly #exact = new OneOrMoreMap<string, Entry>();
  /** Topic filters per tenant. */
  readonly #topics = new Map<string, TopicTree<Entry>>();
  /** NATS subscriptions by subject, counted by local subscriptions that need them. */
  readonly #remote = new Map<string, { count: number; sub: TransportSubscription }>();
  /** Ids of recent events from other nodes, oldest first. */
  readonly #recent: string[] = [];
  readonly #recentSet = new Set<string>();
  readonly #resync = new Set<() => void>();
  readonly #slots = new WeakMap<Receiver, Slot>();
  readonly #sharedTransport: Transport | undefined;
  /** Shared subscription groups by tenant, under their filters. */
  readonly #groups = new Map<string, TopicTree<SharedGroup>>();
  readonly #groupsByKey = new Map<string, SharedGroup>();
  #stamp = 0;
  /** Deliveries in progress (a receiver may publish from within one). */
  #depth = 0;
  /** The outermost delivery's collection, reused; a nested one makes its own. */
  readonly #outermost: Collection = { stamp: 0, touched: [], lists: [] };
  /** The delivery whose matches are being collected now. */
  #collecting: Collection = this.#outermost;
  /** Adds a matched entry to the delivery being collected (a method, not a closure made per delivery). */
  readonly #collect = (entry: Entry): void => {
    const c = this.#collecting;
    const slot = entry.slot;
    if (slot.stamp !== c.stamp) {
      slot.stamp = c.stamp;
      slot.matched = [];
      c.touched.push(slot);
      c.lists.push(slot.matched);
    }
    slot.matched.push(entry);
  };
  readonly #collectGroup = (g: SharedGroup): void => this.#collect(pickMember(g));

  constructor(options: DeliveryRouterOptions = {}) {
    this.#transport = options.transport;
    this.#sharedTransport = options.sharedTransport ?? options.transport;
    this.#prefix = options.subjectPrefix ?? "sb.d";
    this.#logger = (options.logger ?? createLogger({ nodeId: "router", level: "silent" })).child({ component: "router" });
    this.#transport?.onConnectionChange((connected) => {
      // Events published while this node was cut off are gone: numbered channels catch up.
      if (connected) for (const listener of [...this.#resync]) listener();
    });
  }

  /** Whether events cross to other nodes (cluster mode). */
  get clustered(): boolean {
    return this.#transport !== undefined;
  }

  /**
   * Subscribes `receiver` to `channel` of `tenant` (a topic channel may hold a filter).
   * Channel names must already be checked. Closing the returned subscription is
   * idempotent. Throws `limit_exceeded` for a name too long to travel between nodes.
   */
  subscribe(tenant: string, channel: string, receiver: Receiver, data?: unknown): RouterSubscription {
    const subjects = this.#transport === undefined ? noSubjects : channel.startsWith("topic:") ? filterSubjects(this.#prefix, tenant, channel.slice(6)) : [channelSubject(this.#prefix, tenant, channel)];
    let slot = this.#slots.get(receiver);
    if (slot === undefined) this.#slots.set(receiver, (slot = { receiver, stamp: 0, matched: noEntries }));
    const entry = new Entry(this, slot, tenant, channel, data, subjects);
    if (channel.startsWith("topic:")) {
      let tree = this.#topics.get(tenant);
      if (tree === undefined) this.#topics.set(tenant, (tree = new TopicTree()));
      tree.add(channel.slice(6), entry);
    } else {
      this.#exact.add(`${tenant}\u0000${channel}`, entry);
    }
    for (const subject of subjects) this.#retain(subject);
    return entry;
  }

  /**
   * Joins `receiver` to the shared subscription `group` on `filter` of `tenant`
   * (MQTT's `$share/<group>/<filter>`): each message the filter matches goes to one
   * member of the group, across every node (NATS queue groups in a cluster, turn by
   * turn among this node's members).
   */
  subscribeShared(tenant: string, group: string, filter: string, receiver: Receiver, data?: unknown): RouterSubscription {
    const key = `${tenant}\u0000${group}\u0000${filter}`;
    let g = this.#groupsByKey.get(key);
    if (g === undefined) {
      g = { key, tenant, filter, members: [], next: 0, remote: [] };
      this.#groupsByKey.set(key, g);
      let tree = this.#groups.get(tenant);
      if (tree === undefined) this.#groups.set(tenant, (tree = new TopicTree()));
      tree.add(filter, g);
      const shared = this.#sharedTransport;
      if (this.#transport !== undefined && shared !== undefined) {
        const queue = `sbq.${createHash("sha256").update(key).digest("base64url").slice(0, 22)}`;
        const group = g;
        for (const subject of filterSubjects(this.#prefix, tenant, filter)) {
          group.remote.push(shared.subscribe(subject, (msg) => this.#arrivedShared(group, msg.data), { queue }));
        }
      }
    }
    let slot = this.#slots.get(receiver);
    if (slot === undefined) this.#slots.set(receiver, (slot = { receiver, stamp: 0, matched: noEntries }));
    const entry = new Entry(this, slot, tenant, `topic:${filter}`, data, [], g);
    g.members.push(entry);
    return entry;
  }

  /** Calls `listener` whenever events may have been missed (the link to the cluster came back). Returns a remover. */
  onResync(listener: () => void): () => void {
    this.#resync.add(listener);
    return () => void this.#resync.delete(listener);
  }

  /**
   * Delivers `event` to this node's receivers on `channel` of `tenant` and sends it to
   * the other nodes. The event is shared with local receivers, not copied.
   */
  publish(tenant: string, channel: string, event: Event): void {
    this.metrics.published++;
    this.#deliver(tenant, channel, event);
    const transport = this.#transport;
    if (transport === undefined) return;
    let subject: string;
    try {
      subject = channelSubject(this.#prefix, tenant, channel);
    } catch (err) {
      this.#logger.warn({ err, tenant, channel }, "event not sent to other nodes");
      return;
    }
    transport.publish(subject, Event.encode(event).finish()).catch((err: unknown) => this.#logger.warn({ err, subject }, "event not sent to other nodes"));
  }

  /** Local subscriptions, for metrics and tests. */
  get subscriptions(): number {
    let n = 0;
    for (const s of this.#exact.values()) n += oneOrMoreSize(s);
    for (const t of this.#topics.values()) n += t.size;
    return n;
  }

  /** NATS subscriptions held. */
  get remoteSubscriptions(): number {
    return this.#remote.size;
  }

  /** @internal Closing an entry. */
  remove(entry: Entry): void {
    const g = entry.group;
    if (g !== undefined) {
      const i = g.members.indexOf(entry);
      if (i >= 0) g.members.splice(i, 1);
      if (g.members.length > 0) return;
      this.#groupsByKey.delete(g.key);
      const tree = this.#groups.get(g.tenant);
      if (tree?.remove(g.filter, g) && tree.size === 0) this.#groups.delete(g.tenant);
      for (const sub of g.remote) sub.close().catch(() => undefined);
      return;
    }
    if (entry.channel.startsWith("topic:")) {
      const tree = this.#topics.get(entry.tenant);
      if (tree?.remove(entry.channel.slice(6), entry) && tree.size === 0) this.#topics.delete(entry.tenant);
    } else {
      this.#exact.delete(`${entry.tenant}\u0000${entry.channel}`, entry);
    }
    for (const subject of entry.subjects) this.#release(subject);
  }

  #deliver(tenant: string, channel: string, event: Event): void {
    // The lists are captured per delivery: a receiver that publishes from `receive`
    // starts a nested delivery that gives the slots new lists.
    const outer = this.#collecting;
    const c = this.#depth++ === 0 ? this.#outermost : { stamp: 0, touched: [], lists: [] };
    c.stamp = ++this.#stamp;
    this.#collecting = c;
    const { touched, lists } = c;
    try {
      if (channel.startsWith("topic:")) {
        const name = channel.slice(6);
        this.#topics.get(tenant)?.match(name, this.#collect);
        // Shared groups: here only on one node; in a cluster every message reaches them through their queue group.
        if (this.#transport === undefined) this.#groups.get(tenant)?.match(name, this.#collectGroup);
      } else {
        const held = this.#exact.get(`${tenant}\u0000${channel}`);
        if (held !== undefined) oneOrMoreEach(held, this.#collect);
      }
      for (let i = 0; i < touched.length; i++) {
        this.metrics.delivered++;
        try {
          touched[i]!.receiver.receive(event, lists[i]!);
        } catch (err) {
          this.#logger.error({ err, tenant, channel }, "a receiver failed");
        }
      }
    } finally {
      this.#depth--;
      this.#collecting = outer;
      // A slot keeps no entries between deliveries (it would hold them past their close).
      for (let i = 0; i < touched.length; i++) touched[i]!.matched = noEntries;
      touched.length = 0;
      lists.length = 0;
    }
  }

  #retain(subject: string): void {
    const held = this.#remote.get(subject);
    if (held !== undefined) {
      held.count++;
      return;
    }
    const sub = this.#transport!.subscribe(subject, (msg) => this.#arrived(msg.data));
    this.#remote.set(subject, { count: 1, sub });
  }

  #release(subject: string): void {
    const held = this.#remote.get(subject);
    if (held === undefined || --held.count > 0) return;
    this.#remote.delete(subject);
    held.sub.close().catch(() => undefined);
  }

  /** An event from another node; undefined (and logged) when it cannot be decoded. */
  #decode(data: Uint8Array): Event | undefined {
    try {
      return Event.decode(data);
    } catch (err) {
      this.#logger.warn({ err }, "an event from another node could not be decoded");
      return undefined;
    }
  }

  /** A message a shared group's queue subscription got: to one member here. */
  #arrivedShared(group: SharedGroup, data: Uint8Array): void {
    if (group.members.length === 0) return;
    const event = this.#decode(data);
    if (event === undefined) return;
    const member = pickMember(group);
    this.metrics.delivered++;
    try {
      member.receiver.receive(event, [member]);
    } catch (err) {
      this.#logger.error({ err, tenant: group.tenant }, "a receiver failed");
    }
  }

  #arrived(data: Uint8Array): void {
    const event = this.#decode(data);
    if (event === undefined) return;
    if (this.#recentSet.has(event.eventId)) {
      this.metrics.duplicates++;
      return;
    }
    this.#recentSet.add(event.eventId);
    this.#recent.push(event.eventId);
    if (this.#recent.length > 1024) this.#recentSet.delete(this.#recent.shift()!);
    this.metrics.received++;
    this.#deliver(event.tenant, event.channel, event);
  }
}

/** A shared subscription group on this node: its members, taking turns. */
interface SharedGroup {
  readonly key: string;
  readonly tenant: string;
  readonly filter: string;
  readonly members: Entry[];
  next: number;
  readonly remote: TransportSubscription[];
}

function pickMember(g: SharedGroup): Entry {
  const m = g.members[g.next % g.members.length]!;
  g.next = (g.next + 1) % 1_000_000_007;
  return m;
}

/** What one delivery matched: the slots it touched, and each one's entries. */
interface Collection {
  stamp: number;
  readonly touched: Slot[];
  readonly lists: Entry[][];
}

/** One receiver's grouping of its matched subscriptions for the event being delivered. */
interface Slot {
  readonly receiver: Receiver;
  stamp: number;
  matched: Entry[];
}

/** What a slot holds between deliveries, and an Entry without NATS subjects: shared, never written. */
const noEntries: Entry[] = [];
const noSubjects: readonly string[] = [];

class Entry implements RouterSubscription {
  readonly receiver: Receiver;
  readonly tenant: string;
  readonly channel: string;
  readonly data: unknown;
  readonly subjects: readonly string[];
  readonly slot: Slot;
  readonly group: SharedGroup | undefined;
  readonly #router: DeliveryRouter;
  #open = true;

  constructor(router: DeliveryRouter, slot: Slot, tenant: string, channel: string, data: unknown, subjects: readonly string[], group?: SharedGroup) {
    this.#router = router;
    this.group = group;
    this.receiver = slot.receiver;
    this.slot = slot;
    this.tenant = tenant;
    this.channel = channel;
    this.data = data;
    this.subjects = subjects;
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#router.remove(this);
  }
}
