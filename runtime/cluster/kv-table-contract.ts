import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ErrorCode } from "../errors.ts";
import type { KvChange, KvEntry, KvTable, KvWatch } from "./kv-table.ts";

export interface KvTableFixture {
  readonly table: KvTable;
  /** Another handle on the same table (another connection, for JetStream). */
  readonly second: KvTable;
  /** Lets `ms` pass: a `ManualClock` advance for memory, a real sleep for JetStream. */
  advance(ms: number): Promise<void>;
  /** What the table's clock says now (for `writtenAtMs`). */
  now(): number;
  /** How far `writtenAtMs` may be from `now()` at the write: 0 for a manual clock. */
  readonly clockSlackMs: number;
  /** Closes both handles and removes whatever `make` created. */
  cleanup(): Promise<void>;
}

/**
 * The one suite every `KvTable` runs (STYLE.md §5). Each test gets a fresh, empty
 * table from `make`. Revisions are compared only for order and equality, watches
 * follow the "watch, then snapshot" pattern the cluster uses, and time passes only
 * through `advance`, so the suite holds for an in-process table and a replicated one.
 */
export function describeKvTable(name: string, make: (options: { ttlMs: number }) => Promise<KvTableFixture>): void {
  describe(`KvTable contract: ${name}`, () => {
    const withTable = (ttlMs: number, body: (f: KvTableFixture) => Promise<void>) => async () => {
      const fixture = await make({ ttlMs });
      try {
        await body(fixture);
      } finally {
        await fixture.cleanup();
      }
    };

    it(
      "gets nothing for an absent key and reports its TTL",
      withTable(0, async ({ table }) => {
        assert.equal(await table.get("never"), undefined);
        assert.deepEqual(await table.entries(), []);
        assert.equal(table.ttlMs, 0);
      }),
    );

    it(
      "creates only if absent: a second create fails with etag_mismatch",
      withTable(0, async ({ table }) => {
        const revision = await table.create("coordinator", bytes(1));
        assert.ok(revision > 0);
        await rejectsWith(table.create("coordinator", bytes(2)), "etag_mismatch");
        const entry = await table.get("coordinator");
        assert.deepEqual(pick(entry), { key: "coordinator", value: bytes(1), revision });
        assert.ok(Object.isFrozen(entry));
      }),
    );

    it(
      "lets exactly one of several concurrent creates win",
      withTable(0, async ({ table, second }) => {
        const results = await Promise.allSettled([table, second, table, second, table].map((t, i) => t.create("lease", bytes(i))));
        assertOneWinner(results);
        const winner = results.findIndex((r) => r.status === "fulfilled");
        assert.deepEqual((await table.get("lease"))?.value, bytes(winner));
      }),
    );

    it(
      "updates at the current revision and refuses a stale one",
      withTable(0, async ({ table }) => {
        const first = await table.create("p.1", bytes(1));
        const second = await table.update("p.1", bytes(2), first);
        assert.ok(second > first);
        await rejectsWith(table.update("p.1", bytes(3), first), "etag_mismatch");
        assert.deepEqual(pick(await table.get("p.1")), { key: "p.1", value: bytes(2), revision: second });
        await rejectsWith(table.update("absent", bytes(1), first), "etag_mismatch");
        assert.equal(await table.get("absent"), undefined);
      }),
    );

    it(
      "lets exactly one of several concurrent updates at the same revision win",
      withTable(0, async ({ table, second }) => {
        const revision = await table.create("p.2", bytes(0));
        const results = await Promise.allSettled([table, second, table, second].map((t, i) => t.update("p.2", bytes(i + 1), revision)));
        assertOneWinner(results);
        const won = results.find((r) => r.status === "fulfilled")!.value;
        assert.equal((await second.get("p.2"))?.revision, won);
      }),
    );

    it(
      "puts unconditionally, over an absent key and over a live one",
      withTable(0, async ({ table }) => {
        const first = await table.put("k", bytes(1));
        const second = await table.put("k", bytes(2));
        assert.ok(second > first);
        assert.deepEqual(pick(await table.get("k")), { key: "k", value: bytes(2), revision: second });
      }),
    );

    it(
      "stores empty and binary values as given, and keeps its own copy",
      withTable(0, async ({ table }) => {
        await table.put("empty", new Uint8Array());
        assert.deepEqual((await table.get("empty"))?.value, new Uint8Array());
        const value = bytes(0, 255, 10, 13, 0);
        await table.put("bin", value);
        value[0] = 99;
        assert.deepEqual((await table.get("bin"))?.value, bytes(0, 255, 10, 13, 0));
        assert.deepEqual(
          (await table.entries()).map((e) => e.key),
          ["bin", "empty"],
        );
      }),
    );

    it(
      "deletes without a revision, idempotently; the key can be created again",
      withTable(0, async ({ table }) => {
        const first = await table.create("node.n1", bytes(1));
        await table.delete("node.n1");
        assert.equal(await table.get("node.n1"), undefined);
        assert.deepEqual(await table.entries("node."), []);
        await table.delete("node.n1");
        await table.delete("never-written");
        await rejectsWith(table.update("node.n1", bytes(2), first), "etag_mismatch");
        const again = await table.create("node.n1", bytes(3));
        assert.ok(again > first);
        assert.deepEqual((await table.get("node.n1"))?.value, bytes(3));
      }),
    );

    it(
      "deletes at the current revision only",
      withTable(0, async ({ table }) => {
        const first = await table.create("coordinator", bytes(1));
        const second = await table.update("coordinator", bytes(2), first);
        await rejectsWith(table.delete("coordinator", first), "etag_mismatch");
        assert.equal((await table.get("coordinator"))?.revision, second);
        await table.delete("coordinator", second);
        assert.equal(await table.get("coordinator"), undefined);
        await rejectsWith(table.delete("never-written", first), "etag_mismatch");
      }),
    );

    it(
      "gives strictly increasing revisions across keys and handles",
      withTable(0, async ({ table, second }) => {
        const revisions = [
          await table.create("a", bytes(1)),
          await second.put("b", bytes(1)),
          await table.put("a", bytes(2)),
          await second.create("c", bytes(1)),
        ];
        await table.delete("c");
        revisions.push(await second.update("a", bytes(3), revisions[2]!), await table.put("d", bytes(1)));
        for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i]! > revisions[i - 1]!, `revisions ${revisions.join(", ")}`);
        assert.deepEqual(
          (await table.entries()).map((e) => [e.key, e.revision]),
          [
            ["a", revisions[4]],
            ["b", revisions[1]],
            ["d", revisions[5]],
          ],
        );
      }),
    );

    it(
      "lists live entries, only those whose key starts with the prefix, sorted by key",
      withTable(0, async ({ table }) => {
        for (const key of ["p.1", "p.17", "p.2", "p", "px.1", "node.n1", "node.n2", "coordinator"]) await table.put(key, bytes(key.length));
        await table.delete("node.n2");
        const keys = async (prefix?: string) => (await table.entries(prefix)).map((e) => e.key);
        assert.deepEqual(await keys(), ["coordinator", "node.n1", "p", "p.1", "p.17", "p.2", "px.1"]);
        assert.deepEqual(await keys("p."), ["p.1", "p.17", "p.2"]);
        assert.deepEqual(await keys("p.1"), ["p.1", "p.17"]);
        assert.deepEqual(await keys("p"), ["p", "p.1", "p.17", "p.2", "px.1"]);
        assert.deepEqual(await keys("node."), ["node.n1"]);
        assert.deepEqual(await keys("node.n"), ["node.n1"]);
        assert.deepEqual(await keys("coordinator"), ["coordinator"]);
        assert.deepEqual(await keys("nothing."), []);
        assert.deepEqual(await keys("a..b"), []);
        const [entry] = await table.entries("node.");
        assert.deepEqual(pick(entry), { key: "node.n1", value: bytes(7), revision: (await table.get("node.n1"))!.revision });
      }),
    );

    it(
      "lets a second handle see the first one's writes at once",
      withTable(0, async ({ table, second }) => {
        const revision = await table.create("p.3", bytes(1));
        assert.deepEqual(pick(await second.get("p.3")), { key: "p.3", value: bytes(1), revision });
        const next = await second.update("p.3", bytes(2), revision);
        assert.equal((await table.get("p.3"))?.revision, next);
        await table.delete("p.3", next);
        assert.equal(await second.get("p.3"), undefined);
        assert.deepEqual(await second.entries(), []);
      }),
    );

    it(
      "refuses keys outside the alphabet, bad prefixes and bad revisions with invalid_argument",
      withTable(0, async ({ table }) => {
        for (const key of ["", "a b", ".a", "a.", "a..b", "a*", ">", "a/b", "ключ", "x".repeat(257)]) {
          await rejectsWith(table.get(key), "invalid_argument", key);
          await rejectsWith(table.put(key, bytes(1)), "invalid_argument", key);
          await rejectsWith(table.create(key, bytes(1)), "invalid_argument", key);
        }
        await rejectsWith(table.entries("p.*"), "invalid_argument");
        await rejectsWith(table.entries("p.>"), "invalid_argument");
        const revision = await table.create("k", bytes(1));
        for (const bad of [0, -1, 1.5, Number.NaN]) {
          await rejectsWith(table.update("k", bytes(2), bad), "invalid_argument", String(bad));
          await rejectsWith(table.delete("k", bad), "invalid_argument", String(bad));
        }
        assert.equal((await table.get("k"))?.revision, revision);
        await table.put("a-b_C.9.x-Y", bytes(1));
      }),
    );

    it(
      "watches puts and deletes made after it started, in order, through either handle",
      withTable(0, async ({ table, second }) => {
        await table.put("before", bytes(0));
        const first = table.watch();
        const other = second.watch();
        // The cluster's pattern: watch, then take a snapshot; later changes reach the watch.
        await Promise.all([table.entries(), second.entries()]);
        const a = await table.put("a", bytes(1));
        const b = await second.create("b", bytes(2));
        const a2 = await table.update("a", bytes(3), a);
        await second.delete("a");
        await table.delete("b", b);
        const expected = [
          ["put", "a", [1], a],
          ["put", "b", [2], b],
          ["put", "a", [3], a2],
          ["delete", "a"],
          ["delete", "b"],
        ];
        for (const watch of [first, other]) {
          const changes = await take(watch, 5);
          assert.deepEqual(changes.map(shape), expected);
          const revisions = changes.map(revisionOf);
          for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i]! > revisions[i - 1]!);
          watch.close();
        }
      }),
    );

    it(
      "ends a watch on close, and a handle's close ends only its own watches",
      withTable(0, async ({ table, second }) => {
        const closedByItself = table.watch();
        const pending = closedByItself[Symbol.asyncIterator]().next();
        closedByItself.close();
        assert.deepEqual(await withDeadline(pending, "a closed watch to end"), { done: true, value: undefined });

        const mine = table.watch();
        const theirs = second.watch();
        await Promise.all([table.entries(), second.entries()]);
        const minePending = mine[Symbol.asyncIterator]().next();
        await table.close();
        await table.close();
        assert.deepEqual(await withDeadline(minePending, "the closed handle's watch to end"), { done: true, value: undefined });
        await rejectsWith(table.get("k"), "unavailable");
        await rejectsWith(table.put("k", bytes(1)), "unavailable");
        assert.throws(() => table.watch(), (err: unknown) => hasCode(err, "unavailable"));

        const revision = await second.put("k", bytes(1));
        const [change] = await take(theirs, 1);
        assert.deepEqual(shape(change!), ["put", "k", [1], revision]);
        theirs.close();
      }),
    );

    it(
      "ends a watch when its reader breaks out of the loop",
      withTable(0, async ({ table }) => {
        const watch = table.watch();
        await table.entries();
        await table.put("x", bytes(1));
        for await (const change of watch) {
          assert.equal(change.op, "put");
          break;
        }
        assert.deepEqual(await withDeadline(watch[Symbol.asyncIterator]().next(), "a broken-off watch to end"), { done: true, value: undefined });
      }),
    );

    it(
      "stamps each write with the time it was written",
      withTable(0, async ({ table, advance, now, clockSlackMs }) => {
        const before = now();
        await table.put("t", bytes(1));
        const first = (await table.get("t"))!;
        assert.ok(Math.abs(first.writtenAtMs - before) <= clockSlackMs, `writtenAtMs ${first.writtenAtMs}, now ${before}`);
        await advance(200);
        await table.put("t", bytes(2));
        const second = (await table.get("t"))!;
        assert.ok(second.writtenAtMs - first.writtenAtMs >= 150, `${second.writtenAtMs} - ${first.writtenAtMs}`);
        assert.ok(second.writtenAtMs <= now() + clockSlackMs);
      }),
    );

    it(
      "expires an entry not rewritten within the TTL, and keeps one renewed in time: a lease",
      withTable(1000, async ({ table, second, advance }) => {
        assert.equal(table.ttlMs, 1000);
        const watch = table.watch();
        await table.entries();
        const lapsed = await table.create("node.dead", bytes(1));
        let renewed = await table.create("node.alive", bytes(1));
        const changes = await take(watch, 2);
        for (let i = 0; i < 5; i++) {
          await advance(300);
          if (i === 1) assert.equal((await table.get("node.dead"))?.revision, lapsed, "still live before its TTL");
          renewed = await table.update("node.alive", bytes(i + 2), renewed);
        }
        assert.equal(await table.get("node.dead"), undefined);
        assert.equal(await second.get("node.dead"), undefined);
        assert.deepEqual(
          (await table.entries("node.")).map((e) => e.key),
          ["node.alive"],
        );
        assert.equal((await second.get("node.alive"))?.revision, renewed);
        await rejectsWith(table.update("node.dead", bytes(9), lapsed), "etag_mismatch");
        await rejectsWith(table.delete("node.dead", lapsed), "etag_mismatch");
        const recreated = await second.create("node.dead", bytes(7));
        assert.ok(recreated > renewed);
        assert.deepEqual(pick(await table.get("node.dead")), { key: "node.dead", value: bytes(7), revision: recreated });

        // Expiry is never reported: after the two creates, the watch saw only the renewals and the re-create.
        changes.push(...(await take(watch, 6)));
        assert.deepEqual(
          changes.map((c) => [c.op, keyOf(c)]),
          [["put", "node.dead"], ["put", "node.alive"], ...Array.from({ length: 5 }, () => ["put", "node.alive"]), ["put", "node.dead"]],
        );
        watch.close();
      }),
    );
  });
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function pick(entry: KvEntry | undefined): { key: string; value: Uint8Array; revision: number } | undefined {
  return entry === undefined ? undefined : { key: entry.key, value: new Uint8Array(entry.value), revision: entry.revision };
}

