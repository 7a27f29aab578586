import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsServer, startNatsCluster } from "../../test/support/nats-server.ts";
import { isSwitchboardError } from "../errors.ts";
import {
  connectJetStream,
  createJetStreamMessageLog,
  createJetStreamReminderTable,
  createJetStreamStateStore,
} from "./index.ts";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const textOf = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Retries `action` while it fails with `unavailable` (the client is reconnecting, JetStream electing). */
async function whenAvailable<T>(action: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await action();
    } catch (err) {
      if (!isSwitchboardError(err, "unavailable") || tries >= 150) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("JetStream stores across a server restart", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await NatsServer.start({ jetstream: true });
    nc = await connectJetStream({ servers: server.url });
  });

  after(async () => {
    await nc?.close();
    await server?.close();
  });

  it("keeps saved state, log entries and reminders, and their numbering and fencing", async () => {
    const state = await createJetStreamStateStore(nc, { bucket: "durable_state" });
    const log = await createJetStreamMessageLog(nc, { stream: "DURABLE_LOG", subjectPrefix: "durable" });
    const reminders = await createJetStreamReminderTable(nc, { bucket: "durable_reminders" });
    try {
      const claimed = await state.claim("session/acme:alice");
      const etag = await state.save("session/acme:alice", text("hello"), claimed);
      for (const m of ["a", "b", "c"]) await log.append("inbox/acme:alice", text(m));
      await log.truncate("inbox/acme:alice", 1);
      await log.append("gone", text("x"));
      await log.truncate("gone", 1);
      const reminder = {
        actorId: "session/acme:alice",
        name: "wake",
        method: "onWake",
        arg: { n: 1 },
        dueAtMs: 1_700_000_000_000,
        periodMs: 1000,
        missed: "fire-once" as const,
      };
      await reminders.upsert(reminder);

      await server.restart();

      const loaded = await whenAvailable(() => state.load("session/acme:alice"));
      assert.deepEqual({ ...loaded, value: textOf(loaded.value!) }, { value: "hello", etag, epoch: 1 });
      await assert.rejects(state.save("session/acme:alice", text("x"), claimed), (e) => isSwitchboardError(e, "etag_mismatch"));
      assert.equal((await state.claim("session/acme:alice")).epoch, 2);

      const entries = await whenAvailable(() => log.read("inbox/acme:alice", 1, 10));
      assert.deepEqual(entries.map((e) => [e.seq, textOf(e.data)]), [
        [2, "b"],
        [3, "c"],
      ]);
      assert.equal(await log.append("inbox/acme:alice", text("d")), 4);
      assert.deepEqual(await log.info("gone"), { firstSeq: 2, lastSeq: 1, count: 0 });
      assert.equal(await log.append("gone", text("y")), 2);

      assert.deepEqual({ ...(await whenAvailable(() => reminders.get(reminder.actorId, "wake"))) }, reminder);
    } finally {
      await state.close();
      await log.close();
      await reminders.close();
    }
  });
});

describe("JetStream stores on a three-server cluster with three replicas", () => {
  let servers: NatsServer[] = [];
  let nc: NatsConnection;

  before(async () => {
    servers = await startNatsCluster(3);
    nc = await connectJetStream({ servers: servers.map((s) => s.url) });
  });

  after(async () => {
    await nc?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  it("keeps everything when the leader of the state bucket dies", async () => {
    // Short requests, retried: a fresh cluster takes seconds to elect its JetStream leader.
    const options = { replicas: 3, timeoutMs: 2000 };
    const state = await whenAvailable(() => createJetStreamStateStore(nc, { ...options, bucket: "r3_state" }));
    const log = await whenAvailable(() => createJetStreamMessageLog(nc, { ...options, stream: "R3_LOG", subjectPrefix: "r3" }));
    try {
      const claimed = await whenAvailable(() => state.claim("k"));
      await state.save("k", text("v"), claimed);
      for (const m of ["a", "b"]) await whenAvailable(() => log.append("s", text(m)));

      const jsm = await jetstreamManager(nc);
      const leader = (await jsm.streams.info("KV_r3_state")).cluster?.leader;
      const index = servers.findIndex((_, i) => `n${i + 1}` === leader);
      assert.ok(index >= 0, `leader ${leader} is one of the servers`);
      await servers[index]!.stop();

      const loaded = await whenAvailable(() => state.load("k"));
      assert.equal(textOf(loaded.value!), "v");
      assert.equal(loaded.epoch, 1);
      assert.deepEqual((await whenAvailable(() => log.read("s", 1, 10))).map((e) => textOf(e.data)), ["a", "b"]);
      assert.equal(await whenAvailable(() => log.append("s", text("c"))), 3);
    } finally {
      await state.close();
      await log.close();
    }
  });
});
