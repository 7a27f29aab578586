import { systemClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import { checkKvKey, checkKvPrefix, checkKvRevision, checkKvTtlMs, kvPrefixCanMatch } from "./kv-key.ts";
import type { KvChange, KvEntry, KvTable, KvWatch } from "./kv-table.ts";
import { QueuedKvWatch, revisionMismatch, toKvEntry, type StoredKvEntry } from "./local-kv.ts";

const encodings = { keyEncoding: "utf8", valueEncoding: "view" } as const;

// Key layout inside the table's sublevel: one `meta` record (the revision counter and
// the TTL), and `e:<key>` per entry. `:` is outside the key alphabet, so no entry key
// can collide with the meta record, and `e:` keeps entries in key order.
const metaKey = "meta";
const entryPrefix = "e:";
// Meta: format u8 | revision u64 BE | ttlMs u64 BE.
// Entry: format u8 | revision u64 BE | writtenAtMs f64 BE | value bytes.
const format = 1;
const metaBytes = 17;
const entryHeaderBytes = 17;
/** Rows read per step while loading. */
const loadBatchSize = 1024;
/** Expired entries removed from disk per write, riding along in that write's batch. */
const purgesPerWrite = 256;

export type LevelKvBatchOperation = { readonly type: "put"; readonly key: string; readonly value: Uint8Array } | { readonly type: "del"; readonly key: string };

export interface LevelKvIterator {
  nextv(size: number): Promise<Array<[string, Uint8Array]>>;
  close(): Promise<void>;
}

/**
 * The part of an abstract-level database this table uses: a `Level` or, usually, a
 * sublevel of one that holds nothing else. Encodings are passed per call, so the
 * database's own defaults do not matter.
 */
export interface LevelKvDb {
  open(): Promise<void>;
  batch(operations: LevelKvBatchOperation[], options: typeof encodings): Promise<void>;
  iterator(options: typeof encodings): LevelKvIterator;
}

export interface LevelKvTableOptions {
  /**
   * An entry is gone once `ttlMs` have passed since its last write; 0 = never. The TTL
   * is stored with the table when it is created, as JetStream stores a bucket's:
   * default the stored one (0 for a new table), and one given must match it
   * (`invalid_argument`).
   */
  readonly ttlMs?: number;
  /** Decides what "now" is for `writtenAtMs` and expiry; default `systemClock`. */
  readonly clock?: Clock;
}

type Write = { readonly op: "put"; readonly value: Uint8Array } | { readonly op: "delete" };

/**
 * Loads the table kept in `db` (opening `db` if needed; creating the table, with its
 * TTL, if `db` holds none) and returns a handle on it. The database stays the
 * caller's: closing the table leaves it open.
 *
 * Rejects with `unavailable` when `db` cannot be opened, `internal` when it cannot be
 * read or written or holds records this code did not write, and `invalid_argument`
 * for a bad `ttlMs` or one that differs from the table's stored TTL.
 */
export async function openLevelKvTable(db: LevelKvDb, options: LevelKvTableOptions = {}): Promise<LevelKvTable> {
  if (options.ttlMs !== undefined) checkKvTtlMs(options.ttlMs);
  try {
    await db.open();
  } catch (cause) {
    throw new SwitchboardError("unavailable", "cannot open the key-value table's database", { cause });
  }
  const loaded = await load(db);
  const storedTtlMs = loaded.meta?.ttlMs;
  if (options.ttlMs !== undefined && storedTtlMs !== undefined && options.ttlMs !== storedTtlMs) {
    throw new SwitchboardError("invalid_argument", `the key-value table exists with ttlMs ${storedTtlMs}, not ${options.ttlMs}`, {
      context: { ttlMs: storedTtlMs, requestedTtlMs: options.ttlMs },
    });
  }
  const ttlMs = options.ttlMs ?? storedTtlMs ?? 0;
  if (loaded.meta === undefined) {
    // A new table: its TTL is stored at once, so the next open finds it.
    try {
      await db.batch([{ type: "put", key: metaKey, value: encodeMeta(0, ttlMs) }], encodings);
    } catch (cause) {
      throw backendError("create", undefined, cause);
    }
  }
  return new LevelKvTable(new TableData(db, ttlMs, options.clock ?? systemClock, loaded));
}

/**
 * `KvTable` on LevelDB, for the embedded node: what a JetStream bucket is to a cluster,
 * kept in one sublevel of the node's database.
 *
 * - The whole table is loaded into memory when opened (tables here are small: up to a
 *   few hundred thousand entries; 200,000 entries of 100 bytes loaded in about 1.5 s on
 *   a development machine) and reads are served from there, after the writes called
 *   before them have settled. Writes go through to level, one batch each (the
 *   entry and the revision counter together), one at a time in call order; a write is
 *   applied in memory and reported to watches only once its batch is stored, so a
 *   failed write changes nothing. Level's default durability applies: a process crash
 *   loses no finished write, a power cut may lose the last ones. About 15,000 writes a
 *   second on a development machine.
 * - Revisions come from one counter stored with every write, so they increase across
 *   the whole table and across restarts. A write that changes nothing (a delete of a
 *   key with no live entry) takes no revision and is not reported, as in `MemoryKvTable`.
 * - Expiry is lazy and measured on the injected clock from `writtenAtMs`: an entry with
 *   `writtenAtMs + ttlMs <= clock.now()` is gone for every operation (a `create` may
 *   take its key; an `update` or `delete` at its revision is `etag_mismatch`), and no
 *   watch hears of it. An expired entry stays in memory until an operation touches it
 *   (`entries()` touches all it could list), then leaves the disk with the next writes'
 *   batches (up to 256 per write); one still on disk is skipped when the table is
 *   loaded again, so it stays expired across a reopen. The TTL is stored with the table
 *   (see `LevelKvTableOptions`).
 * - `entries(prefix)` filters the keys in memory and sorts the matches: O(n + m log m).
 * - Several handles share one table (`openHandle()`), each with its own watches and
 *   `close()`; a watch hears writes made through any of them. Only one table may use a
 *   given database or sublevel at a time: open another only after closing every handle
 *   on the first, or the two drift apart.
 * - A level failure is `internal` (`unavailable` if the database was closed under the
 *   table), with level's error as `cause`. After `close()`, every operation on the
 *   handle rejects with `unavailable`.
 */
export class LevelKvTable implements KvTable {
  readonly #data: TableData;
  readonly #watches = new Set<QueuedKvWatch>();
  readonly #writes = new Set<Promise<unknown>>();
  #closed = false;

  /** Use `openLevelKvTable`, or `openHandle()` on an open table. */
  constructor(data: TableData) {
    this.#data = data;
    data.handles.add(this);
  }

  /** Another handle on this same table, with its own watches and its own `close()`. */
  openHandle(): LevelKvTable {
    this.#checkOpen();
    return new LevelKvTable(this.#data);
  }

  get ttlMs(): number {
    return this.#data.ttlMs;
  }

  /** The clock this table reads. */
  get clock(): Clock {
    return this.#data.clock;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.#checkOpen();
    checkKvKey(key);
    await this.#data.earlierWrites();
    const stored = this.#data.live(key);
    return stored === undefined ? undefined : toKvEntry(key, stored);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    const copy = copyOf(value);
    return this.#write("create", key, (current) => {
      if (current !== undefined) throw revisionMismatch(key, "create", "the key exists", current.revision);
      return { op: "put", value: copy };
    });
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    checkKvRevision(revision, key);
    const copy = copyOf(value);
    return this.#write("update", key, (current) => {
      if (current?.revision !== revision) throw revisionMismatch(key, "update", `expected revision ${revision}`, current?.revision);
      return { op: "put", value: copy };
    });
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    const copy = copyOf(value);
    return this.#write("put", key, () => ({ op: "put", value: copy }));
  }

  async delete(key: string, revision?: number): Promise<void> {
    this.#checkOpen();
    checkKvKey(key);
    if (revision !== undefined) checkKvRevision(revision, key);
    await this.#write("delete", key, (current) => {
      if (revision !== undefined && current?.revision !== revision) {
        throw revisionMismatch(key, "delete", `expected revision ${revision}`, current?.revision);
      }
      return current === undefined ? undefined : { op: "delete" };
    });
  }

  /** Live entries whose key starts with `prefix`, sorted by key. */
  async entries(prefix = ""): Promise<KvEntry[]> {
    this.#checkOpen();
    checkKvPrefix(prefix);
    if (!kvPrefixCanMatch(prefix)) return [];
    await this.#data.earlierWrites();
    return this.#data
      .liveWithPrefix(prefix)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, stored]) => toKvEntry(key, stored));
  }

  /**
   * Every put and delete on this table (through any handle) stored from this call on,
   * in revision order. Changes queue without bound until taken: keep reading.
   */
  watch(): KvWatch {
    this.#checkOpen();
    const watch = new QueuedKvWatch(() => {
      this.#data.watches.delete(watch);
      this.#watches.delete(watch);
    });
    this.#data.watches.add(watch);
    this.#watches.add(watch);
    return watch;
  }

  /**
   * Ends this handle's watches, then waits for the writes it has in flight (which still
   * complete); idempotent. The table and its other handles live on.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#data.handles.delete(this);
    for (const watch of [...this.#watches]) watch.close();
    await Promise.allSettled([...this.#writes]);
  }

  /**
   * Closes every handle on this table, this one included, once their writes in flight
   * have settled: what the table's owner calls before closing the database.
   */
  async closeAll(): Promise<void> {
    await Promise.all([this, ...this.#data.handles].map((handle) => handle.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #write(op: string, key: string, plan: (current: StoredKvEntry | undefined) => Write | undefined): Promise<number> {
    const written = this.#data.write(op, key, plan);
    this.#writes.add(written);
    try {
      return await written;
    } finally {
      this.#writes.delete(written);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new SwitchboardError("unavailable", "the key-value table handle is closed", { context: { closed: true } });
  }
}

interface Loaded {
  readonly meta: { readonly revision: number; readonly ttlMs: number } | undefined;
  readonly stored: Map<string, StoredKvEntry>;
}

/** One table's data, shared by every handle on it. */
class TableData {
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly handles = new Set<LevelKvTable>();
  readonly watches = new Set<QueuedKvWatch>();
  readonly #db: LevelKvDb;
  readonly #stored: Map<string, StoredKvEntry>;
  /** Keys dropped from memory as expired that are still on disk. */
  readonly #expired = new Set<string>();
  #revision: number;
  /** Settles (never rejects) once every write queued so far has. */
  #tail: Promise<void> = Promise.resolve();
  #queued = 0;

  constructor(db: LevelKvDb, ttlMs: number, clock: Clock, loaded: Loaded) {
    this.#db = db;
    this.ttlMs = ttlMs;
    this.clock = clock;
    this.#stored = loaded.stored;
    let revision = loaded.meta?.revision ?? 0;
    for (const stored of loaded.stored.values()) revision = Math.max(revision, stored.revision);
    this.#revision = revision;
    for (const key of [...this.#stored.keys()]) this.live(key);
  }

  /** Settles once every write called before it has. */
  async earlierWrites(): Promise<void> {
    if (this.#queued > 0) await this.#tail;
  }

  /** The live entry; drops it (silently, as JetStream does) once expired. */
  live(key: string): StoredKvEntry | undefined {
    const stored = this.#stored.get(key);
    if (stored === undefined) return undefined;
    if (this.ttlMs > 0 && stored.writtenAtMs + this.ttlMs <= this.clock.now()) {
      this.#stored.delete(key);
      this.#expired.add(key);
      return undefined;
    }
    return stored;
  }

  liveWithPrefix(prefix: string): Array<[string, StoredKvEntry]> {
    const out: Array<[string, StoredKvEntry]> = [];
    // Deleting the current key while iterating a Map is safe: iteration goes on.
    for (const key of this.#stored.keys()) {
      if (!key.startsWith(prefix)) continue;
      const stored = this.live(key);
      if (stored !== undefined) out.push([key, stored]);
    }
    return out;
  }

  /**
   * Runs after every write called before it: `plan` sees the live entry and says what
   * to write (or throws, or returns undefined for nothing). The write is stored in one
   * batch with the revision counter, then applied here and reported to watches.
   * Resolves to the new revision (0 when nothing was written).
   */
  write(op: string, key: string, plan: (current: StoredKvEntry | undefined) => Write | undefined): Promise<number> {
    this.#queued++;
    const result = this.#tail.then(() => this.#apply(op, key, plan(this.live(key))));
    this.#tail = result.then(
      () => void this.#queued--,
      () => void this.#queued--,
    );
    return result;
  }

  async #apply(op: string, key: string, write: Write | undefined): Promise<number> {
    if (write === undefined) return 0;
    const revision = this.#revision + 1;
    const purged = this.#purges(key);
    const operations: LevelKvBatchOperation[] = purged.map((k) => ({ type: "del", key: entryPrefix + k }));
    let stored: StoredKvEntry | undefined;
    if (write.op === "put") {
      stored = { value: write.value, revision, writtenAtMs: this.clock.now() };
      operations.push({ type: "put", key: entryPrefix + key, value: encodeEntry(stored) });
    } else {
      operations.push({ type: "del", key: entryPrefix + key });
    }
    operations.push({ type: "put", key: metaKey, value: encodeMeta(revision, this.ttlMs) });
    try {
      await this.#db.batch(operations, encodings);
    } catch (cause) {
      throw backendError(op, key, cause);
    }
    this.#revision = revision;
    for (const k of purged) this.#expired.delete(k);
    this.#expired.delete(key);
    if (stored === undefined) {
      this.#stored.delete(key);
      this.#notify(() => ({ op: "delete", key, revision }));
    } else {
      const written = stored;
      this.#stored.set(key, written);
      this.#notify(() => ({ op: "put", entry: toKvEntry(key, written) }));
    }
    return revision;
  }

  /** Expired keys to remove from disk with the next write (not `key`, which it writes). */
  #purges(key: string): string[] {
    const out: string[] = [];
    for (const k of this.#expired) {
      if (out.length === purgesPerWrite) break;
      if (k !== key) out.push(k);
    }
    return out;
  }

  /** Each watch gets its own change, so no reader can alter what another sees. */
  #notify(change: () => KvChange): void {
    for (const watch of this.watches) watch.push(change());
  }
}

/** Reads every record of the table; expired entries are dropped by `TableData`. */
async function load(db: LevelKvDb): Promise<Loaded> {
  const stored = new Map<string, StoredKvEntry>();
  let meta: Loaded["meta"];
  let iterator: LevelKvIterator;
  try {
    iterator = db.iterator(encodings);
  } catch (cause) {
    throw backendError("load", undefined, cause);
  }
  let failed = true;
  try {
    for (;;) {
      let rows: Array<[string, Uint8Array]>;
      try {
        rows = await iterator.nextv(loadBatchSize);
      } catch (cause) {
        throw backendError("load", undefined, cause);
      }
      if (rows.length === 0) break;
      for (const [dbKey, bytes] of rows) {
        if (dbKey === metaKey) meta = decodeMeta(bytes);
        else if (dbKey.startsWith(entryPrefix)) stored.set(dbKey.slice(entryPrefix.length), decodeEntry(dbKey, bytes));
        else throw corrupt(dbKey, bytes);
      }
    }
    failed = false;
  } finally {
    // A failure to close only matters when nothing else failed first.
    await iterator.close().catch((cause: unknown) => {
      if (!failed) throw backendError("load", undefined, cause);
    });
  }
  return { meta, stored };
}

function encodeMeta(revision: number, ttlMs: number): Uint8Array {
  const bytes = new Uint8Array(metaBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, format);
  view.setBigUint64(1, BigInt(revision));
  view.setBigUint64(9, BigInt(ttlMs));
  return bytes;
}

function decodeMeta(bytes: Uint8Array): { revision: number; ttlMs: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength !== metaBytes || view.getUint8(0) !== format) throw corrupt(metaKey, bytes);
  return { revision: Number(view.getBigUint64(1)), ttlMs: Number(view.getBigUint64(9)) };
}

