// Clients for the MQTT gateway's tests: mqtt.js with what it received, a raw socket
// speaking mqtt-packet (for malformed and edge packets), the mosquitto command-line
// clients run as child processes, and a fuzzer. (Not a test file.)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect as netConnect, type Socket } from "node:net";
import mqtt from "mqtt";
import type { IClientOptions, IPublishPacket as ClientPublishPacket, MqttClient } from "mqtt";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";

/** Polls `condition` every few ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One PUBLISH an mqtt.js client received. */
export interface Received {
  readonly topic: string;
  readonly text: string;
  readonly packet: ClientPublishPacket;
}

/** An mqtt.js client that records what it receives, and how its connection ended. */
export class TestClient {
  readonly client: MqttClient;
  readonly received: Received[] = [];
  /** DISCONNECT packets from the server (v5). */
  readonly disconnects: mqttPacket.IDisconnectPacket[] = [];
  closed = false;

  constructor(client: MqttClient) {
    this.client = client;
    client.on("message", (topic, payload, packet) => void this.received.push({ topic, text: payload.toString(), packet }));
    client.on("disconnect", (p) => void this.disconnects.push(p));
    client.on("close", () => void (this.closed = true));
    client.on("error", () => undefined);
  }

  texts(): string[] {
    return this.received.map((r) => r.text);
  }

  /** Waits until `n` messages have arrived in all. */
  async until(n: number, timeoutMs = 3000): Promise<Received[]> {
    await waitFor(() => this.received.length >= n, `${n} messages (got ${JSON.stringify(this.texts())})`, timeoutMs);
    return this.received;
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    await waitFor(() => this.closed, "the connection to close", timeoutMs);
  }

  /** Ends the connection with DISCONNECT; tolerates one already closed. */
  async end(): Promise<void> {
    if (this.closed) return void this.client.end(true);
    await this.client.endAsync();
  }
}

/**
 * Connects mqtt.js (no automatic reconnect). `url` may be `mqtt://` or `ws://`.
 * Rejects on a refused CONNECT.
 */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<TestClient> {
  // Listening from the start: a session's queued messages may come with the CONNACK.
  const c = new TestClient(mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options }));
  await new Promise<void>((resolve, reject) => {
    c.client.once("connect", () => resolve());
    c.client.once("error", reject);
    c.client.once("close", () => reject(new Error("closed before CONNACK")));
  });
  return c;
}

/**
 * A raw MQTT connection over TCP: packets are written with mqtt-packet (or as bytes),
 * and what the server sends is parsed in the version given.
 */
export class RawClient {
  readonly socket: Socket;
  readonly packets: Packet[] = [];
  closed = false;
  readonly #parser: ReturnType<typeof mqttPacket.parser>;
  readonly #version: 3 | 4 | 5;
  readonly #frames = new WeakMap<Packet, Buffer>();
  #read = 0;

