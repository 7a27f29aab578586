/**
 * How nodes reach each other: request/reply and publish/subscribe on subjects, with
 * headers. NATS semantics are the reference: a subject served by nobody answers "no
 * responders" at once, `*` matches one token, `>` the rest. Implementations:
 * `InProcessTransport` (several nodes in one process) and `NatsTransport`.
 */
export interface Transport {
  /**
   * Sends a request and waits for the one reply. Rejects with a `SwitchboardError`:
   * `unavailable` with `context.noResponders === true` when nobody serves the subject
   * (the caller may retry), `deadline_exceeded` when no reply comes within
   * `timeoutMs`, `unavailable` when the transport is disconnected or closed.
   */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<TransportMessage>;
  /** Fire and forget; resolves once handed to the transport. */
  publish(subject: string, data: Uint8Array, headers?: Headers): Promise<void>;
  /**
   * Receives every message on `subject` (wildcards allowed) until the subscription is
   * closed. With `queue`, members of one queue group share the messages.
   */
  subscribe(subject: string, handler: (msg: IncomingMessage) => void, options?: { queue?: string }): TransportSubscription;
  /** Connected now? A node that stays disconnected longer than its lease stops serving. */
  readonly connected: boolean;
  /** Calls `listener` on every connect/disconnect change; returns a function that removes it. */
  onConnectionChange(listener: (connected: boolean) => void): () => void;
  /** Flushes what is pending, then closes; idempotent. */
  close(): Promise<void>;
}

export type Headers = Readonly<Record<string, string>>;

export interface RequestOptions {
  readonly timeoutMs: number;
  readonly headers?: Headers;
}

export interface TransportMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
}

export interface IncomingMessage extends TransportMessage {
  /** Answers a request; false if the message was not a request (no reply subject). */
  respond(data: Uint8Array, headers?: Headers): boolean;
}

export interface TransportSubscription {
  readonly subject: string;
  /** Stops delivery; messages already handed to the handler are not recalled. Idempotent. */
  close(): Promise<void>;
}
