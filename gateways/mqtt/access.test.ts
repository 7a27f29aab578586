// The access list through real connections: what a client may publish and subscribe
// to, what a granted subscription still may not deliver, and rules for anonymous clients.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createAcl, type MqttAclRule } from "./auth/index.ts";
import { connectClient, sleep } from "./test-clients.ts";
import { startTestMqtt, type TestMqttNode } from "./test-mqtt.ts";

const rule = (r: Partial<MqttAclRule> & Pick<MqttAclRule, "action" | "topic">): MqttAclRule => ({ tenant: "*", user: "*", access: "all", ...r });

describe("access list on a connection", () => {
  let node: TestMqttNode;
  let n = 0;
  before(async () => {
    node = await startTestMqtt({
      // Clients with a username log in as that user; those without are anonymous.
      authenticate: async (l) => ({ ok: true, tenant: "default", user: l.username ?? `anon-${l.clientId}`, anonymous: l.username === undefined }),
      access: createAcl({
        default: "allow",
        rules: [
          rule({ action: "deny", access: "subscribe", topic: "sensors/secret/#" }),
          rule({ action: "deny", access: "publish", anonymous: true, topic: "sensors/#" }),
        ],
      }),
    });
  });
  after(() => node.close());

  for (const version of [4, 5] as const) {
    for (const persistent of [false, true]) {
      it(`v${version}${persistent ? ", persistent session" : ""}: a deny narrower than a granted wildcard subscription holds at delivery`, async () => {
        const id = `acl-sub-${version}-${persistent}`;
        const sub = await connectClient(node.url, { protocolVersion: version, clientId: id, username: "reader", clean: !persistent, ...(version === 5 && persistent ? { properties: { sessionExpiryInterval: 60 } } : {}) });
        const granted = await sub.client.subscribeAsync("sensors/#", { qos: 1 });
        assert.equal(granted[0]!.qos, 1, "the wildcard subscription is granted");
        await assert.rejects(sub.client.subscribeAsync("sensors/secret/#", { qos: 1 }), /Subscribe error/, "the denied filter itself is refused (SUBACK 0x80, or 0x87 in v5)");
        const pub = await connectClient(node.url, { protocolVersion: 4, clientId: `acl-pub-${++n}`, username: "writer" });
        for (const [topic, text] of [["sensors/a", "one"], ["sensors/secret/key", "hidden"], ["sensors/b", "two"]] as const) {
          await pub.client.publishAsync(topic, text, { qos: 1 });
        }
        await sub.until(2);
        await sleep(150);
        assert.deepEqual(sub.texts(), ["one", "two"]);
        await Promise.all([sub.end(), pub.end()]);
      });
    }
  }

  it("a persistent session's queue moves past a message it may not receive", async () => {
    const opts = { protocolVersion: 5 as const, clientId: "acl-queue", username: "reader", clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await connectClient(node.url, opts);
    await first.client.subscribeAsync("sensors/#", { qos: 1 });
    await first.end();
    const pub = await connectClient(node.url, { protocolVersion: 4, clientId: "acl-queue-pub", username: "writer" });
    await pub.client.publishAsync("sensors/secret/x", "hidden", { qos: 1 });
    await pub.client.publishAsync("sensors/c", "queued", { qos: 1 });
    const again = await connectClient(node.url, opts);
    await again.until(1);
    assert.deepEqual(again.texts(), ["queued"]);
    await again.end();
    const third = await connectClient(node.url, opts);
    await sleep(200);
    assert.deepEqual(third.texts(), [], "nothing left in the queue: the hidden message was acknowledged past, not redelivered");
    await Promise.all([third.end(), pub.end()]);
  });

  it("a rule for anonymous clients applies to them and not to clients who logged in", async () => {
    const anon = await connectClient(node.url, { protocolVersion: 5, clientId: "acl-anon" });
    const named = await connectClient(node.url, { protocolVersion: 5, clientId: "acl-named", username: "writer" });
    const sub = await connectClient(node.url, { protocolVersion: 5, clientId: "acl-watch", username: "reader" });
    await sub.client.subscribeAsync("sensors/+", { qos: 1 });
    await assert.rejects(anon.client.publishAsync("sensors/anon", "no", { qos: 1 }), (err: { code?: number }) => err.code === 0x87, "PUBACK Not authorized");
    await named.client.publishAsync("sensors/named", "yes", { qos: 1 });
    await sub.until(1);
    await sleep(100);
    assert.deepEqual(sub.texts(), ["yes"]);
    await Promise.all([anon.end(), named.end(), sub.end()]);
  });
});
