import { systemClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import { checkKvKey, checkKvPrefix, checkKvRevision, checkKvTtlMs, kvPrefixCanMatch } from "./kv-key.ts";
import type { KvChange, KvEntry, KvTable, KvWatch } from "./kv-table.ts";
import { QueuedKvWatch, revisionMismatch, toKvEntry, type StoredKvEntry } from "./local-kv.ts";

export interface MemoryKvTableOptions {
  /** An entry is gone once `ttlMs` have passed since its last write; default 0 = never. */
  readonly ttlMs?: number;
  /** Decides what "now" is for `writtenAtMs` and expiry; default `systemClock`. */
  readonly clock?: Clock;
}

/** One table's data, shared by every handle on it. */
class TableData {
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly #stored = new Map<string, StoredKvEntry>();
  readonly #watches = new Set<QueuedKvWatch>();
  #revision = 0;

  constructor(ttlMs: number, clock: Clock) {
    this.ttlMs = ttlMs;
    this.clock = clock;
  }

  /** The live entry; drops it (silently, as JetStream does) once expired. */
  live(key: string): StoredKvEntry | undefined {
    const stored = this.#stored.get(key);
    if (stored === undefined) return undefined;
    if (this.ttlMs > 0 && stored.writtenAtMs + this.ttlMs <= this.clock.now()) {
      this.#stored.delete(key);
      return undefined;
    }
    return stored;
  }

  liveKeys(): string[] {
    return [...this.#stored.keys()].filter((key) => this.live(key) !== undefined);
  }

  write(key: string, value: Uint8Array): number {
    const stored: StoredKvEntry = { value: value.slice(), revision: ++this.#revision, writtenAtMs: this.clock.now() };
    this.#stored.set(key, stored);
    this.#notify(() => ({ op: "put", entry: toKvEntry(key, stored) }));
    return stored.revision;
  }

  remove(key: string): void {
    this.#stored.delete(key);
    const revision = ++this.#revision;
    this.#notify(() => ({ op: "delete", key, revision }));
  }

  addWatch(watch: QueuedKvWatch): void {
    this.#watches.add(watch);
  }

  removeWatch(watch: QueuedKvWatch): void {
    this.#watches.delete(watch);
  }

  /** Each watch gets its own change, so no reader can alter what another sees. */
  #notify(change: () => KvChange): void {
    for (const watch of this.#watches) watch.push(change());
  }
}

/**
 * `KvTable` in one process. Several handles can share one table (`openHandle()`, or
 * `MemoryKvStore.table(name)`), so in-process nodes see one table as nodes see one
 * JetStream bucket. Expiry is lazy: an entry whose `writtenAtMs + ttlMs <= clock.now()`
 * is gone for every operation (a `create` may take its key, an `update` or a `delete`
 * at its revision fails with `etag_mismatch`), and no watch hears of it. Writes copy
 * the value; entries are frozen and carry their own copy.
 *
 * After `close()`, every operation on this handle rejects with `unavailable` and its
 * watches end; other handles are unaffected.
 */
export class MemoryKvTable implements KvTable {
  #data: TableData;
  readonly #watches = new Set<QueuedKvWatch>();
  #closed = false;

  constructor(options: MemoryKvTableOptions = {}) {
    const ttlMs = options.ttlMs ?? 0;
    checkKvTtlMs(ttlMs);
    this.#data = new TableData(ttlMs, options.clock ?? systemClock);
  }

  /** Another handle on this same table, with its own watches and its own `close()`. */
  openHandle(): MemoryKvTable {
    const handle = new MemoryKvTable({ ttlMs: this.#data.ttlMs, clock: this.#data.clock });
    handle.#data = this.#data;
    return handle;
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
    const stored = this.#data.live(key);
    return stored === undefined ? undefined : toKvEntry(key, stored);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    const current = this.#data.live(key);
    if (current !== undefined) throw revisionMismatch(key, "create", "the key exists", current.revision);
    return this.#data.write(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    checkKvRevision(revision, key);
    const current = this.#data.live(key);
    if (current?.revision !== revision) throw revisionMismatch(key, "update", `expected revision ${revision}`, current?.revision);
    return this.#data.write(key, value);
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    return this.#data.write(key, value);
  }

  async delete(key: string, revision?: number): Promise<void> {
    this.#checkOpen();
    checkKvKey(key);
    if (revision !== undefined) checkKvRevision(revision, key);
    const current = this.#data.live(key);
    if (revision !== undefined && current?.revision !== revision) {
      throw revisionMismatch(key, "delete", `expected revision ${revision}`, current?.revision);
    }
    if (current !== undefined) this.#data.remove(key);
  }

  /** Live entries whose key starts with `prefix`, sorted by key. */
  async entries(prefix = ""): Promise<KvEntry[]> {
    this.#checkOpen();
    checkKvPrefix(prefix);
    if (!kvPrefixCanMatch(prefix)) return [];
    return this.#data
      .liveKeys()
      .filter((key) => key.startsWith(prefix))
      .sort()
      .map((key) => toKvEntry(key, this.#data.live(key)!));
  }

  /**
   * Every put and delete on this table (through any handle) from this call on, in
   * revision order. Changes queue without bound until taken: keep reading.
   */
  watch(): KvWatch {
    this.#checkOpen();
    const watch = new QueuedKvWatch(() => {
      this.#data.removeWatch(watch);
      this.#watches.delete(watch);
    });
    this.#data.addWatch(watch);
    this.#watches.add(watch);
    return watch;
  }

  /** Ends this handle's watches; idempotent. The table and its other handles live on. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new SwitchboardError("unavailable", "the key-value table handle is closed", { context: { closed: true } });
  }
}

/**
 * Named in-process tables, each shared by every handle `table(name)` returns: what a
 * JetStream server with its buckets is to nodes, for nodes in one process.
 */
export class MemoryKvStore {
  readonly #tables = new Map<string, MemoryKvTable>();

  /**
   * A new handle on the table `name`, made with `options` on first use. Later calls
   * may omit options; options they give must match the table's (else `invalid_argument`).
   */
  table(name: string, options: MemoryKvTableOptions = {}): MemoryKvTable {
    const existing = this.#tables.get(name);
    if (existing === undefined) {
      const root = new MemoryKvTable(options);
      this.#tables.set(name, root);
      return root.openHandle();
    }
    if ((options.ttlMs !== undefined && options.ttlMs !== existing.ttlMs) || (options.clock !== undefined && options.clock !== existing.clock)) {
      throw new SwitchboardError("invalid_argument", `table ${JSON.stringify(name)} exists with other options (ttlMs ${existing.ttlMs})`, {
        context: { table: name, ttlMs: existing.ttlMs },
      });
    }
    return existing.openHandle();
  }
}
