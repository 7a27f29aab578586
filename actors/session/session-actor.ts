import { Message, Presence, PresenceStatus, type Event } from "../../protos/index.ts";
import { defineActor, SwitchboardError, type ActorContext } from "../../runtime/index.ts";
import { presenceChannel, userChannel } from "../messaging/channel.ts";
import { checkName } from "../messaging/identity.ts";
import { catchUp, decodeEntry, dedupeKey, publishEvent, recentSeq, remember, type Journaled } from "../messaging/journal.ts";
import { aggregatePresence, type PresenceName } from "./presence.ts";
import { defaultSessionOptions, type SessionOptions } from "./session-options.ts";

/** One device (resource) of the user, as the session knows it. */
export interface DeviceRecord {
  /** Kept while offline, with its place in the inbox (MQTT persistent session, resumable client). */
  persistent: boolean;
  /** The highest inbox seq it acknowledged. */
  cursor: number;
  online: boolean;
  /** The connection that holds the resource now ("" while offline). */
  connectionId: string;
  /** The node its gateway connection is on. */
  node: string;
  presence: PresenceName;
  text: string;
  /** When it last attached or detached. */
  sinceMs: number;
  /** How long it is kept once offline, ms; 0 for ever. */
  expiryMs: number;
  /** An offline persistent device is forgotten after this (Unix ms); 0 never. */
  expiresAtMs: number;
}

export interface SessionState extends Journaled {
  devices: Record<string, DeviceRecord>;
  /** The highest seq any device acknowledged. */
  acked: number;
  /** Inbox messages dropped by the bound. */
  dropped: number;
  lastSeenMs: number;
  recent: [string, number][];
  /** Topics that publish this user's presence to their members. */
  presenceTopics: string[];
  /** Acknowledgements wait to be saved (a `flush` is due). */
  flushDue?: boolean;
}

export interface AttachArgs {
  readonly resource: string;
  readonly connectionId: string;
  readonly node: string;
  readonly persistent?: boolean;
  /** How long an offline persistent device is kept, ms; 0 or absent: for ever. */
  readonly expiryMs?: number;
  readonly presence?: PresenceName;
  readonly text?: string;
}

export interface AttachResult {
  /** Deliver the inbox from this seq on (what the device has not acknowledged). */
  readonly resumeFrom: number;
  readonly lastSeq: number;
  /** The device was known (a persistent session resumed). */
  readonly resumed: boolean;
  /** Another connection held the resource and has been told to close. */
  readonly tookOver: boolean;
}

export interface DeliverArgs {
  /** `Message.toJSON` of the message: sender, body and options; id, seq and time are set here. */
  readonly message: unknown;
}

export interface DeliverResult {
  readonly id: string;
  readonly seq: number;
  readonly timestampMs: number;
  /** A repeat of a client message id already accepted: nothing new was stored. */
  readonly duplicate: boolean;
}

/**
 * The user session actor (`session/tenant:user`): the user's inbox, their devices and
 * their presence.
 *
 * - **Inbox.** A message log (`ctx.messageLog()`) numbered per user. Each message is
 *   appended, then published on `user:<user>` to every connected device on every node.
 *   Messages are kept until acknowledged: by every persistent device when there are
 *   any, else by any device. The inbox holds at most `maxInbox`; past it the policy
 *   drops the oldest (counted in `dropped`) or refuses the new one (`limit_exceeded`).
 * - **Resume.** A device that attaches again resumes after its last acknowledgement,
 *   whichever node its gateway is on; a new device starts after the user's last one.
 * - **Idempotent sends.** A message with a client message id already accepted from
 *   the same sender is not stored again; the repeat gets the first one's seq.
 * - **Durability.** Messages are durable in the log before the send returns. The
 *   state (devices, cursors) is saved when it changes; what a crash loses of it (the
 *   seq, the recent ids) is read back from the log on activation.
 * - **After a failover** the activation publishes the inbox head on `user:<user>`, so
 *   a device whose live delivery was lost with the old node fetches what it missed.
 */
