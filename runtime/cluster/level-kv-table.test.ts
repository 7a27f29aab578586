import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Level } from "level";
import { ManualClock } from "../clock.ts";
import { openEmbeddedStores } from "../embedded/embedded-stores.ts";
import { isSwitchboardError } from "../errors.ts";
import type { ErrorCode } from "../errors.ts";
import { describeKvTable } from "./kv-table-contract.ts";
import { openLevelKvTable } from "./level-kv-table.ts";
import type { LevelKvBatchOperation, LevelKvDb } from "./level-kv-table.ts";

const encodings = { keyEncoding: "utf8", valueEncoding: "view" } as const;
const bytes = (...values: number[]) => new Uint8Array(values);
const hasCode = (code: ErrorCode) => (err: unknown) => isSwitchboardError(err, code);

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "switchboard-kv-"));
}

/** A level database in a fresh directory, removed by `cleanup`. */
async function tempDb(): Promise<{ db: Level<string, Uint8Array>; sub: (name: string) => LevelKvDb; cleanup: () => Promise<void> }> {
  const dir = await tempDir();
  const db = new Level<string, Uint8Array>(dir, encodings);
  await db.open();
  return {
    db,
    sub: (name) => db.sublevel<string, Uint8Array>(name, encodings),
    cleanup: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeKvTable("LevelKvTable", async ({ ttlMs }) => {
  const clock = new ManualClock();
  const { db, sub, cleanup } = await tempDb();
  // Neighbours on both sides of the table's sublevel, which it must neither read nor touch.
  await db.sublevel<string, Uint8Array>("kv-a", encodings).put("e:coordinator", bytes(9));
  await db.sublevel<string, Uint8Array>("kv-z", encodings).put("meta", bytes(9));
  const table = await openLevelKvTable(sub("kv-members"), { ttlMs, clock });
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
      await cleanup();
    },
  };
});

