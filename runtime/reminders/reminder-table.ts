import { SwitchboardError } from "../errors.ts";
import { assertReminderKey } from "./reminder-checks.ts";

/**
 * What to do with the ticks of a reminder that fell due while nobody could fire them
 * (the process was down, the actor's partition had no owner):
 * - `"skip"`: fire none of them; a missed one-shot is dropped.
 * - `"fire-once"`: fire one, for the newest missed tick.
 * - `"fire-all"`: fire every missed tick, at most {@link maxCatchUpFires} of them.
 */
export type MissedTickPolicy = "skip" | "fire-once" | "fire-all";

export const missedTickPolicies: readonly MissedTickPolicy[] = Object.freeze(["skip", "fire-once", "fire-all"]);

/**
 * A durable timer of one virtual actor, identified by (`actorId`, `name`). Tables keep
 * exactly these seven fields; other properties of an object passed in are not stored.
 */
export interface Reminder {
  /** The actor it wakes, e.g. `"counter/acme:c1"`. Non-empty, well-formed Unicode, no U+0000. */
  readonly actorId: string;
  /** Unique per actor. Non-empty, well-formed Unicode, no U+0000. */
  readonly name: string;
  /** The handler to call when due. Non-empty. */
  readonly method: string;
  /**
   * The handler's argument, stored as JSON: what comes back is what
   * `JSON.parse(JSON.stringify(arg))` gives (a `Date` becomes its ISO string, `NaN`
   * becomes `null`, `undefined` properties vanish), always a fresh copy. `undefined`
   * itself is kept as `undefined`.
   */
  readonly arg: unknown;
  /** The next time it is due, in Unix milliseconds. A non-negative safe integer. */
  readonly dueAtMs: number;
  /** Milliseconds between ticks; 0 = one-shot. A non-negative safe integer. */
  readonly periodMs: number;
  /** What to do about ticks missed while it could not fire. */
  readonly missed: MissedTickPolicy;
}

/**
 * The durable table of reminders, keyed by (`actorId`, `name`). It stores; it does not
 * schedule — firing, and advancing `dueAtMs` afterwards, is the scheduler's job.
 *
 * Calls concerning one reminder take effect in call order, even when not awaited one
 * by one. Reminders returned are frozen, and their `arg` is a fresh copy each time.
 * A reminder that fails {@link validateReminder}, and an id that is empty, malformed
 * or contains U+0000, are refused with `invalid_argument`. Every method rejects with
 * `unavailable` once the table is closed. A backend failure, or a stored record this
 * code cannot read, rejects with `internal` and the original error as `cause`.
 */
export interface ReminderTable {
  /** Inserts or replaces the reminder (`actorId`, `name`). Idempotent. */
  upsert(reminder: Reminder): Promise<void>;

  /** Removes it; true if it existed. Idempotent: deleting an absent reminder gives false. */
  delete(actorId: string, name: string): Promise<boolean>;

  /** The reminder, or undefined if there is none. */
  get(actorId: string, name: string): Promise<Reminder | undefined>;

  /** All reminders of one actor, by name in Unicode code point order; [] if none. */
  listForActor(actorId: string): Promise<Reminder[]>;

  /**
   * Every reminder, in no particular order. `filter` narrows to the actors it returns
   * true for (a cluster node loads only its partitions' reminders). It must be pure: it
   * may be called any number of times per actor id. If it throws, so does `listAll`,
   * with the filter's own error.
   */
  listAll(filter?: (actorId: string) => boolean): Promise<Reminder[]>;

  /** Waits for calls in flight, then releases the backend. Idempotent. */
  close(): Promise<void>;
}

/**
 * Throws `invalid_argument` unless `reminder` is one a table can store: ids as on
 * {@link Reminder}, a non-empty `method`, a non-negative safe-integer `dueAtMs` and
 * `periodMs`, a known `missed` policy, and an `arg` JSON can serialise (not a BigInt,
 * a cycle, a function or a symbol). Pure apart from calling `arg`'s `toJSON`, if any.
 */
export function validateReminder(reminder: unknown): asserts reminder is Reminder {
  if (typeof reminder !== "object" || reminder === null) {
    throw new SwitchboardError("invalid_argument", "reminder must be an object");
  }
  const { actorId, name, method, arg } = reminder as Partial<Reminder>;
  assertReminderKey(actorId as string, name as string);
  const context = { actorId, name };
  if (typeof method !== "string" || method.length === 0) {
    throw new SwitchboardError("invalid_argument", "reminder method must be a non-empty string", { context });
  }
  assertSchedule(reminder as Reminder, context);
  if (typeof arg === "function" || typeof arg === "symbol") {
    throw new SwitchboardError("invalid_argument", `reminder arg cannot be a ${typeof arg}`, { context });
  }
  try {
    JSON.stringify(arg);
  } catch (cause) {
    throw new SwitchboardError("invalid_argument", "reminder arg must be JSON-serialisable", { context, cause });
  }
}

