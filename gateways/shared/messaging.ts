import { randomUUID } from "node:crypto";
import { Message, Presence, type Event, type Member } from "../../protos/index.ts";
import {
  checkName,
  checkTenant,
  checkTopicFilter,
  checkTopicName,
  isWildcardFilter,
  presenceChannel,
  resolveTopicSettings,
  topicChannel,
  TopicActor,
  TopicDirectory,
  topicDirectoryKey,
  userChannel,
  type SessionActor,
  type TopicSettings,
  type TopicSettingsInput,
} from "../../actors/index.ts";
import { actorId, createLogger, isSwitchboardError, systemClock, SwitchboardError, type ActorRuntime, type Clock, type Logger } from "../../runtime/index.ts";
import { ClientConnection, type AttachOptions } from "./client-connection.ts";
import type { DeliveryRouter, Receiver } from "./delivery-router.ts";
import type { DurableRoutes, Enqueue } from "./durable-routes.ts";
import { SeqTracker, type SeqPage } from "./seq-tracker.ts";
import { TopicRegistry } from "./topic-registry.ts";
import type { Destination, HistoryPage, MessageInput, Sender, SendResult } from "./send-types.ts";

export interface MessagingOptions {
  readonly runtime: ActorRuntime;
  readonly router: DeliveryRouter;
  /**
   * Durable routes (persistent sessions' subscriptions) and how to queue a message in
   * such a session. Without them no message is queued for an offline client.
   */
  readonly durable?: { readonly routes: DurableRoutes; readonly enqueue: Enqueue };
  /** The session actor type the runtime hosts (made with `createSessionActor`). */
  readonly session: SessionActor;
  readonly nodeId: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Events of a watch, in order; what a gRPC `Subscribe` stream sends. */
export interface WatchListener {
  event(event: Event): void;
  /** The watch failed for good (its topic became unreadable, say). */
  error?(err: unknown): void;
}

export interface Watch {
  close(): void;
}

/**
 * The messaging API every gateway and the gRPC service use: attach a client
 * connection to its session, send to users and topics, read presence and history,
 * manage topics, and watch a user or a topic.
 *
 * Every call names its tenant, taken from the caller's authentication, never from
 * what a client sends; names inside a call are resolved within that tenant only.
 *
 * The data path: a message to a user goes through their session actor (numbered,
 * stored, then published on `user:<user>`). A message to a managed topic goes through
 * its topic actor (checked, numbered, kept, published on `topic:<name>`). A message
 * to a plain topic is published on `topic:<name>` at once, from this node, without a
 * turn of any actor; if it is to be retained, the topic actor keeps it too before the
 * send returns.
 */
export class Messaging {
  readonly registry: TopicRegistry;
  readonly router: DeliveryRouter;
  readonly nodeId: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly durable: MessagingOptions["durable"];
  readonly #runtime: ActorRuntime;
  readonly #session: SessionActor;
  readonly #connections = new Set<ClientConnection>();
  #connectionSeq = 0;

  constructor(options: MessagingOptions) {
    this.#runtime = options.runtime;
    this.#session = options.session;
    this.router = options.router;
    this.nodeId = options.nodeId;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? createLogger({ nodeId: options.nodeId, level: "silent" })).child({ component: "messaging" });
    this.registry = new TopicRegistry(options.runtime, options.router, this.logger);
    this.durable = options.durable;
  }

