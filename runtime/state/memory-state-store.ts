import { absentRecord, assertExpectation, assertKey, assertValue, assertWritable, closedError } from "./state-checks.ts";
import type { SaveExpectation, StateRecord, StateStore } from "./state-store.ts";

interface Entry {
  readonly value: Uint8Array | undefined;
  readonly epoch: number;
  readonly revision: number;
}

const absentEntry: Entry = { value: undefined, epoch: 0, revision: 0 };

/**
 * The in-memory twin of the durable stores: same contract, nothing survives the
 * process or `close()`. Each method checks and writes without yielding, so per-key
 * atomicity comes free on one event loop.
 */
export class MemoryStateStore implements StateStore {
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  async load(key: string): Promise<StateRecord> {
    this.#check(key);
    const entry = this.#entries.get(key);
    return entry === undefined ? absentRecord : toRecord(entry);
  }

  async claim(key: string): Promise<StateRecord> {
    this.#check(key);
    const current = this.#entries.get(key) ?? absentEntry;
    const next = { value: current.value, epoch: current.epoch + 1, revision: current.revision + 1 };
    this.#entries.set(key, next);
    return toRecord(next);
  }

  async save(key: string, value: Uint8Array, expect: SaveExpectation): Promise<string> {
    this.#check(key);
    assertValue(key, value);
    return this.#write(key, new Uint8Array(value), expect);
  }

  async delete(key: string, expect: SaveExpectation): Promise<string> {
    this.#check(key);
    return this.#write(key, undefined, expect);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
  }

  #write(key: string, value: Uint8Array | undefined, expect: SaveExpectation): string {
    assertExpectation(key, expect);
    const current = this.#entries.get(key);
    assertWritable(key, { etag: current === undefined ? null : etagOf(current), epoch: current?.epoch ?? 0 }, expect);
    const next = { value, epoch: current?.epoch ?? 0, revision: (current?.revision ?? 0) + 1 };
    this.#entries.set(key, next);
    return etagOf(next);
  }

  #check(key: string): void {
    if (this.#closed) throw closedError(key);
    assertKey(key);
  }
}

function etagOf(entry: Entry): string {
  return String(entry.revision);
}

function toRecord(entry: Entry): StateRecord {
  return Object.freeze({
    value: entry.value === undefined ? undefined : new Uint8Array(entry.value),
    etag: etagOf(entry),
    epoch: entry.epoch,
  });
}
