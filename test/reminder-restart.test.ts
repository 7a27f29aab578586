import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";

const fixture = new URL("./fixtures/reminder-process.ts", import.meta.url).pathname;

test("a reminder set before the process was killed fires after it restarts", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sb-reminder-"));
  const second = { proc: undefined as ReturnType<typeof spawn> | undefined };
  try {
    const first = spawn(process.execPath, [fixture, "arm", dir], { stdio: ["ignore", "pipe", "inherit"] });
    const [, signal] = (await once(first, "exit")) as [number | null, string | null];
    assert.equal(signal, "SIGKILL", "the first process died without a graceful shutdown");

    second.proc = spawn(process.execPath, [fixture, "wait", dir], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: second.proc.stdout! });
    const rang = await new Promise<{ rang: string; rings: number }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("the reminder did not fire within 10 s")), 10_000);
      lines.on("line", (l) => {
        const msg = JSON.parse(l) as { rang?: string; rings: number };
        if (msg.rang) (clearTimeout(t), resolve(msg as { rang: string; rings: number }));
      });
    });
    assert.equal(rang.rang, "alarm/t:restart");
    assert.equal(rang.rings, 1);
  } finally {
    if (second.proc?.pid && second.proc.exitCode === null) {
      process.kill(second.proc.pid, "SIGKILL");
      await once(second.proc, "exit");
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
