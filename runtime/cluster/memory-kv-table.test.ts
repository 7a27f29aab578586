import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../clock.ts";
import { isSwitchboardError } from "../errors.ts";
import { describeKvTable } from "./kv-table-contract.ts";
import { MemoryKvStore, MemoryKvTable } from "./memory-kv-table.ts";

describeKvTable("MemoryKvTable", async ({ ttlMs }) => {
  const clock = new ManualClock();
  const table = new MemoryKvTable({ ttlMs, clock });
  const second = table.openHandle();
  return {
    table,
    second,
    advance: (ms) => clock.advance(ms),
    now: () => clock.now(),
    clockSlackMs: 0,
    cleanup: async () => {
      await table.close();
      await second.close();
    },
  };
});

describeKvTable("MemoryKvTable from a MemoryKvStore", async ({ ttlMs }) => {
  const clock = new ManualClock();
  const store = new MemoryKvStore();
  const table = store.table("members", { ttlMs, clock });
  const second = store.table("members");
  return {
    table,
    second,
    advance: (ms) => clock.advance(ms),
    now: () => clock.now(),
    clockSlackMs: 0,
    cleanup: async () => {
      await table.close();
      await second.close();
    },
  };
});

const bytes = (...values: number[]) => new Uint8Array(values);

describe("MemoryKvTable", () => {
  it("expires an entry exactly when writtenAtMs + ttlMs is reached", async () => {
    const clock = new ManualClock();
    const table = new MemoryKvTable({ ttlMs: 1000, clock });
    const revision = await table.create("lease", bytes(1));
    await clock.advance(999);
    assert.equal((await table.get("lease"))?.revision, revision);
    await clock.advance(1);
    assert.equal(await table.get("lease"), undefined);
    assert.deepEqual(await table.entries(), []);
  });

  it("keeps entries forever with ttlMs 0 (the default)", async () => {
    const clock = new ManualClock();
    const table = new MemoryKvTable({ clock });
    assert.equal(table.ttlMs, 0);
    await table.put("k", bytes(1));
    await clock.advance(365 * 24 * 3600 * 1000);
    assert.deepEqual((await table.get("k"))?.value, bytes(1));
  });

  it("does not report a delete of a key that has no live entry", async () => {
    const clock = new ManualClock();
    const table = new MemoryKvTable({ ttlMs: 100, clock });
    const watch = table.watch();
    await table.put("gone", bytes(1));
    await clock.advance(100);
    await table.delete("gone");
    await table.delete("never");
    const revision = await table.put("next", bytes(2));
    const seen = [];
    for await (const change of watch) {
      seen.push(change);
      if (seen.length === 2) break;
    }
    assert.deepEqual(
      seen.map((c) => (c.op === "put" ? [c.op, c.entry.key, c.entry.revision] : [c.op, c.key])),
      [
        ["put", "gone", revision - 1],
        ["put", "next", revision],
      ],
    );
  });

  it("refuses a bad ttlMs with invalid_argument", () => {
    for (const ttlMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new MemoryKvTable({ ttlMs }), (err: unknown) => isSwitchboardError(err, "invalid_argument"), String(ttlMs));
    }
  });
});

describe("MemoryKvStore", () => {
  it("shares one table per name and keeps tables apart", async () => {
    const store = new MemoryKvStore();
    const a1 = store.table("a");
    const a2 = store.table("a");
    const b = store.table("b");
    const revision = await a1.put("k", bytes(1));
    assert.equal((await a2.get("k"))?.revision, revision);
    assert.equal(await b.get("k"), undefined);
    await a1.close();
    assert.equal((await store.table("a").get("k"))?.revision, revision);
  });

  it("refuses a handle whose options differ from the table's", () => {
    const clock = new ManualClock();
    const store = new MemoryKvStore();
    store.table("leases", { ttlMs: 1000, clock });
    assert.equal(store.table("leases", { ttlMs: 1000, clock }).ttlMs, 1000);
    assert.equal(store.table("leases").clock, clock);
    const refused = (err: unknown) => isSwitchboardError(err, "invalid_argument");
    assert.throws(() => store.table("leases", { ttlMs: 2000 }), refused);
    assert.throws(() => store.table("leases", { clock: new ManualClock() }), refused);
  });
});
