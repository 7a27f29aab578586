/**
 * What a store holds under one key. Implementations return frozen records whose
 * `value` is a private copy: mutating it changes nothing stored.
 */
export interface StateRecord {
  /** Stored bytes, or undefined when nothing is stored (never written, or deleted). */
  readonly value: Uint8Array | undefined;
  /**
   * Opaque version token of the whole record (value and epoch). `null` only while the
   * key has never been claimed or written; after that it is never null again, even
   * with no value (after a claim of an absent key, or a delete). Changes on every
   * successful `claim`, `save` and `delete`. Compare etags for equality only.
   */
  readonly etag: string | null;
  /** Highest activation epoch that claimed this key; 0 when never claimed. */
  readonly epoch: number;
}

/** What a write was based on: the etag it read and the epoch of the activation writing. */
export interface SaveExpectation {
  /** The etag last read (`load`, `claim`) or written (`save`, `delete`); `null` = create-only. */
  readonly etag: string | null;
  /** The writer's activation epoch, as returned by its `claim`; 0 for a writer that never claims. */
  readonly epoch: number;
}

/**
 * Durable per-key state with optimistic concurrency and epoch fencing.
 *
 * Every write names the etag it was based on and the epoch of the activation making
 * it. The epoch is checked first (`stale_epoch`: a newer activation has claimed the
 * key, retrying cannot help), then the etag (`etag_mismatch`: someone wrote since you
 * read; reload and retry). Both checks and the write are one atomic step per key.
 *
 * Keys are non-empty, well-formed Unicode strings (any characters, including `/`,
 * `:`); anything else is refused with `invalid_argument`, as are a negative or
 * non-integer epoch and a value that is not a `Uint8Array`. Every method rejects with
 * `unavailable` once the store is closed. Other backend failures surface as a
 * `SwitchboardError` with the original error as `cause`.
 */
export interface StateStore {
  /** Reads the record under `key`; an absent key gives `{ value: undefined, etag: null, epoch: 0 }`. */
  load(key: string): Promise<StateRecord>;

  /**
   * Makes the caller the newest activation for `key`: atomically raises the stored
   * epoch to stored epoch + 1, keeps the value as it is, and returns the record with
   * the new epoch and a new etag. Call it once when an activation starts; from then on
   * writes from any older epoch fail with `stale_epoch`. Concurrent claims each get a
   * distinct epoch. Not idempotent: every call fences out the previous caller.
   */
  claim(key: string): Promise<StateRecord>;

  /**
   * Stores `value` (copied) if the stored epoch is <= `expect.epoch` (else
   * `stale_epoch`) and the stored etag equals `expect.etag` (else `etag_mismatch`).
   * `expect.etag === null` succeeds only on a key that was never claimed or written, so
   * an activation that claimed must pass the etag its claim returned. The stored epoch
   * is left unchanged. Returns the new etag. Not idempotent: a repeat with the same
   * expectation fails with `etag_mismatch`.
   */
  save(key: string, value: Uint8Array, expect: SaveExpectation): Promise<string>;

  /**
   * Removes the value under the same two checks as `save`. The epoch stays, so fencing
   * survives deletion, and the key gets a new non-null etag, so a writer that read
   * before the delete cannot write after it. Returns the new etag. Deleting a key with
   * no value succeeds and still changes the etag.
   */
  delete(key: string, expect: SaveExpectation): Promise<string>;

  /** Waits for writes in flight, then releases the backend. Idempotent. */
  close(): Promise<void>;
}
