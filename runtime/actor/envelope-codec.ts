import { Envelope, EnvelopeKind } from "../../protos/index.ts";
import { SwitchboardError } from "../errors.ts";
import type { ActorMessage } from "./actor-message.ts";
import { encodeJson } from "./json-copy.ts";

const jsonType = "application/json";
const decoder = new TextDecoder();

/**
 * The wire form of an `ActorMessage`: a protobuf `switchboard.v1.Envelope` whose
 * payload is the argument as JSON. `settle` stays behind: the answer comes back as a
 * `Reply` on the transport's reply subject.
 */
export function encodeEnvelope(msg: ActorMessage, deadlineMs = msg.deadlineMs): Uint8Array {
  return Envelope.encode({
    target: msg.target,
    method: msg.method,
    payload: Buffer.from(msg.arg === undefined ? "" : encodeJson(msg.arg, `the argument of ${msg.target}.${msg.method}`)),
    messageId: msg.messageId,
    deadlineUnixMs: deadlineMs,
    trace: msg.traceparent === undefined ? undefined : { traceparent: msg.traceparent, tracestate: msg.tracestate ?? "" },
    kind: msg.kind === "call" ? EnvelopeKind.ENVELOPE_KIND_CALL : EnvelopeKind.ENVELOPE_KIND_SEND,
    contentType: jsonType,
    callChain: [...msg.callChain],
    sender: msg.sender ?? "",
  }).finish();
}

/** Decodes an envelope; throws `invalid_argument` for bytes that are not one, or a payload that is not JSON. */
export function decodeEnvelope(bytes: Uint8Array, settle?: ActorMessage["settle"]): ActorMessage {
  let env: Envelope;
  try {
    env = Envelope.decode(bytes);
  } catch (err) {
    throw new SwitchboardError("invalid_argument", `not a switchboard.v1.Envelope: ${(err as Error).message}`, { cause: err });
  }
  if (env.contentType !== "" && env.contentType !== jsonType) {
    throw new SwitchboardError("invalid_argument", `unsupported payload content type ${JSON.stringify(env.contentType)}`, { context: { actorId: env.target, method: env.method } });
  }
  const kind = env.kind === EnvelopeKind.ENVELOPE_KIND_CALL ? "call" : env.kind === EnvelopeKind.ENVELOPE_KIND_SEND ? "send" : undefined;
  if (kind === undefined) throw new SwitchboardError("invalid_argument", `envelope kind ${env.kind} is neither call nor send`, { context: { actorId: env.target } });
  let arg: unknown;
  try {
    arg = env.payload.length === 0 ? undefined : JSON.parse(decoder.decode(env.payload));
  } catch (err) {
    throw new SwitchboardError("invalid_argument", `the payload of ${env.target}.${env.method} is not JSON`, { cause: err, context: { actorId: env.target, method: env.method } });
  }
  return {
    kind,
    target: env.target,
    method: env.method,
    arg,
    messageId: env.messageId,
    deadlineMs: env.deadlineUnixMs,
    callChain: env.callChain,
    sender: env.sender === "" ? undefined : env.sender,
    traceparent: env.trace?.traceparent || undefined,
    tracestate: env.trace?.tracestate || undefined,
    settle: kind === "call" ? settle : undefined,
  };
}

