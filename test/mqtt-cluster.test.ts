// The MQTT gateway on a real cluster: three nodes as separate processes over a real
// nats-server, real MQTT clients (mqtt.js, mosquitto_pub/mosquitto_sub), a node killed
// with SIGKILL, a node drained.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import mqtt, { type IPublishPacket, type MqttClient } from "mqtt";
import { MessagingProcess } from "./support/messaging-processes.ts";
import { NatsServer } from "./support/nats-server.ts";
import { runCli } from "./support/node-process.ts";

let nats: NatsServer;
let clusterSeq = 0;
const clients: MqttClient[] = [];

before(async () => {
  nats = await NatsServer.start();
});

after(async () => {
  for (const c of clients) c.end(true);
  await nats?.close();
});

async function startNodes(n: number): Promise<MessagingProcess[]> {
  const clusterName = `mq${++clusterSeq}`;
  const nodes: MessagingProcess[] = [];
  try {
    for (let i = 1; i <= n; i++) nodes.push(await MessagingProcess.start(`${clusterName}-n${i}`, { natsUrl: nats.url, clusterName, leaseMs: 1500 }));
    await until(async () => (await Promise.all(nodes.map((x) => x.command("locate", { actorId: "session/default:probe" })))).every((p) => p.owner !== "" && p.state === "active"), 15_000);
  } catch (err) {
    await Promise.all(nodes.map((x) => x.kill()));
    throw err;
  }
  return nodes;
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function client(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  clients.push(c);
  return c;
}

/** Collects what a client receives. */
function inbox(c: MqttClient): { packets: IPublishPacket[]; bodies: () => string[] } {
  const packets: IPublishPacket[] = [];
  c.on("message", (_t, _p, packet) => packets.push(packet));
  return { packets, bodies: () => packets.map((p) => p.payload.toString()) };
}

/** A client id whose MQTT session actor lives on `node`. */
async function clientIdOn(node: MessagingProcess, prefix: string): Promise<string> {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    if ((await node.command("locate", { actorId: `mqtt-session/default:${id}` })).owner === node.nodeId) return id;
  }
}

