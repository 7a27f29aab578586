// `npm run bench -- NAME [NAME…]`: runs bench/NAME.bench.ts, each printing one JSON
// object per line ({name, value, unit, …}). With no name it lists what there is.
import { readdirSync } from "node:fs";

const available = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.slice(0, -".bench.ts".length))
  .sort();
const names = process.argv.slice(2);
if (names.length === 0) {
  process.stderr.write(`usage: npm run bench -- NAME [NAME…]\navailable: ${available.join(", ")}\n`);
  process.exit(2);
}
for (const name of names) {
  if (!available.includes(name)) {
    process.stderr.write(`bench: no benchmark "${name}" (available: ${available.join(", ")})\n`);
    process.exit(2);
  }
}
for (const name of names) {
  const mod = (await import(`./${name}.bench.ts`)) as { run: () => Promise<void> };
  await mod.run();
}
