import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { systemClock } from "./clock.ts";

test("a system-clock timer longer than Node's timers allow fires when due, not at once", () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  try {
    const long = 2 ** 31 + 5000;
    let fired = 0;
    systemClock.setTimer(() => fired++, long);
    mock.timers.tick(10);
    assert.equal(fired, 0, "a plain setTimeout of that length would already have fired");
    mock.timers.tick(2 ** 31 - 1);
    assert.equal(fired, 0);
    mock.timers.tick(long - 10 - (2 ** 31 - 1) - 1);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1);
    let cancelled = 0;
    systemClock.setTimer(() => cancelled++, long).cancel();
    mock.timers.tick(2 ** 31);
    mock.timers.tick(10_000);
    assert.equal(cancelled, 0, "a cancelled long timer never fires, whichever step it is in");
  } finally {
    mock.timers.reset();
  }
});

test("a long timer cancelled after its first step never fires", () => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  try {
    let fired = 0;
    const t = systemClock.setTimer(() => fired++, 2 ** 32);
    mock.timers.tick(2 ** 31);
    t.cancel();
    mock.timers.tick(2 ** 31);
    assert.equal(fired, 0);
  } finally {
    mock.timers.reset();
  }
});
