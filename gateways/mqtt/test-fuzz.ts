// Throws random garbage and random mutations of valid packets at an MQTT listener, for
// the bad-input test and `test/support/mqtt-fuzz.ts`. (Not a test file.) Every input
// comes from a seed, so a failure can be replayed.
import { connect as netConnect } from "node:net";
import { WebSocket } from "ws";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { randomSplits, seededRandom } from "./test-clients.ts";

/** Valid packets a client may send, to mutate. */
function validPackets(version: 4 | 5, random: () => number): Packet[] {
  const v5 = version === 5;
  const id = () => 1 + Math.floor(random() * 65_535);
  const topic = ["a", "a/b", "$x/y", "sensors/k1/temp", "", "é/ü", "a/+/b", "#"][Math.floor(random() * 8)]!;
  const props = v5 ? { userProperties: { k: ["v", "w"] }, contentType: "t", messageExpiryInterval: 5, topicAlias: 1 + Math.floor(random() * 3) } : undefined;
  return [
    { cmd: "subscribe", messageId: id(), subscriptions: [{ topic: `${topic || "f"}/#`, qos: 2, ...(v5 ? { nl: random() < 0.5, rap: true, rh: 1 } : {}) }], ...(v5 ? { properties: { subscriptionIdentifier: id() } } : {}) },
    { cmd: "publish", topic: topic || "t", payload: Buffer.alloc(Math.floor(random() * 64), 0x41), qos: 1, messageId: id(), retain: random() < 0.3, dup: false, ...(props ? { properties: props } : {}) },
    { cmd: "publish", topic: topic || "t", payload: Buffer.from("q2"), qos: 2, messageId: id(), retain: false, dup: false },
    { cmd: "pubrel", messageId: id() },
    { cmd: "puback", messageId: id() },
    { cmd: "pubrec", messageId: id() },
    { cmd: "pubcomp", messageId: id() },
    { cmd: "unsubscribe", messageId: id(), unsubscriptions: [topic || "x"] },
    { cmd: "pingreq" },
    { cmd: "disconnect", ...(v5 ? { reasonCode: random() < 0.5 ? 0 : 4 } : {}) },
  ];
}

function connectPacket(version: 4 | 5, random: () => number): Packet {
  const clientId = random() < 0.2 ? "" : `fuzz-${Math.floor(random() * 50)}`;
  return {
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: version,
    clean: clientId === "" || random() < 0.5,
    keepalive: Math.floor(random() * 4),
    clientId,
    ...(random() < 0.3 ? { will: { topic: "fuzz/will", payload: Buffer.from("w"), qos: 1 as const, retain: random() < 0.5 } } : {}),
    ...(version === 5 ? { properties: { sessionExpiryInterval: Math.floor(random() * 3), receiveMaximum: 1 + Math.floor(random() * 5), topicAliasMaximum: Math.floor(random() * 3) } } : {}),
  };
}

function mutate(bytes: Buffer, random: () => number): Buffer {
  const b = Buffer.from(bytes);
  const edits = 1 + Math.floor(random() * 4);
  let out: Buffer = b;
  for (let i = 0; i < edits; i++) {
    const r = random();
    const at = Math.floor(random() * out.length);
    if (r < 0.35 && out.length > 0) out[at] = out[at]! ^ (1 << Math.floor(random() * 8)); // flip a bit
    else if (r < 0.55 && out.length > 0) out[at] = Math.floor(random() * 256); // replace a byte
    else if (r < 0.7) out = out.subarray(0, at); // truncate
    else if (r < 0.85) out = Buffer.concat([out.subarray(0, at), randomBytes(1 + Math.floor(random() * 8), random), out.subarray(at)]); // insert
    else out = Buffer.concat([out, out.subarray(at)]); // repeat a tail
  }
  return out;
}

function randomBytes(n: number, random: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

/** The bytes of one fuzz case: garbage, a mutated CONNECT, or a valid CONNECT then valid and mutated packets. */
export function fuzzInput(seed: number): Buffer {
  const random = seededRandom(seed);
  const version = random() < 0.5 ? 4 : 5;
  const kind = random();
  if (kind < 0.15) return randomBytes(1 + Math.floor(random() * 512), random);
  const connect = mqtt.generate(connectPacket(version, random), { protocolVersion: version });
  if (kind < 0.35) return mutate(connect, random);
  const parts: Buffer[] = [connect];
  const valid = validPackets(version, random);
  const count = 1 + Math.floor(random() * 12);
  for (let i = 0; i < count; i++) {
    const p = mqtt.generate(valid[Math.floor(random() * valid.length)]!, { protocolVersion: version });
    parts.push(random() < 0.4 ? mutate(p, random) : p);
  }
  return Buffer.concat(parts);
}

/**
 * Sends fuzz case `seed` to `port` in random splits, reads whatever comes back, and
 * closes after `lingerMs` (or when the server does). Resolves with whether the server
 * closed the connection.
 */
export async function fuzzOnce(port: number, seed: number, lingerMs = 30): Promise<{ closedByServer: boolean }> {
  const random = seededRandom(seed ^ 0x5bd1e995);
  const socket = netConnect({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  socket.on("data", () => undefined);
  let closedByServer = false;
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.once("end", () => void (closedByServer = true));
  await new Promise<void>((resolve) => {
    socket.once("connect", resolve);
    socket.once("close", resolve);
  });
  for (const chunk of randomSplits(fuzzInput(seed), random, 64)) {
    if (socket.destroyed) break;
    socket.write(chunk);
    if (random() < 0.2) await new Promise((r) => setImmediate(r));
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, lingerMs))]);
  socket.destroy();
  await closed;
  return { closedByServer };
}

/** `fuzzOnce` over a WebSocket listener (`ws://…`, subprotocol mqtt): the same bytes, in binary frames of random size. */
export async function fuzzOnceWs(url: string, seed: number, lingerMs = 30): Promise<void> {
  const random = seededRandom(seed ^ 0x2545f491);
  const ws = new WebSocket(url, ["mqtt"]);
  const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  ws.on("error", () => undefined);
  const opened = await new Promise<boolean>((resolve) => {
    ws.once("open", () => resolve(true));
    ws.once("close", () => resolve(false));
  });
  if (!opened) return;
  for (const chunk of randomSplits(fuzzInput(seed), random, 64)) {
    if (ws.readyState !== ws.OPEN) break;
    ws.send(chunk, { binary: true });
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, lingerMs))]);
  ws.terminate();
  await closed;
}
