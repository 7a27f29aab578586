import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Account, startDepositLoad, startTestCluster } from "./test-cluster.ts";

// The cluster scenarios in one process; test/cluster-*.test.ts runs them again as
// separate processes over a real nats-server.
describe("cluster, in one process", () => {
  test("partitions are spread over the nodes and any node reaches any actor", async () => {
    const c = await startTestCluster(["n1", "n2", "n3"]);
    try {
      await c.settled();
      const owned = [...c.nodes.values()].map((n) => n.manager.owned().length);
      assert.equal(owned.reduce((a, b) => a + b), 16);
      assert.ok(Math.max(...owned) - Math.min(...owned) <= 1, `balanced: ${owned}`);
      const nodes = [...c.nodes.values()];
      for (let i = 0; i < 60; i++) {
        const via = nodes[i % 3]!;
        assert.equal(await via.runtime.ref(Account, `t:a${i % 20}`).call("deposit", 1), Math.floor(i / 20) + 1);
      }
      const active = nodes.map((n) => n.runtime.stats().activations);
      assert.equal(active.reduce((a, b) => a + b), 20, `each actor active on exactly one node: ${active}`);
    } finally {
      await c.close();
    }
  });

  test("first calls to one id from every node at once give one activation", async () => {
    const c = await startTestCluster(["n1", "n2", "n3"]);
    try {
      await c.settled();
      const calls = [...c.nodes.values()].flatMap((n) => Array.from({ length: 50 }, () => n.runtime.ref(Account, "t:hot").call("deposit", 1)));
      await Promise.all(calls);
      const via = [...c.nodes.values()][0]!.runtime.ref(Account, "t:hot");
      assert.equal(await via.call("balance"), 150);
      assert.equal(await via.call("activations"), 1);
    } finally {
      await c.close();
    }
  });

  test("a dead node's actors answer again on the others with their saved state; every acknowledged deposit applied exactly once", async () => {
    const c = await startTestCluster(["n1", "n2", "n3"], { leaseMs: 600 });
    try {
      await c.settled();
      const n1 = c.nodes.get("n1")!;
      const ids = Array.from({ length: 40 }, (_, i) => `account/t:acct${i}`);
      const load = startDepositLoad((id, messageId) => n1.runtime.refById(id).call("deposit", 1, { messageId, timeoutMs: 2000 }), ids);
      await new Promise((r) => setTimeout(r, 300));
      const victim = [...c.nodes.keys()].find((id) => id !== "n1")!;
      const killedAt = Date.now();
      c.crash(victim);
      await c.settled(5000);
      const failoverMs = Date.now() - killedAt;
      await new Promise((r) => setTimeout(r, 300));
      await load.stop();
      assert.ok(load.total > 0);
      for (const id of ids) assert.equal(await n1.runtime.refById(id).call("balance"), load.acked.get(id) ?? 0, `${id}: acknowledged deposits applied exactly once`);
      assert.ok(failoverMs < 5000, `failover took ${failoverMs} ms`);
    } finally {
      await c.close();
    }
  });

  test("moving a partition and draining a node under load lose nothing and apply nothing twice", async () => {
    const c = await startTestCluster(["n1", "n2", "n3"]);
    try {
      await c.settled();
      const n1 = c.nodes.get("n1")!;
      const ids = Array.from({ length: 30 }, (_, i) => `account/t:m${i}`);
      const load = startDepositLoad((id, messageId) => n1.runtime.refById(id).call("deposit", 1, { messageId, timeoutMs: 2000 }), ids);
      await new Promise((r) => setTimeout(r, 200));
      const table = await n1.partitionTable();
      const [p, rec] = [...table.entries()].find(([, r]) => r.owner !== "n3")!;
      await n1.movePartition(p, "n3", { pin: true });
      const deadline = Date.now() + 5000;
      while (!((await n1.partitionTable()).get(p)?.owner === "n3" && c.nodes.get("n3")!.manager.owns(p))) {
        assert.ok(Date.now() < deadline, `partition ${p} moved from ${rec.owner} to n3`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await c.nodes.get("n2")!.drain();
      c.nodes.delete("n2");
      await c.settled(5000);
      await new Promise((r) => setTimeout(r, 200));
      await load.stop();
      assert.ok(load.total > 0);
      for (const id of ids) assert.equal(await n1.runtime.refById(id).call("balance"), load.acked.get(id) ?? 0, id);
      assert.equal(c.nodes.size, 2);
    } finally {
      await c.close();
    }
  });

  test("a node cut off from the cluster for longer than its lease stops serving by itself", async () => {
    const c = await startTestCluster(["n1", "n2"], { leaseMs: 500 });
    try {
      await c.settled();
      const n2 = c.nodes.get("n2")!;
      assert.ok(n2.manager.owned().length > 0);
      c.crash("n2");
      const deadline = Date.now() + 3000;
      while (n2.manager.owned().length > 0 || n2.membership.holdsLease) {
        assert.ok(Date.now() < deadline, "n2 still serves");
        await new Promise((r) => setTimeout(r, 20));
      }
      await c.settled(3000);
      assert.equal((await c.nodes.get("n1")!.partitionTable()).size, 16);
      await n2.stop().catch(() => undefined);
    } finally {
      await c.close();
    }
  });

  test("a reminder fires on the node that owns its actor, also after that node died", async () => {
    const c = await startTestCluster(["n1", "n2", "n3"], { leaseMs: 600 });
    try {
      await c.settled();
      const n1 = c.nodes.get("n1")!;
      const ids = Array.from({ length: 12 }, (_, i) => `account/t:rem${i}`);
      await Promise.all(ids.map((id) => n1.runtime.refById(id).call("depositLater", { amount: 7, dueInMs: 1500 })));
      // Kill a node that hosts some of them before their reminders are due.
      const hosts = await Promise.all(ids.map(async (id) => (await n1.locate(id)).record!.owner));
      const victim = hosts.find((h) => h !== "n1")!;
      assert.ok(hosts.includes(victim));
      c.crash(victim);
      await new Promise((r) => setTimeout(r, 3000));
      for (const id of ids) assert.equal(await n1.runtime.refById(id).call("balance"), 7, `${id}: its reminder fired exactly once`);
    } finally {
      await c.close();
    }
  });
});
