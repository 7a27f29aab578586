import type { RuntimeStats } from "../actor/actor-runtime.ts";
import type { EventLoopLag } from "../telemetry/event-loop-monitor.ts";

/**
 * What the control service reports about a node and the cluster, and what it can do
 * to them. `createRuntimeControlPlane` serves an embedded node and
 * `createClusterControlPlane` a cluster node; the gRPC layer is only a mapping.
 */
export interface ControlPlane {
  health(): NodeHealth;
  nodeInfo(): NodeInfo;
  /** Counts by type: this node's, or (cluster, `localOnly` false) every live node's summed. */
  activations(filter: { type?: string; sampleIds: number; localOnly: boolean }): Promise<ActivationCounts>;
  /** Persists and deactivates one actor on this node; false if it was not active here. */
  deactivate(actorId: string): Promise<boolean>;
  stats(): NodeStats;
  nodes(): Promise<ClusterView>;
  locate(actorId: string): Promise<ActorPlace>;
  /** Starts moving a partition; resolves with its record after the request was written. */
  movePartition(partition: number, to: string): Promise<ActorPlace>;
  /** Asks a node to drain and exit. */
  drainNode(nodeId: string): Promise<void>;
}

export type NodeHealth = "serving" | "draining" | "not_serving";

export interface ListenerInfo {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
}

export interface NodeInfo {
  readonly nodeId: string;
  readonly version: string;
  readonly mode: "embedded" | "cluster";
  readonly startedAtMs: number;
  readonly uptimeMs: number;
  readonly listeners: readonly ListenerInfo[];
  readonly dataDir: string;
}

export interface ActivationCounts {
  readonly groups: readonly { type: string; count: number; sampleIds: readonly string[] }[];
  readonly total: number;
}

export interface NodeStats {
  readonly runtime: RuntimeStats;
  readonly eventLoop: EventLoopLag;
  readonly heapUsedBytes: number;
  readonly rssBytes: number;
  /** The gateways' counters and gauges by name (`mqtt.connections`, …). */
  readonly gateways: Readonly<Record<string, number>>;
}

export interface NodeSummaryView {
  readonly nodeId: string;
  readonly grpcAddress: string;
  readonly draining: boolean;
  readonly coordinator: boolean;
  readonly partitions: number;
  readonly activations: number;
  readonly mailboxDepth: number;
  readonly eventLoopLagMs: number;
  readonly turnsPerSecond: number;
  readonly startedAtMs: number;
}

export interface ClusterView {
  readonly nodes: readonly NodeSummaryView[];
  readonly partitions: number;
  readonly partitionsUnowned: number;
  readonly coordinator: string;
}

/** A partition and who holds it. */
export interface ActorPlace {
  readonly actorId: string;
  readonly partition: number;
  readonly owner: string;
  readonly state: "active" | "handover" | "unassigned";
  readonly movingTo: string;
}
