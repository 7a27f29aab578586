// MQTT 5 properties: topic aliases both ways, user properties, message expiry,
// payload format and content type, request/response, subscription identifiers, reason
// codes, Receive Maximum and Maximum Packet Size both ways.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IDisconnectPacket, IPublishPacket } from "mqtt-packet";
import { connectClient, publishV5Bytes, RawClient, sleep, userPropertiesOnWire } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("MQTT 5 properties", () => {
  let node: TestMqttNode;
  let n = 0;
  const client = (extra: object = {}) => connectClient(node.url, { protocolVersion: 5, clientId: `v5-${++n}`, ...extra });
  /** A raw v5 subscriber to `filter`, connected with `props` (its CONNECT properties). */
  async function rawSubscriber(filter: string, props: object = {}, qos: 0 | 1 | 2 = 1) {
    const { raw, connack } = await RawClient.connected(node.port, 5, { properties: props });
    raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos }] });
    await raw.expect("suback");
    return { raw, connack };
  }
  before(async () => {
    node = await startTestMqtt({
      limits: { topicAliasMaximum: 4, receiveMaximum: 2, maxPacketSize: 4096 },
      access: { forClient: () => ({ canPublish: (topic) => !topic.startsWith("private/"), canSubscribe: () => true, canReceive: () => true, checksDelivery: false }) },
    });
  });
  after(() => node.close());

  it("outbound topic aliases: the server assigns them within the client's Topic Alias Maximum, then sends the alias alone ([MQTT-3.3.2-12])", async () => {
    const { raw } = await rawSubscriber("alias/#", { topicAliasMaximum: 2 }, 0);
    const pub = await client();
    for (const t of ["a", "a", "b", "c", "a", "b"]) await pub.client.publishAsync(`alias/${t}`, t, { qos: 1 });
    const got: [string, number | undefined][] = [];
    for (let i = 0; i < 6; i++) {
      const p = (await raw.expect("publish")) as IPublishPacket;
      got.push([p.topic, p.properties?.topicAlias]);
    }
    assert.deepEqual(got, [
      ["alias/a", 1],
      ["", 1],
      ["alias/b", 2],
      ["alias/c", undefined], // both aliases taken: the topic name in full
      ["", 1],
      ["", 2],
    ]);
    raw.close();
    // Without a Topic Alias Maximum the client gets no aliases ([MQTT-3.3.2-11]).
    const none = await rawSubscriber("alias/#", {}, 0);
    await pub.client.publishAsync("alias/a", "a", { qos: 1 });
    await pub.client.publishAsync("alias/a", "a", { qos: 1 });
    for (let i = 0; i < 2; i++) {
      const p = (await none.raw.expect("publish")) as IPublishPacket;
      assert.equal(p.topic, "alias/a");
      assert.equal(p.properties?.topicAlias, undefined);
    }
    none.raw.close();
    await pub.end();
  });

  it("inbound topic aliases: a client's alias stands for its topic ([MQTT-3.3.2-12])", async () => {
    const sub = await client();
    await sub.client.subscribeAsync("inalias/#", { qos: 1 });
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "publish", topic: "inalias/x", payload: Buffer.from("1"), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 4 } });
    await raw.expect("puback");
    raw.send({ cmd: "publish", topic: "", payload: Buffer.from("2"), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 4 } });
    await raw.expect("puback");
    // An alias may be set to another topic.
    raw.send({ cmd: "publish", topic: "inalias/y", payload: Buffer.from("3"), qos: 1, messageId: 3, retain: false, dup: false, properties: { topicAlias: 4 } });
    await raw.expect("puback");
    raw.send({ cmd: "publish", topic: "", payload: Buffer.from("4"), qos: 1, messageId: 4, retain: false, dup: false, properties: { topicAlias: 4 } });
    await raw.expect("puback");
    await sub.until(4);
    assert.deepEqual(sub.received.map((r) => [r.topic, r.text]), [["inalias/x", "1"], ["inalias/x", "2"], ["inalias/y", "3"], ["inalias/y", "4"]]);
    raw.close();
    await sub.end();
  });

  it("an inbound topic alias of 0 or above the server's maximum is DISCONNECT 0x94; an unknown one 0x82 ([MQTT-3.3.2-8], [MQTT-3.3.2-9], [MQTT-3.3.2-10])", async () => {
    for (const [alias, topic, reason] of [[0, "t", 0x94], [5, "t", 0x94], [3, "", 0x82]] as const) {
      const { raw } = await RawClient.connected(node.port, 5);
      raw.sendBytes(Buffer.from(aliasPublish(topic, alias)));
      const d = (await raw.expect("disconnect")) as IDisconnectPacket;
      assert.equal(d.reasonCode, reason, `alias ${alias} with topic ${JSON.stringify(topic)}`);
      await raw.waitClosed();
    }
  });

  it("user properties are forwarded in their order, repeats included ([MQTT-3.3.2-17], [MQTT-3.3.2-18])", async () => {
    const { raw: sub } = await rawSubscriber("userprops/t");
    const pairs: [string, string][] = [["b", "1"], ["a", "2"], ["b", "3"], ["2", "x"], ["1", "y"], ["b", "1"]];
    const { raw: pub } = await RawClient.connected(node.port, 5);
    pub.sendBytes(publishV5Bytes("userprops/t", Buffer.from("p"), 1, 9, pairs));
    await pub.expect("puback");
    const p = await sub.expect("publish");
    assert.deepEqual(userPropertiesOnWire(sub.frameOf(p)), pairs);
    // And as mqtt.js reads them.
    const js = await client();
    await js.client.subscribeAsync("userprops/t", { qos: 1 });
    pub.sendBytes(publishV5Bytes("userprops/t", Buffer.from("p"), 0, 0, pairs));
    const [m] = await js.until(1);
    assert.deepEqual({ ...m!.packet.properties?.userProperties }, { b: ["1", "3", "1"], a: "2", "2": "x", "1": "y" });
    sub.close();
    pub.close();
    await js.end();
  });

  it("a will's user properties keep their order too", async () => {
    const { raw: sub } = await rawSubscriber("willorder/t");
    const pairs: [string, string][] = [["z", "1"], ["3", "a"], ["z", "2"]];
    const str = (x: string) => [...Buffer.from([0, Buffer.byteLength(x)]), ...Buffer.from(x)];
    const willProps = pairs.flatMap(([k, v]) => [0x26, ...str(k), ...str(v)]);
    // CONNECT v5, clean start, will QoS 1; no properties; client id "wo"; the will's properties, topic, payload.
    const body = [...str("MQTT"), 5, 0x0e, 0, 0, 0, ...str("wo"), willProps.length, ...willProps, ...str("willorder/t"), ...str("bye")];
    const will = await RawClient.open(node.port, 5);
    will.sendBytes(Buffer.from([0x10, body.length, ...body]));
    assert.equal((await will.expect("connack")).reasonCode, 0);
    will.close();
    const p = await sub.expect("publish");
    assert.deepEqual(userPropertiesOnWire(sub.frameOf(p)), pairs);
    sub.close();
  });

  it("payload format indicator, content type, response topic and correlation data are forwarded", async () => {
    const sub = await client();
    await sub.client.subscribeAsync("req/#", { qos: 1 });
    const pub = await client();
    await pub.client.publishAsync("req/a", "{}", { qos: 1, properties: { payloadFormatIndicator: true, contentType: "application/json", responseTopic: "resp/a", correlationData: Buffer.from([1, 2, 3]) } });
    const [m] = await sub.until(1);
    const p = m!.packet.properties!;
    assert.equal(p.payloadFormatIndicator, true);
    assert.equal(p.contentType, "application/json");
    assert.equal(p.responseTopic, "resp/a");
    assert.deepEqual([...p.correlationData!], [1, 2, 3]);
    await Promise.all([sub.end(), pub.end()]);
  });

  it("a payload that is not UTF-8 when its format says so is refused: PUBACK/PUBREC 0x99, not delivered ([MQTT-3.3.2-4])", async () => {
    const sub = await client();
    await sub.client.subscribeAsync("pfi/#", { qos: 1 });
    const { raw } = await RawClient.connected(node.port, 5);
    const bad = Buffer.from([0xc3, 0x28]);
    raw.send({ cmd: "publish", topic: "pfi/a", payload: bad, qos: 1, messageId: 1, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    assert.equal((await raw.expect("puback")).reasonCode, 0x99);
    raw.send({ cmd: "publish", topic: "pfi/a", payload: bad, qos: 2, messageId: 2, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    assert.equal((await raw.expect("pubrec")).reasonCode, 0x99);
    raw.send({ cmd: "publish", topic: "pfi/a", payload: bad, qos: 1, messageId: 3, retain: false, dup: false });
    assert.equal((await raw.expect("puback")).reasonCode ?? 0, 0, "binary without the indicator is fine");
    await sub.until(1);
    await sleep(50);
    assert.equal(sub.received.length, 1);
    raw.close();
    await sub.end();
  });

  it("a PUBLISH the ACL refuses gets PUBACK 0x87 and goes nowhere", async () => {
    const sub = await client();
    await sub.client.subscribeAsync("private/#", { qos: 1 });
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "publish", topic: "private/x", payload: Buffer.from("no"), qos: 1, messageId: 1, retain: false, dup: false });
    assert.equal((await raw.expect("puback")).reasonCode, 0x87);
    raw.send({ cmd: "publish", topic: "private/x", payload: Buffer.from("no"), qos: 2, messageId: 2, retain: false, dup: false });
    assert.equal((await raw.expect("pubrec")).reasonCode, 0x87);
    await sleep(80);
    assert.deepEqual(sub.received, []);
    raw.close();
    await sub.end();
  });

  it("message expiry: forwarded as what is left of it; a queued message waits with its clock running; an expired one is not delivered ([MQTT-3.3.2-5], [MQTT-3.3.2-6])", async () => {
    const live = await client();
    await live.client.subscribeAsync("expiry/#", { qos: 1 });
    const offline = await connectClient(node.url, { protocolVersion: 5, clientId: "expiry-offline", clean: false, properties: { sessionExpiryInterval: 60 } });
    await offline.client.subscribeAsync("expiry/#", { qos: 1 });
    await offline.end();
    const pub = await client();
    await pub.client.publishAsync("expiry/long", "long", { qos: 1, properties: { messageExpiryInterval: 30 } });
    await pub.client.publishAsync("expiry/short", "short", { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.client.publishAsync("expiry/none", "none", { qos: 1 });
    await live.until(3);
    assert.deepEqual(live.received.map((r) => [r.text, r.packet.properties?.messageExpiryInterval]), [["long", 30], ["short", 1], ["none", undefined]]);
    await sleep(2100);
    const back = await connectClient(node.url, { protocolVersion: 5, clientId: "expiry-offline", clean: false, properties: { sessionExpiryInterval: 60 } });
    await back.until(2);
    await sleep(100);
    assert.deepEqual(back.texts(), ["long", "none"], "the expired one is dropped");
    const remaining = back.received[0]!.packet.properties?.messageExpiryInterval;
    assert.ok(remaining !== undefined && remaining <= 28, `the time it waited is taken off (${remaining})`);
    await Promise.all([live.end(), back.end(), pub.end()]);
  });

  it("an expired retained message is not offered", async () => {
    const pub = await client();
    await pub.client.publishAsync("expret/t", "brief", { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    const early = await client();
    await early.client.subscribeAsync("expret/t", { qos: 1 });
    const [m] = await early.until(1);
    assert.ok(m!.packet.properties!.messageExpiryInterval! <= 1);
    await sleep(1100);
    const late = await client();
    await late.client.subscribeAsync("expret/t", { qos: 1 });
    await sleep(150);
    assert.deepEqual(late.received, []);
    await Promise.all([pub.end(), early.end(), late.end()]);
  });

  it("a subscription identifier comes back with each message it matched; 0 is a protocol error (3.8.2.1.2, [MQTT-3.3.4-3])", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "subscribe", messageId: 1, properties: { subscriptionIdentifier: 268_435_455 }, subscriptions: [{ topic: "subid/t", qos: 1 }] });
    await raw.expect("suback");
    const pub = await client();
    await pub.client.publishAsync("subid/t", "x", { qos: 0 });
    assert.equal(((await raw.expect("publish")) as IPublishPacket).properties?.subscriptionIdentifier, 268_435_455);
    raw.sendBytes(subscribeWithIdZero());
    assert.equal(((await raw.expect("disconnect")) as IDisconnectPacket).reasonCode, 0x82);
    await raw.waitClosed();
    await pub.end();
  });

  it("a PUBLISH from a client with a Subscription Identifier is a protocol error ([MQTT-3.3.4-6])", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false, properties: { subscriptionIdentifier: 3 } });
    assert.equal(((await raw.expect("disconnect")) as IDisconnectPacket).reasonCode, 0x82);
    await raw.waitClosed();
  });

  it("a DISCONNECT from the server carries a Reason String", async () => {
    const { raw } = await RawClient.connected(node.port, 5);
    raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: true, keepalive: 0, clientId: "twice" });
    const d = (await raw.expect("disconnect")) as IDisconnectPacket;
    assert.equal(d.reasonCode, 0x82);
    assert.match(d.properties?.reasonString ?? "", /CONNECT/);
  });

  it("Receive Maximum inbound: more unacknowledged QoS 2 PUBLISHes than the server's is DISCONNECT 0x93 ([MQTT-3.3.4-9])", async () => {
    const { raw, connack } = await RawClient.connected(node.port, 5);
    assert.equal(connack.properties?.receiveMaximum, 2);
    for (let id = 1; id <= 2; id++) {
      raw.send({ cmd: "publish", topic: "rm/t", payload: Buffer.from("x"), qos: 2, messageId: id, retain: false, dup: false });
      await raw.expect("pubrec");
    }
    // A resend of one in flight is not a new one.
    raw.send({ cmd: "publish", topic: "rm/t", payload: Buffer.from("x"), qos: 2, messageId: 2, retain: false, dup: true });
    await raw.expect("pubrec");
    raw.send({ cmd: "publish", topic: "rm/t", payload: Buffer.from("x"), qos: 1, messageId: 3, retain: false, dup: false });
    assert.equal(((await raw.expect("disconnect")) as IDisconnectPacket).reasonCode, 0x93);
    await raw.waitClosed();
    // Completing one makes room.
    const ok = await RawClient.connected(node.port, 5);
    for (let id = 1; id <= 2; id++) {
      ok.raw.send({ cmd: "publish", topic: "rm/t", payload: Buffer.from("x"), qos: 2, messageId: id, retain: false, dup: false });
      await ok.raw.expect("pubrec");
    }
    ok.raw.send({ cmd: "pubrel", messageId: 1 });
    await ok.raw.expect("pubcomp");
    ok.raw.send({ cmd: "publish", topic: "rm/t", payload: Buffer.from("x"), qos: 1, messageId: 3, retain: false, dup: false });
    await ok.raw.expect("puback");
    ok.raw.close();
  });

  it("Receive Maximum inbound counts only what is unacknowledged: refused and completed QoS 2 messages, and those to a user's inbox, free their place", async () => {
    const bob = await connectClient(node.url, { protocolVersion: 5, clientId: "bob" });
    await bob.client.subscribeAsync("$user/bob", { qos: 1 });
    const { raw } = await RawClient.connected(node.port, 5);
    // A retained message's topic is bounded by the core (an actor key): refused with 0x90.
    for (let id = 1; id <= 3; id++) {
      raw.send({ cmd: "publish", topic: `long/${"t".repeat(1500)}`, payload: Buffer.from("x"), qos: 2, messageId: id, retain: true, dup: false });
      assert.equal((await raw.expect("pubrec")).reasonCode, 0x90);
    }
    // QoS 2 to a user's inbox: PUBREC, a repeat delivered once, PUBREL completes it (PUBCOMP 0x00).
    for (let id = 10; id <= 13; id++) {
      const packet = { cmd: "publish" as const, topic: "$user/bob", payload: Buffer.from(`to bob ${id}`), qos: 2 as const, messageId: id, retain: false, dup: false };
      raw.send(packet);
      assert.equal((await raw.expect("pubrec")).reasonCode ?? 0, 0);
      raw.send({ ...packet, dup: true });
      await raw.expect("pubrec");
      raw.send({ cmd: "pubrel", messageId: id });
      assert.equal((await raw.expect("pubcomp")).reasonCode ?? 0, 0);
    }
    await bob.until(4);
    await sleep(100);
    assert.deepEqual(bob.texts(), ["to bob 10", "to bob 11", "to bob 12", "to bob 13"]);
    assert.equal(raw.closed, false);
    raw.close();
    await bob.end();
  });

  it("Receive Maximum outbound: never more unacknowledged QoS 1/2 PUBLISHes than the client's ([MQTT-3.3.4-7])", async () => {
    const { raw } = await rawSubscriber("rmout/t", { receiveMaximum: 2 }, 2);
    const pub = await client();
    for (let i = 0; i < 6; i++) await pub.client.publishAsync("rmout/t", `m${i}`, { qos: i < 3 ? 2 : 1 });
    const texts: string[] = [];
    const take = async () => {
      const p = (await raw.expect("publish")) as IPublishPacket;
      texts.push(p.payload.toString());
      return p;
    };
    const [a, b] = [await take(), await take()];
    await raw.quiet(80);
    // A QoS 2 message is in flight until its PUBCOMP.
    raw.send({ cmd: "pubrec", messageId: a.messageId! });
    raw.send({ cmd: "pubrec", messageId: b.messageId! });
    await raw.expect("pubrel");
    await raw.expect("pubrel");
    await raw.quiet(80);
    raw.send({ cmd: "pubcomp", messageId: a.messageId! });
    const c = await take();
    await raw.quiet(80);
    raw.send({ cmd: "pubcomp", messageId: b.messageId! });
    const d = await take();
    await raw.quiet(80);
    raw.send({ cmd: "pubrec", messageId: c.messageId! });
    await raw.expect("pubrel");
    raw.send({ cmd: "pubcomp", messageId: c.messageId! });
    const e = await take();
    await raw.quiet(80);
    for (const p of [d, e]) raw.send({ cmd: "puback", messageId: p.messageId! });
    const f = await take();
    raw.send({ cmd: "puback", messageId: f.messageId! });
    assert.deepEqual(texts, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    raw.close();
    await pub.end();
  });

  it("Maximum Packet Size inbound: a packet over the server's is DISCONNECT 0x95 (3.1.1: closed) ([MQTT-3.2.2-15])", async () => {
    for (const version of [4, 5] as const) {
      const { raw } = await RawClient.connected(node.port, version);
      raw.send({ cmd: "publish", topic: "big/t", payload: Buffer.alloc(5000), qos: 0, retain: false, dup: false });
      if (version === 5) assert.equal(((await raw.expect("disconnect")) as IDisconnectPacket).reasonCode, 0x95);
      await raw.waitClosed();
      assert.deepEqual(raw.unread, []);
    }
  });

  it("Maximum Packet Size outbound: a PUBLISH larger than the client's is not sent; the rest still are ([MQTT-3.1.2-24], [MQTT-3.1.2-25])", async () => {
    const { raw } = await rawSubscriber("bigout/t", { maximumPacketSize: 200 });
    const pub = await client();
    await pub.client.publishAsync("bigout/t", "small", { qos: 1 });
    await pub.client.publishAsync("bigout/t", Buffer.alloc(300, 0x61), { qos: 1 });
    await pub.client.publishAsync("bigout/t", "after", { qos: 1 });
    const a = (await raw.expect("publish")) as IPublishPacket;
    raw.send({ cmd: "puback", messageId: a.messageId! });
    const b = (await raw.expect("publish")) as IPublishPacket;
    raw.send({ cmd: "puback", messageId: b.messageId! });
    assert.deepEqual([a, b].map((p) => p.payload.toString()), ["small", "after"]);
    await raw.quiet(80);
    assert.ok(node.gateway.metrics.dropped >= 1, "counted");
    raw.close();
    await pub.end();
  });

  it("a will's properties are those of the message it becomes", async () => {
    const sub = await client();
    await sub.client.subscribeAsync("willprops/t", { qos: 1 });
    const { raw } = await RawClient.connected(node.port, 5, {
      will: { topic: "willprops/t", payload: Buffer.from("bye"), qos: 1, retain: false, properties: { contentType: "text/plain", userProperties: { k: "v" }, responseTopic: "r", correlationData: Buffer.from("c"), payloadFormatIndicator: true } },
    });
    raw.close();
    const [m] = await sub.until(1);
    const p = m!.packet.properties!;
    assert.deepEqual([p.contentType, { ...p.userProperties }, p.responseTopic, p.correlationData?.toString(), p.payloadFormatIndicator], ["text/plain", { k: "v" }, "r", "c", true]);
    await sub.end();
  });

  it("the server never sends a packet over the client's Maximum Packet Size: a DISCONNECT loses its Reason String first ([MQTT-3.1.2-24], [MQTT-3.2.2-19])", async () => {
    const { raw, connack } = await RawClient.connected(node.port, 5, { properties: { maximumPacketSize: 30 } });
    assert.ok(raw.frameOf(connack).length <= 30);
    // The Reason String would name the topic.
    raw.send({ cmd: "publish", topic: `${"long/".repeat(10)}#`, payload: Buffer.from("x"), qos: 0, retain: false, dup: false });
    const d = (await raw.expect("disconnect")) as IDisconnectPacket;
    assert.equal(d.reasonCode, 0x90);
    assert.equal(d.properties?.reasonString, undefined);
    assert.ok(raw.frameOf(d).length <= 30);
    await raw.waitClosed();
  });
});

/** A v5 PUBLISH with a Topic Alias property, by hand (mqtt-packet refuses alias 0). */
function aliasPublish(topic: string, alias: number): number[] {
  const t = Buffer.from(topic);
  const props = [0x23, alias >> 8, alias & 0xff];
  const body = [t.length >> 8, t.length & 0xff, ...t, props.length, ...props, 0x78];
  return [0x30, body.length, ...body];
}

/** A SUBSCRIBE whose Subscription Identifier is 0 (mqtt-packet does not write it). */
function subscribeWithIdZero(): Buffer {
  const topic = Buffer.from("subid/zero");
  const body = [0, 2, 2, 0x0b, 0, topic.length >> 8, topic.length & 0xff, ...topic, 1];
  return Buffer.from([0x82, body.length, ...body]);
}
