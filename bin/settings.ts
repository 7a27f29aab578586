import { isIP } from "node:net";

/**
 * Every setting of `switchboard start`, as data: one row gives the flag, the
 * environment variable, the config-file key, the default, the check and the help
 * text. Precedence: flag > environment > config file > default.
 */
export interface Setting<T> {
  /** Long flag without the dashes, e.g. `grpc-port`. */
  readonly flag: string;
  /** Environment variable, e.g. `SWITCHBOARD_GRPC_PORT`. */
  readonly env: string;
  /** Dotted key in the config file, e.g. `grpc.port`. */
  readonly key: string;
  readonly help: string;
  /** Default value, or a function of the other settings. */
  readonly fallback: T | undefined;
  /** Shown in help instead of the default value. */
  readonly fallbackText?: string;
  /** Parses a string (flag, env) or a config value; throws an `Error` whose message says what is wrong. */
  readonly parse: (raw: unknown) => T;
}

function port(raw: unknown): number {
  const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${show(raw)} is not a port number (0-65535; 0 picks a free port)`);
  return n;
}

function text(pattern: RegExp, what: string): (raw: unknown) => string {
  return (raw) => {
    if (typeof raw !== "string" || !pattern.test(raw)) throw new Error(`${show(raw)} is not ${what}`);
    return raw;
  };
}

function intIn(min: number, max: number, what: string): (raw: unknown) => number {
  return (raw) => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${show(raw)} is not ${what} (${min}-${max})`);
    return n;
  };
}

function host(raw: unknown): string {
  if (typeof raw === "string" && (isIP(raw) !== 0 || /^[A-Za-z0-9.-]{1,253}$/.test(raw))) return raw;
  throw new Error(`${show(raw)} is not a host name or IP address`);
}

function natsUrls(raw: unknown): string {
  const list = typeof raw === "string" ? raw.split(",").map((s) => s.trim()) : Array.isArray(raw) ? raw : [raw];
  for (const u of list) {
    if (typeof u !== "string" || !/^(nats|tls|ws|wss):\/\/[^\s/]+/.test(u)) {
      throw new Error(`${show(u)} is not a NATS URL (nats://host:port, comma-separated for several)`);
    }
  }
  return list.join(",");
}

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function show(raw: unknown): string {
  return typeof raw === "string" ? JSON.stringify(raw) : String(JSON.stringify(raw) ?? raw);
}

export const settings = {
  nodeId: {
    flag: "node-id",
    env: "SWITCHBOARD_NODE_ID",
    key: "node.id",
    help: "Name of this node, unique in a cluster (letters, digits, . _ -).",
    fallback: undefined,
    fallbackText: "host name",
    parse: text(/^[A-Za-z0-9._-]{1,64}$/, "a node id (1-64 of A-Z a-z 0-9 . _ -)"),
  },
  host: {
    flag: "host",
    env: "SWITCHBOARD_HOST",
    key: "node.host",
    help: "Address every listener binds to. Loopback unless you say otherwise.",
    fallback: "127.0.0.1",
    parse: host,
  },
  dataDir: {
    flag: "data-dir",
    env: "SWITCHBOARD_DATA_DIR",
    key: "node.dataDir",
    help: "Directory for the embedded store (state, logs, reminders). Created if missing.",
    fallback: "./switchboard-data",
    parse: text(/^.+$/, "a directory path"),
  },
  grpcPort: {
    flag: "grpc-port",
    env: "SWITCHBOARD_GRPC_PORT",
    key: "grpc.port",
    help: "Port of the gRPC control and messaging API.",
    fallback: 7400,
    parse: port,
  },
  nats: {
    flag: "nats",
    env: "SWITCHBOARD_NATS",
    key: "nats.url",
    help: "NATS server URL(s), comma-separated: join a cluster. Unset: embedded mode.",
    fallback: undefined,
    fallbackText: "none (embedded)",
    parse: natsUrls,
  },
  clusterName: {
    flag: "cluster-name",
    env: "SWITCHBOARD_CLUSTER_NAME",
    key: "cluster.name",
    help: "Cluster mode: name shared by the cluster's nodes; names its NATS subjects and JetStream buckets.",
    fallback: "switchboard",
    parse: text(/^[A-Za-z0-9_-]{1,32}$/, "a cluster name (1-32 of A-Z a-z 0-9 _ -)"),
  },
  partitions: {
    flag: "partitions",
    env: "SWITCHBOARD_PARTITIONS",
    key: "cluster.partitions",
    help: "Cluster mode: partition count, fixed by the first node of a cluster (later nodes use the stored one).",
    fallback: 64,
    parse: intIn(1, 4096, "a partition count"),
  },
  replicas: {
    flag: "replicas",
    env: "SWITCHBOARD_REPLICAS",
    key: "cluster.replicas",
    help: "Cluster mode: JetStream copies of state and tables (1, or 3 on a NATS cluster of 3 or more).",
    fallback: 1,
    parse: intIn(1, 5, "a replica count"),
  },
  leaseMs: {
    flag: "lease-ms",
    env: "SWITCHBOARD_LEASE_MS",
    key: "cluster.leaseMs",
    help: "Cluster mode: a node silent this long is dead and its partitions move; it stops serving itself after as long without NATS.",
    fallback: 3000,
    parse: intIn(500, 60_000, "a lease in milliseconds"),
  },
  logLevel: {
    flag: "log-level",
    env: "SWITCHBOARD_LOG_LEVEL",
    key: "log.level",
    help: `Log level: ${logLevels.join(", ")}.`,
    fallback: "info",
    parse: (raw) => {
      if (typeof raw === "string" && (logLevels as readonly string[]).includes(raw)) return raw;
      throw new Error(`${show(raw)} is not a log level (${logLevels.join(", ")})`);
    },
  },
} as const satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof settings;
export type NodeSettings = {
  -readonly [K in SettingName]: (typeof settings)[K] extends Setting<infer T> ? T : never;
};
