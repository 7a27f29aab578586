import { Envelope } from "../protos/index.ts";
import { rate, report } from "./report.ts";

/** Encode and decode rate of the actor envelope with a 64-byte payload: the per-hop codec cost. */
export async function run(): Promise<void> {
  const envelope: Envelope = {
    target: "session/acme:alice",
    method: "deliver",
    payload: Buffer.alloc(64, 7),
    messageId: "01JZ6Q4M8N3V2W5X7Y9Z0A1B2C",
    deadlineUnixMs: Date.now() + 5000,
    trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate: "" },
    kind: 1,
    contentType: "",
    callChain: [],
    sender: "",
  };
  const bytes = Envelope.encode(envelope).finish();
  report({ name: "envelope.encode", value: await rate(() => Envelope.encode(envelope).finish()), unit: "ops/s" });
  report({ name: "envelope.decode", value: await rate(() => Envelope.decode(bytes)), unit: "ops/s" });
  report({ name: "envelope.bytes", value: bytes.length, unit: "bytes" });
}
