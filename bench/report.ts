/** One measured figure. `reference` and `ratio` when the issue names a reference measured in the same run. */
export interface Measurement {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly reference?: number;
  readonly ratio?: number;
  readonly [extra: string]: unknown;
}

/** Prints a measurement as one JSON line on standard output. */
export function report(m: Measurement): void {
  const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Number(n.toPrecision(4)));
  const out: Record<string, unknown> = { ...m, value: round(m.value) };
  if (m.reference !== undefined) out.reference = round(m.reference);
  if (m.ratio !== undefined) out.ratio = round(m.ratio);
  process.stdout.write(JSON.stringify(out) + "\n");
}

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up; returns operations per second. */
export async function rate(fn: () => unknown, ms = 1000, batch = 1000): Promise<number> {
  const deadline = performance.now() + ms / 5;
  // Await only what is a promise: awaiting a plain value would time the microtask queue.
  const once = async () => {
    for (let i = 0; i < batch; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
  };
  while (performance.now() < deadline) await once();
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await once();
    ops += batch;
  }
  return (ops * 1000) / (performance.now() - start);
}
