import { monitorEventLoopDelay, type ELDHistogram } from "node:perf_hooks";

export interface EventLoopLag {
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Event-loop delay, the first sign of an overloaded node. Samples every `resolutionMs`
 * and reports over a window that restarts every `windowMs`, so a spike an hour ago
 * does not hide today's figure.
 */
export class EventLoopMonitor {
  readonly #histogram: ELDHistogram;
  readonly #windowMs: number;
  #windowStart = performance.now();
  #last: EventLoopLag = { p99Ms: 0, maxMs: 0 };

  constructor(options: { resolutionMs?: number; windowMs?: number } = {}) {
    this.#histogram = monitorEventLoopDelay({ resolution: options.resolutionMs ?? 20 });
    this.#windowMs = options.windowMs ?? 10_000;
    this.#histogram.enable();
  }

  /** The figures of the current window (or of the last full one, just after a reset). */
  lag(): EventLoopLag {
    const h = this.#histogram;
    const current = h.count > 0 ? { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 } : this.#last;
    if (performance.now() - this.#windowStart >= this.#windowMs) {
      this.#last = current;
      h.reset();
      this.#windowStart = performance.now();
    }
    return current;
  }

  stop(): void {
    this.#histogram.disable();
  }
}
