/** `[messageId, expiresAtMs, resultJson?]`, as persisted with the actor's state. */
export type DedupeEntry = [string, number] | [string, number, string];

/**
 * Message ids an activation has applied recently, with the answer it gave, so a
 * retried call gets the first answer instead of being applied twice. Bounded by time
 * and count; persisted with the state in the same write, so a restart or a move to
 * another node keeps it.
 */
export class DedupeWindow {
  readonly #entries = new Map<string, { expiresAt: number; result: string | undefined }>();
  readonly #windowMs: number;
  readonly #maxEntries: number;

  constructor(windowMs: number, maxEntries: number, saved: readonly DedupeEntry[] = []) {
    this.#windowMs = windowMs;
    this.#maxEntries = maxEntries;
    for (const [id, expiresAt, result] of saved) this.#entries.set(id, { expiresAt, result });
  }

  /** The remembered answer (JSON, or undefined for none) if `id` was applied within the window. */
  lookup(id: string, nowMs: number): { result: string | undefined } | undefined {
    const e = this.#entries.get(id);
    return e !== undefined && e.expiresAt > nowMs ? e : undefined;
  }

  record(id: string, nowMs: number, result: string | undefined): void {
    this.#entries.delete(id);
    this.#entries.set(id, { expiresAt: nowMs + this.#windowMs, result });
    this.#evict(nowMs);
  }

  toJSON(nowMs: number): DedupeEntry[] {
    this.#evict(nowMs);
    const out: DedupeEntry[] = [];
    for (const [id, { expiresAt, result }] of this.#entries) out.push(result === undefined ? [id, expiresAt] : [id, expiresAt, result]);
    return out;
  }

  #evict(nowMs: number): void {
    // Insertion order is expiry order (every entry gets the same window).
    for (const [id, e] of this.#entries) {
      if (e.expiresAt > nowMs && this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(id);
    }
  }
}
