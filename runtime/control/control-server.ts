import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { ControlServiceService, ServingStatus, type ControlServiceServer } from "../../protos/index.ts";
import { parseActorId } from "../actor/actor-id.ts";
import { SwitchboardError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { ControlPlane, NodeHealth } from "./control-plane.ts";
import { unary } from "./unary.ts";

export interface ControlServerOptions {
  /** Address to bind; default `127.0.0.1`. */
  readonly host?: string;
  /** Port to bind; 0 picks a free one (see `ControlServer.port`). */
  readonly port: number;
  readonly plane: ControlPlane;
  readonly logger: Logger;
  /** How long `close()` lets running calls finish before cutting them; default 5000 ms. */
  readonly closeGraceMs?: number;
  /** More services to serve on the same port, beside the control service (the layers above add theirs). */
  readonly services?: readonly GrpcService[];
}

/** A gRPC service as grpc-js serves it: its definition and its handlers. */
export interface GrpcService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

export interface ControlServer {
  readonly host: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops accepting calls, lets running ones finish within the grace period. Idempotent. */
  close(): Promise<void>;
}

const servingStatus: Record<NodeHealth, ServingStatus> = {
  serving: ServingStatus.SERVING_STATUS_SERVING,
  draining: ServingStatus.SERVING_STATUS_DRAINING,
  not_serving: ServingStatus.SERVING_STATUS_NOT_SERVING,
};

function controlService(plane: ControlPlane, logger: Logger): ControlServiceServer {
  const onInternal = (err: unknown) => logger.error({ err }, "control call failed");
  return {
    health: unary(() => ({ status: servingStatus[plane.health()], nodeId: plane.nodeInfo().nodeId }), onInternal),
    getNodeInfo: unary(() => {
      const info = plane.nodeInfo();
      return {
        nodeId: info.nodeId,
        version: info.version,
        mode: info.mode,
        startedUnixMs: info.startedAtMs,
        uptimeMs: info.uptimeMs,
        listeners: info.listeners.map((l) => ({ ...l })),
        dataDir: info.dataDir,
        nodeVersion: process.version,
        pid: process.pid,
      };
    }, onInternal),
    listActivations: unary(async (req) => {
      const counts = await plane.activations({ type: req.type || undefined, sampleIds: req.sampleIds, localOnly: req.localOnly });
      return {
        groups: counts.groups.map((g) => ({ type: g.type, count: g.count, sampleIds: [...g.sampleIds] })),
        total: counts.total,
      };
    }, onInternal),
    deactivateActor: unary(async (req) => {
      parseActorId(req.actorId);
      return { wasActive: await plane.deactivate(req.actorId) };
    }, onInternal),
    listNodes: unary(async () => {
      const view = await plane.nodes();
      return {
        nodes: view.nodes.map((n) => ({ ...n, startedUnixMs: n.startedAtMs })),
        partitions: view.partitions,
        partitionsUnowned: view.partitionsUnowned,
        coordinator: view.coordinator,
      };
    }, onInternal),
    locateActor: unary((req) => plane.locate(req.actorId), onInternal),
    movePartition: unary(async (req) => {
      if (!req.toNode) throw new SwitchboardError("invalid_argument", "to_node is required");
      const p = await plane.movePartition(req.partition, req.toNode);
      return { partition: p.partition, owner: p.owner, state: p.state, movingTo: p.movingTo };
    }, onInternal),
    drainNode: unary(async (req) => {
      if (!req.nodeId) throw new SwitchboardError("invalid_argument", "node_id is required");
      await plane.drainNode(req.nodeId);
      return {};
    }, onInternal),
    getRuntimeStats: unary(() => {
      const { runtime: r, eventLoop, heapUsedBytes, rssBytes, gateways } = plane.stats();
      return {
        activations: r.activations,
        mailboxDepthTotal: r.mailboxDepthTotal,
        mailboxDepthMax: r.mailboxDepthMax,
        turnsPerSecond: r.turnsPerSecond,
        turnsTotal: r.turns,
        turnsFailed: r.turnsFailed,
        mailboxRejectedTotal: r.mailboxRejected,
        duplicatesDroppedTotal: r.duplicatesDropped,
        deadlinesExpiredTotal: r.deadlinesExpired,
        callCyclesRefusedTotal: r.callCyclesRefused,
        activationsTotal: r.activationsTotal,
        deactivationsTotal: r.deactivationsTotal,
        eventLoopLagP99Ms: eventLoop.p99Ms,
        eventLoopLagMaxMs: eventLoop.maxMs,
        heapUsedBytes,
        rssBytes,
        gatewayMetrics: { ...gateways },
      };
    }, onInternal),
  };
}

/**
 * Serves the `switchboard.v1.ControlService` over gRPC, and any `services` given on
 * the same port. Throws a
 * `SwitchboardError("unavailable")` naming the address when the port cannot be bound
 * (in use, not permitted).
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const host = options.host ?? "127.0.0.1";
  const server = new Server();
  server.addService(ControlServiceService, controlService(options.plane, options.logger));
  for (const s of options.services ?? []) server.addService(s.definition, s.implementation);
  const address = host.includes(":") ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => {
      if (err) {
        const inUse = /EADDRINUSE|address already in use/i.test(err.message);
        reject(
          new SwitchboardError(
            "unavailable",
            inUse ? `address ${address} is already in use` : `cannot listen on ${address}: ${err.message}`,
            { cause: err },
          ),
        );
      } else resolve(bound);
    });
  });
  options.logger.info({ component: "grpc", host, port }, "control API listening");
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), options.closeGraceMs ?? 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      })),
  };
}
