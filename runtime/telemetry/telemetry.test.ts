import { trace } from "@opentelemetry/api";
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "./logger.ts";
import { startTelemetry, tracesExportRequested } from "./telemetry.ts";

test("span export is off unless the OTEL_* variables ask for it", () => {
  assert.equal(tracesExportRequested({}), false);
  assert.equal(tracesExportRequested({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318" }), false);
  assert.equal(tracesExportRequested({ OTEL_TRACES_EXPORTER: "otlp" }), true);
  assert.equal(tracesExportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" }), true);
  assert.equal(tracesExportRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://jaeger:4318/v1/traces" }), true);
});

test("after bootstrap, spans have ids and log lines inside a span carry them", async () => {
  const telemetry = startTelemetry({ nodeId: "t1", env: {} });
  assert.equal(telemetry.exporting, false);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ nodeId: "t1", destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  const tracer = trace.getTracer("test");
  let ids: { traceId: string; spanId: string } | undefined;
  let recording: boolean | undefined;
  tracer.startActiveSpan("turn", (span) => {
    ids = span.spanContext();
    recording = span.isRecording();
    logger.child({ component: "runtime" }).info("inside");
    span.end();
  });
  logger.info("outside");
  assert.match(ids!.traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(ids!.traceId, "0".repeat(32), "a real tracer provider is installed");
  assert.equal(recording, false, "with export off, spans carry ids but record nothing");
  assert.deepEqual(
    { level: lines[0]!.level, component: lines[0]!.component, nodeId: lines[0]!.nodeId, trace_id: lines[0]!.trace_id, span_id: lines[0]!.span_id },
    { level: "info", component: "runtime", nodeId: "t1", trace_id: ids!.traceId, span_id: ids!.spanId },
  );
  assert.equal(lines[1]!.trace_id, undefined);
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT/);
  await telemetry.shutdown();
});
