import { Message, QueuedMessage, type Event } from "../../protos/index.ts";
import { defineActor, type ActorContext } from "../../runtime/index.ts";
import { clientChannel, topicChannel } from "../messaging/channel.ts";
import { publishEvent } from "../messaging/journal.ts";
import { TopicActor } from "../topic/topic-actor.ts";

/** One subscription of an MQTT session, with its options ([MQTT-3.8.3-*]). */
export interface MqttSubscriptionRecord {
  /** Maximum QoS granted. */
  readonly qos: 0 | 1 | 2;
  /** No Local (v5). */
  readonly nl: boolean;
  /** Retain As Published (v5). */
  readonly rap: boolean;
  /** Retain Handling (v5): 0 send retained, 1 only if new, 2 never. */
  readonly rh: 0 | 1 | 2;
  /** Subscription Identifier (v5); 0 none. */
  readonly id: number;
}

/** The Will Message of a connection, as `Message.toJSON`, with its delay and expiry. */
export interface WillRecord {
  readonly message: unknown;
  /** Will Delay Interval (v5), ms. */
  readonly delayMs: number;
  /** Message Expiry Interval (v5), ms from when the will is published; 0 none. */
  readonly expiryMs: number;
}

export interface MqttSessionState {
  /** A session is stored (CONNACK's Session Present). */
  exists: boolean;
  /** The connection holding the session now; "" while offline. */
  connectionId: string;
  node: string;
  user: string;
  /** Session Expiry Interval in ms: 0 ends the session with its connection; -1 never. */
  expiryMs: number;
  subscriptions: Record<string, MqttSubscriptionRecord>;
  /** The queue: the last seq appended, the first kept, the last acknowledged. */
  seq: number;
  first: number;
  cursor: number;
  /** The highest queue seq sent to a connection (as last reported): a resend sets DUP. */
  sentUpTo: number;
  dropped: number;
  /** QoS 2 PUBLISH packet ids received and acknowledged with PUBREC, awaiting PUBREL ([MQTT-4.3.3-*]). */
  inboundQos2: number[];
  /** Outbound QoS 2: PUBREC received for these packet ids, PUBREL sent, awaiting PUBCOMP. */
  pubrel: number[];
  will: WillRecord | undefined;
  /** When a delayed will is due (Unix ms); 0 none. */
  willAtMs: number;
  /** When the offline session ends (Unix ms); 0 none. */
  endsAtMs: number;
  /** An acknowledgement waits to be saved. */
  flushDue?: boolean;
}

export interface MqttSessionOptions {
  /** Messages a session's queue keeps unacknowledged; default 1,000. */
  readonly maxQueued?: number;
  /** `drop-oldest` (default) or `drop-new` when the queue is full; each drop is counted. */
  readonly queuePolicy?: "drop-oldest" | "drop-new";
  /** Acknowledgements are saved within this many ms; default 1,000. */
  readonly ackFlushMs?: number;
}

export interface ConnectArgs {
  readonly connectionId: string;
  readonly node: string;
  readonly user: string;
  /** Clean Start (v5) / Clean Session (3.1.1). */
  readonly cleanStart: boolean;
  readonly expiryMs: number;
  readonly will?: WillRecord;
}

export interface ConnectResult {
  readonly sessionPresent: boolean;
  readonly subscriptions: Record<string, MqttSubscriptionRecord>;
  /** Deliver the queue from here. */
  readonly resumeFrom: number;
  readonly lastSeq: number;
  /** Queue entries up to here were sent before: sent again, they carry DUP. */
  readonly sentUpTo: number;
  readonly inboundQos2: readonly number[];
  readonly pubrel: readonly number[];
  /** Another connection held the session and has been told to close (reason 0x8E). */
  readonly tookOver: boolean;
}

/**
 * One MQTT client session (`mqtt-session/tenant:clientId`): what the spec keeps
 * between connections ([MQTT-3.1.2-4]..[MQTT-3.1.2-6], [MQTT-4.1.0-1]) and what must
 * survive a takeover on another node:
 * - the connection that holds it (a new connection with the same client id takes
 *   it over, and the old one is told to close);
 * - the subscriptions of a persistent session;
 * - its **queue**: QoS 1 and 2 messages matched by those subscriptions, appended to
 *   this actor's message log before the publisher is acknowledged, delivered in order,
 *   kept until the client acknowledges them (PUBACK, PUBREC); bounded, with a drop
 *   policy and a counter;
 * - the QoS 2 packet ids in flight both ways;
 * - the Will Message and its delay, fired by a durable reminder, and the Session
 *   Expiry, ended by another.
 */
