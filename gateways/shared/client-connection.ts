import { Message, type Event, type MemberEvent, type Presence } from "../../protos/index.ts";
import { checkTopicFilter, isWildcardFilter, presenceChannel, topicChannel, userChannel, type PresenceName, type SessionActor, type TopicActor } from "../../actors/index.ts";
import { SwitchboardError } from "../../runtime/index.ts";
import type { ActorRef, Clock, Logger } from "../../runtime/index.ts";
import type { DeliveryRouter, Receiver, RouterSubscription } from "./delivery-router.ts";
import type { Destination, HistoryPage, MessageInput, Sender, SendResult } from "./send-types.ts";
import { SeqTracker } from "./seq-tracker.ts";
import type { TopicRegistry } from "./topic-registry.ts";

/** What a connection needs of the messaging API (`Messaging` is one). */
export interface ConnectionHost {
  readonly router: DeliveryRouter;
  readonly registry: TopicRegistry;
  readonly nodeId: string;
  readonly clock: Clock;
  readonly logger: Logger;
  session(tenant: string, user: string): ActorRef<SessionActor["handlers"]>;
  topic(tenant: string, topic: string): ActorRef<(typeof TopicActor)["handlers"]>;
  send(tenant: string, from: Sender | undefined, to: Destination, input: MessageInput): Promise<SendResult>;
  history(tenant: string, topic: string, page: HistoryPage, asUser: string): Promise<{ messages: Message[]; lastSeq: number }>;
}

/** How a message reached a connection. */
export type Delivery =
  | { readonly kind: "inbox" }
  /** Through the connection's topic subscriptions: the `data` each matching one was made with. */
  | { readonly kind: "topic"; readonly subscriptions: readonly unknown[] };

/** What a gateway hears from its connection's session. Calls must not throw. */
export interface ConnectionListener {
  /** A message: from the user's inbox, or matched by topic subscriptions. Each once, inbox and managed topics in seq order. */
  message(message: Message, delivery: Delivery): void;
  /** A watched user's presence, or a member's on a topic with member presence. */
  presence?(presence: Presence, channel: string): void;
  /** Someone joined or left a subscribed managed topic. */
  member?(event: MemberEvent): void;
  /** Another connection took this one's resource: the gateway closes this one (MQTT 0x8E, XMPP conflict). */
  takenOver?(): void;
}

export interface AttachOptions {
  readonly tenant: string;
  readonly user: string;
  /** The device or client: MQTT client id, XMPP resource, browser tab id. */
  readonly resource: string;
  /** Keep the device's place in the inbox while it is offline (MQTT persistent session). */
  readonly persistent?: boolean;
  /** How long an offline persistent device is kept, ms; 0: for ever. */
  readonly expiryMs?: number;
  readonly presence?: PresenceName;
  readonly listener: ConnectionListener;
}

export interface TopicSubscription {
  readonly filter: string;
  readonly managed: boolean;
  close(): void;
}

/** What the router keeps with each of this connection's topic subscriptions. */
interface SubscriptionData {
  readonly data: unknown;
  /** For a managed topic subscribed by name: its order. */
  readonly tracker: SeqTracker | undefined;
}

const ackDelayMs = 20;

/**
 * One client connection bound to its user's session, on this node: what a gateway
 * holds per connected client. It receives the user's inbox (in order, resuming where
 * the device left off, fetching whatever a lost node or a reconnect made it miss) and
 * the messages of its topic subscriptions. Acknowledgements are batched.
 *
 * A wildcard subscription carries plain topics only: managed topics (which have an
 * ACL) are subscribed by name, where their read access is checked.
 */
