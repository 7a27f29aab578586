// MQTT over WebSocket (section 6): both versions, with mqtt.js and a raw WebSocket,
// talking to TCP clients; packets split across and packed into frames.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { WebSocket } from "ws";
import { connectClient, TestFramer, waitFor } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("MQTT over WebSocket", () => {
  let node: TestMqttNode;
  let wsUrl: string;
  before(async () => {
    node = await startTestMqtt({ listeners: [{ protocol: "mqtt-ws" }] });
    const ws = node.listeners.find((l) => l.protocol === "mqtt-ws")!;
    wsUrl = `ws://127.0.0.1:${ws.port}/mqtt`;
  });
  after(() => node.close());

  for (const version of [4, 5] as const) {
    it(`v${version}: mqtt.js over ws:// and a TCP client exchange messages both ways, QoS 0-2`, async () => {
      const web = await connectClient(wsUrl, { protocolVersion: version, clientId: `web-${version}` });
      const tcp = await connectClient(node.url, { protocolVersion: version, clientId: `tcp-${version}` });
      await web.client.subscribeAsync(`ws${version}/to-web`, { qos: 2 });
      await tcp.client.subscribeAsync(`ws${version}/to-tcp`, { qos: 2 });
      for (const qos of [0, 1, 2] as const) {
        await tcp.client.publishAsync(`ws${version}/to-web`, `tcp ${qos}`, { qos });
        await web.client.publishAsync(`ws${version}/to-tcp`, `web ${qos}`, { qos, ...(version === 5 ? { properties: { userProperties: { via: "ws" } } } : {}) });
      }
      await web.until(3);
      await tcp.until(3);
      assert.deepEqual(web.received.map((r) => [r.text, r.packet.qos]), [["tcp 0", 0], ["tcp 1", 1], ["tcp 2", 2]]);
      assert.deepEqual(tcp.received.map((r) => [r.text, r.packet.qos]), [["web 0", 0], ["web 1", 1], ["web 2", 2]]);
      if (version === 5) assert.equal(tcp.received[0]!.packet.properties?.userProperties?.via, "ws");
      await Promise.all([web.end(), tcp.end()]);
    });
  }

  it("the server selects the subprotocol mqtt ([MQTT-6.0.0-4]); packets may be split across frames or share one ([MQTT-6.0.0-2])", async () => {
    const ws = new WebSocket(wsUrl, ["mqtt"]);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    assert.equal(ws.protocol, "mqtt");
    const framer = new TestFramer();
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const got: Packet[] = [];
    parser.on("packet", (p: Packet) => void got.push(p));
    ws.on("message", (data: Buffer) => {
      for (const f of framer.push(data)) parser.parse(f);
    });
    const bytes = (p: Packet) => mqttPacket.generate(p, { protocolVersion: 5 });
    const connect = bytes({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: true, keepalive: 0, clientId: "raw-ws" });
    // CONNECT in two frames, then SUBSCRIBE and PUBLISH in one.
    ws.send(connect.subarray(0, 5), { binary: true });
    ws.send(connect.subarray(5), { binary: true });
    ws.send(Buffer.concat([bytes({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "rawws/t", qos: 1 }] }), bytes({ cmd: "publish", topic: "rawws/t", payload: Buffer.from("hi"), qos: 1, messageId: 2, retain: false, dup: false })]), { binary: true });
    await waitFor(() => got.length >= 4, "CONNACK, SUBACK, PUBACK and the message");
    assert.deepEqual(got.map((p) => p.cmd).sort(), ["connack", "puback", "publish", "suback"]);
    assert.equal(got[0]!.cmd, "connack");
    ws.close();
  });

  it("a text frame closes the connection ([MQTT-6.0.0-1])", async () => {
    const ws = new WebSocket(wsUrl, ["mqtt"]);
    await new Promise<void>((resolve) => ws.once("open", () => resolve()));
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send("CONNECT please");
    assert.equal(await closed, 1003);
  });

  it("a WebSocket offering only another subprotocol gets none, and its client fails the connection", async () => {
    const ws = new WebSocket(wsUrl, ["chat"]);
    const err = await new Promise<Error>((resolve) => ws.once("error", resolve));
    assert.match(err.message, /subprotocol/i);
  });

  it("a plain HTTP request gets 426 Upgrade Required", async () => {
    const res = await fetch(wsUrl.replace("ws://", "http://"));
    assert.equal(res.status, 426);
    await res.text();
  });
});
