import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStateStore } from "../state/index.ts";
import { defineActor } from "./actor-definition.ts";
import { ActorRuntime } from "./actor-runtime.ts";

test("each turn is a span, a child of the caller's context carried in the message", async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer("test");

  const Back = defineActor({ type: "back", initialState: () => ({}), handlers: { work: () => "done", boom: () => { throw new Error("x"); } } });
  const Front = defineActor({
    type: "front",
    initialState: () => ({}),
    handlers: {
      // An await before the nested call: the turn's span must still be the active one.
      relay: async (ctx) => {
        await new Promise((r) => setTimeout(r, 1));
        return ctx.refById("back/t:b").call("work");
      },
    },
  });
  const rt = new ActorRuntime({ nodeId: "n1", actors: [Front, Back], stateStore: new MemoryStateStore(), tracer });

  await tracer.startActiveSpan("client request", async (root) => {
    assert.equal(await rt.refById("front/t:f").call("relay"), "done");
    root.end();
  });
  await assert.rejects(rt.refById("back/t:b").call("boom"));

  const spans = exporter.getFinishedSpans();
  const byName = new Map(spans.map((s) => [s.name, s]));
  const root = byName.get("client request")!;
  const relay = byName.get("front.relay")!;
  const work = byName.get("back.work")!;
  const boom = byName.get("back.boom")!;
  assert.ok(root && relay && work && boom, `spans: ${spans.map((s) => s.name)}`);
  assert.equal(relay.spanContext().traceId, root.spanContext().traceId);
  assert.equal(relay.parentSpanContext?.spanId, root.spanContext().spanId, "turn is a child of the caller");
  assert.equal(work.parentSpanContext?.spanId, relay.spanContext().spanId, "nested turn is a child of the calling turn");
  assert.equal(relay.kind, SpanKind.SERVER);
  assert.equal(relay.attributes["switchboard.actor.id"], "front/t:f");
  assert.equal(relay.attributes["messaging.system"], "switchboard");
  assert.equal(relay.attributes["switchboard.node.id"], "n1");
  assert.equal(boom.status.code, 2, "a failed turn's span is marked as an error");
  assert.equal(boom.parentSpanContext, undefined, "a call from outside any span starts a new trace");
  assert.equal(trace.getActiveSpan(), undefined);
  await rt.shutdown();
  await provider.shutdown();
});
