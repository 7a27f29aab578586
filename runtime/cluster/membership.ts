import type { Clock, TimerHandle } from "../clock.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { KvTable } from "./kv-table.ts";
import { decodeMemberRecord, encodeMemberRecord, memberKey, type MemberRecord } from "./member-record.ts";
import { withTimeout } from "./with-timeout.ts";

export interface MembershipOptions {
  readonly nodeId: string;
  /** The members table; its TTL is the lease. */
  readonly members: KvTable;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long a lease lasts without renewal; default the table's TTL. */
  readonly leaseMs?: number;
  /** How often the lease is renewed; default a quarter of the lease. */
  readonly heartbeatMs?: number;
  /** The record to publish, read at every heartbeat (it carries the current load). */
  readonly record: () => MemberRecord;
  /** The lease ran out without a renewal: stop serving at once. */
  readonly onLeaseLost: () => void;
  /** A renewal worked again after a loss. */
  readonly onLeaseRegained: () => void;
}

/**
 * This node's lease in the members table, renewed by heartbeat. When renewals fail
 * for a whole lease (NATS unreachable), the node must consider itself dead: the
 * cluster has already given its partitions away, so it stops serving by itself
 * (`onLeaseLost`), and any write it still makes is refused by the stores' epoch
 * fencing.
 */
export class Membership {
  readonly #o: MembershipOptions;
  readonly leaseMs: number;
  readonly #heartbeatMs: number;
  #lastRenewedMs = 0;
  #lost = false;
  #timer: TimerHandle | undefined;
  #fenceTimer: TimerHandle | undefined;
  #stopped = false;
  #beating = false;

  constructor(options: MembershipOptions) {
    this.#o = options;
    this.leaseMs = options.leaseMs ?? options.members.ttlMs;
    this.#heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(this.leaseMs / 4));
  }

  /** Whether this node holds a valid lease now. */
  get holdsLease(): boolean {
    return !this.#lost && this.#o.clock.now() - this.#lastRenewedMs < this.leaseMs;
  }

  /** Writes the first lease (throws if it cannot), then renews it periodically. */
  async start(): Promise<void> {
    const sent = this.#o.clock.now();
    await this.#o.members.put(memberKey(this.#o.nodeId), encodeMemberRecord(this.#o.record()));
    this.#renewed(sent);
    this.#schedule();
  }

  /**
   * A renewal sent at `sentMs` landed. The server's copy expires a lease after it
   * received it, never before `sentMs + lease`; this node stops serving exactly at
   * `sentMs + lease`, so it is never still serving once the cluster can have moved its
   * partitions.
   */
  #renewed(sentMs: number): void {
    this.#lastRenewedMs = sentMs;
    this.#fenceTimer?.cancel();
    this.#fenceTimer = this.#o.clock.setTimer(() => this.#expire(), sentMs + this.leaseMs - this.#o.clock.now());
  }

  #expire(): void {
    if (this.#lost || this.#stopped) return;
    const left = this.#lastRenewedMs + this.leaseMs - this.#o.clock.now();
    if (left > 0) {
      // Timers run on a monotonic clock and may fire a millisecond before the wall clock agrees.
      this.#fenceTimer = this.#o.clock.setTimer(() => this.#expire(), left);
      return;
    }
    this.#lost = true;
    this.#o.logger.error({ nodeId: this.#o.nodeId, leaseMs: this.leaseMs }, "lease lost: no renewal for a whole lease; stopping serving");
    this.#o.onLeaseLost();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(() => void this.#beat(), this.#heartbeatMs);
  }

  async #beat(): Promise<void> {
    if (this.#beating) return this.#schedule();
    this.#beating = true;
    const started = this.#o.clock.now();
    try {
      await withTimeout(this.#o.members.put(memberKey(this.#o.nodeId), encodeMemberRecord(this.#o.record())), this.leaseMs / 2, "lease renewal");
      this.#renewed(started);
      if (this.#lost && !this.#stopped) {
        this.#lost = false;
        this.#o.logger.info({ nodeId: this.#o.nodeId }, "lease regained");
        this.#o.onLeaseRegained();
      }
    } catch (err) {
      this.#o.logger.warn({ err, sinceRenewalMs: this.#o.clock.now() - this.#lastRenewedMs }, "lease renewal failed");
    } finally {
      this.#beating = false;
      this.#schedule();
    }
  }

  /**
   * Live members: the table's TTL is the lease, so an expired lease is simply gone.
   * Expiry is the table's (the NATS server's) decision, never this node's clock, so
   * clock skew between nodes cannot make a live node look dead.
   */
  async live(): Promise<MemberRecord[]> {
    const entries = await this.#o.members.entries("node.");
    return entries.map((e) => decodeMemberRecord(e.value));
  }

  /** Stops renewing and removes the lease, so the cluster reacts at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#fenceTimer?.cancel();
    await this.#o.members.delete(memberKey(this.#o.nodeId)).catch(() => undefined);
  }
}
