import { systemClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import { checkKvKey, checkKvPrefix, checkKvRevision, checkKvTtlMs, kvPrefixCanMatch } from "./kv-key.ts";
import type { KvChange, KvEntry, KvTable, KvWatch } from "./kv-table.ts";

export interface MemoryKvTableOptions {
  /** An entry is gone once `ttlMs` have passed since its last write; default 0 = never. */
  readonly ttlMs?: number;
  /** Decides what "now" is for `writtenAtMs` and expiry; default `systemClock`. */
  readonly clock?: Clock;
}

interface Stored {
  readonly value: Uint8Array;
  readonly revision: number;
  readonly writtenAtMs: number;
}

/** One table's data, shared by every handle on it. */
class TableData {
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly #stored = new Map<string, Stored>();
  readonly #watches = new Set<MemoryKvWatch>();
  #revision = 0;

  constructor(ttlMs: number, clock: Clock) {
    this.ttlMs = ttlMs;
    this.clock = clock;
  }

  /** The live entry; drops it (silently, as JetStream does) once expired. */
  live(key: string): Stored | undefined {
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
    const stored: Stored = { value: value.slice(), revision: ++this.#revision, writtenAtMs: this.clock.now() };
    this.#stored.set(key, stored);
    this.#notify(() => ({ op: "put", entry: toEntry(key, stored) }));
    return stored.revision;
  }

  remove(key: string): void {
    this.#stored.delete(key);
    const revision = ++this.#revision;
    this.#notify(() => ({ op: "delete", key, revision }));
  }

  addWatch(watch: MemoryKvWatch): void {
    this.#watches.add(watch);
  }

  removeWatch(watch: MemoryKvWatch): void {
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
  readonly #watches = new Set<MemoryKvWatch>();
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
    return stored === undefined ? undefined : toEntry(key, stored);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    const current = this.#data.live(key);
    if (current !== undefined) throw mismatch(key, "create", "the key exists", current.revision);
    return this.#data.write(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    this.#checkOpen();
    checkKvKey(key);
    checkKvRevision(revision, key);
    const current = this.#data.live(key);
    if (current?.revision !== revision) throw mismatch(key, "update", `expected revision ${revision}`, current?.revision);
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
      throw mismatch(key, "delete", `expected revision ${revision}`, current?.revision);
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
      .map((key) => toEntry(key, this.#data.live(key)!));
  }

  /**
   * Every put and delete on this table (through any handle) from this call on, in
   * revision order. Changes queue without bound until taken: keep reading.
   */
  watch(): KvWatch {
    this.#checkOpen();
    const watch = new MemoryKvWatch(() => {
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

class MemoryKvWatch implements KvWatch {
  readonly #queue: KvChange[] = [];
  readonly #onClose: () => void;
  #wake: ((result: IteratorResult<KvChange>) => void) | undefined;
  #closed = false;

  constructor(onClose: () => void) {
    this.#onClose = onClose;
  }

  push(change: KvChange): void {
    if (this.#closed) return;
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake !== undefined) wake({ done: false, value: change });
    else this.#queue.push(change);
  }

  /** Ends the iteration at once; changes not yet taken are dropped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#onClose();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.({ done: true, value: undefined });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<KvChange> {
    return {
      next: () => {
        if (this.#closed) return Promise.resolve({ done: true, value: undefined });
        const change = this.#queue.shift();
        if (change !== undefined) return Promise.resolve({ done: false, value: change });
        if (this.#wake !== undefined) return Promise.reject(new SwitchboardError("internal", "a KvWatch has one reader at a time"));
        return new Promise((resolve) => (this.#wake = resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

function toEntry(key: string, stored: Stored): KvEntry {
  return Object.freeze({ key, value: stored.value.slice(), revision: stored.revision, writtenAtMs: stored.writtenAtMs });
}

function mismatch(key: string, op: string, expected: string, actual: number | undefined): SwitchboardError {
  const found = actual === undefined ? "no live entry" : `revision ${actual}`;
  return new SwitchboardError("etag_mismatch", `${op} ${JSON.stringify(key)}: ${expected}, found ${found}`, {
    context: { key, op, revision: actual },
  });
}
