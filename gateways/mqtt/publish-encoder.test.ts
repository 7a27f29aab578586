import assert from "node:assert/strict";
import { describe, it } from "node:test";
import mqtt from "mqtt-packet";
import type { IPublishPacket } from "mqtt-packet";
import { Message } from "../../protos/index.ts";
import { encodePublish, type PublishOptions } from "./publish-encoder.ts";
import { userPropertiesOnWire } from "./test-clients.ts";

/** Decodes with mqtt-packet, the reference the clients use. */
function decode(bytes: Buffer, version: 3 | 4 | 5): IPublishPacket {
  const parser = mqtt.parser({ protocolVersion: version });
  const packets: IPublishPacket[] = [];
  parser.on("packet", (p) => void packets.push(p as IPublishPacket));
  parser.on("error", (err) => assert.fail(err));
  assert.equal(parser.parse(bytes), 0, "every byte consumed");
  assert.equal(packets.length, 1);
  return packets[0]!;
}

const base: PublishOptions = { version: 5, qos: 0, retain: false, dup: false, packetId: 0, subscriptionIds: [], topicAlias: 0, aliasKnown: false, expirySeconds: 0 };

describe("encodePublish", () => {
  const full = Message.fromPartial({
    toTopic: "a/b",
    body: Buffer.from("héllo"),
    contentType: "text/plain",
    responseTopic: "r/1",
    correlationData: Buffer.from([0, 1, 2]),
    bodyUtf8: true,
    properties: [{ name: "z", value: "1" }, { name: "a", value: "2" }, { name: "z", value: "3" }, { name: "10", value: "x" }],
  });

  for (const version of [3, 4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      it(`v${version} QoS ${qos}: what mqtt-packet reads back is what was meant`, () => {
        const o = { ...base, version, qos, retain: qos === 1, dup: qos === 2, packetId: qos > 0 ? 513 : 0 };
        const p = decode(encodePublish("a/b", full, o), version);
        assert.deepEqual([p.topic, p.payload.toString(), p.qos, p.retain, p.dup, p.messageId], ["a/b", "héllo", qos, qos === 1, qos === 2, qos > 0 ? 513 : undefined]);
        if (version !== 5) return assert.equal(p.properties, undefined);
        const props = p.properties!;
        assert.equal(props.contentType, "text/plain");
        assert.equal(props.responseTopic, "r/1");
        assert.deepEqual([...props.correlationData!], [0, 1, 2]);
        assert.equal(props.payloadFormatIndicator, true);
      });
    }
  }

  it("v5: user properties keep their order on the wire ([MQTT-3.3.2-18])", () => {
    const bytes = encodePublish("a/b", full, { ...base, qos: 1, packetId: 7 });
    assert.deepEqual(userPropertiesOnWire(bytes), [["z", "1"], ["a", "2"], ["z", "3"], ["10", "x"]]);
  });

  it("v5: subscription identifiers, topic alias, message expiry", () => {
    const m = Message.fromPartial({ toTopic: "t", body: Buffer.from("x") });
    const first = decode(encodePublish("t", m, { ...base, subscriptionIds: [1, 200, 268_435_455], topicAlias: 3, expirySeconds: 99 }), 5);
    assert.equal(first.topic, "t");
    assert.deepEqual(first.properties?.subscriptionIdentifier, [1, 200, 268_435_455]);
    assert.equal(first.properties?.topicAlias, 3);
    assert.equal(first.properties?.messageExpiryInterval, 99);
    const later = decode(encodePublish("t", m, { ...base, topicAlias: 3, aliasKnown: true }), 5);
    assert.equal(later.topic, "", "the alias alone");
    assert.equal(later.properties?.topicAlias, 3);
  });

  it("a large payload takes a multi-byte remaining length", () => {
    const m = Message.fromPartial({ toTopic: "t", body: Buffer.alloc(20_000, 7) });
    const p = decode(encodePublish("t", m, { ...base, version: 4, qos: 1, packetId: 1 }), 4);
    assert.equal(p.payload.length, 20_000);
  });

  it("deliveries that differ in packet id share an encoding, each with its own id", () => {
    const m = Message.fromPartial({ toTopic: "shared/t", body: Buffer.from("x"), properties: [{ name: "k", value: "v" }] });
    const a = encodePublish("shared/t", m, { ...base, qos: 1, packetId: 1 });
    const b = encodePublish("shared/t", m, { ...base, qos: 1, packetId: 65_535 });
    assert.equal(decode(a, 5).messageId, 1);
    assert.equal(decode(b, 5).messageId, 65_535);
    assert.deepEqual(a.subarray(0, 10), b.subarray(0, 10));
  });

  it("a string property over 65,535 bytes cannot be encoded: RangeError", () => {
    const m = Message.fromPartial({ toTopic: "t", body: Buffer.from("x"), contentType: "c".repeat(70_000) });
    assert.throws(() => encodePublish("t", m, base), RangeError);
  });
});
