/**
 * One message to one actor, as the runtime carries it on a node. It has the fields of
 * the protobuf `Envelope` (protos/), with the payload as a decoded JSON value; the NATS
 * transport encodes it to an `Envelope` at the node boundary.
 */
export interface ActorMessage {
  readonly kind: "call" | "send";
  readonly target: string;
  readonly method: string;
  /** Already the receiver's own copy (see `jsonCopy`). */
  readonly arg: unknown;
  readonly messageId: string;
  /** Absolute, Unix ms; 0 = none. */
  readonly deadlineMs: number;
  /** Actors whose turns wait on this call, outermost first. Empty for sends. */
  readonly callChain: readonly string[];
  readonly sender: string | undefined;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** Calls only: settles the caller; later calls are ignored. */
  readonly settle: ((err: unknown, result?: unknown) => void) | undefined;
}
