/**
 * What the control service reports about a node. The runtime implements most of it;
 * `bin/` adds the listeners it opened. Kept narrow so the gRPC layer stays a mapping.
 */
export interface ControlPlane {
  health(): NodeHealth;
  nodeInfo(): NodeInfo;
  activations(filter: { type?: string; sampleIds: number }): ActivationCounts;
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
