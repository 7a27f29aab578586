import type { MqttSessionActor } from "../../actors/index.ts";
import type { ActorRef, Logger } from "../../runtime/index.ts";
import type { DurableRoutes, Messaging } from "../shared/index.ts";
import type { MqttLimits } from "./mqtt-limits.ts";
import type { MqttMetrics } from "./mqtt-metrics.ts";

/** Who a connection is, once authenticated. */
export interface MqttIdentity {
  readonly tenant: string;
  readonly user: string;
  readonly clientId: string;
  /** Connected without credentials (ACL rules may single anonymous clients out). */
  readonly anonymous?: boolean;
}

/** What a CONNECT presents. */
export interface MqttLoginAttempt {
  readonly clientId: string;
  readonly username?: string;
  readonly password?: Buffer;
  readonly remoteAddress: string;
  /** The CN of a verified TLS client certificate. */
  readonly certificateCn?: string;
}

export type MqttLoginResult =
  | { readonly ok: true; readonly tenant: string; readonly user: string; readonly anonymous?: boolean }
  | { readonly ok: false; readonly reason: "bad_credentials" | "not_authorized" | "bad_jwt" | "busy" };

/** One client's access, made once when it connects: cheap and synchronous. */
export interface MqttClientAccess {
  /** Checked on every PUBLISH (and a will). */
  canPublish(topic: string): boolean;
  /** Checked on every SUBSCRIBE, per filter (a shared subscription by its filter). */
  canSubscribe(filter: string): boolean;
  /**
   * Checked on delivery when `checksDelivery`: a deny rule narrower than a wildcard
   * subscription the client holds still keeps those messages from it.
   */
  canReceive(topic: string): boolean;
  readonly checksDelivery: boolean;
}

export interface MqttAccess {
  forClient(who: MqttIdentity): MqttClientAccess;
}

/** Access for everyone to everything: the gateway's own rules (`$SYS`, `$user/…`) still hold. */
export const allowAll: MqttAccess = {
  forClient: () => everything,
};
const everything: MqttClientAccess = { canPublish: () => true, canSubscribe: () => true, canReceive: () => true, checksDelivery: false };

/** Everything a connection needs from its gateway and node. */
export interface MqttContext {
  readonly nodeId: string;
  readonly messaging: Messaging;
  /** The MQTT session actor of a client. */
  session(tenant: string, clientId: string): ActorRef<MqttSessionActor["handlers"]>;
  readonly routes: DurableRoutes | undefined;
  authenticate(login: MqttLoginAttempt): Promise<MqttLoginResult>;
  readonly access: MqttAccess;
  readonly limits: MqttLimits;
  readonly metrics: MqttMetrics;
  readonly logger: Logger;
  /** In a cluster: records open connections, so a node's death ends them in their sessions. */
  readonly live?: { add(tenant: string, clientId: string, connectionId: string): void; remove(connectionId: string): void };
  /** Takes one of the node's `maxConnections` places for a CONNECT; false when none is left. */
  admit(): boolean;
  /** Gives back a place `admit` gave, when the connection ends (refused or closed). */
  leave(): void;
}
