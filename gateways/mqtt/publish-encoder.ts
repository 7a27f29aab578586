import type { Message } from "../../protos/index.ts";
import { variableHeaderAt } from "./frame-guard.ts";

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

/** The last encodings of a message, on the message itself: most are sent one way only. */
const encoded = Symbol("mqtt encodings");
type Cached = { key: number; bytes: Buffer; next: Cached | undefined };
type WithCache = Message & { [encoded]?: Cached };

/**
 * The bytes of a PUBLISH of `message` to one client. Deliveries that differ only in
 * their packet identifier share one encoding: the first is sent as encoded and kept;
 * fan-out to more subscribers of one protocol version copies it, patching the two
 * identifier bytes. (Bytes given to a socket are never written to again.)
 */
export function encodePublish(topic: string, message: Message, o: PublishOptions): Buffer {
  const shareable = o.subscriptionIds.length === 0 && o.topicAlias === 0 && o.expirySeconds === 0;
  if (!shareable) return encode(topic, message, o);
  const key = o.version * 16 + o.qos * 4 + (o.retain ? 2 : 0) + (o.dup ? 1 : 0);
  const m = message as WithCache;
  let c = m[encoded];
  while (c !== undefined && c.key !== key) c = c.next;
  if (c === undefined) {
    const bytes = encode(topic, message, o);
    m[encoded] = { key, bytes, next: m[encoded] };
    return bytes;
  }
  if (o.qos === 0) return c.bytes;
  const copy = Buffer.allocUnsafe(c.bytes.length);
  c.bytes.copy(copy);
  // After the fixed header, the topic (2-byte length + bytes), then the packet identifier.
  const at = variableHeaderAt(copy);
  copy.writeUInt16BE(o.packetId, at + 2 + copy.readUInt16BE(at));
  return copy;
}

/**
 * Writes the PUBLISH itself (3.3) into one buffer: mqtt-packet's generator takes User
 * Properties as an object, which cannot keep their order ([MQTT-3.3.2-18]). Throws a
 * RangeError for a string property over 65,535 bytes (a message from another API may
 * carry one): such a message cannot be sent over MQTT.
 */
function encode(topic: string, m: Message, o: PublishOptions): Buffer {
  const topicBytes = o.aliasKnown ? 0 : Buffer.byteLength(topic, "utf8");
  if (topicBytes > 0xffff) throw new RangeError(`a topic of ${topicBytes} bytes is over MQTT's 65,535`);
  const props = o.version === 5 ? properties(m, o) : undefined;
  const propsBytes = props === undefined ? 0 : props.reduce((n, b) => n + b.length, 0);
  const body = m.body;
  const remaining = 2 + topicBytes + (o.qos > 0 ? 2 : 0) + (o.version === 5 ? varIntBytes(propsBytes) + propsBytes : 0) + body.length;
  const out = Buffer.allocUnsafe(1 + varIntBytes(remaining) + remaining);
  out[0] = 0x30 | (o.dup ? 0x08 : 0) | (o.qos << 1) | (o.retain ? 1 : 0);
  let at = writeVarInt(out, 1, remaining);
  out[at++] = topicBytes >> 8;
  out[at++] = topicBytes & 0xff;
  if (topicBytes > 0) at += out.write(topic, at, topicBytes, "utf8");
  if (o.qos > 0) {
    out[at++] = o.packetId >> 8;
    out[at++] = o.packetId & 0xff;
  }
  if (o.version === 5) {
    at = writeVarInt(out, at, propsBytes);
    for (const b of props!) {
      out.set(b, at);
      at += b.length;
    }
  }
  out.set(body, at);
  return out;
}

/** The v5 properties of a PUBLISH (3.3.2.3), each with its identifier, in the order sent. */
function properties(m: Message, o: PublishOptions): Uint8Array[] {
  const props: Uint8Array[] = [];
  if (m.bodyUtf8) props.push(Uint8Array.of(0x01, 1));
  if (o.expirySeconds > 0) props.push(Uint8Array.of(0x02), u32(o.expirySeconds));
  if (m.contentType !== "") props.push(Uint8Array.of(0x03), lengthPrefixed(m.contentType));
  if (m.responseTopic !== "") props.push(Uint8Array.of(0x08), lengthPrefixed(m.responseTopic));
  if (m.correlationData.length > 0) props.push(Uint8Array.of(0x09), lengthPrefixed(m.correlationData));
  for (const id of o.subscriptionIds) props.push(Uint8Array.of(0x0b), varInt(id));
  if (o.topicAlias > 0) props.push(Uint8Array.of(0x23), u16(o.topicAlias));
  for (const { name, value } of m.properties) props.push(Uint8Array.of(0x26), lengthPrefixed(name), lengthPrefixed(value));
  return props;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

function u32(n: number): Uint8Array {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

/** A UTF-8 string or binary data with its two-byte length (1.5.4, 1.5.6). */
function lengthPrefixed(v: string | Uint8Array): Uint8Array {
  const bytes = typeof v === "string" ? Buffer.from(v, "utf8") : v;
  if (bytes.length > 0xffff) throw new RangeError(`a string or binary property of ${bytes.length} bytes is over MQTT's 65,535`);
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

/** The bytes of `n` as a Variable Byte Integer (1.5.5). */
function varIntBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Writes `n` as a Variable Byte Integer at `at`; returns where it ends. */
function writeVarInt(out: Uint8Array, at: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out[at++] = b;
  } while (n > 0);
  return at;
}

/** A Variable Byte Integer (1.5.5). */
function varInt(n: number): Uint8Array {
  const out = new Uint8Array(varIntBytes(n));
  writeVarInt(out, 0, n);
  return out;
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
