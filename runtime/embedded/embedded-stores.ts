import { Level } from "level";
import { join } from "node:path";
import { SwitchboardError } from "../errors.ts";
import { LevelMessageLog, type MessageLog, type RetentionPolicy } from "../log/index.ts";
import { LevelReminderTable, type ReminderTable } from "../reminders/index.ts";
import { LevelStateStore, type StateStore } from "../state/index.ts";
import type { Clock } from "../clock.ts";

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
  /** Closes the stores, then the database. */
  close(): Promise<void>;
}

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
  return {
    state,
    reminders,
    log,
    async close() {
      await Promise.all([state.close(), reminders.close(), log.close()]);
      await db.close();
    },
  };
}
