import { ActorRuntime } from "../actor/actor-runtime.ts";
import type { ActorDefinition } from "../actor/actor-definition.ts";
import type { ActorServices } from "../actor/actor-services.ts";
import type { Clock } from "../clock.ts";
import { isSwitchboardError, SwitchboardError } from "../errors.ts";
import type { ReminderTable } from "../reminders/index.ts";
import { ReminderService } from "../reminders/reminder-service.ts";
import type { StateStore } from "../state/index.ts";
import type { EventLoopMonitor } from "../telemetry/event-loop-monitor.ts";
import type { Logger } from "../telemetry/logger.ts";
import { ClusterPlacement } from "./cluster-placement.ts";
import { Coordinator } from "./coordinator.ts";
import type { KvTable } from "./kv-table.ts";
import { drainKey, type MemberRecord } from "./member-record.ts";
import { Membership } from "./membership.ts";
import { PartitionManager } from "./partition-manager.ts";
import { decodePartitionRecord, encodePartitionRecord, partitionKey, type PartitionRecord } from "./partition-record.ts";
import { partitionSubject } from "./partitioner.ts";
import type { Transport } from "./transport.ts";

/** The cluster's shared tables. `members` and `leases` have the lease as TTL. */
export interface ClusterTables {
  readonly members: KvTable;
  readonly leases: KvTable;
  readonly partitions: KvTable;
  /** Settings (partition count) and operator requests (drain). No TTL. */
  readonly control: KvTable;
}

export interface ClusterNodeOptions {
  readonly nodeId: string;
  readonly transport: Transport;
  readonly tables: ClusterTables;
  readonly stateStore: StateStore;
  readonly actors: readonly ActorDefinition<any, any>[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Subjects are `<subjectPrefix>.p.<n>`; default `sb`. */
  readonly subjectPrefix?: string;
  /** Partition count if this node is the first of the cluster; later nodes use the stored one. Default 64. */
  readonly partitions?: number;
  /** The lease; default the members table's TTL. */
  readonly leaseMs?: number;
  /** `host:port` of this node's gRPC API, read at every heartbeat and published with the lease. */
  readonly grpcAddress?: () => string;
  /** This node's client listeners by protocol (`mqtt` → `host:port`), published with the lease. */
  readonly endpoints?: () => Record<string, string>;
  /**
   * Called when a drain begins, before partitions move: the gateways ask their clients
   * to reconnect elsewhere. A failure is logged and the drain goes on.
   */
  readonly onDrain?: () => Promise<void>;
  /** The cluster's reminder table; this node fires the reminders of the actors it hosts. */
  readonly reminderTable?: ReminderTable;
  readonly eventLoop?: EventLoopMonitor;
  readonly callTimeoutMs?: number;
  /** What the node lends its actors (`ctx.publish`, `ctx.messageLog`). */
  readonly services?: ActorServices;
  /** Coordinator round interval; default 250 ms. */
  readonly coordinatorIntervalMs?: number;
  /** Partition table re-read interval; default 1,000 ms. */
  readonly resyncMs?: number;
}

export interface ActorLocation {
  readonly actorId: string;
  readonly partition: number;
  readonly record: PartitionRecord | undefined;
  /** Whether that node has the actor activated (only known for this node). */
  readonly activeHere: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One node of a cluster: the actor runtime with partition placement, its lease, the
 * coordinator candidate and the partition manager, wired together.
 */
export class ClusterNode {
  readonly nodeId: string;
  readonly runtime: ActorRuntime;
  readonly placement: ClusterPlacement;
  readonly membership: Membership;
  readonly coordinator: Coordinator;
  readonly manager: PartitionManager;
  readonly partitions: number;
  readonly #o: ClusterNodeOptions;
  readonly #reminders: ReminderService | undefined;
  #draining = false;
  #drainWatch: ReturnType<Clock["setTimer"]> | undefined;
  #drained: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  readonly startedAtMs: number;
  #markDrained!: () => void;
  /** Settles when a drain (asked here or by an operator through the control table) has finished and the node stopped. */
  readonly drained = new Promise<void>((resolve) => (this.#markDrained = resolve));

  private constructor(options: ClusterNodeOptions, partitions: number) {
    this.#o = options;
    this.nodeId = options.nodeId;
    this.partitions = partitions;
    this.startedAtMs = options.clock.now();
    const prefix = options.subjectPrefix ?? "sb";
    const logger = options.logger.child({ component: "cluster" });
    this.manager = new PartitionManager({
      nodeId: options.nodeId,
      table: options.tables.partitions,
      partitions,
      clock: options.clock,
      logger,
      resyncMs: options.resyncMs,
      subscribe: (p) => options.transport.subscribe(partitionSubject(prefix, p), (m) => this.placement.handle(m, (msg) => this.runtime.acceptRemote(msg))),
      drain: async (p) => void (await this.runtime.deactivateWhere((id) => this.placement.partitionOf(id) === p)),
      onChange: () => this.#refreshReminders(),
    });
    this.#reminders =
      options.reminderTable === undefined
        ? undefined
        : new ReminderService({ table: options.reminderTable, clock: options.clock, logger: options.logger, owns: (id) => this.placement.isLocal(id) });
    this.placement = new ClusterPlacement({
      transport: options.transport,
      subjectPrefix: prefix,
      partitions,
      owns: (p) => this.manager.owns(p),
      local: (msg) => this.runtime.acceptLocal(msg),
      clock: options.clock,
      logger,
      sendTimeoutMs: options.callTimeoutMs,
    });
    this.runtime = new ActorRuntime({
      nodeId: options.nodeId,
      actors: options.actors,
      stateStore: options.stateStore,
      reminders: this.#reminders,
      placement: this.placement,
      clock: options.clock,
      logger: options.logger,
      callTimeoutMs: options.callTimeoutMs,
      services: options.services,
    });
    this.membership = new Membership({
      nodeId: options.nodeId,
      members: options.tables.members,
      clock: options.clock,
      logger,
      leaseMs: options.leaseMs,
      record: () => this.#record(),
      onLeaseLost: () => void this.manager.fence(),
      onLeaseRegained: () => void this.manager.unfence(),
    });
    this.coordinator = new Coordinator({
      nodeId: options.nodeId,
      leases: options.tables.leases,
      partitionTable: options.tables.partitions,
      membership: this.membership,
      partitions,
      clock: options.clock,
      logger,
      intervalMs: options.coordinatorIntervalMs,
    });
  }

  /** Joins the cluster: agrees on the partition count, takes a lease, follows the table. */
  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const partitions = await agreePartitionCount(options.tables.control, options.partitions ?? 64);
    const node = new ClusterNode(options, partitions);
    await node.membership.start();
    await node.manager.start();
    node.coordinator.start();
    await node.runtime.start();
    node.#watchForDrain();
    options.logger.info({ component: "cluster", nodeId: node.nodeId, partitions }, "joined the cluster");
    return node;
  }

  #refreshScheduled = false;

  /** Re-arms reminders once after a burst of ownership changes. */
  #refreshReminders(): void {
    const reminders = this.#reminders;
    if (this.#refreshScheduled || reminders === undefined) return;
    this.#refreshScheduled = true;
    this.#o.clock.setTimer(() => {
      this.#refreshScheduled = false;
      reminders.refresh().catch((err: unknown) => this.#o.logger.warn({ err }, "reminder refresh failed"));
    }, 50);
  }

