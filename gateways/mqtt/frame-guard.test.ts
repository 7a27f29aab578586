import assert from "node:assert/strict";
import { describe, it } from "node:test";
import mqtt from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { FrameGuard } from "./frame-guard.ts";
import { randomSplits, seededRandom } from "./test-clients.ts";

const packets: Packet[] = [
  { cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: true, keepalive: 30, clientId: "c", properties: { sessionExpiryInterval: 10 } },
  { cmd: "pingreq" },
  { cmd: "publish", topic: "a/b", payload: Buffer.alloc(300, 1), qos: 1, messageId: 9, retain: false, dup: false },
  { cmd: "subscribe", messageId: 2, subscriptions: [{ topic: "x/#", qos: 2 }] },
  { cmd: "publish", topic: "big", payload: Buffer.alloc(20_000, 2), qos: 0, retain: true, dup: false },
  { cmd: "disconnect", reasonCode: 0 },
];
const frames = packets.map((p) => mqtt.generate(p, { protocolVersion: 5 }));
const stream = Buffer.concat(frames);

function feed(chunks: Uint8Array[], max = 1 << 20): Buffer[] {
  const guard = new FrameGuard(max);
  const out: Buffer[] = [];
  for (const c of chunks) {
    const v = guard.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    assert.equal(v.verdict, "ok");
    out.push(...v.frames);
  }
  return out;
}

describe("FrameGuard (STYLE §10: whole, a byte at a time, random splits)", () => {
  it("whole", () => {
    assert.deepEqual(feed([stream]), frames);
  });

  it("one byte at a time", () => {
    assert.deepEqual(feed([...stream].map((b) => Uint8Array.of(b))), frames);
  });

  it("random splits", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      assert.deepEqual(feed(randomSplits(stream, random, 1 + Math.floor(random() * 400))), frames, `seed ${seed}`);
    }
  });

  it("a frame inside one chunk is a view of it, not a copy", () => {
    const v = new FrameGuard(1 << 20).push(stream);
    assert.equal(v.frames[1]!.buffer, stream.buffer);
    assert.equal(v.frames[1]!.byteOffset, stream.byteOffset + frames[0]!.length);
  });

  it("refuses a packet over the maximum at its fixed header, before its body, with the whole packets before it", () => {
    const guard = new FrameGuard(1000);
    const v = guard.push(Buffer.concat([frames[1]!, frames[4]!.subarray(0, 4)]));
    assert.equal(v.verdict, "too-large");
    assert.equal(v.verdict === "too-large" && v.bytes, frames[4]!.length);
    assert.deepEqual(v.frames, [frames[1]]);
    assert.equal(guard.push(Buffer.from([0xc0, 0])).verdict, "malformed", "nothing read after a failure");
  });

  it("counts the fixed header in the size ([MQTT-3.1.2-24]: the whole packet)", () => {
    const ping = Buffer.from([0xc0, 0]);
    assert.equal(new FrameGuard(2).push(ping).verdict, "ok");
    const publish = frames[2]!;
    assert.equal(new FrameGuard(publish.length).push(publish).verdict, "ok");
    assert.equal(new FrameGuard(publish.length - 1).push(publish).verdict, "too-large");
  });

  it("a remaining length of more than four bytes is malformed ([MQTT-1.5.5-1])", () => {
    const v = new FrameGuard(1 << 30).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    assert.equal(v.verdict, "malformed");
  });
});
