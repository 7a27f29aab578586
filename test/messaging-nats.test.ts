// The messaging core on a real cluster: nodes as separate processes over a real
// nats-server, killed with SIGKILL. The same scenarios run in one process in
// gateways/shared/messaging-cluster.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MessagingProcess } from "./support/messaging-processes.ts";
import { NatsServer } from "./support/nats-server.ts";

interface Received {
  readonly seq: number;
  readonly body: string;
  readonly kind: string;
}

let nats: NatsServer;
let clusterSeq = 0;

before(async () => {
  nats = await NatsServer.start({ monitor: true });
});

after(async () => {
  await nats?.close();
});

async function startNodes(n: number, leaseMs = 1500): Promise<MessagingProcess[]> {
  const clusterName = `msg${++clusterSeq}`;
  const nodes: MessagingProcess[] = [];
  try {
    for (let i = 1; i <= n; i++) nodes.push(await MessagingProcess.start(`${clusterName}-n${i}`, { natsUrl: nats.url, clusterName, leaseMs }));
    // Every partition owned before the test starts.
    await until(async () => (await Promise.all(nodes.map((x) => x.command("locate", { actorId: "session/acme:probe" })))).every((p) => p.owner !== "" && p.state === "active"), 15_000);
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }
  return nodes;
}

