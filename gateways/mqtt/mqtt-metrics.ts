/** What the MQTT gateway of one node counts. Counters only ever grow; gauges move. */
export class MqttMetrics {
  /** Gauge: connections open now (after CONNACK). */
  connections = 0;
  connectionsTotal = 0;
  /** CONNECTs refused (bad credentials, not authorized, limits, protocol). */
  connectionsRefused = 0;
  /** PUBLISHes received from clients. */
  messagesIn = 0;
  /** PUBLISHes sent to clients. */
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Messages not delivered: full queues, too large for the client, expired, too slow a reader. */
  dropped = 0;
  /** Sessions taken over by a new connection with the same client id. */
  takeovers = 0;
  /** Connections closed for breaking the protocol or a limit. */
  protocolErrors = 0;

  snapshot(retained: number): Record<string, number> {
    return {
      "mqtt.connections": this.connections,
      "mqtt.connections.total": this.connectionsTotal,
      "mqtt.connections.refused": this.connectionsRefused,
      "mqtt.messages.in": this.messagesIn,
      "mqtt.messages.out": this.messagesOut,
      "mqtt.bytes.in": this.bytesIn,
      "mqtt.bytes.out": this.bytesOut,
      "mqtt.messages.dropped": this.dropped,
      "mqtt.retained": retained,
      "mqtt.takeovers": this.takeovers,
      "mqtt.protocol_errors": this.protocolErrors,
    };
  }
}