describeKvTable("LevelKvTable from openEmbeddedStores", async ({ ttlMs }) => {
  const clock = new ManualClock();
  const dir = await tempDir();
  const stores = await openEmbeddedStores({ dataDir: dir, clock });
  const table = await stores.kvTable("members", { ttlMs });
  const second = await stores.kvTable("members");
  return {
    table,
    second,
    advance: (ms) => clock.advance(ms),
    now: () => clock.now(),
    clockSlackMs: 0,
    cleanup: async () => {
      await stores.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LevelKvTable on disk", () => {
  it("keeps every entry with its revision and writtenAtMs across closing and reopening", async () => {
    const { sub, cleanup } = await tempDb();
    try {
      const clock = new ManualClock();
      const first = await openLevelKvTable(sub("kv"), { clock });
      await first.put("p.1", bytes(1, 2, 3));
      await clock.advance(1234);
      await first.create("empty", new Uint8Array());
      const big = new Uint8Array(100_000).map((_, i) => i % 251);
      await first.put("big", big);
      await first.put("gone", bytes(1));
      await first.delete("gone");
      const before = await first.entries();
      await first.close();

      const second = await openLevelKvTable(sub("kv"), { clock });
      try {
        const after = await second.entries();
        assert.deepEqual(after.map(plain), before.map(plain));
        assert.deepEqual(
          after.map((e) => e.key),
          ["big", "empty", "p.1"],
        );
        assert.equal((await second.get("p.1"))!.writtenAtMs + 1234, (await second.get("empty"))!.writtenAtMs);
        assert.deepEqual((await second.get("big"))?.value, big);
        assert.equal(await second.get("gone"), undefined);
        const revision = (await second.get("p.1"))!.revision;
        assert.ok((await second.update("p.1", bytes(4), revision)) > revision);
      } finally {
        await second.close();
      }
    } finally {
      await cleanup();
    }
  });

  it("keeps revisions increasing after a reopen, also when the last writes were deletes", async () => {
    const { sub, cleanup } = await tempDb();
    try {
      const first = await openLevelKvTable(sub("kv"));
      await first.put("a", bytes(1));
      await first.put("b", bytes(1));
      await first.delete("b");
      await first.delete("a");
      // The deletes took revisions 3 and 4; no entry is left to carry them.
      await first.close();

      const second = await openLevelKvTable(sub("kv"));
      const next = await second.put("c", bytes(1));
      assert.equal(next, 5);
      await second.close();
      const third = await openLevelKvTable(sub("kv"));
      assert.ok((await third.create("d", bytes(1))) > next);
      await third.close();
    } finally {
      await cleanup();
    }
  });

  it("keeps an expired entry gone after a reopen, and removes it from disk with a later write", async () => {
    const { sub, cleanup } = await tempDb();
    try {
      const clock = new ManualClock();
      const first = await openLevelKvTable(sub("kv"), { ttlMs: 1000, clock });
      const lapsed = await first.put("node.dead", bytes(1));
      await clock.advance(600);
      await first.put("node.alive", bytes(1));
      await clock.advance(400);
      await first.close();

      const second = await openLevelKvTable(sub("kv"), { clock });
      assert.equal(second.ttlMs, 1000, "the TTL is stored with the table");
      assert.equal(await second.get("node.dead"), undefined);
      assert.deepEqual(
        (await second.entries()).map((e) => e.key),
        ["node.alive"],
      );
      await assert.rejects(second.update("node.dead", bytes(2), lapsed), hasCode("etag_mismatch"));
      await second.put("other", bytes(1));
      assert.deepEqual(await rawKeys(sub("kv")), ["e:node.alive", "e:other", "meta"]);
      await clock.advance(600);
      await second.close();

      const third = await openLevelKvTable(sub("kv"), { ttlMs: 1000, clock });
      assert.deepEqual(
        (await third.entries()).map((e) => e.key),
        ["other"],
      );
      const recreated = await third.create("node.dead", bytes(3));
      assert.ok(recreated > lapsed);
      await third.close();
    } finally {
      await cleanup();
    }
  });

  it("refuses a TTL other than the table's stored one with invalid_argument, and a bad one", async () => {
    const { sub, cleanup } = await tempDb();
    try {
      const table = await openLevelKvTable(sub("kv"), { ttlMs: 5000 });
      await table.put("k", bytes(1));
      await table.close();
      await assert.rejects(openLevelKvTable(sub("kv"), { ttlMs: 0 }), hasCode("invalid_argument"));
      const same = await openLevelKvTable(sub("kv"), { ttlMs: 5000 });
      await same.close();
      for (const ttlMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(openLevelKvTable(sub("other"), { ttlMs }), hasCode("invalid_argument"), String(ttlMs));
      }
      // The TTL is stored when the table is created, before any entry is written.
      const fresh = await openLevelKvTable(sub("fresh"), { ttlMs: 100 });
      await fresh.close();
      await assert.rejects(openLevelKvTable(sub("fresh"), { ttlMs: 200 }), hasCode("invalid_argument"));
      assert.equal((await openLevelKvTable(sub("fresh"))).ttlMs, 100);
    } finally {
      await cleanup();
    }
  });

  it("keeps its own copy of a value passed as a Buffer", async () => {
    const { sub, cleanup } = await tempDb();
    try {
      const table = await openLevelKvTable(sub("kv"));
      const value = Buffer.from([1, 2, 3]);
      const written = table.put("k", value);
      value[0] = 9;
      await written;
      assert.deepEqual((await table.get("k"))?.value, bytes(1, 2, 3));
      await table.close();
    } finally {
      await cleanup();
    }
  });

  it("expires an entry exactly when writtenAtMs + ttlMs is reached", async () => {
    const { sub, cleanup } = await tempDb();
    try {
      const clock = new ManualClock();
      const table = await openLevelKvTable(sub("kv"), { ttlMs: 1000, clock });
      const revision = await table.create("lease", bytes(1));
      await clock.advance(999);
      assert.equal((await table.get("lease"))?.revision, revision);
      await clock.advance(1);
      assert.equal(await table.get("lease"), undefined);
      assert.deepEqual(await table.entries(), []);
      await table.close();
    } finally {
      await cleanup();
    }
  });

  it("reports a record it did not write as internal when opening", async () => {
    const { db, sub, cleanup } = await tempDb();
    try {
      const raw = db.sublevel<string, Uint8Array>("bad-entry", encodings);
      await raw.put("e:k", bytes(7, 1));
      await assert.rejects(openLevelKvTable(sub("bad-entry")), hasCode("internal"));
      await db.sublevel<string, Uint8Array>("bad-meta", encodings).put("meta", bytes(1));
      await assert.rejects(openLevelKvTable(sub("bad-meta")), hasCode("internal"));
      await db.sublevel<string, Uint8Array>("foreign", encodings).put("x", bytes(1));
      await assert.rejects(openLevelKvTable(sub("foreign")), hasCode("internal"));
    } finally {
      await cleanup();
    }
  });

  it("fails with unavailable once the database is closed under it", async () => {
    const dir = await tempDir();
    const db = new Level<string, Uint8Array>(dir, encodings);
    try {
      const table = await openLevelKvTable(db.sublevel<string, Uint8Array>("kv", encodings));
      await table.put("k", bytes(1));
      await db.close();
      await assert.rejects(table.put("k", bytes(2)), hasCode("unavailable"));
      assert.deepEqual((await table.get("k"))?.value, bytes(1));
      await table.close();
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("LevelKvTable over a gated database", () => {
  it("serves a read after the writes called before it, and close() waits for writes in flight", async () => {
    const gated = gatedDb();
    const table = await openLevelKvTable(gated.db);
    const written = table.put("k", bytes(1));
    const read = table.get("k");
    let closed = false;
    const closing = table.close().then(() => (closed = true));
    await settle();
    assert.equal(gated.batches.length, 1);
    assert.equal(closed, false, "close() waits for the write in flight");
    gated.release();
    assert.equal(await written, 1);
    assert.deepEqual((await read)?.value, bytes(1));
    await closing;
    assert.equal(closed, true);
  });

  it("writes one batch per write: the entry, the revision counter, and any purges", async () => {
    const gated = gatedDb();
    gated.release();
    const clock = new ManualClock();
    const table = await openLevelKvTable(gated.db, { ttlMs: 100, clock });
    await table.put("a", bytes(1));
    await clock.advance(100);
    assert.equal(await table.get("a"), undefined);
    await table.delete("b");
    await table.put("c", bytes(2));
    assert.deepEqual(
      gated.batches.map((ops) => ops.map((op) => `${op.type} ${op.key}`)),
      [
        ["put e:a", "put meta"],
        ["del e:a", "put e:c", "put meta"],
      ],
    );
    await table.close();
  });
});

describe("LevelKvTable over a failing database", () => {
  const failure = new Error("disk on fire");
  const empty = (): LevelKvDb["iterator"] => () => ({ nextv: async () => [], close: async () => undefined });
  /** Stores the new table's meta record, then fails every write. */
  const failing = (): LevelKvDb => {
    let batches = 0;
    return {
      open: async () => undefined,
      batch: async () => (batches++ === 0 ? undefined : Promise.reject(failure)),
      iterator: empty(),
    };
  };

  it("turns a failed write into internal with the cause, and changes nothing", async () => {
    const table = await openLevelKvTable(failing());
    const watch = table.watch();
    const internal = { name: "SwitchboardError", code: "internal", cause: failure };
    await assert.rejects(table.put("k", bytes(1)), internal);
    await assert.rejects(table.create("k", bytes(1)), internal);
    await assert.rejects(table.update("k", bytes(1), 1), hasCode("etag_mismatch"));
    assert.equal(await table.get("k"), undefined);
    assert.deepEqual(await table.entries(), []);
    const pending = watch[Symbol.asyncIterator]().next();
    watch.close();
    assert.deepEqual(await pending, { done: true, value: undefined }, "no change was reported");
    await table.close();
  });

  it("takes no revision for a failed write", async () => {
    let fail = false;
    const db: LevelKvDb = { ...failing(), batch: async () => (fail ? Promise.reject(failure) : undefined) };
    const table = await openLevelKvTable(db);
    assert.equal(await table.put("a", bytes(1)), 1);
    fail = true;
    await assert.rejects(table.put("b", bytes(1)), hasCode("internal"));
    fail = false;
    assert.equal(await table.put("b", bytes(1)), 2);
    await table.close();
  });

  it("refuses to open with unavailable when level cannot open, and with internal when it cannot read or write", async () => {
    const cause = new Error("locked");
    await assert.rejects(openLevelKvTable({ ...failing(), open: async () => Promise.reject(cause) }), { name: "SwitchboardError", code: "unavailable", cause });
    await assert.rejects(openLevelKvTable({ ...failing(), batch: async () => Promise.reject(failure) }), { name: "SwitchboardError", code: "internal", cause: failure });
    let closed = 0;
    const unreadable: LevelKvDb = {
      ...failing(),
      iterator: () => ({
        nextv: async () => Promise.reject(failure),
        close: async () => void closed++,
      }),
    };
    await assert.rejects(openLevelKvTable(unreadable), { name: "SwitchboardError", code: "internal", cause: failure });
    assert.equal(closed, 1, "the iterator is closed after a failed read");
  });
});

describe("openEmbeddedStores: kvTable", () => {
  it("shares one table per name, keeps names apart, and keeps tables across a restart", async () => {
    const dir = await tempDir();
    try {
      const stores = await openEmbeddedStores({ dataDir: dir });
      const [subs, subs2, conns] = await Promise.all([stores.kvTable("subscriptions"), stores.kvTable("subscriptions"), stores.kvTable("connections", { ttlMs: 60_000 })]);
      const watch = subs2.watch();
      const revision = await subs.put("t1.s1", bytes(1));
      assert.equal((await subs2.get("t1.s1"))?.revision, revision);
      assert.equal(await conns.get("t1.s1"), undefined);
      assert.equal(conns.ttlMs, 60_000);
      const changes = watch[Symbol.asyncIterator]();
      const first = await changes.next();
      assert.equal(first.done !== true && first.value.op === "put" ? first.value.entry.revision : undefined, revision);
      await assert.rejects(stores.kvTable("connections", { ttlMs: 1000 }), hasCode("invalid_argument"));
      for (const name of ["", "a.b", "a b", "kv/x"]) await assert.rejects(stores.kvTable(name), hasCode("invalid_argument"), name);

      const pending = changes.next();
      await stores.close();
      assert.deepEqual(await pending, { done: true, value: undefined }, "closing the stores ends the tables' watches");
      await assert.rejects(subs.get("t1.s1"), hasCode("unavailable"));
      await assert.rejects(stores.kvTable("subscriptions"), hasCode("unavailable"));

      const reopened = await openEmbeddedStores({ dataDir: dir });
      try {
        const table = await reopened.kvTable("subscriptions");
        assert.deepEqual(plain((await table.get("t1.s1"))!).value, [1]);
        assert.ok((await table.put("t1.s2", bytes(2))) > revision);
        assert.equal((await reopened.kvTable("connections")).ttlMs, 60_000);
        assert.equal(await (await reopened.kvTable("state")).get("t1.s1"), undefined, "kv-state is not the state store");
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("waits for writes in flight before closing the database", async () => {
    const dir = await tempDir();
    try {
      const stores = await openEmbeddedStores({ dataDir: dir });
      const table = await stores.kvTable("registry");
      const writes = Array.from({ length: 50 }, (_, i) => table.put(`c.${i}`, bytes(i)));
      await stores.close();
      assert.equal((await Promise.all(writes)).length, 50);
      const reopened = await openEmbeddedStores({ dataDir: dir });
      assert.equal((await (await reopened.kvTable("registry")).entries("c.")).length, 50);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function plain(entry: { key: string; value: Uint8Array; revision: number; writtenAtMs: number }): { key: string; value: number[]; revision: number; writtenAtMs: number } {
  return { key: entry.key, value: [...entry.value], revision: entry.revision, writtenAtMs: entry.writtenAtMs };
}

async function rawKeys(db: LevelKvDb): Promise<string[]> {
  const iterator = db.iterator(encodings);
  const keys: string[] = [];
  for (;;) {
    const rows = await iterator.nextv(100);
    if (rows.length === 0) break;
    keys.push(...rows.map(([key]) => key));
  }
  await iterator.close();
  return keys;
}

/**
 * An empty database whose batches after the first (the new table's meta record) are
 * recorded and wait for `release()`.
 */
function gatedDb(): { db: LevelKvDb; batches: LevelKvBatchOperation[][]; release: () => void } {
  const batches: LevelKvBatchOperation[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let created = false;
  return {
    batches,
    release: () => release(),
    db: {
      open: async () => undefined,
      iterator: () => ({ nextv: async () => [], close: async () => undefined }),
      batch: async (operations) => {
        if (!created) {
          created = true;
          return;
        }
        batches.push(operations);
        await gate;
      },
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