async function stopAll(nodes: readonly MessagingProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.kill()));
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends with a client message id, retrying until acknowledged, as a careful client does. */
async function sendSurely(via: MessagingProcess, args: Record<string, unknown>, stopped: () => boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await via.command("send", args, 15_000);
      return;
    } catch (err) {
      if (attempt > 100 || stopped()) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe("messaging on a cluster over NATS", () => {
  it("delivers a message to an offline user once, when they reconnect to another node", async () => {
    const nodes = await startNodes(3);
    try {
      const [a, b, c] = nodes as [MessagingProcess, MessagingProcess, MessagingProcess];
      await a.command("attach", { conn: "bob1", tenant: "acme", user: "bob", resource: "phone" });
      await a.command("close", { conn: "bob1" });
      await b.command("send", { tenant: "acme", from: "alice", to: { user: "bob" }, body: "while you were away", clientMsgId: "x1" });
      await c.command("attach", { conn: "bob2", tenant: "acme", user: "bob", resource: "phone" });
      await until(async () => (await c.command<Received[]>("received", { conn: "bob2" })).length >= 1);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual((await c.command<Received[]>("received", { conn: "bob2" })).map((m) => [m.seq, m.body, m.kind]), [[1, "while you were away", "inbox"]]);
      // Acknowledged (the acknowledgement is batched), so never delivered again.
      await new Promise((r) => setTimeout(r, 200));
      await c.command("close", { conn: "bob2" });
      await a.command("attach", { conn: "bob3", tenant: "acme", user: "bob", resource: "phone" });
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await a.command("received", { conn: "bob3" }), []);
    } finally {
      await stopAll(nodes);
    }
  });

  it("keeps 1:1 and topic messages in order without gaps or repeats across a kill -9 of the node holding them", async () => {
    const nodes = await startNodes(3);
    try {
      const place = await nodes[0]!.command("locate", { actorId: "session/acme:bob" });
      const victim = nodes.find((n) => n.nodeId === place.owner)!;
      const [reader1, reader2] = nodes.filter((n) => n !== victim) as [MessagingProcess, MessagingProcess];
      // A topic that lives on the same node as bob's session: the one that dies.
      let room = "";
      for (let i = 0; room === ""; i++) if ((await reader1.command("locate", { actorId: `topic/acme:room-${i}` })).owner === victim.nodeId) room = `room-${i}`;
      await reader1.command("createTopic", { tenant: "acme", topic: room, settings: { post: "anyone", read: "anyone" } });
      await reader1.command("attach", { conn: "bob", tenant: "acme", user: "bob", resource: "phone" });
      await reader2.command("attach", { conn: "carol", tenant: "acme", user: "carol", resource: "web" });
      await reader2.command("subscribe", { conn: "carol", filter: room });
      const total = 300;
      let sent = 0;
      let stopped = false;
      const sending = (async () => {
        for (let i = 1; i <= total && !stopped; i++) {
          await sendSurely(reader2, { tenant: "acme", from: "alice", to: { user: "bob" }, body: `d${i}`, clientMsgId: `d${i}` }, () => stopped);
          await sendSurely(reader2, { tenant: "acme", from: "alice", to: { topic: room }, body: `t${i}`, clientMsgId: `t${i}` }, () => stopped);
          sent = i;
        }
      })();
      try {
        await until(() => sent >= 100);
        await victim.kill();
        await sending;
      } finally {
        stopped = true;
        await sending.catch(() => undefined);
      }
      const inOrder = (got: Received[]) => got.map((m) => m.seq).join() === Array.from({ length: total }, (_, i) => i + 1).join();
      await until(async () => (await reader1.command<Received[]>("received", { conn: "bob" })).length >= total, 30_000, "the inbox");
      await until(async () => (await reader2.command<Received[]>("received", { conn: "carol" })).length >= total, 30_000, "the topic");
      await new Promise((r) => setTimeout(r, 500));
      const inbox = await reader1.command<Received[]>("received", { conn: "bob" });
      const topic = await reader2.command<Received[]>("received", { conn: "carol" });
      assert.ok(inOrder(inbox), `inbox seqs: ${inbox.map((m) => m.seq).join()}`);
      assert.ok(inOrder(topic), `topic seqs: ${topic.map((m) => m.seq).join()}`);
      assert.deepEqual(inbox.map((m) => m.body), Array.from({ length: total }, (_, i) => `d${i + 1}`), "each message once, under its own seq");
      assert.deepEqual(topic.map((m) => m.body), Array.from({ length: total }, (_, i) => `t${i + 1}`));
    } finally {
      await stopAll(nodes);
    }
  });

  it("fans a topic out to 10,000 subscribers on 3 nodes with one NATS message per interested node", async () => {
    const nodes = await startNodes(3);
    try {
      const counts = [3334, 3333, 3333];
      for (let i = 0; i < 3; i++) {
        const r = await nodes[i]!.command("attachMany", { tenant: "acme", group: `g${i}`, count: counts[i], filter: "feed/+/news" }, 300_000);
        assert.equal(r.connections, counts[i]);
      }
      const byName = async () => new Map((await nats.connections()).map((c) => [c.name, c]));
      const before = await byName();
      const messages = 5;
      for (let k = 0; k < messages; k++) await nodes[0]!.command("send", { tenant: "acme", from: "editor", to: { topic: "feed/world/news" }, body: `n${k}` });
      for (let i = 0; i < 3; i++) {
        await until(async () => (await nodes[i]!.command<number>("deliveries", { group: `g${i}` })) >= counts[i]! * messages, 60_000, `deliveries on node ${i + 1}`);
      }
      const afterCounts = await byName();
      const sentToNode = nodes.map((n) => afterCounts.get(n.nodeId)!.out_msgs - before.get(n.nodeId)!.out_msgs);
      const publishedBy = nodes.map((n) => afterCounts.get(n.nodeId)!.in_msgs - before.get(n.nodeId)!.in_msgs);
      assert.deepEqual(publishedBy, [messages, 0, 0], "the publishing node sends each message to NATS once");
      assert.deepEqual(sentToNode, [0, messages, messages], "NATS sends each message once to each other interested node, never to its publisher");
      for (let i = 0; i < 3; i++) assert.equal(await nodes[i]!.command("deliveries", { group: `g${i}` }), counts[i]! * messages, "every subscriber once per message");
    } finally {
      await stopAll(nodes);
    }
  });

  it("keeps tenants apart across nodes", async () => {
    const nodes = await startNodes(2);
    try {
      const [a, b] = nodes as [MessagingProcess, MessagingProcess];
      await a.command("attach", { conn: "acme-bob", tenant: "acme", user: "bob", resource: "p" });
      await b.command("attach", { conn: "globex-bob", tenant: "globex", user: "bob", resource: "p" });
      await a.command("subscribe", { conn: "acme-bob", filter: "#" });
      await b.command("subscribe", { conn: "globex-bob", filter: "#" });
      await b.command("send", { tenant: "acme", from: "alice", to: { user: "bob" }, body: "acme only" });
      await b.command("send", { tenant: "acme", from: "alice", to: { topic: "news" }, body: "acme news" });
      await until(async () => (await a.command<Received[]>("received", { conn: "acme-bob" })).length === 2);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await b.command("received", { conn: "globex-bob" }), []);
    } finally {
      await stopAll(nodes);
    }
  });
});
