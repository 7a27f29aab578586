import type { Clock, TimerHandle } from "../clock.ts";

/**
 * Runs `sweep` every `intervalMs` of `clock` until stopped. Sweeps never overlap: one
 * that falls due while another runs waits for it, and further ones are dropped
 * meanwhile, so a slow backend cannot pile them up.
 */
export class RetentionSweeper {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #sweep: () => Promise<void>;
  #timer: TimerHandle | undefined;
  #running: Promise<void> = Promise.resolve();
  #waiting = false;
  #stopped = false;

  constructor(clock: Clock, intervalMs: number, sweep: () => Promise<void>) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#sweep = sweep;
    this.#arm();
  }

  /** Cancels future sweeps and waits for a running one. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimer(() => this.#due(), this.#intervalMs);
  }

  #due(): void {
    this.#arm();
    if (this.#waiting) return;
    this.#waiting = true;
    this.#running = this.#running.then(async () => {
      this.#waiting = false;
      if (this.#stopped) return;
      try {
        await this.#sweep();
      } catch {
        // Nothing is lost: expired entries are already invisible, and the next sweep
        // or append reclaims their storage.
      }
    });
  }
}
