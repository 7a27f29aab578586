import type { IPublishPacket } from "mqtt-packet";
import { variableHeaderAt } from "./frame-guard.ts";

/**
 * Reads the commonest PUBLISH on the hot path without mqtt-packet: one with no
 * properties (every 3.1.1 PUBLISH, and an MQTT 5 one whose Property Length is 0). Its
 * form is fixed (3.3: flags, topic name, packet identifier for QoS 1 and 2, payload),
 * and reading it here saves mqtt-packet's buffer list, state machine and object per
 * message. Anything else, or anything out of shape, is left to mqtt-packet (undefined),
 * whose errors then say what is wrong. `frame` is one whole packet (FrameGuard).
 *
 * The packet is what mqtt-packet would give (same fields), its payload a view of the frame.
 */
export function readPlainPublish(frame: Buffer, version: number): IPublishPacket | undefined {
  const b0 = frame[0]!;
  const qos = (b0 >> 1) & 3;
  if (qos === 3) return undefined;
  let at = variableHeaderAt(frame);
  if (at + 2 > frame.length) return undefined;
  const topicLength = (frame[at]! << 8) | frame[at + 1]!;
  const topicStart = at + 2;
  at = topicStart + topicLength;
  let messageId: number | undefined;
  if (qos > 0) {
    if (at + 2 > frame.length) return undefined;
    messageId = (frame[at]! << 8) | frame[at + 1]!;
    at += 2;
  }
  if (version === 5) {
    // Property Length 0 (one byte); with properties mqtt-packet reads them.
    if (at >= frame.length || frame[at] !== 0) return undefined;
    at++;
  }
  if (at > frame.length) return undefined;
  const topic = frame.toString("utf8", topicStart, topicStart + topicLength);
  return {
    cmd: "publish",
    retain: (b0 & 1) !== 0,
    qos: qos as 0 | 1 | 2,
    dup: (b0 & 8) !== 0,
    length: frame.length,
    topic,
    payload: frame.subarray(at),
    messageId,
    properties: undefined,
  } as IPublishPacket;
}
