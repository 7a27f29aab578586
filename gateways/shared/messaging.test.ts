import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PresenceStatus, type Message, type MemberEvent, type Presence } from "../../protos/index.ts";
import { isSwitchboardError, openEmbeddedStores } from "../../runtime/index.ts";
import type { ClientConnection, Delivery } from "./client-connection.ts";
import type { Messaging } from "./messaging.ts";
import { startEmbeddedMessaging } from "./test-messaging.ts";

/** What one connection received, and a way to wait for it. */
class Device {
  readonly got: { message: Message; delivery: Delivery }[] = [];
  readonly presence: Presence[] = [];
  readonly members: MemberEvent[] = [];
  takenOver = false;
  connection!: ClientConnection;
  readonly autoAck: boolean;
  constructor(autoAck = true) {
    this.autoAck = autoAck;
  }

  readonly listener = {
    message: (message: Message, delivery: Delivery) => {
      this.got.push({ message, delivery });
      if (this.autoAck && delivery.kind === "inbox") this.connection.ack(message.seq);
    },
    presence: (p: Presence) => void this.presence.push(p),
    member: (e: MemberEvent) => void this.members.push(e),
    takenOver: () => void (this.takenOver = true),
  };

  texts(kind?: "inbox" | "topic"): string[] {
    return this.got.filter((g) => kind === undefined || g.delivery.kind === kind).map((g) => Buffer.from(g.message.body).toString());
  }

