import { assertData, assertLimit, assertSeq, assertStream, closedError } from "./log-checks.ts";
import type { LogEntry, LogInfo, MessageLog } from "./message-log.ts";
import { resolveMessageLogOptions } from "./message-log-options.ts";
import type { MessageLogOptions, ResolvedMessageLogOptions } from "./message-log-options.ts";
import { RetentionSweeper } from "./retention-sweeper.ts";

interface StreamState {
  /** Contiguous: `entries[i].seq === entries[0].seq + i`, as removal only cuts the front. */
  readonly entries: LogEntry[];
  lastSeq: number;
  lastTimestampMs: number;
}

/** A `MessageLog` in memory: the twin for tests and single-process runs. Nothing survives the process. */
export class MemoryMessageLog implements MessageLog {
  readonly #streams = new Map<string, StreamState>();
  readonly #options: ResolvedMessageLogOptions;
  readonly #sweeper: RetentionSweeper | undefined;
  #closed = false;

  /** Throws `invalid_argument` for a bad retention policy. */
  constructor(options: MessageLogOptions = {}) {
    this.#options = resolveMessageLogOptions(options);
    const { clock, maxAgeMs, sweepIntervalMs } = this.#options;
    if (Number.isFinite(maxAgeMs)) {
      this.#sweeper = new RetentionSweeper(clock, sweepIntervalMs, async () => {
        for (const state of this.#streams.values()) this.#trim(state);
      });
    }
  }

  async append(stream: string, data: Uint8Array): Promise<number> {
    this.#check(stream);
    assertData(stream, data);
    let state = this.#streams.get(stream);
    if (state === undefined) {
      state = { entries: [], lastSeq: 0, lastTimestampMs: -Infinity };
      this.#streams.set(stream, state);
    }
    const seq = state.lastSeq + 1;
    const timestampMs = Math.max(this.#options.clock.now(), state.lastTimestampMs);
    state.entries.push({ seq, timestampMs, data: new Uint8Array(data) });
    state.lastSeq = seq;
    state.lastTimestampMs = timestampMs;
    this.#trim(state);
    return seq;
  }

  async read(stream: string, fromSeq: number, limit: number): Promise<LogEntry[]> {
    this.#check(stream);
    assertSeq(stream, "fromSeq", fromSeq);
    assertLimit(stream, limit);
    const entries = this.#visible(stream);
    if (entries.length === 0) return [];
    const start = Math.max(0, fromSeq - entries[0]!.seq);
    return entries.slice(start, start + limit).map(copyEntry);
  }

  async readBefore(stream: string, beforeSeq: number, limit: number): Promise<LogEntry[]> {
    this.#check(stream);
    assertSeq(stream, "beforeSeq", beforeSeq);
    assertLimit(stream, limit);
    const entries = this.#visible(stream);
    if (entries.length === 0) return [];
    const end = Math.min(entries.length, beforeSeq - entries[0]!.seq);
    if (end <= 0) return [];
    return entries.slice(Math.max(0, end - limit), end).map(copyEntry);
  }

  async info(stream: string): Promise<LogInfo> {
    this.#check(stream);
    const state = this.#streams.get(stream);
    if (state === undefined) return { firstSeq: 1, lastSeq: 0, count: 0 };
    this.#trim(state);
    const count = state.entries.length;
    return { firstSeq: state.lastSeq - count + 1, lastSeq: state.lastSeq, count };
  }

  async truncate(stream: string, throughSeq: number): Promise<void> {
    this.#check(stream);
    assertSeq(stream, "throughSeq", throughSeq);
    const state = this.#streams.get(stream);
    const first = state?.entries[0];
    if (state === undefined || first === undefined) return;
    state.entries.splice(0, Math.max(0, throughSeq - first.seq + 1));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeper?.stop();
    this.#streams.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #visible(stream: string): LogEntry[] {
    const state = this.#streams.get(stream);
    if (state === undefined) return [];
    this.#trim(state);
    return state.entries;
  }

  /** Drops what retention no longer shows; in memory it costs no more to free it than to hide it. */
  #trim(state: StreamState): void {
    const { clock, maxEntries, maxAgeMs } = this.#options;
    const { entries } = state;
    const cutoffMs = clock.now() - maxAgeMs;
    let drop = Math.max(0, entries.length - maxEntries);
    while (drop < entries.length && entries[drop]!.timestampMs <= cutoffMs) drop++;
    if (drop > 0) entries.splice(0, drop);
  }

  #check(stream: string): void {
    if (this.#closed) throw closedError(stream);
    assertStream(stream);
  }
}

function copyEntry(entry: LogEntry): LogEntry {
  return { seq: entry.seq, timestampMs: entry.timestampMs, data: entry.data.slice() };
}
