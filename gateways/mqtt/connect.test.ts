// CONNECT and CONNACK, 3.1.1 and 5.0: what the server answers, keep alive, limits.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IConnackPacket, IDisconnectPacket } from "mqtt-packet";
import { MemoryStateStore } from "../../runtime/index.ts";
import { connectBytes, connectClient, RawClient, sleep, waitFor } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("CONNECT", () => {
  let node: TestMqttNode;
  before(async () => {
    node = await startTestMqtt({
      limits: { maxKeepAliveS: 30, receiveMaximum: 20, topicAliasMaximum: 8, maxPacketSize: 64 * 1024 },
      authenticate: async (l) => {
        if (l.username === "mallory") return { ok: false, reason: "bad_credentials" };
        if (l.username === "eve") return { ok: false, reason: "not_authorized" };
        return { ok: true, tenant: "default", user: l.username ?? l.clientId };
      },
    });
  });
  after(() => node.close());

  for (const version of [4, 5] as const) {
    it(`v${version}: a client connects over TCP and gets its own messages back`, async () => {
      const c = await connectClient(node.url, { protocolVersion: version, clientId: `self-${version}` });
      await c.client.subscribeAsync("connect/echo", { qos: 1 });
      await c.client.publishAsync("connect/echo", "hello", { qos: 1 });
      const [m] = await c.until(1);
      assert.equal(m!.topic, "connect/echo");
      assert.equal(m!.text, "hello");
      await c.end();
    });
  }

  it("v5: CONNACK states the server's limits and capabilities", async () => {
    const { raw, connack } = await RawClient.connected(node.port, 5);
    const p = connack.properties!;
    assert.equal(p.receiveMaximum, 20);
    assert.equal(p.topicAliasMaximum, 8);
    assert.equal(p.maximumPacketSize, 64 * 1024);
    assert.equal(p.retainAvailable, true);
    assert.equal(p.sharedSubscriptionAvailable, true);
    assert.equal(p.subscriptionIdentifiersAvailable, true);
    assert.equal(p.wildcardSubscriptionAvailable, true);
    assert.equal(p.assignedClientIdentifier, undefined, "the client named itself");
    assert.equal(connack.sessionPresent, false);
    raw.close();
  });

  it("v5: an empty client id gets an Assigned Client Identifier ([MQTT-3.1.3-7], [MQTT-3.2.2-16])", async () => {
    const { raw, connack } = await RawClient.connected(node.port, 5, { clientId: "" });
    const assigned = connack.properties?.assignedClientIdentifier;
    assert.ok(typeof assigned === "string" && assigned.length > 0, "an identifier is assigned");
    const other = await RawClient.connected(node.port, 5, { clientId: "" });
    assert.notEqual(other.connack.properties?.assignedClientIdentifier, assigned, "each one unique");
    raw.close();
    other.raw.close();
  });

  it("3.1.1: an empty client id is accepted with a clean session, refused (0x02) without ([MQTT-3.1.3-7], [MQTT-3.1.3-8])", async () => {
    const ok = await RawClient.connected(node.port, 4, { clientId: "", clean: true });
    ok.raw.close();
    const raw = await RawClient.open(node.port, 4);
    raw.sendBytes(connectBytes("MQTT", 4, "", 0x00));
    const connack = (await raw.expect("connack")) as IConnackPacket;
    assert.equal(connack.returnCode, 2, "identifier rejected");
    assert.equal(connack.sessionPresent, false);
    await raw.waitClosed();
  });

  it("v5: Server Keep Alive when the client asks more than the server's maximum, or none", async () => {
    const asksMore = await RawClient.connected(node.port, 5, { keepalive: 120 });
    assert.equal(asksMore.connack.properties?.serverKeepAlive, 30);
    const asksNone = await RawClient.connected(node.port, 5, { keepalive: 0 });
    assert.equal(asksNone.connack.properties?.serverKeepAlive, 30);
    const asksLess = await RawClient.connected(node.port, 5, { keepalive: 10 });
    assert.equal(asksLess.connack.properties?.serverKeepAlive, undefined, "its own is kept");
    for (const c of [asksMore, asksNone, asksLess]) c.raw.close();
  });

  it("keep alive: silence for 1.5 keep-alive periods closes (v5: DISCONNECT 0x8D); a client that pings stays ([MQTT-3.1.2-22])", async () => {
    const silent5 = await RawClient.connected(node.port, 5, { keepalive: 1 });
    const silent4 = await RawClient.connected(node.port, 4, { keepalive: 1 });
    const pinging = await connectClient(node.url, { protocolVersion: 5, keepalive: 1, clientId: "pinging" });
    const started = Date.now();
    const d = (await silent5.raw.expect("disconnect", 4000)) as IDisconnectPacket;
    assert.equal(d.reasonCode, 0x8d);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1400, `not before 1.5 s (${elapsed} ms)`);
    await silent5.raw.waitClosed();
    await silent4.raw.waitClosed(2000);
    assert.deepEqual(silent4.raw.unread, [], "3.1.1 is closed without a packet");
    await sleep(Math.max(0, 2600 - (Date.now() - started)));
    assert.equal(pinging.closed, false, "PINGREQ every second keeps it open");
    await pinging.end();
  });

  it("keep alive counts packets, not bytes: a packet dribbled a byte at a time and never finished times out", async () => {
    const { raw } = await RawClient.connected(node.port, 5, { keepalive: 1 });
    // A PUBLISH of 100 bytes, of which one arrives every 300 ms.
    const bytes = [0x30, 100, 0, 1, 0x74];
    let sent = 0;
    const dribble = setInterval(() => raw.sendBytes(Buffer.of(bytes[sent++] ?? 0x78)), 300);
    try {
      const d = (await raw.expect("disconnect", 4000)) as IDisconnectPacket;
      assert.equal(d.reasonCode, 0x8d);
    } finally {
      clearInterval(dribble);
    }
  });

  it("v5: enhanced authentication (an Authentication Method) is refused with CONNACK 0x8C", async () => {
    const raw = await RawClient.open(node.port, 5);
    raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: true, keepalive: 0, clientId: "scram", properties: { authenticationMethod: "SCRAM-SHA-1" } });
    assert.equal(((await raw.expect("connack")) as IConnackPacket).reasonCode, 0x8c);
    await raw.waitClosed();
  });

  it("a PINGREQ gets a PINGRESP", async () => {
    const { raw } = await RawClient.connected(node.port, 4);
    raw.send({ cmd: "pingreq" });
    await raw.expect("pingresp");
    raw.close();
  });

  for (const version of [4, 5] as const) {
    it(`v${version}: refused credentials: bad user name or password, not authorized`, async () => {
      const bad = await RawClient.open(node.port, version);
      bad.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: "m", username: "mallory", password: Buffer.from("x") });
      const badAck = (await bad.expect("connack")) as IConnackPacket;
      assert.equal(version === 5 ? badAck.reasonCode : badAck.returnCode, version === 5 ? 0x86 : 4);
      await bad.waitClosed();
      const denied = await RawClient.open(node.port, version);
      denied.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: "e", username: "eve" });
      const deniedAck = (await denied.expect("connack")) as IConnackPacket;
      assert.equal(version === 5 ? deniedAck.reasonCode : deniedAck.returnCode, version === 5 ? 0x87 : 5);
      await denied.waitClosed();
    });
  }

  it("an unsupported protocol level gets CONNACK 0x01 (in 3.1.1's form), one above 5 CONNACK 0x84 (in 5.0's), then a close ([MQTT-3.1.2-2])", async () => {
    for (const level of [2, 6, 0x7f]) {
      const v5 = level > 5;
      const raw = await RawClient.open(node.port, v5 ? 5 : 4);
      raw.sendBytes(connectBytes("MQTT", level));
      const connack = (await raw.expect("connack")) as IConnackPacket;
      assert.equal(v5 ? connack.reasonCode : connack.returnCode, v5 ? 0x84 : 1, `level ${level}`);
      assert.equal(raw.frameOf(connack).length, v5 ? 5 : 4);
      await raw.waitClosed();
    }
  });

  it("a protocol name that is not MQTT's closes without CONNACK ([MQTT-3.1.2-1])", async () => {
    const raw = await RawClient.open(node.port, 4);
    raw.sendBytes(connectBytes("MQTX", 4));
    await raw.waitClosed();
    assert.deepEqual(raw.unread, []);
    // "MQTT" is level 4 or 5; level 3 is "MQIsdp" (3.1).
    const mixed = await RawClient.open(node.port, 4);
    mixed.sendBytes(connectBytes("MQTT", 3));
    const connack = (await mixed.expect("connack")) as IConnackPacket;
    assert.equal(connack.returnCode, 1);
    await mixed.waitClosed();
  });

  it("MQTT 3.1 (MQIsdp, level 3) still connects", async () => {
    const c = await connectClient(node.url, { protocolVersion: 3, protocolId: "MQIsdp", clientId: "old-client" });
    await c.client.subscribeAsync("connect/v31", { qos: 1 });
    await c.client.publishAsync("connect/v31", "old", { qos: 1 });
    await c.until(1);
    await c.end();
  });

  it("a client gone while its CONNECT is handled leaves nothing attached (a slow store widens the moment)", async () => {
    const store = new MemoryStateStore();
    const slow = new Proxy(store, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (typeof v !== "function") return v;
        return async (...a: unknown[]) => (await sleep(10), (v as (...x: unknown[]) => unknown).apply(t, a));
      },
    });
    const slowNode = await startTestMqtt({ stateStore: slow });
    try {
      for (let i = 0; i < 12; i++) {
        const raw = await RawClient.open(slowNode.port, 4);
        raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, keepalive: 0, clientId: `gone-${i}` });
        await sleep(i * 3);
        raw.close();
      }
      await waitFor(() => slowNode.messaging.connections === 0 && slowNode.gateway.connections === 0, `every connection detached (attached: ${slowNode.messaging.connections})`, 3000);
    } finally {
      await slowNode.close();
    }
  });

  it("closing the gateway ends its connections at once and leaves no timer of its own running", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const busy = await startTestMqtt({ listeners: [{ protocol: "mqtt-ws" }] });
    const tcp = await connectClient(busy.url, { protocolVersion: 5, clientId: "leaving" });
    const ws = await connectClient(`ws://127.0.0.1:${busy.listeners[1]!.port}`, { protocolVersion: 4, clientId: "leaving-ws" });
    const started = Date.now();
    await busy.close();
    assert.ok(Date.now() - started < 1000, `closed in ${Date.now() - started} ms`);
    await tcp.waitClosed();
    await ws.waitClosed();
    assert.deepEqual(tcp.disconnects.map((d) => d.reasonCode), [0x8b], "v5: Server shutting down");
    const before = timers();
    const idle = await startTestMqtt();
    await idle.close();
    await sleep(20);
    assert.equal(timers(), before);
  });

  it("draining: v5 clients get DISCONNECT 0x9C with the Server Reference, 3.1.1 clients are closed, new ones refused; no will", async () => {
    const leaving = await startTestMqtt();
    try {
      const wills: unknown[] = [];
      const watch = await leaving.messaging.watch("default", { topic: "drain/will" }, { event: (e) => void wills.push(e) });
      const v5 = await connectClient(leaving.url, { protocolVersion: 5, clientId: "drained-5", will: { topic: "drain/will", payload: Buffer.from("x"), qos: 0, retain: false } });
      const v4 = await connectClient(leaving.url, { protocolVersion: 4, clientId: "drained-4" });
      const started = Date.now();
      await leaving.gateway.drain("other-node:1883");
      assert.ok(Date.now() - started < 1000, `drained in ${Date.now() - started} ms`);
      await v5.waitClosed();
      await v4.waitClosed();
      assert.deepEqual(v5.disconnects.map((d) => [d.reasonCode, d.properties?.serverReference]), [[0x9c, "other-node:1883"]]);
      await assert.rejects(connectClient(leaving.url, { protocolVersion: 4, clientId: "late" }));
      await sleep(100);
      assert.deepEqual(wills, [], "their sessions go on elsewhere: no will");
      watch.close();
    } finally {
      await leaving.close();
    }
  });

  it("maxConnections holds for a burst of CONNECTs still waiting for their sessions", async () => {
    // Logins take a while, so every CONNECT of the burst is in flight at once.
    const small = await startTestMqtt({ limits: { maxConnections: 2 }, authenticate: async (l) => (await sleep(100), { ok: true, tenant: "default", user: l.clientId }) });
    try {
      const tries = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => connectClient(small.url, { protocolVersion: 5, clientId: `burst-${i}` })));
      const ok = tries.filter((t) => t.status === "fulfilled");
      assert.equal(ok.length, 2, "two places");
      for (const t of tries) if (t.status === "rejected") assert.match(String(t.reason), /Quota exceeded|0x97|151/i);
      assert.equal(small.gateway.connections, 2);
      for (const t of ok) await t.value.end();
      await waitFor(() => small.gateway.connections === 0, "both gone");
      const again = await connectClient(small.url, { protocolVersion: 4, clientId: "after" });
      await again.end();
    } finally {
      await small.close();
    }
  });

  it("maxConnections: the connection over the limit is refused (3.1.1: 0x03 server unavailable, v5: 0x97 quota exceeded)", async () => {
    const small = await startTestMqtt({ limits: { maxConnections: 2 } });
    try {
      const a = await connectClient(small.url, { protocolVersion: 4, clientId: "a" });
      const b = await connectClient(small.url, { protocolVersion: 5, clientId: "b" });
      for (const version of [4, 5] as const) {
        const raw = await RawClient.open(small.port, version);
        raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, keepalive: 0, clientId: `c${version}` });
        const connack = (await raw.expect("connack")) as IConnackPacket;
        assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, version === 5 ? 0x97 : 3);
        await raw.waitClosed();
      }
      assert.equal(small.gateway.metrics.connectionsRefused, 2, "counted");
      await a.end();
      await waitFor(() => small.gateway.connections === 1, "the first to be gone");
      const c = await connectClient(small.url, { protocolVersion: 4, clientId: "c" });
      await c.end();
      await b.end();
    } finally {
      await small.close();
    }
  });
});

