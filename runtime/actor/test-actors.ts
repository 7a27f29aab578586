// Actor types shared by the runtime's tests (not a test file itself).
import { defineActor } from "./actor-definition.ts";

export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

export const Counter = defineActor({
  type: "counter",
  initialState: () => ({ n: 0, log: [] as string[] }),
  idleTimeoutMs: 60_000,
  handlers: {
    add: (ctx, by: number) => (ctx.state.n += by),
    get: { readOnly: true, handler: (ctx) => ctx.state.n },
    fail: (ctx, why: string) => {
      ctx.state.n = -999;
      throw new Error(why);
    },
  },
});
