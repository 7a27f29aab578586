// LiveConnections on an in-memory table: who acts when a node is lost, and what a
// restarted node does with its previous life's entries. The 3-node cluster test in
// test/mqtt-cluster.test.ts runs it over JetStream with a node killed -9.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, MemoryKvTable } from "../../runtime/index.ts";
import { LiveConnections } from "./live-connections.ts";
import { waitFor } from "./test-clients.ts";

const logger = createLogger({ nodeId: "live-test", level: "silent" });

function node(nodeId: string, table: MemoryKvTable, live: { ids: string[] }, lost: string[]): LiveConnections {
  return new LiveConnections({
    table,
    nodeId,
    liveNodes: async () => live.ids,
    lost: async (tenant, clientId, connectionId) => void lost.push(`${nodeId}:${tenant}/${clientId}/${connectionId}`),
    logger,
    intervalMs: 10,
  });
}

describe("LiveConnections", () => {
  it("when a node leaves membership, the first live node tells its connections' sessions, once", async () => {
    const table = new MemoryKvTable();
    const live = { ids: ["a", "b", "c"] };
    const lost: string[] = [];
    const [a, b, c] = [node("a", table, live, lost), node("b", table, live, lost), node("c", table, live, lost)];
    for (const n of [a, b, c]) await n.start();
    a.add("t1", "dev-1", "conn-1");
    a.add("t1", "dev-2", "conn-2");
    b.add("t1", "dev-3", "conn-3");
    a.add("t1", "dev-4", "conn-4");
    a.remove("conn-4"); // ended here, its session told
    await waitFor(async () => (await table.entries("c.")).length === 3, "three entries");
    await new Promise((r) => setTimeout(r, 50)); // every node has seen a, b and c live
    live.ids = ["b", "c"];
    await waitFor(() => lost.length === 2, "a's two connections told");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(lost.sort(), ["b:t1/dev-1/conn-1", "b:t1/dev-2/conn-2"], "told by b, the first live node; only a's live connections");
    assert.deepEqual((await table.entries("c.")).map((e) => e.key), ["c.b.conn-3"]);
    for (const n of [a, b, c]) await n.stop();
  });

  it("a node cut off (not in the live set it reads) does not act for the cluster", async () => {
    const table = new MemoryKvTable();
    const live = { ids: ["a", "b"] };
    const lost: string[] = [];
    const [a, b] = [node("a", table, live, lost), node("b", table, live, lost)];
    await a.start();
    await b.start();
    b.add("t1", "dev", "conn-b");
    await new Promise((r) => setTimeout(r, 50));
    live.ids = []; // everyone reads an empty membership, as a node cut off from NATS would
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(lost, []);
    await a.stop();
    await b.stop();
  });

  it("a restarted node ends its previous life's connections before it accepts new ones", async () => {
    const table = new MemoryKvTable();
    const live = { ids: ["a"] };
    const lost: string[] = [];
    const before = node("a", table, live, lost);
    await before.start();
    before.add("t1", "dev", "old-conn");
    await waitFor(async () => (await table.entries("c.a.")).length === 1, "the entry");
    // killed -9: nothing removed; the same node id starts again
    const again = node("a", table, live, lost);
    await again.start();
    assert.deepEqual(lost, ["a:t1/dev/old-conn"]);
    assert.deepEqual(await table.entries("c."), []);
    await before.stop();
    await again.stop();
  });
});