export class ClientConnection implements Receiver {
  readonly tenant: string;
  readonly user: string;
  readonly resource: string;
  readonly connectionId: string;
  /** The session knew the device (a persistent session resumed). */
  resumed = false;
  /** Another connection held the resource and was told to close. */
  tookOver = false;
  readonly #messaging: ConnectionHost;
  readonly #options: AttachOptions;
  readonly #onClose: () => void;
  // Made when first needed: most connections hold a subscription or two, many none.
  #subsMap: Map<string, RouterSubscription> | undefined;
  #watchesMap: Map<string, RouterSubscription> | undefined;
  #userSub: RouterSubscription | undefined;
  /** The inbox in order; made when the inbox first has something for this connection (most never do). */
  #inbox: SeqTracker | undefined;
  /** Inbox events that came before the session answered the attach. */
  #early: Event[] | undefined;
  #attached = false;
  #ackSeq = 0;
  #ackSent = 0;
  /** The device's place when it attached: what it had acknowledged before. */
  #resumedAfter = 0;
  #lastSeq = 0;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #offResync: (() => void) | undefined;
  #closed: Promise<void> | undefined;
  #takenOver = false;

  constructor(messaging: ConnectionHost, options: AttachOptions, connectionId: string, onClose: () => void) {
    this.#messaging = messaging;
    this.#options = options;
    this.tenant = options.tenant;
    this.user = options.user;
    this.resource = options.resource;
    this.connectionId = connectionId;
    this.#onClose = onClose;
  }

  #subs(): Map<string, RouterSubscription> {
    return (this.#subsMap ??= new Map());
  }

