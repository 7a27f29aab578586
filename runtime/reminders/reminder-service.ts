import type { Clock, TimerHandle } from "../clock.ts";
import type { Logger } from "../telemetry/logger.ts";
import { nextDueAfter, validateReminder, type MissedTickPolicy, type Reminder, type ReminderTable } from "./reminder-table.ts";

export interface ReminderServiceOptions {
  readonly table: ReminderTable;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Which actors' reminders this node fires: in a cluster, those whose partition it
   * owns (call `refresh()` when that changes). Default all (embedded mode).
   */
  readonly owns?: (actorId: string) => boolean;
}

export interface ReminderSpec {
  readonly dueInMs: number;
  readonly periodMs?: number;
  readonly method: string;
  readonly arg?: unknown;
  readonly missed?: MissedTickPolicy;
}

/** Delivers one tick; resolves when the actor has handled it. */
export type DeliverTick = (actorId: string, method: string, arg: unknown, messageId: string) => Promise<void>;

const slot = (actorId: string, name: string) => `${actorId}\u0000${name}`;

/**
 * Fires durable reminders. Every reminder is in the table; this keeps one timer per
 * reminder for its next due time. On start it loads the table and applies each
 * reminder's missed-tick policy to the ticks that fell due while no process ran.
 *
 * Delivery is at least once: a tick is handled by the actor before the table records
 * the next due time, so a crash in between fires that tick again after restart. Each
 * tick carries the message id `reminder:<actor>:<name>:<due ms>`, so an actor type
 * with `dedupe` applies it exactly once.
 */
export class ReminderService {
  readonly #table: ReminderTable;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timers = new Map<string, TimerHandle>();
  // Bumped by set/cancel so a tick already in flight does not re-arm a replaced reminder.
  readonly #generation = new Map<string, number>();
  #deliver: DeliverTick | undefined;
  readonly #owns: (actorId: string) => boolean;

  constructor(options: ReminderServiceOptions) {
    this.#table = options.table;
    this.#clock = options.clock;
    this.#logger = options.logger.child({ component: "reminders" });
    this.#owns = options.owns ?? (() => true);
  }

  async start(deliver: DeliverTick): Promise<void> {
    this.#deliver = deliver;
    const all = await this.#table.listAll(this.#owns);
    for (const r of all) this.#arm(r, this.#bump(r));
    this.#logger.info({ reminders: all.length }, "reminders loaded");
  }

  /**
   * Follows a change of what this node owns: arms the reminders of actors it now owns
   * (applying their missed-tick policy) and drops the timers of those it no longer does.
   */
  async refresh(): Promise<void> {
    if (this.#deliver === undefined) return;
    for (const key of [...this.#timers.keys()]) {
      const actorId = key.slice(0, key.indexOf("\u0000"));
      if (!this.#owns(actorId)) {
        this.#timers.get(key)!.cancel();
        this.#timers.delete(key);
        this.#generation.set(key, (this.#generation.get(key) ?? 0) + 1);
      }
    }
    for (const r of await this.#table.listAll(this.#owns)) {
      if (!this.#timers.has(slot(r.actorId, r.name))) this.#arm(r, this.#bump(r));
    }
  }

  async stop(): Promise<void> {
    this.#deliver = undefined;
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  /** Creates or replaces the reminder `name` of `actorId`; durable once this resolves. */
  async set(actorId: string, name: string, spec: ReminderSpec): Promise<void> {
    const reminder: Reminder = {
      actorId,
      name,
      method: spec.method,
      arg: spec.arg ?? null,
      dueAtMs: this.#clock.now() + spec.dueInMs,
      periodMs: spec.periodMs ?? 0,
      missed: spec.missed ?? "fire-once",
    };
    validateReminder(reminder);
    await this.#table.upsert(reminder);
    this.#timers.get(slot(actorId, name))?.cancel();
    // Not `#arm`: the missed-tick policy is for ticks missed while no process ran, and
    // a reminder due now (dueInMs 0) has missed nothing.
    if (this.#deliver !== undefined) this.#wait(reminder, this.#bump(reminder));
  }

  /** Removes it; true if it existed. */
  async cancel(actorId: string, name: string): Promise<boolean> {
    const key = slot(actorId, name);
    this.#generation.set(key, (this.#generation.get(key) ?? 0) + 1);
    this.#timers.get(key)?.cancel();
    this.#timers.delete(key);
    return this.#table.delete(actorId, name);
  }

  #bump(r: Reminder): number {
    const key = slot(r.actorId, r.name);
    const g = (this.#generation.get(key) ?? 0) + 1;
    this.#generation.set(key, g);
    return g;
  }

  #current(r: Reminder, generation: number): boolean {
    return this.#deliver !== undefined && this.#generation.get(slot(r.actorId, r.name)) === generation;
  }

  /** Fires what is overdue now (per policy), then waits for the next due time. */
  #arm(r: Reminder, generation: number): void {
    const { fires, next } = nextDueAfter(r, this.#clock.now());
    if (fires.length === 0 && next === r.dueAtMs) {
      this.#wait(r, generation);
      return;
    }
    void this.#fireThen(r, generation, fires, next);
  }

  #wait(r: Reminder, generation: number): void {
    const key = slot(r.actorId, r.name);
    this.#timers.set(
      key,
      this.#clock.setTimer(() => {
        if (!this.#current(r, generation)) return;
        this.#timers.delete(key);
        const next = r.periodMs > 0 ? nextDueAfter({ ...r, missed: "skip" }, this.#clock.now()).next : undefined;
        void this.#fireThen(r, generation, [r.dueAtMs], next);
      }, r.dueAtMs - this.#clock.now()),
    );
  }

  async #fireThen(r: Reminder, generation: number, fires: readonly number[], next: number | undefined): Promise<void> {
    for (const due of fires) {
      if (!this.#current(r, generation)) return;
      try {
        await this.#deliver!(r.actorId, r.method, r.arg, `reminder:${r.actorId}:${r.name}:${due}`);
      } catch (err) {
        this.#logger.warn({ err, actorId: r.actorId, reminder: r.name, dueAtMs: due }, "reminder tick failed");
      }
    }
    if (!this.#current(r, generation)) return;
    try {
      if (next === undefined) {
        await this.#table.delete(r.actorId, r.name);
        return;
      }
      const moved = { ...r, dueAtMs: next };
      await this.#table.upsert(moved);
      if (this.#current(r, generation)) this.#wait(moved, generation);
    } catch (err) {
      this.#logger.error({ err, actorId: r.actorId, reminder: r.name }, "could not record the reminder's next due time");
    }
  }
}
