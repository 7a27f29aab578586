// An MQTT gateway on an embedded node in this process, for tests and benchmarks: the
// wiring of bin/node.ts and bin/start.ts in small. (Not a test file.)
import { DurableRoutes } from "../shared/index.ts";
import { startEmbeddedMessaging } from "../shared/test-messaging.ts";
import { Message } from "../../protos/index.ts";
import type { MqttSessionActor } from "../../actors/index.ts";
import { createLogger, MemoryKvTable, MemoryMessageLog, MemoryReminderTable, MemoryStateStore, ReminderService, systemClock, type ActorRuntime, type MessageLog, type StateStore, type KvTable } from "../../runtime/index.ts";
import { allowAll, type MqttAccess, type MqttLoginAttempt, type MqttLoginResult } from "./mqtt-context.ts";
import { MqttGateway, type MqttListenerInfo, type MqttListenerOptions } from "./mqtt-gateway.ts";
import type { MqttLimits } from "./mqtt-limits.ts";

export interface TestMqttNode {
  readonly gateway: MqttGateway;
  /** `mqtt://127.0.0.1:<port>` of the TCP listener. */
  readonly url: string;
  readonly port: number;
  readonly listeners: MqttListenerInfo[];
  readonly messaging: Awaited<ReturnType<typeof startEmbeddedMessaging>>["messaging"];
  /** The node's actor runtime (session actors, topic actors), for assertions. */
  readonly runtime: ActorRuntime;
  readonly sessionActor: MqttSessionActor;
  readonly routes: DurableRoutes;
  /** What the MQTT session actor of `clientId` holds (`info`): queued, dropped, subscriptions, … */
  sessionInfo(clientId: string, tenant?: string): Promise<{ exists: boolean; connected: boolean; subscriptions: number; queued: number; dropped: number; expiryMs: number }>;
  close(): Promise<void>;
}

export interface TestMqttOptions {
  readonly limits?: Partial<MqttLimits>;
  /** Default: everyone in tenant `default`, user = username or else client id. */
  readonly authenticate?: (login: MqttLoginAttempt) => Promise<MqttLoginResult>;
  /** Default: everything allowed. */
  readonly access?: MqttAccess;
  /** More listeners besides plain TCP (WebSocket, TLS). */
  readonly listeners?: readonly Omit<MqttListenerOptions, "host" | "port">[];
  readonly stateStore?: StateStore;
  readonly messageLog?: MessageLog;
  readonly routesTable?: KvTable;
}

export async function startTestMqtt(o: TestMqttOptions = {}): Promise<TestMqttNode> {
  const sessionActor = MqttGateway.sessionActor(o.limits);
  const logger = createLogger({ nodeId: "mqtt-test", level: process.env.SB_TEST_LOG ?? "silent" });
  const routes = new DurableRoutes(o.routesTable ?? new MemoryKvTable(), logger);
  await routes.start();
  // Durable reminders fire wills with a delay and end expired sessions, as on a real node.
  const reminders = new ReminderService({ table: new MemoryReminderTable(), clock: systemClock, logger });
  const node = await startEmbeddedMessaging({ reminders, actors: [sessionActor], stateStore: o.stateStore ?? new MemoryStateStore(), messageLog: o.messageLog ?? new MemoryMessageLog(), durable: { routes, enqueue: (tenant, m, message) => node.runtime.ref(sessionActor, `${tenant}:${m.clientId}`).call("enqueue", { message: Message.toJSON(message), qos: m.qos, subscriptionIds: m.subscriptionIds, retain: m.retain }) } });
  const gateway = new MqttGateway({
    nodeId: node.nodeId,
    messaging: node.messaging,
    runtime: node.runtime,
    sessionActor,
    routes,
    authenticate: o.authenticate ?? (async (l) => ({ ok: true, tenant: "default", user: l.username ?? l.clientId })),
    access: o.access ?? allowAll,
    limits: o.limits,
    logger,
  });
  const listeners = [await gateway.listen({ protocol: "mqtt", host: "127.0.0.1", port: 0 })];
  for (const l of o.listeners ?? []) listeners.push(await gateway.listen({ ...l, host: "127.0.0.1", port: 0 }));
  const port = listeners[0]!.port;
  return {
    gateway,
    url: `mqtt://127.0.0.1:${port}`,
    port,
    listeners,
    messaging: node.messaging,
    runtime: node.runtime,
    sessionActor,
    routes,
    sessionInfo: (clientId, tenant = "default") => node.runtime.ref(sessionActor, `${tenant}:${clientId}`).call("info"),
    async close() {
      await gateway.close();
      await node.close();
      await routes.close();
    },
  };
}
