import { createSessionActor, TopicActor, TopicDirectory, type SessionOptions } from "../actors/index.ts";
import { DeliveryRouter, Messaging } from "../gateways/shared/index.ts";
import type { Event } from "../protos/index.ts";
import {
  ActorRuntime,
  ClusterNode,
  connectJetStream,
  createJetStreamMessageLog,
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
  type ActorServices,
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
  /** The messaging API the gateways and the gRPC messaging service use. */
  readonly messaging: Messaging;
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
  /** Actor types beyond the messaging core's (session, topic, topic directory), which every node hosts. */
  readonly actors: readonly ActorDefinition<any, any>[];
  readonly session?: SessionOptions;
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

/** The messaging core's actors, the node's own types, and what the actors publish through. */
function messagingParts(input: StartNodeInput, router: DeliveryRouter, messageLog: ActorServices["messageLog"]) {
  const session = createSessionActor(input.session);
  const actors = [session, TopicActor, TopicDirectory, ...input.actors];
  const services: ActorServices = { publish: (tenant, channel, payload) => router.publish(tenant, channel, payload as Event), messageLog };
  return { session, actors, services };
}

async function startEmbedded(input: StartNodeInput): Promise<RunningNode> {
  const { settings: cfg, logger } = input;
  const stores = await openEmbeddedStores({ dataDir: input.dataDir });
  const reminders = new ReminderService({ table: stores.reminders, clock: systemClock, logger });
  const router = new DeliveryRouter({ logger });
  const { session, actors, services } = messagingParts(input, router, stores.log);
  const runtime = new ActorRuntime({ nodeId: cfg.nodeId, actors, stateStore: stores.state, reminders, logger, services });
  await runtime.start();
  const messaging = new Messaging({ runtime, router, session, nodeId: cfg.nodeId, logger });
  const listeners: ListenerInfo[] = [];
  let drained!: () => void;
  const drainedP = new Promise<void>((r) => (drained = r));
  const plane = createRuntimeControlPlane({ runtime, nodeInfo: nodeInfo(input, "embedded", listeners, Date.now()), onDrain: () => drained() });
  return {
    mode: "embedded",
    runtime,
    plane,
    messaging,
    listeners,
    drained: drainedP,
    async stop() {
      await messaging.close();
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
  // Echo off: what this node publishes for its own receivers it delivers in-process.
  const transport = await connectNatsTransport({ servers, name: cfg.nodeId, logger, echo: false });
  const nc = await connectJetStream({ servers, name: `${cfg.nodeId}-jetstream` });
  const replicas = cfg.replicas;
  const [members, leases, partitions, control, state, reminderTable, log] = await Promise.all([
    openJetStreamKvTable(nc, { bucket: `${name}_members`, ttlMs: cfg.leaseMs, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_leases`, ttlMs: cfg.leaseMs, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_partitions`, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_control`, replicas }),
    createJetStreamStateStore(nc, { bucket: `${name}_state`, replicas }),
    createJetStreamReminderTable(nc, { bucket: `${name}_reminders`, replicas }),
    createJetStreamMessageLog(nc, { stream: `${name}_log`, subjectPrefix: `sb.${name}.log`, replicas }),
  ]);
  const router = new DeliveryRouter({ transport, subjectPrefix: `sb.${name}.d`, logger });
  const { session, actors, services } = messagingParts(input, router, log);
  const eventLoop = new EventLoopMonitor();
  const node = await ClusterNode.start({
    nodeId: cfg.nodeId,
    transport,
    tables: { members, leases, partitions, control },
    stateStore: state,
    reminderTable,
    actors,
    services,
    clock: systemClock,
    logger,
    subjectPrefix: `sb.${name}`,
    partitions: cfg.partitions,
    leaseMs: cfg.leaseMs,
    grpcAddress: input.grpcAddress,
    eventLoop,
  });
  const messaging = new Messaging({ runtime: node.runtime, router, session, nodeId: cfg.nodeId, logger });
  const listeners: ListenerInfo[] = [];
  const plane = createClusterControlPlane({ node, nodeInfo: nodeInfo(input, "cluster", listeners, node.startedAtMs), eventLoop });
  const closeAll = async () => {
    await messaging.close();
    await Promise.all([members, leases, partitions, control, state, reminderTable, log].map((t) => t.close().catch(() => undefined)));
    eventLoop.stop();
    await transport.close();
    await nc.drain().catch(() => undefined);
  };
  const drained = node.drained.then(closeAll);
  return {
    mode: "cluster",
    runtime: node.runtime,
    plane,
    messaging,
    listeners,
    drained,
    async stop() {
      await node.stop();
      await closeAll();
    },
  };
}
