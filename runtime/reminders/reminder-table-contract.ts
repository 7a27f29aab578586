import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ErrorCode } from "../errors.ts";
import type { Reminder, ReminderTable } from "./reminder-table.ts";

export interface ReminderTableFixture {
  readonly table: ReminderTable;
  /** Closes the table and removes whatever `make` created. */
  cleanup(): Promise<void>;
}

/**
 * The one suite every `ReminderTable` runs (STYLE.md §5). Each test gets a fresh,
 * empty table from `make`. It assumes nothing an out-of-process backend could not
 * honour: reminders are compared by value, `listAll` order is never relied on, and
 * concurrency is exercised only through the API.
 */
export function describeReminderTable(name: string, make: () => Promise<ReminderTableFixture>): void {
  describe(`ReminderTable contract: ${name}`, () => {
    let table: ReminderTable;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ table, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    it("gets undefined for a reminder never stored", async () => {
      assert.equal(await table.get("counter/acme:c1", "tick"), undefined);
      assert.deepEqual(await table.listForActor("counter/acme:c1"), []);
      assert.deepEqual(await table.listAll(), []);
    });

    it("round-trips every field, with object, nested, array, scalar and null args", async () => {
      const args: unknown[] = [
        { amount: 5 },
        { nested: { deep: [1, { x: "y" }, null], flag: true }, list: [] },
        [1, "two", { three: 3 }],
        "text",
        42.5,
        false,
        null,
      ];
      for (const [i, arg] of args.entries()) {
        const stored = reminder({ name: `r${i}`, arg, dueAtMs: 1_700_000_000_000 + i, periodMs: i * 1000 });
        await table.upsert(stored);
        assert.deepEqual({ ...(await table.get(stored.actorId, stored.name)) }, stored, `arg ${JSON.stringify(arg)}`);
      }
    });

    it("keeps every missed-tick policy and the edge values of the schedule", async () => {
      const edges = [
        reminder({ name: "skip", missed: "skip", dueAtMs: 0, periodMs: 0 }),
        reminder({ name: "once", missed: "fire-once", dueAtMs: Number.MAX_SAFE_INTEGER, periodMs: 1 }),
        reminder({ name: "all", missed: "fire-all", periodMs: Number.MAX_SAFE_INTEGER }),
      ];
      for (const r of edges) await table.upsert(r);
      for (const r of edges) assert.deepEqual({ ...(await table.get(r.actorId, r.name)) }, r);
    });

    it("keeps an undefined arg as undefined", async () => {
      await table.upsert(reminder({ arg: undefined }));
      const got = await table.get(actorId, "tick");
      assert.ok(got !== undefined);
      assert.equal(got.arg, undefined);
    });

    it("stores arg as JSON: normalised as JSON would, and a copy both ways", async () => {
      const arg = { when: new Date(0), gone: undefined, nan: Number.NaN, list: [undefined, 1], keep: { n: 1 } };
      await table.upsert(reminder({ arg }));
      arg.keep.n = 2;
      const first = await table.get(actorId, "tick");
      assert.deepEqual(first?.arg, { when: "1970-01-01T00:00:00.000Z", nan: null, list: [null, 1], keep: { n: 1 } });
      (first!.arg as { keep: { n: number } }).keep.n = 3;
      const second = await table.get(actorId, "tick");
      assert.deepEqual((second!.arg as { keep: unknown }).keep, { n: 1 });
      assert.notEqual(second!.arg, first!.arg);
    });

    it("returns frozen reminders with exactly the seven fields", async () => {
      await table.upsert({ ...reminder(), extra: "not stored" } as Reminder);
      const got = await table.get(actorId, "tick");
      assert.ok(got !== undefined && Object.isFrozen(got));
      assert.deepEqual(Object.keys(got).sort(), ["actorId", "arg", "dueAtMs", "method", "missed", "name", "periodMs"]);
      const [listed] = await table.listForActor(actorId);
      assert.ok(Object.isFrozen(listed));
    });

    it("replaces a reminder with the same actor and name", async () => {
      await table.upsert(reminder({ method: "old", arg: { v: 1 }, periodMs: 1000, missed: "skip" }));
      const replacement = reminder({ method: "new", arg: { v: 2 }, dueAtMs: 5, periodMs: 0, missed: "fire-all" });
      await table.upsert(replacement);
      assert.deepEqual({ ...(await table.get(actorId, "tick")) }, replacement);
      assert.equal((await table.listForActor(actorId)).length, 1);
      assert.equal((await table.listAll()).length, 1);
    });

    it("upserts idempotently", async () => {
      const r = reminder();
      await table.upsert(r);
      await table.upsert(r);
      assert.deepEqual(
        (await table.listAll()).map((x) => ({ ...x })),
        [r],
      );
    });

    it("deletes: true when it existed, false after, false for one never stored", async () => {
      await table.upsert(reminder({ name: "a" }));
      await table.upsert(reminder({ name: "b" }));
      assert.equal(await table.delete(actorId, "a"), true);
      assert.equal(await table.get(actorId, "a"), undefined);
      assert.equal(await table.delete(actorId, "a"), false);
      assert.equal(await table.delete(actorId, "never"), false);
      assert.equal(await table.delete("other/t:x", "b"), false);
      assert.deepEqual(
        (await table.listForActor(actorId)).map((r) => r.name),
        ["b"],
      );
      assert.equal(await table.delete(actorId, "b"), true);
      assert.deepEqual(await table.listForActor(actorId), []);
      assert.deepEqual(await table.listAll(), []);
    });

    it("can store a reminder again after deleting it", async () => {
      await table.upsert(reminder({ method: "first" }));
      await table.delete(actorId, "tick");
      await table.upsert(reminder({ method: "second" }));
      assert.equal((await table.get(actorId, "tick"))?.method, "second");
    });

    it("applies concurrent calls on one reminder in call order", async () => {
      const writes = [1, 2, 3, 4, 5].map((v) => table.upsert(reminder({ arg: { v } })));
      await Promise.all(writes);
      assert.deepEqual((await table.get(actorId, "tick"))?.arg, { v: 5 });

      const [, deleted, read] = await Promise.all([
        table.upsert(reminder({ arg: { v: 6 } })),
        table.delete(actorId, "tick"),
        table.get(actorId, "tick"),
      ]);
      assert.equal(deleted, true);
      assert.equal(read, undefined);
      const [first, second] = await Promise.all([table.delete(actorId, "tick"), table.delete(actorId, "tick")]);
      assert.deepEqual([first, second], [false, false]);
    });

    it("lists only the given actor's reminders, by name, even when ids share a prefix", async () => {
      const ids = ["a/t:x", "a/t:xy", "a/t:", "a/t:x/y", "a/t:x\u0001", "a/t:w", "a/t:x ", "a/t"];
      for (const id of ids) {
        for (const name of ["n2", "n1"]) await table.upsert(reminder({ actorId: id, name, arg: { id, name } }));
      }
      for (const id of ids) {
        const listed = await table.listForActor(id);
        assert.deepEqual(
          listed.map((r) => [r.actorId, r.name, r.arg]),
          [
            [id, "n1", { id, name: "n1" }],
            [id, "n2", { id, name: "n2" }],
          ],
          id,
        );
      }
      assert.deepEqual(await table.listForActor("a/t:xyz"), []);
      assert.deepEqual(await table.listForActor("a"), []);
    });

    it("orders listForActor by Unicode code point, not by UTF-16 code unit", async () => {
      // U+FF21 sorts below U+1F600 by code point, above it by UTF-16 code unit (0xD83D).
      const names = ["\u{1F600}", "\uFF21", "b", "B", "a b", "ab", "é", "z"];
      for (const name of names) await table.upsert(reminder({ name }));
      assert.deepEqual(
        (await table.listForActor(actorId)).map((r) => r.name),
        ["B", "a b", "ab", "b", "z", "é", "\uFF21", "\u{1F600}"],
      );
    });

    it("lists everything, and only the actors the filter admits", async () => {
      const stored: Reminder[] = [];
      for (let a = 0; a < 30; a++) {
        for (let n = 0; n < 20; n++) {
          const r = reminder({ actorId: `counter/acme:c${a}`, name: `r${n}`, dueAtMs: a * 100 + n });
          stored.push(r);
        }
      }
      await Promise.all(stored.map((r) => table.upsert(r)));

      assert.deepEqual(sorted(await table.listAll()), sorted(stored));
      assert.deepEqual(sorted(await table.listAll(() => true)), sorted(stored));
      assert.deepEqual(await table.listAll(() => false), []);

      const seen = new Set<string>();
      const even = await table.listAll((id) => {
        seen.add(id);
        return Number(id.slice("counter/acme:c".length)) % 2 === 0;
      });
      assert.deepEqual(sorted(even), sorted(stored.filter((r) => Number(r.actorId.slice(14)) % 2 === 0)));
      assert.equal(seen.size, 30);
    });

    it("lets a filter's own error through", async () => {
      await table.upsert(reminder());
      const boom = new Error("filter failed");
      await assert.rejects(
        table.listAll(() => {
          throw boom;
        }),
        (err) => err === boom,
      );
      assert.equal((await table.listAll()).length, 1);
    });

    it("refuses invalid reminders with invalid_argument and stores nothing", async () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const invalid: Array<[string, unknown]> = [
        ["empty actorId", reminder({ actorId: "" })],
        ["empty name", reminder({ name: "" })],
        ["empty method", reminder({ method: "" })],
        ["actorId with U+0000", reminder({ actorId: "a/t:x\u0000y" })],
        ["name with U+0000", reminder({ name: "a\u0000" })],
        ["lone surrogate in actorId", reminder({ actorId: "a/t:\uD800" })],
        ["lone surrogate in name", reminder({ name: "\uDC00x" })],
        ["non-string actorId", reminder({ actorId: 7 as unknown as string })],
        ["non-string method", reminder({ method: undefined as unknown as string })],
        ["NaN dueAtMs", reminder({ dueAtMs: Number.NaN })],
        ["infinite dueAtMs", reminder({ dueAtMs: Number.POSITIVE_INFINITY })],
        ["negative dueAtMs", reminder({ dueAtMs: -1 })],
        ["string dueAtMs", reminder({ dueAtMs: "5" as unknown as number })],
        ["negative periodMs", reminder({ periodMs: -1000 })],
        ["fractional periodMs", reminder({ periodMs: 1.5 })],
        ["NaN periodMs", reminder({ periodMs: Number.NaN })],
        ["unknown missed", reminder({ missed: "fire-some" as Reminder["missed"] })],
        ["BigInt arg", reminder({ arg: { n: 10n } })],
        ["cyclic arg", reminder({ arg: cyclic })],
        ["function arg", reminder({ arg: () => 1 })],
        ["symbol arg", reminder({ arg: Symbol("s") })],
        ["null reminder", null],
      ];
      for (const [what, r] of invalid) {
        await rejectsWith(table.upsert(r as Reminder), "invalid_argument", what);
      }
      assert.deepEqual(await table.listAll(), []);
    });

    it("refuses invalid ids and filters on reads and deletes with invalid_argument", async () => {
      for (const [a, n] of [
        ["", "tick"],
        [actorId, ""],
        ["a\u0000b", "tick"],
        [actorId, "x\u0000"],
        ["\uD83D", "tick"],
      ] as const) {
        await rejectsWith(table.get(a, n), "invalid_argument", `get ${JSON.stringify([a, n])}`);
        await rejectsWith(table.delete(a, n), "invalid_argument", `delete ${JSON.stringify([a, n])}`);
      }
      for (const a of ["", "a\u0000", "\uDFFF"]) {
        await rejectsWith(table.listForActor(a), "invalid_argument", `listForActor ${JSON.stringify(a)}`);
      }
      await rejectsWith(table.listAll("all" as unknown as () => boolean), "invalid_argument", "listAll");
    });

    it("accepts unicode, '/', ':' and spaces in ids, each independent", async () => {
      const ids = ["ünï cödé/日本:🎧", "chat/ακμή:Ω", "a b/c d:e f", "x".repeat(300)];
      const names = ["⏰ wake-up", "日次", "a:b/c", "🎧"];
      for (const id of ids) {
        for (const name of names) await table.upsert(reminder({ actorId: id, name, arg: `${id}|${name}` }));
      }
      for (const id of ids) {
        for (const name of names) {
          const got = await table.get(id, name);
          assert.deepEqual([got?.actorId, got?.name, got?.arg], [id, name, `${id}|${name}`]);
        }
        assert.equal((await table.listForActor(id)).length, names.length);
      }
      assert.equal((await table.listAll()).length, ids.length * names.length);
      assert.deepEqual(
        new Set((await table.listAll((id) => id.startsWith("ünï"))).map((r) => r.actorId)),
        new Set(["ünï cödé/日本:🎧"]),
      );
    });

    it("refuses every call with unavailable once closed, and closes twice", async () => {
      await table.upsert(reminder());
      await table.close();
      await table.close();
      await rejectsWith(table.upsert(reminder()), "unavailable", "upsert");
      await rejectsWith(table.delete(actorId, "tick"), "unavailable", "delete");
      await rejectsWith(table.get(actorId, "tick"), "unavailable", "get");
      await rejectsWith(table.listForActor(actorId), "unavailable", "listForActor");
      await rejectsWith(table.listAll(), "unavailable", "listAll");
    });

    it("finishes calls in flight before close resolves", async () => {
      const writes = Array.from({ length: 20 }, (_, i) => table.upsert(reminder({ name: `r${i}` })));
      const listed = table.listAll();
      await table.close();
      await Promise.all(writes);
      assert.ok((await listed).length <= 20);
    });
  });
}

const actorId = "counter/acme:c1";

function reminder(overrides: Partial<Reminder> = {}): Reminder {
  return {
    actorId,
    name: "tick",
    method: "onTick",
    arg: { step: 1 },
    dueAtMs: 1_700_000_000_000,
    periodMs: 60_000,
    missed: "fire-once",
    ...overrides,
  };
}

function sorted(reminders: readonly Reminder[]): Reminder[] {
  const key = (r: Reminder) => JSON.stringify([r.actorId, r.name]);
  return reminders.map((r) => ({ ...r })).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message: string): Promise<void> {
  await assert.rejects(promise, { name: "SwitchboardError", code }, message);
}
