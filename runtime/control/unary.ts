import { Metadata, status, type handleUnaryCall, type ServerUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { isSwitchboardError } from "../errors.ts";

/**
 * Turns an async function into a grpc-js unary handler. A `SwitchboardError` becomes
 * its mapped status code with the actor id and method in trailing metadata; anything
 * else becomes INTERNAL without leaking its message to the caller.
 */
export function unary<Req, Res>(
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  onInternal?: (err: unknown) => void,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err, onInternal)),
      );
  };
}

export function toServiceError(err: unknown, onInternal?: (err: unknown) => void): Partial<ServiceError> {
  const metadata = new Metadata();
  if (isSwitchboardError(err)) {
    metadata.set("switchboard-code", err.code);
    if (err.context.actorId !== undefined) metadata.set("switchboard-actor-id", err.context.actorId);
    if (err.context.method !== undefined) metadata.set("switchboard-method", err.context.method);
    return { code: err.grpcStatus, details: err.message, metadata };
  }
  onInternal?.(err);
  return { code: status.INTERNAL, details: "internal error", metadata };
}
