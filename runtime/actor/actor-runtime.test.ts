import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ManualClock } from "../clock.ts";
import { isSwitchboardError, SwitchboardError } from "../errors.ts";
import { MemoryMessageLog } from "../log/index.ts";
import { MemoryStateStore, type StateStore } from "../state/index.ts";
import { defineActor, type ActorDefinition } from "./actor-definition.ts";
import { ActorRuntime, type ActorRuntimeOptions } from "./actor-runtime.ts";
import { Counter, deferred } from "./test-actors.ts";

function runtime(actors: ActorDefinition<any, any>[], options: Partial<ActorRuntimeOptions> = {}) {
  return new ActorRuntime({ nodeId: "t", actors, stateStore: options.stateStore ?? new MemoryStateStore(), ...options });
}

/** A memory store whose `save` runs `beforeSave` first (to delay or fail it). */
function storeWithSave(beforeSave: () => Promise<void>): StateStore {
  const inner = new MemoryStateStore();
  return {
    load: (k) => inner.load(k),
    claim: (k) => inner.claim(k),
    delete: (k, e) => inner.delete(k, e),
    close: () => inner.close(),
    save: async (k, v, e) => {
      await beforeSave();
      return inner.save(k, v, e);
    },
  };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<SwitchboardError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isSwitchboardError(err), `a SwitchboardError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe("calls and state", () => {
  test("a call activates the actor, runs the handler and answers", async () => {
    const rt = runtime([Counter]);
    const c = rt.ref(Counter, "acme:c1");
    assert.equal(c.id, "counter/acme:c1");
    assert.equal(await c.call("add", 2), 2);
    assert.equal(await c.call("add", 3), 5);
    assert.equal(await c.call("get"), 5);
    assert.ok(rt.isActive("counter/acme:c1"));
    await rt.shutdown();
  });

  test("payloads and results are copies, as across the wire", async () => {
    const Echo = defineActor({
      type: "echo",
      initialState: () => ({ kept: null as unknown }),
      handlers: {
        keep: (ctx, v: { list: number[] }) => {
          ctx.state.kept = v;
          return v;
        },
      },
    });
    const rt = runtime([Echo]);
    const arg = { list: [1] };
    const out = await rt.ref(Echo, "t:e").call("keep", arg);
    arg.list.push(2);
    assert.deepEqual(out, { list: [1] });
    assert.notEqual(out, arg);
    await rejectsWith(rt.ref(Echo, "t:e").call("keep", { list: [1n] } as never), "invalid_argument");
    await rt.shutdown();
  });

  test("unknown types, unknown methods and malformed ids are refused", async () => {
    const rt = runtime([Counter]);
    await rejectsWith(rt.refById("nosuch/t:x").call("add", 1), "unknown_actor_type");
    await rejectsWith(rt.refById("counter/t:x").call("nosuch"), "unknown_method");
    await rejectsWith(rt.refById("counter-no-tenant").call("add", 1), "invalid_argument");
    assert.throws(() => rt.ref(Counter, "bad tenant:x"), /invalid actor id/);
    await rt.shutdown();
  });

  test("10,000 concurrent first calls to one id activate it exactly once", async () => {
    let activations = 0;
    const Probe = defineActor({
      type: "probe",
      initialState: () => ({ n: 0 }),
      onActivate: () => void activations++,
      mailboxCapacity: 20_000,
      handlers: { hit: (ctx) => ++ctx.state.n },
    });
    const store = new MemoryStateStore();
    const rt = runtime([Probe], { stateStore: store });
    const results = await Promise.all(Array.from({ length: 10_000 }, () => rt.refById("probe/t:one").call("hit")));
    assert.equal(activations, 1);
    assert.equal(rt.metrics.activations, 1);
    assert.equal((await store.load("probe/t:one")).epoch, 1, "one claim of the epoch");
    assert.deepEqual(new Set(results).size, 10_000, "every call ran once, one at a time");
    assert.equal(Math.max(...(results as number[])), 10_000);
    await rt.shutdown();
  });
});

describe("turns", () => {
  test("one message at a time, in arrival order, also when a handler awaits", async () => {
    const gate = deferred();
    const events: string[] = [];
    const Seq = defineActor({
      type: "seq",
      initialState: () => ({}),
      handlers: {
        slow: async () => {
          events.push("slow:start");
          await gate.promise;
          events.push("slow:end");
        },
        fast: (_ctx, i: number) => void events.push(`fast:${i}`),
      },
    });
    const rt = runtime([Seq]);
    const r = rt.refById("seq/t:a");
    const all = [r.call("slow"), r.call("fast", 1), r.call("fast", 2)];
    await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(events, ["slow:start"], "nothing overtakes an awaiting turn");
    gate.resolve();
    await Promise.all(all);
    assert.deepEqual(events, ["slow:start", "slow:end", "fast:1", "fast:2"]);
    await rt.shutdown();
  });

  test("read-only handlers run together; a writer waits for them and they wait for it", async () => {
    const gate = deferred();
    let concurrent = 0;
    let peak = 0;
    const events: string[] = [];
    const Doc = defineActor({
      type: "doc",
      initialState: () => ({ v: 0 }),
      handlers: {
        read: {
          readOnly: true,
          handler: async (ctx) => {
            peak = Math.max(peak, ++concurrent);
            await gate.promise;
            concurrent--;
            events.push(`read:${ctx.state.v}`);
          },
        },
        write: (ctx) => void events.push(`write:${++ctx.state.v}`),
      },
    });
    const rt = runtime([Doc]);
    const r = rt.refById("doc/t:d");
    const all = [r.call("read"), r.call("read"), r.call("read"), r.call("write"), r.call("read")];
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(peak, 3, "the three leading reads overlap");
    gate.resolve();
    await Promise.all(all);
    assert.deepEqual(events, ["read:0", "read:0", "read:0", "write:1", "read:1"]);
    await rt.shutdown();
  });

  test("a long backlog of synchronous turns drains without growing the stack", async () => {
    // Explicit persistence and a synchronous handler: no turn ever yields.
    const Tick = defineActor({ type: "tick", initialState: () => ({ n: 0 }), persistence: "explicit", mailboxCapacity: 100_000, handlers: { hit: (ctx) => void ctx.state.n++, get: (ctx) => ctx.state.n } });
    const rt = runtime([Tick]);
    const t = rt.refById("tick/t:1");
    // Queued while the actor activates, so the first pump meets all of them at once.
    for (let i = 0; i < 50_000; i++) void t.send("hit");
    assert.equal(await t.call("get"), 50_000);
    await rt.shutdown();
  });

  test("a reentrant method interleaves with a turn that awaits", async () => {
    const gate = deferred();
    const Room = defineActor({
      type: "room",
      initialState: () => ({ pings: 0 }),
      handlers: {
        block: async () => void (await gate.promise),
        ping: { reentrant: true, handler: (ctx) => ++ctx.state.pings },
      },
    });
    const rt = runtime([Room]);
    const r = rt.refById("room/t:r");
    const blocked = r.call("block");
    assert.equal(await r.call("ping"), 1, "ping answered while block awaits");
    gate.resolve();
    await blocked;
    await rt.shutdown();
  });

  test("a call cycle between non-reentrant actors fails at once, not at the deadline", async () => {
    const A = defineActor({
      type: "a",
      initialState: () => ({}),
      handlers: {
        viaB: (ctx) => ctx.refById("b/t:1").call("back"),
        self: (ctx) => ctx.refById(ctx.id).call("viaB"),
        ping: () => "pong",
      },
    });
    const B = defineActor({ type: "b", initialState: () => ({}), handlers: { back: (ctx) => ctx.refById("a/t:1").call("ping") } });
    const rt = runtime([A, B], { callTimeoutMs: 20_000 });
    const started = Date.now();
    const err = await rejectsWith(rt.refById("a/t:1").call("viaB"), "call_cycle");
    assert.ok(Date.now() - started < 1000, "fails fast");
    assert.match(err.message, /a\/t:1 -> b\/t:1 -> a\/t:1/);
    await rejectsWith(rt.refById("a/t:2").call("self"), "call_cycle");
    assert.equal(await rt.refById("a/t:1").call("ping"), "pong", "the actors still work");
    assert.equal(rt.metrics.callCyclesRefused, 2);
    await rt.shutdown();
  });
});

describe("limits and errors", () => {
  test("a full mailbox refuses with mailbox_full and counts it", async () => {
    const gate = deferred();
    const Busy = defineActor({
      type: "busy",
      initialState: () => ({}),
      mailboxCapacity: 3,
      handlers: { work: async () => void (await gate.promise) },
    });
    const rt = runtime([Busy]);
    const r = rt.refById("busy/t:b");
    const first = r.call("work");
    await new Promise((res) => setTimeout(res, 10));
    const queued = [r.call("work"), r.call("work"), r.call("work")];
    const err = await rejectsWith(r.call("work"), "mailbox_full");
    assert.equal(err.context.actorId, "busy/t:b");
    await rejectsWith(r.send("work"), "mailbox_full");
    assert.equal(rt.stats().mailboxRejected, 2);
    assert.equal(rt.stats().mailboxDepthMax, 3);
    gate.resolve();
    await Promise.all([first, ...queued]);
    await rt.shutdown();
  });

  test("a handler's exception reaches the caller typed; the activation survives with its state", async () => {
    const rt = runtime([Counter]);
    const c = rt.ref(Counter, "t:e");
    await c.call("add", 5);
    const err = await rejectsWith(c.call("fail", "boom"), "handler_failed");
    assert.equal(err.context.actorId, "counter/t:e");
    assert.equal(err.context.method, "fail");
    assert.equal((err.cause as Error).message, "boom");
    assert.match(err.message, /counter\/t:e\.fail failed: boom/);
    assert.equal(await c.call("get"), 5, "the failed turn's change was rolled back");
    const Deny = defineActor({ type: "deny", initialState: () => ({}), handlers: { go: () => { throw new SwitchboardError("permission_denied", "no"); } } });
    const rt2 = runtime([Deny]);
    const denied = await rejectsWith(rt2.refById("deny/t:x").call("go"), "permission_denied");
    assert.equal(denied.context.actorId, "deny/t:x", "a typed error keeps its code and gains the actor id");
    await rt.shutdown();
    await rt2.shutdown();
  });

  test("an expired deadline is a typed timeout", async () => {
    const clock = new ManualClock();
    const gate = deferred();
    const Slow = defineActor({ type: "slow", initialState: () => ({}), handlers: { wait: async () => void (await gate.promise), quick: () => 1 } });
    const rt = runtime([Slow], { clock });
    const r = rt.refById("slow/t:s");
    const waiting = r.call("wait", undefined, { timeoutMs: 100 });
    const queuedBehind = r.call("quick", undefined, { timeoutMs: 50 });
    const waitingFails = rejectsWith(waiting, "deadline_exceeded");
    const queuedFails = rejectsWith(queuedBehind, "deadline_exceeded");
    await clock.advance(100);
    assert.equal((await waitingFails).context.method, "wait");
    await queuedFails;
    gate.resolve();
    await new Promise((res) => setTimeout(res, 10));
    assert.equal(rt.metrics.deadlinesExpired, 1, "the expired queued call was skipped, not run");
    assert.equal(await r.call("quick"), 1);
    await rt.shutdown();
  });
});

describe("lifecycle", () => {
  test("an idle actor persists and deactivates; its next message reactivates it unnoticed", async () => {
    const clock = new ManualClock();
    const store = new MemoryStateStore();
    const rt = runtime([Counter], { clock, stateStore: store, idleCheckIntervalMs: 1000 });
    await rt.start();
    const c = rt.ref(Counter, "t:idle");
    await c.call("add", 7);
    await clock.advance(59_000);
    assert.ok(rt.isActive(c.id), "not idle long enough yet");
    await clock.advance(2_000);
    assert.equal(rt.isActive(c.id), false, "deactivated after its idle timeout");
    assert.equal(await c.call("add", 1), 8, "state came back");
    assert.equal((await store.load(c.id)).epoch, 2, "a second activation, a new epoch");
    await rt.shutdown();
  });

  test("idle deactivation while messages keep arriving loses none of them", async () => {
    const clock = new ManualClock();
    const gate = deferred();
    let slowSaves = false;
    const store = storeWithSave(async () => {
      if (slowSaves) await gate.promise;
    });
    const Tally = defineActor({ type: "tally", initialState: () => ({ n: 0 }), idleTimeoutMs: 1000, persistence: "explicit", handlers: { inc: (ctx) => void ctx.state.n++, get: (ctx) => ctx.state.n } });
    const rt = runtime([Tally], { clock, stateStore: store, idleCheckIntervalMs: 500 });
    await rt.start();
    const t = rt.refById("tally/t:x");
    for (let i = 0; i < 10; i++) await t.send("inc");
    await new Promise((r) => setTimeout(r, 5));
    slowSaves = true;
    await clock.advance(1500);
    // The activation is now saving on its way out; keep sending.
    const sends = [];
    for (let i = 0; i < 500; i++) sends.push(t.send("inc"));
    await Promise.all(sends);
    slowSaves = false;
    gate.resolve();
    assert.equal(await t.call("get"), 510);
    assert.equal(rt.metrics.deactivations, 1);
    await rt.shutdown();
  });

  test("a stale activation cannot overwrite a newer one (epoch fencing)", async () => {
    const store = new MemoryStateStore();
    const nodeA = runtime([Counter], { stateStore: store });
    const nodeB = runtime([Counter], { stateStore: store });
    const id = "counter/t:fenced";
    assert.equal(await nodeA.refById(id).call("add", 1), 1);
    assert.equal(await nodeB.refById(id).call("add", 10), 11, "B activates with A's saved state and a newer epoch");
    await rejectsWith(nodeA.refById(id).call("add", 100), "stale_epoch");
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(nodeA.isActive(id), false, "the fenced activation went away");
    const rec = await store.load(id);
    assert.equal(JSON.parse(new TextDecoder().decode(rec.value)).s.n, 11, "A's write never landed");
    await nodeA.shutdown();
    await nodeB.shutdown();
  });

  test("duplicates within the window are dropped; a repeated call gets the first answer, also after reactivation", async () => {
    const Pay = defineActor({
      type: "pay",
      initialState: () => ({ total: 0 }),
      dedupe: { windowMs: 60_000 },
      handlers: { charge: (ctx, amount: number) => (ctx.state.total += amount), total: { readOnly: true, handler: (ctx) => ctx.state.total } },
    });
    const clock = new ManualClock();
    const rt = runtime([Pay, Counter], { clock });
    const p = rt.refById("pay/t:p");
    assert.equal(await p.call("charge", 10, { messageId: "m1" }), 10);
    assert.equal(await p.call("charge", 10, { messageId: "m1" }), 10, "same answer");
    await p.send("charge", 10, { messageId: "m1" });
    assert.equal(await p.call("total"), 10, "applied once");
    await rt.deactivate("pay/t:p");
    assert.equal(await p.call("charge", 10, { messageId: "m1" }), 10, "the window survived deactivation");
    assert.equal(await p.call("total"), 10);
    await clock.advance(61_000);
    assert.equal(await p.call("charge", 10, { messageId: "m1" }), 20, "outside the window it is a new message");
    assert.equal(rt.metrics.duplicatesDropped, 3);
    const c = rt.ref(Counter, "t:nodedupe");
    await c.call("add", 1, { messageId: "x" });
    assert.equal(await c.call("add", 1, { messageId: "x" }), 2, "types without dedupe apply every message");
    await rt.shutdown();
  });

  test("timers tick as turns and die with the activation", async () => {
    const clock = new ManualClock();
    const Ticker = defineActor({
      type: "ticker",
      initialState: () => ({ ticks: 0 }),
      handlers: {
        start: (ctx) => ctx.timers.set("t", { delayMs: 100, periodMs: 100, method: "tick" }),
        tick: (ctx) => void ctx.state.ticks++,
        ticks: (ctx) => ctx.state.ticks,
      },
    });
    const rt = runtime([Ticker], { clock });
    const t = rt.refById("ticker/t:1");
    await t.call("start");
    await clock.advance(350);
    assert.equal(await t.call("ticks"), 3);
    await rt.deactivate(t.id);
    await clock.advance(1000);
    assert.equal(rt.isActive(t.id), false, "a dead activation's timer does not wake it");
    assert.equal(await t.call("ticks"), 3);
    await rt.shutdown();
  });

  test("shutdown drains queued work, persists, and refuses new messages; a restart resumes", async () => {
    const store = new MemoryStateStore();
    const Tally = defineActor({ type: "tally", initialState: () => ({ n: 0 }), persistence: "explicit", handlers: { inc: async (ctx) => { await new Promise((r) => setTimeout(r, 1)); ctx.state.n++; }, get: (ctx) => ctx.state.n } });
    const rt = runtime([Tally], { stateStore: store });
    const t = rt.refById("tally/t:s");
    for (let i = 0; i < 50; i++) await t.send("inc");
    const stopping = rt.shutdown();
    await rejectsWith(t.call("get"), "shutting_down");
    await stopping;
    assert.equal(rt.stats().activations, 0);
    const rt2 = runtime([Tally], { stateStore: store });
    assert.equal(await rt2.refById("tally/t:s").call("get"), 50, "every accepted message was applied and saved");
    await rt2.shutdown();
  });
});

test("a repeat of a remote message still queued or running joins it instead of running twice", async () => {
  const gate = deferred();
  let runs = 0;
  const Slow = defineActor({
    type: "slowpay",
    initialState: () => ({ n: 0 }),
    handlers: {
      pay: async (ctx) => {
        runs++;
        await gate.promise;
        return ++ctx.state.n;
      },
    },
  });
  const rt = runtime([Slow]);
  const answers: unknown[] = [];
  const remote = (messageId: string) =>
    new Promise((resolve, reject) =>
      rt.acceptRemote({
        kind: "call",
        target: "slowpay/t:x",
        method: "pay",
        arg: undefined,
        messageId,
        deadlineMs: Date.now() + 5000,
        callChain: [],
        sender: undefined,
        traceparent: undefined,
        tracestate: undefined,
        settle: (err, result) => (err ? reject(err) : resolve(result)),
      }),
    ).then((r) => answers.push(r));
  const first = remote("m-1");
  await new Promise((r) => setTimeout(r, 5));
  const retry = remote("m-1");
  const other = remote("m-2");
  gate.resolve();
  await Promise.all([first, retry, other]);
  assert.equal(runs, 2, "m-1 ran once, m-2 once");
  assert.deepEqual(answers.sort(), [1, 1, 2], "the repeat got the original's answer");
  assert.equal(rt.metrics.duplicatesDropped, 1);
  await rt.shutdown();
});

test("a turn whose save fails is rolled back with its dedupe entry, so the retry is applied", async () => {
  let failNextSave = false;
  const store = storeWithSave(async () => {
    if (failNextSave) {
      failNextSave = false;
      throw new SwitchboardError("unavailable", "store unreachable");
    }
  });
  const Pay = defineActor({ type: "pay2", initialState: () => ({ total: 0 }), dedupe: { windowMs: 60_000 }, handlers: { charge: (ctx, n: number) => (ctx.state.total += n), total: (ctx) => ctx.state.total } });
  const rt = runtime([Pay], { stateStore: store });
  const p = rt.refById("pay2/t:x");
  await p.call("charge", 5, { messageId: "a" });
  failNextSave = true;
  await rejectsWith(p.call("charge", 1, { messageId: "b" }), "unavailable");
  assert.equal(await p.call("total"), 5, "the failed turn left no trace in the state");
  assert.equal(await p.call("charge", 1, { messageId: "b" }), 6, "the retry is applied, not answered from the window");
  assert.equal(await p.call("total"), 6, "the retry was applied to the state");
  assert.equal(await p.call("charge", 1, { messageId: "b" }), 6, "and a second retry is a duplicate");
  assert.equal(await p.call("total"), 6);
  await rt.shutdown();
});

describe("services lent to actors", () => {
  const Diary = defineActor({
    type: "diary",
    initialState: () => ({}),
    handlers: {
      write: async (ctx, text: string) => {
        const seq = await ctx.messageLog().append(new TextEncoder().encode(text));
        ctx.publish(`written/${ctx.key}`, { seq, text });
        return seq;
      },
      side: (ctx, text: string) => ctx.messageLog("drafts").append(new TextEncoder().encode(text)),
      read: { readOnly: true, handler: async (ctx) => (await ctx.messageLog().read(1, 100)).map((e) => new TextDecoder().decode(e.data)) },
    },
  });

  test("an actor appends to its own log streams and publishes on its tenant's channels", async () => {
    const log = new MemoryMessageLog();
    const published: [string, string, unknown][] = [];
    const rt = runtime([Diary], { services: { messageLog: log, publish: (tenant, channel, payload) => void published.push([tenant, channel, payload]) } });
    const d = rt.ref(Diary, "acme:d1");
    assert.equal(await d.call("write", "one"), 1);
    assert.equal(await d.call("write", "two"), 2);
    assert.equal(await d.call("side", "draft"), 1, "a named stream is numbered on its own");
    assert.deepEqual(await d.call("read"), ["one", "two"]);
    assert.equal((await log.info("diary/acme:d1#drafts")).lastSeq, 1);
    assert.equal((await log.info("diary/acme:d2")).lastSeq, 0, "another actor's stream is untouched");
    assert.deepEqual(published, [
      ["acme", "written/d1", { seq: 1, text: "one" }],
      ["acme", "written/d1", { seq: 2, text: "two" }],
    ]);
    await rt.shutdown();
  });

  test("without them, publishing and logging fail the turn with unavailable", async () => {
    const rt = runtime([Diary]);
    await rejectsWith(rt.ref(Diary, "acme:d1").call("write", "x"), "unavailable");
    await rt.shutdown();
  });
});
