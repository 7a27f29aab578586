// The MQTT servers `npm run bench -- mqtt` compares, taken abstractly: a command that
// starts one listening on a given loopback port, and, once started, its PID (whose CPU
// and memory the bench reads from /proc) and its port. Also the load generator's
// process handle, and the /proc readings.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../test/support/free-port.ts";

/** How to start one kind of MQTT server. */
export interface MqttServerSpec {
  readonly name: string;
  /** The command line (and extra environment) that starts it on 127.0.0.1:`port`; `dir` is a fresh temp directory of its own. */
  command(port: number, dir: string): { argv: string[]; env?: Record<string, string> };
}

/** Mosquitto as FACTS.md measured it: no persistence, TCP_NODELAY, queues long enough for the scenarios. */
export const mosquitto: MqttServerSpec = {
  name: "mosquitto",
  command(port, dir) {
    const log = join(dir, "mosquitto.log");
    // Run as root, mosquitto drops to the `mosquitto` user before opening its log: let it in.
    chmodSync(dir, 0o755);
    closeSync(openSync(log, "a", 0o666));
    chmodSync(log, 0o666);
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        "allow_anonymous true",
        "set_tcp_nodelay true",
        "persistence false",
        "max_queued_messages 100000",
        "connection_messages false",
        `log_dest file ${log}`,
        "",
      ].join("\n"),
    );
    return { argv: ["/usr/sbin/mosquitto", "-c", conf] };
  },
};

/** An embedded Switchboard node with its MQTT gateway on `port` (anonymous on loopback by default). */
export const switchboard: MqttServerSpec = {
  name: "switchboard",
  command(port, dir) {
    const bin = new URL("../bin/switchboard.js", import.meta.url).pathname;
    return {
      // SB_BENCH_NODE_FLAGS: Node flags for the Switchboard server only (`--cpu-prof --cpu-prof-dir=DIR` profiles it).
      argv: [process.execPath, ...(process.env.SB_BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean), bin, "start", "--mqtt-port", String(port), "--grpc-port", "0", "--data-dir", join(dir, "data")],
      env: { SWITCHBOARD_LOG_LEVEL: "warn" },
    };
  },
};

/** The floor of an MQTT server on Node's sockets (bench/fixtures/mqtt-floor-relay.ts): what Node alone costs per message. */
export const nodeRelay: MqttServerSpec = {
  name: "node-relay",
  command(port) {
    return { argv: [process.execPath, new URL("./fixtures/mqtt-floor-relay.ts", import.meta.url).pathname, String(port)] };
  },
};

/** Aedes (bench/fixtures/aedes-server.ts): the Node MQTT broker the targets name. */
export const aedes: MqttServerSpec = {
  name: "aedes",
  command(port) {
    return { argv: [process.execPath, new URL("./fixtures/aedes-server.ts", import.meta.url).pathname, String(port)] };
  },
};

/** Starts `argv` with the open-files soft limit raised to the hard limit; `exec` keeps the PID the child's. */
export function spawnWithNofile(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; stdio: Parameters<typeof spawn>[2]["stdio"] }): ChildProcess {
  const script = 'h=$(ulimit -Hn); [ "$h" = unlimited ] && h=1048576; ulimit -n "$h" && exec "$@"';
  return spawn("sh", ["-c", script, "sh", ...argv], { env: options.env ?? process.env, stdio: options.stdio });
}

export class RunningServer {
  private exited: string | undefined;
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly dir: string;
  readonly logFile: string;
  private readonly child: ChildProcess;

  private constructor(name: string, child: ChildProcess, port: number, dir: string, logFile: string) {
    this.name = name;
    this.child = child;
    this.pid = child.pid!;
    this.port = port;
    this.dir = dir;
    this.logFile = logFile;
    child.on("exit", (code, signal) => (this.exited = signal ?? `exit ${code}`));
  }

