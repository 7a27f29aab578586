import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jetStreamPerFile } from "../../test/support/jetstream-fixture.ts";
import { describeReminderTable } from "../reminders/reminder-table-contract.ts";
import type { Reminder } from "../reminders/reminder-table.ts";
import { createJetStreamReminderTable } from "./jetstream-reminder-table.ts";

const js = jetStreamPerFile();
let buckets = 0;

describeReminderTable("JetStreamReminderTable", async () => {
  const bucket = `reminders_${++buckets}`;
  const table = await createJetStreamReminderTable(js.nc, { bucket });
  return {
    table,
    async cleanup() {
      await table.close();
      await js.jsm.streams.delete(`KV_${bucket}`);
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
    const table = await createJetStreamReminderTable(js.nc, { bucket });
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
      await js.jsm.streams.delete(`KV_${bucket}`);
    }
  });

  it("leaves no delete markers behind", async () => {
    const bucket = `reminders_${++buckets}`;
    const table = await createJetStreamReminderTable(js.nc, { bucket });
    try {
      for (let i = 0; i < 5; i++) await table.upsert(reminder("a/t:x", `r${i}`));
      for (let i = 0; i < 5; i++) assert.equal(await table.delete("a/t:x", `r${i}`), true);
      const info = await js.jsm.streams.info(`KV_${bucket}`);
      assert.equal(info.state.messages, 0);
      assert.equal(js.nc.isClosed(), false);
    } finally {
      await table.close();
      await js.jsm.streams.delete(`KV_${bucket}`);
    }
  });
});
