/** The server's side of what a connection may do; the `mqtt.limits` settings. */
export interface MqttLimits {
  /** Server maximum keep alive, seconds; a v5 client asking more is told this (Server Keep Alive). */
  readonly maxKeepAliveS: number;
  /** QoS 1 and 2 PUBLISHes a client may have unacknowledged towards the server (v5 Receive Maximum). */
  readonly receiveMaximum: number;
  /** Topic aliases a v5 client may use towards the server. */
  readonly topicAliasMaximum: number;
  /** Largest packet accepted, bytes (v5 Maximum Packet Size). */
  readonly maxPacketSize: number;
  /** Messages waiting per session beyond those in flight (and in a persistent session's queue). */
  readonly maxQueuedMessages: number;
  /** What a full queue does: `drop-oldest` or `drop-new`; every drop is counted. */
  readonly queuePolicy: "drop-oldest" | "drop-new";
  /** Connections this node accepts at once. */
  readonly maxConnections: number;
  /** QoS 1 and 2 messages in flight towards one client, also capped by its Receive Maximum. */
  readonly maxInflight: number;
  readonly maxSubscriptionsPerClient: number;
  /** PUBLISHes per second per client; 0 unlimited. */
  readonly maxPublishRatePerClient: number;
  /** How long a connection may take to send CONNECT, ms. */
  readonly connectTimeoutMs: number;
}

export const defaultMqttLimits: MqttLimits = {
  maxKeepAliveS: 65_535,
  receiveMaximum: 100,
  topicAliasMaximum: 32,
  maxPacketSize: 1024 * 1024,
  maxQueuedMessages: 1000,
  queuePolicy: "drop-oldest",
  maxConnections: 100_000,
  maxInflight: 100,
  maxSubscriptionsPerClient: 1000,
  maxPublishRatePerClient: 0,
  connectTimeoutMs: 10_000,
};
