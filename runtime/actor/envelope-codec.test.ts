import assert from "node:assert/strict";
import { test } from "node:test";
import { Envelope } from "../../protos/index.ts";
import { isSwitchboardError } from "../errors.ts";
import type { ActorMessage } from "./actor-message.ts";
import { decodeEnvelope, encodeEnvelope } from "./envelope-codec.ts";

const call: ActorMessage = {
  kind: "call",
  target: "session/acme:alice",
  method: "deliver",
  arg: { text: "héllo", n: [1, 2, { deep: null }] },
  messageId: "m-1",
  deadlineMs: 1_800_000_000_000,
  callChain: ["topic/acme:room", "agent/acme:bob"],
  sender: "agent/acme:bob",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  tracestate: "vendor=x",
  settle: undefined,
};

test("a message survives the envelope round trip field by field", () => {
  const settle = () => {};
  const back = decodeEnvelope(encodeEnvelope(call), settle);
  assert.deepEqual({ ...back, settle: undefined }, call);
  assert.equal(back.settle, settle, "a decoded call gets the transport's settle");
  const send = decodeEnvelope(encodeEnvelope({ ...call, kind: "send", arg: undefined, sender: undefined, traceparent: undefined, tracestate: undefined, callChain: [], deadlineMs: 0 }), settle);
  assert.equal(send.kind, "send");
  assert.equal(send.arg, undefined);
  assert.equal(send.sender, undefined);
  assert.equal(send.traceparent, undefined);
  assert.equal(send.settle, undefined, "a one-way message has nobody to answer");
});

test("garbage and foreign payloads are refused with invalid_argument", () => {
  for (const bytes of [Uint8Array.from([0xff, 0xff, 0xff]), Uint8Array.from([0x0a, 0x05, 0x61])]) {
    assert.throws(() => decodeEnvelope(bytes), (err) => isSwitchboardError(err, "invalid_argument"));
  }
  const unspecified = Envelope.encode({ ...Envelope.fromPartial({ target: "a/t:k", method: "m" }) }).finish();
  assert.throws(() => decodeEnvelope(unspecified), /neither call nor send/);
  const xml = Envelope.encode(Envelope.fromPartial({ target: "a/t:k", method: "m", kind: 1, contentType: "application/xml" })).finish();
  assert.throws(() => decodeEnvelope(xml), /unsupported payload content type/);
  const notJson = Envelope.encode(Envelope.fromPartial({ target: "a/t:k", method: "m", kind: 1, payload: Buffer.from("{nope") })).finish();
  assert.throws(() => decodeEnvelope(notJson), /is not JSON/);
});
