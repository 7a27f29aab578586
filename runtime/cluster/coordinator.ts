import type { Clock, TimerHandle } from "../clock.ts";
import { isSwitchboardError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import { planAssignments, type PartitionState } from "./assignment-plan.ts";
import type { KvTable } from "./kv-table.ts";
import type { Membership } from "./membership.ts";
import { decodePartitionRecord, encodePartitionRecord, partitionKey } from "./partition-record.ts";

export interface CoordinatorOptions {
  readonly nodeId: string;
  /** Holds the `coordinator` lease; its TTL is the lease. */
  readonly leases: KvTable;
  readonly partitionTable: KvTable;
  readonly membership: Membership;
  readonly partitions: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often the leader reconciles; default 250 ms. */
  readonly intervalMs?: number;
  /** Handovers started per round; default 8. */
  readonly maxMoves?: number;
}

const leaseKey = "coordinator";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Every node runs one; the one holding the `coordinator` lease (created only if
 * absent, renewed at its revision) is the leader. The leader reads membership and the
 * partition table and applies `planAssignments` with compare-and-set, so two leaders
 * for a moment (one whose lease just expired) can never both win a write.
 */
export class Coordinator {
  readonly #o: CoordinatorOptions;
  #revision: number | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #running = false;

  constructor(options: CoordinatorOptions) {
    this.#o = options;
  }

  get isLeader(): boolean {
    return this.#revision !== undefined;
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(delay = this.#o.intervalMs ?? 250): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(() => void this.#tick(), delay);
  }

  async #tick(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      if (this.#o.membership.holdsLease && (await this.#holdLease())) await this.reconcile();
      else if (!this.#o.membership.holdsLease) this.#revision = undefined;
    } catch (err) {
      this.#o.logger.warn({ err }, "coordinator round failed");
    } finally {
      this.#running = false;
      this.#schedule();
    }
  }

  async #holdLease(): Promise<boolean> {
    const me = encoder.encode(this.#o.nodeId);
    const { leases } = this.#o;
    try {
      if (this.#revision !== undefined) {
        this.#revision = await leases.update(leaseKey, me, this.#revision);
        return true;
      }
      const cur = await leases.get(leaseKey);
      if (cur === undefined) this.#revision = await leases.create(leaseKey, me);
      else if (decoder.decode(cur.value) === this.#o.nodeId) this.#revision = await leases.update(leaseKey, me, cur.revision);
      else return false;
      this.#o.logger.info({ nodeId: this.#o.nodeId }, "became coordinator");
      return true;
    } catch (err) {
      if (this.#revision !== undefined) this.#o.logger.warn({ err }, "lost the coordinator lease");
      this.#revision = undefined;
      if (!isSwitchboardError(err, "etag_mismatch")) throw err;
      return false;
    }
  }

  /** One round: read, plan, write. Returns how many writes landed. */
  async reconcile(): Promise<number> {
    const live = await this.#o.membership.live();
    const current = new Map<number, PartitionState>();
    for (const e of await this.#o.partitionTable.entries("p.")) {
      const p = Number(e.key.slice(2));
      if (Number.isInteger(p) && p < this.#o.partitions) current.set(p, { record: decodePartitionRecord(e.value), revision: e.revision });
    }
    const plan = planAssignments({ partitions: this.#o.partitions, current, live, maxMoves: this.#o.maxMoves ?? 8 });
    let landed = 0;
    await Promise.all(
      plan.map(async (w) => {
        const key = partitionKey(w.partition);
        const value = encodePartitionRecord(w.next);
        try {
          if (w.revision === undefined) await this.#o.partitionTable.create(key, value);
          else await this.#o.partitionTable.update(key, value, w.revision);
          landed++;
          if (w.reason !== "unassigned") this.#o.logger.info({ partition: w.partition, reason: w.reason, next: w.next }, "partition reassigned");
        } catch (err) {
          // Someone else changed it first (the owner finishing a handover, another leader); next round re-reads.
          if (!isSwitchboardError(err, "etag_mismatch")) throw err;
        }
      }),
    );
    return landed;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    if (this.#revision !== undefined) await this.#o.leases.delete(leaseKey, this.#revision).catch(() => undefined);
    this.#revision = undefined;
  }
}