  #watches(): Map<string, RouterSubscription> {
    return (this.#watchesMap ??= new Map());
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** @internal Subscribes to the inbox, then attaches, then starts the backlog. */
  async start(): Promise<void> {
    const m = this.#messaging;
    this.#userSub = m.router.subscribe(this.tenant, userChannel(this.user), this);
    const session = m.session(this.tenant, this.user);
    const r = await session.call("attach", {
      resource: this.resource,
      connectionId: this.connectionId,
      node: m.nodeId,
      persistent: this.#options.persistent,
      expiryMs: this.#options.expiryMs,
      presence: this.#options.presence,
    });
    this.resumed = r.resumed;
    this.tookOver = r.tookOver;
    this.#resumedAfter = r.resumeFrom - 1;
    this.#lastSeq = r.lastSeq;
    this.#attached = true;
    if (r.lastSeq > this.#resumedAfter) this.#inboxTracker().head(r.lastSeq);
    for (const e of this.#early ?? []) this.#fromUserChannel(e);
    this.#early = undefined;
    // Only a cluster misses events (while cut off from NATS): a single node never resyncs.
    if (m.router.clustered) this.#offResync = m.router.onResync(() => {
      const inbox = this.#inboxTracker();
      inbox.head(inbox.cursor + 1);
      for (const sub of this.#subsMap?.values() ?? []) {
        const t = (sub.data as SubscriptionData).tracker;
        t?.head(t.cursor + 1);
      }
    });
  }

  /** @internal From the router. */
  receive(event: Event, matched: readonly RouterSubscription[]): void {
    if (this.#closed !== undefined) return;
    const channel = event.channel;
    if (channel.startsWith("user:")) {
      if (!this.#attached) (this.#early ??= []).push(event);
      else this.#fromUserChannel(event);
      return;
    }
    if (channel.startsWith("presence:")) {
      if (event.presence !== undefined) this.#options.listener.presence?.(event.presence, channel);
      return;
    }
    // A topic channel. Events of a managed topic go to its by-name subscription only.
    let managed: RouterSubscription | undefined;
    for (let i = 0; i < matched.length; i++) {
      if ((matched[i]!.data as SubscriptionData).tracker !== undefined) {
        managed = matched[i];
        break;
      }
    }
    if (managed !== undefined) {
      const tracker = (managed.data as SubscriptionData).tracker!;
      if (event.message !== undefined) tracker.offer(event.message);
      else if (event.head !== undefined) tracker.head(event.head.seq);
      else if (event.member !== undefined) this.#options.listener.member?.(event.member);
      else if (event.presence !== undefined) this.#options.listener.presence?.(event.presence, channel);
      return;
    }
    const m = event.message;
    // seq > 0: a managed topic's message matched only by wildcards, or by name before
    // this node learnt the topic is managed: not for this subscription.
    if (m === undefined || m.seq > 0) return;
    if (m.expiresAtMs !== 0 && m.expiresAtMs <= this.#messaging.clock.now()) return;
    const data: unknown[] = new Array(matched.length);
    for (let i = 0; i < matched.length; i++) data[i] = (matched[i]!.data as SubscriptionData).data;
    this.#options.listener.message(m, { kind: "topic", subscriptions: data });
  }

  #inboxTracker(): SeqTracker {
    return (this.#inbox ??= this.#newInbox(this.#resumedAfter));
  }

  #newInbox(cursor: number): SeqTracker {
    return new SeqTracker({
      cursor,
      fetch: async (from) => {
        const page = await this.#messaging.session(this.tenant, this.user).call("fetch", { fromSeq: from, limit: 200 });
        return { messages: page.messages.map((x: unknown) => Message.fromJSON(x)), lastSeq: page.lastSeq };
      },
      deliver: (message) => {
        if (message.seq > this.#lastSeq) this.#lastSeq = message.seq;
        this.#options.listener.message(message, { kind: "inbox" });
      },
      onError: (err) => this.#messaging.logger.warn({ err, user: this.user }, "inbox fetch failed; retrying"),
    });
  }

  /**
   * Delivers the inbox again from after the last acknowledgement (this connection's,
   * or the device's before it attached): for a gateway whose client only now asked for
   * its inbox, having let earlier deliveries pass unacknowledged.
   */
  replayInbox(): void {
    this.#open();
    this.#inbox?.close();
    this.#inbox = this.#newInbox(Math.max(this.#resumedAfter, this.#ackSeq));
    this.#inbox.head(Math.max(this.#lastSeq, this.#resumedAfter + 1));
  }

  #fromUserChannel(event: Event): void {
    if (event.message !== undefined) this.#inboxTracker().offer(event.message);
    else if (event.head !== undefined) this.#inboxTracker().head(event.head.seq);
    else if (event.takeover !== undefined && event.takeover.resource === this.resource && event.takeover.connectionId !== this.connectionId && !this.#takenOver) {
      this.#takenOver = true;
      this.#options.listener.takenOver?.();
    }
  }

  /**
   * Subscribes to a topic filter; `data` comes back with every message it matches. A
   * managed topic (by name only) needs read access (`permission_denied` otherwise) and
   * delivers in seq order from `fromSeq` (default: from now). Subscribing to a filter
   * already held replaces its data.
   */
  async subscribe(filter: string, data?: unknown, options: { fromSeq?: number } = {}): Promise<TopicSubscription> {
    this.#open();
    checkTopicFilter(filter);
    const m = this.#messaging;
    let tracker: SeqTracker | undefined;
    if (!isWildcardFilter(filter) && (await m.registry.isManaged(this.tenant, filter))) {
      const topic = m.topic(this.tenant, filter);
      if (!(await topic.call("allowed", { user: this.user, op: "read" }))) {
        throw new SwitchboardError("permission_denied", `${this.user} may not read ${filter}`, { context: { tenant: this.tenant } });
      }
      const { lastSeq } = await topic.call("describe");
      tracker = new SeqTracker({
        cursor: options.fromSeq !== undefined && options.fromSeq > 0 ? Math.min(options.fromSeq - 1, lastSeq) : lastSeq,
        fetch: (from) => m.history(this.tenant, filter, { afterSeq: from - 1, limit: 200 }, this.user),
        deliver: (message) => this.#options.listener.message(message, { kind: "topic", subscriptions: [data] }),
        onError: (err) => m.logger.warn({ err, topic: filter }, "topic history fetch failed; retrying"),
      });
      tracker.head(lastSeq);
    }
    this.#open();
    this.#subs().get(filter)?.close();
    const previous = this.#subs().get(filter)?.data as SubscriptionData | undefined;
    previous?.tracker?.close();
    const sub = m.router.subscribe(this.tenant, topicChannel(filter), this, { data, tracker } satisfies SubscriptionData);
    this.#subs().set(filter, sub);
    return {
      filter,
      managed: tracker !== undefined,
      close: () => {
        if (this.#subs().get(filter) !== sub) return;
        this.unsubscribe(filter);
      },
    };
  }

  /**
   * Joins the shared subscription `group` on `filter` (a plain-topic filter): each
   * matching message goes to one member of the group, across every node. Live only:
   * no retained messages, no queueing for absent members.
   */
  subscribeShared(group: string, filter: string, data?: unknown): void {
    this.#open();
    checkTopicFilter(filter);
    const key = `\u0000${group}\u0000${filter}`;
    this.#subs().get(key)?.close();
    this.#subs().set(key, this.#messaging.router.subscribeShared(this.tenant, group, filter, this, { data, tracker: undefined } satisfies SubscriptionData));
  }

  unsubscribeShared(group: string, filter: string): boolean {
    const key = `\u0000${group}\u0000${filter}`;
    const sub = this.#subs().get(key);
    if (sub === undefined) return false;
    this.#subs().delete(key);
    sub.close();
    return true;
  }

  /** Stops a topic subscription; false if there was none. */
  unsubscribe(filter: string): boolean {
    const sub = this.#subs().get(filter);
    if (sub === undefined) return false;
    this.#subs().delete(filter);
    sub.close();
    (sub.data as SubscriptionData).tracker?.close();
    return true;
  }

  get subscriptions(): readonly string[] {
    return [...this.#subs().keys()].filter((k) => !k.startsWith("\u0000"));
  }

  /** Follows another user's presence (their `presence:<user>` channel). */
  watchPresence(user: string, on = true): void {
    this.#open();
    const existing = this.#watches().get(user);
    if (!on) {
      existing?.close();
      this.#watches().delete(user);
      return;
    }
    if (existing === undefined) this.#watches().set(user, this.#messaging.router.subscribe(this.tenant, presenceChannel(user), this));
  }

  /** Sends as this connection's user and resource. */
  send(to: Destination, input: MessageInput): Promise<SendResult> {
    this.#open();
    return this.#messaging.send(this.tenant, { user: this.user, resource: this.resource }, to, input);
  }

  /** Acknowledges the inbox up to `seq`; sent to the session in batches. */
  ack(seq: number): void {
    if (seq <= this.#ackSeq) return;
    this.#ackSeq = seq;
    this.#ackTimer ??= setTimeout(() => void this.#flushAck(), ackDelayMs);
  }

  history(topic: string, page: HistoryPage): Promise<{ messages: Message[]; lastSeq: number }> {
    this.#open();
    return this.#messaging.history(this.tenant, topic, page, this.user);
  }

  async setPresence(presence: PresenceName, text?: string): Promise<void> {
    this.#open();
    await this.#messaging.session(this.tenant, this.user).call("setPresence", { resource: this.resource, presence, text });
  }

  /**
   * Detaches: pending acknowledgements are sent, subscriptions end, and the session
   * marks the device offline (a persistent one keeps its place). A connection that was
   * taken over leaves the device to its successor. Idempotent.
   */
  close(): Promise<void> {
    return (this.#closed ??= this.#closeNow());
  }

  async #closeNow(): Promise<void> {
    this.#onClose();
    this.#offResync?.();
    this.#userSub?.close();
    for (const sub of this.#subsMap?.values() ?? []) {
      sub.close();
      (sub.data as SubscriptionData).tracker?.close();
    }
    this.#subsMap?.clear();
    for (const w of this.#watchesMap?.values() ?? []) w.close();
    this.#watchesMap?.clear();
    this.#inbox?.close();
    if (this.#ackTimer !== undefined) clearTimeout(this.#ackTimer);
    await this.#flushAck();
    if (this.#takenOver || !this.#attached) return;
    await this.#messaging.session(this.tenant, this.user).call("detach", { resource: this.resource, connectionId: this.connectionId });
  }

  async #flushAck(): Promise<void> {
    this.#ackTimer = undefined;
    const seq = this.#ackSeq;
    if (seq <= this.#ackSent) return;
    this.#ackSent = seq;
    try {
      await this.#messaging.session(this.tenant, this.user).call("ack", { resource: this.resource, seq });
    } catch (err) {
      this.#ackSent = Math.min(this.#ackSent, seq - 1);
      this.#messaging.logger.warn({ err, user: this.user, seq }, "acknowledgement not recorded; it is sent again with the next");
    }
  }

  #open(): void {
    if (this.#closed !== undefined) throw new SwitchboardError("unavailable", "the connection is closed", { context: { tenant: this.tenant } });
  }
}
