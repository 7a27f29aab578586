import type { ActorRuntime } from "../actor/actor-runtime.ts";
import { EventLoopMonitor } from "../telemetry/event-loop-monitor.ts";
import type { ControlPlane, NodeHealth, NodeInfo } from "./control-plane.ts";

export interface RuntimeControlPlaneOptions {
  readonly runtime: ActorRuntime;
  /** Identity, mode and listeners; read on every call. */
  readonly nodeInfo: () => NodeInfo;
}

/** A `ControlPlane` over one `ActorRuntime`. Owns an event-loop monitor; `close()` stops it. */
export function createRuntimeControlPlane(options: RuntimeControlPlaneOptions): ControlPlane & { close(): void } {
  const { runtime } = options;
  const loop = new EventLoopMonitor();
  return {
    health: (): NodeHealth => (runtime.accepting ? "serving" : "draining"),
    nodeInfo: options.nodeInfo,
    activations: (filter) => runtime.activations(filter),
    deactivate: (id) => runtime.deactivate(id),
    stats: () => {
      const mem = process.memoryUsage();
      return { runtime: runtime.stats(), eventLoop: loop.lag(), heapUsedBytes: mem.heapUsed, rssBytes: mem.rss };
    },
    close: () => loop.stop(),
  };
}
