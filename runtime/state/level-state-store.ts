import { Level } from "level";
import { SwitchboardError } from "../errors.ts";
import { KeyLock } from "../key-lock.ts";
import { decodeLevelRecord, encodeLevelRecord } from "./level-record.ts";
import type { LevelRecord } from "./level-record.ts";
import { absentRecord, assertExpectation, assertKey, assertValue, assertWritable, closedError } from "./state-checks.ts";
import type { SaveExpectation, StateRecord, StateStore } from "./state-store.ts";

const encodings = { keyEncoding: "utf8", valueEncoding: "view" } as const;

/**
 * The part of an abstract-level database this store uses: a `Level` or a sublevel of
 * one, so a single data directory can hold several stores side by side. Encodings are
 * passed per call, so the database's own defaults do not matter.
 */
export interface LevelStateDb {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  getSync(key: string, options: typeof encodings): Uint8Array | undefined;
  put(key: string, value: Uint8Array, options: typeof encodings): Promise<void>;
}

/**
 * Either `path`, a directory the store opens and closes itself, or `db`, a database
 * (or sublevel) the caller opened and will close.
 */
export type LevelStateStoreOptions = { readonly path: string } | { readonly db: LevelStateDb };

/**
 * Resolves once the database is open. Rejects with `unavailable` if it cannot be, most
 * often because another process holds the directory's lock.
 */
export async function createLevelStateStore(options: LevelStateStoreOptions): Promise<LevelStateStore> {
  const store = new LevelStateStore(options);
  await store.open();
  return store;
}

/**
 * A `StateStore` on LevelDB. Level has no compare-and-swap, so writes to one key are
 * serialised inside this object; that is atomic only because a level directory is
 * owned by exactly one process (level's lock file enforces it) and only one
 * `LevelStateStore` may use a given database or sublevel. Reads and writes of one key
 * run in call order.
 *
 * Reads are synchronous (`getSync`): a point read of a small record from LevelDB's
 * memtable or block cache takes a few microseconds on this thread, where an
 * asynchronous one costs about 80 µs of CPU in the round trip through libuv's thread
 * pool (measured on the 2-core development machine). Writes stay asynchronous.
 */
export class LevelStateStore implements StateStore {
  readonly #db: LevelStateDb;
  readonly #ownsDb: boolean;
  readonly #lock = new KeyLock();
  #closed = false;

  /** Prefer `createLevelStateStore`, which reports a failed open at once. */
  constructor(options: LevelStateStoreOptions) {
    if ("db" in options) {
      this.#db = options.db;
      this.#ownsDb = false;
    } else {
      this.#db = new Level<string, Uint8Array>(options.path, encodings);
      this.#ownsDb = true;
    }
  }

  /** Opens the database; idempotent. Rejects with `unavailable` if it cannot be opened. */
  async open(): Promise<void> {
    try {
      await this.#db.open();
    } catch (cause) {
      throw new SwitchboardError("unavailable", "cannot open the state database", { cause });
    }
  }

  async load(key: string): Promise<StateRecord> {
    this.#check(key);
    // Through the lock too, so close() can wait for reads in flight as well as writes.
    return this.#lock.run(key, async () => {
      const stored = await this.#read(key);
      return stored === undefined ? absentRecord : toRecord(stored);
    });
  }

  async claim(key: string): Promise<StateRecord> {
    this.#check(key);
    return this.#lock.run(key, async () => {
      const current = await this.#read(key);
      const next = {
        value: current?.value,
        epoch: (current?.epoch ?? 0) + 1,
        revision: (current?.revision ?? 0) + 1,
      };
      await this.#write(key, next);
      return toRecord(next);
    });
  }

  async save(key: string, value: Uint8Array, expect: SaveExpectation): Promise<string> {
    this.#check(key);
    assertValue(key, value);
    assertExpectation(key, expect);
    // Copied before the first await, so a caller reusing its buffer cannot change what is written.
    return this.#update(key, new Uint8Array(value), expect);
  }

  async delete(key: string, expect: SaveExpectation): Promise<string> {
    this.#check(key);
    assertExpectation(key, expect);
    return this.#update(key, undefined, expect);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.idle();
    if (this.#ownsDb) await this.#db.close();
  }

  #update(key: string, value: Uint8Array | undefined, expect: SaveExpectation): Promise<string> {
    return this.#lock.run(key, async () => {
      const current = await this.#read(key);
      assertWritable(key, { etag: current === undefined ? null : etagOf(current), epoch: current?.epoch ?? 0 }, expect);
      const next = { value, epoch: current?.epoch ?? 0, revision: (current?.revision ?? 0) + 1 };
      await this.#write(key, next);
      return etagOf(next);
    });
  }

  async #read(key: string): Promise<LevelRecord | undefined> {
    // A database still opening cannot be read synchronously: wait for it (a borrowed one the caller did not await).
    if (this.#db.status !== "open") await this.open();
    let bytes: Uint8Array | undefined;
    try {
      bytes = this.#db.getSync(key, encodings);
    } catch (cause) {
      throw backendError("read", key, cause);
    }
    return bytes === undefined ? undefined : decodeLevelRecord(key, bytes);
  }

  async #write(key: string, record: LevelRecord): Promise<void> {
    try {
      await this.#db.put(key, encodeLevelRecord(record), encodings);
    } catch (cause) {
      throw backendError("write", key, cause);
    }
  }

  #check(key: string): void {
    if (this.#closed) throw closedError(key);
    assertKey(key);
  }
}

function etagOf(record: LevelRecord): string {
  return String(record.revision);
}

function toRecord(record: LevelRecord): StateRecord {
  return Object.freeze({ value: record.value, etag: etagOf(record), epoch: record.epoch });
}

function backendError(op: "read" | "write", key: string, cause: unknown): SwitchboardError {
  return new SwitchboardError("internal", `cannot ${op} the state of ${key}`, { context: { key }, cause });
}