describe("MQTT on a 3-node cluster over NATS", () => {
  it("resumes a persistent session, its subscriptions and its queued messages, on another node", async () => {
    const nodes = await startNodes(3);
    try {
      const [a, b, c] = nodes as [MessagingProcess, MessagingProcess, MessagingProcess];
      const first = await client(a.mqttUrl, { clientId: "dev-1", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
      await first.subscribeAsync("q/#", { qos: 1 });
      await first.endAsync();
      const pub = await client(b.mqttUrl, { clientId: "pub-1", protocolVersion: 4 });
      for (let i = 1; i <= 5; i++) await pub.publishAsync("q/x", `m${i}`, { qos: 1 });
      const again = mqtt.connect(c.mqttUrl, { clientId: "dev-1", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 0 });
      clients.push(again);
      const got = inbox(again);
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => again.once("connect", resolve));
      assert.equal(connack.sessionPresent, true);
      await until(() => got.packets.length >= 5, 10_000, "the queued messages");
      assert.deepEqual(got.bodies(), ["m1", "m2", "m3", "m4", "m5"]);
      await pub.publishAsync("q/y", "after", { qos: 1 });
      await until(() => got.packets.length >= 6, 10_000, "a live message through the resumed subscription");
      assert.equal(got.bodies()[5], "after");
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("loses no acknowledged QoS 1 message when the node holding the persistent session is killed -9", async () => {
    const nodes = await startNodes(3);
    try {
      const [x, y, z] = nodes as [MessagingProcess, MessagingProcess, MessagingProcess];
      const id = await clientIdOn(x, "holder");
      const sub = await client(x.mqttUrl, { clientId: id, clean: false, protocolVersion: 4 });
      await sub.subscribeAsync("load/#", { qos: 1 });
      const seen = new Set<string>();
      sub.on("message", (_t, p) => seen.add(p.toString()));
      const pub = await client(y.mqttUrl, { clientId: "load-pub", protocolVersion: 5 });
      const total = 200;
      const acked: string[] = [];
      let killed = false;
      for (let i = 0; i < total; i++) {
        const body = `n${i}`;
        // mqtt.js resolves once the PUBACK came: the message is acknowledged.
        await pub.publishAsync("load/a", body, { qos: 1 });
        acked.push(body);
        if (i === 60 && !killed) {
          killed = true;
          await x.kill();
        }
      }
      sub.end(true);
      const again = mqtt.connect(z.mqttUrl, { clientId: id, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
      clients.push(again);
      again.on("message", (_t, p) => seen.add(p.toString()));
      await until(() => acked.every((b) => seen.has(b)), 30_000, "every acknowledged message");
      assert.equal(acked.length, total);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("publishes the wills of a killed node's clients, and ends their clean sessions, from another node", async () => {
    const nodes = await startNodes(3);
    try {
      const [x, y, z] = nodes as [MessagingProcess, MessagingProcess, MessagingProcess];
      const watcher = await client(y.mqttUrl, { clientId: "will-watcher", protocolVersion: 5 });
      const heard = inbox(watcher);
      await watcher.subscribeAsync("status/#", { qos: 1 });
      // Sessions whose actors live elsewhere than the connection, and one on the node itself.
      const v4 = await client(x.mqttUrl, { clientId: "dev-v4", protocolVersion: 4, will: { topic: "status/dev-v4", payload: Buffer.from("offline-v4"), qos: 1, retain: false } });
      const v5 = await client(x.mqttUrl, {
        clientId: await clientIdOn(z, "dev-v5"),
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 0 },
        will: { topic: "status/dev-v5", payload: Buffer.from("offline-v5"), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
      });
      const graceful = await client(x.mqttUrl, { clientId: "dev-bye", protocolVersion: 4, will: { topic: "status/dev-bye", payload: Buffer.from("must-not-come"), qos: 1, retain: false } });
      await graceful.endAsync();
      // Its DISCONNECT handled before the kill (one the node never read could not be told from a dropped connection).
      await new Promise((r) => setTimeout(r, 1000));
      const killedAt = Date.now();
      await x.kill();
      v4.end(true);
      v5.end(true);
      await until(() => heard.bodies().includes("offline-v4") && heard.bodies().includes("offline-v5"), 20_000, "both wills");
      const tookMs = Date.now() - killedAt;
      assert.ok(!heard.bodies().includes("must-not-come"), "a client that sent DISCONNECT has no will");
      assert.equal(heard.bodies().filter((b) => b === "offline-v4").length, 1, "the will is published once");
      // The v5 session ended with its connection (expiry 0): a new connection finds none.
      const back = mqtt.connect(z.mqttUrl, { clientId: v5.options.clientId!, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 }, reconnectPeriod: 0 });
      clients.push(back);
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
        back.once("connect", resolve);
        back.once("error", reject);
      });
      assert.equal(connack.sessionPresent, false);
      process.stdout.write(`# wills of a killed node's clients published ${tookMs} ms after kill -9 (lease 1500 ms)\n`);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("takes over a client id connected to another node, telling the old connection 0x8E", async () => {
    const nodes = await startNodes(2);
    try {
      const [a, b] = nodes as [MessagingProcess, MessagingProcess];
      const old = await client(a.mqttUrl, { clientId: "phone", protocolVersion: 5 });
      const reason = new Promise<number | undefined>((resolve) => old.once("disconnect", (p) => resolve(p.reasonCode)));
      const fresh = await client(b.mqttUrl, { clientId: "phone", protocolVersion: 5 });
      assert.equal(await reason, 0x8e);
      assert.equal(fresh.connected, true);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("offers a retained message published on one node to a subscriber on another", async () => {
    const nodes = await startNodes(2);
    try {
      const [a, b] = nodes as [MessagingProcess, MessagingProcess];
      const pub = await client(a.mqttUrl, { clientId: "r-pub", protocolVersion: 4 });
      await pub.publishAsync("status/boiler", "on", { qos: 1, retain: true });
      const sub = await client(b.mqttUrl, { clientId: "r-sub", protocolVersion: 4 });
      const got = inbox(sub);
      await sub.subscribeAsync("status/+", { qos: 1 });
      await until(() => got.packets.length >= 1, 10_000, "the retained message");
      assert.equal(got.packets[0]!.retain, true);
      assert.equal(got.bodies()[0], "on");
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("gives each message of a shared subscription to one member, members on different nodes", async () => {
    const nodes = await startNodes(3);
    try {
      const [a, b, c] = nodes as [MessagingProcess, MessagingProcess, MessagingProcess];
      const m1 = await client(a.mqttUrl, { clientId: "worker-1", protocolVersion: 5 });
      const m2 = await client(b.mqttUrl, { clientId: "worker-2", protocolVersion: 4 });
      const g1 = inbox(m1);
      const g2 = inbox(m2);
      await m1.subscribeAsync("$share/workers/jobs/#", { qos: 1 });
      await m2.subscribeAsync("$share/workers/jobs/#", { qos: 1 });
      const pub = await client(c.mqttUrl, { clientId: "jobs-pub", protocolVersion: 5 });
      const total = 60;
      for (let i = 0; i < total; i++) await pub.publishAsync("jobs/build", `j${i}`, { qos: 1 });
      await until(() => g1.packets.length + g2.packets.length >= total, 10_000, "every job");
      await new Promise((r) => setTimeout(r, 300));
      const all = [...g1.bodies(), ...g2.bodies()].sort();
      assert.deepEqual(all, Array.from({ length: total }, (_, i) => `j${i}`).sort(), "each job exactly once in the group");
      assert.ok(g1.packets.length > 0 && g2.packets.length > 0, `both members worked (${g1.packets.length}, ${g2.packets.length})`);
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("drains a node: v5 clients are sent to another node with 0x9C, 3.1.1 clients closed, and their sessions go on", async () => {
    const nodes = await startNodes(2);
    try {
      const [a, b] = nodes as [MessagingProcess, MessagingProcess];
      const v5 = await client(a.mqttUrl, { clientId: "d-v5", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 } });
      await v5.subscribeAsync("news", { qos: 1 });
      const v3 = await client(a.mqttUrl, { clientId: "d-v3", clean: false, protocolVersion: 4 });
      await v3.subscribeAsync("news", { qos: 1 });
      const told = new Promise<{ reasonCode?: number; properties?: { serverReference?: string } }>((resolve) => v5.once("disconnect", (p) => resolve(p)));
      const v3closed = new Promise<void>((resolve) => v3.once("close", () => resolve()));
      const r = await runCli(["cluster", "drain", a.nodeId, "--grpc-port", String(b.ports.grpc)]);
      assert.equal(r.code, 0, r.stderr);
      const d = await told;
      assert.equal(d.reasonCode, 0x9c);
      assert.equal(d.properties?.serverReference, `127.0.0.1:${b.ports.mqtt}`);
      await v3closed;
      const pub = await client(b.mqttUrl, { clientId: "d-pub", protocolVersion: 4 });
      await pub.publishAsync("news", "while moving", { qos: 1 });
      for (const id of ["d-v5", "d-v3"]) {
        const back = mqtt.connect(`mqtt://${d.properties!.serverReference}`, { clientId: id, clean: false, protocolVersion: id === "d-v5" ? 5 : 4, properties: id === "d-v5" ? { sessionExpiryInterval: 600 } : {}, reconnectPeriod: 0 });
        clients.push(back);
        const got = inbox(back);
        await until(() => got.packets.length >= 1, 15_000, `${id}'s queued message`);
        assert.equal(got.bodies()[0], "while moving");
      }
      assert.equal(await a.node.stop("SIGTERM", 20_000), 0, "the drained node exits 0");
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });

  it("carries mosquitto_pub on one node to mosquitto_sub on another, 3.1.1 and 5", async () => {
    const nodes = await startNodes(2);
    try {
      const [a, b] = nodes as [MessagingProcess, MessagingProcess];
      for (const version of ["mqttv311", "mqttv5"]) {
        const sub = spawn("mosquitto_sub", ["-p", String(b.ports.mqtt), "-t", "m/#", "-v", "-C", "2", "-q", "1", "-V", version]);
        let out = "";
        sub.stdout.on("data", (d) => (out += d));
        const exited = new Promise((r) => sub.once("exit", r));
        await new Promise((r) => setTimeout(r, 800));
        for (const [topic, body, qos] of [["m/1", "one", "1"], ["m/2", "two", "2"]] as const) {
          const p = spawn("mosquitto_pub", ["-p", String(a.ports.mqtt), "-t", topic, "-m", body, "-q", qos, "-V", version]);
          assert.equal(await new Promise((r) => p.once("exit", r)), 0);
        }
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (sub.exitCode === null) process.kill(sub.pid!, "SIGKILL");
        assert.equal(out, "m/1 one\nm/2 two\n", version);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.kill()));
    }
  });
});
