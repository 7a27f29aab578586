import { Level } from "level";
import { SwitchboardError, isSwitchboardError } from "../errors.ts";
import {
  dataOfEntry,
  decodeMeta,
  emptyMeta,
  encodeEntry,
  encodeMeta,
  entryKey,
  entryPrefix,
  metaKey,
  metaRange,
  seqOfEntryKey,
  streamOfMetaKey,
  timestampOfEntry,
} from "./level-log-keys.ts";
import type { StreamMeta } from "./level-log-keys.ts";
import { assertData, assertLimit, assertSeq, assertStream, closedError } from "./log-checks.ts";
import type { LogEntry, LogInfo, MessageLog } from "./message-log.ts";
import { resolveMessageLogOptions } from "./message-log-options.ts";
import type { MessageLogOptions, ResolvedMessageLogOptions } from "./message-log-options.ts";
import { RetentionSweeper } from "./retention-sweeper.ts";
import { KeyLock } from "../key-lock.ts";

const encodings = { keyEncoding: "view", valueEncoding: "view" } as const;
const sweepPageSize = 256;

interface Range {
  readonly gt?: Uint8Array;
  readonly gte?: Uint8Array;
  readonly lt?: Uint8Array;
  readonly lte?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
}

interface Put {
  readonly type: "put";
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * The part of an abstract-level database this log uses: a `Level` or a sublevel of
 * one, so a single data directory can hold several logs and stores side by side.
 * Encodings are passed per call, so the database's own defaults do not matter.
 */
export interface LevelLogDb {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Point reads are synchronous: see `LevelStateStore`. */
  getSync(key: Uint8Array, options: typeof encodings): Uint8Array | undefined;
  batch(operations: Put[], options: typeof encodings): Promise<void>;
  iterator(options: typeof encodings & Range): { all(): Promise<Array<[Uint8Array, Uint8Array]>> };
  clear(options: typeof encodings & Range): Promise<void>;
}

/**
 * Either `path`, a directory the log opens and closes itself, or `db`, a database (or
 * sublevel) the caller opened and will close.
 */
export type LevelMessageLogOptions = MessageLogOptions & ({ readonly path: string } | { readonly db: LevelLogDb });

/**
 * Resolves once the database is open. Rejects with `unavailable` if it cannot be, most
 * often because another process holds the directory's lock, and with
 * `invalid_argument` for a bad retention policy.
 */
export async function createLevelMessageLog(options: LevelMessageLogOptions): Promise<LevelMessageLog> {
  const log = new LevelMessageLog(options);
  try {
    await log.open();
  } catch (err) {
    await log.close();
    throw err;
  }
  return log;
}

/**
 * A `MessageLog` on LevelDB. Seqs and timestamps live in the database, so a reopened
 * log continues each stream's numbering. Operations on one stream are serialised in
 * this object; that is atomic only because a level directory is owned by one process
 * (level's lock file enforces it) and only one `LevelMessageLog` may use a given
 * database or sublevel.
 */
export class LevelMessageLog implements MessageLog {
  readonly #db: LevelLogDb;
  readonly #ownsDb: boolean;
  readonly #options: ResolvedMessageLogOptions;
  readonly #lock = new KeyLock();
  readonly #sweeper: RetentionSweeper | undefined;
  #closed = false;

  /** Prefer `createLevelMessageLog`, which reports a failed open at once. */
  constructor(options: LevelMessageLogOptions) {
    this.#options = resolveMessageLogOptions(options);
    if ("db" in options) {
      this.#db = options.db;
      this.#ownsDb = false;
    } else {
      this.#db = new Level<Uint8Array, Uint8Array>(options.path, encodings);
      this.#ownsDb = true;
    }
    const { clock, maxAgeMs, sweepIntervalMs } = this.#options;
    if (Number.isFinite(maxAgeMs)) {
      this.#sweeper = new RetentionSweeper(clock, sweepIntervalMs, () => this.#sweep());
    }
  }

  /** Idempotent; rejects with `unavailable` if the database cannot be opened. */
  async open(): Promise<void> {
    try {
      await this.#db.open();
    } catch (cause) {
      throw new SwitchboardError("unavailable", "cannot open the message log database", { cause });
    }
  }

  async append(stream: string, data: Uint8Array): Promise<number> {
    this.#check(stream);
    assertData(stream, data);
    // Copied before the first await, so a caller reusing its buffer cannot change what is written.
    const copy = new Uint8Array(data);
    return this.#run(stream, "append to", async (prefix) => {
      const meta = await this.#meta(stream);
      const seq = meta.lastSeq + 1;
      const timestampMs = Math.max(this.#options.clock.now(), meta.lastTimestampMs);
      // The new entry is never expired itself, so at most everything before it goes.
      const firstSeq = Math.max(await this.#firstVisible(prefix, meta), seq - this.#options.maxEntries + 1);
      const next = { firstSeq, lastSeq: seq, lastTimestampMs: timestampMs };
      await this.#db.batch(
        [
          { type: "put", key: entryKey(prefix, seq), value: encodeEntry(timestampMs, copy) },
          { type: "put", key: metaKey(stream), value: encodeMeta(next) },
        ],
        encodings,
      );
      if (firstSeq > meta.firstSeq) await this.#clearBelow(prefix, firstSeq);
      return seq;
    });
  }