  /** Connections attached on this node. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Attaches a client connection to its user's session: presence, the inbox from the
   * device's last acknowledgement, live delivery. Another connection holding the same
   * resource is taken over (told through its listener). Resolves once the backlog is
   * being delivered.
   */
  async attach(options: AttachOptions): Promise<ClientConnection> {
    checkTenant(options.tenant);
    checkName(options.user, "user");
    checkName(options.resource, "resource");
    await this.registry.load(options.tenant);
    const connectionId = `${this.nodeId}/${++this.#connectionSeq}/${randomUUID().slice(0, 8)}`;
    const connection: ClientConnection = new ClientConnection(this, options, connectionId, () => this.#connections.delete(connection));
    this.#connections.add(connection);
    try {
      await connection.start();
    } catch (err) {
      this.#connections.delete(connection);
      await connection.close().catch(() => undefined);
      throw err;
    }
    return connection;
  }

  /** Sends to a user (through their inbox) or to a topic. */
  async send(tenant: string, from: Sender | undefined, to: Destination, input: MessageInput): Promise<SendResult> {
    checkTenant(tenant);
    const message = this.#message(tenant, from, input);
    if (to.user !== undefined) {
      checkName(to.user, "user");
      return this.session(tenant, to.user).call("deliver", { message: Message.toJSON(message) });
    }
    const topic = checkTopicName(to.topic);
    if (await this.registry.isManaged(tenant, topic)) return this.topic(tenant, topic).call("post", { message: Message.toJSON(message) });
    return this.publishPlain(tenant, topic, message);
  }

  /**
   * A message to a plain topic: delivered to its subscribers on every node now; when
   * retained, kept by the topic actor before this resolves, so any later subscriber,
   * on any node, is offered it.
   */
  async publishPlain(tenant: string, topic: string, message: Message): Promise<SendResult> {
    // A retained message lives in its topic's actor, whose key is bounded: refuse a name
    // too long for it before anything is delivered, not after.
    if (message.retain) actorId(TopicActor.type, `${tenant}:${topic}`);
    message.toTopic = topic;
    const channel = topicChannel(topic);
    this.router.publish(tenant, channel, { eventId: message.id, tenant, channel, message });
    const durable = this.durable;
    if (message.retain) {
      await Promise.all([this.topic(tenant, topic).call("retain", { message: Message.toJSON(message) }), durable?.routes.deliver(tenant, topic, message, durable.enqueue)]);
    } else if (durable !== undefined && message.qos > 0) {
      await durable.routes.deliver(tenant, topic, message, durable.enqueue);
    }
    return { id: message.id, seq: 0, timestampMs: message.timestampMs, duplicate: false };
  }

  /**
   * An event an actor publishes (a managed topic's message, a will): to the router,
   * and a topic message of QoS 1 or 2 also queued for the persistent sessions it
   * matches. The actor has stored what it needed before; queueing is not waited for.
   */
  publishEvent(tenant: string, channel: string, event: Event): void {
    this.router.publish(tenant, channel, event);
    const durable = this.durable;
    const message = event.message;
    if (durable === undefined || message === undefined || message.qos === 0 || !channel.startsWith("topic:")) return;
    durable.routes.deliver(tenant, channel.slice(6), message, durable.enqueue).catch((err: unknown) => this.logger.warn({ err, channel }, "a message was not queued for every persistent session"));
  }

  /** Presence of each user, in the order asked. */
  async presence(tenant: string, users: readonly string[]): Promise<Presence[]> {
    checkTenant(tenant);
    for (const u of users) checkName(u, "user");
    return Promise.all(users.map(async (u) => Presence.fromJSON(await this.session(tenant, u).call("presence"))));
  }

  /** A page of a managed topic's history, read as `asUser` (the service when absent). */
  async history(tenant: string, topic: string, page: HistoryPage = {}, asUser = ""): Promise<{ messages: Message[]; lastSeq: number }> {
    checkTenant(tenant);
    checkTopicName(topic);
    const r = await this.topic(tenant, topic).call("history", { afterSeq: page.afterSeq, beforeSeq: page.beforeSeq, limit: page.limit, user: asUser });
    return { messages: r.messages.map((m: unknown) => Message.fromJSON(m)), lastSeq: r.lastSeq };
  }

  /** Makes `topic` a managed topic. Idempotent: an existing one keeps its settings. */
  async createTopic(tenant: string, topic: string, settings: TopicSettingsInput = {}, owners: readonly string[] = []): Promise<{ settings: TopicSettings; created: boolean }> {
    checkTenant(tenant);
    checkTopicName(topic);
    resolveTopicSettings(settings);
    for (const o of owners) checkName(o, "user");
    const r = await this.topic(tenant, topic).call("create", { settings, owners: [...owners] });
    await this.registry.load(tenant);
    return r;
  }

  async updateMembers(tenant: string, topic: string, change: { add?: readonly string[]; remove?: readonly string[]; role?: "owner" | "member" }): Promise<Member[]> {
    checkTenant(tenant);
    checkTopicName(topic);
    return this.topic(tenant, topic).call("updateMembers", { add: [...(change.add ?? [])], remove: [...(change.remove ?? [])], role: change.role });
  }

  async members(tenant: string, topic: string): Promise<Member[]> {
    checkTenant(tenant);
    checkTopicName(topic);
    return this.topic(tenant, topic).call("members");
  }

  /**
   * Retained messages a new subscription to `filter` is offered: the topic's own for a
   * name, those of every matching topic for a wildcard filter. Managed topics the user
   * may not read are left out.
   */
  async retained(tenant: string, filter: string, asUser = ""): Promise<Message[]> {
    checkTopicFilter(filter);
    // The directory knows which topics hold one: topics without are not even activated.
    const topics: string[] = await this.#runtime.ref(TopicDirectory, topicDirectoryKey(tenant)).call("retainedMatching", filter);
    const found = await Promise.all(
      topics.map(async (t) => {
        try {
          const m = await this.topic(tenant, t).call("retained", { user: asUser });
          return m === null ? undefined : Message.fromJSON(m);
        } catch (err) {
          if (err instanceof SwitchboardError && err.code === "permission_denied") return undefined;
          throw err;
        }
      }),
    );
    return found.filter((m): m is Message => m !== undefined && (m.expiresAtMs === 0 || m.expiresAtMs > this.clock.now()));
  }

  /** Retained messages kept in the tenants this node knows (their directories' counts). */
  async retainedCount(): Promise<number> {
    let n = 0;
    for (const tenant of this.registry.tenants()) n += (await this.registry.retainedTopics(tenant)).length;
    return n;
  }

  /**
   * Follows a user (their inbox, in order, and their presence) or a topic: every
   * event, messages in order. With `fromSeq` the inbox or the managed topic's history
   * is replayed from there first. A user watch sees the inbox as the service does; it
   * acknowledges nothing. A managed topic is read as `asUser` (its read access
   * applies; the service when empty). A watch that can no longer fetch what it missed
   * for a reason a retry cannot mend ends with `listener.error`.
   */
  async watch(tenant: string, to: Destination, listener: WatchListener, fromSeq = 0, asUser = ""): Promise<Watch> {
    checkTenant(tenant);
    if (to.user !== undefined) {
      checkName(to.user, "user");
      const session = this.session(tenant, to.user);
      const inbox = await this.#watchNumbered(tenant, userChannel(to.user), listener, fromSeq, async () => (await session.call("info")).lastSeq, async (from) => {
        const r = await session.call("fetch", { fromSeq: from, limit: 200 });
        return { messages: r.messages.map((m: unknown) => Message.fromJSON(m)), lastSeq: r.lastSeq };
      });
      const presence = this.router.subscribe(tenant, presenceChannel(to.user), { receive: (event) => listener.event(event) });
      return {
        close: () => {
          inbox.close();
          presence.close();
        },
      };
    }
    const filter = checkTopicFilter(to.topic);
    if (!isWildcardFilter(filter) && (await this.registry.isManaged(tenant, filter))) {
      const topic = this.topic(tenant, filter);
      if (!(await topic.call("allowed", { user: asUser, op: "read" }))) {
        throw new SwitchboardError("permission_denied", `${asUser} may not read ${filter}`, { context: { tenant } });
      }
      return this.#watchNumbered(tenant, topicChannel(filter), listener, fromSeq, async () => (await topic.call("describe")).lastSeq, (from) =>
        this.history(tenant, filter, { afterSeq: from - 1, limit: 200 }, asUser),
      );
    }
    const sub = this.router.subscribe(tenant, topicChannel(filter), { receive: (event) => listener.event(event) });
    return { close: () => sub.close() };
  }

  async #watchNumbered(tenant: string, channel: string, listener: WatchListener, fromSeq: number, lastSeq: () => Promise<number>, fetch: (from: number) => Promise<SeqPage>): Promise<Watch> {
    let tracker: SeqTracker | undefined;
    const early: Event[] = [];
    const receiver: Receiver = {
      receive: (event) => {
        if (tracker === undefined) return void early.push(event);
        forward(event);
      },
    };
    const forward = (event: Event) => {
      if (event.message !== undefined && event.message.seq > 0) tracker!.offer(event.message);
      else if (event.head !== undefined) tracker!.head(event.head.seq);
      else if (event.takeover === undefined) listener.event(event);
    };
    const sub = this.router.subscribe(tenant, channel, receiver);
    const offResync = this.router.onResync(() => tracker?.head(tracker.cursor + 1));
    const close = () => {
      sub.close();
      offResync();
      tracker?.close();
    };
    try {
      const last = await lastSeq();
      tracker = new SeqTracker({
        cursor: fromSeq > 0 ? fromSeq - 1 : last,
        fetch,
        deliver: (message) => listener.event({ eventId: message.id, tenant, channel, message }),
        onError: (err) => {
          if (isSwitchboardError(err) && !err.retryable) {
            close();
            listener.error?.(err);
            return;
          }
          this.logger.warn({ err, channel }, "a watch could not fetch what it missed; retrying");
        },
      });
      tracker.head(last);
      for (const e of early.splice(0)) forward(e);
    } catch (err) {
      close();
      throw err;
    }
    return { close };
  }

  session(tenant: string, user: string) {
    return this.#runtime.ref(this.#session, `${tenant}:${user}`);
  }

  topic(tenant: string, topic: string) {
    return this.#runtime.ref(TopicActor, `${tenant}:${topic}`);
  }

  /** Closes every connection of this node (detaching them) and stops following the tenants. */
  async close(): Promise<void> {
    await Promise.all([...this.#connections].map((c) => c.close().catch(() => undefined)));
    this.registry.close();
  }

  #message(tenant: string, from: Sender | undefined, input: MessageInput): Message {
    if (!(input.body instanceof Uint8Array)) throw new SwitchboardError("invalid_argument", "a message body is bytes");
    if (from !== undefined && from.user !== "") checkName(from.user, "user");
    return {
      id: randomUUID(),
      tenant,
      fromUser: from?.user ?? "",
      fromResource: from?.resource ?? "",
      toUser: undefined,
      toTopic: undefined,
      seq: 0,
      timestampMs: this.clock.now(),
      body: Buffer.from(input.body.buffer, input.body.byteOffset, input.body.byteLength),
      contentType: input.contentType ?? "",
      clientMsgId: input.clientMsgId ?? "",
      properties: (input.properties ?? []).map((p) => ({ name: p.name, value: p.value })),
      expiresAtMs: input.expiresAtMs ?? 0,
      responseTopic: input.responseTopic ?? "",
      correlationData: Buffer.from(input.correlationData ?? new Uint8Array(0)),
      bodyUtf8: input.bodyUtf8 ?? false,
      qos: input.qos ?? 0,
      retain: input.retain ?? false,
    };
  }
}
