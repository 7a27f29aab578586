import type { RuntimeStats } from "../actor/actor-runtime.ts";
import type { EventLoopLag } from "../telemetry/event-loop-monitor.ts";

/**
 * What the control service reports about a node and can do to it. `bin/` builds one
 * from the runtime and the listeners it opened; the gRPC layer is only a mapping.
 */
export interface ControlPlane {
  health(): NodeHealth;
  nodeInfo(): NodeInfo;
  activations(filter: { type?: string; sampleIds: number }): ActivationCounts;
  /** Persists and deactivates one actor; false if it was not active here. */
  deactivate(actorId: string): Promise<boolean>;
  stats(): NodeStats;
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
}
