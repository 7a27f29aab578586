import { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * The closed set of failure codes. Each maps onto one gRPC status code, so a failure
 * keeps its meaning from a handler, across NATS, through the gRPC API, to a gateway,
 * and says whether trying again can help.
 */
export const ErrorCodes = {
  invalid_argument: { grpc: GrpcStatus.INVALID_ARGUMENT, retryable: false },
  not_found: { grpc: GrpcStatus.NOT_FOUND, retryable: false },
  unknown_actor_type: { grpc: GrpcStatus.UNIMPLEMENTED, retryable: false },
  unknown_method: { grpc: GrpcStatus.UNIMPLEMENTED, retryable: false },
  /** A handler threw; the activation survives. */
  handler_failed: { grpc: GrpcStatus.UNKNOWN, retryable: false },
  /** The deadline passed before the answer came. The call may or may not have run. */
  deadline_exceeded: { grpc: GrpcStatus.DEADLINE_EXCEEDED, retryable: true },
  /** The target's mailbox is at its bound. */
  mailbox_full: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  /** A call would wait on a turn that waits on it. */
  call_cycle: { grpc: GrpcStatus.FAILED_PRECONDITION, retryable: false },
  /** Optimistic concurrency: the stored etag is not the one the save was based on. */
  etag_mismatch: { grpc: GrpcStatus.ABORTED, retryable: true },
  /** A write from an activation older than the newest one. */
  stale_epoch: { grpc: GrpcStatus.ABORTED, retryable: false },
  /** Nobody can take the message now (no owner, no connection); a later try may work. */
  unavailable: { grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  /** The node is draining or stopping and accepts nothing new. */
  shutting_down: { grpc: GrpcStatus.UNAVAILABLE, retryable: true },
  unauthenticated: { grpc: GrpcStatus.UNAUTHENTICATED, retryable: false },
  permission_denied: { grpc: GrpcStatus.PERMISSION_DENIED, retryable: false },
  /** A limit other than a mailbox: a quota, a rate, a count. */
  limit_exceeded: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, retryable: true },
  internal: { grpc: GrpcStatus.INTERNAL, retryable: false },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ErrorCodes, value);
}

/** What a failure was about; every field optional, all readonly. */
export interface ErrorContext {
  readonly actorId?: string;
  readonly method?: string;
  readonly tenant?: string;
  readonly [key: string]: unknown;
}

/**
 * The one error type of Switchboard. `code` is from the closed set above; `context`
 * names the actor, method or tenant; `cause` keeps the original error.
 */
export class SwitchboardError extends Error {
  override readonly name = "SwitchboardError";
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: { context?: ErrorContext; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...options.context });
  }

  /** Whether the same request, tried again later, can succeed. */
  get retryable(): boolean {
    return ErrorCodes[this.code].retryable;
  }

  /** The gRPC status code this failure maps onto. */
  get grpcStatus(): GrpcStatus {
    return ErrorCodes[this.code].grpc;
  }
}

export function isSwitchboardError(err: unknown, code?: ErrorCode): err is SwitchboardError {
  return err instanceof SwitchboardError && (code === undefined || err.code === code);
}