  #record(): MemberRecord {
    const s = this.runtime.stats();
    return {
      nodeId: this.nodeId,
      startedAtMs: this.startedAtMs,
      draining: this.#draining,
      grpc: this.#o.grpcAddress?.() ?? "",
      endpoints: this.#o.endpoints?.() ?? {},
      load: {
        activations: s.activations,
        mailboxDepth: s.mailboxDepthTotal,
        eventLoopLagMs: this.#o.eventLoop?.lag().p99Ms ?? 0,
        turnsPerSecond: s.turnsPerSecond,
      },
    };
  }

  /** Polls the control table for an operator's drain request for this node. */
  #watchForDrain(): void {
    this.#drainWatch = this.#o.clock.setTimer(async () => {
      try {
        if (!this.#draining && (await this.#o.tables.control.get(drainKey(this.nodeId))) !== undefined) void this.drain();
      } catch {
        // NATS unreachable: the lease logic handles that; try again next round.
      }
      if (this.#stopped === undefined) this.#watchForDrain();
    }, 500);
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Moves every partition away (the coordinator hands them to the other nodes in
   * bounded steps), then stops. Resolves when stopped. With no other node to take them,
   * it stops at once and the partitions go to whoever joins next.
   */
  drain(): Promise<void> {
    return (this.#drained ??= this.#drainNow());
  }

  async #drainNow(): Promise<void> {
    this.#draining = true;
    const log = this.#o.logger.child({ component: "cluster" });
    log.info({ owned: this.manager.owned().length }, "draining");
    await this.#o.tables.members.put(`node.${this.nodeId}`, encoder.encode(JSON.stringify(this.#record()))).catch(() => undefined);
    await this.#o.onDrain?.().catch((err: unknown) => log.warn({ err }, "the gateways did not all move their clients"));
    for (;;) {
      if (this.manager.owned().length === 0) break;
      const others = (await this.membership.live().catch(() => [])).filter((m) => m.nodeId !== this.nodeId && !m.draining);
      if (others.length === 0) {
        log.warn("no other node can take the partitions; stopping anyway");
        break;
      }
      await new Promise<void>((r) => this.#o.clock.setTimer(r, 100));
    }
    await this.#o.tables.control.delete(drainKey(this.nodeId)).catch(() => undefined);
    log.info("drained");
    await this.stop();
    this.#markDrained();
  }

  /** Another live, non-draining node's endpoint for `protocol`, for sending clients there; undefined if none. */
  async otherEndpoint(protocol: string): Promise<string | undefined> {
    const others = (await this.membership.live().catch(() => [])).filter((m) => m.nodeId !== this.nodeId && !m.draining && m.endpoints?.[protocol]);
    return others.length === 0 ? undefined : others[Math.floor(Math.random() * others.length)]!.endpoints![protocol];
  }

  /** Where an actor lives: its partition and that partition's record. */
  async locate(actorId: string): Promise<ActorLocation> {
    const partition = this.placement.partitionOf(actorId);
    const entry = await this.#o.tables.partitions.get(partitionKey(partition));
    return { actorId, partition, record: entry ? decodePartitionRecord(entry.value) : undefined, activeHere: this.runtime.isActive(actorId) };
  }

  /** Every partition's record, by partition. */
  async partitionTable(): Promise<Map<number, PartitionRecord>> {
    const out = new Map<number, PartitionRecord>();
    for (const e of await this.#o.tables.partitions.entries("p.")) out.set(Number(e.key.slice(2)), decodePartitionRecord(e.value));
    return out;
  }

  /**
   * Starts moving `partition` to `to`: the current owner drains it and passes it on.
   * With `pin` (an operator's move) balancing leaves it there afterwards; the scaler
   * moves without pinning. Throws `invalid_argument` for an unknown partition or a
   * target that is not a live, non-draining node; `etag_mismatch` if the partition
   * changed meanwhile (try again).
   */
  async movePartition(partition: number, to: string, options: { pin?: boolean } = {}): Promise<PartitionRecord> {
    if (!Number.isInteger(partition) || partition < 0 || partition >= this.partitions) {
      throw new SwitchboardError("invalid_argument", `partition ${partition} does not exist (0-${this.partitions - 1})`);
    }
    const live = await this.membership.live();
    if (!live.some((m) => m.nodeId === to && !m.draining)) throw new SwitchboardError("invalid_argument", `node ${to} is not a live node that accepts partitions`);
    const entry = await this.#o.tables.partitions.get(partitionKey(partition));
    if (entry === undefined) throw new SwitchboardError("unavailable", `partition ${partition} has no owner yet`);
    const cur = decodePartitionRecord(entry.value);
    if (cur.state === "handover") throw new SwitchboardError("unavailable", `partition ${partition} is already moving to ${cur.to}`);
    const pinned = options.pin ?? cur.pinned ?? false;
    if (cur.owner === to && Boolean(cur.pinned) === pinned) return cur;
    const next: PartitionRecord =
      cur.owner === to ? { owner: cur.owner, state: "active", gen: cur.gen, ...(pinned ? { pinned } : {}) } : { owner: cur.owner, state: "handover", to, gen: cur.gen, ...(pinned ? { pinned } : {}) };
    await this.#o.tables.partitions.update(partitionKey(partition), encodePartitionRecord(next), entry.revision);
    return next;
  }

  /** The node holding the coordinator lease now, or "" if none does. */
  async coordinatorId(): Promise<string> {
    const e = await this.#o.tables.leases.get("coordinator");
    return e === undefined ? "" : decoder.decode(e.value);
  }

  /** Asks a node (this one or another) to drain; it notices within about half a second. */
  async requestDrain(nodeId: string): Promise<void> {
    const live = await this.membership.live();
    if (!live.some((m) => m.nodeId === nodeId)) throw new SwitchboardError("not_found", `no live node ${nodeId}`);
    await this.#o.tables.control.put(drainKey(nodeId), encoder.encode(String(this.#o.clock.now())));
  }

  /** Leaves without moving partitions first (they are reassigned when the lease goes). */
  stop(): Promise<void> {
    return (this.#stopped ??= this.#stopNow());
  }

  async #stopNow(): Promise<void> {
    this.#drainWatch?.cancel();
    await this.coordinator.stop();
    await this.runtime.shutdown();
    await this.manager.stop();
    await this.membership.stop();
  }
}

/** The first node records the partition count; every later one reads it. */
async function agreePartitionCount(control: KvTable, wanted: number): Promise<number> {
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > 4096) throw new SwitchboardError("invalid_argument", `partition count ${wanted} must be 1-4096`);
  try {
    await control.create("settings.partitions", encoder.encode(String(wanted)));
    return wanted;
  } catch (err) {
    if (!isSwitchboardError(err, "etag_mismatch")) throw err;
    const stored = await control.get("settings.partitions");
    return Number(decoder.decode(stored!.value));
  }
}
