import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

export const repoRoot = new URL("../../", import.meta.url).pathname;

/** Tests never take a fixed port: a node's MQTT listener picks a free one unless a test says otherwise. */
const noFixedPorts = { SWITCHBOARD_MQTT_PORT: "0" };
export const cliPath = new URL("../../bin/switchboard.js", import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `switchboard ARGS…` to completion with this test's Node. */
export async function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...noFixedPorts, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly component?: string;
  readonly [key: string]: unknown;
}

/** A `switchboard start` process, its JSON log lines, and how to stop it (by PID). */
export class NodeProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = "";
  readonly #waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();

  /** `script`: run this entry point (which calls `runStart`) instead of `switchboard start`. */
  constructor(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; script?: string } = {}) {
    const argv = options.script === undefined ? [cliPath, "start", ...args] : [options.script, ...args];
    // A fixture gets a stdin pipe and exits when it closes, so a test run that is killed
    // outright does not leave nodes behind.
    this.child = spawn(process.execPath, argv, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...noFixedPorts, ...options.env },
      stdio: [options.script === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d));
    createInterface({ input: this.child.stdout! }).on("line", (raw) => {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        line = { level: "raw", msg: raw };
      }
      this.lines.push(line);
      for (const w of this.#waiters) if (w.match(line)) (this.#waiters.delete(w), w.resolve(line));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first log line (past or future) that matches; rejects if the process exits first or time runs out. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (l: LogLine) => (clearTimeout(t), this.child.off("exit", onExit), resolve(l)) };
      const onExit = (code: number | null) => (this.#waiters.delete(w), clearTimeout(t), reject(new Error(`node exited (${code}) before the expected log line; stderr: ${this.stderr}`)));
      const t = setTimeout(() => (this.#waiters.delete(w), this.child.off("exit", onExit), reject(new Error(`no matching log line within ${timeoutMs} ms`))), timeoutMs);
      this.#waiters.add(w);
      this.child.once("exit", onExit);
    });
  }

  /** Waits until the node reports it has started; returns its listeners by protocol. */
  async started(): Promise<Record<string, number>> {
    const line = await this.waitFor((l) => l.msg === "node started");
    const listeners = line.listeners as { protocol: string; port: number }[];
    return Object.fromEntries(listeners.map((l) => [l.protocol, l.port]));
  }

  /** Sends a signal and waits for the exit; returns the exit code (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = once(this.child, "exit") as Promise<[number | null]>;
    process.kill(this.pid, signal);
    const t = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const [code] = await exited;
    clearTimeout(t);
    return code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
  }
}