  async read(stream: string, fromSeq: number, limit: number): Promise<LogEntry[]> {
    this.#check(stream);
    assertSeq(stream, "fromSeq", fromSeq);
    assertLimit(stream, limit);
    return this.#run(stream, "read", async (prefix) => {
      const meta = await this.#meta(stream);
      const start = Math.max(fromSeq, await this.#firstVisible(prefix, meta));
      if (start > meta.lastSeq) return [];
      const range = { gte: entryKey(prefix, start), lte: entryKey(prefix, meta.lastSeq), limit };
      return this.#entries(range);
    });
  }

  async readBefore(stream: string, beforeSeq: number, limit: number): Promise<LogEntry[]> {
    this.#check(stream);
    assertSeq(stream, "beforeSeq", beforeSeq);
    assertLimit(stream, limit);
    return this.#run(stream, "read", async (prefix) => {
      const meta = await this.#meta(stream);
      const first = await this.#firstVisible(prefix, meta);
      const end = Math.min(beforeSeq - 1, meta.lastSeq);
      if (end < first) return [];
      const range = { gte: entryKey(prefix, first), lte: entryKey(prefix, end), reverse: true, limit };
      return (await this.#entries(range)).reverse();
    });
  }

  async info(stream: string): Promise<LogInfo> {
    this.#check(stream);
    return this.#run(stream, "read", async (prefix) => {
      const meta = await this.#meta(stream);
      const firstSeq = await this.#firstVisible(prefix, meta);
      return { firstSeq, lastSeq: meta.lastSeq, count: meta.lastSeq - firstSeq + 1 };
    });
  }

  async truncate(stream: string, throughSeq: number): Promise<void> {
    this.#check(stream);
    assertSeq(stream, "throughSeq", throughSeq);
    return this.#run(stream, "truncate", async (prefix) => {
      const meta = await this.#meta(stream);
      await this.#removeBelow(stream, prefix, meta, Math.min(throughSeq, meta.lastSeq) + 1);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeper?.stop();
    await this.#lock.idle();
    if (this.#ownsDb) await this.#db.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs `task` in `stream`'s turn, reporting backend failures as `internal`. */
  #run<T>(stream: string, op: string, task: (prefix: Uint8Array) => Promise<T>): Promise<T> {
    return this.#lock.run(stream, async () => {
      try {
        return await task(entryPrefix(stream));
      } catch (cause) {
        if (isSwitchboardError(cause)) throw cause;
        throw new SwitchboardError("internal", `cannot ${op} log stream ${stream}`, { context: { stream }, cause });
      }
    });
  }

  #check(stream: string): void {
    if (this.#closed) throw closedError(stream);
    assertStream(stream);
  }

  async #meta(stream: string): Promise<StreamMeta> {
    // A database still opening cannot be read synchronously (a borrowed one the caller did not await).
    if (this.#db.status !== "open") await this.#db.open();
    const value = this.#db.getSync(metaKey(stream), encodings);
    return value === undefined ? emptyMeta : decodeMeta(stream, value);
  }

  /**
   * The lowest seq retention still shows. Timestamps never decrease along a stream, so
   * the expired entries are a prefix of `firstSeq..lastSeq`, found by binary search.
   */
  async #firstVisible(prefix: Uint8Array, meta: StreamMeta): Promise<number> {
    const { clock, maxEntries, maxAgeMs } = this.#options;
    let low = Math.max(meta.firstSeq, meta.lastSeq - maxEntries + 1);
    if (!Number.isFinite(maxAgeMs) || low > meta.lastSeq) return low;
    const cutoffMs = clock.now() - maxAgeMs;
    let high = meta.lastSeq + 1;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      const value = this.#db.getSync(entryKey(prefix, mid), encodings);
      if (value !== undefined && timestampOfEntry(value) > cutoffMs) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  async #entries(range: Range): Promise<LogEntry[]> {
    const rows = await this.#db.iterator({ ...encodings, ...range }).all();
    return rows.map(([key, value]) => ({
      seq: seqOfEntryKey(key),
      timestampMs: timestampOfEntry(value),
      data: dataOfEntry(value),
    }));
  }

  /** Meta first, so a crash before the clear leaves only invisible garbage that the next clear takes. */
  async #removeBelow(stream: string, prefix: Uint8Array, meta: StreamMeta, firstSeq: number): Promise<void> {
    if (firstSeq <= meta.firstSeq) return;
    await this.#db.batch([{ type: "put", key: metaKey(stream), value: encodeMeta({ ...meta, firstSeq }) }], encodings);
    await this.#clearBelow(prefix, firstSeq);
  }

  async #clearBelow(prefix: Uint8Array, firstSeq: number): Promise<void> {
    await this.#db.clear({ ...encodings, gte: entryKey(prefix, 0), lt: entryKey(prefix, firstSeq) });
  }

  /** Reclaims expired entries of streams nobody appends to; appends reclaim their own. */
  async #sweep(): Promise<void> {
    let after: Uint8Array | undefined;
    for (;;) {
      const range = after === undefined ? metaRange : { gt: after, lt: metaRange.lt };
      const page = await this.#db.iterator({ ...encodings, ...range, limit: sweepPageSize }).all();
      for (const [key] of page) {
        if (this.#closed) return;
        const stream = streamOfMetaKey(key);
        await this.#run(stream, "sweep", async (prefix) => {
          const meta = await this.#meta(stream);
          await this.#removeBelow(stream, prefix, meta, await this.#firstVisible(prefix, meta));
        });
      }
      if (page.length < sweepPageSize) return;
      after = page[page.length - 1]![0];
    }
  }
}
