/** One stored message of a stream. */
export interface LogEntry {
  /** Position in its stream: 1 for the first entry ever appended, then +1 each. */
  readonly seq: number;
  /**
   * The log's clock at append, never earlier than the entry before it in the same
   * stream, so entries expire by age strictly from the front.
   */
  readonly timestampMs: number;
  /** A plain `Uint8Array` the caller owns; changing it does not change the log. */
  readonly data: Uint8Array;
}

/**
 * Where a stream stands. The visible entries are always exactly `firstSeq..lastSeq`,
 * because retention and `truncate` only ever remove from the front.
 */
export interface LogInfo {
  /** The oldest visible entry; `lastSeq + 1` when there is none. */
  readonly firstSeq: number;
  /** The last seq ever assigned, kept after its entry is removed; 0 if none. */
  readonly lastSeq: number;
  readonly count: number;
}

/**
 * What a log keeps, per stream; fixed for one log instance. An absent field means
 * unbounded. Invalid values (not a positive integer, not a positive number of ms) are
 * refused with `invalid_argument` when the log is created.
 */
export interface RetentionPolicy {
  /** Keep only the newest `maxEntries` entries of each stream. */
  readonly maxEntries?: number;
  /**
   * An entry becomes invisible once it is `maxAgeMs` old by the log's clock, at once;
   * its storage is reclaimed later.
   */
  readonly maxAgeMs?: number;
}

/**
 * Append-only, numbered streams of messages: topic history, user inboxes, offline
 * queues. A log holds any number of independent streams, named by any non-empty
 * well-formed Unicode string (`inbox/acme:alice`, `topic/a.b`, `é`).
 *
 * Every method rejects with `invalid_argument` for an empty or ill-formed stream name,
 * a seq that is not a non-negative integer, a limit that is not a positive integer, or
 * data that is not a `Uint8Array`; and with `unavailable` once the log is closing.
 */
export interface MessageLog extends AsyncDisposable {
  /**
   * Appends to `stream` and resolves to the entry's seq: 1 for the first entry, then
   * +1 each, never reused, even after entries are trimmed, expire or are truncated.
   * Concurrent appends to one stream get distinct consecutive seqs in call order.
   * `data` is copied before this returns.
   */
  append(stream: string, data: Uint8Array): Promise<number>;

  /**
   * Up to `limit` visible entries with `seq >= fromSeq`, ascending. Removed entries
   * are skipped silently; past the end the result is empty.
   */
  read(stream: string, fromSeq: number, limit: number): Promise<LogEntry[]>;

  /**
   * The newest `limit` visible entries with `seq < beforeSeq`, ascending: pass the
   * first seq of the page before to walk a stream backwards, or
   * `Number.MAX_SAFE_INTEGER` for the newest entries.
   */
  readBefore(stream: string, beforeSeq: number, limit: number): Promise<LogEntry[]>;

  /** Where `stream` stands; a stream never appended to is `{ 1, 0, 0 }`. */
  info(stream: string): Promise<LogInfo>;

  /**
   * Removes every entry with `seq <= throughSeq` (acknowledged offline messages).
   * Idempotent. Never changes the numbering: past `lastSeq` it removes everything and
   * the next append still gets `lastSeq + 1`.
   */
  truncate(stream: string, throughSeq: number): Promise<void>;

  /**
   * Waits for operations already started, then releases the log. Idempotent. A log
   * given an open database leaves that database open.
   */
  close(): Promise<void>;
}
