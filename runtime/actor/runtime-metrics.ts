import type { Clock } from "../clock.ts";

/**
 * Counters of one runtime. Every refusal and drop is counted here (STYLE.md §13); the
 * control API and the Prometheus endpoint read them.
 */
export class RuntimeMetrics {
  turns = 0;
  turnsFailed = 0;
  activations = 0;
  deactivations = 0;
  /** Messages refused because a mailbox was full, by actor type. */
  readonly mailboxRejected = new Map<string, number>();
  duplicatesDropped = 0;
  deadlinesExpired = 0;
  callCyclesRefused = 0;
  readonly #clock: Clock;
  // Turns per second over the last `window` whole seconds, in a ring of per-second counts.
  readonly #window = 10;
  readonly #ring = new Array<number>(10).fill(0);
  #ringSecond = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#ringSecond = Math.floor(clock.now() / 1000);
  }

  /** Counts a finished turn; `nowMs` is the clock's time as the turn ended. */
  turnDone(failed: boolean, nowMs: number): void {
    this.turns++;
    if (failed) this.turnsFailed++;
    this.#roll(nowMs);
    this.#ring[this.#ringSecond % this.#window]!++;
  }

  mailboxFull(type: string): void {
    this.mailboxRejected.set(type, (this.mailboxRejected.get(type) ?? 0) + 1);
  }

  /** Mean turns per second over the last complete seconds of the window. */
  turnsPerSecond(): number {
    this.#roll(this.#clock.now());
    let sum = 0;
    for (let i = 1; i < this.#window; i++) sum += this.#ring[(this.#ringSecond - i + this.#window) % this.#window]!;
    return sum / (this.#window - 1);
  }

  #roll(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (second === this.#ringSecond) return;
    const steps = Math.min(second - this.#ringSecond, this.#window);
    for (let i = 1; i <= steps; i++) this.#ring[(this.#ringSecond + i) % this.#window] = 0;
    this.#ringSecond = second;
  }
}
