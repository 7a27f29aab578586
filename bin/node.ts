import { createMqttSessionActor, createSessionActor, TopicActor, TopicDirectory, type MqttSessionActor, type MqttSessionOptions, type SessionOptions } from "../actors/index.ts";
import { DeliveryRouter, DurableRoutes, Messaging, type Enqueue } from "../gateways/shared/index.ts";
import { Message, type Event } from "../protos/index.ts";
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
  type KvTable,
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
  /** The MQTT session actor type this node hosts, and the durable routes of persistent sessions. */
  readonly mqttSessions: MqttSessionActor;
  readonly routes: DurableRoutes;
  /** In a cluster: the table of each node's MQTT connections and the live nodes' ids (see gateways/mqtt/live-connections.ts). */
  readonly mqttLive?: { readonly table: KvTable; liveNodes(): Promise<string[]> };
  /** Another live node's endpoint for `protocol` (`mqtt`), to send clients to when draining. */
  otherEndpoint(protocol: string): Promise<string | undefined>;
  /** Called when a drain begins (the gateways move their clients); set by the caller. */
  onDrain: (() => Promise<void>) | undefined;
  /** Sources of gateway metrics for the control API's stats; the caller adds its gateways'. */
  readonly gatewayMetrics: (() => Record<string, number>)[];
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
  /** Queue bounds of MQTT persistent sessions. */
  readonly mqttSession?: MqttSessionOptions;
  /** `host:port` other nodes reach this node's gRPC API at (cluster mode). */
  readonly grpcAddress: () => string;
  /** This node's client listeners by protocol (cluster mode: published with the lease). */
  readonly endpoints?: () => Record<string, string>;
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

/**
 * The messaging core's actors (sessions, topics, MQTT sessions), the node's own
 * types, and what the actors publish through: the messaging API once it exists (a
 * managed topic's QoS 1 message or a will is queued for persistent sessions too).
 */
function messagingParts(input: StartNodeInput, router: DeliveryRouter, messageLog: ActorServices["messageLog"]) {
  const session = createSessionActor(input.session);
  const mqttSessions = createMqttSessionActor(input.mqttSession);
  const actors = [session, TopicActor, TopicDirectory, mqttSessions, ...input.actors];
  let messaging: Messaging | undefined;
  const services: ActorServices = {
    publish: (tenant, channel, payload) => (messaging ? messaging.publishEvent(tenant, channel, payload as Event) : router.publish(tenant, channel, payload as Event)),
    messageLog,
  };
  const bind = (m: Messaging) => void (messaging = m);
  return { session, mqttSessions, actors, services, bind };
}

/** How a message is queued in an MQTT persistent session. */
function enqueueIn(runtime: ActorRuntime, mqttSessions: MqttSessionActor): Enqueue {
  return async (tenant, match, message) =>
    runtime.ref(mqttSessions, `${tenant}:${match.clientId}`).call("enqueue", { message: Message.toJSON(message), qos: match.qos, subscriptionIds: match.subscriptionIds, retain: match.retain });
}

async function startEmbedded(input: StartNodeInput): Promise<RunningNode> {
  const { settings: cfg, logger } = input;
  const stores = await openEmbeddedStores({ dataDir: input.dataDir });
  const reminders = new ReminderService({ table: stores.reminders, clock: systemClock, logger });
  const router = new DeliveryRouter({ logger });
  const { session, mqttSessions, actors, services, bind } = messagingParts(input, router, stores.log);
  const runtime = new ActorRuntime({ nodeId: cfg.nodeId, actors, stateStore: stores.state, reminders, logger, services });
  const routes = new DurableRoutes(await stores.kvTable("mqtt_routes"), logger);
  await routes.start();
  const messaging = new Messaging({ runtime, router, session, nodeId: cfg.nodeId, logger, durable: { routes, enqueue: enqueueIn(runtime, mqttSessions) } });
  bind(messaging);
  await runtime.start();
  const listeners: ListenerInfo[] = [];
  let drained!: () => void;
  const drainedP = new Promise<void>((r) => (drained = r));
  // A drain on one node only moves its clients away (they have nowhere else to go but
  // to wait), then the process exits.
  const gatewayMetrics: (() => Record<string, number>)[] = [];
  const plane = createRuntimeControlPlane({
    runtime,
    gatewayMetrics: () => Object.assign({}, ...gatewayMetrics.map((f) => f())),
    nodeInfo: nodeInfo(input, "embedded", listeners, Date.now()),
    onDrain: () => void Promise.resolve(node.onDrain?.()).catch(() => undefined).finally(() => drained()),
  });
  const node: RunningNode = {
    mode: "embedded",
    runtime,
    plane,
    messaging,
    mqttSessions,
    routes,
    otherEndpoint: async () => undefined,
    onDrain: undefined,
    gatewayMetrics,
    listeners,
    drained: drainedP,
    async stop() {
      await messaging.close();
      await runtime.shutdown();
      await routes.close();
      plane.close();
      await stores.close();
    },
  };
  return node;
}

