import { Level } from "level";
import { SwitchboardError } from "../errors.ts";
import { KeyLock } from "../key-lock.ts";
import { assertActorId, assertFilter, assertReminderKey, closedError } from "./reminder-checks.ts";
import { decodeReminderRecord, encodeReminderRecord } from "./reminder-record.ts";
import type { Reminder, ReminderTable } from "./reminder-table.ts";

const encodings = { keyEncoding: "utf8", valueEncoding: "utf8" } as const;
const keyEncoding = { keyEncoding: "utf8" } as const;
const scanBatchSize = 256;

// Key layout: actorId U+0000 name. Ids never contain U+0000 (refused on the way in),
// and U+0000 is the smallest character — one 0x00 byte in UTF-8, which level sorts
// by — so one actor's keys are exactly the range [actorId U+0000, actorId U+0001).
// A longer id sharing the prefix ("a/t:xy" against "a/t:x") continues with a
// character >= U+0001 and sorts at or above the upper bound; a shorter one has 0x00
// where this id has a larger byte and sorts below the lower bound.
const separator = "\u0000";
const afterSeparator = "\u0001";

function keyOf(actorId: string, name: string): string {
  return actorId + separator + name;
}

/** The range and encodings of one scan; both bounds absent for a scan of everything. */
export interface LevelReminderScan {
  readonly gte?: string;
  readonly lt?: string;
  readonly keyEncoding: "utf8";
  readonly valueEncoding: "utf8";
}

export interface LevelReminderIterator {
  nextv(size: number): Promise<Array<[string, string]>>;
  close(): Promise<void>;
}

/**
 * The part of an abstract-level database this table uses: a `Level` or a sublevel of
 * one, so a single data directory can hold the reminder table beside other stores.
 * Encodings are passed per call, so the database's own defaults do not matter.
 */
export interface LevelReminderDb {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string, options: typeof encodings): Promise<string | undefined>;
  put(key: string, value: string, options: typeof encodings): Promise<void>;
  del(key: string, options: typeof keyEncoding): Promise<void>;
  iterator(options: LevelReminderScan): LevelReminderIterator;
}

/**
 * Either `path`, a directory the table opens and closes itself, or `db`, a database
 * (or sublevel) the caller opened and will close.
 */
export type LevelReminderTableOptions = { readonly path: string } | { readonly db: LevelReminderDb };

/**
 * Resolves once the database is open. Rejects with `unavailable` if it cannot be, most
 * often because another process holds the directory's lock.
 */
export async function createLevelReminderTable(options: LevelReminderTableOptions): Promise<LevelReminderTable> {
  const table = new LevelReminderTable(options);
  await table.open();
  return table;
}

/**
 * A `ReminderTable` on LevelDB, one key per reminder holding its JSON record. Calls on
 * one reminder are serialised inside this object, which keeps them in call order and
 * makes `delete`'s read-then-remove atomic; that holds only because a level directory
 * is owned by one process (level's lock file enforces it) and only one
 * `LevelReminderTable` may use a given database or sublevel.
 */
export class LevelReminderTable implements ReminderTable {
  readonly #db: LevelReminderDb;
  readonly #ownsDb: boolean;
  readonly #queue = new KeyLock();
  #closed = false;

  /** Prefer `createLevelReminderTable`, which reports a failed open at once. */
  constructor(options: LevelReminderTableOptions) {
    if ("db" in options) {
      this.#db = options.db;
      this.#ownsDb = false;
    } else {
      this.#db = new Level<string, string>(options.path, encodings);
      this.#ownsDb = true;
    }
  }

  /** Opens the database; idempotent. Rejects with `unavailable` if it cannot be opened. */
  async open(): Promise<void> {
    try {
      await this.#db.open();
    } catch (cause) {
      throw new SwitchboardError("unavailable", "cannot open the reminder database", { cause });
    }
  }

  async upsert(reminder: Reminder): Promise<void> {
    this.#checkOpen();
    const record = encodeReminderRecord(reminder);
    const { actorId, name } = reminder;
    const key = keyOf(actorId, name);
    await this.#queue.run(key, () => this.#backend("write", { actorId, name }, () => this.#db.put(key, record, encodings)));
  }

  async delete(actorId: string, name: string): Promise<boolean> {
    this.#checkOpen();
    assertReminderKey(actorId, name);
    const key = keyOf(actorId, name);
    return this.#queue.run(key, () =>
      this.#backend("delete", { actorId, name }, async () => {
        if ((await this.#db.get(key, encodings)) === undefined) return false;
        await this.#db.del(key, keyEncoding);
        return true;
      }),
    );
  }

  async get(actorId: string, name: string): Promise<Reminder | undefined> {
    this.#checkOpen();
    assertReminderKey(actorId, name);
    const key = keyOf(actorId, name);
    // Through the queue too, so it sees earlier writes to the key and close() waits for it.
    const record = await this.#queue.run(key, () =>
      this.#backend("read", { actorId, name }, () => this.#db.get(key, encodings)),
    );
    return record === undefined ? undefined : decodeReminderRecord(actorId, name, record);
  }

  async listForActor(actorId: string): Promise<Reminder[]> {
    this.#checkOpen();
    assertActorId(actorId);
    return this.#queue.run(undefined, () =>
      this.#scan({ gte: actorId + separator, lt: actorId + afterSeparator, ...encodings }, { actorId }, undefined),
    );
  }

  async listAll(filter?: (actorId: string) => boolean): Promise<Reminder[]> {
    this.#checkOpen();
    assertFilter(filter);
    return this.#queue.run(undefined, () => this.#scan({ ...encodings }, {}, filter));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.idle();
    if (this.#ownsDb) await this.#backend("close", {}, () => this.#db.close());
  }

  /** Keys come back in order, so one actor's reminders are adjacent and sorted by name. */
  async #scan(
    range: LevelReminderScan,
    context: Record<string, unknown>,
    filter: ((actorId: string) => boolean) | undefined,
  ): Promise<Reminder[]> {
    const found: Reminder[] = [];
    const iterator = this.#db.iterator(range);
    let lastActorId: string | undefined;
    let included = true;
    let failed = true;
    try {
      for (;;) {
        const entries = await this.#backend("scan", context, () => iterator.nextv(scanBatchSize));
        if (entries.length === 0) break;
        for (const [key, record] of entries) {
          const [actorId, name] = splitKey(key);
          if (filter !== undefined && actorId !== lastActorId) {
            lastActorId = actorId;
            included = filter(actorId);
          }
          if (included) found.push(decodeReminderRecord(actorId, name, record));
        }
      }
      failed = false;
    } finally {
      // A failure to close only matters when nothing else failed first.
      await this.#backend("scan", context, () => iterator.close()).catch((err: unknown) => {
        if (!failed) throw err;
      });
    }
    return found;
  }

  async #backend<T>(op: string, context: Record<string, unknown>, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (cause) {
      throw new SwitchboardError("internal", `cannot ${op} reminders`, { context, cause });
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }
}

function splitKey(key: string): [actorId: string, name: string] {
  const at = key.indexOf(separator);
  if (at <= 0 || at === key.length - 1) {
    throw new SwitchboardError("internal", "reminder key is not in a known format", { context: { key } });
  }
  return [key.slice(0, at), key.slice(at + 1)];
}
