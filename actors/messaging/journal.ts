import { Message, type Event } from "../../protos/index.ts";
import type { ActorContext, ActorMessageLog, LogEntry } from "../../runtime/index.ts";

/**
 * What a session's inbox and a managed topic's history share: the actor's message log
 * numbers the messages, and the state remembers the last seq, the first one kept, and
 * the recent senders' message ids. The state is not saved for every message: what a
 * crash loses of it is read back from the log on activation (`catchUp`).
 */
export interface Journaled {
  seq: number;
  first: number;
  /** `fromUser\u0000clientMsgId` → seq, newest last. */
  recent: [string, number][];
}

const recentLimit = 256;

/** The key that makes a sender's repeat recognisable, or undefined without a client message id. */
export function dedupeKey(m: Message): string | undefined {
  return m.clientMsgId === "" ? undefined : `${m.fromUser}\u0000${m.clientMsgId}`;
}

export function recentSeq(s: Journaled, key: string | undefined): number | undefined {
  if (key === undefined) return undefined;
  for (let i = s.recent.length - 1; i >= 0; i--) if (s.recent[i]![0] === key) return s.recent[i]![1];
  return undefined;
}

export function remember(s: Journaled, key: string | undefined, seq: number): void {
  if (key === undefined) return;
  s.recent.push([key, seq]);
  if (s.recent.length > recentLimit) s.recent.splice(0, s.recent.length - recentLimit);
}

/** A stored message with the seq the log gave it (messages are stored without one). */
export function decodeEntry(entry: LogEntry): Message {
  const m = Message.decode(entry.data);
  m.seq = entry.seq;
  return m;
}

/** Reads back from the log what the saved state lacks: appends made after its last save. */
export async function catchUp(log: ActorMessageLog, s: Journaled): Promise<void> {
  const info = await log.info();
  if (info.firstSeq > s.first) s.first = info.firstSeq;
  for (let from = s.seq + 1; from <= info.lastSeq; ) {
    const entries = await log.read(from, 500);
    if (entries.length === 0) break;
    for (const e of entries) remember(s, dedupeKey(Message.decode(e.data)), e.seq);
    from = entries[entries.length - 1]!.seq + 1;
  }
  s.seq = Math.max(s.seq, info.lastSeq);
}

/** Publishes an event on `channel` of the actor's tenant. */
export function publishEvent(ctx: ActorContext<unknown>, channel: string, body: Omit<Event, "eventId" | "tenant" | "channel">, eventId: string): void {
  ctx.publish(channel, { eventId, tenant: ctx.tenant, channel, ...body } as Event);
}
