import { trace } from "@opentelemetry/api";
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  /** The node every line is about. */
  readonly nodeId: string;
  /** pino level name; default `info`. */
  readonly level?: string;
  /** Where lines go; default standard output. */
  readonly destination?: DestinationStream;
}

/**
 * JSON lines: `level` as a name, `time` as ISO-8601, `nodeId` on every line,
 * `component` on children (`logger.child({ component: "grpc" })`), and `trace_id` /
 * `span_id` whenever the line is written inside an active span, so a log line can be
 * found from a trace in Jaeger and back.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { nodeId: options.nodeId },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const span = trace.getActiveSpan();
        if (span === undefined) return {};
        const { traceId, spanId } = span.spanContext();
        return { trace_id: traceId, span_id: spanId };
      },
    },
    options.destination,
  );
}
