// What the key-value tables that keep their data in this process (MemoryKvTable,
// LevelKvTable) share: the stored form of an entry, its public copy, the refusal of a
// write at the wrong revision, and a watch fed by the table as it writes.
import { SwitchboardError } from "../errors.ts";
import type { KvChange, KvEntry, KvWatch } from "./kv-table.ts";

export interface StoredKvEntry {
  readonly value: Uint8Array;
  readonly revision: number;
  readonly writtenAtMs: number;
}

export function toKvEntry(key: string, stored: StoredKvEntry): KvEntry {
  return Object.freeze({ key, value: stored.value.slice(), revision: stored.revision, writtenAtMs: stored.writtenAtMs });
}

export function revisionMismatch(key: string, op: string, expected: string, actual: number | undefined): SwitchboardError {
  const found = actual === undefined ? "no live entry" : `revision ${actual}`;
  return new SwitchboardError("etag_mismatch", `${op} ${JSON.stringify(key)}: ${expected}, found ${found}`, {
    context: { key, op, revision: actual },
  });
}

/** A watch its table pushes each change to; changes queue without bound until read. */
export class QueuedKvWatch implements KvWatch {
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
