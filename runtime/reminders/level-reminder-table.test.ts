import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Level } from "level";
import { createLevelReminderTable, LevelReminderTable } from "./level-reminder-table.ts";
import type { LevelReminderDb } from "./level-reminder-table.ts";
import { describeReminderTable } from "./reminder-table-contract.ts";
import type { Reminder } from "./reminder-table.ts";

const encodings = { keyEncoding: "utf8", valueEncoding: "utf8" } as const;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "switchboard-reminders-"));
}

function reminder(overrides: Partial<Reminder> = {}): Reminder {
  return {
    actorId: "counter/acme:c1",
    name: "tick",
    method: "onTick",
    arg: { step: 1 },
    dueAtMs: 1_700_000_000_000,
    periodMs: 60_000,
    missed: "fire-once",
    ...overrides,
  };
}

describeReminderTable("LevelReminderTable", async () => {
  const dir = await tempDir();
  const table = await createLevelReminderTable({ path: dir });
  return {
    table,
    async cleanup() {
      await table.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeReminderTable("LevelReminderTable on a sublevel", async () => {
  const dir = await tempDir();
  const db = new Level<string, string>(dir, encodings);
  // A neighbour with keys on both sides of the table's sublevel, which no scan may see.
  await db.sublevel<string, string>("a", encodings).put("counter/acme:c1\u0000tick", "neighbour");
  await db.sublevel<string, string>("z", encodings).put("counter/acme:c1\u0000tick", "neighbour");
  const table = await createLevelReminderTable({ db: db.sublevel<string, string>("reminders", encodings) });
  return {
    table,
    async cleanup() {
      await table.close();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LevelReminderTable on disk", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps reminders across closing and reopening", async () => {
    const kept = [
      reminder(),
      reminder({ name: "once", periodMs: 0, missed: "skip", arg: null }),
      reminder({ actorId: "ünï cödé/日本:🎧", name: "🎧", arg: { nested: [1, { a: "b" }] }, missed: "fire-all" }),
    ];
    const first = await createLevelReminderTable({ path: dir });
    for (const r of kept) await first.upsert(r);
    await first.upsert(reminder({ name: "gone" }));
    assert.equal(await first.delete("counter/acme:c1", "gone"), true);
    await first.close();

    const second = await createLevelReminderTable({ path: dir });
    try {
      for (const r of kept) assert.deepEqual({ ...(await second.get(r.actorId, r.name)) }, r);
      assert.equal(await second.get("counter/acme:c1", "gone"), undefined);
      assert.deepEqual(
        (await second.listForActor("counter/acme:c1")).map((r) => r.name),
        ["once", "tick"],
      );
      assert.equal((await second.listAll()).length, kept.length);
      assert.equal(await second.delete("counter/acme:c1", "tick"), true);
    } finally {
      await second.close();
    }
  });

  it("refuses a second table on a directory already open, with unavailable", async () => {
    const owner = await createLevelReminderTable({ path: dir });
    try {
      await assert.rejects(createLevelReminderTable({ path: dir }), { name: "SwitchboardError", code: "unavailable" });
    } finally {
      await owner.close();
    }
  });

  it("keeps tables on sibling sublevels apart and leaves a borrowed db open", async () => {
    const db = new Level<string, string>(dir, encodings);
    try {
      const a = new LevelReminderTable({ db: db.sublevel<string, string>("a", encodings) });
      const b = new LevelReminderTable({ db: db.sublevel<string, string>("b", encodings) });
      await a.upsert(reminder());
      assert.equal(await b.get("counter/acme:c1", "tick"), undefined);
      assert.deepEqual(await b.listAll(), []);
      await a.close();
      await b.close();
      assert.equal(db.status, "open");
    } finally {
      await db.close();
    }
  });

  it("reports a stored record it cannot read as internal, on get and on scans", async () => {
    const db = new Level<string, string>(dir, encodings);
    try {
      const sub = db.sublevel<string, string>("corrupt", encodings);
      const table = new LevelReminderTable({ db: sub });
      await table.upsert(reminder({ name: "good" }));
      await sub.put("counter/acme:c1\u0000bad", "{not json");
      await sub.put("counter/acme:c1\u0000old", JSON.stringify({ v: 99, method: "m" }));
      await sub.put("no-separator", JSON.stringify({ v: 1 }));
      const internal = { name: "SwitchboardError", code: "internal" };
      await assert.rejects(table.get("counter/acme:c1", "bad"), internal);
      await assert.rejects(table.get("counter/acme:c1", "old"), internal);
      await assert.rejects(table.listForActor("counter/acme:c1"), internal);
      await assert.rejects(table.listAll(), internal);
      assert.equal((await table.get("counter/acme:c1", "good"))?.name, "good");
      await table.close();
    } finally {
      await db.close();
    }
  });
});

describe("LevelReminderTable over a failing database", () => {
  const failure = new Error("disk on fire");
  const failing: LevelReminderDb = {
    status: "open",
    open: async () => undefined,
    close: async () => undefined,
    get: async () => Promise.reject(failure),
    put: async () => Promise.reject(failure),
    del: async () => Promise.reject(failure),
    iterator: () => ({ nextv: async () => Promise.reject(failure), close: async () => undefined }),
  };

  it("turns every level failure into internal, keeping the cause", async () => {
    const table = new LevelReminderTable({ db: failing });
    const internal = { name: "SwitchboardError", code: "internal", cause: failure };
    await assert.rejects(table.upsert(reminder()), internal);
    await assert.rejects(table.get("counter/acme:c1", "tick"), internal);
    await assert.rejects(table.delete("counter/acme:c1", "tick"), internal);
    await assert.rejects(table.listForActor("counter/acme:c1"), internal);
    await assert.rejects(table.listAll(), internal);
    await table.close();
  });

  it("refuses to open with unavailable when level cannot open", async () => {
    const cause = new Error("locked");
    const table = new LevelReminderTable({ db: { ...failing, open: async () => Promise.reject(cause) } });
    await assert.rejects(table.open(), { name: "SwitchboardError", code: "unavailable", cause });
  });

  it("closes the scan iterator when a filter throws", async () => {
    let closed = 0;
    const batches = [[["a/t:x\u0000n", JSON.stringify({ v: 1, method: "m", dueAtMs: 0, periodMs: 0, missed: "skip" })]]];
    const db: LevelReminderDb = {
      ...failing,
      iterator: () => ({
        nextv: async () => (batches.shift() ?? []) as Array<[string, string]>,
        close: async () => {
          closed++;
        },
      }),
    };
    const table = new LevelReminderTable({ db });
    const boom = new Error("filter failed");
    await assert.rejects(
      table.listAll(() => {
        throw boom;
      }),
      (err) => err === boom,
    );
    assert.equal(closed, 1);
    await table.close();
  });
});