/** How many missed ticks `"fire-all"` fires at most; older ones are dropped. */
export const maxCatchUpFires = 1000;

/** What {@link nextDueAfter} decides for one reminder. */
export interface DueTicks {
  /** The due times to fire now, oldest first; each is a tick time, not `nowMs`. */
  readonly fires: number[];
  /** The next due time, strictly after `nowMs`; undefined when a one-shot is finished. */
  readonly next: number | undefined;
}

/**
 * Applies the missed-tick policy to a reminder whose `dueAtMs` may be in the past.
 * Every tick at or before `nowMs` counts as missed — including one due exactly now
 * or a few milliseconds ago, so under `"skip"` even an on-time tick fires nothing.
 *
 * - `dueAtMs > nowMs`: nothing fires; `next` is `dueAtMs`.
 * - One-shot (`periodMs` 0), due: `"skip"` fires nothing; `"fire-once"` and
 *   `"fire-all"` fire `[dueAtMs]`. `next` is undefined: the reminder is finished.
 * - Periodic, due, with ticks `dueAtMs + i·periodMs <= nowMs` for i = 0 … k−1:
 *   `"skip"` fires nothing; `"fire-once"` fires the newest tick; `"fire-all"` fires
 *   the newest `min(k, maxCatchUpFires)` ticks, oldest first. `next` is the first
 *   tick strictly after `nowMs`, so the tick grid never drifts.
 *
 * O(1) in k apart from the fire list. `nowMs` may be fractional (it is floored: ticks
 * are whole milliseconds). Pure. Throws `invalid_argument` for a `nowMs` that is not
 * finite or beyond the safe integer range, or a reminder whose `dueAtMs`, `periodMs` or `missed` fail {@link validateReminder}.
 */
export function nextDueAfter(reminder: Reminder, nowMs: number): DueTicks {
  const context = { actorId: reminder.actorId, name: reminder.name };
  assertSchedule(reminder, context);
  const now = Math.floor(nowMs);
  if (!Number.isSafeInteger(now)) {
    throw new SwitchboardError("invalid_argument", "nowMs must be a finite number in the safe integer range", {
      context: { ...context, nowMs },
    });
  }
  const { dueAtMs, periodMs, missed } = reminder;
  if (dueAtMs > now) return { fires: [], next: dueAtMs };

  if (periodMs === 0) return { fires: missed === "skip" ? [] : [dueAtMs], next: undefined };

  // Both operands are safe integers, so `%` is exact; no loop over the k missed ticks.
  const lastTick = now - ((now - dueAtMs) % periodMs);
  const next = lastTick + periodMs;
  switch (missed) {
    case "skip":
      return { fires: [], next };
    case "fire-once":
      return { fires: [lastTick], next };
    case "fire-all": {
      const missedTicks = (lastTick - dueAtMs) / periodMs + 1;
      const count = Math.min(missedTicks, maxCatchUpFires);
      const fires = Array.from({ length: count }, (_, i) => lastTick - (count - 1 - i) * periodMs);
      return { fires, next };
    }
    default:
      return unreachable(missed);
  }
}

function assertSchedule(reminder: Reminder, context: Record<string, unknown>): void {
  const { dueAtMs, periodMs, missed } = reminder;
  if (!Number.isSafeInteger(dueAtMs) || dueAtMs < 0) {
    throw new SwitchboardError("invalid_argument", "reminder dueAtMs must be a non-negative safe integer", {
      context: { ...context, dueAtMs },
    });
  }
  if (!Number.isSafeInteger(periodMs) || periodMs < 0) {
    throw new SwitchboardError("invalid_argument", "reminder periodMs must be a non-negative safe integer", {
      context: { ...context, periodMs },
    });
  }
  if (!missedTickPolicies.includes(missed)) {
    throw new SwitchboardError("invalid_argument", `reminder missed must be one of ${missedTickPolicies.join(", ")}`, {
      context: { ...context, missed },
    });
  }
}

function unreachable(value: never): never {
  throw new SwitchboardError("internal", `unhandled missed-tick policy ${String(value)}`);
}
