import type { ActorRuntime } from "../actor/actor-runtime.ts";
import { parseActorId } from "../actor/actor-id.ts";
import { SwitchboardError } from "../errors.ts";
import { EventLoopMonitor } from "../telemetry/event-loop-monitor.ts";
import type { ControlPlane, NodeHealth, NodeInfo, NodeStats } from "./control-plane.ts";

export interface RuntimeControlPlaneOptions {
  readonly runtime: ActorRuntime;
  /** Identity, mode and listeners; read on every call. */
  readonly nodeInfo: () => NodeInfo;
  /** Called when an operator asks this node to drain (an embedded node then stops). */
  readonly onDrain: () => void;
  readonly eventLoop?: EventLoopMonitor;
  /** The gateways' metrics, read on every stats call. */
  readonly gatewayMetrics?: () => Record<string, number>;
}

/** Stats of one runtime plus the process and the gateways. */
export function nodeStats(runtime: ActorRuntime, eventLoop: EventLoopMonitor, gatewayMetrics?: () => Record<string, number>): NodeStats {
  const mem = process.memoryUsage();
  return { runtime: runtime.stats(), eventLoop: eventLoop.lag(), heapUsedBytes: mem.heapUsed, rssBytes: mem.rss, gateways: gatewayMetrics?.() ?? {} };
}

/**
 * The `ControlPlane` of an embedded node: a cluster of one, with a single partition
 * that cannot move. Owns an event-loop monitor unless given one; `close()` stops it.
 */
export function createRuntimeControlPlane(options: RuntimeControlPlaneOptions): ControlPlane & { close(): void } {
  const { runtime } = options;
  const loop = options.eventLoop ?? new EventLoopMonitor();
  const self = () => options.nodeInfo().nodeId;
  return {
    health: (): NodeHealth => (runtime.accepting ? "serving" : "draining"),
    nodeInfo: options.nodeInfo,
    activations: async (filter) => runtime.activations(filter),
    deactivate: (id) => runtime.deactivate(id),
    stats: () => nodeStats(runtime, loop, options.gatewayMetrics),
    nodes: async () => {
      const info = options.nodeInfo();
      const s = runtime.stats();
      return {
        nodes: [
          {
            nodeId: info.nodeId,
            grpcAddress: info.listeners.filter((l) => l.protocol === "grpc").map((l) => `${l.host}:${l.port}`)[0] ?? "",
            draining: !runtime.accepting,
            coordinator: true,
            partitions: 1,
            activations: s.activations,
            mailboxDepth: s.mailboxDepthTotal,
            eventLoopLagMs: loop.lag().p99Ms,
            turnsPerSecond: s.turnsPerSecond,
            startedAtMs: info.startedAtMs,
          },
        ],
        partitions: 1,
        partitionsUnowned: 0,
        coordinator: info.nodeId,
      };
    },
    locate: async (actorId) => {
      parseActorId(actorId);
      return { actorId, partition: 0, owner: self(), state: "active", movingTo: "" };
    },
    movePartition: async () => {
      throw new SwitchboardError("invalid_argument", "an embedded node has one partition and nowhere to move it; start nodes with --nats for a cluster");
    },
    drainNode: async (nodeId) => {
      if (nodeId !== self()) throw new SwitchboardError("not_found", `no node ${nodeId} (this embedded node is ${self()})`);
      options.onDrain();
    },
    close: () => {
      if (options.eventLoop === undefined) loop.stop();
    },
  };
}