  static async start(spec: MqttServerSpec, label: string): Promise<RunningServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), `sb-bench-mqtt-${label}-`));
    const { argv, env } = spec.command(port, dir);
    const logFile = join(dir, "output.log");
    const out = openSync(logFile, "a");
    const child = spawnWithNofile(argv, { env: { ...process.env, ...env }, stdio: ["ignore", out, out] });
    closeSync(out);
    const server = new RunningServer(spec.name, child, port, dir, logFile);
    const deadline = performance.now() + 60_000;
    for (;;) {
      if (server.exited !== undefined) throw new Error(`${label} (${spec.name}) exited at start (${server.exited}): ${server.logTail()}`);
      const probe = await mqttProbe(port);
      if (probe === "ok") return server;
      if (performance.now() > deadline) {
        await server.stop();
        throw new Error(`${label} (${spec.name}) did not answer an MQTT CONNECT on port ${port} within 60 s (last try: ${probe}); its output: ${server.logTail()}`);
      }
      await sleep(100);
    }
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  get exitReason(): string | undefined {
    return this.exited;
  }

  logTail(): string {
    const files = [this.logFile, join(this.dir, "mosquitto.log")];
    const text = files.map((f) => { try { return readFileSync(f, "utf8"); } catch { return ""; } }).join("\n").trim();
    return text.length === 0 ? "(no output)" : text.slice(-1500);
  }

  async stop(): Promise<void> {
    if (this.alive) {
      const gone = new Promise((resolve) => this.child.once("exit", resolve));
      process.kill(this.pid, "SIGTERM");
      const timer = setTimeout(() => this.alive && process.kill(this.pid, "SIGKILL"), 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last resort on exit: no waiting. */
  killNow(): void {
    if (this.alive) process.kill(this.pid, "SIGKILL");
  }
}

/** "ok" when something on `port` accepts an anonymous MQTT 3.1.1 CONNECT; otherwise what went wrong. */
async function mqttProbe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    const done = (outcome: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done("no CONNACK within 2 s"), 2000);
    s.on("error", (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    s.on("close", () => done("closed without a CONNACK"));
    s.on("connect", () => {
      // CONNECT, MQTT 3.1.1, clean session, keep-alive 10 s, client id "sb-bench-probe".
      const id = Buffer.from("sb-bench-probe");
      const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 10, 0, id.length]), id]);
      s.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    });
    s.on("data", (d) => {
      if (d[0] === 0x20 && d.length >= 4) {
        s.write(Buffer.from([0xe0, 0]));
        done(d[3] === 0 ? "ok" : `CONNACK return code ${d[3]}`);
      }
    });
  });
}

/** One load generator process (bench/fixtures/mqtt-load.ts), commanded line by line. */
export class LoadAgent {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private readonly ready: Promise<void>;
  readonly pid: number;
  readonly name: string;

  constructor(name: string) {
    this.name = name;
    const script = new URL("./fixtures/mqtt-load.ts", import.meta.url).pathname;
    this.child = spawnWithNofile([process.execPath, script], { stdio: ["pipe", "pipe", "inherit"] });
    this.pid = this.child.pid!;
    let signalReady: () => void;
    this.ready = new Promise((resolve) => (signalReady = resolve));
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const m = JSON.parse(line) as { id: number; ok: boolean; error?: string };
      if (m.id === 0) return signalReady();
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ok) w?.resolve(m as unknown as Record<string, unknown>);
      else w?.reject(new Error(`${name}: ${m.error}`));
    });
    this.child.on("exit", (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`load generator ${name} exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  async call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.child.stdin!.write(JSON.stringify({ id, cmd, ...args }) + "\n");
    return (await answer) as T;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.killNow(), 5000);
    await gone;
    clearTimeout(timer);
  }

  killNow(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, "SIGKILL");
  }
}

/** The process and its descendants (a server that forks still has all its work counted). */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

let clockTicks: number | undefined;

/** utime and stime of `pid` and its descendants, in microseconds (from /proc/<pid>/stat, all threads). */
export function cpuMicros(pid: number): { user: number; system: number } {
  clockTicks ??= ticksPerSecond();
  let user = 0;
  let system = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      user += Number(f[11]); // field 14, utime
      system += Number(f[12]); // field 15, stime
    } catch {
      // gone meanwhile
    }
  }
  return { user: (user * 1e6) / clockTicks, system: (system * 1e6) / clockTicks };
}

/** CPU time the whole machine spent busy (all cores, everything but idle and iowait), in microseconds (/proc/stat). */
export function machineBusyMicros(): number {
  clockTicks ??= ticksPerSecond();
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const busy = f.slice(0, 8).reduce((x, y) => x + y, 0) - f[3]! - f[4]!;
  return (busy * 1e6) / clockTicks;
}

/** The kernel's USER_HZ from the auxiliary vector (AT_CLKTCK = 17); 100 on every Linux we know. */
function ticksPerSecond(): number {
  const auxv = readFileSync("/proc/self/auxv");
  for (let i = 0; i + 16 <= auxv.length; i += 16) {
    const key = Number(auxv.readBigUInt64LE(i));
    if (key === 17) return Number(auxv.readBigUInt64LE(i + 8));
    if (key === 0) break;
  }
  return 100;
}

/** Resident memory of `pid` and its descendants, in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m !== null) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb * 1024;
}
