import assert from "node:assert/strict";
import { test } from "node:test";
import { EventLoopMonitor } from "./event-loop-monitor.ts";

test("an idle loop reads well under the sampling interval; a blocked loop reads the block", async () => {
  // The raw histogram of an idle loop reads the interval itself (50 ms here).
  const idle = new EventLoopMonitor({ resolutionMs: 50 });
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(idle.lag().p99Ms < 40, `idle p99 ${idle.lag().p99Ms} ms`);
  idle.stop();
  const busy = new EventLoopMonitor({ resolutionMs: 10 });
  await new Promise((r) => setTimeout(r, 50));
  const until = Date.now() + 120;
  while (Date.now() < until);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(busy.lag().maxMs >= 80, `a 120 ms block shows: max ${busy.lag().maxMs} ms`);
  busy.stop();
});
