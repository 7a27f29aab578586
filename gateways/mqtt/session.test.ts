// Sessions: clean session (3.1.1) and session expiry (5.0), what a persistent session
// keeps (subscriptions, queued messages, messages in flight), its bounded queue, and
// takeover by a new connection with the same client id.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IConnectPacket, IDisconnectPacket, IPublishPacket } from "mqtt-packet";
import { MemoryKvTable } from "../../runtime/index.ts";
import { connectClient, RawClient, sleep, waitFor } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("sessions", () => {
  let node: TestMqttNode;
  let n = 0;
  before(async () => {
    node = await startTestMqtt();
  });
  after(() => node.close());

  /** The CONNECT of a client whose session outlives its connection (or not, with `keep: false`). */
  const session = (version: 4 | 5, clientId: string, keep = true, expiryS = 60): Partial<IConnectPacket> =>
    version === 5 ? { clientId, clean: !keep, properties: { sessionExpiryInterval: keep ? expiryS : 0 } } : { clientId, clean: !keep };

  async function publish(topic: string, texts: string[], qos: 0 | 1 | 2 = 1): Promise<void> {
    const pub = await connectClient(node.url, { protocolVersion: 4, clientId: `session-pub-${++n}` });
    for (const t of texts) await pub.client.publishAsync(topic, t, { qos });
    await pub.end();
  }

  for (const version of [4, 5] as const) {
    it(`v${version}: a persistent session keeps its subscriptions and queues QoS 1 messages while offline; session present ([MQTT-3.1.2-4], [MQTT-3.2.2-2])`, async () => {
      const id = `persist-${version}`;
      const first = await RawClient.connected(node.port, version, session(version, id));
      assert.equal(first.connack.sessionPresent, false, "a new session");
      first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `persist${version}/#`, qos: 1 }] });
      await first.raw.expect("suback");
      first.raw.send({ cmd: "disconnect" });
      await first.raw.waitClosed();

      await publish(`persist${version}/a`, ["while away 1", "while away 2"]);
      await publish(`persist${version}/a`, ["qos 0 is not queued"], 0);
      const again = await RawClient.connected(node.port, version, session(version, id));
      assert.equal(again.connack.sessionPresent, true);
      const got: string[] = [];
      for (let i = 0; i < 2; i++) {
        const p = (await again.raw.expect("publish")) as IPublishPacket;
        assert.equal(p.qos, 1);
        got.push(p.payload.toString());
        again.raw.send({ cmd: "puback", messageId: p.messageId! });
      }
      assert.deepEqual(got, ["while away 1", "while away 2"]);
      // The subscription is still there without subscribing again.
      await publish(`persist${version}/b`, ["live"]);
      assert.equal(((await again.raw.expect("publish")) as IPublishPacket).payload.toString(), "live");
      await again.raw.quiet(100);
      again.raw.close();
    });

    it(`v${version}: a clean session starts empty and leaves nothing behind ([MQTT-3.1.2-6], [MQTT-3.2.2-1])`, async () => {
      const id = `clean-${version}`;
      const first = await RawClient.connected(node.port, version, session(version, id));
      first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `clean${version}/#`, qos: 1 }] });
      await first.raw.expect("suback");
      first.raw.close();
      await waitFor(async () => !(await node.sessionInfo(id)).connected, "the session to be offline");
      await publish(`clean${version}/a`, ["queued"]);

      // A clean start discards the session: nothing queued arrives, its subscription is gone.
      const clean = await RawClient.connected(node.port, version, session(version, id, false));
      assert.equal(clean.connack.sessionPresent, false);
      await publish(`clean${version}/a`, ["after clean start"]);
      await clean.raw.quiet(150);
      clean.raw.send({ cmd: "disconnect" });
      await clean.raw.waitClosed();
      await waitFor(async () => !(await node.sessionInfo(id)).exists, "the clean session to end with its connection");
      const again = await RawClient.connected(node.port, version, session(version, id));
      assert.equal(again.connack.sessionPresent, false, "the clean session did not outlive its connection");
      await again.raw.quiet(100);
      again.raw.close();
    });

    it(`v${version}: an idle clean-session connection holds no actor, yet is delivered to, taken over and leaves its will`, async () => {
      const id = `idle-clean-${version}`;
      const actorId = node.runtime.ref(node.sessionActor, `default:${id}`).id;
      const will = { topic: `idle${version}/will`, payload: Buffer.from("gone"), qos: 1 as const, retain: false };
      const first = await RawClient.connected(node.port, version, { ...session(version, id, false), will });
      first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `idle${version}/in`, qos: 1 }] });
      await first.raw.expect("suback");
      await waitFor(() => !node.runtime.isActive(actorId), "the clean session's actor to leave memory");
      await publish(`idle${version}/in`, ["still delivered"]);
      const p = (await first.raw.expect("publish")) as IPublishPacket;
      assert.equal(p.payload.toString(), "still delivered");
      first.raw.send({ cmd: "puback", messageId: p.messageId! });

      const watcher = await RawClient.connected(node.port, version, { clientId: `idle-watch-${version}` });
      watcher.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `idle${version}/will`, qos: 1 }] });
      await watcher.raw.expect("suback");
      // The second connection takes the session over from the first, whose actor was gone.
      const second = await RawClient.connected(node.port, version, session(version, id, false));
      if (version === 5) assert.equal(((await first.raw.expect("disconnect")) as IDisconnectPacket).reasonCode, 0x8e);
      await first.raw.waitClosed();
      // A takeover publishes the old connection's will ([MQTT-3.1.4-3]).
      assert.equal(((await watcher.raw.expect("publish")) as IPublishPacket).payload.toString(), "gone");
      second.raw.close();
      watcher.raw.close();
    });
  }

  it("v5: a session ends when its expiry interval has passed offline", async () => {
    const id = "expiring";
    const first = await RawClient.connected(node.port, 5, session(5, id, true, 1));
    first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "expiring/#", qos: 1 }] });
    await first.raw.expect("suback");
    first.raw.close();
    await publish("expiring/t", ["held"]);
    await sleep(300);
    assert.equal((await node.sessionInfo(id)).queued, 1, "queued while the session lasts");
    await waitFor(async () => !(await node.sessionInfo(id)).exists, "the session to expire", 3000);
    const again = await RawClient.connected(node.port, 5, session(5, id));
    assert.equal(again.connack.sessionPresent, false);
    await again.raw.quiet(100);
    again.raw.close();
  });

  it("v5: DISCONNECT may change the session expiry (to 0: the session ends), but not from 0 ([MQTT-3.14.2-2])", async () => {
    const ends = await RawClient.connected(node.port, 5, session(5, "disc-expiry"));
    ends.raw.send({ cmd: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await ends.raw.waitClosed();
    await waitFor(async () => !(await node.sessionInfo("disc-expiry")).exists, "the session to end");

    const zero = await RawClient.connected(node.port, 5, session(5, "zero-expiry", false));
    zero.raw.send({ cmd: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    const d = (await zero.raw.expect("disconnect")) as IDisconnectPacket;
    assert.equal(d.reasonCode, 0x82);
    await zero.raw.waitClosed();
    await waitFor(async () => !(await node.sessionInfo("zero-expiry")).exists, "no session kept");
  });

  for (const version of [4, 5] as const) {
    it(`v${version}: unacknowledged QoS 1 and 2 messages are sent again with DUP after a reconnect, and a PUBREL again ([MQTT-4.4.0-1], [MQTT-3.3.1-1])`, async () => {
      const id = `resend-${version}`;
      const first = await RawClient.connected(node.port, version, session(version, id));
      first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `resend${version}/#`, qos: 2 }] });
      await first.raw.expect("suback");
      await publish(`resend${version}/one`, ["qos1"], 1);
      await publish(`resend${version}/two`, ["released"], 2);
      await publish(`resend${version}/three`, ["qos2"], 2);
      const p1 = (await first.raw.expect("publish")) as IPublishPacket;
      const p3 = (await first.raw.expect("publish")) as IPublishPacket;
      const p2 = (await first.raw.expect("publish")) as IPublishPacket;
      assert.deepEqual([p1, p3, p2].map((p) => [p.payload.toString(), p.dup]), [["qos1", false], ["released", false], ["qos2", false]]);
      // The first QoS 2 message is received (PUBREC, which may come before the QoS 1
      // message's PUBACK: [MQTT-4.6.0-2] and [MQTT-4.6.0-3] order each kind apart) and
      // released by the server, but the PUBCOMP never comes.
      first.raw.send({ cmd: "pubrec", messageId: p3.messageId! });
      assert.equal((await first.raw.expect("pubrel")).messageId, p3.messageId);
      await sleep(50);
      first.raw.close();

      const again = await RawClient.connected(node.port, version, session(version, id));
      assert.equal(again.connack.sessionPresent, true);
      const seen: [string, unknown][] = [];
      for (let i = 0; i < 3; i++) {
        const p = (await again.raw.next())!;
        if (p.cmd === "pubrel") seen.push(["pubrel", p.messageId]);
        else if (p.cmd === "publish") seen.push([`${p.payload.toString()} dup=${p.dup} id=${p.messageId}`, p.qos]);
        else assert.fail(`unexpected ${p.cmd}`);
      }
      assert.deepEqual(seen, [
        ["pubrel", p3.messageId],
        [`qos1 dup=true id=${p1.messageId}`, 1],
        [`qos2 dup=true id=${p2.messageId}`, 2],
      ]);
      again.raw.send({ cmd: "pubcomp", messageId: p3.messageId! });
      again.raw.send({ cmd: "puback", messageId: p1.messageId! });
      again.raw.send({ cmd: "pubrec", messageId: p2.messageId! });
      await again.raw.expect("pubrel");
      again.raw.send({ cmd: "pubcomp", messageId: p2.messageId! });
      await again.raw.quiet(100);
      again.raw.close();

      const third = await RawClient.connected(node.port, version, session(version, id));
      await third.raw.quiet(150);
      third.raw.close();
    });
  }

  it("a resumed session sends nothing before CONNACK, however busy its topics are ([MQTT-3.2.0-1])", async () => {
    // Restoring a QoS 1 subscription writes its durable route: slow here, as a replicated table is.
    const table = new MemoryKvTable();
    const slow = new Proxy(table, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (k === "put") return async (...a: unknown[]) => (await sleep(5), (v as (...x: unknown[]) => unknown).apply(t, a));
        return typeof v === "function" ? (v as (...x: unknown[]) => unknown).bind(t) : v;
      },
    });
    const busy = await startTestMqtt({ routesTable: slow });
    let flooding = true;
    try {
      const id = "busy-resume";
      const connect = session(4, id);
      const first = await RawClient.connected(busy.port, 4, connect);
      first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: Array.from({ length: 5 }, (_, i) => ({ topic: `busy/${i}`, qos: 1 as const })) });
      await first.raw.expect("suback");
      first.raw.send({ cmd: "disconnect" });
      await first.raw.waitClosed();
      const flood = () => {
        if (!flooding) return;
        for (let i = 0; i < 5; i++) void busy.messaging.send("default", undefined, { topic: `busy/${i}` }, { body: Buffer.from("busy") });
        setImmediate(flood);
      };
      flood();
      for (let round = 0; round < 3; round++) {
        const raw = await RawClient.open(busy.port, 4);
        raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, keepalive: 0, ...connect } as never);
        const firstPacket = await raw.next();
        assert.equal(firstPacket?.cmd, "connack", `round ${round}: the first packet`);
        await waitFor(() => raw.unread.some((p) => p.cmd === "publish"), "the busy topics' messages after it");
        raw.send({ cmd: "disconnect" });
        await raw.waitClosed();
      }
    } finally {
      flooding = false;
      await busy.close();
    }
  });

  it("a message queued while a persistent session is being resumed arrives without waiting for another", async () => {
    const table = new MemoryKvTable();
    const slow = new Proxy(table, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (k === "put") return async (...a: unknown[]) => (await sleep(10), (v as (...x: unknown[]) => unknown).apply(t, a));
        return typeof v === "function" ? (v as (...x: unknown[]) => unknown).bind(t) : v;
      },
    });
    const slowNode = await startTestMqtt({ routesTable: slow });
    try {
      const connect = session(5, "resuming");
      const first = await RawClient.connected(slowNode.port, 5, connect);
      first.raw.send({ cmd: "subscribe", messageId: 1, subscriptions: Array.from({ length: 6 }, (_, i) => ({ topic: `resuming/${i}`, qos: 1 as const })) });
      await first.raw.expect("suback");
      first.raw.send({ cmd: "disconnect" });
      await first.raw.waitClosed();
      // Restoring six subscriptions takes about 60 ms here; the message is queued meanwhile.
      const raw = await RawClient.open(slowNode.port, 5);
      raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, keepalive: 0, ...connect } as never);
      await sleep(25);
      await slowNode.messaging.send("default", undefined, { topic: "resuming/0" }, { body: Buffer.from("meanwhile"), qos: 1 });
      assert.equal((await raw.expect("connack")).sessionPresent, true);
      const p = (await raw.expect("publish", 1000)) as IPublishPacket;
      assert.equal(p.payload.toString(), "meanwhile");
      raw.close();
    } finally {
      await slowNode.close();
    }
  });

  it("takeover: the older connection is closed; v5 hears DISCONNECT 0x8E first ([MQTT-3.1.4-3])", async () => {
    for (const version of [4, 5] as const) {
      const old = await connectClient(node.url, { protocolVersion: version, clientId: `taken-${version}` });
      const newer = await connectClient(node.url, { protocolVersion: version, clientId: `taken-${version}` });
      await old.waitClosed();
      if (version === 5) assert.deepEqual(old.disconnects.map((d) => d.reasonCode), [0x8e]);
      else assert.deepEqual(old.disconnects, []);
      await newer.client.subscribeAsync(`taken${version}/t`, { qos: 1 });
      await newer.client.publishAsync(`taken${version}/t`, "still here", { qos: 1 });
      await newer.until(1);
      assert.equal(newer.closed, false);
      await newer.end();
    }
    assert.ok(node.gateway.metrics.takeovers >= 2);
  });
});

