import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { AlwaysOffSampler, NoopSpanProcessor } from "@opentelemetry/sdk-trace-base";

export interface TelemetryOptions {
  /** `service.name`; default `switchboard`. */
  readonly serviceName?: string;
  /** `service.instance.id`: the node id. */
  readonly nodeId: string;
  /** The process environment, read for the standard `OTEL_*` variables. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Telemetry {
  /** Whether spans leave the process (an exporter is configured). */
  readonly exporting: boolean;
  /** Flushes pending spans and stops. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Whether the standard OpenTelemetry variables ask for span export. Export is off
 * unless `OTEL_TRACES_EXPORTER` names an exporter or an OTLP endpoint is set, so a
 * node started with no configuration never tries to reach a collector.
 */
export function tracesExportRequested(env: TelemetryOptions["env"]): boolean {
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter !== undefined && exporter !== "") return exporter !== "none";
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Bootstraps the OpenTelemetry SDK once per process. Spans are always created (so
 * trace context propagates and logs carry trace ids); they are exported over OTLP,
 * which Jaeger reads, only when the environment asks for it
 * (`OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318`, `OTEL_TRACES_EXPORTER=otlp`, …).
 * Without export nothing is sampled: every span is a non-recording one that still has
 * its own ids, so context propagates and logs carry trace ids, but no span data is
 * built only to be thrown away (that was a tenth of a busy node's time). With export,
 * the standard `OTEL_TRACES_SAMPLER` variables choose the sampler.
 * Metrics and logs are not exported through OTLP here: metrics are served for
 * Prometheus and logs go to standard output.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const exporting = tracesExportRequested(options.env);
  const sdk = new NodeSDK({
    serviceName: options.serviceName ?? "switchboard",
    autoDetectResources: true,
    resource: resourceFromAttributes({ "service.instance.id": options.nodeId }),
    // Undefined lets the SDK build the exporter the OTEL_* variables describe.
    spanProcessors: exporting ? undefined : [new NoopSpanProcessor()],
    ...(exporting ? {} : { sampler: new AlwaysOffSampler() }),
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  return {
    exporting,
    shutdown: () => (stopped ??= sdk.shutdown().catch(() => undefined)),
  };
}
