import assert from "node:assert/strict";
import { describe, it } from "node:test";
import mqtt from "mqtt-packet";
import { publishTopicIsUtf8, publishUserProperties, willUserProperties } from "./frame-properties.ts";
import { publishV5Bytes } from "./test-clients.ts";

describe("frame-properties", () => {
  it("reads a PUBLISH's user properties in their order, at every QoS", () => {
    const pairs: [string, string][] = [["b", "1"], ["10", "x"], ["b", "2"]];
    for (const qos of [0, 1, 2] as const) {
      assert.deepEqual(publishUserProperties(publishV5Bytes("t/é", Buffer.from("p"), qos, 7, pairs))?.map((u) => [u.name, u.value]), pairs);
    }
    const none = mqtt.generate({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 1, messageId: 1, retain: false, dup: false, properties: { contentType: "c", subscriptionIdentifier: 300, messageExpiryInterval: 9, topicAlias: 2 } }, { protocolVersion: 5 });
    assert.deepEqual(publishUserProperties(none), []);
  });

  it("a property running past the Property Length, or the length past the packet, is malformed", () => {
    const past = Buffer.from([0x30, 15, 0, 1, 0x74, 3, 0x26, 0, 5, ...Buffer.from("hello"), 0, 1, 0x78]);
    assert.equal(publishUserProperties(past), undefined);
    const long = Buffer.from([0x30, 5, 0, 1, 0x74, 100, 0x78]);
    assert.equal(publishUserProperties(long), undefined);
    const unknown = Buffer.from([0x30, 6, 0, 1, 0x74, 1, 0x7f, 0x78]);
    assert.equal(publishUserProperties(unknown), undefined);
  });

  it("a topic name that is not UTF-8", () => {
    assert.equal(publishTopicIsUtf8(Buffer.from([0x30, 5, 0, 2, 0xc3, 0x28, 0x78])), false);
    assert.equal(publishTopicIsUtf8(publishV5Bytes("ü/t", Buffer.alloc(0), 0, 0, [])), true);
  });

  it("reads a CONNECT's will user properties; none without a will", () => {
    const connect = (will: boolean) =>
      mqtt.generate(
        {
          cmd: "connect",
          protocolId: "MQTT",
          protocolVersion: 5,
          clean: true,
          keepalive: 10,
          clientId: "c",
          properties: { sessionExpiryInterval: 5, userProperties: { connect: "x" } },
          ...(will ? { will: { topic: "w", payload: Buffer.from("p"), qos: 1 as const, retain: false, properties: { willDelayInterval: 3, userProperties: { a: "1", b: ["2", "3"] } } } } : {}),
          username: "u",
        },
        { protocolVersion: 5 },
      );
    assert.deepEqual(willUserProperties(connect(true))?.map((u) => `${u.name}=${u.value}`), ["a=1", "b=2", "b=3"]);
    assert.equal(willUserProperties(connect(false)), undefined);
  });
});
