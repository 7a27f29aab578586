import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { ConfigError } from "./config.ts";

export interface DevClusterInput {
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
}

function intFlag(raw: unknown, name: string, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(String(raw)) || n < min || n > max) throw new ConfigError(`--${name}: "${raw}" is not a number from ${min} to ${max}`);
  return n;
}

/**
 * `switchboard dev-cluster`: a local cluster for development. Starts one nats-server
 * with JetStream (its store under --data-dir) and N `switchboard start --nats` nodes
 * on consecutive ports, prefixes their logs with the node id, and stops everything on
 * Ctrl-C. Not for production: one NATS server, one machine.
 */
export async function runDevCluster(input: DevClusterInput): Promise<number> {
  const nodes = intFlag(input.flags.nodes, "nodes", 1, 9, 3);
  const natsPort = intFlag(input.flags["nats-port"], "nats-port", 1, 65535, 4322);
  const grpcBase = intFlag(input.flags["grpc-port"], "grpc-port", 1, 65535 - nodes, 7401);
  const mqttBase = intFlag(input.flags["mqtt-port"], "mqtt-port", 1, 65535 - nodes, 1884);
  const natsBin = (input.flags["nats-server"] as string | undefined) ?? input.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
  const dataDir = resolve((input.flags["data-dir"] as string | undefined) ?? "./switchboard-dev-cluster");
  mkdirSync(dataDir, { recursive: true });
  const conf = resolve(dataDir, "nats.conf");
  writeFileSync(conf, `listen: "127.0.0.1:${natsPort}"\njetstream { store_dir: "${resolve(dataDir, "jetstream")}" }\n`);

  const children: ChildProcess[] = [];
  const pipe = (child: ChildProcess, name: string) => {
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on("line", (l) => process.stdout.write(`${name.padEnd(6)} | ${l}\n`));
  };
  const nats = spawn(natsBin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  nats.once("error", (err) => process.stderr.write(`switchboard: --nats-server ${natsBin}: ${err.message}\n`));
  children.push(nats);
  pipe(nats, "nats");
  await new Promise((r) => setTimeout(r, 500));
  if (nats.exitCode !== null || nats.pid === undefined) {
    process.stderr.write(`switchboard: nats-server did not start (is port ${natsPort} free? --nats-port)\n`);
    return 1;
  }
  const cli = new URL("./switchboard.js", import.meta.url).pathname;
  for (let i = 1; i <= nodes; i++) {
    const id = `n${i}`;
    const child = spawn(process.execPath, [cli, "start", "--nats", `nats://127.0.0.1:${natsPort}`, "--node-id", id, "--grpc-port", String(grpcBase + i - 1), "--mqtt-port", String(mqttBase + i - 1)], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...input.env, SWITCHBOARD_CONFIG: "" },
    });
    children.push(child);
    pipe(child, id);
  }
  process.stdout.write(
    `dev cluster: nats-server on 127.0.0.1:${natsPort}, nodes n1..n${nodes} with gRPC on ${grpcBase}..${grpcBase + nodes - 1} and MQTT on ${mqttBase}..${mqttBase + nodes - 1}\n` +
      `try: npx switchboard cluster status --grpc-port ${grpcBase}\n`,
  );
  await new Promise<void>((r) => {
    process.once("SIGINT", r);
    process.once("SIGTERM", r);
  });
  for (const c of children.slice(1)) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGTERM");
  await Promise.all(children.slice(1).map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))));
  if (nats.pid && nats.exitCode === null) process.kill(nats.pid, "SIGTERM");
  return 0;
}
