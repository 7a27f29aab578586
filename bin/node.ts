import {
  ActorRuntime,
  ClusterNode,
  connectJetStream,
  connectNatsTransport,
  createClusterControlPlane,
  createJetStreamReminderTable,
  createJetStreamStateStore,
  createRuntimeControlPlane,
  EventLoopMonitor,
  openEmbeddedStores,
  openJetStreamKvTable,
  ReminderService,
  systemClock,
  type ActorDefinition,
  type ControlPlane,
  type ListenerInfo,
  type Logger,
} from "../runtime/index.ts";
import type { NodeSettings } from "./settings.ts";

/** A running node, embedded or clustered, as `switchboard start` drives it. */
export interface RunningNode {
  readonly mode: "embedded" | "cluster";
  readonly runtime: ActorRuntime;
  readonly plane: ControlPlane;
  /** Filled by the caller as listeners open; reported by the control API. */
  readonly listeners: ListenerInfo[];
  /** Settles when an operator's drain has completed (the process should then exit 0). */
  readonly drained: Promise<void>;
  /** Graceful stop: finish turns, persist, leave. */
  stop(): Promise<void>;
}

export interface StartNodeInput {
  readonly settings: NodeSettings;
  /** Absolute data directory (embedded mode). */
  readonly dataDir: string;
  readonly version: string;
  readonly logger: Logger;
  readonly actors: readonly ActorDefinition<any, any>[];
  /** `host:port` other nodes reach this node's gRPC API at (cluster mode). */
  readonly grpcAddress: () => string;
}

/** Wires one node: embedded (level on local disk) or, with `nats` set, a cluster member. */
export function startNode(input: StartNodeInput): Promise<RunningNode> {
  return input.settings.nats === undefined ? startEmbedded(input) : startCluster(input);
}

function nodeInfo(input: StartNodeInput, mode: "embedded" | "cluster", listeners: ListenerInfo[], startedAtMs: number) {
  return () => ({
    nodeId: input.settings.nodeId,
    version: input.version,
    mode,
    startedAtMs,
    uptimeMs: Date.now() - startedAtMs,
    listeners,
    dataDir: mode === "embedded" ? input.dataDir : "",
  });
}

async function startEmbedded(input: StartNodeInput): Promise<RunningNode> {
  const { settings: cfg, logger } = input;
  const stores = await openEmbeddedStores({ dataDir: input.dataDir });
  const reminders = new ReminderService({ table: stores.reminders, clock: systemClock, logger });
  const runtime = new ActorRuntime({ nodeId: cfg.nodeId, actors: input.actors, stateStore: stores.state, reminders, logger });
  await runtime.start();
  const listeners: ListenerInfo[] = [];
  let drained!: () => void;
  const drainedP = new Promise<void>((r) => (drained = r));
  const plane = createRuntimeControlPlane({ runtime, nodeInfo: nodeInfo(input, "embedded", listeners, Date.now()), onDrain: () => drained() });
  return {
    mode: "embedded",
    runtime,
    plane,
    listeners,
    drained: drainedP,
    async stop() {
      await runtime.shutdown();
      plane.close();
      await stores.close();
    },
  };
}

async function startCluster(input: StartNodeInput): Promise<RunningNode> {
  const { settings: cfg, logger } = input;
  const servers = cfg.nats!.split(",");
  const name = cfg.clusterName;
  const transport = await connectNatsTransport({ servers, name: cfg.nodeId, logger });
  const nc = await connectJetStream({ servers, name: `${cfg.nodeId}-jetstream` });
  const replicas = cfg.replicas;
  const [members, leases, partitions, control, state, reminderTable] = await Promise.all([
    openJetStreamKvTable(nc, { bucket: `${name}_members`, ttlMs: cfg.leaseMs, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_leases`, ttlMs: cfg.leaseMs, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_partitions`, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_control`, replicas }),
    createJetStreamStateStore(nc, { bucket: `${name}_state`, replicas }),
    createJetStreamReminderTable(nc, { bucket: `${name}_reminders`, replicas }),
  ]);
  const eventLoop = new EventLoopMonitor();
  const node = await ClusterNode.start({
    nodeId: cfg.nodeId,
    transport,
    tables: { members, leases, partitions, control },
    stateStore: state,
    reminderTable,
    actors: input.actors,
    clock: systemClock,
    logger,
    subjectPrefix: `sb.${name}`,
    partitions: cfg.partitions,
    leaseMs: cfg.leaseMs,
    grpcAddress: input.grpcAddress,
    eventLoop,
  });
  const listeners: ListenerInfo[] = [];
  const plane = createClusterControlPlane({ node, nodeInfo: nodeInfo(input, "cluster", listeners, node.startedAtMs), eventLoop });
  const closeAll = async () => {
    await Promise.all([members, leases, partitions, control, state, reminderTable].map((t) => t.close().catch(() => undefined)));
    eventLoop.stop();
    await transport.close();
    await nc.drain().catch(() => undefined);
  };
  const drained = node.drained.then(closeAll);
  return {
    mode: "cluster",
    runtime: node.runtime,
    plane,
    listeners,
    drained,
    async stop() {
      await node.stop();
      await closeAll();
    },
  };
}
