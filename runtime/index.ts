export { ErrorCodes, isErrorCode, isSwitchboardError, SwitchboardError } from "./errors.ts";
export type { ErrorCode, ErrorContext } from "./errors.ts";
export { ManualClock, systemClock } from "./clock.ts";
export type { Clock, TimerHandle } from "./clock.ts";
export { createLogger } from "./telemetry/logger.ts";
export type { Logger, LoggerOptions } from "./telemetry/logger.ts";
export { startTelemetry, tracesExportRequested } from "./telemetry/telemetry.ts";
export type { Telemetry, TelemetryOptions } from "./telemetry/telemetry.ts";
export { startControlServer } from "./control/control-server.ts";
export type { ControlServer, ControlServerOptions } from "./control/control-server.ts";
export type { ActivationCounts, ControlPlane, ListenerInfo, NodeHealth, NodeInfo } from "./control/control-plane.ts";
export { toServiceError, unary } from "./control/unary.ts";
export { defineActor } from "./actor/actor-definition.ts";
export type {
  ActorContext,
  ActorDefinition,
  ActorRef,
  ActorReminders,
  ActorTimers,
  CallOptions,
  DedupeOptions,
  Handler,
  HandlerSpec,
  Handlers,
  MethodOptions,
  ReminderOptions,
  SendOptions,
  TimerOptions,
} from "./actor/actor-definition.ts";
export { actorId, parseActorId } from "./actor/actor-id.ts";
export type { ActorMessageLog, ActorServices } from "./actor/actor-services.ts";
export type { ActorAddress } from "./actor/actor-id.ts";
export { ActorRuntime } from "./actor/actor-runtime.ts";
export type { ActivationSummary, ActorRuntimeOptions, ReminderScheduler, RuntimeStats } from "./actor/actor-runtime.ts";
export { openEmbeddedStores } from "./embedded/embedded-stores.ts";
export type { EmbeddedKvTableOptions, EmbeddedStores, EmbeddedStoresOptions } from "./embedded/embedded-stores.ts";
export { ReminderService } from "./reminders/reminder-service.ts";
export type { ReminderServiceOptions } from "./reminders/reminder-service.ts";
export * from "./state/index.ts";
export * from "./log/index.ts";
export * from "./reminders/index.ts";
export { createRuntimeControlPlane } from "./control/runtime-control-plane.ts";
export type { RuntimeControlPlaneOptions } from "./control/runtime-control-plane.ts";
export type { NodeStats } from "./control/control-plane.ts";
export { EventLoopMonitor } from "./telemetry/event-loop-monitor.ts";
export type { EventLoopLag } from "./telemetry/event-loop-monitor.ts";
export { createClusterControlPlane } from "./control/cluster-control-plane.ts";
export type { ClusterControlPlaneOptions } from "./control/cluster-control-plane.ts";
export type { ActorPlace, ClusterView, NodeSummaryView } from "./control/control-plane.ts";
export { ClusterNode } from "./cluster/cluster-node.ts";
export { ClusterPlacement } from "./cluster/cluster-placement.ts";
export type { ActorLocation, ClusterNodeOptions, ClusterTables } from "./cluster/cluster-node.ts";
export { connectNatsTransport, NatsTransport } from "./cluster/nats-transport.ts";
export { InProcessNetwork, InProcessTransport } from "./cluster/in-process-transport.ts";
export type { Transport, TransportSubscription, IncomingMessage } from "./cluster/transport.ts";
export { MemoryKvStore, MemoryKvTable } from "./cluster/memory-kv-table.ts";
export { openJetStreamKvTable, JetStreamKvTable } from "./cluster/jetstream-kv-table.ts";
export { openLevelKvTable, LevelKvTable, type LevelKvBatchOperation, type LevelKvDb, type LevelKvIterator, type LevelKvTableOptions } from "./cluster/level-kv-table.ts";
export type { KvChange, KvEntry, KvTable, KvWatch } from "./cluster/kv-table.ts";
export type { MemoryKvTableOptions } from "./cluster/memory-kv-table.ts";
export type { JetStreamKvTableOptions } from "./cluster/jetstream-kv-table.ts";
export { partitionOf } from "./cluster/partitioner.ts";
export { checkSubject } from "./cluster/subject-match.ts";
export * from "./jetstream/index.ts";
