// Fuzzes an MQTT listener: random garbage and random mutations of valid packets, over
// TCP and WebSocket, for a while; a well-behaved client must keep working throughout.
//
//   node test/support/mqtt-fuzz.ts [--seconds 30] [--seed N] [--port P] [--ws-port W]
//
// Without --port it starts an embedded node with the gateway (TCP and WebSocket) in
// this process and also checks that every fuzz connection is gone at the end. With
// --port (and --ws-port) it fuzzes a running node on 127.0.0.1. Each case is named by
// its seed: a failure prints the seeds to replay with --seed.
import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { connectClient, waitFor } from "../../gateways/mqtt/test-clients.ts";
import { fuzzOnce, fuzzOnceWs } from "../../gateways/mqtt/test-fuzz.ts";
import { startTestMqtt, type TestMqttNode } from "../../gateways/mqtt/test-mqtt.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "30" }, seed: { type: "string" }, port: { type: "string" }, "ws-port": { type: "string" } } });
const seconds = Number(values.seconds);
const firstSeed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 1e9);

let node: TestMqttNode | undefined;
let port: number;
let wsPort: number | undefined;
if (values.port !== undefined) {
  port = Number(values.port);
  wsPort = values["ws-port"] !== undefined ? Number(values["ws-port"]) : undefined;
} else {
  node = await startTestMqtt({ listeners: [{ protocol: "mqtt-ws" }] });
  port = node.port;
  wsPort = node.listeners.find((l) => l.protocol === "mqtt-ws")!.port;
}

const watcher = await connectClient(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: `fuzz-watcher-${process.pid}` });
await watcher.client.subscribeAsync("fuzz-health/#", { qos: 1 });
let checks = 0;
async function healthy(): Promise<void> {
  const text = `ok ${++checks}`;
  assert.equal(watcher.closed, false, "the well-behaved client was disconnected");
  await watcher.client.publishAsync("fuzz-health/t", text, { qos: 1 });
  await waitFor(() => watcher.texts().includes(text), "the well-behaved client's message", 5000);
}

const deadline = Date.now() + seconds * 1000;
let seed = firstSeed;
let cases = 0;
let closedByServer = 0;
console.log(`fuzzing 127.0.0.1:${port}${wsPort ? ` and ws :${wsPort}` : ""} for ${seconds} s from seed ${firstSeed}`);
try {
  while (Date.now() < deadline) {
    const batch = Array.from({ length: 20 }, () => seed++);
    const results = await Promise.all(batch.map((s) => (wsPort !== undefined && s % 4 === 0 ? fuzzOnceWs(`ws://127.0.0.1:${wsPort}/mqtt`, s).then(() => ({ closedByServer: true })) : fuzzOnce(port, s))));
    cases += batch.length;
    closedByServer += results.filter((r) => r.closedByServer).length;
    if (cases % 200 === 0) await healthy();
  }
  await healthy();
  if (node !== undefined) await waitFor(() => node!.gateway.connections === 1, `fuzz connections to close (open: ${node.gateway.connections})`, 10_000);
  console.log(`ok: ${cases} cases (seeds ${firstSeed}..${seed - 1}), ${closedByServer} closed by the server, the well-behaved client fine throughout`);
} catch (err) {
  console.error(`FAILED after ${cases} cases (seeds ${firstSeed}..${seed - 1}):`, err);
  process.exitCode = 1;
} finally {
  await watcher.end();
  await node?.close();
}
