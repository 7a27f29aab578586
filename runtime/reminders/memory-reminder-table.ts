import { assertActorId, assertFilter, assertReminderKey, closedError, compareCodePoints } from "./reminder-checks.ts";
import { decodeReminderRecord, encodeReminderRecord } from "./reminder-record.ts";
import type { Reminder, ReminderTable } from "./reminder-table.ts";

/**
 * The in-memory twin of the durable tables: same contract, nothing survives the
 * process or `close()`. Reminders are kept in their stored (JSON) form, so what comes
 * back is as normalised and as unshared as from a durable backend. Each method works
 * without yielding, so calls take effect in call order for free on one event loop.
 */
export class MemoryReminderTable implements ReminderTable {
  // actorId → name → stored record; an actor with no reminders has no entry.
  readonly #actors = new Map<string, Map<string, string>>();
  #closed = false;

  async upsert(reminder: Reminder): Promise<void> {
    this.#checkOpen();
    const record = encodeReminderRecord(reminder);
    let names = this.#actors.get(reminder.actorId);
    if (names === undefined) {
      names = new Map();
      this.#actors.set(reminder.actorId, names);
    }
    names.set(reminder.name, record);
  }

  async delete(actorId: string, name: string): Promise<boolean> {
    this.#checkOpen();
    assertReminderKey(actorId, name);
    const names = this.#actors.get(actorId);
    const existed = names?.delete(name) ?? false;
    if (names?.size === 0) this.#actors.delete(actorId);
    return existed;
  }

  async get(actorId: string, name: string): Promise<Reminder | undefined> {
    this.#checkOpen();
    assertReminderKey(actorId, name);
    const record = this.#actors.get(actorId)?.get(name);
    return record === undefined ? undefined : decodeReminderRecord(actorId, name, record);
  }

  async listForActor(actorId: string): Promise<Reminder[]> {
    this.#checkOpen();
    assertActorId(actorId);
    const names = this.#actors.get(actorId);
    if (names === undefined) return [];
    return [...names.keys()]
      .sort(compareCodePoints)
      .map((name) => decodeReminderRecord(actorId, name, names.get(name)!));
  }

  async listAll(filter?: (actorId: string) => boolean): Promise<Reminder[]> {
    this.#checkOpen();
    assertFilter(filter);
    const all: Reminder[] = [];
    for (const [actorId, names] of this.#actors) {
      if (filter !== undefined && !filter(actorId)) continue;
      for (const [name, record] of names) all.push(decodeReminderRecord(actorId, name, record));
    }
    return all;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#actors.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }
}
