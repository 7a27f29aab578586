// The messaging scenarios of a cluster, in one process over the in-process transport:
// fast to run and to debug. test/messaging-nats.test.ts runs them as separate
// processes over a real nats-server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { partitionOf } from "../../runtime/index.ts";
import type { Message } from "../../protos/index.ts";
import type { ClientConnection, Delivery } from "./client-connection.ts";
import type { Messaging } from "./messaging.ts";
import { startMessagingCluster, type MessagingCluster } from "./test-messaging.ts";

class Device {
  readonly got: Message[] = [];
  connection!: ClientConnection;
  readonly listener = {
    message: (m: Message, d: Delivery) => {
      this.got.push(m);
      if (d.kind === "inbox") this.connection.ack(m.seq);
    },
  };
  async until(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.got.length < n) {
      if (Date.now() > deadline) assert.fail(`got ${this.got.length} of ${n}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

async function connect(m: Messaging, user: string, resource: string): Promise<Device> {
  const d = new Device();
  d.connection = await m.attach({ tenant: "acme", user, resource, listener: d.listener });
  return d;
}

/** The node owning the actor `id`, and another one. */
function owner(cluster: MessagingCluster, id: string): { owner: string; other: string } {
  const any = [...cluster.nodes.values()][0]!;
  const p = partitionOf(id, any.cluster.partitions);
  const owner = [...cluster.nodes.values()].find((n) => n.cluster.manager.owns(p))!.nodeId;
  return { owner, other: [...cluster.nodes.keys()].find((n) => n !== owner)! };
}

function assertInOrder(got: readonly Message[], n: number, what: string): void {
  assert.deepEqual(
    got.map((m) => m.seq),
    Array.from({ length: n }, (_, i) => i + 1),
    `${what}: every seq once, in order`,
  );
}

describe("messaging across nodes (in one process)", () => {
  it("delivers an offline user's message once when they reconnect to another node", async () => {
    const cluster = await startMessagingCluster(["n1", "n2", "n3"]);
    try {
      const [n1, n2, n3] = [...cluster.nodes.values()];
      const bob = await connect(n1!.messaging, "bob", "phone");
      await bob.connection.close();
      await n2!.messaging.send("acme", { user: "alice" }, { user: "bob" }, { body: Buffer.from("hello") });
      const again = await connect(n3!.messaging, "bob", "phone");
      await again.until(1);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(again.got.map((m) => m.body.toString()), ["hello"]);
      await again.connection.close();
      const third = await connect(n1!.messaging, "bob", "phone");
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(third.got, [], "acknowledged, so not delivered again");
    } finally {
      await cluster.close();
    }
  });

  it("keeps 1:1 and topic messages in order, without gaps or repeats, when the node holding the session and the topic dies", async () => {
    const cluster = await startMessagingCluster(["n1", "n2", "n3"], { leaseMs: 400 });
    try {
      // Two readers on nodes that live; the session and topic actors on the one that dies.
      const { owner: victim } = owner(cluster, "session/acme:bob");
      const alive = [...cluster.nodes.values()].filter((n) => n.nodeId !== victim);
      const bob = await connect(alive[0]!.messaging, "bob", "phone");
      await alive[0]!.messaging.createTopic("acme", "room", { post: "anyone", read: "anyone" });
      const reader = await connect(alive[1]!.messaging, "carol", "web");
      await reader.connection.subscribe("room");
      const sender = alive[1]!.messaging;
      const total = 120;
      let sent = 0;
      const sending = (async () => {
        for (let i = 1; i <= total; i++) {
          // A careful sender: retry with the same client id until acknowledged.
          for (;;) {
            try {
              await sender.send("acme", { user: "alice" }, { user: "bob" }, { body: Buffer.from(`d${i}`), clientMsgId: `d${i}` });
              await sender.send("acme", { user: "alice" }, { topic: "room" }, { body: Buffer.from(`t${i}`), clientMsgId: `t${i}` });
              break;
            } catch {
              await new Promise((r) => setTimeout(r, 20));
            }
          }
          sent = i;
        }
      })();
      while (sent < total / 3) await new Promise((r) => setTimeout(r, 5));
      cluster.crash(victim);
      await sending;
      await bob.until(total);
      await reader.until(total);
      await new Promise((r) => setTimeout(r, 300));
      assertInOrder(bob.got, total, "inbox");
      assertInOrder(reader.got, total, "topic");
      assert.deepEqual(bob.got.map((m) => m.body.toString()), Array.from({ length: total }, (_, i) => `d${i + 1}`));
    } finally {
      await cluster.close();
    }
  });

  it("sends one message per interested node, however many subscribers each has", async () => {
    const cluster = await startMessagingCluster(["n1", "n2", "n3"]);
    try {
      const nodes = [...cluster.nodes.values()];
      const devices: Device[] = [];
      for (let i = 0; i < 300; i++) {
        const d = await connect(nodes[i % 3]!.messaging, `u${i}`, "r");
        await d.connection.subscribe(i % 2 === 0 ? "feed/news" : "feed/+", i);
        devices.push(d);
      }
      const idle = await connect(nodes[0]!.messaging, "idle", "r");
      await idle.connection.subscribe("elsewhere");
      const before = nodes.map((n) => n.router.metrics.received);
      await nodes[0]!.messaging.send("acme", undefined, { topic: "feed/news" }, { body: Buffer.from("x") });
      for (const d of devices) await d.until(1);
      const arrivals = nodes.map((n, i) => n.router.metrics.received - before[i]!);
      assert.deepEqual(arrivals, [0, 1, 1], "the publishing node delivers locally; each other node gets it once");
      // Per node: one subject per connected user (their inbox), then feed/news, feed/+, the
      // tenant's topic directory (and n1's "elsewhere"): not one per topic subscriber.
      assert.deepEqual(
        nodes.map((n) => n.router.remoteSubscriptions - n.messaging.connections),
        [4, 3, 3],
      );
    } finally {
      await cluster.close();
    }
  });
});
