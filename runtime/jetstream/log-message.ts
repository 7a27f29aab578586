import { headers } from "@nats-io/transport-node";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { StoredMsg } from "@nats-io/jetstream";
import { SwitchboardError } from "../errors.ts";

// Header names of the messages a JetStreamMessageLog writes. JetStream's own sequence
// is global to the JetStream stream, so the log's per-stream seq travels in a header.
const seqHeader = "Sb-Seq";
const timeHeader = "Sb-Time";
const markHeader = "Sb-Mark";

/**
 * One message on a log stream's subject, as read back. An entry carries the seq and
 * clock time it was appended at. A mark is written (with a subject rollup, which
 * atomically removes every earlier message of the subject) when every entry is
 * truncated or expired: it keeps `seq` = the stream's last seq and `timeMs` = the last
 * entry's time, so numbering and timestamp order survive an empty stream. A mark is
 * only ever the first message of its subject; entries after it continue at `seq + 1`.
 */
export interface LogMessage {
  /** JetStream's sequence of the message in the whole JetStream stream. */
  readonly streamSeq: number;
  readonly seq: number;
  readonly timeMs: number;
  readonly mark: boolean;
  readonly data: Uint8Array;
}

export function entryHeaders(seq: number, timeMs: number): MsgHdrs {
  const h = headers();
  h.set(seqHeader, String(seq));
  h.set(timeHeader, String(timeMs));
  return h;
}

export function markHeaders(seq: number, timeMs: number): MsgHdrs {
  const h = entryHeaders(seq, timeMs);
  h.set(markHeader, "1");
  // Rollup of the subject: JetStream removes the subject's earlier messages as it stores this one.
  h.set("Nats-Rollup", "sub");
  return h;
}

/** Throws `internal` for a message this code did not write. */
export function parseLogMessage(msg: StoredMsg): LogMessage {
  const seq = Number(msg.header.get(seqHeader));
  const timeMs = Number(msg.header.get(timeHeader));
  if (!msg.header.has(seqHeader) || !Number.isSafeInteger(seq) || seq < 0 || !Number.isFinite(timeMs)) {
    throw new SwitchboardError("internal", `message ${msg.seq} on ${msg.subject} is not a log entry`, {
      context: { subject: msg.subject, streamSeq: msg.seq },
    });
  }
  return {
    streamSeq: msg.seq,
    seq,
    timeMs,
    mark: msg.header.get(markHeader) === "1",
    // Copied into a plain Uint8Array the caller owns: the client may hand out a view of its buffer.
    data: new Uint8Array(msg.data),
  };
}
