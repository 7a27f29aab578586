import { SwitchboardError } from "../errors.ts";
import { validateReminder } from "./reminder-table.ts";
import type { Reminder } from "./reminder-table.ts";

// The stored form of one reminder: JSON text of these fields. The key carries actorId
// and name. `v` is the format, so a later layout can be told from this one.
const FORMAT = 1;

interface StoredReminder {
  readonly v: typeof FORMAT;
  readonly method: string;
  readonly arg?: unknown;
  readonly dueAtMs: number;
  readonly periodMs: number;
  readonly missed: Reminder["missed"];
}

/**
 * Validates `reminder` (throwing `invalid_argument`) and returns its stored form.
 * Both tables keep this text and parse it on every read, so they hand out the same
 * JSON-normalised, freshly allocated `arg` a remote backend would.
 */
export function encodeReminderRecord(reminder: Reminder): string {
  validateReminder(reminder);
  const stored: StoredReminder = {
    v: FORMAT,
    method: reminder.method,
    arg: reminder.arg,
    dueAtMs: reminder.dueAtMs,
    periodMs: reminder.periodMs,
    missed: reminder.missed,
  };
  return JSON.stringify(stored);
}

/** Throws `internal` on text this code did not write: a corrupt or foreign record. */
export function decodeReminderRecord(actorId: string, name: string, text: string): Reminder {
  try {
    const stored = JSON.parse(text) as StoredReminder;
    if (stored?.v !== FORMAT) throw new Error(`unknown reminder record format ${String(stored?.v)}`);
    const reminder: Reminder = {
      actorId,
      name,
      method: stored.method,
      arg: stored.arg,
      dueAtMs: stored.dueAtMs,
      periodMs: stored.periodMs,
      missed: stored.missed,
    };
    validateReminder(reminder);
    return Object.freeze(reminder);
  } catch (cause) {
    throw new SwitchboardError("internal", `stored reminder ${name} of ${actorId} is not in a known format`, {
      context: { actorId, name },
      cause,
    });
  }
}
