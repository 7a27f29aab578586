import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../../test/support/nats-server.ts";
import { describeReminderTable } from "../reminders/reminder-table-contract.ts";
import type { Reminder } from "../reminders/reminder-table.ts";
import { createJetStreamReminderTable } from "./jetstream-reminder-table.ts";

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let buckets = 0;

before(async () => {
  server = await NatsServer.start({ jetstream: true });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  await nc?.close();
  await server?.close();
});

describeReminderTable("JetStreamReminderTable", async () => {
  const bucket = `reminders_${++buckets}`;
  const table = await createJetStreamReminderTable(nc, { bucket });
  return {
    table,
    async cleanup() {
      await table.close();
      await jsm.streams.delete(`KV_${bucket}`);
    },
  };
});

describe("JetStreamReminderTable on JetStream", () => {
  const reminder = (actorId: string, name: string): Reminder => ({
    actorId,
    name,
    method: "onTick",
    arg: { at: name },
    dueAtMs: 1_700_000_000_000,
    periodMs: 0,
    missed: "fire-once",
  });

  it("keeps ids too long for a readable key whole, and lists and filters them", async () => {
    const bucket = `reminders_${++buckets}`;
    const table = await createJetStreamReminderTable(nc, { bucket });
    try {
      const longActor = `session/acme:${"ü".repeat(400)}`;
      const longName = "n".repeat(1000);
      await table.upsert(reminder(longActor, longName));
      await table.upsert(reminder(longActor, "short"));
      await table.upsert(reminder("session/acme:bob", longName));
      assert.equal((await table.get(longActor, longName))?.name, longName);
      assert.deepEqual(
        (await table.listForActor(longActor)).map((r) => r.name),
        [longName, "short"],
      );
      assert.equal((await table.listAll()).length, 3);
      assert.deepEqual(
        (await table.listAll((id) => id === longActor)).map((r) => r.name).sort(),
        [longName, "short"].sort(),
      );
      assert.equal(await table.delete(longActor, longName), true);
      assert.equal(await table.get(longActor, longName), undefined);
    } finally {
      await table.close();
      await jsm.streams.delete(`KV_${bucket}`);
    }
  });

  it("leaves no delete markers behind", async () => {
    const bucket = `reminders_${++buckets}`;
    const table = await createJetStreamReminderTable(nc, { bucket });
    try {
      for (let i = 0; i < 5; i++) await table.upsert(reminder("a/t:x", `r${i}`));
      for (let i = 0; i < 5; i++) assert.equal(await table.delete("a/t:x", `r${i}`), true);
      const info = await jsm.streams.info(`KV_${bucket}`);
      assert.equal(info.state.messages, 0);
      assert.equal(nc.isClosed(), false);
    } finally {
      await table.close();
      await jsm.streams.delete(`KV_${bucket}`);
    }
  });
});
