import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defineActor } from "../actor/actor-definition.ts";
import { ActorRuntime } from "../actor/actor-runtime.ts";
import { ManualClock } from "../clock.ts";
import { MemoryStateStore, type StateStore } from "../state/index.ts";
import { createLogger } from "../telemetry/logger.ts";
import { MemoryReminderTable } from "./memory-reminder-table.ts";
import { ReminderService } from "./reminder-service.ts";
import type { ReminderTable } from "./reminder-table.ts";

const Alarm = defineActor({
  type: "alarm",
  initialState: () => ({ rings: [] as number[] }),
  handlers: {
    arm: (ctx, o: { name: string; dueInMs: number; periodMs?: number; missed?: "skip" | "fire-once" | "fire-all" }) =>
      ctx.reminders.set(o.name, { dueInMs: o.dueInMs, periodMs: o.periodMs, method: "ring", missed: o.missed }),
    disarm: (ctx, name: string) => ctx.reminders.cancel(name),
    ring: (ctx) => void ctx.state.rings.push(ctx.clock.now()),
    rings: (ctx) => ctx.state.rings,
  },
});

/** One "process": a runtime with its reminder service over shared (durable) tables. */
async function boot(clock: ManualClock, table: ReminderTable, store: StateStore) {
  const logger = createLogger({ nodeId: "r", level: "silent" });
  const reminders = new ReminderService({ table, clock, logger });
  const rt = new ActorRuntime({ nodeId: "r", actors: [Alarm], stateStore: store, reminders, clock, logger });
  await rt.start();
  return rt;
}

describe("reminders", () => {
  test("a one-shot reminder activates its actor when due, then is gone", async () => {
    const clock = new ManualClock(0);
    const table = new MemoryReminderTable();
    const rt = await boot(clock, table, new MemoryStateStore());
    const a = rt.refById("alarm/t:1");
    await a.call("arm", { name: "wake", dueInMs: 5000 });
    await rt.deactivate(a.id);
    await clock.advance(4999);
    assert.equal(rt.isActive(a.id), false);
    await clock.advance(1);
    assert.deepEqual(await a.call("rings"), [5000]);
    assert.equal(await table.get(a.id, "wake"), undefined, "a fired one-shot is removed");
    await rt.shutdown();
  });

  test("a periodic reminder ticks each period and records its next due time", async () => {
    const clock = new ManualClock(0);
    const table = new MemoryReminderTable();
    const rt = await boot(clock, table, new MemoryStateStore());
    const a = rt.refById("alarm/t:2");
    await a.call("arm", { name: "beat", dueInMs: 1000, periodMs: 1000 });
    await clock.advance(3500);
    assert.deepEqual(await a.call("rings"), [1000, 2000, 3000]);
    assert.equal((await table.get(a.id, "beat"))?.dueAtMs, 4000);
    assert.equal(await a.call("disarm", "beat"), true);
    await clock.advance(5000);
    assert.deepEqual(await a.call("rings"), [1000, 2000, 3000], "cancelled: no more ticks");
    await rt.shutdown();
  });

  for (const [policy, expected] of [
    ["fire-once", [10_500]],
    ["skip", []],
    ["fire-all", [10_500, 10_500, 10_500, 10_500]],
  ] as const) {
    test(`ticks missed while the process was down: ${policy}`, async () => {
      const clock = new ManualClock(0);
      const table = new MemoryReminderTable();
      const store = new MemoryStateStore();
      const rt1 = await boot(clock, table, store);
      const a1 = rt1.refById("alarm/t:3");
      await a1.call("arm", { name: "beat", dueInMs: 2000, periodMs: 2000, missed: policy });
      await clock.advance(2000);
      assert.deepEqual(await a1.call("rings"), [2000]);
      await rt1.shutdown();
      // Down from 2,000 to 10,500: the ticks at 4,000, 6,000, 8,000 and 10,000 were missed.
      await clock.advance(8500);
      const rt2 = await boot(clock, table, store);
      await clock.advance(0);
      const rings = (await rt2.refById("alarm/t:3").call("rings")) as number[];
      assert.deepEqual(rings, [2000, ...expected]);
      assert.equal((await table.get("alarm/t:3", "beat"))?.dueAtMs, 12_000, "the schedule continues on its grid");
      await clock.advance(1500);
      assert.deepEqual(((await rt2.refById("alarm/t:3").call("rings")) as number[]).at(-1), 12_000);
      await rt2.shutdown();
    });
  }
});

test("a reminder set due now fires, whatever its missed-tick policy", async () => {
  const clock = new ManualClock(0);
  const table = new MemoryReminderTable();
  const rt = await boot(clock, table, new MemoryStateStore());
  const a = rt.refById("alarm/t:now");
  await a.call("arm", { name: "once", dueInMs: 0, missed: "skip" });
  await a.call("arm", { name: "beat", dueInMs: 0, periodMs: 1000, missed: "skip" });
  await clock.advance(0);
  assert.deepEqual(await a.call("rings"), [0, 0]);
  await clock.advance(1000);
  assert.deepEqual(await a.call("rings"), [0, 0, 1000]);
  await rt.shutdown();
});
