import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Account, startDepositLoad } from "../runtime/cluster/test-cluster.ts";
import { connectClusterClient } from "./support/cluster-client.ts";
import { startClusterProcess } from "./support/cluster-processes.ts";
import { NatsServer, startNatsCluster } from "./support/nats-server.ts";
import type { NodeProcess } from "./support/node-process.ts";
import { runCli } from "./support/node-process.ts";
import { ControlClient } from "../bin/grpc-client.ts";

const partitions = 32;
type Client = Awaited<ReturnType<typeof connectClusterClient>>;

/** Runs `fn` over `items` with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function startLoad(client: Client, ids: readonly string[]) {
  return startDepositLoad((id, messageId) => client.runtime.refById(id).call("deposit", 1, { messageId, timeoutMs: 5000 }), ids);
}

async function startCluster(natsUrl: string, name: string, n = 3, extra: { leaseMs?: number; replicas?: number } = {}) {
  const nodes: { node: NodeProcess; grpcPort: number }[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startClusterProcess(`${name}-n${i}`, { natsUrl, clusterName: name, partitions, ...extra }));
  return nodes;
}

async function settled(grpcPort: number, nodes: number, timeoutMs = 15_000) {
  const c = new ControlClient(`127.0.0.1:${grpcPort}`, 3000);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await c.call(c.client.listNodes, {}).catch(() => undefined);
      if (view && view.nodes.length === nodes && view.partitionsUnowned === 0 && view.nodes.every((x) => x.partitions > 0)) return view;
      if (Date.now() > deadline) throw new Error(`cluster did not settle: ${JSON.stringify(view)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    c.close();
  }
}

describe("cluster over NATS, nodes as separate processes", { concurrency: false }, () => {
  test("kill -9 of a node: every actor answers again within 5 s with its state; every acknowledged call applied exactly once", async () => {
    const nats = await NatsServer.start();
    const nodes = await startCluster(nats.url, "death");
    const client = await connectClusterClient({ natsUrl: nats.url, clusterName: "death", partitions, actors: [Account] });
    try {
      await settled(nodes[0]!.grpcPort, 3);
      const ids = Array.from({ length: 10_000 }, (_, i) => `account/t:a${i}`);
      await pool(ids, 200, async (id) => void (await client.runtime.refById(id).call("deposit", 1, { messageId: `init-${id}` })));
      const load = startLoad(client, ids.slice(0, 500));
      await new Promise((r) => setTimeout(r, 1000));
      const victim = nodes[1]!;
      const killedAt = Date.now();
      process.kill(victim.node.pid, "SIGKILL");
      let lastAnswer = 0;
      await pool(ids, 400, async (id) => {
        const balance = (await client.runtime.refById(id).call("balance", undefined, { timeoutMs: 15_000 })) as number;
        assert.ok(balance >= 1, `${id} kept its state`);
        lastAnswer = Math.max(lastAnswer, Date.now());
      });
      const failoverMs = lastAnswer - killedAt;
      await load.stop();
      for (const id of ids) {
        const want = 1 + (load.acked.get(id) ?? 0);
        assert.equal(await client.runtime.refById(id).call("balance"), want, `${id}: every acknowledged deposit applied exactly once`);
      }
      process.stdout.write(`# failover: all 10,000 actors answered ${failoverMs} ms after kill -9; ${load.total} deposits acknowledged (${load.retries} retried) under load\n`);
      assert.ok(failoverMs < 5000, `every actor answered again within 5 s (took ${failoverMs} ms)`);
    } finally {
      await client.close();
      await Promise.all(nodes.map((n) => n.node.stop("SIGKILL")));
      await nats.close();
    }
  });

  test("first calls to one id at the same moment give one activation", async () => {
    const nats = await NatsServer.start();
    const nodes = await startCluster(nats.url, "act");
    const clients = await Promise.all([0, 1, 2].map(() => connectClusterClient({ natsUrl: nats.url, clusterName: "act", partitions, actors: [Account] })));
    try {
      await settled(nodes[0]!.grpcPort, 3);
      await Promise.all(clients.flatMap((c) => Array.from({ length: 100 }, () => c.runtime.refById("account/t:hot").call("deposit", 1))));
      assert.equal(await clients[0]!.runtime.refById("account/t:hot").call("balance"), 300);
      assert.equal(await clients[0]!.runtime.refById("account/t:hot").call("activations"), 1);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(nodes.map((n) => n.node.stop("SIGKILL")));
      await nats.close();
    }
  });

  test("a partition move and a drain, each under load, lose nothing; the drained node exits 0", async () => {
    const nats = await NatsServer.start();
    const nodes = await startCluster(nats.url, "move");
    const client = await connectClusterClient({ natsUrl: nats.url, clusterName: "move", partitions, actors: [Account] });
    try {
      await settled(nodes[0]!.grpcPort, 3);
      const ids = Array.from({ length: 300 }, (_, i) => `account/t:m${i}`);
      const load = startLoad(client, ids);
      await new Promise((r) => setTimeout(r, 500));
      const grpc = String(nodes[0]!.grpcPort);
      const loc = JSON.parse((await runCli(["cluster", "locate", ids[0]!, "--grpc-port", grpc, "--json"])).stdout) as { partition: number; owner: string };
      const to = ["move-n1", "move-n2", "move-n3"].find((n) => n !== loc.owner)!;
      const moved = await runCli(["cluster", "move", String(loc.partition), to, "--grpc-port", grpc]);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match(moved.stdout, new RegExp(`moving from ${loc.owner} to ${to}`));
      const control = new ControlClient(`127.0.0.1:${grpc}`, 3000);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const now = await control.call(control.client.locateActor, { actorId: ids[0]! });
        if (now.owner === to && now.state === "active") break;
        assert.ok(Date.now() < deadline, "the move completed");
        await new Promise((r) => setTimeout(r, 100));
      }
      control.close();
      const drained = await runCli(["cluster", "drain", "move-n3", "--grpc-port", grpc]);
      assert.equal(drained.code, 0, drained.stderr);
      const exit = await new Promise<number | null>((resolve) => nodes[2]!.node.child.once("exit", resolve));
      assert.equal(exit, 0, "the drained node exits 0");
      await settled(nodes[0]!.grpcPort, 2);
      await new Promise((r) => setTimeout(r, 500));
      await load.stop();
      for (const id of ids) assert.equal(await client.runtime.refById(id).call("balance"), load.acked.get(id) ?? 0, id);
    } finally {
      await client.close();
      await Promise.all(nodes.map((n) => n.node.stop("SIGKILL")));
      await nats.close();
    }
  });

  test("after a NATS server restart the nodes reconnect and go on", async () => {
    const nats = await NatsServer.start();
    const nodes = await startCluster(nats.url, "restart", 2, { leaseMs: 3000 });
    const client = await connectClusterClient({ natsUrl: nats.url, clusterName: "restart", partitions, actors: [Account] });
    try {
      await settled(nodes[0]!.grpcPort, 2);
      const ids = Array.from({ length: 100 }, (_, i) => `account/t:r${i}`);
      await pool(ids, 50, async (id) => void (await client.runtime.refById(id).call("deposit", 5, { messageId: `r-${id}` })));
      await nats.restart();
      await pool(ids, 50, async (id) => void (await client.runtime.refById(id).call("deposit", 1, { messageId: `r2-${id}`, timeoutMs: 20_000 })));
      for (const id of ids) assert.equal(await client.runtime.refById(id).call("balance"), 6, id);
      await settled(nodes[0]!.grpcPort, 2);
    } finally {
      await client.close();
      await Promise.all(nodes.map((n) => n.node.stop("SIGKILL")));
      await nats.close();
    }
  });

  test("a 3-server NATS cluster loses a server and the runtime keeps working", async () => {
    const servers = await startNatsCluster(3);
    const urls = servers.map((s) => s.url).join(",");
    const nodes = await startCluster(urls, "natsloss", 3, { replicas: 3, leaseMs: 3000 });
    const client = await connectClusterClient({ natsUrl: servers.map((s) => s.url), clusterName: "natsloss", partitions, actors: [Account] });
    try {
      await settled(nodes[0]!.grpcPort, 3, 30_000);
      const ids = Array.from({ length: 100 }, (_, i) => `account/t:s${i}`);
      await pool(ids, 50, async (id) => void (await client.runtime.refById(id).call("deposit", 2, { messageId: `s-${id}` })));
      await servers[0]!.stop();
      await pool(ids, 50, async (id) => void (await client.runtime.refById(id).call("deposit", 1, { messageId: `s2-${id}`, timeoutMs: 20_000 })));
      for (const id of ids) assert.equal(await client.runtime.refById(id).call("balance", undefined, { timeoutMs: 20_000 }), 3, id);
    } finally {
      await client.close();
      await Promise.all(nodes.map((n) => n.node.stop("SIGKILL")));
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