export function createMqttSessionActor(options: MqttSessionOptions = {}) {
  const maxQueued = options.maxQueued ?? 1000;
  const dropNew = options.queuePolicy === "drop-new";
  const ackFlushMs = options.ackFlushMs ?? 1000;
  return defineActor({
    type: "mqtt-session",
    persistence: "explicit",
    initialState: (): MqttSessionState => ({
      exists: false,
      connectionId: "",
      node: "",
      user: "",
      expiryMs: 0,
      subscriptions: {},
      seq: 0,
      first: 1,
      cursor: 0,
      sentUpTo: 0,
      dropped: 0,
      inboundQos2: [],
      pubrel: [],
      will: undefined,
      willAtMs: 0,
      endsAtMs: 0,
    }),
    onActivate: async (ctx) => {
      const s = ctx.state;
      s.flushDue = false;
      const info = await ctx.messageLog().info();
      s.seq = Math.max(s.seq, info.lastSeq);
      s.first = Math.max(s.first, info.firstSeq);
    },
    handlers: {
      connect: async (ctx, a: ConnectArgs): Promise<ConnectResult> => {
        const s = ctx.state;
        const now = ctx.clock.now();
        const tookOver = s.connectionId !== "" && s.connectionId !== a.connectionId;
        const expired = s.endsAtMs !== 0 && s.endsAtMs <= now;
        const sessionPresent = s.exists && !a.cleanStart && !expired;
        if (tookOver) {
          publishEvent(ctx as ActorContext<unknown>, clientChannel(ctx.key), { takeover: { resource: ctx.key, connectionId: a.connectionId } }, `takeover-${ctx.messageId}`);
          // The old connection's will is published, unless the session is resumed and the
          // will has a delay, which the resumption cuts short (v5 3.1.4, 3.1.2.5).
          if (s.will !== undefined && (!sessionPresent || s.will.delayMs === 0)) await fireWill(ctx);
          s.will = undefined;
        }
        // A will still waiting is not sent when the session is resumed ([MQTT-3.1.3-9]);
        // with a clean start the old session ends, and a will it had is sent now.
        if (s.willAtMs !== 0) {
          if (!sessionPresent && s.will !== undefined) await fireWill(ctx);
          s.will = undefined;
          s.willAtMs = 0;
          await ctx.reminders.cancel("will");
        }
        if (s.endsAtMs !== 0) await ctx.reminders.cancel("expiry");
        if (!sessionPresent) await reset(ctx);
        Object.assign(s, { exists: true, connectionId: a.connectionId, node: a.node, user: a.user, expiryMs: a.expiryMs, will: a.will, endsAtMs: 0 });
        await ctx.save();
        // A clean session with nothing queued is not needed again until its connection
        // ends (or is taken over): it leaves memory, so idle connections hold no actor.
        if (a.expiryMs === 0 && s.seq < Math.max(s.cursor + 1, s.first)) ctx.deactivateOnIdle();
        return {
          sessionPresent,
          subscriptions: s.subscriptions,
          resumeFrom: Math.max(s.cursor + 1, s.first),
          lastSeq: s.seq,
          sentUpTo: s.sentUpTo,
          inboundQos2: s.inboundQos2,
          pubrel: s.pubrel,
          tookOver,
        };
      },

      /** Keeps the subscriptions (of a session that outlives its connection). */
      subscribe: async (ctx, a: { connectionId: string; subscriptions: Record<string, MqttSubscriptionRecord> }) => {
        if (!holds(ctx.state, a.connectionId)) return false;
        Object.assign(ctx.state.subscriptions, a.subscriptions);
        if (ctx.state.expiryMs !== 0) await ctx.save();
        return true;
      },

      unsubscribe: async (ctx, a: { connectionId: string; filters: string[] }) => {
        if (!holds(ctx.state, a.connectionId)) return false;
        for (const f of a.filters) delete ctx.state.subscriptions[f];
        if (ctx.state.expiryMs !== 0) await ctx.save();
        return true;
      },

      /**
       * Queues a message for the client (a QoS 1/2 message its subscriptions match):
       * stored before this returns, then published to the connection if there is one.
       * `gone` when there is no session to queue for (it ended): the caller forgets
       * its route to it.
       */
      enqueue: async (ctx, a: { message: unknown; qos: number; subscriptionIds: number[]; retain: boolean }) => {
        const s = ctx.state;
        if (!s.exists || (s.endsAtMs !== 0 && s.endsAtMs <= ctx.clock.now()) || (s.connectionId === "" && s.expiryMs === 0)) return { gone: true };
        // The bound counts what the client has not acknowledged: entries acknowledged but
        // not yet truncated (the flush comes within ackFlushMs) are not in the queue any more.
        const unacked = () => s.seq - Math.max(s.first, s.cursor + 1) + 1;
        if (dropNew && unacked() >= maxQueued) {
          s.dropped++;
          return { gone: false, dropped: true };
        }
        const message = Message.fromJSON(a.message);
        const queued: QueuedMessage = { message, qos: a.qos, subscriptionIds: a.subscriptionIds, retain: a.retain };
        const log = ctx.messageLog();
        const seq = await log.append(QueuedMessage.encode(queued).finish());
        s.seq = seq;
        message.seq = seq;
        if (unacked() > maxQueued) {
          // Drop the oldest unacknowledged entries, counting each; the acknowledged ones before them go too.
          const keepFrom = s.seq - maxQueued + 1;
          s.dropped += keepFrom - Math.max(s.first, s.cursor + 1);
          await log.truncate(keepFrom - 1);
          s.first = keepFrom;
          if (s.cursor < s.first - 1) s.cursor = s.first - 1;
        }
        if (s.connectionId !== "") publishEvent(ctx as ActorContext<unknown>, clientChannel(ctx.key), { queued }, `q-${ctx.messageId}`);
        return { gone: false, dropped: false, seq };
      },

      /**
       * The client acknowledged the queue up to `seq` (PUBACK, or PUBREC for QoS 2);
       * `sent` is the highest seq sent to it so far.
       */
      ack: (ctx, a: { seq: number; sent?: number }) => {
        const s = ctx.state;
        if (a.sent !== undefined && a.sent > s.sentUpTo) s.sentUpTo = Math.min(a.sent, s.seq);
        const seq = Math.min(a.seq, s.seq);
        if (seq <= s.cursor) return;
        s.cursor = seq;
        if (s.flushDue) return;
        s.flushDue = true;
        ctx.timers.set("flush", { delayMs: ackFlushMs, method: "flush" });
      },

      flush: async (ctx) => {
        const s = ctx.state;
        if (!s.flushDue) return;
        s.flushDue = false;
        if (s.cursor >= s.first) {
          await ctx.messageLog().truncate(s.cursor);
          s.first = s.cursor + 1;
        }
        await ctx.save();
      },

      fetch: {
        readOnly: true,
        handler: async (ctx, a: { fromSeq: number; limit: number }) => {
          const entries = await ctx.messageLog().read(Math.max(1, a.fromSeq), Math.min(Math.max(1, a.limit), 500));
          return {
            lastSeq: ctx.state.seq,
            queued: entries.map((e) => {
              const q = QueuedMessage.decode(e.data);
              q.message!.seq = e.seq;
              return QueuedMessage.toJSON(q);
            }),
          };
        },
      },

      /**
       * Inbound QoS 2: `received` records a packet id (answers whether it was already
       * there: a duplicate PUBLISH, not to be delivered again); `released` forgets it
       * on PUBREL. Saved at once, so a takeover, even on another node, keeps it.
       */
      qos2: async (ctx, a: { connectionId: string; packetId: number; op: "received" | "released" }) => {
        const ids = ctx.state.inboundQos2;
        const i = ids.indexOf(a.packetId);
        if (a.op === "received") {
          if (i >= 0) return { duplicate: true };
          ids.push(a.packetId);
        } else {
          if (i < 0) return { duplicate: false };
          ids.splice(i, 1);
        }
        await ctx.save();
        return { duplicate: false };
      },

      /** Outbound QoS 2: a PUBREL to resend after a reconnect (`add`), or its PUBCOMP came (`remove`). */
      pubrel: async (ctx, a: { packetId: number; op: "add" | "remove" }) => {
        const ids = ctx.state.pubrel;
        const i = ids.indexOf(a.packetId);
        if (a.op === "add" && i < 0) ids.push(a.packetId);
        else if (a.op === "remove" && i >= 0) ids.splice(i, 1);
        else return;
        if (ctx.state.expiryMs !== 0) await ctx.save();
      },

      /**
       * The connection ended. `sendWill` for an ungraceful end (or DISCONNECT 0x04),
       * `expiryMs` a new Session Expiry Interval from a v5 DISCONNECT. A connection
       * that was taken over changes nothing.
       */
      disconnect: async (ctx, a: { connectionId: string; sendWill: boolean; expiryMs?: number; sent?: number }) => {
        const s = ctx.state;
        if (!holds(s, a.connectionId)) return;
        if (a.sent !== undefined && a.sent > s.sentUpTo) s.sentUpTo = Math.min(a.sent, s.seq);
        const now = ctx.clock.now();
        if (a.expiryMs !== undefined) s.expiryMs = a.expiryMs;
        s.connectionId = "";
        s.node = "";
        const will = a.sendWill ? s.will : undefined;
        s.will = undefined;
        if (will !== undefined) {
          // The will waits for its delay, but not past the end of the session ([MQTT-3.1.3-9]).
          const delayMs = s.expiryMs === -1 ? will.delayMs : Math.min(will.delayMs, s.expiryMs);
          if (delayMs > 0) {
            s.will = will;
            s.willAtMs = now + delayMs;
            await ctx.reminders.set("will", { dueInMs: Math.min(delayMs, maxReminderMs), method: "fireWill" });
          } else {
            s.will = will;
            await fireWill(ctx);
          }
        }
        if (s.expiryMs === 0) {
          await reset(ctx);
          s.exists = false;
        } else if (s.expiryMs > 0) {
          s.endsAtMs = now + s.expiryMs;
          await ctx.reminders.set("expiry", { dueInMs: Math.min(s.expiryMs, maxReminderMs), method: "expire" });
        }
        s.flushDue = false;
        await ctx.save();
      },

      fireWill: async (ctx) => {
        const s = ctx.state;
        if (s.connectionId !== "" || s.will === undefined) return;
        // A delay longer than one timer can wait fires early: wait the rest.
        const left = s.willAtMs - ctx.clock.now();
        if (left > 0) return void (await ctx.reminders.set("will", { dueInMs: Math.min(left, maxReminderMs), method: "fireWill" }));
        await fireWill(ctx);
        await ctx.save();
      },

      expire: async (ctx) => {
        const s = ctx.state;
        if (s.connectionId !== "" || s.endsAtMs === 0) return;
        const left = s.endsAtMs - ctx.clock.now();
        if (left > 0) return void (await ctx.reminders.set("expiry", { dueInMs: Math.min(left, maxReminderMs), method: "expire" }));
        if (s.will !== undefined) await fireWill(ctx);
        await reset(ctx);
        s.exists = false;
        s.endsAtMs = 0;
        await ctx.save();
      },

      info: {
        readOnly: true,
        handler: (ctx) => {
          const s = ctx.state;
          return { exists: s.exists, connected: s.connectionId !== "", node: s.node, subscriptions: Object.keys(s.subscriptions).length, queued: Math.max(0, s.seq - Math.max(s.cursor, s.first - 1)), dropped: s.dropped, expiryMs: s.expiryMs };
        },
      },
    },
  });
}

