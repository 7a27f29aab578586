/**
 * Runs tasks one at a time per key, in call order; tasks on different keys, and
 * unkeyed ones, run concurrently. Stands in for compare-and-swap on backends that lack
 * it (level runs operations on a thread pool in no promised order). A task that fails
 * releases its key like one that succeeds. `idle()` lets `close()` wait for everything
 * in flight.
 */
export class KeyLock {
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #inFlight = new Set<Promise<unknown>>();

  /** Runs `task` after every earlier task on `key`; with no key, at once. */
  run<T>(key: string | undefined, task: () => Promise<T>): Promise<T> {
    const previous = key === undefined ? undefined : this.#tails.get(key);
    const result = previous === undefined ? task() : previous.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(settled);
    if (key !== undefined) this.#tails.set(key, settled);
    void settled.then(() => {
      this.#inFlight.delete(settled);
      if (key !== undefined && this.#tails.get(key) === settled) this.#tails.delete(key);
    });
    return result;
  }

  /** Settles once nothing is queued or running, including tasks queued while waiting. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }
}
