// mosquitto_pub and mosquitto_sub (libmosquitto, not mqtt.js or mqtt-packet) end to
// end, MQTT 3.1.1 and 5.0: QoS 2, retained messages (-r), v5 properties.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectClient, mosquitto, runMosquitto, waitFor, type MosquittoRun } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

const versions = [
  ["3.1.1", "mqttv311"],
  ["5.0", "mqttv5"],
] as const;

describe("mosquitto_pub and mosquitto_sub", () => {
  let node: TestMqttNode;
  let port: string;
  const running = new Set<MosquittoRun>();
  before(async () => {
    node = await startTestMqtt();
    port = String(node.port);
  });
  after(async () => {
    for (const r of running) r.kill();
    await node.close();
  });

  /** Starts mosquitto_sub and waits until the node holds its subscription (its stdout is buffered until it exits). */
  async function subscriber(args: string[]): Promise<MosquittoRun & { lines(): string[] }> {
    const before = node.messaging.router.subscriptions;
    const run = mosquitto("mosquitto_sub", ["-h", "127.0.0.1", "-p", port, ...args]);
    running.add(run);
    void run.exited.then(() => running.delete(run));
    await waitFor(() => node.messaging.router.subscriptions > before || run.stderr() !== "", "mosquitto_sub to subscribe", 5000);
    assert.equal(run.stderr(), "");
    return { ...run, lines: () => run.stdout().split("\n").filter((l) => l !== "") };
  }

  const pub = (v: string, args: string[]) => runMosquitto("mosquitto_pub", ["-h", "127.0.0.1", "-p", port, "-V", v, ...args]);

  for (const [name, v] of versions) {
    it(`${name}: mosquitto_pub to mosquitto_sub at QoS 0, 1 and 2`, async () => {
      const sub = await subscriber(["-V", v, "-q", "2", "-t", `mosq/${v}/#`, "-C", "3", "-F", "%t %q %p"]);
      for (const q of ["0", "1", "2"]) await pub(v, ["-q", q, "-t", `mosq/${v}/q${q}`, "-m", `at ${q}`]);
      assert.equal(await sub.exited, 0, sub.stderr());
      assert.deepEqual(sub.lines(), [`mosq/${v}/q0 0 at 0`, `mosq/${v}/q1 1 at 1`, `mosq/${v}/q2 2 at 2`]);
    });

    it(`${name}: mosquitto_pub -q 2 reaches mqtt.js at QoS 2, and mqtt.js reaches mosquitto_sub -q 2`, async () => {
      const js = await connectClient(node.url, { protocolVersion: v === "mqttv5" ? 5 : 4, clientId: `js-${v}` });
      await js.client.subscribeAsync(`mosqjs/${v}/in`, { qos: 2 });
      await pub(v, ["-q", "2", "-t", `mosqjs/${v}/in`, "-m", "from mosquitto"]);
      const [m] = await js.until(1);
      assert.deepEqual([m!.text, m!.packet.qos], ["from mosquitto", 2]);
      const sub = await subscriber(["-V", v, "-q", "2", "-t", `mosqjs/${v}/out`, "-C", "1", "-F", "%q %p"]);
      await js.client.publishAsync(`mosqjs/${v}/out`, "from mqtt.js", { qos: 2 });
      assert.equal(await sub.exited, 0);
      assert.deepEqual(sub.lines(), ["2 from mqtt.js"]);
      await js.end();
    });

    it(`${name}: -r keeps a retained message for a later mosquitto_sub (with the retain flag); -r -n clears it`, async () => {
      const topic = `mosqret/${v}`;
      await pub(v, ["-r", "-q", "1", "-t", topic, "-m", "kept"]);
      const later = await runMosquitto("mosquitto_sub", ["-h", "127.0.0.1", "-p", port, "-V", v, "-t", topic, "-C", "1", "-F", "%r %p", "-W", "3"]);
      assert.equal(later.trim(), "1 kept");
      await pub(v, ["-r", "-q", "1", "-t", topic, "-n"]);
      // --retained-only exits at the first message without the retain flag; -W ends a wait with nothing.
      const run = mosquitto("mosquitto_sub", ["-h", "127.0.0.1", "-p", port, "-V", v, "-t", topic, "-F", "%r %p", "-W", "1", "--retained-only"]);
      await run.exited;
      assert.equal(run.stdout(), "", "nothing retained any more");
    });
  }

  it("5.0: mosquitto_pub's user properties, content type and message expiry arrive at mqtt.js", async () => {
    const js = await connectClient(node.url, { protocolVersion: 5, clientId: "js-props" });
    await js.client.subscribeAsync("mosqprops/t", { qos: 1 });
    await pub("mqttv5", ["-q", "1", "-t", "mosqprops/t", "-m", "p", "-D", "publish", "user-property", "k", "v1", "-D", "publish", "user-property", "k", "v2", "-D", "publish", "content-type", "text/plain", "-D", "publish", "message-expiry-interval", "60"]);
    const [m] = await js.until(1);
    const props = m!.packet.properties!;
    assert.deepEqual({ ...props.userProperties }, { k: ["v1", "v2"] });
    assert.equal(props.contentType, "text/plain");
    assert.ok(props.messageExpiryInterval! <= 60 && props.messageExpiryInterval! >= 59);
    await js.end();
  });

  it("5.0: mosquitto_sub prints the user properties mqtt.js sends", async () => {
    const sub = await subscriber(["-V", "mqttv5", "-t", "mosqprops/out", "-C", "1", "-F", "%P %p"]);
    const js = await connectClient(node.url, { protocolVersion: 5, clientId: "js-props-out" });
    await js.client.publishAsync("mosqprops/out", "x", { qos: 1, properties: { userProperties: { a: "1", b: "2" } } });
    assert.equal(await sub.exited, 0);
    assert.deepEqual(sub.lines(), ["a:1 b:2 x"]);
    await js.end();
  });
});
