/** What happens when a user's inbox is full. */
export type InboxPolicy = "drop-oldest" | "refuse-new";

export interface SessionOptions {
  /** Messages a user's inbox keeps unacknowledged; default 1,000. */
  readonly maxInbox?: number;
  /** `drop-oldest` (default): the oldest message goes and is counted; `refuse-new`: the send fails with `limit_exceeded`. */
  readonly inboxPolicy?: InboxPolicy;
  /** Acknowledgements are saved (and the inbox trimmed) at most this long after they come, in ms; default 1,000. */
  readonly ackFlushMs?: number;
}

export const defaultSessionOptions: Required<SessionOptions> = { maxInbox: 1000, inboxPolicy: "drop-oldest", ackFlushMs: 1000 };
