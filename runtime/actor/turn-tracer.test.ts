import { context, isSpanContextValid, propagation, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStateStore } from "../state/index.ts";
import { defineActor } from "./actor-definition.ts";
import { ActorRuntime } from "./actor-runtime.ts";
import { deferred } from "./test-actors.ts";

test("with no tracer provider, a turn runs in the trace its message carries, whoever starts it", async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const traceOf = () => {
    const active = trace.getActiveSpan()?.spanContext();
    return active !== undefined && isSpanContextValid(active) ? active.traceId : undefined;
  };
  const frontGate = deferred();
  const backGate = deferred();
  const Back = defineActor({ type: "back", initialState: () => ({}), handlers: { seen: () => traceOf(), hold: async () => void (await backGate.promise) } });
  const Front = defineActor({
    type: "front",
    initialState: () => ({}),
    handlers: {
      hold: async () => void (await frontGate.promise),
      relay: async (ctx) => ({ here: traceOf(), there: await ctx.refById("back/t:b").call("seen") }),
      holdBack: (ctx) => ctx.refById("back/t:b").call("hold"),
    },
  });
  // No `tracer` and no provider registered: every span is the API's non-recording one.
  const rt = new ActorRuntime({ nodeId: "n1", actors: [Front, Back], stateStore: new MemoryStateStore() });
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const traced = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: "b7ad6b7169203331", traceFlags: TraceFlags.SAMPLED, isRemote: true });
  const front = rt.refById("front/t:f");
  const back = rt.refById("back/t:b");
  await back.call("seen");

  // Queued behind an untraced turn, the relay starts from that turn's context: only its message carries the trace.
  const held = front.call("hold");
  const relayed = context.with(traced, () => front.call("relay"));
  frontGate.resolve();
  await held;
  assert.deepEqual(await relayed, { here: traceId, there: traceId }, "the caller's trace reaches the turn and the turn's own calls");

  // Queued behind a turn that started inside a traced turn, an untraced message must not inherit that trace.
  const backHeld = context.with(traced, () => front.call("holdBack"));
  await new Promise((r) => setTimeout(r, 5));
  const untraced = back.call("seen");
  backGate.resolve();
  await backHeld;
  assert.equal(await untraced, undefined, "a call from outside any trace carries none");
  await rt.shutdown();
});
