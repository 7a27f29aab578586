import { Reply } from "../../protos/index.ts";
import { isErrorCode, isSwitchboardError, SwitchboardError } from "../errors.ts";

const jsonType = "application/json";
const decoder = new TextDecoder();

/** A successful answer: the result as JSON (empty for undefined). */
export function encodeResultReply(messageId: string, resultJson: string | undefined): Uint8Array {
  return Reply.encode({ messageId, payload: Buffer.from(resultJson ?? ""), contentType: jsonType }).finish();
}

/** A failure as it crosses the wire; anything not a `SwitchboardError` becomes `internal`. */
export function encodeFaultReply(messageId: string, err: unknown): Uint8Array {
  const e = isSwitchboardError(err) ? err : new SwitchboardError("internal", "internal error", { cause: err });
  return Reply.encode({
    messageId,
    fault: {
      code: e.code,
      message: e.message,
      actorId: typeof e.context.actorId === "string" ? e.context.actorId : "",
      method: typeof e.context.method === "string" ? e.context.method : "",
      retryable: e.retryable,
    },
    contentType: "",
  }).finish();
}

/** Decodes a reply into its result, or throws the `SwitchboardError` it carries. */
export function decodeReply(bytes: Uint8Array): unknown {
  let reply: Reply;
  try {
    reply = Reply.decode(bytes);
  } catch (err) {
    throw new SwitchboardError("internal", "a node answered with bytes that are not a switchboard.v1.Reply", { cause: err });
  }
  if (reply.fault !== undefined) {
    const f = reply.fault;
    const context = { ...(f.actorId ? { actorId: f.actorId } : {}), ...(f.method ? { method: f.method } : {}), remote: true };
    throw new SwitchboardError(isErrorCode(f.code) ? f.code : "internal", f.message, { context });
  }
  const payload = reply.payload ?? Buffer.alloc(0);
  return payload.length === 0 ? undefined : JSON.parse(decoder.decode(payload));
}
