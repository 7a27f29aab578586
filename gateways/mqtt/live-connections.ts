import type { KvTable, Logger } from "../../runtime/index.ts";

export interface LiveConnectionsOptions {
  /** Cluster-wide (a JetStream key-value bucket): `c.<node>.<connection id>` → its client. */
  readonly table: KvTable;
  readonly nodeId: string;
  /** The ids of the live nodes (the cluster's membership). */
  readonly liveNodes: () => Promise<readonly string[]>;
  /** Tells a client's session that its connection is gone, without a DISCONNECT. */
  readonly lost: (tenant: string, clientId: string, connectionId: string) => Promise<void>;
  readonly logger: Logger;
  /** How often membership is read; default 1 s. */
  readonly intervalMs?: number;
}

interface Held {
  readonly tenant: string;
  readonly clientId: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Which MQTT connections each node of a cluster holds, so that a node's death is heard
 * by its clients' sessions: each is told its connection ended without a DISCONNECT, so
 * its will is published (after its delay) and a clean session ends, as when a
 * connection drops on a node that lives. Without this, a will would wait for the client
 * to come back, which is what a device's will is there to report.
 *
 * Every node watches membership. When a node leaves it, the first live node (by id)
 * reads the dead node's entries and tells their sessions; a session that has since
 * been taken over by a newer connection ignores it. A node that starts reads its own
 * entries from its previous life, which no one else may have seen end.
 */
export class LiveConnections {
  readonly #o: LiveConnectionsOptions;
  #known = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #round: Promise<void> = Promise.resolve();

  constructor(options: LiveConnectionsOptions) {
    this.#o = options;
  }

  /** Records an open connection (in the background: a failure only costs its will on a node death). */
  add(tenant: string, clientId: string, connectionId: string): void {
    const value = encoder.encode(JSON.stringify({ tenant, clientId } satisfies Held));
    this.#o.table.put(this.#key(this.#o.nodeId, connectionId), value).catch((err: unknown) => this.#o.logger.warn({ err, clientId }, "live connection not recorded"));
  }

  /** Forgets a connection that ended here (its session was told). */
  remove(connectionId: string): void {
    this.#o.table.delete(this.#key(this.#o.nodeId, connectionId)).catch((err: unknown) => this.#o.logger.warn({ err, connectionId }, "live connection not forgotten"));
  }

  /** Ends the connections of this node's previous life, then watches membership. Call before accepting connections. */
  async start(): Promise<void> {
    try {
      const n = await this.#reap(this.#o.nodeId);
      if (n > 0) this.#o.logger.info({ connections: n }, "connections of this node's previous life ended");
    } catch (err) {
      this.#o.logger.warn({ err }, "connections of this node's previous life not read");
    }
    this.#timer = setInterval(() => this.#check(), this.#o.intervalMs ?? 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  #check(): void {
    this.#round = this.#round.then(async () => {
      let live: Set<string>;
      try {
        live = new Set(await this.#o.liveNodes());
      } catch (err) {
        this.#o.logger.warn({ err }, "membership not read; lost connections are looked for again later");
        return;
      }
      const gone = [...this.#known].filter((n) => !live.has(n));
      // A node that cannot see itself is cut off: it does not act for the cluster.
      if (live.has(this.#o.nodeId)) this.#known = live;
      const first = [...live].sort()[0];
      if (first !== this.#o.nodeId) return;
      for (const node of gone) {
        try {
          const n = await this.#reap(node);
          if (n > 0) this.#o.logger.info({ node, connections: n }, "connections of a lost node ended");
        } catch (err) {
          this.#o.logger.warn({ err, node }, "connections of a lost node not ended; tried again when it is seen gone");
          this.#known.add(node);
        }
      }
    });
  }

  /** Tells the sessions of `node`'s recorded connections that they are gone; returns how many. */
  async #reap(node: string): Promise<number> {
    const entries = await this.#o.table.entries(`c.${node}.`);
    await Promise.all(
      entries.map(async (e) => {
        let held: Held | undefined;
        try {
          held = JSON.parse(decoder.decode(e.value)) as Held;
        } catch {
          this.#o.logger.warn({ key: e.key }, "a live connection entry is not one; removed");
        }
        if (held !== undefined) await this.#o.lost(held.tenant, held.clientId, e.key.slice(`c.${node}.`.length));
        await this.#o.table.delete(e.key);
      }),
    );
    return entries.length;
  }

  #key(node: string, connectionId: string): string {
    return `c.${node}.${connectionId}`;
  }
}
