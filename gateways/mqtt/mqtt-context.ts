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

/** Checked on every PUBLISH and SUBSCRIBE: cheap and synchronous. */
export interface MqttAccess {
  canPublish(who: MqttIdentity, topic: string): boolean;
  canSubscribe(who: MqttIdentity, filter: string): boolean;
  /**
   * Checked on delivery when given: a deny rule narrower than a wildcard subscription
   * the client holds still keeps those messages from it.
   */
  canReceive?(who: MqttIdentity, topic: string): boolean;
}

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
  /** Connections open now on this node (after CONNACK), counted by the gateway. */
  readonly openConnections: () => number;
}
