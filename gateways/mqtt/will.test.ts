// Will messages: when they are sent and when not, v5 Will Delay Interval.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IConnectPacket } from "mqtt-packet";
import { connectClient, RawClient, sleep, type TestClient } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("wills", () => {
  let node: TestMqttNode;
  let watcher: TestClient;
  let n = 0;
  before(async () => {
    node = await startTestMqtt();
    watcher = await connectClient(node.url, { protocolVersion: 5, clientId: "will-watcher" });
    await watcher.client.subscribeAsync("will/#", { qos: 1 });
  });
  after(async () => {
    await watcher.end();
    await node.close();
  });

  /** Connects a raw client whose will goes to a topic of its own; returns that topic too. */
  async function withWill(version: 4 | 5, o: { delayS?: number; expiryS?: number; clientId?: string; clean?: boolean; keepalive?: number } = {}) {
    const topic = `will/${++n}`;
    const connect: Partial<IConnectPacket> = {
      clientId: o.clientId ?? `will-client-${n}`,
      clean: o.clean ?? true,
      keepalive: o.keepalive ?? 0,
      will: { topic, payload: Buffer.from(`gone ${n}`), qos: 1, retain: false, ...(o.delayS !== undefined ? { properties: { willDelayInterval: o.delayS } } : {}) },
      ...(version === 5 && o.expiryS !== undefined ? { properties: { sessionExpiryInterval: o.expiryS } } : {}),
    };
    const { raw } = await RawClient.connected(node.port, version, connect);
    return { raw, topic, connect };
  }
  const willsOn = (topic: string) => watcher.received.filter((r) => r.topic === topic);

  for (const version of [4, 5] as const) {
    it(`v${version}: a connection lost without DISCONNECT sends the will ([MQTT-3.1.2-8])`, async () => {
      const { raw, topic } = await withWill(version);
      raw.close();
      await waitWill(() => willsOn(topic).length === 1);
      assert.equal(willsOn(topic)[0]!.packet.qos, 1);
    });

    it(`v${version}: a normal DISCONNECT discards the will ([MQTT-3.1.2-10], [MQTT-3.14.4-3])`, async () => {
      const { raw, topic } = await withWill(version);
      raw.send({ cmd: "disconnect", ...(version === 5 ? { reasonCode: 0 } : {}) });
      await raw.waitClosed();
      await sleep(200);
      assert.equal(willsOn(topic).length, 0);
    });

    it(`v${version}: a keep-alive timeout sends the will`, async () => {
      const { raw, topic } = await withWill(version, { keepalive: 1 });
      await raw.waitClosed(4000);
      await waitWill(() => willsOn(topic).length === 1);
    });

    it(`v${version}: a protocol violation that closes the connection sends the will`, async () => {
      const { raw, topic } = await withWill(version);
      raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: "again" });
      await raw.waitClosed();
      await waitWill(() => willsOn(topic).length === 1);
    });
  }

  it("v5: DISCONNECT 0x04 (Disconnect with Will Message) sends the will", async () => {
    const { raw, topic } = await withWill(5);
    raw.send({ cmd: "disconnect", reasonCode: 0x04 });
    await raw.waitClosed();
    await waitWill(() => willsOn(topic).length === 1);
  });

  it("v5: a DISCONNECT reporting an error (0x80) sends the will: only 0x00 discards it ([MQTT-3.1.2-10])", async () => {
    const { raw, topic } = await withWill(5);
    raw.send({ cmd: "disconnect", reasonCode: 0x80 });
    await raw.waitClosed();
    await waitWill(() => willsOn(topic).length === 1);
  });

  it("v5: a will with a delay is sent once the delay has passed ([MQTT-3.1.3-9])", async () => {
    const { raw, topic } = await withWill(5, { delayS: 1, expiryS: 60 });
    const lost = Date.now();
    raw.close();
    await sleep(700);
    assert.equal(willsOn(topic).length, 0, "not before its delay");
    await waitWill(() => willsOn(topic).length === 1, 3000);
    assert.ok(Date.now() - lost >= 950, "after about a second");
  });

  it("v5: a reconnect within the will delay cancels the will", async () => {
    const clientId = `will-resume-${n}`;
    const { raw, topic, connect } = await withWill(5, { delayS: 1, expiryS: 60, clientId, clean: false });
    raw.close();
    await sleep(200);
    const back = await RawClient.connected(node.port, 5, { ...connect, will: undefined });
    assert.equal(back.connack.sessionPresent, true);
    await sleep(1300);
    assert.equal(willsOn(topic).length, 0);
    back.raw.send({ cmd: "disconnect", reasonCode: 0 });
    await back.raw.waitClosed();
  });

  it("v5: a will is sent when its session ends, if that comes before its delay ([MQTT-3.1.2-8])", async () => {
    const { raw, topic } = await withWill(5, { delayS: 30, expiryS: 1 });
    raw.close();
    await waitWill(() => willsOn(topic).length === 1, 3000);
  });

  it("v5: a session taken over by a resuming connection does not send a delayed will; 3.1.1 sends the will", async () => {
    const v5 = await withWill(5, { delayS: 5, expiryS: 60, clientId: "takeover-will-5", clean: false });
    const v4 = await withWill(4, { clientId: "takeover-will-4", clean: false });
    const new5 = await RawClient.connected(node.port, 5, { ...v5.connect, will: undefined });
    const new4 = await RawClient.connected(node.port, 4, { ...v4.connect, will: undefined });
    await v5.raw.waitClosed();
    await v4.raw.waitClosed();
    await waitWill(() => willsOn(v4.topic).length === 1);
    await sleep(100);
    assert.equal(willsOn(v5.topic).length, 0);
    new5.raw.send({ cmd: "disconnect", reasonCode: 0 });
    new4.raw.send({ cmd: "disconnect" });
  });

  it("v5: a will delay longer than a timer can wait (over 24.8 days) does not fire early; nor does a session that long end", async () => {
    const { raw, topic } = await withWill(5, { delayS: 2_200_000, expiryS: 0xffffffff - 1, clientId: "long-will", clean: false });
    raw.close();
    await sleep(300);
    assert.equal(willsOn(topic).length, 0);
    const info = await node.sessionInfo("long-will");
    assert.deepEqual([info.exists, info.connected], [true, false]);
  });

  it("a will topic that is not a topic name refuses the CONNECT (v5: CONNACK 0x90)", async () => {
    for (const topic of ["a/+", "a\u0007b", "t".repeat(5000)]) {
      const raw = await RawClient.open(node.port, 5);
      raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: true, keepalive: 0, clientId: "bad-will", will: { topic, payload: Buffer.from("x"), qos: 0, retain: true } });
      assert.equal((await raw.expect("connack")).reasonCode, 0x90, JSON.stringify(topic));
      await raw.waitClosed();
    }
  });

  it("a retained will becomes the topic's retained message", async () => {
    const topic = `will/retained-${++n}`;
    const { raw } = await RawClient.connected(node.port, 4, { clientId: "retained-will", will: { topic, payload: Buffer.from("offline"), qos: 1, retain: true } });
    raw.close();
    await waitWill(() => willsOn(topic).length === 1);
    assert.equal(willsOn(topic)[0]!.packet.retain, false, "live: RETAIN 0");
    const later = await connectClient(node.url, { protocolVersion: 4, clientId: "later" });
    await later.client.subscribeAsync(topic, { qos: 1 });
    const [m] = await later.until(1);
    assert.equal(m!.text, "offline");
    assert.equal(m!.packet.retain, true);
    await later.end();
  });
});

async function waitWill(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail("the will did not arrive");
    await sleep(5);
  }
}
