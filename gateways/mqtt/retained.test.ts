// Retained messages: kept, replaced, cleared, offered at subscribe with RETAIN set, at
// the lower QoS; v5 Retain Handling and Retain As Published; `$` topics.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectClient, sleep } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

describe("retained messages", () => {
  let node: TestMqttNode;
  let n = 0;
  const client = (version: 4 | 5, extra: object = {}) => connectClient(node.url, { protocolVersion: version, clientId: `ret-${++n}`, ...extra });
  before(async () => {
    node = await startTestMqtt();
  });
  after(() => node.close());

  for (const version of [4, 5] as const) {
    it(`v${version}: a subscribe after an acknowledged retained publish gets it, with RETAIN set ([MQTT-3.3.1-6], [MQTT-3.3.1-8])`, async () => {
      const pub = await client(version);
      await pub.client.publishAsync(`ret${version}/a`, "kept", { qos: 1, retain: true });
      const sub = await client(version);
      await sub.client.subscribeAsync(`ret${version}/a`, { qos: 1 });
      const [m] = await sub.until(1);
      assert.equal(m!.text, "kept");
      assert.equal(m!.packet.retain, true);
      // A live message to an established subscription has RETAIN 0 ([MQTT-3.3.1-9] 3.1.1, [MQTT-3.3.1-12] 5.0).
      await pub.client.publishAsync(`ret${version}/a`, "live", { qos: 1, retain: true });
      const [, live] = await sub.until(2);
      assert.equal(live!.text, "live");
      assert.equal(live!.packet.retain, false);
      // The newer one replaced it ([MQTT-3.3.1-5]).
      const late = await client(version);
      await late.client.subscribeAsync(`ret${version}/+`, { qos: 1 });
      await late.until(1);
      await sleep(50);
      assert.deepEqual(late.texts(), ["live"]);
      await Promise.all([pub.end(), sub.end(), late.end()]);
    });
  }

  for (const version of [4, 5] as const) {
    it(`v${version}: an empty retained payload clears the topic's retained message and is delivered to subscribers as usual ([MQTT-3.3.1-10], [MQTT-3.3.1-11])`, async () => {
      const pub = await client(version);
      await pub.client.publishAsync(`clear${version}/t`, "x", { qos: 1, retain: true });
      const watcher = await client(version);
      await watcher.client.subscribeAsync(`clear${version}/t`, { qos: 1 });
      await watcher.until(1);
      await pub.client.publishAsync(`clear${version}/t`, "", { qos: 1, retain: true });
      const [, cleared] = await watcher.until(2);
      assert.equal(cleared!.text, "");
      const later = await client(version);
      await later.client.subscribeAsync(`clear${version}/#`, { qos: 1 });
      await sleep(150);
      assert.deepEqual(later.texts(), [], "nothing retained any more");
      await Promise.all([pub.end(), watcher.end(), later.end()]);
    });
  }

  it("retained messages arrive at the lower of the message's and the subscription's QoS", async () => {
    const pub = await client(4);
    await pub.client.publishAsync("minqos/two", "2", { qos: 2, retain: true });
    await pub.client.publishAsync("minqos/zero", "0", { qos: 0, retain: true });
    await waitRetained(node, "minqos/zero");
    for (const subQos of [0, 1, 2] as const) {
      const sub = await client(5);
      await sub.client.subscribeAsync("minqos/#", { qos: subQos });
      await sub.until(2);
      const byText = new Map(sub.received.map((r) => [r.text, r.packet.qos]));
      assert.equal(byText.get("2"), Math.min(2, subQos), `QoS 2 retained, subscription ${subQos}`);
      assert.equal(byText.get("0"), 0, `QoS 0 retained, subscription ${subQos}`);
      assert.ok(sub.received.every((r) => r.packet.retain));
      await sub.end();
    }
    await pub.end();
  });

  it("v5 Retain Handling: 0 sends at every subscribe, 1 only for a new subscription, 2 never ([MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11])", async () => {
    const pub = await client(5);
    await pub.client.publishAsync("rh/t", "r", { qos: 1, retain: true });
    const counts: number[] = [];
    for (const rh of [0, 1, 2] as const) {
      const sub = await client(5);
      await sub.client.subscribeAsync("rh/t", { qos: 1, rh });
      await sub.client.subscribeAsync("rh/t", { qos: 1, rh }); // the same subscription again
      await sleep(150);
      counts.push(sub.received.length);
      await sub.end();
    }
    assert.deepEqual(counts, [2, 1, 0]);
    await pub.end();
  });

  it("v5 Retain As Published keeps RETAIN on live messages; without it RETAIN is 0 ([MQTT-3.3.1-12], [MQTT-3.3.1-13])", async () => {
    const rap = await client(5);
    await rap.client.subscribeAsync("rap/t", { qos: 1, rap: true, rh: 2 });
    const plain = await client(5);
    await plain.client.subscribeAsync("rap/t", { qos: 1, rh: 2 });
    const pub = await client(5);
    await pub.client.publishAsync("rap/t", "retained", { qos: 1, retain: true });
    await pub.client.publishAsync("rap/t", "not retained", { qos: 1, retain: false });
    await rap.until(2);
    await plain.until(2);
    assert.deepEqual(rap.received.map((r) => [r.text, r.packet.retain]), [["retained", true], ["not retained", false]]);
    assert.deepEqual(plain.received.map((r) => [r.text, r.packet.retain]), [["retained", false], ["not retained", false]]);
    await Promise.all([rap.end(), plain.end(), pub.end()]);
  });

  it("3.1.1: a retained QoS 0 message replaces the one before ([MQTT-3.3.1-7])", async () => {
    const pub = await client(4);
    await pub.client.publishAsync("q0ret/t", "old", { qos: 1, retain: true });
    await pub.client.publishAsync("q0ret/t", "new", { qos: 0, retain: true });
    await waitRetained(node, "q0ret/t", "new");
    const sub = await client(4);
    await sub.client.subscribeAsync("q0ret/t", { qos: 1 });
    await sub.until(1);
    await sleep(50);
    assert.deepEqual(sub.texts(), ["new"]);
    await Promise.all([pub.end(), sub.end()]);
  });

  it("retained messages on `$` topics are offered to `$` filters, never to a filter starting with a wildcard ([MQTT-4.7.2-1])", async () => {
    const pub = await client(5);
    await pub.client.publishAsync("$app/status", "up", { qos: 1, retain: true });
    await pub.client.publishAsync("app/status", "plain", { qos: 1, retain: true });
    const all = await client(5);
    await all.client.subscribeAsync("#", { qos: 1 });
    const plus = await client(5);
    await plus.client.subscribeAsync("+/status", { qos: 1 });
    const dollar = await client(5);
    await dollar.client.subscribeAsync("$app/#", { qos: 1 });
    await dollar.until(1);
    await sleep(150);
    assert.deepEqual(dollar.texts(), ["up"]);
    assert.ok(!all.texts().includes("up"), "# does not match $app/status");
    assert.deepEqual(plus.texts(), ["plain"], "+/status does not match $app/status");
    await Promise.all([pub.end(), all.end(), plus.end(), dollar.end()]);
  });
});

/** Waits until the topic's retained message is `text` (a QoS 0 publish is not acknowledged). */
async function waitRetained(node: TestMqttNode, topic: string, text?: string): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const [m] = await node.messaging.retained("default", topic);
    if (m !== undefined && (text === undefined || Buffer.from(m.body).toString() === text)) return;
    if (Date.now() > deadline) assert.fail(`no retained message on ${topic}`);
    await sleep(5);
  }
}

