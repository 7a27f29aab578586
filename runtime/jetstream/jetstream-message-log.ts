import {
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg, StreamConfig } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { SwitchboardError } from "../errors.ts";
import { KeyLock } from "../key-lock.ts";
import { assertData, assertLimit, assertSeq, assertStream, closedError } from "../log/log-checks.ts";
import type { LogEntry, LogInfo, MessageLog } from "../log/message-log.ts";
import { resolveMessageLogOptions } from "../log/message-log-options.ts";
import type { MessageLogOptions, ResolvedMessageLogOptions } from "../log/message-log-options.ts";
import { RetentionSweeper } from "../log/retention-sweeper.ts";
import { backendError, isWrongLastSequence } from "./jetstream-errors.ts";
import { resolveJetStreamStoreOptions, resolveName, resolveSubjectPrefix } from "./jetstream-options.ts";
import type { JetStreamStoreOptions } from "./jetstream-options.ts";
import { entryHeaders, markHeaders, parseLogMessage } from "./log-message.ts";
import type { LogMessage } from "./log-message.ts";
import { encodeToken } from "./subject-token.ts";

export type JetStreamMessageLogOptions = MessageLogOptions &
  JetStreamStoreOptions & {
    /**
     * The JetStream stream holding every log stream of this log, created if absent.
     * Give each log with its own retention (inboxes, topic history) its own: count
     * retention is a setting of the whole JetStream stream. Default "SB_LOG".
     */
    readonly stream?: string;
    /** Subjects are `<subjectPrefix>.<token of the log stream's name>`. Default "sb.log". */
    readonly subjectPrefix?: string;
  };

/** The tail of one subject as this process last wrote or read it. */
interface Tail {
  readonly streamSeq: number;
  readonly seq: number;
  readonly timeMs: number;
}

/** A subject's messages as one operation sees them. */
interface View {
  readonly first: LogMessage | undefined;
  readonly last: LogMessage;
  /** The lowest seq retention and truncation still show; `last.seq + 1` when none. */
  readonly firstVisible: number;
}

const emptyTail: Tail = { streamSeq: 0, seq: 0, timeMs: -Infinity };
/** Room left in a message for our headers when checking data against the server's max payload. */
const headerAllowance = 256;
const tailCacheLimit = 10_000;
const maxAppendAttempts = 100;
const seqKey = (m: LogMessage): number => m.seq;
/** Pages longer than this are read through an ordered consumer rather than one get per entry. */
const batchReadThreshold = 8;
const timeKey = (m: LogMessage): number => (m.mark ? -Infinity : m.timeMs);

/**
 * Resolves once the JetStream stream exists (created if absent, its count limit brought
 * in line with `retention`). Rejects with `invalid_argument` for bad options or a stream
 * of that name with other subjects, `unavailable` when JetStream cannot be reached.
 */
export async function createJetStreamMessageLog(
  nc: NatsConnection,
  options: JetStreamMessageLogOptions = {},
): Promise<JetStreamMessageLog> {
  const log = new JetStreamMessageLog(nc, options);
  try {
    await log.open();
  } catch (err) {
    await log.close();
    throw err;
  }
  return log;
}