function keyOf(change: KvChange): string {
  return change.op === "put" ? change.entry.key : change.key;
}

function revisionOf(change: KvChange): number {
  return change.op === "put" ? change.entry.revision : change.revision;
}

function shape(change: KvChange): unknown[] {
  return change.op === "put" ? ["put", change.entry.key, [...change.entry.value], change.entry.revision] : ["delete", change.key];
}

function hasCode(err: unknown, code: ErrorCode): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, what = ""): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(hasCode(err, code), `${what}: expected ${code}, got ${String(err)}`);
    return true;
  });
}

function assertOneWinner(results: PromiseSettledResult<number>[]): void {
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, "exactly one winner");
  for (const r of results) if (r.status === "rejected") assert.ok(hasCode(r.reason, "etag_mismatch"), String(r.reason));
}

/** The next `count` changes, without closing the watch; fails after 5 s. */
async function take(watch: KvWatch, count: number): Promise<KvChange[]> {
  const iterator = iteratorOf(watch);
  const out: KvChange[] = [];
  while (out.length < count) {
    const next = await withDeadline(iterator.next(), `change ${out.length + 1} of ${count}`);
    if (next.done === true) assert.fail(`the watch ended after ${out.length} of ${count} changes`);
    out.push(next.value);
  }
  return out;
}

const iterators = new WeakMap<KvWatch, AsyncIterator<KvChange>>();

/** One iterator per watch, so taking changes in several steps reads one stream. */
function iteratorOf(watch: KvWatch): AsyncIterator<KvChange> {
  let iterator = iterators.get(watch);
  if (iterator === undefined) {
    iterator = watch[Symbol.asyncIterator]();
    iterators.set(watch, iterator);
  }
  return iterator;
}

async function withDeadline<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
