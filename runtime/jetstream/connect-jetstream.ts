import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { SwitchboardError } from "../errors.ts";

export interface ConnectJetStreamOptions {
  /** One URL or several (`nats://host:4222`); the client fails over among them. */
  readonly servers: string | readonly string[];
  /** Shown in the server's connection list. Default "switchboard". */
  readonly name?: string;
  /** How long the first connect may take. Default 5000. */
  readonly timeoutMs?: number;
}

/**
 * Connects to NATS for the JetStream stores, reconnecting for ever after a drop (the
 * stores fail with `unavailable` meanwhile and work again once it is back). The
 * caller owns the connection: closing a store never closes it. Rejects with
 * `unavailable` when no server answers in time.
 */
export async function connectJetStream(options: ConnectJetStreamOptions): Promise<NatsConnection> {
  const servers = typeof options.servers === "string" ? [options.servers] : [...options.servers];
  try {
    return await connect({
      servers,
      name: options.name ?? "switchboard",
      timeout: options.timeoutMs ?? 5000,
      maxReconnectAttempts: -1,
    });
  } catch (cause) {
    throw new SwitchboardError("unavailable", "cannot connect to NATS", { context: { servers }, cause });
  }
}
