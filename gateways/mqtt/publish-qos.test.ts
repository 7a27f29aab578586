// QoS 0, 1 and 2 in both directions; QoS 2 delivered once, also across a takeover.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IPublishPacket, IPubrecPacket } from "mqtt-packet";
import { connectClient, RawClient, sleep } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("QoS", () => {
  let node: TestMqttNode;
  before(async () => {
    node = await startTestMqtt();
  });
  after(() => node.close());

  for (const version of [4, 5] as const) {
    it(`v${version}: every pair of publish and subscribe QoS is delivered once, at the lower of the two ([MQTT-3.8.4-6])`, async () => {
      const pub = await connectClient(node.url, { protocolVersion: version, clientId: `qos-pub-${version}` });
      const subs = await Promise.all(([0, 1, 2] as const).map((q) => connectClient(node.url, { protocolVersion: version, clientId: `qos-sub-${version}-${q}` })));
      for (const [q, s] of subs.entries()) await s.client.subscribeAsync(`qos${version}/t`, { qos: q as 0 | 1 | 2 });
      for (const q of [0, 1, 2] as const) await pub.client.publishAsync(`qos${version}/t`, `at ${q}`, { qos: q });
      for (const [subQos, s] of subs.entries()) {
        await s.until(3);
        await sleep(30);
        assert.deepEqual(s.texts(), ["at 0", "at 1", "at 2"], "each once, in order");
        assert.deepEqual(
          s.received.map((r) => r.packet.qos),
          [0, 1, 2].map((pubQos) => Math.min(pubQos, subQos)),
          `subscribed at ${subQos}`,
        );
      }
      await Promise.all([pub, ...subs].map((c) => c.end()));
    });
  }

  for (const version of [4, 5] as const) {
    it(`v${version}: the server's side of each QoS flow: PUBACK; PUBREC, PUBREL, PUBCOMP ([MQTT-4.3.2-1], [MQTT-4.3.3-1])`, async () => {
      const sub = await RawClient.connected(node.port, version);
      sub.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `flow${version}/#`, qos: 2 }] });
      assert.deepEqual((await sub.raw.expect("suback")).granted, [2]);
      const pub = await RawClient.connected(node.port, version);

      pub.raw.send({ cmd: "publish", topic: `flow${version}/q1`, payload: Buffer.from("one"), qos: 1, messageId: 11, retain: false, dup: false });
      assert.equal((await pub.raw.expect("puback")).messageId, 11);
      const out1 = (await sub.raw.expect("publish")) as IPublishPacket;
      assert.equal(out1.qos, 1);
      assert.ok(out1.messageId! > 0, "a non-zero packet identifier ([MQTT-2.2.1-3])");
      assert.equal(out1.dup, false);
      sub.raw.send({ cmd: "puback", messageId: out1.messageId! });

      pub.raw.send({ cmd: "publish", topic: `flow${version}/q2`, payload: Buffer.from("two"), qos: 2, messageId: 12, retain: false, dup: false });
      assert.equal((await pub.raw.expect("pubrec")).messageId, 12);
      pub.raw.send({ cmd: "pubrel", messageId: 12 });
      assert.equal((await pub.raw.expect("pubcomp")).messageId, 12);
      const out2 = (await sub.raw.expect("publish")) as IPublishPacket;
      assert.equal(out2.qos, 2);
      assert.equal(out2.payload.toString(), "two");
      sub.raw.send({ cmd: "pubrec", messageId: out2.messageId! });
      assert.equal((await sub.raw.expect("pubrel")).messageId, out2.messageId);
      sub.raw.send({ cmd: "pubcomp", messageId: out2.messageId! });

      pub.raw.send({ cmd: "publish", topic: `flow${version}/q0`, payload: Buffer.from("zero"), qos: 0, retain: false, dup: false });
      const out0 = (await sub.raw.expect("publish")) as IPublishPacket;
      assert.equal(out0.qos, 0);
      assert.equal(out0.messageId, undefined);
      await pub.raw.quiet(50);
      await sub.raw.quiet(50);
      pub.raw.close();
      sub.raw.close();
    });
  }

  for (const version of [4, 5] as const) {
    it(`v${version}: a QoS 2 PUBLISH repeated before PUBREL is delivered once; after PUBREL the id is new ([MQTT-4.3.3-10])`, async () => {
      const sub = await connectClient(node.url, { protocolVersion: version, clientId: `dedupe-sub-${version}` });
      await sub.client.subscribeAsync(`dedupe${version}/t`, { qos: 2 });
      const { raw } = await RawClient.connected(node.port, version);
      const publish = (dup: boolean, text: string): IPublishPacket => ({ cmd: "publish", topic: `dedupe${version}/t`, payload: Buffer.from(text), qos: 2, messageId: 7, retain: false, dup });
      raw.send(publish(false, "first"));
      assert.equal(((await raw.expect("pubrec")) as IPubrecPacket).messageId, 7);
      raw.send(publish(true, "first"));
      assert.equal(((await raw.expect("pubrec")) as IPubrecPacket).messageId, 7, "a repeat gets its PUBREC again");
      raw.send(publish(true, "first"));
      await raw.expect("pubrec");
      raw.send({ cmd: "pubrel", messageId: 7 });
      await raw.expect("pubcomp");
      await sub.until(1);
      await sleep(50);
      assert.deepEqual(sub.texts(), ["first"]);

      raw.send(publish(false, "second"));
      await raw.expect("pubrec");
      raw.send({ cmd: "pubrel", messageId: 7 });
      await raw.expect("pubcomp");
      await sub.until(2);
      await sleep(30);
      assert.deepEqual(sub.texts(), ["first", "second"]);
      raw.close();
      await sub.end();
    });
  }

  for (const version of [4, 5] as const) {
    it(`v${version}: QoS 2 dedupe survives a takeover: the new connection's DUP resend is not delivered again`, async () => {
      const sub = await connectClient(node.url, { protocolVersion: version, clientId: `takeover-sub-${version}` });
      await sub.client.subscribeAsync(`qos2takeover${version}/t`, { qos: 2 });
      const clientId = `takeover-pub-${version}`;
      const persistent = { clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) };
      const first = await RawClient.connected(node.port, version, persistent);
      const packet: IPublishPacket = { cmd: "publish", topic: `qos2takeover${version}/t`, payload: Buffer.from("once"), qos: 2, messageId: 42, retain: false, dup: false };
      first.raw.send(packet);
      await first.raw.expect("pubrec");
      await sub.until(1);

      const second = await RawClient.connected(node.port, version, persistent);
      assert.equal(second.connack.sessionPresent, true);
      await first.raw.waitClosed();
      second.raw.send({ ...packet, dup: true });
      assert.equal((await second.raw.expect("pubrec")).messageId, 42);
      second.raw.send({ cmd: "pubrel", messageId: 42 });
      await second.raw.expect("pubcomp");
      await sleep(100);
      assert.deepEqual(sub.texts(), ["once"], "delivered once");

      // After PUBREL the id is free: the same id is a new message.
      second.raw.send({ ...packet, payload: Buffer.from("again") });
      await second.raw.expect("pubrec");
      second.raw.send({ cmd: "pubrel", messageId: 42 });
      await second.raw.expect("pubcomp");
      await sub.until(2);
      second.raw.send({ cmd: "disconnect" });
      await second.raw.waitClosed();
      await sub.end();
    });
  }

  it("v5: a PUBREL for an unknown packet id gets PUBCOMP 0x92; 3.1.1 gets PUBCOMP", async () => {
    const v5 = await RawClient.connected(node.port, 5);
    v5.raw.send({ cmd: "pubrel", messageId: 99 });
    const comp = await v5.raw.expect("pubcomp");
    assert.equal(comp.messageId, 99);
    assert.equal(comp.reasonCode, 0x92);
    const v4 = await RawClient.connected(node.port, 4);
    v4.raw.send({ cmd: "pubrel", messageId: 99 });
    assert.equal((await v4.raw.expect("pubcomp")).messageId, 99);
    v5.raw.close();
    v4.raw.close();
  });

  it("a publisher's messages keep their order within each QoS ([MQTT-4.6.0-6])", async () => {
    const sub = await connectClient(node.url, { protocolVersion: 5, clientId: "order-sub" });
    await sub.client.subscribeAsync("order/t", { qos: 2 });
    const pub = await connectClient(node.url, { protocolVersion: 4, clientId: "order-pub" });
    const sent: string[] = [];
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 150; i++) {
      sent.push(`m${i}`);
      pending.push(pub.client.publishAsync("order/t", `m${i}`, { qos: (i % 3) as 0 | 1 | 2 }));
    }
    await Promise.all(pending);
    await sub.until(150, 5000);
    // Ordered per QoS ([MQTT-4.6.0-6] is about one QoS); a QoS 0 message may pass a QoS 1 waiting for the in-flight window.
    for (const q of [0, 1, 2]) {
      assert.deepEqual(
        sub.texts().filter((t) => Number(t.slice(1)) % 3 === q),
        sent.filter((t) => Number(t.slice(1)) % 3 === q),
        `QoS ${q}`,
      );
    }
    await pub.end();
    await sub.end();
  });
});
