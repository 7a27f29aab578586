import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maxCatchUpFires, nextDueAfter, validateReminder } from "./reminder-table.ts";
import type { MissedTickPolicy, Reminder } from "./reminder-table.ts";

const policies: readonly MissedTickPolicy[] = ["skip", "fire-once", "fire-all"];

function reminder(overrides: Partial<Reminder> = {}): Reminder {
  return Object.freeze({
    actorId: "counter/acme:c1",
    name: "tick",
    method: "onTick",
    arg: null,
    dueAtMs: 10_000,
    periodMs: 0,
    missed: "fire-once",
    ...overrides,
  });
}

describe("nextDueAfter", () => {
  it("fires nothing and keeps dueAtMs while not yet due, whatever the policy", () => {
    for (const missed of policies) {
      for (const periodMs of [0, 1000]) {
        assert.deepEqual(nextDueAfter(reminder({ missed, periodMs }), 9_999), { fires: [], next: 10_000 });
      }
    }
  });

  it("counts a tick due exactly now as due", () => {
    assert.deepEqual(nextDueAfter(reminder({ missed: "fire-once" }), 10_000), { fires: [10_000], next: undefined });
    assert.deepEqual(nextDueAfter(reminder({ missed: "fire-once", periodMs: 500 }), 10_000), {
      fires: [10_000],
      next: 10_500,
    });
  });

  describe("one-shot, past due", () => {
    it("skip drops it without firing", () => {
      assert.deepEqual(nextDueAfter(reminder({ missed: "skip" }), 99_999), { fires: [], next: undefined });
      assert.deepEqual(nextDueAfter(reminder({ missed: "skip" }), 10_000), { fires: [], next: undefined });
    });

    it("fire-once and fire-all fire it once, at its due time, and finish it", () => {
      for (const missed of ["fire-once", "fire-all"] as const) {
        assert.deepEqual(nextDueAfter(reminder({ missed }), 99_999), { fires: [10_000], next: undefined });
      }
    });
  });

  describe("periodic, past due", () => {
    // Ticks at 10,000, 11,000, 12,000, 13,000 are at or before 13,250: k = 4.
    const now = 13_250;

    it("skip fires nothing and moves to the first tick after now", () => {
      assert.deepEqual(nextDueAfter(reminder({ missed: "skip", periodMs: 1000 }), now), { fires: [], next: 14_000 });
    });

    it("fire-once fires the newest missed tick", () => {
      assert.deepEqual(nextDueAfter(reminder({ missed: "fire-once", periodMs: 1000 }), now), {
        fires: [13_000],
        next: 14_000,
      });
    });

    it("fire-all fires every missed tick, oldest first", () => {
      assert.deepEqual(nextDueAfter(reminder({ missed: "fire-all", periodMs: 1000 }), now), {
        fires: [10_000, 11_000, 12_000, 13_000],
        next: 14_000,
      });
    });

    it("with one tick missed, fires just that tick", () => {
      for (const missed of ["fire-once", "fire-all"] as const) {
        assert.deepEqual(nextDueAfter(reminder({ missed, periodMs: 1000 }), 10_999), { fires: [10_000], next: 11_000 });
      }
    });

    it("puts next strictly after now when now falls on a tick", () => {
      for (const missed of policies) {
        const { fires, next } = nextDueAfter(reminder({ missed, periodMs: 1000 }), 13_000);
        assert.equal(next, 14_000, missed);
        if (missed !== "skip") assert.equal(fires.at(-1), 13_000, missed);
      }
    });

    it("fire-all keeps only the newest maxCatchUpFires ticks", () => {
      assert.equal(maxCatchUpFires, 1000);
      const r = reminder({ missed: "fire-all", periodMs: 10, dueAtMs: 0 });
      // Ticks 0, 10, …, 14,990: k = 1,500.
      const { fires, next } = nextDueAfter(r, 14_995);
      assert.equal(fires.length, 1000);
      assert.equal(fires[0], 5_000);
      assert.equal(fires.at(-1), 14_990);
      assert.ok(fires.every((t, i) => i === 0 || t - fires[i - 1]! === 10));
      assert.equal(next, 15_000);
      assert.equal(nextDueAfter(r, 9_990).fires.length, 1000);
      assert.equal(nextDueAfter(r, 9_989).fires.length, 999);
    });

    it("is O(1) in the number of missed ticks: a 1 ms period missed for a year", () => {
      const year = 365 * 24 * 3600 * 1000;
      const dueAtMs = 1_700_000_000_000;
      const now = dueAtMs + year + 0.75;
      const started = performance.now();
      for (let i = 0; i < 100; i++) {
        assert.deepEqual(nextDueAfter(reminder({ dueAtMs, periodMs: 1, missed: "skip" }), now), {
          fires: [],
          next: dueAtMs + year + 1,
        });
        assert.deepEqual(nextDueAfter(reminder({ dueAtMs, periodMs: 1, missed: "fire-once" }), now), {
          fires: [dueAtMs + year],
          next: dueAtMs + year + 1,
        });
        const all = nextDueAfter(reminder({ dueAtMs, periodMs: 1, missed: "fire-all" }), now);
        assert.equal(all.fires.length, 1000);
        assert.deepEqual([all.fires[0], all.fires.at(-1), all.next], [dueAtMs + year - 999, dueAtMs + year, dueAtMs + year + 1]);
      }
      assert.ok(performance.now() - started < 500, "300 calls took too long");
    });

    it("stays exact with large, odd periods and timestamps", () => {
      const dueAtMs = 1_699_999_999_997;
      const periodMs = 86_400_007;
      const now = dueAtMs + 123_456 * periodMs + 5;
      assert.deepEqual(nextDueAfter(reminder({ dueAtMs, periodMs, missed: "fire-once" }), now), {
        fires: [dueAtMs + 123_456 * periodMs],
        next: dueAtMs + 123_457 * periodMs,
      });
    });
  });

  it("floors a fractional now: ticks are whole milliseconds", () => {
    assert.deepEqual(nextDueAfter(reminder({ periodMs: 1000 }), 10_999.999), { fires: [10_000], next: 11_000 });
    assert.deepEqual(nextDueAfter(reminder({ periodMs: 1000 }), 9_999.5), { fires: [], next: 10_000 });
  });

  it("leaves the reminder untouched", () => {
    const r = reminder({ periodMs: 1000, missed: "fire-all" });
    const copy = { ...r };
    nextDueAfter(r, 20_000);
    assert.deepEqual({ ...r }, copy);
  });

  it("refuses a bad now or schedule with invalid_argument", () => {
    const invalid = { name: "SwitchboardError", code: "invalid_argument" };
    for (const now of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      assert.throws(() => nextDueAfter(reminder(), now), invalid, String(now));
    }
    assert.throws(() => nextDueAfter(reminder({ missed: "never" as MissedTickPolicy }), 0), invalid);
    assert.throws(() => nextDueAfter(reminder({ periodMs: -1 }), 0), invalid);
    assert.throws(() => nextDueAfter(reminder({ dueAtMs: Number.NaN }), 0), invalid);
  });
});

