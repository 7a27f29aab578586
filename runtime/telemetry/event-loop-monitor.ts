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
  readonly #resolutionMs: number;
  #windowStart = performance.now();
  #last: EventLoopLag = { p99Ms: 0, maxMs: 0 };

  constructor(options: { resolutionMs?: number; windowMs?: number } = {}) {
    this.#resolutionMs = options.resolutionMs ?? 20;
    this.#histogram = monitorEventLoopDelay({ resolution: this.#resolutionMs });
    this.#windowMs = options.windowMs ?? 10_000;
    this.#histogram.enable();
  }

  /** The figures of the current window (or of the last full one, just after a reset). */
  lag(): EventLoopLag {
    const h = this.#histogram;
    // The histogram records each sampling interval whole (an idle loop reads about
    // `resolutionMs`); the lag is what exceeds it.
    const excess = (ns: number) => Math.max(0, ns / 1e6 - this.#resolutionMs);
    const current = h.count > 0 ? { p99Ms: excess(h.percentile(99)), maxMs: excess(h.max) } : this.#last;
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
