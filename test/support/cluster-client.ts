import { ActorRuntime, ClusterPlacement, connectNatsTransport, createLogger, MemoryStateStore, systemClock, type ActorDefinition, type NatsTransport } from "../../runtime/index.ts";

/**
 * A client of a cluster: a runtime that hosts nothing and forwards every message over
 * NATS to the partition's owner, as a service inside the cluster would.
 */
export async function connectClusterClient(options: { natsUrl: string | string[]; clusterName: string; partitions: number; actors: readonly ActorDefinition<any, any>[] }): Promise<{ runtime: ActorRuntime; close(): Promise<void> }> {
  const logger = createLogger({ nodeId: "test-client", level: "silent" });
  const transport: NatsTransport = await connectNatsTransport({ servers: options.natsUrl, name: "test-client", logger });
  const placement = new ClusterPlacement({ transport, subjectPrefix: `sb.${options.clusterName}`, partitions: options.partitions, owns: () => false, clock: systemClock, logger });
  const runtime = new ActorRuntime({ nodeId: "test-client", actors: options.actors, stateStore: new MemoryStateStore(), placement, logger, callTimeoutMs: 10_000 });
  return {
    runtime,
    async close() {
      await runtime.shutdown();
      await transport.close();
    },
  };
}
