// Several cluster nodes in one process over the in-process transport and shared
// in-memory tables: the cluster scenarios, fast to run and to debug. (Not a test file.)
import { defineActor } from "../actor/actor-definition.ts";
import { systemClock } from "../clock.ts";
import { MemoryReminderTable } from "../reminders/index.ts";
import { MemoryStateStore } from "../state/index.ts";
import { createLogger } from "../telemetry/logger.ts";
import { ClusterNode, type ClusterTables } from "./cluster-node.ts";
import { InProcessNetwork } from "./in-process-transport.ts";
import { MemoryKvStore } from "./memory-kv-table.ts";

/** A counter that applies each message id once: what "exactly once" is checked against. */
export const Account = defineActor({
  type: "account",
  initialState: () => ({ balance: 0, activations: 0 }),
  dedupe: { windowMs: 600_000 },
  onActivate: (ctx) => void ctx.state.activations++,
  handlers: {
    deposit: (ctx, amount: number) => (ctx.state.balance += amount),
    /** Deposits `amount` in `dueInMs`, durably (a reminder). */
    depositLater: (ctx, o: { amount: number; dueInMs: number }) => ctx.reminders.set("later", { dueInMs: o.dueInMs, method: "deposit", arg: o.amount }),
    balance: { readOnly: true, handler: (ctx) => ctx.state.balance },
    activations: { readOnly: true, handler: (ctx) => ctx.state.activations },
  },
});

export interface TestCluster {
  readonly net: InProcessNetwork;
  readonly store: MemoryStateStore;
  readonly nodes: Map<string, ClusterNode>;
  add(nodeId: string): Promise<ClusterNode>;
  /** Cuts a node off from the network and the tables, as kill -9 would; its leftovers are fenced. */
  crash(nodeId: string): void;
  /** Waits until every partition is actively owned by a live node. */
  settled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTestCluster(nodeIds: readonly string[], options: { leaseMs?: number; partitions?: number } = {}): Promise<TestCluster> {
  const leaseMs = options.leaseMs ?? 600;
  const net = new InProcessNetwork();
  const kv = new MemoryKvStore();
  const store = new MemoryStateStore();
  const reminders = new MemoryReminderTable();
  const nodes = new Map<string, ClusterNode>();
  const handles = new Map<string, ClusterTables>();
  const logger = createLogger({ nodeId: "cluster-test", level: process.env.SB_TEST_LOG ?? "silent" });

  const cluster: TestCluster = {
    net,
    store,
    nodes,
    async add(nodeId) {
      const tables: ClusterTables = {
        members: kv.table("members", { ttlMs: leaseMs }),
        leases: kv.table("leases", { ttlMs: leaseMs }),
        partitions: kv.table("partitions"),
        control: kv.table("control"),
      };
      handles.set(nodeId, tables);
      const node = await ClusterNode.start({
        nodeId,
        transport: net.connect(nodeId),
        tables,
        stateStore: store,
        reminderTable: reminders,
        actors: [Account],
        clock: systemClock,
        logger: logger.child({ nodeId }),
        partitions: options.partitions ?? 16,
        coordinatorIntervalMs: 50,
        resyncMs: 200,
        callTimeoutMs: 10_000,
      });
      nodes.set(nodeId, node);
      return node;
    },
    crash(nodeId) {
      net.disconnect(nodeId);
      const t = handles.get(nodeId)!;
      for (const table of Object.values(t)) void table.close();
      nodes.delete(nodeId);
    },
    async settled(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      const any = [...nodes.values()][0]!;
      for (;;) {
        const table = await any.partitionTable();
        const live = new Set([...nodes.keys()]);
        const ok = table.size === any.partitions && [...table.values()].every((r) => r.state === "active" && live.has(r.owner));
        const served = [...table.entries()].every(([p, r]) => nodes.get(r.owner)?.manager.owns(p));
        if (ok && served) return;
        if (Date.now() > deadline) throw new Error(`cluster did not settle: ${JSON.stringify([...table])}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      for (const t of handles.values()) for (const table of Object.values(t)) await table.close();
      nodes.clear();
    },
  };
  for (const id of nodeIds) await cluster.add(id);
  return cluster;
}

/**
 * Deposits with unique message ids, each retried with the same id until acknowledged,
 * as a careful client does (an unacknowledged call may or may not have been applied;
 * `dedupe` makes the retry safe). `acked` counts acknowledged deposits per actor.
 */
export function startDepositLoad(deposit: (actorId: string, messageId: string) => Promise<unknown>, ids: readonly string[], width = 16) {
  const acked = new Map<string, number>();
  let stop = false;
  let seq = 0;
  let retries = 0;
  const errors = new Map<string, number>();
  const done = Promise.all(
    Array.from({ length: width }, async () => {
      while (!stop) {
        const id = ids[seq % ids.length]!;
        const messageId = `load-${seq++}`;
        for (;;) {
          try {
            await deposit(id, messageId);
            acked.set(id, (acked.get(id) ?? 0) + 1);
            break;
          } catch (err) {
            retries++;
            const code = (err as { code?: string }).code ?? String(err);
            errors.set(code, (errors.get(code) ?? 0) + 1);
            // An immediate refusal must not become a busy loop.
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
    }),
  );
  return {
    acked,
    get retries() {
      return retries;
    },
    /** Failed attempts by error code, for the test's message. */
    errors,
    get total() {
      return [...acked.values()].reduce((a, b) => a + b, 0);
    },
    /** Stops starting deposits and waits until every started one is acknowledged. */
    async stop() {
      stop = true;
      await done;
    },
  };
}
