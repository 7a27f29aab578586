import { SwitchboardError } from "../errors.ts";
import type { LogEntry, LogInfo, MessageLog } from "../log/index.ts";

/**
 * What a node lends its actors beyond state: a way to publish events to subscribers on
 * every node, and message logs. The node's wiring supplies them (bin/); an actor reaches
 * them only through its context, scoped to itself, so it still does no I/O of its own.
 */
export interface ActorServices {
  /**
   * Delivers `payload` on `channel` of `tenant` to the subscribers of every node (this
   * node's delivery router). Fire and forget: it returns once the event is handed over.
   * The payload is shared with local subscribers, never copied: do not change it after.
   */
  readonly publish?: (tenant: string, channel: string, payload: unknown) => void;
  /** The log behind `ctx.messageLog`: level in the embedded mode, JetStream in a cluster. */
  readonly messageLog?: MessageLog;
}

/**
 * One stream of the node's message log that belongs to one actor: `<actor id>`, or
 * `<actor id>#<name>` for a named one. The `MessageLog` semantics hold (seqs from 1,
 * never reused; reads skip what retention removed).
 */
export interface ActorMessageLog {
  readonly stream: string;
  append(data: Uint8Array): Promise<number>;
  read(fromSeq: number, limit: number): Promise<LogEntry[]>;
  readBefore(beforeSeq: number, limit: number): Promise<LogEntry[]>;
  info(): Promise<LogInfo>;
  truncate(throughSeq: number): Promise<void>;
}

/** The stream `name` of actor `actorId`, bound to `log`; throws `unavailable` without a log. */
export function actorMessageLog(log: MessageLog | undefined, actorId: string, name?: string): ActorMessageLog {
  if (log === undefined) throw new SwitchboardError("unavailable", "this node has no message log for actors", { context: { actorId } });
  if (name !== undefined && (typeof name !== "string" || name.length === 0 || name.length > 128)) {
    throw new SwitchboardError("invalid_argument", "a message log name is 1-128 characters", { context: { actorId, name } });
  }
  const stream = name === undefined ? actorId : `${actorId}#${name}`;
  return {
    stream,
    append: (data) => log.append(stream, data),
    read: (fromSeq, limit) => log.read(stream, fromSeq, limit),
    readBefore: (beforeSeq, limit) => log.readBefore(stream, beforeSeq, limit),
    info: () => log.info(stream),
    truncate: (throughSeq) => log.truncate(stream, throughSeq),
  };
}