/**
 * A `MessageLog` on one JetStream stream. Each log stream is one subject,
 * `<subjectPrefix>.<token>` (see `encodeToken`); each entry one message whose headers
 * carry the log's own seq and the injected clock's time (JetStream's sequence is global
 * to the JetStream stream, and its timestamps come from the server's clock).
 *
 * - **Append** is optimistic: it publishes seq `last + 1` with
 *   `Nats-Expected-Last-Subject-Sequence` set to the subject's last message, and on a
 *   conflict (another node appended) re-reads the last message and tries again. Within
 *   one process appends to a stream run one at a time in call order, so the usual
 *   append costs one round trip: the tail is remembered from the previous one.
 * - **Numbering survives emptiness** without a second store: when every entry goes
 *   (truncate past the end, or all expired), a *mark* carrying the last seq is
 *   published with a subject rollup, which atomically replaces everything on the
 *   subject, so `lastSeq` always comes from the subject's last message.
 * - **Truncate** to a point inside the stream purges the subject below the first kept
 *   entry. Truncation and retention only cut the front, so a subject's messages always
 *   have consecutive seqs (a mark counting as its seq).
 * - **Count retention** is the JetStream stream's `max_msgs_per_subject`
 *   (`maxEntries + 1`, room for a mark); visibility is also computed here, exactly.
 * - **Age retention** is computed on the injected clock: an entry is invisible once
 *   `maxAgeMs` old, at once. A sweeper on that clock (every `sweepIntervalMs`) lists the
 *   stream's subjects (one stream-info request, paged by the client) and truncates
 *   expired entries, leaving a mark when none is left. JetStream's
 *   `max_age` is deliberately not used: it runs on the server's clock and would also
 *   delete the mark, losing the numbering of a stream idle that long.
 * - **Reads** find the message of a seq by searching JetStream sequences between the
 *   subject's first and last message (`next_by_subj` gets, interpolation alternating
 *   with bisection, a handful of round trips), then read forward: a long page through
 *   an ephemeral ordered consumer (gone 5 s after use), a short one, and whatever the
 *   consumer did not bring, one get per entry. Gets go to the stream leader, so a read
 *   sees every acknowledged write.
 *
 * Data larger than the server's max payload (less room for headers) is refused with
 * `limit_exceeded`. Closing does not close the connection.
 */
export class JetStreamMessageLog implements MessageLog {
  readonly #nc: NatsConnection;
  readonly #options: ResolvedMessageLogOptions;
  readonly #stream: string;
  readonly #prefix: string;
  readonly #replicas: number;
  readonly #timeoutMs: number;
  readonly #lock = new KeyLock();
  readonly #tails = new Map<string, Tail>();
  readonly #sweeper: RetentionSweeper | undefined;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  #closed = false;

  /** Prefer `createJetStreamMessageLog`, which reports a failed open at once. Throws `invalid_argument` for bad options. */
  constructor(nc: NatsConnection, options: JetStreamMessageLogOptions = {}) {
    this.#options = resolveMessageLogOptions(options);
    const { replicas, timeoutMs } = resolveJetStreamStoreOptions(options);
    this.#nc = nc;
    this.#stream = resolveName("stream", options.stream, "SB_LOG");
    this.#prefix = resolveSubjectPrefix(options.subjectPrefix, "sb.log");
    this.#replicas = replicas;
    this.#timeoutMs = timeoutMs;
    const { clock, maxAgeMs, sweepIntervalMs } = this.#options;
    if (Number.isFinite(maxAgeMs)) {
      this.#sweeper = new RetentionSweeper(clock, sweepIntervalMs, () => this.#sweep());
    }
  }

  /** The JetStream stream this log uses. */
  get stream(): string {
    return this.#stream;
  }

