import { context, propagation, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, trace, type Span, type Tracer } from "@opentelemetry/api";
import { Attr } from "../telemetry/attributes.ts";
import type { ActorMessage } from "./actor-message.ts";
import type { CompiledMethod } from "./compiled-definition.ts";

const tracerName = "switchboard.runtime";

/**
 * Starts the span of each turn: a child of the trace context the message carries,
 * with the messaging attributes.
 *
 * Attributes are built only for a span that records them (a sampled one). With no
 * tracer given and no tracer provider registered, a turn gets no span at all when
 * there is no trace context to carry through it and no active span to hide from it.
 */
export class TurnTracer {
  readonly #tracer: Tracer;
  readonly #nodeId: string;
  /** The global provider behind the default tracer; undefined when a tracer was given. */
  readonly #provider: ProxyTracerProvider | undefined;
  /** A provider is registered or a tracer was given. A provider once set is never unset. */
  #recording: boolean;

  /** `tracer` undefined: the global provider's, whenever one is registered. */
  constructor(tracer: Tracer | undefined, nodeId: string) {
    this.#nodeId = nodeId;
    if (tracer !== undefined) {
      this.#tracer = tracer;
      this.#provider = undefined;
      this.#recording = true;
      return;
    }
    const provider = trace.getTracerProvider();
    this.#tracer = provider.getTracer(tracerName);
    // Another copy of the API may own the global provider; then assume it records.
    this.#provider = provider instanceof ProxyTracerProvider ? provider : undefined;
    this.#recording = this.#provider === undefined;
  }

  /** The span of a turn of `actorId`, or undefined when it could neither record nor carry anything. */
  start(actorId: string, actorType: string, msg: ActorMessage, method: CompiledMethod): Span | undefined {
    if (!this.#recording && this.#provider!.getDelegateTracer(tracerName) !== undefined) this.#recording = true;
    if (!this.#recording && msg.traceparent === undefined && trace.getSpan(context.active()) === undefined) return undefined;
    const parent = msg.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, { traceparent: msg.traceparent, tracestate: msg.tracestate });
    const kind = msg.kind === "call" ? SpanKind.SERVER : SpanKind.CONSUMER;
    const span = this.#tracer.startSpan(method.spanName, { kind }, parent);
    // Attributes only for a span that keeps them (a sampled one); building them for
    // the others is most of what a span costs.
    if (span.isRecording()) {
      span.setAttributes({
        [Attr.messagingSystem]: "switchboard",
        [Attr.messagingOperation]: "process",
        [Attr.messagingDestination]: actorId,
        [Attr.messageId]: msg.messageId,
        [Attr.actorType]: actorType,
        [Attr.actorId]: actorId,
        [Attr.method]: msg.method,
        [Attr.nodeId]: this.#nodeId,
      });
    }
    return span;
  }
}
