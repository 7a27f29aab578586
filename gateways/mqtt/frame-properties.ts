import { isUtf8 } from "node:buffer";
import { variableHeaderAt } from "./frame-guard.ts";

/**
 * What mqtt-packet's parser loses of a packet, read again from its bytes (a whole frame
 * from `FrameGuard`, already parsed by mqtt-packet): whether a PUBLISH's topic name is
 * UTF-8 (mqtt-packet decodes it with replacement characters), and User Properties in
 * their order (mqtt-packet keeps them in an object, which groups repeated names and
 * puts integer-like names first), with a check that they fit their Property Length.
 */

/** [MQTT-1.5.4-1]: the topic name is well-formed UTF-8. */
export function publishTopicIsUtf8(frame: Uint8Array): boolean {
  const at = variableHeaderAt(frame);
  const length = (frame[at]! << 8) | frame[at + 1]!;
  return isUtf8(frame.subarray(at + 2, at + 2 + length));
}

/** Bytes each property takes after its identifier, by identifier (MQTT 5.0, 2.2.2.2); "s" a string or binary, "v" a variable byte integer, "p" a string pair. */
const propertySizes: Record<number, number | "s" | "v" | "p"> = {
  1: 1, 2: 4, 3: "s", 8: "s", 9: "s", 11: "v", 17: 4, 18: "s", 19: 2, 21: "s", 22: "s", 23: 1, 24: 4, 25: 1, 26: "s",
  28: "s", 31: "s", 33: 2, 34: 2, 35: 2, 36: 1, 37: 1, 38: "p", 39: 4, 40: 1, 41: 1, 42: 1,
};

type UserProperty = { name: string; value: string };

/**
 * Reads the property section at `at` (its Variable Byte Integer length, then the
 * properties): the User Properties in order, and where the section ends. Undefined when
 * it is malformed: a property runs past the Property Length, or the length past the
 * packet (mqtt-packet reads on into what follows).
 */
function readProperties(frame: Buffer, at: number): { userProperties: UserProperty[]; end: number } | undefined {
  let length = 0;
  for (let multiplier = 1, i = 0; ; multiplier *= 128, i++) {
    if (at >= frame.length || i === 4) return undefined;
    const b = frame[at++]!;
    length += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) break;
  }
  const end = at + length;
  if (end > frame.length) return undefined;
  const userProperties: UserProperty[] = [];
  const string = (): string | undefined => {
    if (at + 2 > end) return undefined;
    const n = frame.readUInt16BE(at);
    if (at + 2 + n > end) return undefined;
    const s = frame.toString("utf8", at + 2, at + 2 + n);
    at += 2 + n;
    return s;
  };
  while (at < end) {
    const size = propertySizes[frame[at++]!];
    if (size === undefined) return undefined;
    if (size === "p") {
      const name = string();
      const value = string();
      if (name === undefined || value === undefined) return undefined;
      userProperties.push({ name, value });
    } else if (size === "s") {
      if (string() === undefined) return undefined;
    } else if (size === "v") {
      let i = 0;
      while (at < end && (frame[at++]! & 0x80) !== 0) if (++i === 4) return undefined;
    } else at += size;
    if (at > end) return undefined;
  }
  return { userProperties, end };
}

/**
 * The User Properties of a v5 PUBLISH frame, in order, repeats kept ([MQTT-3.3.2-17],
 * [MQTT-3.3.2-18]). Undefined when its property section is malformed.
 */
export function publishUserProperties(frame: Buffer): UserProperty[] | undefined {
  let at = variableHeaderAt(frame);
  const qos = (frame[0]! >> 1) & 3;
  at += 2 + frame.readUInt16BE(at) + (qos > 0 ? 2 : 0);
  return readProperties(frame, at)?.userProperties;
}

/**
 * The User Properties of the will in a v5 CONNECT frame, in order: the will becomes an
 * Application Message, whose User Properties keep their order when forwarded
 * ([MQTT-3.3.2-18]). Undefined when the frame has no will or is malformed.
 */
export function willUserProperties(frame: Buffer): UserProperty[] | undefined {
  let at = protocolLevelAt(frame);
  if (at === undefined) return undefined;
  const flags = frame[at + 1];
  if (flags === undefined || (flags & 0x04) === 0) return undefined;
  at += 4; // level, flags, keep alive
  const connect = readProperties(frame, at);
  if (connect === undefined || connect.end + 2 > frame.length) return undefined;
  at = connect.end;
  at += 2 + frame.readUInt16BE(at); // the client identifier
  return readProperties(frame, at)?.userProperties;
}

/** The Protocol Level of a CONNECT frame (3.1.2.2); 0 when the frame is too short to hold one. */
export function connectLevel(frame: Buffer): number {
  const at = protocolLevelAt(frame);
  return at === undefined ? 0 : (frame[at] ?? 0);
}

/** Where a CONNECT frame's Protocol Level is: after its fixed header and protocol name. */
function protocolLevelAt(frame: Buffer): number | undefined {
  const at = variableHeaderAt(frame);
  if (at + 2 > frame.length) return undefined;
  return at + 2 + frame.readUInt16BE(at);
}
