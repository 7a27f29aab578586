// The messaging core in one process, for tests and benchmarks: an embedded node, or
// several cluster nodes over the in-process transport and shared in-memory tables,
// wired as bin/node.ts wires a real node. (Not a test file.)
import { createSessionActor, TopicActor, TopicDirectory, type SessionOptions } from "../../actors/index.ts";
import type { Event } from "../../protos/index.ts";
import {
  ActorRuntime,
  ClusterNode,
  createLogger,
  InProcessNetwork,
  MemoryKvStore,
  MemoryMessageLog,
  MemoryStateStore,
  systemClock,
  type ActorDefinition,
  type ActorServices,
  type ClusterTables,
  type MessageLog,
  type ReminderScheduler,
  type StateStore,
} from "../../runtime/index.ts";
import { DeliveryRouter } from "./delivery-router.ts";
import { Messaging, type MessagingOptions } from "./messaging.ts";

export interface MessagingNode {
  readonly nodeId: string;
  readonly messaging: Messaging;
  readonly router: DeliveryRouter;
  readonly runtime: ActorRuntime;
}

const logger = () => createLogger({ nodeId: "messaging-test", level: process.env.SB_TEST_LOG ?? "silent" });

/** One embedded node: no transport; state and logs in memory unless given; reminders only when given. */
export async function startEmbeddedMessaging(
  options: { stateStore?: StateStore; messageLog?: MessageLog; session?: SessionOptions; actors?: ActorDefinition<any, any>[]; durable?: MessagingOptions["durable"]; reminders?: ReminderScheduler } = {},
): Promise<MessagingNode & { close(): Promise<void> }> {
  const router = new DeliveryRouter({ logger: logger() });
  const session = createSessionActor(options.session);
  let messaging: Messaging | undefined;
  const services: ActorServices = {
    publish: (t, c, p) => (messaging ? messaging.publishEvent(t, c, p as Event) : router.publish(t, c, p as Event)),
    messageLog: options.messageLog ?? new MemoryMessageLog(),
  };
  const runtime = new ActorRuntime({ nodeId: "n1", actors: [session, TopicActor, TopicDirectory, ...(options.actors ?? [])], stateStore: options.stateStore ?? new MemoryStateStore(), services, reminders: options.reminders, logger: logger() });
  messaging = new Messaging({ runtime, router, session, nodeId: "n1", logger: logger(), durable: options.durable });
  await runtime.start();
  return {
    nodeId: "n1",
    messaging,
    router,
    runtime,
    async close() {
      await messaging.close();
      await runtime.shutdown();
    },
  };
}

export interface MessagingCluster {
  readonly net: InProcessNetwork;
  readonly nodes: Map<string, MessagingNode & { readonly cluster: ClusterNode }>;
  add(nodeId: string): Promise<MessagingNode & { readonly cluster: ClusterNode }>;
  /** Cuts a node off as kill -9 would; what it held moves to the others. */
  crash(nodeId: string): void;
  /** Waits until every partition is actively owned by a live node. */
  settled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Several cluster nodes over one in-process network, sharing state, logs and tables. */
export async function startMessagingCluster(nodeIds: readonly string[], options: { leaseMs?: number; partitions?: number; session?: SessionOptions } = {}): Promise<MessagingCluster> {
  const leaseMs = options.leaseMs ?? 600;
  const net = new InProcessNetwork();
  const kv = new MemoryKvStore();
  const store = new MemoryStateStore();
  const log = new MemoryMessageLog();
  const nodes = new Map<string, MessagingNode & { cluster: ClusterNode }>();
  const handles = new Map<string, ClusterTables>();
  const session = createSessionActor(options.session);
  const cluster: MessagingCluster = {
    net,
    nodes,
    async add(nodeId) {
      const tables: ClusterTables = {
        members: kv.table("members", { ttlMs: leaseMs }),
        leases: kv.table("leases", { ttlMs: leaseMs }),
        partitions: kv.table("partitions"),
        control: kv.table("control"),
      };
      handles.set(nodeId, tables);
      const transport = net.connect(nodeId, { echo: false });
      const router = new DeliveryRouter({ transport, subjectPrefix: "sb.test.d", logger: logger() });
      const services: ActorServices = { publish: (t, c, p) => router.publish(t, c, p as Event), messageLog: log };
      const node = await ClusterNode.start({
        nodeId,
        transport,
        tables,
        stateStore: store,
        actors: [session, TopicActor, TopicDirectory],
        services,
        clock: systemClock,
        logger: logger().child({ nodeId }),
        partitions: options.partitions ?? 16,
        coordinatorIntervalMs: 50,
        resyncMs: 200,
        callTimeoutMs: 10_000,
      });
      const messaging = new Messaging({ runtime: node.runtime, router, session, nodeId, logger: logger() });
      const entry = { nodeId, messaging, router, runtime: node.runtime, cluster: node };
      nodes.set(nodeId, entry);
      return entry;
    },
    crash(nodeId) {
      net.disconnect(nodeId);
      for (const table of Object.values(handles.get(nodeId)!)) void table.close();
      nodes.delete(nodeId);
    },
    async settled(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const any = [...nodes.values()][0]!.cluster;
        const table = await any.partitionTable();
        const ok = table.size === any.partitions && [...table.entries()].every(([p, r]) => r.state === "active" && nodes.get(r.owner)?.cluster.manager.owns(p));
        if (ok) return;
        if (Date.now() > deadline) throw new Error("cluster did not settle");
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      for (const n of nodes.values()) await n.messaging.close().catch(() => undefined);
      await Promise.all([...nodes.values()].map((n) => n.cluster.stop()));
      for (const t of handles.values()) for (const table of Object.values(t)) await table.close();
      nodes.clear();
    },
  };
  for (const id of nodeIds) await cluster.add(id);
  await cluster.settled();
  return cluster;
}