export function createSessionActor(options: SessionOptions = {}) {
  const o = { ...defaultSessionOptions, ...options };
  return defineActor({
    type: "session",
    persistence: "explicit",
    initialState: (): SessionState => ({ devices: {}, seq: 0, first: 1, acked: 0, dropped: 0, lastSeenMs: 0, recent: [], presenceTopics: [] }),
    onActivate: async (ctx) => {
      // A flush that was due died with the last activation's timers; the next ack arms one.
      ctx.state.flushDue = false;
      await catchUp(ctx.messageLog(), ctx.state);
      if (ctx.state.seq > 0) publish(ctx, { head: { seq: ctx.state.seq } }, `head-${ctx.epoch}`);
    },
    handlers: {
      attach: async (ctx, a: AttachArgs): Promise<AttachResult> => {
        checkName(a.resource, "resource");
        const now = ctx.clock.now();
        const s = ctx.state;
        prune(s, now);
        const before = presenceOf(ctx);
        const known = s.devices[a.resource];
        const tookOver = known !== undefined && known.online && known.connectionId !== a.connectionId;
        const device: DeviceRecord = {
          persistent: a.persistent ?? known?.persistent ?? false,
          cursor: known?.cursor ?? s.acked,
          online: true,
          connectionId: a.connectionId,
          node: a.node,
          presence: a.presence ?? "online",
          text: a.text ?? "",
          sinceMs: now,
          expiryMs: a.expiryMs ?? known?.expiryMs ?? 0,
          expiresAtMs: 0,
        };
        s.devices[a.resource] = device;
        s.lastSeenMs = now;
        if (tookOver) publish(ctx, { takeover: { resource: a.resource, connectionId: a.connectionId } }, `takeover-${ctx.messageId}`);
        await ctx.save();
        announcePresence(ctx, before);
        const resumeFrom = Math.max(device.cursor + 1, s.first);
        // Nothing waits for the device: the session need not stay in memory for it; the
        // next message or call brings it back. Idle connections then hold no actor.
        if (resumeFrom > s.seq) ctx.deactivateOnIdle();
        return { resumeFrom, lastSeq: s.seq, resumed: known !== undefined, tookOver };
      },

      detach: async (ctx, a: { resource: string; connectionId: string }) => {
        const s = ctx.state;
        const device = s.devices[a.resource];
        // A connection that was taken over leaves the device to its successor.
        if (device === undefined || device.connectionId !== a.connectionId) return;
        const now = ctx.clock.now();
        const before = presenceOf(ctx);
        if (device.persistent) {
          Object.assign(device, { online: false, connectionId: "", node: "", sinceMs: now, expiresAtMs: device.expiryMs > 0 ? now + device.expiryMs : 0 });
        } else {
          delete s.devices[a.resource];
        }
        s.lastSeenMs = now;
        s.flushDue = false;
        await trimAcknowledged(ctx);
        await ctx.save();
        announcePresence(ctx, before);
      },

      setPresence: async (ctx, a: { resource: string; presence: PresenceName; text?: string }) => {
        const device = ctx.state.devices[a.resource];
        if (device === undefined || !device.online) throw new SwitchboardError("not_found", `${a.resource} is not attached`, { context: { actorId: ctx.id } });
        const before = presenceOf(ctx);
        device.presence = a.presence;
        device.text = a.text ?? "";
        await ctx.save();
        announcePresence(ctx, before);
      },

      deliver: async (ctx, a: DeliverArgs): Promise<DeliverResult> => {
        const s = ctx.state;
        const input = Message.fromJSON(a.message);
        const key = dedupeKey(input);
        const seen = recentSeq(s, key);
        if (seen !== undefined) {
          const [entry] = await ctx.messageLog().read(seen, 1);
          const earlier = entry === undefined || entry.seq !== seen ? undefined : decodeEntry(entry);
          return { id: earlier?.id ?? "", seq: seen, timestampMs: earlier?.timestampMs ?? 0, duplicate: true };
        }
        if (o.inboxPolicy === "refuse-new" && s.seq - s.first + 1 >= o.maxInbox) {
          throw new SwitchboardError("limit_exceeded", `the inbox of ${ctx.key} is full (${o.maxInbox} unacknowledged messages)`, { context: { actorId: ctx.id } });
        }
        const now = ctx.clock.now();
        const message: Message = { ...input, id: ctx.messageId, tenant: ctx.tenant, toUser: ctx.key, toTopic: undefined, seq: 0, timestampMs: now };
        const log = ctx.messageLog();
        // Stored without its seq: the log numbers it, and readers take the entry's.
        const seq = await log.append(Message.encode(message).finish());
        message.seq = seq;
        s.seq = seq;
        remember(s, key, seq);
        publish(ctx, { message }, message.id);
        while (s.seq - s.first + 1 > o.maxInbox) {
          await log.truncate(s.first);
          s.first++;
          s.dropped++;
        }
        return { id: message.id, seq, timestampMs: now, duplicate: false };
      },

      /**
       * Moves the device's place (and the user's) up to `seq`. Saved and trimmed within
       * `ackFlushMs`, together with the acknowledgements that come meanwhile; one lost
       * with a crash in between means that message is delivered once more.
       */
      ack: (ctx, a: { resource: string; seq: number }) => {
        const s = ctx.state;
        const device = s.devices[a.resource];
        if (!Number.isSafeInteger(a.seq) || a.seq < 0) throw new SwitchboardError("invalid_argument", "ack takes a non-negative integer seq");
        const seq = Math.min(a.seq, s.seq);
        let changed = false;
        if (device !== undefined && seq > device.cursor) (device.cursor = seq), (changed = true);
        if (seq > s.acked) (s.acked = seq), (changed = true);
        if (!changed || s.flushDue) return;
        s.flushDue = true;
        ctx.timers.set("flush", { delayMs: o.ackFlushMs, method: "flush" });
      },

      /** Saves and trims what acknowledgements changed. */
      flush: async (ctx) => {
        if (!ctx.state.flushDue) return;
        ctx.state.flushDue = false;
        await trimAcknowledged(ctx);
        await ctx.save();
      },

      fetch: {
        readOnly: true,
        handler: async (ctx, a: { fromSeq: number; limit: number }) => {
          const entries = await ctx.messageLog().read(Math.max(1, a.fromSeq), Math.min(Math.max(1, a.limit), 1000));
          return { messages: entries.map((e) => Message.toJSON(decodeEntry(e))), lastSeq: ctx.state.seq };
        },
      },

      presence: { readOnly: true, handler: (ctx) => Presence.toJSON(presenceOf(ctx)) },

      info: {
        readOnly: true,
        handler: (ctx) => ({
          lastSeq: ctx.state.seq,
          firstSeq: ctx.state.first,
          acked: ctx.state.acked,
          dropped: ctx.state.dropped,
          devices: Object.entries(ctx.state.devices).map(([resource, d]) => ({ resource, ...d })),
        }),
      },

      /** A topic with member presence asks to hear of this user's presence changes, or stops. */
      watchPresence: async (ctx, a: { topic: string; on: boolean }) => {
        const topics = ctx.state.presenceTopics;
        const i = topics.indexOf(a.topic);
        if (a.on && i < 0) topics.push(a.topic);
        else if (!a.on && i >= 0) topics.splice(i, 1);
        else return;
        await ctx.save();
      },
    },
  });
}

