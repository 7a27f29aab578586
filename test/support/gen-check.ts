// Regenerates the protobuf TypeScript into a scratch folder and fails if it differs
// from what is committed: generated code is never edited by hand (STYLE.md §18).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const committed = join(root, "protos/gen");
const scratch = mkdtempSync(join(tmpdir(), "sb-gen-"));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

try {
  execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "-o", scratch], { cwd: root, stdio: "inherit" });
  const fresh = join(scratch, "protos/gen");
  const want = files(fresh).map((f) => relative(fresh, f)).sort();
  const have = files(committed).map((f) => relative(committed, f)).sort();
  const problems: string[] = [];
  for (const f of new Set([...want, ...have])) {
    if (!want.includes(f)) problems.push(`protos/gen/${f} is committed but no longer generated`);
    else if (!have.includes(f)) problems.push(`protos/gen/${f} is generated but not committed`);
    else if (readFileSync(join(fresh, f), "utf8") !== readFileSync(join(committed, f), "utf8")) {
      problems.push(`protos/gen/${f} differs from what ts-proto generates`);
    }
  }
  if (problems.length > 0) {
    console.error(problems.join("\n") + "\nRun `npm run gen` and commit the result.");
    process.exitCode = 1;
  } else {
    console.log(`gen:check: ${want.length} generated files match the .proto sources`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
