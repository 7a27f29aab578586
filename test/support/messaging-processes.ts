import { NodeProcess, type LogLine } from "./node-process.ts";

const fixture = new URL("../fixtures/messaging-node.ts", import.meta.url).pathname;

/** A node process whose messaging API a test drives (test/fixtures/messaging-node.ts). */
export class MessagingProcess {
  readonly node: NodeProcess;
  readonly nodeId: string;
  /** Listener ports by protocol (`grpc`, `mqtt`, …). */
  readonly ports: Readonly<Record<string, number>>;
  #nextId = 0;

  private constructor(nodeId: string, node: NodeProcess, ports: Record<string, number>) {
    this.nodeId = nodeId;
    this.node = node;
    this.ports = ports;
  }

  /** `mqtt://127.0.0.1:<port>` of its MQTT listener. */
  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.ports.mqtt}`;
  }

  static async start(nodeId: string, o: { natsUrl: string | string[]; clusterName: string; partitions?: number; leaseMs?: number; env?: Record<string, string> }): Promise<MessagingProcess> {
    const node = new NodeProcess([], {
      script: fixture,
      env: {
        SWITCHBOARD_NODE_ID: nodeId,
        SWITCHBOARD_NATS: Array.isArray(o.natsUrl) ? o.natsUrl.join(",") : o.natsUrl,
        SWITCHBOARD_CLUSTER_NAME: o.clusterName,
        SWITCHBOARD_PARTITIONS: String(o.partitions ?? 32),
        SWITCHBOARD_LEASE_MS: String(o.leaseMs ?? 1500),
        SWITCHBOARD_GRPC_PORT: "0",
        SWITCHBOARD_CONFIG: "",
        SWITCHBOARD_LOG_LEVEL: process.env.SB_TEST_LOG ?? "info",
        ...o.env,
      },
    });
    const ports = await node.started();
    return new MessagingProcess(nodeId, node, ports);
  }

  /** Runs one command of the fixture; rejects with the node's error (its `code` kept). */
  async command<T = any>(op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    const id = ++this.#nextId;
    this.node.child.stdin!.write(JSON.stringify({ id, op, ...args }) + "\n");
    const line: LogLine = await this.node.waitFor((l) => l.sbtest === "reply" && l.id === id, timeoutMs);
    if (line.ok) return line.result as T;
    const e = line.error as { code: string; message: string };
    throw Object.assign(new Error(`${this.nodeId} ${op}: ${e.message}`), { code: e.code });
  }

  kill(): Promise<number | null> {
    return this.node.stop("SIGKILL");
  }

  stop(): Promise<number | null> {
    return this.node.stop("SIGTERM");
  }
}
