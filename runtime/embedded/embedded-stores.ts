import { Level } from "level";
import { join } from "node:path";
import { SwitchboardError } from "../errors.ts";
import { LevelMessageLog, type MessageLog, type RetentionPolicy } from "../log/index.ts";
import { LevelReminderTable, type ReminderTable } from "../reminders/index.ts";
import { LevelStateStore, type StateStore } from "../state/index.ts";
import type { Clock } from "../clock.ts";
import { openLevelKvTable } from "../cluster/level-kv-table.ts";
import type { LevelKvTable } from "../cluster/level-kv-table.ts";
import type { KvTable } from "../cluster/kv-table.ts";

export interface EmbeddedStoresOptions {
  /** The node's data directory; the database lives in `<dataDir>/db`. */
  readonly dataDir: string;
  readonly clock?: Clock;
  /** Retention of the message log; default unbounded. */
  readonly logRetention?: RetentionPolicy;
}

/** Everything an embedded node keeps on disk, in one level database with a sublevel each. */
export interface EmbeddedStores {
  readonly state: StateStore;
  readonly reminders: ReminderTable;
  readonly log: MessageLog;
  /**
   * A handle on the key-value table `name` (`[A-Za-z0-9_-]+`), kept in the sublevel
   * `kv-<name>` and loaded on first use (see `LevelKvTable`). Every handle on one name
   * shares the table, so a watch hears writes made through any of them; each handle
   * has its own `close()`, and `close()` of the stores closes them all. Rejects with
   * `invalid_argument` for a bad name or a `ttlMs` other than the table's, `unavailable`
   * once the stores are closed, and `internal` when the table cannot be read.
   */
  kvTable(name: string, options?: EmbeddedKvTableOptions): Promise<KvTable>;
  /** Closes the key-value tables (after their writes in flight), the stores, then the database. */
  close(): Promise<void>;
}

export interface EmbeddedKvTableOptions {
  /**
   * An entry is gone once `ttlMs` have passed since its last write, on the stores'
   * clock; 0 = never. Default: the table's stored TTL, 0 for a new table.
   */
  readonly ttlMs?: number;
}

const kvTableNamePattern = /^[A-Za-z0-9_-]+$/;

/**
 * Opens (creating if needed) the embedded node's database. Throws `unavailable` with a
 * clear message when another process holds the directory: a level directory belongs
 * to exactly one process.
 */
export async function openEmbeddedStores(options: EmbeddedStoresOptions): Promise<EmbeddedStores> {
  const path = join(options.dataDir, "db");
  const db = new Level<string, Uint8Array>(path, { keyEncoding: "utf8", valueEncoding: "view" });
  try {
    await db.open();
  } catch (err) {
    const locked = (err as { code?: string; cause?: { code?: string } }).cause?.code === "LEVEL_LOCKED" || (err as { code?: string }).code === "LEVEL_LOCKED";
    throw new SwitchboardError(
      "unavailable",
      locked ? `the data directory ${options.dataDir} is in use by another process` : `cannot open the database in ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const sub = (name: string) => db.sublevel<string, Uint8Array>(name, { keyEncoding: "utf8", valueEncoding: "view" });
  const state = new LevelStateStore({ db: sub("state") });
  const reminders = new LevelReminderTable({ db: sub("reminders") });
  const log = new LevelMessageLog({ db: db.sublevel<Uint8Array, Uint8Array>("log", { keyEncoding: "view", valueEncoding: "view" }), clock: options.clock, retention: options.logRetention });
  await Promise.all([state.open(), reminders.open(), log.open()]);
  // One table per name, shared by every handle on it: two tables loaded from one
  // sublevel would drift apart.
  const kvTables = new Map<string, Promise<LevelKvTable>>();
  let closed = false;
  return {
    state,
    reminders,
    log,
    async kvTable(name, tableOptions = {}) {
      if (closed) throw new SwitchboardError("unavailable", `the embedded stores are closed: cannot open key-value table ${JSON.stringify(name)}`, { context: { table: name } });
      if (typeof name !== "string" || !kvTableNamePattern.test(name)) {
        throw new SwitchboardError("invalid_argument", `invalid key-value table name ${JSON.stringify(name)}: use [A-Za-z0-9_-]+`, { context: { table: name } });
      }
      let opening = kvTables.get(name);
      if (opening === undefined) {
        opening = openLevelKvTable(sub(`kv-${name}`), { ttlMs: tableOptions.ttlMs, clock: options.clock });
        kvTables.set(name, opening);
        // A table that failed to load may be tried again.
        opening.catch(() => kvTables.delete(name));
      }
      const root = await opening;
      if (tableOptions.ttlMs !== undefined && tableOptions.ttlMs !== root.ttlMs) {
        throw new SwitchboardError("invalid_argument", `key-value table ${JSON.stringify(name)} is open with ttlMs ${root.ttlMs}, not ${tableOptions.ttlMs}`, {
          context: { table: name, ttlMs: root.ttlMs, requestedTtlMs: tableOptions.ttlMs },
        });
      }
      return root.openHandle();
    },
    async close() {
      closed = true;
      const tables = await Promise.allSettled(kvTables.values());
      await Promise.all(tables.map((table) => (table.status === "fulfilled" ? table.value.closeAll() : undefined)));
      await Promise.all([state.close(), reminders.close(), log.close()]);
      await db.close();
    },
  };
}