type SessionContext = ActorContext<SessionState>;
export type SessionActor = ReturnType<typeof createSessionActor>;

function publish(ctx: SessionContext, body: Omit<Event, "eventId" | "tenant" | "channel">, eventId: string, channel = userChannel(ctx.key)): void {
  publishEvent(ctx as ActorContext<unknown>, channel, body, eventId);
}

function presenceOf(ctx: SessionContext): Presence {
  const s = ctx.state;
  const online = Object.values(s.devices).filter((d) => d.online);
  const { status, text } = aggregatePresence(online);
  return { user: ctx.key, status: PresenceStatus[`PRESENCE_STATUS_${status.toUpperCase()}` as "PRESENCE_STATUS_ONLINE"], text, lastSeenMs: online.length > 0 ? ctx.clock.now() : s.lastSeenMs, connections: online.length };
}

/** Publishes the presence if what others see of it changed; tells the watching topics. */
function announcePresence(ctx: SessionContext, before: Presence): void {
  const now = presenceOf(ctx);
  if (now.status === before.status && now.text === before.text && now.connections === before.connections) return;
  publish(ctx, { presence: now }, `presence-${ctx.messageId}`, presenceChannel(ctx.key));
  for (const topic of ctx.state.presenceTopics) {
    void ctx
      .refById(`topic/${ctx.tenant}:${topic}`)
      .send("memberPresence", { presence: Presence.toJSON(now) })
      .catch((err: unknown) => ctx.log.warn({ err, topic }, "member presence not sent"));
  }
}

/** Removes what every device that counts has acknowledged. */
async function trimAcknowledged(ctx: SessionContext): Promise<void> {
  const s = ctx.state;
  const persistent = Object.values(s.devices).filter((d) => d.persistent);
  const floor = Math.min(s.seq, persistent.length > 0 ? Math.min(...persistent.map((d) => d.cursor)) : s.acked);
  if (floor < s.first) return;
  await ctx.messageLog().truncate(floor);
  s.first = floor + 1;
}

/** Forgets offline persistent devices past their expiry. */
function prune(s: SessionState, now: number): void {
  for (const [resource, d] of Object.entries(s.devices)) {
    if (!d.online && d.expiresAtMs > 0 && d.expiresAtMs <= now) delete s.devices[resource];
  }
}
