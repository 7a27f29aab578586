// Bad input: malformed packets, protocol violations and limits get the answer of the
// client's version and end only that connection; a well-behaved client keeps working.
// The codec path fed a byte at a time and in random splits; a fuzz run.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IConnackPacket, IDisconnectPacket, Packet } from "mqtt-packet";
import { connectBytes, connectClient, RawClient, randomSplits, seededRandom, waitFor, type TestClient } from "./test-clients.ts";
import { fuzzOnce } from "./test-fuzz.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("bad input", () => {
  let node: TestMqttNode;
  let bystander: TestClient;
  let checks = 0;
  before(async () => {
    node = await startTestMqtt({ limits: { maxPacketSize: 8192 } });
    bystander = await connectClient(node.url, { protocolVersion: 5, clientId: "bystander" });
    await bystander.client.subscribeAsync("health/#", { qos: 1 });
  });
  after(async () => {
    await bystander.end();
    await node.close();
  });

  /** The well-behaved client still publishes and receives, on the same connection as before. */
  async function healthy(): Promise<void> {
    const text = `ok ${++checks}`;
    assert.equal(bystander.closed, false, "the bystander is still connected");
    await bystander.client.publishAsync("health/check", text, { qos: 1 });
    await waitFor(() => bystander.texts().includes(text), "the bystander's own message");
    assert.equal(bystander.closed, false);
  }

  /** A v5 client gets DISCONNECT `reason` and is closed; a 3.1.1 client is closed without a word. */
  async function refused(raw: RawClient, version: 4 | 5, reason: number): Promise<void> {
    if (version === 5) {
      const d = (await raw.expect("disconnect")) as IDisconnectPacket;
      assert.equal(d.reasonCode, reason);
    }
    await raw.waitClosed();
    assert.deepEqual(raw.unread, [], "nothing else");
    await healthy();
  }

  const violations: [string, (version: 4 | 5) => Buffer | Packet, number][] = [
    ["a second CONNECT ([MQTT-3.1.0-2])", (v) => ({ cmd: "connect", protocolId: "MQTT", protocolVersion: v, clean: true, keepalive: 0, clientId: "x" }), 0x82],
    ["a wildcard in a PUBLISH topic ([MQTT-3.3.2-2])", () => ({ cmd: "publish", topic: "a/+/b", payload: Buffer.from("x"), qos: 0, retain: false, dup: false }), 0x90],
    ["a # in a PUBLISH topic ([MQTT-3.3.2-2])", () => ({ cmd: "publish", topic: "a/#", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: false, dup: false }), 0x90],
    ["SUBSCRIBE with reserved flags 0000 ([MQTT-3.8.1-1])", () => Buffer.from([0x80, 6, 0, 1, 0, 1, 0x61, 0]), 0x81],
    ["PUBREL with reserved flags 0000 ([MQTT-3.6.1-1])", () => Buffer.from([0x60, 2, 0, 1]), 0x81],
    ["UNSUBSCRIBE with reserved flags 0000 ([MQTT-3.10.1-1])", () => Buffer.from([0xa0, 5, 0, 1, 0, 1, 0x61]), 0x81],
    ["PINGREQ with a flag set ([MQTT-2.2.2-2])", () => Buffer.from([0xc1, 0]), 0x81],
    ["a PUBLISH of QoS 3 ([MQTT-3.3.1-4])", () => Buffer.from([0x36, 5, 0, 1, 0x61, 0, 1]), 0x81],
    ["a packet type 0 (reserved)", () => Buffer.from([0x00, 0]), 0x81],
    ["a packet type a client does not send (SUBACK)", () => Buffer.from([0x90, 3, 0, 1, 0]), 0x82],
    ["a remaining length over four bytes ([MQTT-1.5.5-1])", () => Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), 0x81],
    ["a packet over the maximum packet size", () => ({ cmd: "publish", topic: "big", payload: Buffer.alloc(9000), qos: 0, retain: false, dup: false }), 0x95],
    ["a packet identifier of 0 ([MQTT-2.2.1-3])", (v) => Buffer.from(v === 5 ? [0x32, 7, 0, 1, 0x61, 0, 0, 0, 0x78] : [0x32, 6, 0, 1, 0x61, 0, 0, 0x78]), 0x82],
    ["DUP on a QoS 0 PUBLISH ([MQTT-3.3.1-2])", () => ({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: true }), 0x81],
    ["a topic name that is not UTF-8 ([MQTT-1.5.4-1])", (v) => Buffer.from(v === 5 ? [0x30, 6, 0, 2, 0xc3, 0x28, 0, 0x78] : [0x30, 5, 0, 2, 0xc3, 0x28, 0x78]), 0x81],
    ["a topic name with U+0000 ([MQTT-1.5.4-2])", () => ({ cmd: "publish", topic: "a\u0000b", payload: Buffer.from("x"), qos: 0, retain: false, dup: false }), 0x90],
    ["a topic name with a control character (1.5.4)", () => ({ cmd: "publish", topic: "a\u000bb", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: true, dup: false }), 0x90],
    ["a topic name longer than the server's 4,096 characters", () => ({ cmd: "publish", topic: "t".repeat(5000), payload: Buffer.from("x"), qos: 0, retain: false, dup: false }), 0x90],
    ["a SUBSCRIBE without a filter ([MQTT-3.8.3-3])", (v) => Buffer.from(v === 5 ? [0x82, 3, 0, 1, 0] : [0x82, 2, 0, 1]), 0x82],
    ["an UNSUBSCRIBE without a filter ([MQTT-3.10.3-2])", (v) => Buffer.from(v === 5 ? [0xa2, 3, 0, 1, 0] : [0xa2, 2, 0, 1]), 0x82],
  ];
  for (const version of [4, 5] as const) {
    for (const [what, make, reason] of violations) {
      it(`v${version}: ${what} closes that connection${version === 5 ? ` (DISCONNECT 0x${reason.toString(16)})` : ""}, and no other`, async () => {
        const { raw } = await RawClient.connected(node.port, version);
        const bad = make(version);
        if (Buffer.isBuffer(bad)) raw.sendBytes(bad);
        else raw.send(bad);
        await refused(raw, version, reason);
      });
    }
  }

  it("v5: AUTH without an authentication method is a protocol error (0x82); 3.1.1 has no AUTH (closed)", async () => {
    const v5 = await RawClient.connected(node.port, 5);
    v5.raw.send({ cmd: "auth", reasonCode: 0x18 });
    await refused(v5.raw, 5, 0x82);
    const v4 = await RawClient.connected(node.port, 4);
    v4.raw.sendBytes(Buffer.from([0xf0, 0]));
    await refused(v4.raw, 4, 0);
  });

  it("v5: a Response Topic with a wildcard is a protocol error, in a PUBLISH (0x82) and in a will (CONNACK 0x82) ([MQTT-3.3.2-14])", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false, properties: { responseTopic: "replies/#" } });
    await refused(raw, 5, 0x82);
    const will = await RawClient.open(node.port, 5);
    will.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: true, keepalive: 0, clientId: "w", will: { topic: "w", payload: Buffer.from("x"), qos: 0, retain: false, properties: { responseTopic: "r/+" } } });
    assert.equal(((await will.expect("connack")) as IConnackPacket).reasonCode, 0x82);
    await will.waitClosed();
  });

  it("v5: a topic alias over the maximum, a zero-length topic without an alias", async () => {
    const over = await RawClient.connected(node.port, 5);
    over.raw.send({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false, properties: { topicAlias: 1000 } });
    await refused(over.raw, 5, 0x94);
    const empty = await RawClient.connected(node.port, 5);
    empty.raw.send({ cmd: "publish", topic: "", payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
    await refused(empty.raw, 5, 0x82);
  });

  it("a first packet that is not CONNECT closes without an answer ([MQTT-3.1.0-1])", async () => {
    for (const bytes of [Buffer.from([0xc0, 0]), Buffer.from([0x82, 6, 0, 1, 0, 1, 0x61, 0]), Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]) {
      const raw = await RawClient.open(node.port, 4);
      raw.sendBytes(bytes);
      await raw.waitClosed();
      assert.deepEqual(raw.unread, []);
    }
    await healthy();
  });

  it("a CONNECT with its reserved flag set closes without CONNACK ([MQTT-3.1.2-3])", async () => {
    const raw = await RawClient.open(node.port, 4);
    raw.sendBytes(connectBytes("MQTT", 4, "x", 0x03));
    await raw.waitClosed();
    assert.deepEqual(raw.unread, []);
    await healthy();
  });

  it("a malformed CONNECT: v5 gets CONNACK 0x81/0x82, 3.1.1 is closed", async () => {
    const cases: [4 | 5, Partial<Parameters<RawClient["send"]>[0]>, number][] = [
      [5, { will: { topic: "w", payload: Buffer.from("x"), qos: 3 as never, retain: false } }, 0x81],
      [4, { will: { topic: "w", payload: Buffer.from("x"), qos: 3 as never, retain: false } }, 0],
      [5, { properties: { receiveMaximum: 0 } }, 0x82],
      [5, { properties: { maximumPacketSize: 0 } }, 0x82],
      [5, { properties: { authenticationData: Buffer.from("x") } }, 0x82],
    ];
    for (const [version, extra, reason] of cases) {
      const raw = await RawClient.open(node.port, version);
      raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: "m", ...extra } as never);
      if (version === 5) {
        const connack = (await raw.expect("connack")) as IConnackPacket;
        assert.equal(connack.reasonCode, reason, JSON.stringify(extra));
      }
      await raw.waitClosed();
      assert.deepEqual(raw.unread, []);
    }
    // 3.1.1: a password without a user name ([MQTT-3.1.2-22]); mqtt-packet does not write one.
    const raw = await RawClient.open(node.port, 4);
    raw.sendBytes(Buffer.from([0x10, 15, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x42, 0, 0, 0, 1, 0x6d, 0, 0]));
    await raw.waitClosed();
    assert.deepEqual(raw.unread, []);
    await healthy();
  });

  it("v5: a property running past the Property Length is malformed (0x81), though mqtt-packet reads it", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    const body = [0, 1, 0x74, 3, 0x26, 0, 5, ...Buffer.from("hello"), 0, 1, 0x78, 0x50];
    raw.sendBytes(Buffer.from([0x30, body.length, ...body]));
    await refused(raw, 5, 0x81);
  });

  it("v5: a property given twice is a protocol error", async () => {
    const raw = await RawClient.open(node.port, 5);
    // CONNECT with Session Expiry Interval twice.
    const props = [0x11, 0, 0, 0, 5, 0x11, 0, 0, 0, 6];
    const body = [0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 0, props.length, ...props, 0, 1, 0x64];
    raw.sendBytes(Buffer.from([0x10, body.length, ...body]));
    assert.equal(((await raw.expect("connack")) as IConnackPacket).reasonCode, 0x82);
    await raw.waitClosed();
  });

  it("maxPublishRatePerClient: a client publishing faster is disconnected (v5: 0x96), the others are not", async () => {
    const limited = await startTestMqtt({ limits: { maxPublishRatePerClient: 20 } });
    try {
      const calm = await connectClient(limited.url, { protocolVersion: 4, clientId: "calm" });
      await calm.client.subscribeAsync("rate/#", { qos: 0 });
      for (const version of [4, 5] as const) {
        const { raw } = await RawClient.connected(limited.port, version);
        for (let i = 0; i < 25; i++) raw.send({ cmd: "publish", topic: "rate/t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
        if (version === 5) assert.equal(((await raw.expect("disconnect")) as IDisconnectPacket).reasonCode, 0x96);
        await raw.waitClosed();
      }
      assert.equal(limited.gateway.metrics.protocolErrors, 2, "counted");
      await calm.client.publishAsync("rate/calm", "fine", { qos: 0 });
      await waitFor(() => calm.texts().includes("fine"), "the calm client's message");
      await calm.end();
    } finally {
      await limited.close();
    }
  });

  it("a client writing its packets a byte at a time, and in random splits, works ([STYLE §10])", async () => {
    for (const [name, split] of [
      ["byte by byte", (b: Buffer) => [...b].map((x) => Buffer.of(x))],
      ["random splits", (b: Buffer, seed: number) => randomSplits(b, seededRandom(seed), 7) as Buffer[]],
    ] as const) {
      for (const version of [4, 5] as const) {
        const raw = await RawClient.open(node.port, version);
        const packets: Packet[] = [
          { cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: `slow-${name}-${version}` },
          { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "slow/#", qos: 1 }] },
          { cmd: "publish", topic: "slow/t", payload: Buffer.alloc(300, 0x62), qos: 1, messageId: 2, retain: false, dup: false, ...(version === 5 ? { properties: { userProperties: { a: "1" } } } : {}) },
          { cmd: "publish", topic: "slow/t", payload: Buffer.from("two"), qos: 2, messageId: 3, retain: false, dup: false },
          { cmd: "pubrel", messageId: 3 },
          { cmd: "pingreq" },
        ];
        for (const chunk of split(Buffer.concat(packets.map((p) => raw.bytes(p))), version)) {
          raw.sendBytes(chunk);
          await new Promise((r) => setImmediate(r));
        }
        const got: string[] = [];
        while (got.length < 7) {
          const p = (await raw.next())!;
          got.push(p.cmd);
          if (p.cmd === "publish" && p.qos === 1) raw.send({ cmd: "puback", messageId: p.messageId! });
          if (p.cmd === "publish" && p.qos === 2) raw.send({ cmd: "pubrec", messageId: p.messageId! });
          if (p.cmd === "pubrel" && got.filter((c) => c === "pubrel").length === 1 && got.includes("pubcomp")) raw.send({ cmd: "pubcomp", messageId: p.messageId! });
        }
        assert.deepEqual(got.filter((c) => c !== "publish").slice(0, 5), ["connack", "suback", "puback", "pubrec", "pubcomp"], `${name}, v${version}`);
        assert.equal(got.filter((c) => c === "publish").length, 2, "both messages back");
        raw.close();
      }
    }
    await healthy();
  });

  it("fuzz: random garbage and mutated packets; the server stays up and other clients keep working", async () => {
    const base = 1000 + Math.floor(Math.random() * 1_000_000);
    const cases = Number(process.env.SB_MQTT_FUZZ_CASES ?? 400);
    for (let i = 0; i < cases; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, cases - i) }, (_, j) => fuzzOnce(node.port, base + i + j).catch((err: unknown) => assert.fail(`seed ${base + i + j}: ${String(err)}`))));
      if (i % 100 === 0) await healthy();
    }
    await healthy();
    await waitFor(() => node.gateway.connections === 1, `the fuzz connections to be gone (seeds ${base}..${base + cases - 1}); open: ${node.gateway.connections}`, 5000);
  });
});
