// The actor runtime's messaging and activation figures (`npm run bench -- actors`).
//
// Method, figure by figure:
// - Throughput figures use the in-memory store and `persistence: "explicit"`, so they
//   measure the runtime's own path (ids, copies, mailbox, turn scheduling, tracing),
//   not a store write per turn; `actors.call.c1.persisted` is the same as `c1` with the
//   default per-turn save, to show what that adds.
// - The bench type has `mailboxCapacity` 1,000,000, so a sender never has to pace
//   itself against `mailbox_full`; sends still go in windows of 10,000 with a yield to
//   the event loop between windows, so deferred work can run.
// - One-way figures count processed messages only: the actors count what they handle,
//   and a final `call` to every receiver (included in the time) reads the counts back.
// - `actors.call.c100` is 100 concurrent callers, each calling its own actor in a loop
//   (100 actors): many independent conversations, the shape a node serves, rather than
//   100 callers queueing on one mailbox.
// - `actors.activation.cold`: actors saved by an earlier runtime over the same level
//   directory; a fresh runtime activates them (claim + load from disk) through a
//   read-only call, 100 at a time.
// - `actors.idle.bytes`: heap growth (after forced GC) from activating 100,000 actors
//   with one call each (state `{n:1}`, saved to a MemoryStateStore), minus the growth
//   of a second MemoryStateStore given the same records directly: what an activation
//   costs beyond what the store keeps. The ids exist before either baseline, so neither
//   side counts them. Needs `node --expose-gc` (the `bench` script passes it).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorRuntime, defineActor, MemoryStateStore, openEmbeddedStores, type ActorDefinition, type ActorRef, type Handlers } from "../runtime/index.ts";
import { rate, report } from "./report.ts";

const measureMs = 1500;
const warmupMs = 300;
const window = 10_000;

const sinkHandlers = {
  hit: (ctx: { state: { n: number } }) => void ctx.state.n++,
  echo: (ctx: { state: { n: number } }, arg: { seq: number }) => {
    ctx.state.n++;
    return arg.seq;
  },
  count: { readOnly: true, handler: (ctx: { state: { n: number } }) => ctx.state.n },
};

const Sink = defineActor({ type: "sink", initialState: () => ({ n: 0 }), mailboxCapacity: 1_000_000, persistence: "explicit", handlers: sinkHandlers });
const PersistedSink = defineActor({ type: "psink", initialState: () => ({ n: 0 }), mailboxCapacity: 1_000_000, handlers: sinkHandlers });

type SinkRef = ActorRef<typeof sinkHandlers>;

function memoryRuntime(actors: ActorDefinition<any, any>[]): ActorRuntime {
  return new ActorRuntime({ nodeId: "bench", actors, stateStore: new MemoryStateStore() });
}

function refs(rt: ActorRuntime, def: ActorDefinition<any, Handlers<any>>, prefix: string, n: number): SinkRef[] {
  return Array.from({ length: n }, (_, i) => rt.ref(def, `bench:${prefix}${i}`) as unknown as SinkRef);
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function counts(targets: readonly SinkRef[]): Promise<number> {
  let sum = 0;
  for (const n of await Promise.all(targets.map((r) => r.call("count")))) sum += n;
  return sum;
}

/** Sends one-way messages round-robin over `targets` for `ms`; returns processed messages per second. */
async function oneway(targets: readonly SinkRef[], ms: number): Promise<{ perSecond: number; messages: number; seconds: number }> {
  const before = await counts(targets);
  const start = performance.now();
  let next = 0;
  do {
    for (let i = 0; i < window; i++) {
      void targets[next]!.send("hit");
      if (++next === targets.length) next = 0;
    }
    await yieldToLoop();
  } while (performance.now() - start < ms);
  const messages = (await counts(targets)) - before;
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: messages / seconds, messages, seconds };
}

/**
 * `workers` loops, each awaiting `op(worker)` back to back, for `ms` after a warm-up.
 * Loops check the time themselves: a call that settles without a macrotask would
 * starve a timer.
 */
