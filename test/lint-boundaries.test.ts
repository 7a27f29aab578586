import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { repoRoot } from "./support/node-process.ts";

// The boundary lint must fail on every kind of violation DESIGN.md forbids. Each case
// builds a tiny tree with the same folders, runs the real lint config on it, and
// expects the named rule to fire.
const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "sb-lint-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function lint(files: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(join(scratch, "tree-"));
  copyFileSync(join(repoRoot, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "nodenext", allowImportingTsExtensions: true, noEmit: true } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const bin = join(repoRoot, "node_modules/.bin/depcruise");
  try {
    const { stdout } = await run(bin, ["--config", ".dependency-cruiser.cjs", "runtime", "actors", "gateways", "scaler", "protos"], { cwd: dir });
    return { ok: true, output: stdout };
  } catch (err) {
    return { ok: false, output: String((err as { stdout?: string }).stdout) };
  }
}

const base = {
  "protos/index.ts": "export const p = 1;\n",
  "runtime/index.ts": 'export { p } from "../protos/index.ts";\n',
  "actors/index.ts": 'export { p } from "../runtime/index.ts";\n',
  "scaler/index.ts": 'export { p } from "../runtime/index.ts";\n',
  "gateways/shared/index.ts": 'export { p } from "../../actors/index.ts";\n',
  "gateways/mqtt/index.ts": 'export { p } from "../shared/index.ts";\n',
  "gateways/xmpp/index.ts": 'export { p } from "../shared/index.ts";\n',
};

test("a tree that keeps the rules passes", async () => {
  const r = await lint(base);
  assert.ok(r.ok, r.output);
});

for (const [rule, change] of [
  ["runtime-knows-no-domain", { "runtime/bad.ts": 'import { p } from "../actors/index.ts";\nexport const q = p;\n' }],
  ["runtime-knows-no-domain", { "runtime/bad.ts": 'import { p } from "../gateways/mqtt/index.ts";\nexport const q = p;\n' }],
  ["runtime-knows-no-domain", { "runtime/bad.ts": 'import { p } from "../scaler/index.ts";\nexport const q = p;\n' }],
  ["test-support-only-from-tests", { "runtime/bad.ts": 'import { t } from "../test/support/x.ts";\nexport const q = t;\n', "test/support/x.ts": "export const t = 1;\n" }],
  ["protos-imports-nothing", { "protos/bad.ts": 'import { p } from "../runtime/index.ts";\nexport const q = p;\n' }],
  ["actors-below-gateways", { "actors/bad.ts": 'import { p } from "../gateways/mqtt/index.ts";\nexport const q = p;\n' }],
  ["scaler-beside-domain", { "scaler/bad.ts": 'import { p } from "../actors/index.ts";\nexport const q = p;\n' }],
  ["no-gateway-to-gateway", { "gateways/mqtt/bad.ts": 'import { p } from "../xmpp/index.ts";\nexport const q = p;\n' }],
  ["public-surface-only", { "actors/deep.ts": 'import { x } from "../runtime/internal.ts";\nexport const q = x;\n', "runtime/internal.ts": "export const x = 1;\n" }],
  ["no-circular", { "runtime/a.ts": 'import { b } from "./b.ts";\nexport const a = b;\n', "runtime/b.ts": 'import { a } from "./a.ts";\nexport const b = () => a;\n' }],
] as const) {
  test(`the lint fails on ${rule}: ${Object.keys(change).join(", ")}`, async () => {
    const r = await lint({ ...base, ...change });
    assert.equal(r.ok, false, "the lint must fail");
    assert.match(r.output, new RegExp(rule));
  });
}