export type MqttSessionActor = ReturnType<typeof createMqttSessionActor>;

/**
 * The longest wait given to one reminder: a timer over 2^31 - 1 ms fires at once
 * (Node's setTimeout), and a Session Expiry or Will Delay Interval may be up to 2^32 - 1
 * seconds. A longer wait is a chain of reminders, each checking the time left.
 */
const maxReminderMs = 2 ** 31 - 1;

type MqttSessionContext = ActorContext<MqttSessionState>;

function holds(s: MqttSessionState, connectionId: string): boolean {
  return s.connectionId !== "" && s.connectionId === connectionId;
}

/** Forgets everything of the session but the numbering of its queue. */
async function reset(ctx: MqttSessionContext): Promise<void> {
  const s = ctx.state;
  if (s.seq >= s.first) await ctx.messageLog().truncate(s.seq);
  Object.assign(s, { subscriptions: {}, first: s.seq + 1, cursor: s.seq, sentUpTo: s.seq, inboundQos2: [], pubrel: [] });
}

/**
 * Publishes the will: kept as the topic's retained message first when it asks to be,
 * then published on the topic from this node, where the node's publisher also queues
 * it for persistent sessions that subscribe to it.
 */
async function fireWill(ctx: MqttSessionContext): Promise<void> {
  const s = ctx.state;
  const will = s.will;
  s.will = undefined;
  s.willAtMs = 0;
  if (will === undefined) return;
  const now = ctx.clock.now();
  const message: Message = { ...Message.fromJSON(will.message), id: `will-${ctx.messageId}`, timestampMs: now, expiresAtMs: will.expiryMs > 0 ? now + will.expiryMs : 0 };
  const topic = message.toTopic!;
  // A will that cannot be published is lost, and said so: the turn that fires it (a
  // disconnection, a takeover, an expiry) must still complete.
  try {
    if (message.retain) await ctx.ref(TopicActor, `${ctx.tenant}:${topic}`).call("retain", { message: Message.toJSON(message) });
    const channel = topicChannel(topic);
    const event: Event = { eventId: message.id, tenant: ctx.tenant, channel, message };
    ctx.publish(channel, event);
  } catch (err) {
    ctx.log.warn({ err, actorId: ctx.id, topic }, "the will could not be published");
  }
}