async function concurrent(workers: number, op: (worker: number) => Promise<unknown>, ms: number): Promise<{ perSecond: number; ops: number; seconds: number }> {
  let ops = 0;
  let start = performance.now();
  const warmEnd = start + warmupMs;
  const end = warmEnd + ms;
  let counting = false;
  const loop = async (w: number) => {
    for (;;) {
      const t = performance.now();
      if (t >= end) return;
      if (!counting && t >= warmEnd) {
        counting = true;
        ops = 0;
        start = t;
      }
      await op(w);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: ops / seconds, ops, seconds };
}

async function onewaySingle(): Promise<void> {
  const rt = memoryRuntime([Sink]);
  const [target] = refs(rt, Sink, "single", 1);
  await oneway([target!], warmupMs);
  const r = await oneway([target!], measureMs);
  report({ name: "actors.oneway.single", value: r.perSecond, unit: "msg/s", messages: r.messages, seconds: round3(r.seconds) });
  await rt.shutdown();
}

async function onewaySpread(): Promise<void> {
  const rt = memoryRuntime([Sink]);
  const targets = refs(rt, Sink, "spread", 10_000);
  await counts(targets); // activates all of them before timing
  await oneway(targets, warmupMs);
  const r = await oneway(targets, measureMs);
  report({ name: "actors.oneway.spread", value: r.perSecond, unit: "msg/s", actors: targets.length, messages: r.messages, seconds: round3(r.seconds) });
  await rt.shutdown();
}

async function callC1(def: ActorDefinition<any, any>, name: string): Promise<void> {
  const rt = memoryRuntime([def]);
  const [target] = refs(rt, def, "c1", 1);
  let seq = 0;
  const value = await rate(() => target!.call("echo", { seq: seq++ }), measureMs, 500);
  report({ name, value, unit: "calls/s", concurrency: 1 });
  await rt.shutdown();
}

async function callC100(): Promise<void> {
  const rt = memoryRuntime([Sink]);
  const targets = refs(rt, Sink, "c100-", 100);
  await counts(targets);
  let seq = 0;
  const r = await concurrent(100, (w) => targets[w]!.call("echo", { seq: seq++ }), measureMs);
  report({ name: "actors.call.c100", value: r.perSecond, unit: "calls/s", concurrency: 100, actors: 100, calls: r.ops, seconds: round3(r.seconds) });
  await rt.shutdown();
}

async function activationCold(): Promise<void> {
  const total = 40_000;
  const warm = 2_000;
  const dir = await mkdtemp(join(tmpdir(), "sb-bench-cold-"));
  try {
    const ids = Array.from({ length: total }, (_, i) => `sink/bench:cold${i}`);
    const first = await openEmbeddedStores({ dataDir: dir });
    const writer = new ActorRuntime({ nodeId: "bench", actors: [Sink], stateStore: first.state });
    for (let i = 0; i < total; i += 1000) await Promise.all(ids.slice(i, i + 1000).map((id) => writer.refById(id).call("hit")));
    await writer.shutdown(); // saves every actor's {n:1}
    await first.close();

    const stores = await openEmbeddedStores({ dataDir: dir });
    const rt = new ActorRuntime({ nodeId: "bench", actors: [Sink], stateStore: stores.state });
    let next = 0;
    // 100 loops take ids in turn until `limit` ids are taken or `stopAt` passes.
    const activateUpTo = (limit: number, stopAt: number) =>
      Promise.all(
        Array.from({ length: 100 }, async () => {
          while (next < limit && performance.now() < stopAt) {
            const n = await rt.refById(ids[next++]!).call("count");
            if (n !== 1) throw new Error(`a cold activation loaded n=${String(n)}, expected 1`);
          }
        }),
      );
    await activateUpTo(warm, performance.now() + warmupMs);
    const from = next;
    const start = performance.now();
    await activateUpTo(total, start + measureMs);
    const seconds = (performance.now() - start) / 1000;
    const activations = next - from;
    report({ name: "actors.activation.cold", value: activations / seconds, unit: "activations/s", activations, seconds: round3(seconds), concurrency: 100, store: "level" });
    await rt.shutdown();
    await stores.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function idleBytes(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("actors.idle.bytes needs node --expose-gc (npm run bench passes it)");
  const heap = () => {
    for (let i = 0; i < 4; i++) gc();
    return process.memoryUsage().heapUsed;
  };
  const n = 100_000;
  const Idle = defineActor({ type: "idle", initialState: () => ({ n: 0 }), handlers: { hit: (ctx) => void ctx.state.n++ } });
  const ids = Array.from({ length: n }, (_, i) => `idle/bench:i${i}`);
  const activateAll = async (rt: ActorRuntime, list: readonly string[]) => {
    for (let i = 0; i < list.length; i += 1000) await Promise.all(list.slice(i, i + 1000).map((id) => rt.refById(id).call("hit")));
  };

  // Warm-up: compile the activation path before any baseline.
  const scratch = memoryRuntime([Idle]);
  await activateAll(scratch, Array.from({ length: 5_000 }, (_, i) => `idle/bench:w${i}`));
  await scratch.shutdown();

  // The store alone, given what the runtime will give it: a claim, then a save of {s:{n:1}}.
  const record = new TextEncoder().encode(JSON.stringify({ s: { n: 1 } }));
  const s0 = heap();
  const storeOnly = new MemoryStateStore();
  for (const id of ids) {
    const claimed = await storeOnly.claim(id);
    await storeOnly.save(id, record, { etag: claimed.etag, epoch: claimed.epoch });
  }
  const storeBytes = heap() - s0;
  await storeOnly.close();

  const a0 = heap();
  const store = new MemoryStateStore();
  const rt = new ActorRuntime({ nodeId: "bench", actors: [Idle], stateStore: store });
  await activateAll(rt, ids);
  const totalBytes = heap() - a0;
  if (rt.stats().activations !== n) throw new Error(`expected ${n} activations, have ${rt.stats().activations}`);
  report({
    name: "actors.idle.bytes",
    value: (totalBytes - storeBytes) / n,
    unit: "bytes/activation",
    activations: n,
    storeBytesPerRecord: Math.round(storeBytes / n),
    totalBytesPerActor: Math.round(totalBytes / n),
  });
  await rt.shutdown();
  await store.close();
}

/** Messaging throughput, call round trips, cold activation from level, and idle memory per activation. */
export async function run(): Promise<void> {
  await onewaySingle();
  await onewaySpread();
  await callC1(Sink, "actors.call.c1");
  await callC1(PersistedSink, "actors.call.c1.persisted");
  await callC100();
  await activationCold();
  await idleBytes();
}
