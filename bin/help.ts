import { apiKeysSetting, settings } from "./settings.ts";

const pad = (s: string, n: number) => (s.length >= n ? s + "  " : s + " ".repeat(n - s.length));

function settingRows(): string {
  return Object.values(settings)
    .map((s) => {
      const def = "fallbackText" in s ? s.fallbackText : String(s.fallback);
      return `  ${pad(`--${s.flag} <value>`, 26)}${s.help}\n  ${pad("", 26)}env ${s.env}, config ${s.key}, default ${def}`;
    })
    .join("\n");
}

export function helpText(version: string): string {
  return `switchboard ${version} — a distributed virtual-actor runtime for messaging and contact centres

Usage:
  switchboard start [options]     Run a node. With no --nats it runs embedded: one process,
                                  no external server, state on local disk.
  switchboard status [options]    Ask a running node over gRPC and print a summary.
  switchboard cluster status      Every node of the cluster with its load and partitions.
  switchboard cluster locate ID   Which partition and node an actor (type/tenant:key) lives on.
  switchboard cluster move P NODE Move partition P to NODE (the owner drains it first).
  switchboard cluster drain NODE  Move all of NODE's partitions away; NODE then exits 0.
                                  (cluster takes the options of status; any node answers.)
  switchboard dev-cluster         A local cluster for development: one nats-server with JetStream
                                  and 3 nodes (--nodes N, --nats-port 4322, --grpc-port 7401..,
                                  --mqtt-port 1884.., --data-dir ./switchboard-dev-cluster,
                                  --nats-server PATH).
  switchboard apikey              Make an API key for the gRPC messaging API and print it once, with
                                  the config lines holding its hash (--tenant T, --json).
  switchboard passwd              Hash an MQTT user's password for the config file (mqtt.tenants.T.users).
                                  The password is typed twice at a prompt, or piped in with
                                  --password-stdin; never a flag (--user U, --tenant T, --cost 10-18, --json).
  switchboard help | --help       This text.
  switchboard version | --version

Options of start (flag > environment variable > config file > default):
${settingRows()}
  ${pad("--config <file>", 26)}YAML or JSON file with the keys above, nested by section, e.g.
  ${pad("", 26)}  node: { id: n1, dataDir: /var/lib/switchboard }
  ${pad("", 26)}  grpc: { port: 7400 }
  ${pad("", 26)}env SWITCHBOARD_CONFIG
  ${pad("(no flag)", 26)}${apiKeysSetting.help}
  ${pad("", 26)}config ${apiKeysSetting.key}: { <tenant>: { apiKeys: ["sha256:<64 hex>"] } },
  ${pad("", 26)}env ${apiKeysSetting.env}=<tenant>=sha256:<64 hex>,… (replaces the file's keys),
  ${pad("", 26)}default none (every messaging call is refused); see docs/grpc.md

Options of status:
  ${pad("--host <addr>", 26)}Node to ask; default 127.0.0.1 (or as configured).
  ${pad("--grpc-port <port>", 26)}Its gRPC port; default 7400 (or as configured).
  ${pad("--config <file>", 26)}Take host and port from the node's config file.
  ${pad("--json", 26)}Print the raw answers as JSON.
  ${pad("--timeout-ms <ms>", 26)}How long to wait for the node; default 3000.

Telemetry: spans are exported over OTLP only when the standard variables ask for it
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER=otlp, OTEL_SERVICE_NAME, …).

Signals: SIGINT or SIGTERM stop the node gracefully (finish running work, persist,
close listeners); a second one exits at once.

Exit status: 0 on success; 1 when the node fails (a port in use, an unreachable node);
2 for bad usage or configuration.
`;
}
