/**
 * A small replicated key-value table with compare-and-set and a per-table time to
 * live: what membership leases, the coordinator lease and the partition table stand
 * on. Implementations: `MemoryKvTable` (one process) and `JetStreamKvTable` (a
 * JetStream key-value bucket, replicated by NATS).
 */
export interface KvTable {
  /** The live entry, or undefined (absent, deleted or expired). */
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes only if the key has no live entry; returns the new revision. Else `etag_mismatch`. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the live entry is at `revision`; returns the new revision. Else `etag_mismatch`. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Writes unconditionally; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Removes the key (only at `revision` when given, else `etag_mismatch`). Idempotent without a revision. */
  delete(key: string, revision?: number): Promise<void>;
  /** Every live entry, optionally only keys starting with `prefix`. */
  entries(prefix?: string): Promise<KvEntry[]>;
  /**
   * Changes from now on (puts and deletes; expiry by TTL is NOT reported, as in
   * JetStream: poll `entries` to notice expiry). Ends when closed.
   */
  watch(): KvWatch;
  /** Entries older than this (since their last write) are gone; 0 = forever. */
  readonly ttlMs: number;
  close(): Promise<void>;
}

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Strictly increasing across the whole table. */
  readonly revision: number;
  /** When this revision was written, by the table's clock (the server's, for JetStream). */
  readonly writtenAtMs: number;
}

export type KvChange = { readonly op: "put"; readonly entry: KvEntry } | { readonly op: "delete"; readonly key: string; readonly revision: number };

export interface KvWatch extends AsyncIterable<KvChange> {
  close(): void;
}