describe("the offline queue of a persistent session", () => {
  for (const policy of ["drop-oldest", "drop-new"] as const) {
    it(`is bounded by maxQueuedMessages; ${policy} drops and counts`, async () => {
      const node = await startTestMqtt({ limits: { maxQueuedMessages: 5, queuePolicy: policy } });
      try {
        const sub = await connectClient(node.url, { protocolVersion: 4, clientId: "bounded", clean: false });
        await sub.client.subscribeAsync("bounded/t", { qos: 1 });
        await sub.end();
        const pub = await connectClient(node.url, { protocolVersion: 4, clientId: "bounded-pub" });
        for (let i = 1; i <= 8; i++) await pub.client.publishAsync("bounded/t", `m${i}`, { qos: 1 });
        await pub.end();
        const info = await node.sessionInfo("bounded");
        assert.equal(info.queued, 5);
        assert.equal(info.dropped, 3);
        const back = await connectClient(node.url, { protocolVersion: 4, clientId: "bounded", clean: false });
        await back.until(5);
        await sleep(100);
        assert.deepEqual(back.texts(), policy === "drop-oldest" ? ["m4", "m5", "m6", "m7", "m8"] : ["m1", "m2", "m3", "m4", "m5"]);
        await back.end();
      } finally {
        await node.close();
      }
    });
  }

  it("counts only what the client never got: acknowledged messages are not drops", async () => {
    const node = await startTestMqtt({ limits: { maxQueuedMessages: 3 } });
    try {
      const sub = await connectClient(node.url, { protocolVersion: 5, clientId: "online", clean: false, properties: { sessionExpiryInterval: 60 } });
      await sub.client.subscribeAsync("online/t", { qos: 1 });
      const pub = await connectClient(node.url, { protocolVersion: 4, clientId: "online-pub" });
      for (let i = 1; i <= 10; i++) {
        await pub.client.publishAsync("online/t", `m${i}`, { qos: 1 });
        await sub.until(i);
      }
      await sleep(50);
      assert.equal((await node.sessionInfo("online")).dropped, 0, "every one was delivered and acknowledged");
      assert.equal(sub.received.length, 10);
      await Promise.all([pub.end(), sub.end()]);
    } finally {
      await node.close();
    }
  });
});