async function startCluster(input: StartNodeInput): Promise<RunningNode> {
  const { settings: cfg, logger } = input;
  const servers = cfg.nats!.split(",");
  const name = cfg.clusterName;
  // Echo off: what this node publishes for its own receivers it delivers in-process.
  const transport = await connectNatsTransport({ servers, name: cfg.nodeId, logger, echo: false });
  // Shared subscriptions are NATS queue groups, whose members here must hear this node's own publishes.
  const sharedTransport = await connectNatsTransport({ servers, name: `${cfg.nodeId}-shared`, logger });
  const nc = await connectJetStream({ servers, name: `${cfg.nodeId}-jetstream` });
  const replicas = cfg.replicas;
  const [members, leases, partitions, control, state, reminderTable, log, routesTable, mqttLiveTable] = await Promise.all([
    openJetStreamKvTable(nc, { bucket: `${name}_members`, ttlMs: cfg.leaseMs, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_leases`, ttlMs: cfg.leaseMs, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_partitions`, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_control`, replicas }),
    createJetStreamStateStore(nc, { bucket: `${name}_state`, replicas }),
    createJetStreamReminderTable(nc, { bucket: `${name}_reminders`, replicas }),
    createJetStreamMessageLog(nc, { stream: `${name}_log`, subjectPrefix: `sb.${name}.log`, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_mqtt_routes`, replicas }),
    openJetStreamKvTable(nc, { bucket: `${name}_mqtt_live`, replicas }),
  ]);
  const router = new DeliveryRouter({ transport, sharedTransport, subjectPrefix: `sb.${name}.d`, logger });
  const { session, mqttSessions, actors, services, bind } = messagingParts(input, router, log);
  const routes = new DurableRoutes(routesTable, logger);
  await routes.start();
  let running: RunningNode | undefined;
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
    endpoints: input.endpoints,
    onDrain: async () => running?.onDrain?.(),
    eventLoop,
  });
  const messaging = new Messaging({ runtime: node.runtime, router, session, nodeId: cfg.nodeId, logger, durable: { routes, enqueue: enqueueIn(node.runtime, mqttSessions) } });
  bind(messaging);
  const listeners: ListenerInfo[] = [];
  const gatewayMetrics: (() => Record<string, number>)[] = [];
  const plane = createClusterControlPlane({ node, nodeInfo: nodeInfo(input, "cluster", listeners, node.startedAtMs), eventLoop, gatewayMetrics: () => Object.assign({}, ...gatewayMetrics.map((f) => f())) });
  const closeAll = async () => {
    await messaging.close();
    await routes.close();
    await Promise.all([members, leases, partitions, control, state, reminderTable, log, routesTable, mqttLiveTable].map((t) => t.close().catch(() => undefined)));
    eventLoop.stop();
    await sharedTransport.close();
    await transport.close();
    await nc.drain().catch(() => undefined);
  };
  const drained = node.drained.then(closeAll);
  running = {
    mode: "cluster",
    runtime: node.runtime,
    plane,
    messaging,
    mqttSessions,
    routes,
    mqttLive: { table: mqttLiveTable, liveNodes: async () => (await node.membership.live()).map((m) => m.nodeId) },
    otherEndpoint: (protocol) => node.otherEndpoint(protocol),
    onDrain: undefined,
    gatewayMetrics,
    listeners,
    drained,
    async stop() {
      await node.stop();
      await closeAll();
    },
  };
  return running;
}
