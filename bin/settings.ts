import { isIP } from "node:net";
import type { MqttSettings } from "../gateways/mqtt/index.ts";

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

/** A port number, or `off` for a listener that is not opened. */
function portOrOff(raw: unknown): number | "off" {
  if (raw === "off" || raw === false) return "off";
  return port(raw);
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
  mqttPort: {
    flag: "mqtt-port",
    env: "SWITCHBOARD_MQTT_PORT",
    key: "mqtt.port",
    help: "Port of the MQTT listener (TCP). 0 picks a free port; off turns it off.",
    fallback: 1883,
    parse: portOrOff,
  },
  mqttWsPort: {
    flag: "mqtt-ws-port",
    env: "SWITCHBOARD_MQTT_WS_PORT",
    key: "mqtt.wsPort",
    help: "Port of the MQTT-over-WebSocket listener (subprotocol mqtt). 0 picks a free port; off (default) turns it off.",
    fallback: "off",
    parse: portOrOff,
  },
  mqttTlsPort: {
    flag: "mqtt-tls-port",
    env: "SWITCHBOARD_MQTT_TLS_PORT",
    key: "mqtt.tlsPort",
    help: "Port of the MQTT listener over TLS (needs mqtt.tls). 0 picks a free port; off (default) turns it off.",
    fallback: "off",
    parse: portOrOff,
  },
  mqttWssPort: {
    flag: "mqtt-wss-port",
    env: "SWITCHBOARD_MQTT_WSS_PORT",
    key: "mqtt.wssPort",
    help: "Port of the MQTT-over-secure-WebSocket listener (needs mqtt.tls). 0 picks a free port; off (default) turns it off.",
    fallback: "off",
    parse: portOrOff,
  },
  maxInbox: {
    flag: "max-inbox",
    env: "SWITCHBOARD_MAX_INBOX",
    key: "messaging.maxInbox",
    help: "Messages a user's inbox keeps unacknowledged (their offline queue).",
    fallback: 1000,
    parse: intIn(1, 1_000_000, "an inbox bound"),
  },
  inboxPolicy: {
    flag: "inbox-policy",
    env: "SWITCHBOARD_INBOX_POLICY",
    key: "messaging.inboxPolicy",
    help: "When an inbox is full: drop-oldest (dropped messages are counted) or refuse-new (the send fails).",
    fallback: "drop-oldest",
    parse: (raw): "drop-oldest" | "refuse-new" => {
      if (raw === "drop-oldest" || raw === "refuse-new") return raw;
      throw new Error(`${show(raw)} is not an inbox policy (drop-oldest, refuse-new)`);
    },
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
} & {
  /** Tenants and the hashes of their API keys, for the gRPC messaging API. */
  tenants: TenantKeys[];
  /**
   * The config file's `mqtt` section, checked, with defaults filled. Present when the
   * command asked for it (`start` does: see `ConfigSources.parseMqtt`).
   */
  mqtt?: MqttSettings;
};

/**
 * The parts of the config file's `mqtt` section that gateways/mqtt parses as a whole
 * (`parseMqttSettings`; its `mqttSettingKeys` is the same list). Each stays one value
 * when the file is flattened; other `mqtt.*` keys are ordinary settings.
 */
export const mqttSection = {
  key: "mqtt",
  parts: ["anonymous", "defaultTenant", "tenants", "acl", "limits", "tls"],
} as const;

/** One tenant of the gRPC messaging API and the hashes of its API keys. */
export interface TenantKeys {
  readonly tenant: string;
  /** `sha256:<64 lower-case hex digits>` each. */
  readonly apiKeyHashes: readonly string[];
}

// The rules of `checkTenant` (actors/) and of `parseApiKeyHash` (gateways/grpc/),
// checked here too so that every command reads its config file without loading them.
const tenantName = /^[A-Za-z0-9_.-]{1,64}$/;
export const isTenantName = (s: string): boolean => tenantName.test(s);
const keyHash = /^sha256:[0-9a-fA-F]{64}$/;
const hashHelp = "sha256:<64 hex digits>; `switchboard apikey` makes a key and its hash";

/**
 * The API keys, by tenant. They have no flag: a flag's value shows in `ps` and in
 * shell history, so they come from the config file or the environment only. The
 * variable, when set, replaces the file's keys entirely (as any variable wins over
 * the file). Only hashes are ever configured.
 */
export const apiKeysSetting = {
  env: "SWITCHBOARD_API_KEYS",
  key: "tenants",
  help: "API keys of the gRPC messaging API, by tenant: hashes only, never a flag.",
  /**
   * `tenants: { acme: { apiKeys: ["sha256:…"] } }` from the config file. Throws an
   * `Error` whose message starts with the offending key (`tenants.acme.apiKeys[1]: …`).
   */
  parseFile(raw: unknown): TenantKeys[] {
    if (raw === null || raw === undefined) return [];
    if (typeof raw !== "object" || Array.isArray(raw)) throw new Error(`tenants: ${show(raw)} is not a mapping of tenant names to { apiKeys: [...] }`);
    const entries: [string, string][] = [];
    for (const [tenant, value] of Object.entries(raw)) {
      const at = `tenants.${tenant}`;
      if (!tenantName.test(tenant)) throw new Error(`${at}: ${show(tenant)} is not a tenant name (1-64 of A-Z a-z 0-9 _ . -)`);
      if (value === null || value === undefined) continue;
      if (typeof value !== "object" || Array.isArray(value)) throw new Error(`${at}: ${show(value)} is not a mapping ({ apiKeys: [...] })`);
      for (const k of Object.keys(value)) if (k !== "apiKeys") throw new Error(`unknown setting ${show(`${at}.${k}`)} (a tenant has: apiKeys)`);
      const keys = (value as { apiKeys?: unknown }).apiKeys;
      if (keys === undefined || keys === null) continue;
      if (!Array.isArray(keys)) throw new Error(`${at}.apiKeys: ${show(keys)} is not a list of key hashes (${hashHelp})`);
      keys.forEach((hash: unknown, i) => {
        if (typeof hash !== "string" || !keyHash.test(hash)) throw new Error(`${at}.apiKeys[${i}]: ${show(hash)} is not an API key hash (${hashHelp})`);
        entries.push([tenant, hash]);
      });
    }
    return byTenant(entries, (i) => {
      const [tenant] = entries[i]!;
      const index = entries.slice(0, i).filter(([t]) => t === tenant).length;
      return `tenants.${tenant}.apiKeys[${index}]`;
    });
  },
  /** `acme=sha256:…,beta=sha256:…` from the environment. */
  parseEnv(raw: string): TenantKeys[] {
    const entries: [string, string][] = [];
    raw.split(",").forEach((item, i) => {
      const parts = item.trim().split("=");
      const [tenant = "", hash = ""] = parts;
      const at = `entry ${i + 1}`;
      if (parts.length !== 2 || !tenantName.test(tenant)) throw new Error(`${at}: ${show(item.trim())} is not <tenant>=sha256:<64 hex digits>`);
      if (!keyHash.test(hash)) throw new Error(`${at}: ${show(hash)} is not an API key hash (${hashHelp})`);
      entries.push([tenant, hash]);
    });
    return byTenant(entries, (i) => `entry ${i + 1}`);
  },
};

/** Groups `[tenant, hash]` pairs by tenant; a hash listed for two tenants is an error at `where(i)`. */
function byTenant(entries: readonly [string, string][], where: (i: number) => string): TenantKeys[] {
  const owner = new Map<string, string>();
  const out = new Map<string, string[]>();
  entries.forEach(([tenant, hash], i) => {
    const h = hash.toLowerCase();
    const had = owner.get(h);
    if (had !== undefined && had !== tenant) throw new Error(`${where(i)}: this key is already listed for tenant ${had}; a key belongs to one tenant`);
    owner.set(h, tenant);
    let list = out.get(tenant);
    if (list === undefined) out.set(tenant, (list = []));
    if (!list.includes(h)) list.push(h);
  });
  return [...out].map(([tenant, apiKeyHashes]) => ({ tenant, apiKeyHashes }));
}
