import type { ServiceError } from "@grpc/grpc-js";
import {
  ServingStatus,
  type GetNodeInfoResponse,
  type GetRuntimeStatsResponse,
  type HealthResponse,
  type ListActivationsResponse,
} from "../protos/index.ts";
import { formatDuration, table } from "./format.ts";
import { ControlClient, controlAddress } from "./grpc-client.ts";

export interface StatusInput {
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
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
      ...Object.entries(stats.gatewayMetrics ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, value]): [string, string] => [name, String(value)]),
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
  const { address, timeoutMs } = controlAddress(input.flags, input.env);
  const c = new ControlClient(address, timeoutMs);
  try {
    const [health, info, acts, stats] = await Promise.all([
      c.call(c.client.health, {}),
      c.call(c.client.getNodeInfo, {}),
      c.call(c.client.listActivations, { type: "", sampleIds: 0, localOnly: true }),
      c.call(c.client.getRuntimeStats, {}),
    ]);
    process.stdout.write(input.flags.json ? JSON.stringify({ health, info, activations: acts, stats }, null, 2) + "\n" : formatStatus(health, info, acts, stats));
    return health.status === ServingStatus.SERVING_STATUS_SERVING ? 0 : 1;
  } catch (err) {
    const e = err as ServiceError;
    process.stderr.write(`switchboard: no Switchboard node answered at ${address} within ${timeoutMs} ms (${e.details || e.message}); is one running? (switchboard start, or --host/--grpc-port)\n`);
    return 1;
  } finally {
    c.close();
  }
}
