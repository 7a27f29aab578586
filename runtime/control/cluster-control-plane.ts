import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ControlServiceClient, type ListActivationsResponse } from "../../protos/index.ts";
import { parseActorId } from "../actor/actor-id.ts";
import type { ClusterNode } from "../cluster/cluster-node.ts";
import type { PartitionRecord } from "../cluster/partition-record.ts";
import { SwitchboardError } from "../errors.ts";
import type { EventLoopMonitor } from "../telemetry/event-loop-monitor.ts";
import type { ActivationCounts, ActorPlace, ControlPlane, NodeInfo } from "./control-plane.ts";
import { nodeStats } from "./runtime-control-plane.ts";

export interface ClusterControlPlaneOptions {
  readonly node: ClusterNode;
  readonly nodeInfo: () => NodeInfo;
  readonly eventLoop: EventLoopMonitor;
  /** How long a peer may take to answer a fan-out; default 3,000 ms. */
  readonly peerTimeoutMs?: number;
  /** The gateways' metrics, read on every stats call. */
  readonly gatewayMetrics?: () => Record<string, number>;
}

function place(actorId: string, partition: number, r: PartitionRecord | undefined): ActorPlace {
  return { actorId, partition, owner: r?.owner ?? "", state: r?.state ?? "unassigned", movingTo: r?.state === "handover" ? (r.to ?? "") : "" };
}

/** Asks one peer for its own activations over gRPC. */
function peerActivations(address: string, filter: { type?: string; sampleIds: number }, timeoutMs: number): Promise<ListActivationsResponse> {
  const client = new ControlServiceClient(address, credentials.createInsecure());
  return new Promise<ListActivationsResponse>((resolve, reject) => {
    client.listActivations({ type: filter.type ?? "", sampleIds: filter.sampleIds, localOnly: true }, new Metadata(), { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, res) =>
      err ? reject(err) : resolve(res),
    );
  }).finally(() => client.close());
}

/**
 * The `ControlPlane` of a cluster node: any node answers for the whole cluster, from
 * the shared tables (nodes, partitions) and by asking its peers (activations).
 */
export function createClusterControlPlane(options: ClusterControlPlaneOptions): ControlPlane {
  const { node } = options;
  const timeoutMs = options.peerTimeoutMs ?? 3000;
  return {
    health: () => (node.draining ? "draining" : node.runtime.accepting ? "serving" : "not_serving"),
    nodeInfo: options.nodeInfo,
    async activations(filter): Promise<ActivationCounts> {
      const mine = node.runtime.activations(filter);
      if (filter.localOnly) return mine;
      const peers = (await node.membership.live()).filter((m) => m.nodeId !== node.nodeId && m.grpc !== "");
      const answers = await Promise.allSettled(peers.map((m) => peerActivations(m.grpc, filter, timeoutMs)));
      const groups = new Map(mine.groups.map((g) => [g.type, { count: g.count, sampleIds: [...g.sampleIds] }]));
      let total = mine.total;
      answers.forEach((a, i) => {
        if (a.status === "rejected") throw new SwitchboardError("unavailable", `node ${peers[i]!.nodeId} (${peers[i]!.grpc}) did not answer: ${(a.reason as Error).message}`);
        total += a.value.total;
        for (const g of a.value.groups) {
          const acc = groups.get(g.type) ?? { count: 0, sampleIds: [] };
          acc.count += g.count;
          acc.sampleIds.push(...g.sampleIds.slice(0, Math.max(0, filter.sampleIds - acc.sampleIds.length)));
          groups.set(g.type, acc);
        }
      });
      return { groups: [...groups].map(([type, g]) => ({ type, ...g })).sort((a, b) => a.type.localeCompare(b.type)), total };
    },
    deactivate: (id) => node.runtime.deactivate(id),
    stats: () => nodeStats(node.runtime, options.eventLoop, options.gatewayMetrics),
    async nodes() {
      const [live, table, coordinator] = await Promise.all([node.membership.live(), node.partitionTable(), node.coordinatorId()]);
      const owned = new Map<string, number>();
      let unowned = 0;
      const alive = new Set(live.map((m) => m.nodeId));
      for (let p = 0; p < node.partitions; p++) {
        const r = table.get(p);
        if (r === undefined || r.state !== "active" || !alive.has(r.owner)) unowned++;
        else owned.set(r.owner, (owned.get(r.owner) ?? 0) + 1);
      }
      return {
        nodes: live
          .map((m) => ({
            nodeId: m.nodeId,
            grpcAddress: m.grpc,
            draining: m.draining,
            coordinator: m.nodeId === coordinator,
            partitions: owned.get(m.nodeId) ?? 0,
            activations: m.load.activations,
            mailboxDepth: m.load.mailboxDepth,
            eventLoopLagMs: m.load.eventLoopLagMs,
            turnsPerSecond: m.load.turnsPerSecond,
            startedAtMs: m.startedAtMs,
          }))
          .sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
        partitions: node.partitions,
        partitionsUnowned: unowned,
        coordinator,
      };
    },
    async locate(actorId) {
      parseActorId(actorId);
      const loc = await node.locate(actorId);
      return place(actorId, loc.partition, loc.record);
    },
    async movePartition(partition, to) {
      // An operator's move pins the partition, so balancing does not undo it.
      const next = await node.movePartition(partition, to, { pin: true });
      return place("", partition, next);
    },
    drainNode: (nodeId) => node.requestDrain(nodeId),
  };
}