function encodeEntry(stored: StoredKvEntry): Uint8Array {
  const bytes = new Uint8Array(entryHeaderBytes + stored.value.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, format);
  view.setBigUint64(1, BigInt(stored.revision));
  view.setFloat64(9, stored.writtenAtMs);
  bytes.set(stored.value, entryHeaderBytes);
  return bytes;
}

function decodeEntry(dbKey: string, bytes: Uint8Array): StoredKvEntry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < entryHeaderBytes || view.getUint8(0) !== format) throw corrupt(dbKey, bytes);
  return {
    // Copied into a plain Uint8Array: level may hand back a Buffer, whose slice() is a view.
    value: new Uint8Array(bytes.subarray(entryHeaderBytes)),
    revision: Number(view.getBigUint64(1)),
    writtenAtMs: view.getFloat64(9),
  };
}

function corrupt(dbKey: string, bytes: Uint8Array): SwitchboardError {
  return new SwitchboardError("internal", `key-value table record ${JSON.stringify(dbKey)} is not in a known format`, {
    context: { record: dbKey, byteLength: bytes.byteLength },
  });
}

function backendError(op: string, key: string | undefined, cause: unknown): SwitchboardError {
  // The database was closed under the table (its owner shut down first): try elsewhere or later.
  const code = (cause as { code?: unknown } | undefined)?.code === "LEVEL_DATABASE_NOT_OPEN" ? "unavailable" : "internal";
  const what = key === undefined ? op : `${op} ${JSON.stringify(key)}`;
  return new SwitchboardError(code, `key-value table: cannot ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, {
    context: key === undefined ? { op } : { op, key },
    cause,
  });
}

/** A plain copy: `slice()` on a Buffer would return a view of the caller's memory. */
function copyOf(value: Uint8Array): Uint8Array {
  return new Uint8Array(value);
}