describe("validateReminder", () => {
  const invalid = { name: "SwitchboardError", code: "invalid_argument" };

  it("accepts valid reminders, including edge values", () => {
    validateReminder(reminder());
    validateReminder(reminder({ dueAtMs: 0, periodMs: 0, missed: "skip", arg: undefined }));
    validateReminder(reminder({ periodMs: Number.MAX_SAFE_INTEGER, missed: "fire-all", arg: { a: [1, "b", null] } }));
    validateReminder(reminder({ actorId: "ünï/日本:🎧", name: "⏰" }));
  });

  it("refuses each malformed field with invalid_argument, naming the reminder", () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const cases: Array<Partial<Reminder>> = [
      { actorId: "" },
      { name: "" },
      { method: "" },
      { actorId: "a\u0000" },
      { name: "\uD800" },
      { dueAtMs: -1 },
      { dueAtMs: Number.NaN },
      { dueAtMs: Number.NEGATIVE_INFINITY },
      { dueAtMs: 0.5 },
      { dueAtMs: 2 ** 53 },
      { periodMs: -1 },
      { periodMs: 2.5 },
      { missed: "sometimes" as MissedTickPolicy },
      { arg: 1n },
      { arg: { deep: [1n] } },
      { arg: cyclic },
      { arg: () => undefined },
    ];
    for (const overrides of cases) {
      assert.throws(() => validateReminder(reminder(overrides)), invalid, JSON.stringify(Object.keys(overrides)));
    }
    assert.throws(() => validateReminder(undefined), invalid);
    assert.throws(() => validateReminder("reminder"), invalid);
    assert.throws(() => validateReminder(reminder({ method: "" })), {
      ...invalid,
      context: { actorId: "counter/acme:c1", name: "tick" },
    });
  });
});
