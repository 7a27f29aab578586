import { credentials, Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { ControlServiceClient, ServingStatus } from "../../protos/index.ts";
import { ActorRuntime } from "../actor/actor-runtime.ts";
import { Counter } from "../actor/test-actors.ts";
import { MemoryStateStore } from "../state/index.ts";
import { createLogger } from "../telemetry/logger.ts";
import { startControlServer } from "./control-server.ts";
import { createRuntimeControlPlane } from "./runtime-control-plane.ts";

function unaryCall<Req, Res>(client: ControlServiceClient, method: string, req: Req): Promise<Res> {
  const fn = (client as unknown as Record<string, Function>)[method]!.bind(client);
  return new Promise((resolve, reject) => fn(req, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
}

test("the control service lists activations by type, deactivates one, and reports stats", async () => {
  const runtime = new ActorRuntime({ nodeId: "c1", actors: [Counter], stateStore: new MemoryStateStore() });
  const plane = createRuntimeControlPlane({
    runtime,
    nodeInfo: () => ({ nodeId: "c1", version: "test", mode: "embedded", startedAtMs: 0, uptimeMs: 1, listeners: [], dataDir: "/tmp" }),
    onDrain: () => {},
  });
  const server = await startControlServer({ port: 0, plane, logger: createLogger({ nodeId: "c1", level: "silent" }) });
  const client = new ControlServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  try {
    for (let i = 0; i < 5; i++) await runtime.refById(`counter/acme:c${i}`).call("add", 1);
    await assert.rejects(runtime.refById("counter/acme:c0").call("fail", "x"));

    const health = await unaryCall<object, { status: number }>(client, "health", {});
    assert.equal(health.status, ServingStatus.SERVING_STATUS_SERVING);

    const acts = await unaryCall<object, { total: number; groups: { type: string; count: number; sampleIds: string[] }[] }>(client, "listActivations", { type: "", sampleIds: 2 });
    assert.equal(acts.total, 5);
    assert.deepEqual(acts.groups.map((g) => [g.type, g.count, g.sampleIds.length]), [["counter", 5, 2]]);
    const none = await unaryCall<object, { total: number }>(client, "listActivations", { type: "nosuch", sampleIds: 0 });
    assert.equal(none.total, 0);

    const gone = await unaryCall<object, { wasActive: boolean }>(client, "deactivateActor", { actorId: "counter/acme:c3" });
    assert.equal(gone.wasActive, true);
    assert.equal(runtime.isActive("counter/acme:c3"), false);
    const again = await unaryCall<object, { wasActive: boolean }>(client, "deactivateActor", { actorId: "counter/acme:c3" });
    assert.equal(again.wasActive, false);
    assert.equal(await runtime.refById("counter/acme:c3").call("get"), 1, "state kept across the deactivation");
    await assert.rejects(unaryCall(client, "deactivateActor", { actorId: "not an id" }), (err: ServiceError) => err.code === GrpcStatus.INVALID_ARGUMENT);

    const stats = await unaryCall<object, Record<string, number>>(client, "getRuntimeStats", {});
    assert.equal(stats.activations, 5);
    assert.equal(stats.turnsFailed, 1);
    assert.equal(stats.turnsTotal, 7, "5 adds, 1 failure, 1 get");
    assert.equal(stats.deactivationsTotal, 1);
    assert.ok(stats.heapUsedBytes! > 0 && stats.rssBytes! > 0);
    assert.ok(stats.eventLoopLagMaxMs! >= 0);
  } finally {
    client.close();
    await server.close();
    await runtime.shutdown();
    plane.close();
  }
});
