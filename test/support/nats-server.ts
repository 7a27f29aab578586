import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.ts";

export const natsServerBinary = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export interface NatsServerOptions {
  /** Enable JetStream with a private store directory; default true. */
  readonly jetstream?: boolean;
  /** Cluster name and the route URLs of the other members (for `startNatsCluster`). */
  readonly cluster?: { readonly name: string; readonly port: number; readonly routes: readonly string[] };
  /** Server name; needed by JetStream in a cluster. */
  readonly name?: string;
  /** Client port; default a free one. Kept across `restart()`. */
  readonly port?: number;
  /** Serve the HTTP monitoring endpoints (`/connz`, …) on a free port. */
  readonly monitor?: boolean;
}

/** One client connection as `/connz` reports it. */
export interface ConnectionCounts {
  readonly name: string;
  /** Messages the client sent to the server. */
  readonly in_msgs: number;
  /** Messages the server sent to the client. */
  readonly out_msgs: number;
  readonly subscriptions: number;
}

/**
 * A real `nats-server` on free loopback ports, started for one test and stopped by
 * its PID. `restart()` brings it back on the same ports with the same JetStream
 * store, for tests of reconnection.
 */
export class NatsServer {
  readonly port: number;
  readonly storeDir: string;
  readonly #options: NatsServerOptions;
  #monitorPort = 0;
  #child: ChildProcess | undefined;
  #log = "";

  private constructor(port: number, options: NatsServerOptions) {
    this.port = port;
    this.#options = options;
    this.storeDir = mkdtempSync(join(tmpdir(), "sb-nats-"));
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options.port ?? (await freePort()), options);
    if (options.monitor) server.#monitorPort = await freePort();
    await server.#spawn();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get log(): string {
    return this.#log;
  }

  /** Every client connection with its message counts (needs `monitor`). */
  async connections(): Promise<ConnectionCounts[]> {
    if (!this.#monitorPort) throw new Error("start the server with monitor: true");
    const res = await fetch(`http://127.0.0.1:${this.#monitorPort}/connz?limit=10000`);
    const body = (await res.json()) as { connections: { name?: string; in_msgs: number; out_msgs: number; subscriptions: number }[] };
    return body.connections.map((c) => ({ name: c.name ?? "", in_msgs: c.in_msgs, out_msgs: c.out_msgs, subscriptions: c.subscriptions }));
  }

  async #spawn(): Promise<void> {
    const o = this.#options;
    const conf = [
      `listen: "127.0.0.1:${this.port}"`,
      o.name ? `server_name: "${o.name}"` : "",
      this.#monitorPort ? `http: "127.0.0.1:${this.#monitorPort}"` : "",
      o.jetstream === false ? "" : `jetstream { store_dir: "${this.storeDir}" }`,
      o.cluster
        ? `cluster { name: "${o.cluster.name}", listen: "127.0.0.1:${o.cluster.port}", routes: [${o.cluster.routes.map((r) => `"${r}"`).join(", ")}] }`
        : "",
    ].join("\n");
    const confPath = join(this.storeDir, "server.conf");
    writeFileSync(confPath, conf);
    const child = spawn(natsServerBinary, ["-c", confPath], { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    const onData = (d: Buffer) => (this.#log += d);
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    await this.#waitReady(child);
  }

  async #waitReady(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}):\n${this.#log}`);
      if (await this.#ping()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not accept connections on ${this.port}:\n${this.#log}`);
  }

  /** Speaks the NATS client protocol: INFO, then CONNECT/PING answered by PONG. */
  #ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, "127.0.0.1");
      let buf = "";
      const done = (ok: boolean) => (socket.destroy(), resolve(ok));
      socket.setTimeout(1000, () => done(false));
      socket.on("error", () => done(false));
      socket.on("data", (d) => {
        buf += d;
        if (buf.startsWith("INFO ") && buf.includes("\r\n") && !buf.includes("PONG")) socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
        if (buf.includes("PONG\r\n")) done(true);
      });
    });
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    process.kill(child.pid!, signal);
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  }

  /** Stops and starts again on the same port with the same store. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** Stops the server and removes its store. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `size` servers routed into one cluster, each with JetStream. */
export async function startNatsCluster(size = 3): Promise<NatsServer[]> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`);
  return Promise.all(
    routePorts.map((port, i) =>
      NatsServer.start({ name: `n${i + 1}`, cluster: { name: "sb-test", port, routes: routes.filter((_, j) => j !== i) } }),
    ),
  );
}
