import type { IConnectPacket, Packet } from "mqtt-packet";
import { checkTopicFilter, checkTopicName } from "../../actors/index.ts";
import { Reason } from "./reason-codes.ts";

/** Why a packet is refused: the v5 reason code and a message for the log (and the Reason String). */
export interface PacketFault {
  readonly reason: number;
  readonly why: string;
}

/**
 * What mqtt-packet's parser lets through of a CONNECT that the specification calls
 * malformed or a protocol error. Undefined when the CONNECT is well formed. The
 * protocol name and level are checked apart (they have their own answer).
 */
export function connectFault(p: IConnectPacket): PacketFault | undefined {
  const v5 = p.protocolVersion === 5;
  // [MQTT-3.1.2-12] (5.0), [MQTT-3.1.2-14] (3.1.1): a Will QoS of 3 is malformed.
  if (p.will !== undefined && (p.will.qos as number) > 2) return { reason: Reason.malformedPacket, why: "a will QoS of 3" };
  // [MQTT-3.1.2-22] (3.1.1): no password without a user name (5.0 allows one).
  if (!v5 && p.password !== undefined && p.username === undefined) return { reason: Reason.malformedPacket, why: "a password without a user name" };
  if (!v5) return undefined;
  const props = p.properties ?? {};
  const repeated = repeatedProperty(props) ?? repeatedProperty(p.will?.properties ?? {});
  if (repeated !== undefined) return { reason: Reason.protocolError, why: `the ${repeated} property more than once` };
  // 3.1.2.11: a Receive Maximum or a Maximum Packet Size of 0 is a protocol error.
  if (props.receiveMaximum === 0) return { reason: Reason.protocolError, why: "a receive maximum of 0" };
  if (props.maximumPacketSize === 0) return { reason: Reason.protocolError, why: "a maximum packet size of 0" };
  // 3.1.3.2.5 (as [MQTT-3.3.2-14] for PUBLISH): a will's Response Topic is a topic name.
  const willResponse = p.will?.properties?.responseTopic;
  if (willResponse !== undefined && topicNameFault(willResponse) !== undefined) return { reason: Reason.protocolError, why: "the will's response topic is not a topic name" };
  // 3.1.2.11.10: Authentication Data without an Authentication Method is a protocol error.
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) return { reason: Reason.protocolError, why: "authentication data without a method" };
  return undefined;
}

/**
 * The name of a property given more than once where the specification allows it once
 * (every property but User Property, and the Subscription Identifier of a PUBLISH the
 * server sends): mqtt-packet turns a repeat into an array.
 */
export function repeatedProperty(props: object): string | undefined {
  for (const [name, value] of Object.entries(props)) {
    if (name !== "userProperties" && Array.isArray(value)) return name;
  }
  return undefined;
}

/**
 * The protocol name and level must go together: "MQTT" with 4 (3.1.1) or 5, "MQIsdp"
 * with 3 (3.1). False for any other pairing ([MQTT-3.1.2-1], [MQTT-3.1.2-2]).
 */
export function supportedProtocol(p: IConnectPacket): boolean {
  const level = p.protocolVersion ?? 4;
  return p.protocolId === "MQIsdp" ? level === 3 : level === 4 || level === 5;
}

/**
 * A packet that needs a non-zero Packet Identifier and has 0 ([MQTT-2.2.1-3]: PUBLISH
 * of QoS 1 and 2, SUBSCRIBE, UNSUBSCRIBE, and their acknowledgements).
 */
export function zeroPacketId(p: Packet): boolean {
  switch (p.cmd) {
    case "publish":
      return p.qos > 0 && !p.messageId;
    case "subscribe":
    case "unsubscribe":
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return !p.messageId;
    default:
      return false;
  }
}

/**
 * Control characters U+0001..U+001F and U+007F..U+009F: a string SHOULD NOT hold them
 * and a receiver MAY treat them as malformed (1.5.4). The gateway refuses them in topic
 * names and filters, which also name actors (retained messages, managed topics) whose
 * keys cannot hold them.
 */
export function hasControlCharacters(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x01 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Why `topic` is not a name a client may publish to: empty, a wildcard ([MQTT-3.3.2-2]),
 * U+0000 ([MQTT-1.5.4-2]), a control character, or over the messaging core's length.
 * Undefined when it is one.
 */
export function topicNameFault(topic: string): string | undefined {
  try {
    checkTopicName(topic);
  } catch (err) {
    return (err as Error).message;
  }
  return hasControlCharacters(topic) ? `${JSON.stringify(topic)} holds a control character` : undefined;
}

/** Why `filter` is not a topic filter ([MQTT-4.7.1-2], [MQTT-4.7.1-3], as names otherwise); undefined when it is one. */
export function topicFilterFault(filter: string): string | undefined {
  try {
    checkTopicFilter(filter);
  } catch (err) {
    return (err as Error).message;
  }
  return hasControlCharacters(filter) ? `${JSON.stringify(filter)} holds a control character` : undefined;
}
