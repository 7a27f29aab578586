import mqtt from "mqtt-packet";
import type { IPublishPacket } from "mqtt-packet";
import type { Message } from "../../protos/index.ts";

/** What varies per delivery of one message to one client. */
export interface PublishOptions {
  readonly version: 3 | 4 | 5;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly packetId: number;
  /** v5: the subscription identifiers it matched. */
  readonly subscriptionIds: readonly number[];
  /** v5: the alias to send; with `aliasKnown` the topic name is left out. */
  readonly topicAlias: number;
  readonly aliasKnown: boolean;
  /** v5: the remaining Message Expiry Interval in seconds; 0 none. */
  readonly expirySeconds: number;
}

const cache = new WeakMap<Message, Map<string, Buffer>>();

/**
 * The bytes of a PUBLISH of `message` to one client. Deliveries that differ only in
 * their packet identifier share one encoding: fan-out to many subscribers of one
 * protocol version encodes once and copies, patching the two identifier bytes.
 */
export function encodePublish(topic: string, message: Message, o: PublishOptions): Buffer {
  const shareable = o.subscriptionIds.length === 0 && o.topicAlias === 0;
  if (!shareable) return mqtt.generate(packet(topic, message, o, o.packetId), { protocolVersion: o.version });
  const key = `${o.version}|${o.qos}|${o.retain ? 1 : 0}|${o.dup ? 1 : 0}|${o.expirySeconds}`;
  let encodings = cache.get(message);
  if (encodings === undefined) cache.set(message, (encodings = new Map()));
  let bytes = encodings.get(key);
  if (bytes === undefined) {
    bytes = mqtt.generate(packet(topic, message, o, o.qos === 0 ? 0 : 1), { protocolVersion: o.version });
    encodings.set(key, bytes);
  }
  if (o.qos === 0) return bytes;
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  // Fixed header: one byte, then the remaining length (1-4 bytes); then the topic
  // (2-byte length + bytes); then the packet identifier.
  let at = 1;
  while ((copy[at]! & 0x80) !== 0) at++;
  at++;
  at += 2 + copy.readUInt16BE(at);
  copy.writeUInt16BE(o.packetId, at);
  return copy;
}

function packet(topic: string, m: Message, o: PublishOptions, packetId: number): IPublishPacket {
  const p: IPublishPacket = { cmd: "publish", topic: o.aliasKnown ? "" : topic, payload: m.body, qos: o.qos, retain: o.retain, dup: o.dup };
  if (o.qos > 0) p.messageId = packetId;
  if (o.version === 5) {
    const props: NonNullable<IPublishPacket["properties"]> = {};
    if (m.bodyUtf8) props.payloadFormatIndicator = true;
    if (o.expirySeconds > 0) props.messageExpiryInterval = o.expirySeconds;
    if (o.topicAlias > 0) props.topicAlias = o.topicAlias;
    if (m.responseTopic !== "") props.responseTopic = m.responseTopic;
    if (m.correlationData.length > 0) props.correlationData = m.correlationData;
    if (m.contentType !== "") props.contentType = m.contentType;
    if (m.properties.length > 0) props.userProperties = userProperties(m.properties);
    if (o.subscriptionIds.length > 0) props.subscriptionIdentifier = o.subscriptionIds.length === 1 ? o.subscriptionIds[0]! : [...o.subscriptionIds];
    if (Object.keys(props).length > 0) p.properties = props;
  }
  return p;
}

/** mqtt-packet's form of user properties: a name maps to a value, or to several in order. */
export function userProperties(list: readonly { name: string; value: string }[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const { name, value } of list) {
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had, value];
  }
  return out;
}

/** The pairs of user properties mqtt-packet parsed, in order. */
export function propertyList(props: Record<string, string | string[]> | undefined): { name: string; value: string }[] {
  if (props === undefined) return [];
  const out: { name: string; value: string }[] = [];
  for (const [name, value] of Object.entries(props)) {
    if (Array.isArray(value)) for (const v of value) out.push({ name, value: v });
    else out.push({ name, value });
  }
  return out;
}
