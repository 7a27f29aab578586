import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { ListNodesResponse } from "../protos/index.ts";
import { ConfigError } from "./config.ts";
import { formatDuration, table } from "./format.ts";
import { ControlClient, controlAddress } from "./grpc-client.ts";

export interface ClusterInput {
  readonly args: readonly string[];
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
}

export function formatNodes(view: ListNodesResponse, nowMs: number): string {
  const rows = view.nodes.map((n) => [
    n.nodeId + (n.coordinator ? " *" : ""),
    n.draining ? "draining" : "serving",
    String(n.partitions),
    String(n.activations),
    String(n.mailboxDepth),
    `${n.eventLoopLagMs.toFixed(1)} ms`,
    n.turnsPerSecond.toFixed(1),
    formatDuration(nowMs - n.startedUnixMs),
    n.grpcAddress,
  ]);
  return [
    `Cluster: ${view.nodes.length} node(s), ${view.partitions} partitions, ${view.partitionsUnowned} without an active owner; coordinator ${view.coordinator || "(none)"} (*)`,
    "",
    ...table([["node", "state", "partitions", "activations", "mailbox", "loop lag p99", "turns/s", "uptime", "grpc"], ...rows]),
  ].join("\n") + "\n";
}

/** `switchboard cluster status|locate|move|drain`. Resolves with the exit code. */
export async function runCluster(input: ClusterInput): Promise<number> {
  const [sub, ...rest] = input.args;
  const { address, timeoutMs } = controlAddress(input.flags, input.env);
  const json = input.flags.json === true;
  const c = new ControlClient(address, timeoutMs);
  const print = (value: unknown, text: string) => process.stdout.write(json ? JSON.stringify(value, null, 2) + "\n" : text);
  try {
    switch (sub) {
      case "status": {
        const view = await c.call(c.client.listNodes, {});
        print(view, formatNodes(view, Date.now()));
        return view.partitionsUnowned === 0 ? 0 : 1;
      }
      case "locate": {
        if (rest.length !== 1) throw new ConfigError("usage: switchboard cluster locate <type/tenant:key>");
        const loc = await c.call(c.client.locateActor, { actorId: rest[0]! });
        const where = loc.owner === "" ? "no owner yet" : loc.state === "handover" ? `${loc.owner}, moving to ${loc.movingTo}` : loc.owner;
        print(loc, table([["actor", loc.actorId], ["partition", String(loc.partition)], ["node", where]]).join("\n") + "\n");
        return 0;
      }
      case "move": {
        const [p, to] = rest;
        if (rest.length !== 2 || !/^\d+$/.test(p!)) throw new ConfigError("usage: switchboard cluster move <partition> <node-id>");
        const res = await c.call(c.client.movePartition, { partition: Number(p), toNode: to! });
        print(res, res.state === "handover" ? `partition ${res.partition}: moving from ${res.owner} to ${res.movingTo}\n` : `partition ${res.partition}: already on ${res.owner}\n`);
        return 0;
      }
      case "drain": {
        if (rest.length !== 1) throw new ConfigError("usage: switchboard cluster drain <node-id>");
        await c.call(c.client.drainNode, { nodeId: rest[0]! });
        print({ draining: rest[0] }, `node ${rest[0]}: draining; it moves its partitions away, then exits\n`);
        return 0;
      }
      default:
        throw new ConfigError(`unknown cluster command ${sub === undefined ? "(none)" : `"${sub}"`} (status, locate, move, drain)`);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as ServiceError;
    if (e.code === GrpcStatus.UNAVAILABLE && /connect|No connection|ECONNREFUSED/i.test(e.details ?? "")) {
      process.stderr.write(`switchboard: no Switchboard node answered at ${address} (${e.details}); is one running? (--host/--grpc-port)\n`);
    } else {
      process.stderr.write(`switchboard: ${e.details || e.message}\n`);
    }
    return 1;
  } finally {
    c.close();
  }
}
