/**
 * Time, injected (STYLE.md §15): the runtime never calls `Date.now()` or `setTimeout`
 * directly, so tests advance a `ManualClock` instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` once after `delayMs`; the returned handle cancels it. */
  setTimer(fn: () => void, delayMs: number): TimerHandle;
}

export interface TimerHandle {
  cancel(): void;
}

/** Node's longest timer, about 24.8 days; `setTimeout` fires a longer one at once. */
const maxTimerMs = 2 ** 31 - 1;

/**
 * The real clock. Its timers do not keep the process alive on their own. A delay
 * longer than Node's timers allow is waited out in steps, so it fires when it should.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, delayMs) {
    const due = Date.now() + Math.max(0, delayMs);
    let t: ReturnType<typeof setTimeout>;
    const arm = () => {
      const left = due - Date.now();
      t = setTimeout(left > maxTimerMs ? arm : fn, Math.min(Math.max(0, left), maxTimerMs));
      t.unref();
    };
    arm();
    return { cancel: () => clearTimeout(t) };
  },
};

interface Pending {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advance` runs every timer that falls due, in
 * due order, including timers those timers set, and lets promise jobs settle between
 * them so async handlers observe the time they were woken at.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #pending: Pending[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const p: Pending = { at: this.#now + Math.max(0, delayMs), order: this.#order++, fn, cancelled: false };
    this.#pending.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  /** Timers not yet run or cancelled. */
  get pendingTimers(): number {
    return this.#pending.filter((p) => !p.cancelled).length;
  }

  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      this.#pending = this.#pending.filter((p) => !p.cancelled);
      this.#pending.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.#pending[0];
      if (next === undefined || next.at > until) break;
      this.#pending.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await settle();
    }
    this.#now = until;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
