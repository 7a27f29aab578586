import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NatsServer, startNatsCluster } from "../../test/support/nats-server.ts";
import { isSwitchboardError } from "../errors.ts";
import type { ErrorCode } from "../errors.ts";
import { openJetStreamKvTable } from "./jetstream-kv-table.ts";
import { describeKvTable } from "./kv-table-contract.ts";
import type { KvChange, KvWatch } from "./kv-table.ts";

let server: NatsServer;
let buckets = 0;

before(async () => {
  server = await NatsServer.start();
});

after(async () => {
  await server.close();
});

function freshBucket(): string {
  return `kv_${process.pid}_${++buckets}`;
}

describeKvTable("JetStreamKvTable", async ({ ttlMs }) => {
  const bucket = freshBucket();
  const nc1 = await connect({ servers: server.url });
  const nc2 = await connect({ servers: server.url });
  const table = await openJetStreamKvTable(nc1, { bucket, ttlMs });
  const second = await openJetStreamKvTable(nc2, { bucket });
  return {
    table,
    second,
    advance: (ms) => sleep(ms),
    now: () => Date.now(),
    clockSlackMs: 2000,
    cleanup: async () => {
      await table.close();
      await second.close();
      await (await jetstreamManager(nc2)).streams.delete(`KV_${bucket}`);
      await nc1.close();
      await nc2.close();
    },
  };
});

const bytes = (...values: number[]) => new Uint8Array(values);
const hasCode = (code: ErrorCode) => (err: unknown) => isSwitchboardError(err, code);

describe("JetStreamKvTable", () => {
  it("opens an existing bucket with its TTL and refuses a different one", async () => {
    const nc = await connect({ servers: server.url });
    try {
      const bucket = freshBucket();
      const created = await openJetStreamKvTable(nc, { bucket, ttlMs: 5000 });
      assert.equal(created.ttlMs, 5000);
      await created.put("k", bytes(1));
      const opened = await openJetStreamKvTable(nc, { bucket });
      assert.equal(opened.ttlMs, 5000);
      assert.deepEqual((await opened.get("k"))?.value, bytes(1));
      await assert.rejects(openJetStreamKvTable(nc, { bucket, ttlMs: 1000 }), hasCode("invalid_argument"));
      assert.equal((await openJetStreamKvTable(nc, { bucket: freshBucket() })).ttlMs, 0);
    } finally {
      await nc.close();
    }
  });

  it("refuses bad options with invalid_argument", async () => {
    const nc = await connect({ servers: server.url });
    try {
      for (const options of [{ bucket: "a.b" }, { bucket: "" }, { bucket: "a b" }, { bucket: "ok", ttlMs: -1 }, { bucket: "ok", replicas: 0 }, { bucket: "ok", timeoutMs: 0 }]) {
        await assert.rejects(openJetStreamKvTable(nc, options), hasCode("invalid_argument"), JSON.stringify(options));
      }
      // One server cannot hold three replicas.
      await assert.rejects(openJetStreamKvTable(nc, { bucket: freshBucket(), replicas: 3 }), hasCode("invalid_argument"));
    } finally {
      await nc.close();
    }
  });

  it("fails with unavailable once the connection is closed, and ends its watches with unavailable", async () => {
    const nc = await connect({ servers: server.url });
    const table = await openJetStreamKvTable(nc, { bucket: freshBucket() });
    const watch = table.watch();
    await table.put("k", bytes(1));
    const iterator = watch[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    await nc.close();
    await assert.rejects(table.get("k"), hasCode("unavailable"));
    await assert.rejects(table.put("k", bytes(2)), hasCode("unavailable"));
    await assert.rejects(iterator.next(), hasCode("unavailable"));
    await table.close();
  });

  it("fails with unavailable while the server is down and recovers, watch included, when it is back", async () => {
    const own = await NatsServer.start();
    const nc = await connect({ servers: own.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const table = await openJetStreamKvTable(nc, { bucket: "restart", timeoutMs: 500 });
      const watch = table.watch();
      const revision = await table.put("k", bytes(1));
      await own.stop();
      await assert.rejects(table.get("k"), hasCode("unavailable"));
      await assert.rejects(table.update("k", bytes(2), revision), hasCode("unavailable"));
      await own.restart();
      const next = await eventually(() => table.update("k", bytes(3), revision));
      assert.ok(next > revision);
      assert.deepEqual((await table.get("k"))?.value, bytes(3));
      const seen = await takeUntil(watch, (c) => c.op === "put" && c.entry.revision === next, 30_000);
      assert.deepEqual(
        seen.map((c) => (c.op === "put" ? [...c.entry.value] : c.op)),
        [[1], [3]],
      );
      await table.close();
    } finally {
      await nc.close();
      await own.close();
    }
  });

  it("keeps working on a three-server cluster after the bucket's leader stops", async () => {
    const servers = await startNatsCluster(3);
    const nc = await connect({ servers: servers.map((s) => s.url), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      // The cluster elects its JetStream meta leader a moment after it starts.
      const table = await eventually(() => openJetStreamKvTable(nc, { bucket: "replicated", replicas: 3, ttlMs: 10_000, timeoutMs: 2000 }));
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info("KV_replicated");
      assert.equal(info.config.num_replicas, 3);
      const revision = await table.create("coordinator", bytes(1));
      const leader = servers.find((_, i) => `n${i + 1}` === info.cluster?.leader);
      assert.ok(leader, `leader ${info.cluster?.leader}`);
      await leader.stop();

      const failures: unknown[] = [];
      const entry = await eventually(() => table.get("coordinator"), failures);
      assert.equal(entry?.revision, revision);
      const next = await eventually(() => table.update("coordinator", bytes(2), revision), failures);
      assert.ok(next > revision);
      assert.deepEqual((await table.get("coordinator"))?.value, bytes(2));
      await assert.rejects(table.update("coordinator", bytes(3), revision), hasCode("etag_mismatch"));
      assert.deepEqual(
        (await table.entries()).map((e) => e.key),
        ["coordinator"],
      );
      // While the cluster elected a new leader, every failure was a retryable "not now".
      for (const err of failures) assert.ok(isSwitchboardError(err, "unavailable"), String(err));
      await table.close();
    } finally {
      await nc.close();
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

/** Retries `fn` until it resolves, for up to `ms`; collects the failures. */
async function eventually<T>(fn: () => Promise<T>, failures: unknown[] = [], ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      failures.push(err);
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/** Changes up to and including the first that `last` accepts. */
async function takeUntil(watch: KvWatch, last: (change: KvChange) => boolean, ms: number): Promise<KvChange[]> {
  const out: KvChange[] = [];
  const timer = setTimeout(() => watch.close(), ms);
  try {
    for await (const change of watch) {
      out.push(change);
      if (last(change)) return out;
    }
  } finally {
    clearTimeout(timer);
  }
  assert.fail(`the watch ended after ${out.length} changes`);
}
