import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  ControlServiceClient,
  ServingStatus,
  type GetNodeInfoResponse,
  type GetRuntimeStatsResponse,
  type HealthResponse,
  type ListActivationsResponse,
} from "../protos/index.ts";
import { ConfigError, resolveSettings } from "./config.ts";
import { formatDuration, table } from "./format.ts";

export interface StatusInput {
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
}

function call<Req, Res>(
  fn: (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  deadline: number,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, new Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res))));
}

const statusName: Record<number, string> = {
  [ServingStatus.SERVING_STATUS_SERVING]: "SERVING",
  [ServingStatus.SERVING_STATUS_DRAINING]: "DRAINING",
  [ServingStatus.SERVING_STATUS_NOT_SERVING]: "NOT SERVING",
};

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;
const ms = (v: number) => `${v.toFixed(1)} ms`;

export function formatStatus(health: HealthResponse, info: GetNodeInfoResponse, acts: ListActivationsResponse, stats: GetRuntimeStatsResponse): string {
  const lines = [
    `Switchboard node ${info.nodeId} — ${statusName[health.status] ?? "UNKNOWN"}`,
    ...table([
      ["version", `${info.version} (Node.js ${info.nodeVersion}, pid ${info.pid})`],
      ["mode", info.mode],
      ["uptime", formatDuration(info.uptimeMs)],
      ["data dir", info.dataDir],
      ["listeners", info.listeners.map((l) => `${l.protocol} ${l.host}:${l.port}`).join(", ")],
      ["activations", `${acts.total} (mailboxes: ${stats.mailboxDepthTotal} waiting, fullest ${stats.mailboxDepthMax})`],
      ["turns", `${stats.turnsTotal} total, ${stats.turnsPerSecond.toFixed(1)}/s, ${stats.turnsFailed} failed`],
      ["refused", `${stats.mailboxRejectedTotal} mailbox full, ${stats.callCyclesRefusedTotal} call cycles, ${stats.deadlinesExpiredTotal} expired, ${stats.duplicatesDroppedTotal} duplicates`],
      ["event loop", `lag p99 ${ms(stats.eventLoopLagP99Ms)}, max ${ms(stats.eventLoopLagMaxMs)}`],
      ["memory", `heap ${mb(stats.heapUsedBytes)}, rss ${mb(stats.rssBytes)}`],
    ]).map((l) => "  " + l),
  ];
  if (acts.groups.length > 0) {
    lines.push("", "  Activations by type");
    lines.push(...table([["type", "count"], ...acts.groups.map((g) => [g.type, String(g.count)])]).map((l) => "    " + l));
  }
  return lines.join("\n") + "\n";
}

/** `switchboard status`: asks one node over gRPC. Resolves with the exit code. */
export async function runStatus(input: StatusInput): Promise<number> {
  const f = input.flags;
  const configFile = (f.config as string | undefined) ?? (input.env.SWITCHBOARD_CONFIG || undefined);
  const cfg = resolveSettings({
    flags: { host: f.host as string | undefined, "grpc-port": f["grpc-port"] as string | undefined },
    env: input.env,
    configFile,
  });
  const timeoutRaw = (f["timeout-ms"] as string | undefined) ?? "3000";
  const timeoutMs = Number(timeoutRaw);
  if (!/^\d+$/.test(timeoutRaw) || timeoutMs < 1) throw new ConfigError(`--timeout-ms: "${timeoutRaw}" is not a positive number of milliseconds`);
  const host = cfg.host === "0.0.0.0" ? "127.0.0.1" : cfg.host === "::" ? "::1" : cfg.host;
  const address = host.includes(":") ? `[${host}]:${cfg.grpcPort}` : `${host}:${cfg.grpcPort}`;
  const client = new ControlServiceClient(address, credentials.createInsecure());
  try {
    const deadline = Date.now() + timeoutMs;
    const [health, info, acts, stats] = await Promise.all([
      call(client.health.bind(client), {}, deadline),
      call(client.getNodeInfo.bind(client), {}, deadline),
      call(client.listActivations.bind(client), { type: "", sampleIds: 0 }, deadline),
      call(client.getRuntimeStats.bind(client), {}, deadline),
    ]);
    process.stdout.write(f.json ? JSON.stringify({ health, info, activations: acts, stats }, null, 2) + "\n" : formatStatus(health, info, acts, stats));
    return health.status === ServingStatus.SERVING_STATUS_SERVING ? 0 : 1;
  } catch (err) {
    const e = err as ServiceError;
    process.stderr.write(`switchboard: no Switchboard node answered at ${address} within ${timeoutMs} ms (${e.details || e.message}); is one running? (switchboard start, or --host/--grpc-port)\n`);
    return 1;
  } finally {
    client.close();
  }
}