  private constructor(socket: Socket, version: 3 | 4 | 5) {
    this.socket = socket;
    this.#version = version;
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    let frame: Buffer | undefined;
    this.#parser.on("packet", (p: Packet) => {
      this.packets.push(p);
      if (frame !== undefined) this.#frames.set(p, frame);
    });
    this.#parser.on("error", () => undefined);
    const framer = new TestFramer();
    socket.on("data", (b: Buffer) => {
      for (frame of framer.push(b)) this.#parser.parse(frame);
    });
    socket.on("close", () => void (this.closed = true));
    socket.on("error", () => undefined);
  }

  static async open(port: number, version: 3 | 4 | 5 = 4): Promise<RawClient> {
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket, version);
  }

  /** Opens, sends CONNECT (with `connect`'s fields) and waits for a successful CONNACK. */
  static async connected(port: number, version: 4 | 5, connect: Partial<mqttPacket.IConnectPacket> = {}): Promise<{ raw: RawClient; connack: mqttPacket.IConnackPacket }> {
    const raw = await RawClient.open(port, version);
    raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: `raw-${Math.random().toString(36).slice(2)}`, ...connect });
    const connack = (await raw.expect("connack")) as mqttPacket.IConnackPacket;
    assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0, "CONNECT accepted");
    return { raw, connack };
  }

  /** The bytes a received packet came in. */
  frameOf(p: Packet): Buffer {
    const f = this.#frames.get(p);
    assert.ok(f !== undefined, "a packet this client received");
    return f;
  }

  bytes(p: Packet): Buffer {
    return mqttPacket.generate(p, { protocolVersion: this.#version });
  }

  send(p: Packet): void {
    this.socket.write(this.bytes(p));
  }

  sendBytes(b: Uint8Array): void {
    this.socket.write(b);
  }

  /** Packets received and not yet taken by `next`/`expect`. */
  get unread(): Packet[] {
    return this.packets.slice(this.#read);
  }

  /** The next packet received (waiting for it); undefined if the connection closes first. */
  async next(timeoutMs = 3000): Promise<Packet | undefined> {
    await waitFor(() => this.packets.length > this.#read || this.closed, "a packet from the server", timeoutMs);
    return this.packets.length > this.#read ? this.packets[this.#read++] : undefined;
  }

  /** The next packet, which must be a `cmd`. */
  async expect<C extends Packet["cmd"]>(cmd: C, timeoutMs = 3000): Promise<Extract<Packet, { cmd: C }>> {
    const p = await this.next(timeoutMs);
    assert.ok(p !== undefined, `expected ${cmd}, but the connection closed`);
    assert.equal(p.cmd, cmd, `expected ${cmd}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { cmd: C }>;
  }

  /** Nothing more arrives for `ms`. */
  async quiet(ms = 100): Promise<void> {
    await sleep(ms);
    assert.deepEqual(this.unread, [], "no packet expected");
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    await waitFor(() => this.closed, "the server to close the connection", timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A mosquitto_pub / mosquitto_sub run: started asynchronously, stopped by its PID. */
export interface MosquittoRun {
  readonly pid: number;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  kill(): void;
}

export function mosquitto(command: "mosquitto_pub" | "mosquitto_sub", args: readonly string[]): MosquittoRun {
  const child = spawn(`/usr/bin/${command}`, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => void (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => void (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  if (child.pid === undefined) throw new Error(`${command} did not start`);
  const pid = child.pid;
  return {
    pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, "SIGTERM");
    },
  };
}

/** Runs a mosquitto client to its end; fails if it exits non-zero or takes too long. */
export async function runMosquitto(command: "mosquitto_pub" | "mosquitto_sub", args: readonly string[], timeoutMs = 5000): Promise<string> {
  const run = mosquitto(command, args);
  const timer = setTimeout(() => run.kill(), timeoutMs);
  const code = await run.exited;
  clearTimeout(timer);
  assert.equal(code, 0, `${command} ${args.join(" ")} exited ${code}: ${run.stderr()}`);
  return run.stdout();
}

/** Splits `bytes` into chunks at random places (1..maxChunk bytes each). */
export function randomSplits(bytes: Uint8Array, random: () => number, maxChunk = 16): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + Math.floor(random() * maxChunk);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** A small deterministic generator (mulberry32), so a failing fuzz run can be repeated by its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A CONNECT's bytes with any protocol name, level and flags (mqtt-packet writes only
 * valid ones). `flags` 0x02 is Clean Session alone.
 */
export function connectBytes(name: string, level: number, clientId = "x", flags = 0x02): Buffer {
  const n = Buffer.from(name);
  const id = Buffer.from(clientId);
  const body = Buffer.concat([Buffer.from([0, n.length]), n, Buffer.from([level, flags, 0, 0]), level === 5 ? Buffer.from([0]) : Buffer.alloc(0), Buffer.from([0, id.length]), id]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Splits a byte stream into whole MQTT packets (a test's own reading of the framing). */
export class TestFramer {
  #buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      let length = 0;
      let at = 1;
      let multiplier = 1;
      for (;;) {
        if (at >= this.#buffered.length) return frames;
        const b = this.#buffered[at++]!;
        length += (b & 0x7f) * multiplier;
        multiplier *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (this.#buffered.length < at + length) return frames;
      frames.push(this.#buffered.subarray(0, at + length));
      this.#buffered = this.#buffered.subarray(at + length);
    }
  }
}

const utf8Pair = (s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};
const varInt = (n: number) => {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
};

/**
 * A v5 PUBLISH written byte by byte, with user properties in exactly the order given
 * (mqtt-packet keeps them in an object, which groups names and puts integer-like ones
 * first).
 */
export function publishV5Bytes(topic: string, payload: Buffer, qos: 0 | 1 | 2, messageId: number, userProperties: readonly [string, string][]): Buffer {
  const props = Buffer.concat(userProperties.map(([k, v]) => Buffer.concat([Buffer.from([0x26]), utf8Pair(k), utf8Pair(v)])));
  const body = Buffer.concat([utf8Pair(topic), qos > 0 ? Buffer.from([messageId >> 8, messageId & 0xff]) : Buffer.alloc(0), varInt(props.length), props, payload]);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), varInt(body.length), body]);
}

/** The user properties of a v5 PUBLISH frame, in their order on the wire. */
export function userPropertiesOnWire(frame: Buffer): [string, string][] {
  let at = 1;
  while ((frame[at]! & 0x80) !== 0) at++;
  at++;
  const qos = (frame[0]! >> 1) & 3;
  at += 2 + frame.readUInt16BE(at) + (qos > 0 ? 2 : 0);
  let propLength = 0;
  let multiplier = 1;
  for (;;) {
    const b = frame[at++]!;
    propLength += (b & 0x7f) * multiplier;
    multiplier *= 128;
    if ((b & 0x80) === 0) break;
  }
  const end = at + propLength;
  const out: [string, string][] = [];
  const str = () => {
    const n = frame.readUInt16BE(at);
    const s = frame.toString("utf8", at + 2, at + 2 + n);
    at += 2 + n;
    return s;
  };
  while (at < end) {
    const id = frame[at++]!;
    if (id === 0x26) out.push([str(), str()]);
    else if (id === 0x01) at += 1;
    else if (id === 0x02) at += 4;
    else if (id === 0x23) at += 2;
    else if (id === 0x03 || id === 0x08 || id === 0x09) str();
    else if (id === 0x0b) while ((frame[at++]! & 0x80) !== 0);
    else throw new Error(`property 0x${id.toString(16)} in a PUBLISH`);
  }
  return out;
}
