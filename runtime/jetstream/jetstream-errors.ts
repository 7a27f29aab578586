import { errors } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { SwitchboardError, isSwitchboardError } from "../errors.ts";
import type { ErrorContext } from "../errors.ts";

/**
 * True for JetStream's answer to a failed compare-and-set: a publish whose
 * `Nats-Expected-Last-Subject-Sequence` (KV `create`/`update`) did not match.
 */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Whether trying again later can help: the connection is down or draining, a request
 * timed out, or JetStream has no leader right now (no responders, HTTP-like 503).
 */
function isTransient(err: unknown): boolean {
  if (
    err instanceof errors.TimeoutError ||
    err instanceof errors.NoRespondersError ||
    err instanceof errors.ClosedConnectionError ||
    err instanceof errors.DrainingConnectionError ||
    err instanceof errors.ConnectionError ||
    err instanceof errors.RequestError
  ) {
    return true;
  }
  if (err instanceof JetStreamApiError) return err.status === 503;
  if (err instanceof JetStreamError) {
    const code = (err as JetStreamError & { code?: unknown }).code;
    return code === 503 || code === 408;
  }
  return false;
}

/**
 * Wraps a backend failure: `unavailable` (retryable) when NATS or JetStream cannot be
 * reached or has no leader, `internal` otherwise; a `SwitchboardError` passes through.
 */
export function backendError(message: string, context: ErrorContext, cause: unknown): SwitchboardError {
  if (isSwitchboardError(cause)) return cause;
  return new SwitchboardError(isTransient(cause) ? "unavailable" : "internal", message, { context, cause });
}