  /** Creates the JetStream stream or aligns its limits; idempotent. */
  async open(): Promise<void> {
    if (this.#jsm !== undefined) return;
    const subjects = `${this.#prefix}.*`;
    const { maxEntries } = this.#options;
    const perSubject = Number.isFinite(maxEntries) ? maxEntries + 1 : -1;
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(this.#nc, { timeout: this.#timeoutMs });
      const existing = await jsm.streams.info(this.#stream).catch((err: unknown) => {
        if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
        throw err;
      });
      if (existing === undefined) {
        const config: Partial<StreamConfig> & { name: string } = {
          name: this.#stream,
          subjects: [subjects],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          num_replicas: this.#replicas,
          max_msgs_per_subject: perSubject,
          allow_rollup_hdrs: true,
          allow_direct: false,
        };
        await jsm.streams.add(config);
      } else {
        if (!existing.config.subjects?.includes(subjects)) {
          throw new SwitchboardError("invalid_argument", `JetStream stream ${this.#stream} exists with other subjects`, {
            context: { stream: this.#stream, subjects: existing.config.subjects, expected: subjects },
          });
        }
        if (existing.config.max_msgs_per_subject !== perSubject || !existing.config.allow_rollup_hdrs) {
          await jsm.streams.update(this.#stream, {
            ...existing.config,
            max_msgs_per_subject: perSubject,
            allow_rollup_hdrs: true,
          });
        }
      }
    } catch (cause) {
      throw backendError(`cannot open the log stream ${this.#stream}`, { stream: this.#stream }, cause);
    }
    this.#js = jetstream(this.#nc, { timeout: this.#timeoutMs });
    this.#jsm = jsm;
  }

  async append(stream: string, data: Uint8Array): Promise<number> {
    this.#check(stream);
    assertData(stream, data);
    const maxPayload = this.#nc.info?.max_payload;
    if (maxPayload !== undefined && data.byteLength + headerAllowance > maxPayload) {
      throw new SwitchboardError("limit_exceeded", `log entry for ${stream} is larger than the server's max payload`, {
        context: { stream, byteLength: data.byteLength, maxPayload },
      });
    }
    // Copied before the first await, so a caller reusing its buffer cannot change what is written.
    const copy = new Uint8Array(data);
    return this.#run(stream, "append to", async (subject) => {
      let tail = this.#tails.get(subject) ?? (await this.#tail(subject));
      for (let attempt = 0; attempt < maxAppendAttempts; attempt++) {
        const seq = tail.seq + 1;
        const timeMs = Math.max(this.#options.clock.now(), tail.timeMs);
        const streamSeq = await this.#publish(subject, copy, entryHeaders(seq, timeMs), tail.streamSeq);
        if (streamSeq !== undefined) {
          this.#remember(subject, { streamSeq, seq, timeMs });
          return seq;
        }
        tail = await this.#tail(subject);
      }
      throw new SwitchboardError("unavailable", `append to ${stream} kept losing to concurrent writers`, {
        context: { stream, attempts: maxAppendAttempts },
      });
    });
  }

  async read(stream: string, fromSeq: number, limit: number): Promise<LogEntry[]> {
    this.#check(stream);
    assertSeq(stream, "fromSeq", fromSeq);
    assertLimit(stream, limit);
    return this.#run(stream, "read", async (subject) => {
      const view = await this.#view(subject);
      if (view === undefined) return [];
      const start = Math.max(fromSeq, view.firstVisible);
      if (start > view.last.seq) return [];
      return this.#entries(subject, view, start, Math.min(limit, view.last.seq - start + 1));
    });
  }

  async readBefore(stream: string, beforeSeq: number, limit: number): Promise<LogEntry[]> {
    this.#check(stream);
    assertSeq(stream, "beforeSeq", beforeSeq);
    assertLimit(stream, limit);
    return this.#run(stream, "read", async (subject) => {
      const view = await this.#view(subject);
      if (view === undefined) return [];
      const end = Math.min(beforeSeq - 1, view.last.seq);
      const start = Math.max(view.firstVisible, end - limit + 1);
      if (end < start) return [];
      return this.#entries(subject, view, start, end - start + 1);
    });
  }

  async info(stream: string): Promise<LogInfo> {
    this.#check(stream);
    return this.#run(stream, "read", async (subject) => {
      const view = await this.#view(subject);
      if (view === undefined) return { firstSeq: 1, lastSeq: 0, count: 0 };
      return { firstSeq: view.firstVisible, lastSeq: view.last.seq, count: view.last.seq - view.firstVisible + 1 };
    });
  }

  async truncate(stream: string, throughSeq: number): Promise<void> {
    this.#check(stream);
    assertSeq(stream, "throughSeq", throughSeq);
    return this.#run(stream, "truncate", (subject) => this.#removeThrough(subject, () => throughSeq));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeper?.stop();
    await this.#lock.idle();
    this.#tails.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs `task` in the subject's turn, reporting backend failures as `unavailable` or `internal`. */
  #run<T>(stream: string, op: string, task: (subject: string) => Promise<T>): Promise<T> {
    const subject = `${this.#prefix}.${encodeToken(stream)}`;
    return this.#lock.run(subject, async () => {
      try {
        return await task(subject);
      } catch (cause) {
        throw backendError(`cannot ${op} log stream ${stream}`, { stream }, cause);
      }
    });
  }

  #check(stream: string): void {
    if (this.#closed) throw closedError(stream);
    assertStream(stream);
    if (this.#jsm === undefined) {
      throw new SwitchboardError("unavailable", "message log is not open", { context: { stream } });
    }
  }

  /**
   * Removes every entry with seq <= `through(view)`: a rollup mark when that is all of
   * them, else a purge below the first kept entry. Retries when an append races the mark.
   */
  async #removeThrough(subject: string, through: (view: View) => number): Promise<void> {
    for (let attempt = 0; attempt < maxAppendAttempts; attempt++) {
      const view = await this.#view(subject);
      if (view === undefined) return;
      const { first, last } = view;
      const upTo = Math.min(through(view), last.seq);
      const firstStored = first === undefined ? last.seq + 1 : first.mark ? first.seq + 1 : first.seq;
      if (upTo < firstStored) return;
      if (upTo < last.seq) {
        const kept = await this.#findFirst(subject, first!, last, seqKey, upTo);
        await this.#jsm!.streams.purge(this.#stream, { filter: subject, seq: kept.streamSeq });
        return;
      }
      const streamSeq = await this.#publish(subject, new Uint8Array(0), markHeaders(last.seq, last.timeMs), last.streamSeq);
      if (streamSeq !== undefined) {
        this.#remember(subject, { streamSeq, seq: last.seq, timeMs: last.timeMs });
        return;
      }
    }
    throw new SwitchboardError("unavailable", `truncation of ${subject} kept losing to concurrent appends`);
  }

  /**
   * Reclaims the storage of expired entries (appends and reads only hide them). Every
   * node running a log on the stream sweeps it; that is redundant but safe, as removal
   * is idempotent and marks are compare-and-set. A subject whose oldest entry is still
   * fresh costs one or two gets.
   */
  async #sweep(): Promise<void> {
    const info = await this.#jsm!.streams.info(this.#stream, { subjects_filter: `${this.#prefix}.*` });
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      if (this.#closed) return;
      await this.#lock.run(subject, async () => {
        let oldest = await this.#get({ next_by_subj: subject, seq: 0 });
        if (oldest?.mark) oldest = await this.#get({ next_by_subj: subject, seq: oldest.streamSeq + 1 });
        if (oldest === undefined || oldest.timeMs > this.#options.clock.now() - this.#options.maxAgeMs) return;
        await this.#removeThrough(subject, (view) => view.firstVisible - 1);
      });
    }
  }

  /** Undefined for a subject with no message: a stream never appended to. */
  async #view(subject: string): Promise<View | undefined> {
    const last = await this.#get({ last_by_subj: subject });
    if (last === undefined) return undefined;
    this.#remember(subject, last);
    // A mark as last message is the only one: its rollup removed the rest.
    if (last.mark) return { first: undefined, last, firstVisible: last.seq + 1 };
    const first = (await this.#get({ next_by_subj: subject, seq: 0 })) ?? last;
    const { clock, maxEntries, maxAgeMs } = this.#options;
    let firstVisible = Math.max(first.mark ? first.seq + 1 : first.seq, last.seq - maxEntries + 1);
    if (Number.isFinite(maxAgeMs) && firstVisible <= last.seq) {
      const cutoffMs = clock.now() - maxAgeMs;
      if (last.timeMs <= cutoffMs) {
        firstVisible = last.seq + 1;
      } else {
        // Times never decrease along a subject, so the expired entries are a prefix.
        const fresh = await this.#findFirst(subject, first, last, timeKey, cutoffMs);
        firstVisible = Math.max(firstVisible, fresh.seq);
      }
    }
    return { first, last, firstVisible };
  }

  /**
   * `count` entries from seq `start`, which the view shows to exist. A long page is
   * read through an ordered consumer (a round trip or two, not one per entry); what it
   * did not bring, up to the view's last message, is walked with gets, which go to the
   * stream leader and so see every acknowledged write.
   */
  async #entries(subject: string, view: View, start: number, count: number): Promise<LogEntry[]> {
    let message: LogMessage | undefined = await this.#findFirst(subject, view.first!, view.last, seqKey, start - 1);
    const entries: LogEntry[] = [];
    if (count > batchReadThreshold && message.streamSeq < view.last.streamSeq) {
      const batch = await this.#batch(subject, message.streamSeq, count, view.last.streamSeq);
      for (const m of batch) {
        if (entries.length >= count) break;
        if (!m.mark && m.seq >= start) entries.push({ seq: m.seq, timestampMs: m.timeMs, data: m.data });
      }
      const seen = batch[batch.length - 1];
      if (entries.length >= count || seen === undefined || seen.streamSeq >= view.last.streamSeq) return entries;
      message = await this.#get({ next_by_subj: subject, seq: seen.streamSeq + 1 });
    }
    while (message !== undefined && entries.length < count) {
      if (!message.mark && message.seq >= start) {
        entries.push({ seq: message.seq, timestampMs: message.timeMs, data: message.data });
      }
      if (message.streamSeq >= view.last.streamSeq) break;
      message = await this.#get({ next_by_subj: subject, seq: message.streamSeq + 1 });
    }
    return entries;
  }

  /**
   * The subject's first message whose `key` exceeds `threshold`, where `key` never
   * decreases along the subject and `high` (at or after `low`) passes. Searches
   * JetStream sequences with `next_by_subj` gets, alternating a guess interpolated
   * from the keys at both ends (right at once when other subjects are sparse in
   * between) with bisection (O(log n) whatever they are). For seq keys a hit on exactly
   * `threshold + 1` is the answer at once: seqs along a subject are consecutive.
   */
  async #findFirst(
    subject: string,
    low: LogMessage,
    high: LogMessage,
    key: (m: LogMessage) => number,
    threshold: number,
  ): Promise<LogMessage> {
    if (key(low) > threshold) return low;
    // Invariant: the answer is `best`, or a message with sequence in (low.streamSeq, bound).
    let best = high;
    let bound = high.streamSeq;
    for (let round = 0; bound - low.streamSeq > 1; round++) {
      const from = low.streamSeq + 1;
      const to = bound - 1;
      const lowKey = key(low);
      const bestKey = key(best);
      let probe = from + Math.floor((to - from) / 2);
      if (round % 2 === 0 && Number.isFinite(lowKey) && bestKey > lowKey) {
        const guess = low.streamSeq + Math.ceil(((threshold + 1 - lowKey) / (bestKey - lowKey)) * (best.streamSeq - low.streamSeq));
        probe = Math.min(to, Math.max(from, guess));
      }
      const found = await this.#get({ next_by_subj: subject, seq: probe });
      if (found === undefined || found.streamSeq >= bound) {
        bound = probe;
      } else if (key(found) > threshold) {
        best = found;
        bound = probe;
        if (key === seqKey && found.seq === threshold + 1) return found;
      } else {
        low = found;
        if (key === seqKey && found.seq === threshold) {
          const next = await this.#get({ next_by_subj: subject, seq: found.streamSeq + 1 });
          if (next !== undefined) return next;
        }
      }
    }
    return best;
  }

  /** Up to `count` messages of `subject` from JetStream sequence `from` on, through an ordered consumer; stops at `last`. */
  async #batch(subject: string, from: number, count: number, last: number): Promise<LogMessage[]> {
    const consumer = await this.#js!.consumers.get(this.#stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from, inactive_threshold: 5_000 });
    const out: LogMessage[] = [];
    const messages = await consumer.fetch({ max_messages: count, expires: Math.max(1000, this.#timeoutMs) });
    for await (const m of messages) {
      out.push(parseLogMessage({ seq: m.seq, subject: m.subject, header: m.headers ?? headers(), data: m.data } as unknown as StoredMsg));
      if (m.seq >= last || out.length >= count) break;
    }
    return out;
  }

  async #get(query: Record<string, unknown>): Promise<LogMessage | undefined> {
    // `next_by_subj` is in the server's message-get API since 2.9 though not in the client's type.
    const msg = await this.#jsm!.streams.getMessage(this.#stream, query as unknown as MsgRequest);
    return msg === null ? undefined : parseLogMessage(msg);
  }

  /** The subject's tail as stored now; `emptyTail` for a subject with no message. */
  async #tail(subject: string): Promise<Tail> {
    const last = await this.#get({ last_by_subj: subject });
    return last === undefined ? emptyTail : last;
  }

  /** The new message's JetStream sequence, or undefined when the subject's last message was not `expectedLast`. */
  async #publish(
    subject: string,
    data: Uint8Array,
    headers: ReturnType<typeof entryHeaders>,
    expectedLast: number,
  ): Promise<number | undefined> {
    try {
      const ack = await this.#js!.publish(subject, data, { headers, expect: { lastSubjectSequence: expectedLast } });
      return ack.seq;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        this.#tails.delete(subject);
        return undefined;
      }
      throw err;
    }
  }

  #remember(subject: string, tail: Tail): void {
    this.#tails.delete(subject);
    this.#tails.set(subject, { streamSeq: tail.streamSeq, seq: tail.seq, timeMs: tail.timeMs });
    if (this.#tails.size > tailCacheLimit) this.#tails.delete(this.#tails.keys().next().value!);
  }
}
