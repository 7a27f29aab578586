/**
 * Calls a user callback so that its failure, thrown or as a rejected promise, goes to
 * `onError` instead of up into the transport's delivery loop (where a throw would stop
 * delivery for everyone) or out as an unhandled rejection.
 */
export function runGuarded<T>(fn: (arg: T) => unknown, arg: T, onError: (err: unknown) => void): void {
  try {
    const result = fn(arg);
    if (isThenable(result)) result.then(undefined, onError);
  } catch (err) {
    onError(err);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}