  async until(n: number, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.got.length < n) {
      if (Date.now() > deadline) assert.fail(`got ${this.got.length} of ${n} messages: ${JSON.stringify(this.texts())}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

async function connect(m: Messaging, tenant: string, user: string, resource: string, options: { persistent?: boolean; autoAck?: boolean } = {}): Promise<Device> {
  const d = new Device(options.autoAck ?? true);
  d.connection = await m.attach({ tenant, user, resource, persistent: options.persistent, listener: d.listener });
  return d;
}

const text = (s: string) => ({ body: Buffer.from(s) });
const quiet = () => new Promise((r) => setTimeout(r, 60));

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err) => isSwitchboardError(err) && err.code === code);
}

describe("user sessions", () => {
  it("delivers a user's messages to every device in seq order, and an offline user's on reconnect, once", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    const phone = await connect(m, "acme", "bob", "phone");
    const laptop = await connect(m, "acme", "bob", "laptop");
    for (let i = 1; i <= 5; i++) await m.send("acme", { user: "alice" }, { user: "bob" }, text(`m${i}`));
    await phone.until(5);
    await laptop.until(5);
    assert.deepEqual(phone.texts(), ["m1", "m2", "m3", "m4", "m5"]);
    assert.deepEqual(laptop.got.map((g) => g.message.seq), [1, 2, 3, 4, 5]);
    assert.equal(phone.got[0]!.message.fromUser, "alice");

    await phone.connection.close();
    await laptop.connection.close();
    await m.send("acme", { user: "alice" }, { user: "bob" }, text("while away"));
    const back = await connect(m, "acme", "bob", "phone");
    await back.until(1);
    await quiet();
    assert.deepEqual(back.texts(), ["while away"], "only what the device had not acknowledged, once");
    await node.close();
  });

  it("keeps messages until acknowledged, and resumes a persistent device after its last acknowledgement", async () => {
    const node = await startEmbeddedMessaging({ session: { ackFlushMs: 20 } });
    const m = node.messaging;
    const d = await connect(m, "acme", "bob", "car", { persistent: true, autoAck: false });
    for (let i = 1; i <= 4; i++) await m.send("acme", undefined, { user: "bob" }, text(`m${i}`));
    await d.until(4);
    d.connection.ack(2);
    await d.connection.close();
    const again = await connect(m, "acme", "bob", "car", { persistent: true });
    await again.until(2);
    await quiet();
    assert.deepEqual(again.texts(), ["m3", "m4"]);
    assert.equal(again.connection.resumed, true);
    await quiet();
    await quiet();
    const info = await m.session("acme", "bob").call("info");
    assert.equal(info.firstSeq, 5, "acknowledged messages were removed from the inbox once the acknowledgements were saved");
    await node.close();
  });

  it("accepts a client message id once per sender", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    const first = await m.send("acme", { user: "alice" }, { user: "bob" }, { body: Buffer.from("x"), clientMsgId: "c-1" });
    const again = await m.send("acme", { user: "alice" }, { user: "bob" }, { body: Buffer.from("x"), clientMsgId: "c-1" });
    const other = await m.send("acme", { user: "carol" }, { user: "bob" }, { body: Buffer.from("x"), clientMsgId: "c-1" });
    assert.deepEqual([first.duplicate, again.duplicate, other.duplicate], [false, true, false]);
    assert.equal(again.seq, first.seq);
    assert.equal(again.id, first.id);
    assert.equal(other.seq, first.seq + 1);
    await node.close();
  });

  it("bounds the inbox: drop-oldest counts what it drops, refuse-new refuses with limit_exceeded", async () => {
    const drop = await startEmbeddedMessaging({ session: { maxInbox: 3 } });
    for (let i = 1; i <= 5; i++) await drop.messaging.send("acme", undefined, { user: "bob" }, text(`m${i}`));
    const d = await connect(drop.messaging, "acme", "bob", "phone");
    await d.until(3);
    await quiet();
    assert.deepEqual(d.texts(), ["m3", "m4", "m5"]);
    assert.equal((await drop.messaging.session("acme", "bob").call("info")).dropped, 2);
    await drop.close();

    const refuse = await startEmbeddedMessaging({ session: { maxInbox: 2, inboxPolicy: "refuse-new" } });
    await refuse.messaging.send("acme", undefined, { user: "bob" }, text("a"));
    await refuse.messaging.send("acme", undefined, { user: "bob" }, text("b"));
    await rejectsCode(refuse.messaging.send("acme", undefined, { user: "bob" }, text("c")), "limit_exceeded");
    await refuse.close();
  });

  it("takes over a resource: the older connection is told, the newer one keeps the device", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    const old = await connect(m, "acme", "bob", "phone");
    const fresh = await connect(m, "acme", "bob", "phone");
    await quiet();
    assert.equal(old.takenOver, true);
    assert.equal(fresh.takenOver, false);
    assert.equal(fresh.connection.tookOver, true);
    await old.connection.close();
    const [p] = await m.presence("acme", ["bob"]);
    assert.equal(p!.status, PresenceStatus.PRESENCE_STATUS_ONLINE, "closing the taken-over connection leaves the device online");
    await node.close();
  });

  it("aggregates presence over connections, most available first, with last seen", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    const watcher = await connect(m, "acme", "alice", "web");
    watcher.connection.watchPresence("bob");
    const a = await connect(m, "acme", "bob", "a");
    const b = await connect(m, "acme", "bob", "b");
    await a.connection.setPresence("dnd");
    await b.connection.setPresence("away", "lunch");
    let [p] = await m.presence("acme", ["bob"]);
    assert.deepEqual([p!.status, p!.text, p!.connections], [PresenceStatus.PRESENCE_STATUS_AWAY, "lunch", 2]);
    await b.connection.close();
    [p] = await m.presence("acme", ["bob"]);
    assert.equal(p!.status, PresenceStatus.PRESENCE_STATUS_DND);
    await a.connection.close();
    [p] = await m.presence("acme", ["bob"]);
    assert.equal(p!.status, PresenceStatus.PRESENCE_STATUS_OFFLINE);
    assert.ok(p!.lastSeenMs > Date.now() - 5000);
    await quiet();
    assert.deepEqual(
      watcher.presence.map((x) => x.status),
      // a online; b online (2 connections); a dnd changes nothing seen (b is online); b away; b leaves; a leaves.
      [PresenceStatus.PRESENCE_STATUS_ONLINE, PresenceStatus.PRESENCE_STATUS_ONLINE, PresenceStatus.PRESENCE_STATUS_AWAY, PresenceStatus.PRESENCE_STATUS_DND, PresenceStatus.PRESENCE_STATUS_OFFLINE],
      "every visible change reached the watcher, and only those",
    );
    await node.close();
  });

  it("keeps the inbox and the devices' places across a restart, on a real level database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sb-messaging-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    let stores = await openEmbeddedStores({ dataDir: dir });
    let node = await startEmbeddedMessaging({ stateStore: stores.state, messageLog: stores.log });
    const d = await connect(node.messaging, "acme", "bob", "car", { persistent: true, autoAck: false });
    for (let i = 1; i <= 3; i++) await node.messaging.send("acme", undefined, { user: "bob" }, text(`m${i}`));
    await d.until(3);
    d.connection.ack(1);
    await d.connection.close();
    await node.close();
    await stores.close();

    stores = await openEmbeddedStores({ dataDir: dir });
    node = await startEmbeddedMessaging({ stateStore: stores.state, messageLog: stores.log });
    await node.messaging.send("acme", undefined, { user: "bob" }, text("m4"));
    const again = await connect(node.messaging, "acme", "bob", "car", { persistent: true });
    await again.until(3);
    assert.deepEqual(again.texts(), ["m2", "m3", "m4"]);
    await node.close();
    await stores.close();
  });
});

describe("topics", () => {
  it("carries a plain topic's messages to matching filters without a turn of any actor", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    const d = await connect(m, "acme", "bob", "phone");
    await d.connection.subscribe("sensors/+/temp", "s1");
    await d.connection.subscribe("sensors/#", "s2");
    const turns = node.runtime.stats().turns;
    await m.send("acme", { user: "dev" }, { topic: "sensors/k1/temp" }, text("21"));
    await m.send("acme", { user: "dev" }, { topic: "sensors/k1/hum" }, text("40"));
    await m.send("acme", { user: "dev" }, { topic: "other" }, text("no"));
    assert.equal(node.runtime.stats().turns, turns, "no actor turn on the plain path");
    await d.until(2);
    assert.deepEqual(d.got.map((g) => [Buffer.from(g.message.body).toString(), g.delivery.kind === "topic" ? [...g.delivery.subscriptions].sort() : []]), [
      ["21", ["s1", "s2"]],
      ["40", ["s2"]],
    ]);
    assert.equal(d.got[0]!.message.seq, 0);
    await node.close();
  });

  it("numbers a managed topic's messages, keeps its history, and pages it", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    await m.createTopic("acme", "rooms/lobby", { maxHistory: 5 }, ["alice"]);
    await m.updateMembers("acme", "rooms/lobby", { add: ["bob"] });
    const bob = await connect(m, "acme", "bob", "phone");
    await bob.connection.subscribe("rooms/lobby", "room");
    const alice = await connect(m, "acme", "alice", "web");
    for (let i = 1; i <= 7; i++) await alice.connection.send({ topic: "rooms/lobby" }, text(`r${i}`));
    await bob.until(7);
    assert.deepEqual(bob.got.map((g) => g.message.seq), [1, 2, 3, 4, 5, 6, 7]);
    const newest = await m.history("acme", "rooms/lobby", { limit: 2 });
    assert.deepEqual(newest.messages.map((x) => x.seq), [6, 7]);
    assert.equal(newest.lastSeq, 7);
    const before = await m.history("acme", "rooms/lobby", { beforeSeq: 6, limit: 10 });
    assert.deepEqual(before.messages.map((x) => x.seq), [3, 4, 5], "only the last 5 are kept");
    const afterPage = await m.history("acme", "rooms/lobby", { afterSeq: 3, limit: 2 });
    assert.deepEqual(afterPage.messages.map((x) => x.seq), [4, 5]);
    await node.close();
  });

  it("enforces who may post and read a managed topic", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    await m.createTopic("acme", "announcements", { post: "owners", read: "members" }, ["boss"]);
    await m.updateMembers("acme", "announcements", { add: ["bob"] });
    const bob = await connect(m, "acme", "bob", "phone");
    const eve = await connect(m, "acme", "eve", "laptop");
    await rejectsCode(bob.connection.send({ topic: "announcements" }, text("hi")), "permission_denied");
    await rejectsCode(eve.connection.subscribe("announcements"), "permission_denied");
    await rejectsCode(m.history("acme", "announcements", {}, "eve"), "permission_denied");
    await bob.connection.subscribe("announcements");
    await eve.connection.subscribe("#");
    await m.send("acme", { user: "boss" }, { topic: "announcements" }, text("news"));
    await bob.until(1);
    await quiet();
    assert.deepEqual(eve.got, [], "a wildcard subscription does not carry a managed topic");
    await node.close();
  });

  it("publishes joins, leaves and, when asked, members' presence on the topic", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    await m.createTopic("acme", "team", { memberPresence: true }, ["alice"]);
    const alice = await connect(m, "acme", "alice", "web");
    await alice.connection.subscribe("team");
    await m.updateMembers("acme", "team", { add: ["bob"] });
    await quiet();
    const bob = await connect(m, "acme", "bob", "phone");
    await bob.connection.setPresence("away");
    await m.updateMembers("acme", "team", { remove: ["bob"] });
    await quiet();
    assert.deepEqual(alice.members.map((e) => [e.user, e.change]), [["bob", 1], ["bob", 2]]);
    assert.deepEqual(
      alice.presence.filter((p) => p.user === "bob").map((p) => p.status),
      [PresenceStatus.PRESENCE_STATUS_ONLINE, PresenceStatus.PRESENCE_STATUS_AWAY],
    );
    await node.close();
  });

  it("keeps a retained message for later subscribers, for a name or a wildcard, and clears it with an empty one", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    await m.send("acme", { user: "dev" }, { topic: "status/k1" }, { body: Buffer.from("up"), retain: true });
    await m.send("acme", { user: "dev" }, { topic: "status/k2" }, { body: Buffer.from("down"), retain: true });
    assert.deepEqual((await m.retained("acme", "status/k1")).map((x) => x.body.toString()), ["up"]);
    assert.deepEqual((await m.retained("acme", "status/+")).map((x) => x.body.toString()).sort(), ["down", "up"]);
    await m.send("acme", { user: "dev" }, { topic: "status/k1" }, { body: Buffer.alloc(0), retain: true });
    assert.deepEqual((await m.retained("acme", "status/#")).map((x) => x.body.toString()), ["down"]);
    assert.deepEqual(await m.retained("globex", "status/#"), [], "another tenant sees none of them");
    await node.close();
  });

  it("keeps topics starting with $ away from wildcard filters", async () => {
    const node = await startEmbeddedMessaging();
    const d = await connect(node.messaging, "acme", "ops", "x");
    await d.connection.subscribe("#", "all");
    await d.connection.subscribe("$SYS/#", "sys");
    await node.messaging.send("acme", undefined, { topic: "$SYS/load" }, text("1"));
    await node.messaging.send("acme", undefined, { topic: "load" }, text("2"));
    await d.until(2);
    assert.deepEqual(d.got.map((g) => [Buffer.from(g.message.body).toString(), g.delivery.kind === "topic" ? g.delivery.subscriptions : []]), [
      ["1", ["sys"]],
      ["2", ["all"]],
    ]);
    await node.close();
  });
});

describe("tenancy", () => {
  it("never lets one tenant's users, topics, messages or presence reach another's", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    const acmeBob = await connect(m, "acme", "bob", "phone");
    const globexBob = await connect(m, "globex", "bob", "phone");
    await acmeBob.connection.subscribe("#");
    await globexBob.connection.subscribe("#");
    globexBob.connection.watchPresence("alice");
    await m.send("acme", { user: "alice" }, { user: "bob" }, text("for acme bob"));
    await m.send("acme", { user: "alice" }, { topic: "news" }, text("acme news"));
    await m.createTopic("acme", "room", { read: "anyone", post: "anyone" });
    await connect(m, "acme", "alice", "web");
    await acmeBob.until(2);
    await quiet();
    assert.deepEqual(globexBob.got, []);
    assert.deepEqual(globexBob.presence, [], "acme's alice is not globex's alice");
    await rejectsCode(m.history("globex", "room"), "not_found");
    const [p] = await m.presence("globex", ["alice"]);
    assert.equal(p!.status, PresenceStatus.PRESENCE_STATUS_OFFLINE);
    await node.close();
  });

  it("refuses malformed tenants, users, resources, topics and filters with invalid_argument", async () => {
    const node = await startEmbeddedMessaging();
    const m = node.messaging;
    await rejectsCode(m.send("ac me", undefined, { user: "bob" }, text("x")), "invalid_argument");
    await rejectsCode(m.send("acme", undefined, { user: "bo\u0000b" }, text("x")), "invalid_argument");
    await rejectsCode(m.send("acme", undefined, { topic: "a/+" }, text("x")), "invalid_argument");
    await rejectsCode(m.attach({ tenant: "acme", user: "bob", resource: "", listener: { message: () => undefined } }), "invalid_argument");
    const d = await connect(m, "acme", "bob", "p");
    await rejectsCode(d.connection.subscribe("a/#/b"), "invalid_argument");
    await rejectsCode(d.connection.subscribe("a+"), "invalid_argument");
    await node.close();
  });
});
