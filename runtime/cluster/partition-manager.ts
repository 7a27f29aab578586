import type { Clock, TimerHandle } from "../clock.ts";
import { isSwitchboardError } from "../errors.ts";
import { KeyLock } from "../key-lock.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { KvTable, KvWatch } from "./kv-table.ts";
import { decodePartitionRecord, encodePartitionRecord, partitionKey, type PartitionRecord } from "./partition-record.ts";
import type { TransportSubscription } from "./transport.ts";

export interface PartitionManagerOptions {
  readonly nodeId: string;
  readonly table: KvTable;
  readonly partitions: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Starts receiving a partition's messages. */
  readonly subscribe: (partition: number) => TransportSubscription;
  /** Finishes turns, persists and deactivates every local activation of a partition. */
  readonly drain: (partition: number) => Promise<void>;
  /** Full re-read of the table, besides the watch; default 1,000 ms. */
  readonly resyncMs?: number;
  /** Called after this node starts or stops serving a partition. */
  readonly onChange?: () => void;
}

/**
 * Serves exactly the partitions the table says this node owns. It subscribes to an
 * owned partition's subject, and on a handover it unsubscribes first (new messages
 * then find no responder and are retried by their senders), drains the partition's
 * activations, and only then passes ownership on with compare-and-set. When the lease
 * is lost it stops serving everything (`fence`).
 */
export class PartitionManager {
  readonly #o: PartitionManagerOptions;
  readonly #serving = new Map<number, TransportSubscription>();
  readonly #lock = new KeyLock();
  #fenced = false;
  #watch: KvWatch | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: PartitionManagerOptions) {
    this.#o = options;
  }

  owns(partition: number): boolean {
    return !this.#fenced && this.#serving.has(partition);
  }

  owned(): number[] {
    return [...this.#serving.keys()].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    this.#watch = this.#o.table.watch();
    void this.#follow(this.#watch);
    await this.resync();
    this.#scheduleResync();
  }

  async #follow(watch: KvWatch): Promise<void> {
    try {
      for await (const change of watch) {
        if (change.op === "put" && change.entry.key.startsWith("p.")) {
          void this.#apply(Number(change.entry.key.slice(2)), decodePartitionRecord(change.entry.value), change.entry.revision);
        }
      }
    } catch (err) {
      if (!this.#stopped) this.#o.logger.warn({ err }, "partition watch ended; relying on resync");
    }
  }

  #scheduleResync(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(async () => {
      await this.resync().catch((err: unknown) => this.#o.logger.warn({ err }, "partition resync failed"));
      this.#scheduleResync();
    }, this.#o.resyncMs ?? 1000);
  }

  /** Reads the whole table and applies every record. */
  async resync(): Promise<void> {
    const seen = new Set<number>();
    const entries = await this.#o.table.entries("p.");
    await Promise.all(
      entries.map((e) => {
        const p = Number(e.key.slice(2));
        seen.add(p);
        return this.#apply(p, decodePartitionRecord(e.value), e.revision);
      }),
    );
    await Promise.all(this.owned().filter((p) => !seen.has(p)).map((p) => this.#apply(p, undefined, 0)));
  }

  #apply(p: number, rec: PartitionRecord | undefined, revision: number): Promise<void> {
    if (!Number.isInteger(p) || p < 0 || p >= this.#o.partitions) return Promise.resolve();
    return this.#lock.run(String(p), async () => {
      if (this.#fenced || this.#stopped) return;
      const mine = rec?.owner === this.#o.nodeId;
      if (mine && rec!.state === "active") {
        if (!this.#serving.has(p)) {
          this.#serving.set(p, this.#o.subscribe(p));
          this.#o.logger.debug({ partition: p, gen: rec!.gen }, "serving partition");
          this.#o.onChange?.();
        }
        return;
      }
      await this.#release(p);
      if (mine && rec!.state === "handover" && rec!.to !== undefined) {
        try {
          const current = await this.#o.table.get(partitionKey(p));
          if (current?.revision !== revision) return;
          const next: PartitionRecord = { owner: rec!.to, state: "active", gen: rec!.gen + 1, ...(rec!.pinned ? { pinned: true } : {}) };
          await this.#o.table.update(partitionKey(p), encodePartitionRecord(next), revision);
          this.#o.logger.info({ partition: p, to: rec!.to }, "partition handed over");
        } catch (err) {
          if (!isSwitchboardError(err, "etag_mismatch")) throw err;
        }
      }
    });
  }

  async #release(p: number): Promise<void> {
    const sub = this.#serving.get(p);
    if (sub === undefined) return;
    this.#serving.delete(p);
    this.#o.onChange?.();
    await sub.close();
    await this.#o.drain(p);
  }

  /** Lease lost: stop serving every partition now and drain them. */
  async fence(): Promise<void> {
    this.#fenced = true;
    const owned = this.owned();
    await Promise.all(owned.map((p) => this.#lock.run(String(p), () => this.#release(p))));
  }

  /** Lease regained: follow the table again. */
  async unfence(): Promise<void> {
    this.#fenced = false;
    await this.resync();
  }

  /** Stops following the table and closes subscriptions (the runtime drains itself). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#watch?.close();
    await this.#lock.idle();
    await Promise.all([...this.#serving.values()].map((s) => s.close()));
    this.#serving.clear();
  }
}
