// SUBSCRIBE and UNSUBSCRIBE: overlapping filters, shared subscriptions, `$` topics,
// No Local, refusals and limits.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IDisconnectPacket, IPublishPacket } from "mqtt-packet";
import { connectClient, RawClient, sleep } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("subscriptions", () => {
  let node: TestMqttNode;
  let n = 0;
  const client = (version: 4 | 5, extra: object = {}) => connectClient(node.url, { protocolVersion: version, clientId: `subs-${++n}`, ...extra });
  before(async () => {
    node = await startTestMqtt({
      limits: { maxSubscriptionsPerClient: 3 },
      access: { forClient: () => ({ canPublish: (topic) => !topic.startsWith("private/"), canSubscribe: (filter) => !filter.startsWith("private/"), canReceive: () => true, checksDelivery: false }) },
    });
  });
  after(() => node.close());

  it("v5: overlapping subscriptions give one PUBLISH with every matching subscription identifier, at the highest QoS ([MQTT-3.3.4-2], [MQTT-3.3.4-3])", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "subscribe", messageId: 1, properties: { subscriptionIdentifier: 1 }, subscriptions: [{ topic: "ov5/#", qos: 0 }] });
    raw.send({ cmd: "subscribe", messageId: 2, properties: { subscriptionIdentifier: 2 }, subscriptions: [{ topic: "ov5/+", qos: 2 }] });
    raw.send({ cmd: "subscribe", messageId: 3, subscriptions: [{ topic: "ov5/a", qos: 1 }] });
    for (let i = 0; i < 3; i++) await raw.expect("suback");
    const pub = await client(5);
    await pub.client.publishAsync("ov5/a", "x", { qos: 2 });
    const p = (await raw.expect("publish")) as IPublishPacket;
    assert.equal(p.qos, 2);
    assert.deepEqual([p.properties?.subscriptionIdentifier].flat().sort(), [1, 2]);
    await raw.quiet(100);
    raw.close();
    await pub.end();
  });

  for (const version of [4, 5] as const) {
    for (const persistent of [false, true]) {
      it(`v${version}${persistent ? ", persistent session" : ""}: a message matching overlapping subscriptions is delivered once, at their highest QoS ([MQTT-3.3.5-1])`, async () => {
        const id = `overlap-${version}-${persistent}`;
        const sub = await connectClient(node.url, { protocolVersion: version, clientId: id, clean: !persistent, ...(version === 5 && persistent ? { properties: { sessionExpiryInterval: 60 } } : {}) });
        await sub.client.subscribeAsync("ovl/+/t", { qos: 0, ...(version === 5 ? { properties: { subscriptionIdentifier: 7 } } : {}) });
        await sub.client.subscribeAsync("ovl/#", { qos: 1, ...(version === 5 ? { properties: { subscriptionIdentifier: 8 } } : {}) });
        await sub.client.subscribeAsync("ovl/x/t", { qos: 0 });
        const pub = await client(4);
        await pub.client.publishAsync("ovl/x/t", "once", { qos: 2 });
        await sub.until(1);
        await sleep(150);
        assert.deepEqual(sub.texts(), ["once"]);
        assert.equal(sub.received[0]!.packet.qos, 1);
        if (version === 5) assert.deepEqual([sub.received[0]!.packet.properties?.subscriptionIdentifier].flat().sort(), [7, 8]);
        await Promise.all([sub.end(), pub.end()]);
      });
    }
  }

  for (const version of [4, 5] as const) {
    it(`v${version}: a shared subscription gives each message to exactly one member of its group ([MQTT-4.8.2-3])`, async () => {
      const members = await Promise.all([0, 1, 2].map(() => client(version)));
      for (const m of members) await m.client.subscribeAsync(`$share/workers/jobs${version}/+`, { qos: 1 });
      const other = await client(version);
      await other.client.subscribeAsync(`$share/audit/jobs${version}/#`, { qos: 1 });
      const plain = await client(version);
      await plain.client.subscribeAsync(`jobs${version}/+`, { qos: 1 });
      const pub = await client(version);
      const sent: string[] = [];
      for (let i = 0; i < 30; i++) {
        sent.push(`job ${i}`);
        await pub.client.publishAsync(`jobs${version}/new`, `job ${i}`, { qos: i % 2 === 0 ? 1 : 0 });
      }
      await plain.until(30);
      await other.until(30);
      await sleep(100);
      const shared = members.flatMap((m) => m.texts());
      assert.deepEqual([...shared].sort(), [...sent].sort(), "each message once across the group");
      assert.ok(members.every((m) => m.received.length > 0), "shared among the members");
      assert.equal(other.received.length, 30, "another group gets every message too");
      assert.ok(members.flatMap((m) => m.received).every((r) => r.topic === `jobs${version}/new`), "the topic, without $share");
      await Promise.all([...members, other, plain, pub].map((c) => c.end()));
    });
  }

  it("a shared subscription gets no retained messages; leaving the group stops its messages", async () => {
    const pub = await client(5);
    await pub.client.publishAsync("sharedret/t", "retained", { qos: 1, retain: true });
    const a = await client(5);
    await a.client.subscribeAsync("$share/g/sharedret/t", { qos: 1 });
    const b = await client(4);
    await b.client.subscribeAsync("$share/g/sharedret/t", { qos: 1 });
    await sleep(100);
    assert.deepEqual([...a.texts(), ...b.texts()], []);
    await a.client.unsubscribeAsync("$share/g/sharedret/t");
    for (let i = 0; i < 4; i++) await pub.client.publishAsync("sharedret/t", `m${i}`, { qos: 1 });
    await b.until(4);
    assert.deepEqual(a.texts(), []);
    await Promise.all([a.end(), b.end(), pub.end()]);
  });

  it("v5: No Local on a shared subscription is a protocol error (DISCONNECT 0x82) ([MQTT-3.8.3-4])", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "$share/g/nl/t", qos: 1, nl: true }] });
    const d = (await raw.expect("disconnect")) as IDisconnectPacket;
    assert.equal(d.reasonCode, 0x82);
    await raw.waitClosed();
    const ok = await client(5);
    await ok.client.subscribeAsync("$share/g/nl/t", { qos: 1 });
    await ok.end();
  });

  it("v5: No Local keeps a client's own messages from it; others' still come ([MQTT-3.8.3-3])", async () => {
    const self = await client(5);
    await self.client.subscribeAsync("nolocal/t", { qos: 1, nl: true });
    const other = await client(5);
    await self.client.publishAsync("nolocal/t", "mine", { qos: 1 });
    await other.client.publishAsync("nolocal/t", "theirs", { qos: 1 });
    await self.until(1);
    await sleep(100);
    assert.deepEqual(self.texts(), ["theirs"]);
    await Promise.all([self.end(), other.end()]);
  });

  for (const version of [4, 5] as const) {
    it(`v${version}: topics starting with $ never match a filter starting with # or + ([MQTT-4.7.2-1])`, async () => {
      const all = await client(version);
      await all.client.subscribeAsync("#", { qos: 1 });
      const plus = await client(version);
      await plus.client.subscribeAsync("+/x", { qos: 1 });
      await plus.client.subscribeAsync("+/+/x", { qos: 1 });
      const dollar = await client(version);
      await dollar.client.subscribeAsync("$dollar/+/x", { qos: 1 });
      await dollar.client.subscribeAsync("$other/#", { qos: 1 });
      const pub = await client(version);
      await pub.client.publishAsync("$dollar/a/x", "dollar", { qos: 1 });
      await pub.client.publishAsync("$other/x", "other", { qos: 1 });
      await pub.client.publishAsync("plain/x", "plain", { qos: 1 });
      await dollar.until(2);
      await plus.until(1);
      await sleep(100);
      assert.deepEqual(dollar.texts().sort(), ["dollar", "other"]);
      assert.deepEqual(plus.texts(), ["plain"]);
      assert.ok(!all.texts().includes("dollar") && !all.texts().includes("other"), JSON.stringify(all.texts()));
      await Promise.all([all, plus, dollar, pub].map((c) => c.end()));
    });
  }

  it("clients may not publish to $SYS (v5: PUBACK 0x90; 3.1.1: acknowledged, not delivered)", async () => {
    const watcher = await client(5);
    await watcher.client.subscribeAsync("$SYS/#", { qos: 1 });
    const v5 = await RawClient.connected(node.port, 5);
    v5.raw.send({ cmd: "publish", topic: "$SYS/fake", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: false, dup: false });
    assert.equal((await v5.raw.expect("puback")).reasonCode, 0x90);
    const v4 = await RawClient.connected(node.port, 4);
    v4.raw.send({ cmd: "publish", topic: "$SYS/fake", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: false, dup: false });
    await v4.raw.expect("puback");
    await sleep(100);
    assert.deepEqual(watcher.texts(), []);
    v5.raw.close();
    v4.raw.close();
    await watcher.end();
  });

  it("SUBACK refuses per filter: an invalid filter (v5 0x8F), an ACL refusal (v5 0x87), 3.1.1 0x80; the rest are granted ([MQTT-3.9.3-1])", async () => {
    for (const version of [4, 5] as const) {
      const { raw } = await RawClient.connected(node.port, version);
      raw.send({ cmd: "subscribe", messageId: 5, subscriptions: [
        { topic: "ok/a", qos: 2 },
        { topic: "bad/#/x", qos: 1 },
        { topic: "private/x", qos: 1 },
        { topic: "bad+", qos: 0 },
        { topic: "$share/g", qos: 0 },
        { topic: "$share/+/t", qos: 0 },
        { topic: "$share//t", qos: 0 },
      ] });
      const ack = await raw.expect("suback");
      assert.equal(ack.messageId, 5);
      assert.deepEqual(ack.granted, version === 5 ? [2, 0x8f, 0x87, 0x8f, 0x8f, 0x8f, 0x8f] : [2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);
      raw.close();
    }
  });

  it("v5 UNSUBACK: 0x00 for a subscription removed, 0x11 for none; then nothing more arrives ([MQTT-3.10.4-4], [MQTT-3.11.3-1])", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "unsub/t", qos: 1 }] });
    await raw.expect("suback");
    raw.send({ cmd: "unsubscribe", messageId: 2, unsubscriptions: ["unsub/t", "never/subscribed"] });
    const ack = await raw.expect("unsuback");
    assert.equal(ack.messageId, 2);
    assert.deepEqual(ack.granted, [0x00, 0x11]);
    const pub = await client(5);
    await pub.client.publishAsync("unsub/t", "late", { qos: 1 });
    await raw.quiet(100);
    raw.close();
    await pub.end();
  });

  it("maxSubscriptionsPerClient: a subscription over the limit is refused (v5 SUBACK 0x97, 3.1.1 0x80); replacing one is not new", async () => {
    for (const version of [4, 5] as const) {
      const { raw } = await RawClient.connected(node.port, version);
      raw.send({ cmd: "subscribe", messageId: 1, subscriptions: ["a", "b", "c", "d"].map((x) => ({ topic: `lim/${x}`, qos: 1 as const })) });
      assert.deepEqual((await raw.expect("suback")).granted, [1, 1, 1, version === 5 ? 0x97 : 0x80]);
      raw.send({ cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "lim/a", qos: 2 }] });
      assert.deepEqual((await raw.expect("suback")).granted, [2]);
      raw.send({ cmd: "unsubscribe", messageId: 3, unsubscriptions: ["lim/b"] });
      await raw.expect("unsuback");
      raw.send({ cmd: "subscribe", messageId: 4, subscriptions: [{ topic: "lim/d", qos: 0 }] });
      assert.deepEqual((await raw.expect("suback")).granted, [0], "room again after an unsubscribe");
      raw.close();
    }
  });
});

