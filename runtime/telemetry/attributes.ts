/**
 * Span attribute names, in one place (STYLE.md §16). The `messaging.*` ones follow the
 * OpenTelemetry messaging semantic conventions; `switchboard.*` are ours.
 */
export const Attr = {
  messagingSystem: "messaging.system",
  messagingOperation: "messaging.operation.type",
  messagingDestination: "messaging.destination.name",
  messageId: "messaging.message.id",
  actorType: "switchboard.actor.type",
  actorId: "switchboard.actor.id",
  method: "switchboard.actor.method",
  nodeId: "switchboard.node.id",
  duplicate: "switchboard.message.duplicate",
} as const;
