import { credentials, Metadata, status as GrpcStatus, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { resolveSettings } from "../bin/config.ts";
import { startNode, type RunningNode } from "../bin/node.ts";
import { startGrpcServer } from "../bin/start.ts";
import { generateApiKey, hashApiKey, type MessagingService } from "../gateways/grpc/index.ts";
import {
  CreateTopicRequest,
  GetPresenceRequest,
  ListMembersRequest,
  MemberChange,
  MessagingServiceClient,
  PresenceStatus,
  ReadHistoryRequest,
  SendRequest,
  SubscribeRequest,
  TopicAccess,
  UpdateMembersRequest,
  type Event,
  type Message,
} from "../protos/index.ts";
import { createLogger, type ControlServer } from "../runtime/index.ts";
import { NodeProcess, runCli } from "./support/node-process.ts";

const scratch = mkdtempSync(join(tmpdir(), "sb-grpc-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
const cleanEnv = { SWITCHBOARD_CONFIG: "", SWITCHBOARD_GRPC_PORT: "", SWITCHBOARD_NODE_ID: "", SWITCHBOARD_API_KEYS: "", OTEL_TRACES_EXPORTER: "", OTEL_EXPORTER_OTLP_ENDPOINT: "" };

const acmeKey = generateApiKey();
const betaKey = generateApiKey();
const text = (s: string) => Buffer.from(s);
const bodies = (events: readonly Event[]) => events.filter((e) => e.message).map((e) => e.message!.body.toString());

function metadata(key: string | undefined): Metadata {
  const md = new Metadata();
  if (key !== undefined) md.set("authorization", `Bearer ${key}`);
  return md;
}

const requestTypes = {
  send: SendRequest,
  getPresence: GetPresenceRequest,
  readHistory: ReadHistoryRequest,
  createTopic: CreateTopicRequest,
  updateMembers: UpdateMembersRequest,
  listMembers: ListMembersRequest,
} as const;
type Rpc = keyof typeof requestTypes;

/** One unary call with `key` (none when undefined); unset request fields take their defaults. */
function call<Res = any>(client: MessagingServiceClient, method: Rpc, request: object, key: string | undefined): Promise<Res> {
  const fn = (client as unknown as Record<string, Function>)[method]!.bind(client);
  const full = (requestTypes[method] as { fromPartial(o: object): object }).fromPartial(request);
  return new Promise((resolve, reject) => fn(full, metadata(key), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res))));
}

const failsWith = (code: GrpcStatus, detail?: RegExp) => (err: ServiceError) => {
  assert.equal(err.code, code, `expected ${GrpcStatus[code]}, got ${GrpcStatus[err.code]}: ${err.details}`);
  if (detail) assert.match(err.details, detail);
  return true;
};

/** A `Subscribe` call, its events as they come, and how it ended. */
class Subscription {
  readonly events: Event[] = [];
  readonly stream: ClientReadableStream<Event>;
  /** The server sent its headers: the watch is in place. */
  readonly ready: Promise<void>;
  /** The stream's end: the error, or null for OK. */
  readonly ended: Promise<ServiceError | null>;
  readonly #waiters = new Set<() => void>();

  constructor(client: MessagingServiceClient, request: object, key: string | undefined) {
    this.stream = client.subscribe(SubscribeRequest.fromPartial(request), metadata(key));
    this.ready = new Promise((resolve, reject) => {
      this.stream.once("metadata", () => resolve());
      this.stream.once("error", reject);
    });
    this.ended = new Promise((resolve) => {
      this.stream.on("error", (err: ServiceError) => resolve(err));
      this.stream.on("end", () => resolve(null));
    });
    this.ready.catch(() => undefined);
    this.stream.on("data", (e: Event) => {
      this.events.push(e);
      for (const w of [...this.#waiters]) w();
    });
  }

  /** Waits until `count` message events have arrived; returns them. */
  async messages(count: number, timeoutMs = 10_000): Promise<Message[]> {
    await this.until(() => this.events.filter((e) => e.message).length >= count, timeoutMs, `${count} messages`);
    return this.events.filter((e) => e.message).map((e) => e.message!);
  }

  until(done: () => boolean, timeoutMs = 10_000, what = "the condition"): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => (this.#waiters.delete(check), reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(bodies(this.events))}`))), timeoutMs);
      this.#waiters.add(check);
    });
  }

  cancel(): void {
    this.stream.cancel();
  }
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the gRPC messaging API on an embedded node", () => {
  let node: RunningNode;
  let control: ControlServer;
  let service: MessagingService;
  let client: MessagingServiceClient;

  before(async () => {
    // The keys come through the environment here, and through the config file in the process tests below.
    const dir = join(scratch, "embedded");
    const cfg = resolveSettings({
      flags: { "grpc-port": "0", "data-dir": dir, "node-id": "grpc-1" },
      env: { SWITCHBOARD_API_KEYS: `acme=${hashApiKey(acmeKey)},beta=${hashApiKey(betaKey)}` },
    });
    const logger = createLogger({ nodeId: "grpc-1", level: "silent" });
    node = await startNode({ settings: cfg, dataDir: dir, version: "test", logger, actors: [], grpcAddress: () => "" });
    ({ control, messaging: service } = await startGrpcServer(node, cfg, logger));
    client = new MessagingServiceClient(`127.0.0.1:${control.port}`, credentials.createInsecure());
  });

  after(async () => {
    client.close();
    service.close();
    await control.close();
    await node.stop();
  });

  test("a message to a user reaches their Subscribe live, and again replayed from from_seq", async () => {
    const live = new Subscription(client, { user: "alice", fromSeq: 0 }, acmeKey);
    await live.ready;
    const first = await call(client, "send", { user: "alice", body: text("hello"), contentType: "text/plain" }, acmeKey);
    assert.equal(first.seq, 1);
    assert.ok(first.id);
    const second = await call(client, "send", { user: "alice", body: text("again"), fromUser: "bob", clientMsgId: "m2" }, acmeKey);
    assert.equal(second.seq, 2);
    const got = await live.messages(2);
    assert.deepEqual(got.map((m) => [m.seq, m.body.toString(), m.fromUser, m.toUser, m.tenant]), [
      [1, "hello", "", "alice", "acme"],
      [2, "again", "bob", "alice", "acme"],
    ]);
    assert.equal(got[0]!.id, first.id);
    assert.equal(got[0]!.contentType, "text/plain");
    assert.equal(live.events[0]!.channel, "user:alice");

    const repeat = await call(client, "send", { user: "alice", body: text("again"), fromUser: "bob", clientMsgId: "m2" }, acmeKey);
    assert.equal(repeat.seq, 2, "a repeat with the same client_msg_id is not delivered twice");
    assert.deepEqual([second.duplicate, repeat.duplicate, repeat.id], [false, true, second.id], "and says it is a repeat");

    const replay = new Subscription(client, { user: "alice", fromSeq: 1 }, acmeKey);
    await replay.ready;
    await call(client, "send", { user: "acme:alice", body: text("third") }, acmeKey);
    const replayed = await replay.messages(3);
    assert.deepEqual(replayed.map((m) => [m.seq, m.body.toString()]), [[1, "hello"], [2, "again"], [3, "third"]], "replayed in order, then live");
    await live.messages(3);
    assert.deepEqual(bodies(live.events), ["hello", "again", "third"]);
    live.cancel();
    replay.cancel();
  });

  test("a managed topic: create, members, posting by the ACL, history pages, and its Subscribe", async () => {
    const options = { maxHistory: 0, post: TopicAccess.TOPIC_ACCESS_MEMBERS, read: TopicAccess.TOPIC_ACCESS_MEMBERS, memberPresence: false };
    const created = await call(client, "createTopic", { topic: "rooms/lobby", options, owners: ["alice"] }, acmeKey);
    assert.equal(created.created, true);
    assert.deepEqual(created.options, { history: true, maxHistory: 10_000, post: TopicAccess.TOPIC_ACCESS_MEMBERS, read: TopicAccess.TOPIC_ACCESS_MEMBERS, memberPresence: false });
    const again = await call(client, "createTopic", { topic: "rooms/lobby", options: { ...options, history: false }, owners: [] }, acmeKey);
    assert.equal(again.created, false, "CreateTopic is idempotent");
    assert.equal(again.options.history, true, "an existing topic keeps its settings");

    const members = await call(client, "updateMembers", { topic: "rooms/lobby", add: ["bob", "acme:carol"], remove: [], role: "" }, acmeKey);
    assert.deepEqual(members.members.map((m: { user: string; role: string }) => [m.user, m.role]), [["alice", "owner"], ["bob", "member"], ["carol", "member"]]);
    const listed = await call(client, "listMembers", { topic: "rooms/lobby" }, acmeKey);
    assert.deepEqual(listed.members, members.members);

    const sub = new Subscription(client, { topic: "rooms/lobby", fromSeq: 0 }, acmeKey);
    await sub.ready;
    for (let i = 1; i <= 10; i++) {
      const r = await call(client, "send", { topic: "rooms/lobby", body: text(`m${i}`), fromUser: i % 2 ? "bob" : "" }, acmeKey);
      assert.equal(r.seq, i);
    }
    await assert.rejects(call(client, "send", { topic: "rooms/lobby", body: text("no"), fromUser: "mallory" }, acmeKey), failsWith(GrpcStatus.PERMISSION_DENIED, /mallory may not post/));
    const live = await sub.messages(10);
    assert.deepEqual(live.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(live[0]!.toTopic, "rooms/lobby");
    assert.equal(live[0]!.fromUser, "bob");

    const page = async (p: object) => {
      const r = await call(client, "readHistory", { topic: "rooms/lobby", afterSeq: 0, beforeSeq: 0, limit: 0, asUser: "", ...p }, acmeKey);
      return { seqs: r.messages.map((m: Message) => m.seq), lastSeq: r.lastSeq };
    };
    assert.deepEqual(await page({ limit: 3 }), { seqs: [8, 9, 10], lastSeq: 10 }, "the newest page");
    assert.deepEqual((await page({ beforeSeq: 8, limit: 3 })).seqs, [5, 6, 7], "paging back");
    assert.deepEqual((await page({ afterSeq: 2, limit: 3 })).seqs, [3, 4, 5], "paging forward");
    assert.deepEqual((await page({ afterSeq: 2, beforeSeq: 5 })).seqs, [3, 4], "between");
    assert.deepEqual((await page({})).seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "limit 0 is 50");
    const read = await call(client, "readHistory", { topic: "rooms/lobby", afterSeq: 0, beforeSeq: 0, limit: 1, asUser: "bob" }, acmeKey);
    assert.equal(read.messages[0].body.toString(), "m10", "a member reads");
    await assert.rejects(call(client, "readHistory", { topic: "rooms/lobby", limit: 1, asUser: "mallory" }, acmeKey), failsWith(GrpcStatus.PERMISSION_DENIED));
    await assert.rejects(call(client, "readHistory", { topic: "rooms/nothing", limit: 1 }, acmeKey), failsWith(GrpcStatus.NOT_FOUND));
    const outsider = new Subscription(client, { topic: "rooms/lobby", fromSeq: 1, asUser: "mallory" }, acmeKey);
    await assert.rejects(outsider.ready, failsWith(GrpcStatus.PERMISSION_DENIED), "a Subscribe as a non-member is refused");
    const asMember = new Subscription(client, { topic: "rooms/lobby", fromSeq: 10, asUser: "bob" }, acmeKey);
    await asMember.ready;
    assert.deepEqual((await asMember.messages(1)).map((m) => m.seq), [10], "as a member it replays");
    asMember.cancel();

    const replay = new Subscription(client, { topic: "rooms/lobby", fromSeq: 9 }, acmeKey);
    await replay.ready;
    await call(client, "updateMembers", { topic: "rooms/lobby", add: ["dave"], remove: ["carol"], role: "owner" }, acmeKey);
    await call(client, "send", { topic: "rooms/lobby", body: text("m11"), fromUser: "dave" }, acmeKey);
    assert.deepEqual((await replay.messages(3)).map((m) => m.seq), [9, 10, 11]);
    await replay.until(() => replay.events.filter((e) => e.member).length >= 2, 5000, "member events");
    assert.deepEqual(
      replay.events.filter((e) => e.member).map((e) => [e.member!.user, e.member!.change]),
      [["dave", MemberChange.MEMBER_CHANGE_JOINED], ["carol", MemberChange.MEMBER_CHANGE_LEFT]],
    );
    sub.cancel();
    replay.cancel();
  });

  test("a plain topic's Subscribe takes MQTT wildcards", async () => {
    const sub = new Subscription(client, { topic: "sensors/+/temp", fromSeq: 0 }, acmeKey);
    await sub.ready;
    const r = await call(client, "send", { topic: "sensors/k1/temp", body: text("21.5") }, acmeKey);
    assert.equal(r.seq, 0, "a plain topic numbers nothing");
    await call(client, "send", { topic: "sensors/k1/humidity", body: text("40") }, acmeKey);
    await call(client, "send", { topic: "sensors/k2/temp", body: text("19.0") }, acmeKey);
    await sub.messages(2);
    assert.deepEqual(bodies(sub.events), ["21.5", "19.0"]);
    sub.cancel();
  });

  test("GetPresence answers for several users in the order asked; a user's Subscribe carries their presence", async () => {
    const sub = new Subscription(client, { user: "pat" }, acmeKey);
    await sub.ready;
    const connection = await node.messaging.attach({ tenant: "acme", user: "pat", resource: "phone", listener: { message: () => undefined } });
    try {
      const r = await call(client, "getPresence", { users: ["pat", "nobody", "acme:alice"] }, acmeKey);
      assert.deepEqual(r.presence.map((p: { user: string; status: number; connections: number }) => [p.user, p.status, p.connections]), [
        ["pat", PresenceStatus.PRESENCE_STATUS_ONLINE, 1],
        ["nobody", PresenceStatus.PRESENCE_STATUS_OFFLINE, 0],
        ["alice", PresenceStatus.PRESENCE_STATUS_OFFLINE, 0],
      ]);
      await sub.until(() => sub.events.some((e) => e.presence?.status === PresenceStatus.PRESENCE_STATUS_ONLINE), 5000, "pat's presence");
      assert.equal(sub.events.find((e) => e.presence)!.channel, "presence:pat");
    } finally {
      await connection.close();
    }
    await sub.until(() => sub.events.some((e) => e.presence?.status === PresenceStatus.PRESENCE_STATUS_OFFLINE), 5000, "pat offline");
    assert.deepEqual((await call(client, "getPresence", { users: [] }, acmeKey)).presence, []);
    sub.cancel();
  });

  test("an unknown or missing key is UNAUTHENTICATED on every call, Subscribe included", async () => {
    const requests: [Rpc, object][] = [
      ["send", { user: "alice", body: text("x") }],
      ["getPresence", { users: ["alice"] }],
      ["readHistory", { topic: "rooms/lobby" }],
      ["createTopic", { topic: "rooms/evil" }],
      ["updateMembers", { topic: "rooms/lobby", add: ["mallory"] }],
      ["listMembers", { topic: "rooms/lobby" }],
    ];
    for (const key of [generateApiKey(), undefined, hashApiKey(acmeKey).slice(7), ""]) {
      for (const [method, request] of requests) {
        await assert.rejects(call(client, method, request, key), failsWith(GrpcStatus.UNAUTHENTICATED), `${method} with ${key === undefined ? "no key" : "a wrong key"}`);
      }
      const sub = new Subscription(client, { user: "alice" }, key);
      const err = await sub.ended;
      assert.ok(err, "the stream fails");
      failsWith(GrpcStatus.UNAUTHENTICATED)(err);
      assert.equal(sub.events.length, 0);
    }
    await assert.rejects(call(client, "listMembers", { topic: "rooms/lobby" }, undefined), failsWith(GrpcStatus.UNAUTHENTICATED, /authorization: Bearer/));
    const members = await call(client, "listMembers", { topic: "rooms/lobby" }, acmeKey);
    assert.ok(!members.members.some((m: { user: string }) => m.user === "mallory"), "nothing was changed");
  });

  test("tenant B never sees tenant A's messages, history, members or presence, and cannot name them", async () => {
    await call(client, "createTopic", { topic: "rooms/secret", owners: ["alice"] }, acmeKey);
    const betaUser = new Subscription(client, { user: "alice" }, betaKey);
    const betaAll = new Subscription(client, { topic: "#" }, betaKey);
    const betaRoom = new Subscription(client, { topic: "rooms/secret", fromSeq: 1 }, betaKey);
    await Promise.all([betaUser.ready, betaAll.ready, betaRoom.ready]);

    await call(client, "send", { user: "alice", body: text("acme-private") }, acmeKey);
    await call(client, "send", { topic: "rooms/secret", body: text("acme-room") }, acmeKey);
    await call(client, "send", { topic: "news", body: text("acme-news") }, acmeKey);
    // Markers sent last by beta itself: when they arrive, acme's messages would have too.
    await call(client, "send", { user: "alice", body: text("beta-marker") }, betaKey);
    await call(client, "send", { topic: "rooms/secret", body: text("beta-marker") }, betaKey);
    await betaUser.messages(1);
    await betaAll.messages(1);
    await betaRoom.messages(1);
    assert.deepEqual(bodies(betaUser.events), ["beta-marker"], "beta's alice is not acme's alice");
    assert.deepEqual(bodies(betaAll.events), ["beta-marker"], "a # filter covers only the key's tenant");
    assert.deepEqual(bodies(betaRoom.events), ["beta-marker"]);
    assert.ok([...betaUser.events, ...betaAll.events, ...betaRoom.events].every((e) => e.tenant === "beta"));

    await assert.rejects(call(client, "readHistory", { topic: "rooms/secret", limit: 10 }, betaKey), failsWith(GrpcStatus.NOT_FOUND), "beta has no such topic");
    await assert.rejects(call(client, "listMembers", { topic: "rooms/lobby" }, betaKey), failsWith(GrpcStatus.NOT_FOUND));
    const presence = await call(client, "getPresence", { users: ["pat"] }, betaKey);
    assert.equal(presence.presence[0].connections, 0);

    // Naming acme explicitly is refused outright.
    const denied: [Rpc, object][] = [
      ["send", { user: "acme:alice", body: text("x") }],
      ["send", { topic: "acme:rooms/secret", body: text("x") }],
      ["send", { user: "bob", fromUser: "acme:alice", body: text("x") }],
      ["getPresence", { users: ["bob", "acme:alice"] }],
      ["readHistory", { topic: "acme:rooms/secret", limit: 10 }],
      ["readHistory", { topic: "rooms/secret", asUser: "acme:alice", limit: 10 }],
      ["createTopic", { topic: "acme:rooms/x" }],
      ["createTopic", { topic: "rooms/x", owners: ["acme:alice"] }],
      ["updateMembers", { topic: "acme:rooms/secret", add: ["bob"] }],
      ["updateMembers", { topic: "rooms/lobby", add: ["acme:bob"] }],
      ["listMembers", { topic: "acme:rooms/secret" }],
    ];
    for (const [method, request] of denied) {
      await assert.rejects(call(client, method, request, betaKey), failsWith(GrpcStatus.PERMISSION_DENIED, /this API key is for tenant beta/), `${method} ${JSON.stringify(request)}`);
    }
    for (const request of [{ user: "acme:alice", fromSeq: 1 }, { topic: "acme:rooms/secret", fromSeq: 1 }]) {
      const sub = new Subscription(client, request, betaKey);
      failsWith(GrpcStatus.PERMISSION_DENIED)((await sub.ended)!);
      assert.equal(sub.events.length, 0);
    }
    const history = await call(client, "readHistory", { topic: "rooms/secret", limit: 10 }, acmeKey);
    assert.deepEqual(history.messages.map((m: Message) => m.body.toString()), ["acme-room"], "beta's posts went to beta's own topic");
    betaUser.cancel();
    betaAll.cancel();
    betaRoom.cancel();
  });

  test("a malformed request is INVALID_ARGUMENT with a message that says what is wrong", async () => {
    const bad: [Rpc, object, RegExp][] = [
      ["send", { body: text("x") }, /Send needs a destination: set user or topic/],
      ["send", { user: "", body: text("x") }, /invalid user ""/],
      ["send", { topic: "", body: text("x") }, /topic is required/],
      ["send", { topic: "a/+/b", body: text("x") }, /no wildcard/],
      ["send", { user: "a\u0001b", body: text("x") }, /no control characters/],
      ["getPresence", { users: ["ok", ""] }, /invalid user ""/],
      ["getPresence", { users: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, /at most 1000 users/],
      ["readHistory", { topic: "", limit: 1 }, /topic is required/],
      ["readHistory", { topic: "rooms/lobby", limit: 5000 }, /limit is 1-1000/],
      ["createTopic", { topic: "rooms/new", options: { maxHistory: 0, post: 42, read: 0, memberPresence: false } }, /options\.post/],
      ["createTopic", { topic: "rooms/#" }, /no wildcard/],
      ["updateMembers", { topic: "rooms/lobby", add: ["x"], role: "admin" }, /role is owner or member/],
      ["listMembers", { topic: "" }, /topic is required/],
    ];
    for (const [method, request, detail] of bad) {
      await assert.rejects(call(client, method, request, acmeKey), failsWith(GrpcStatus.INVALID_ARGUMENT, detail), `${method} ${detail}`);
    }
    for (const [request, detail] of [
      [{ fromSeq: 0 }, /Subscribe needs a destination/],
      [{ topic: "a/#/b" }, /'#' stands alone/],
      [{ user: "" }, /invalid user/],
    ] as const) {
      const sub = new Subscription(client, request, acmeKey);
      failsWith(GrpcStatus.INVALID_ARGUMENT, detail)((await sub.ended)!);
    }
  });

  test("cancelling a Subscribe releases its subscriptions on the node", async () => {
    await eventually(() => service.openStreams === 0, "earlier streams to close");
    const baseline = node.messaging.router.subscriptions;
    const user = new Subscription(client, { user: "quinn", fromSeq: 0 }, acmeKey);
    const topic = new Subscription(client, { topic: "rooms/lobby", fromSeq: 1 }, acmeKey);
    const plain = new Subscription(client, { topic: "devices/#" }, acmeKey);
    await Promise.all([user.ready, topic.ready, plain.ready]);
    assert.equal(node.messaging.router.subscriptions, baseline + 4, "the user's inbox and presence, the topic, the filter");
    assert.equal(service.openStreams, 3);
    await topic.messages(1);
    for (const s of [user, topic, plain]) s.cancel();
    for (const s of [user, topic, plain]) failsWith(GrpcStatus.CANCELLED)((await s.ended)!);
    await eventually(() => node.messaging.router.subscriptions === baseline && service.openStreams === 0, "the subscriptions to be released");
  });

  test("a failed Subscribe holds nothing, and closing the service ends open streams with UNAVAILABLE", async () => {
    const baseline = node.messaging.router.subscriptions;
    const denied = new Subscription(client, { user: "beta:x" }, acmeKey);
    await denied.ended;
    assert.equal(node.messaging.router.subscriptions, baseline);
    assert.equal(service.openStreams, 0);

    const open = new Subscription(client, { user: "rita" }, acmeKey);
    await open.ready;
    service.close();
    failsWith(GrpcStatus.UNAVAILABLE, /stopping/)((await open.ended)!);
    assert.equal(node.messaging.router.subscriptions, baseline);
    const late = new Subscription(client, { user: "rita" }, acmeKey);
    failsWith(GrpcStatus.UNAVAILABLE)((await late.ended)!);
  });
});

describe("API keys from the config file, through `switchboard`", () => {
  test("`switchboard apikey` makes a key whose config line a node accepts; failures are logged without the key", async () => {
    const made = await runCli(["apikey", "--tenant", "acme", "--json"], { env: cleanEnv });
    assert.equal(made.code, 0, made.stderr);
    const { key, hash, tenant } = JSON.parse(made.stdout) as { key: string; hash: string; tenant: string };
    assert.equal(tenant, "acme");
    assert.equal(hash, hashApiKey(key));

    const human = await runCli(["apikey", "--tenant", "acme"], { env: cleanEnv });
    assert.equal(human.code, 0);
    const shownKey = /^\s+(sbk_\S+)$/m.exec(human.stdout)?.[1];
    assert.ok(shownKey, human.stdout);
    assert.ok(human.stdout.includes(`apiKeys: ["${hashApiKey(shownKey)}"]`), "prints the config line with the hash");

    const file = join(scratch, "keys.yaml");
    writeFileSync(file, `tenants:\n  acme:\n    apiKeys: ["${hash}"]\n  acme.eu:\n    apiKeys: ["${hashApiKey(shownKey)}"]\n`);
    const node = new NodeProcess(["--config", file, "--grpc-port", "0", "--data-dir", join(scratch, "proc"), "--log-level", "debug"], { env: cleanEnv });
    try {
      const { grpc } = await node.started();
      const loaded = await node.waitFor((l) => l.msg === "messaging API keys loaded");
      assert.deepEqual(loaded.tenants, ["acme", "acme.eu"]);
      const client = new MessagingServiceClient(`127.0.0.1:${grpc}`, credentials.createInsecure());
      try {
        const sent = await call(client, "send", { user: "alice", body: text("hi") }, key);
        assert.equal(sent.seq, 1);
        const eu = await call(client, "send", { user: "acme.eu:alice", body: text("hi") }, shownKey);
        assert.equal(eu.seq, 1, "a tenant name with a dot");
        const wrong = generateApiKey();
        await assert.rejects(call(client, "send", { user: "alice", body: text("x") }, wrong), failsWith(GrpcStatus.UNAUTHENTICATED));
        const refused = await node.waitFor((l) => l.msg === "call refused: not authenticated");
        assert.equal(refused.level, "debug");
        assert.equal(refused.reason, "unknown key");
        assert.equal(refused.method, "/switchboard.v1.MessagingService/Send");

        // A stop does not wait for open streams: they end with UNAVAILABLE at once.
        const sub = new Subscription(client, { user: "alice" }, key);
        await sub.ready;
        const t0 = Date.now();
        assert.equal(await node.stop("SIGTERM"), 0);
        failsWith(GrpcStatus.UNAVAILABLE)((await sub.ended)!);
        assert.ok(Date.now() - t0 < 4000, `stopped in ${Date.now() - t0} ms`);
        const log = JSON.stringify(node.lines);
        for (const secret of [key, wrong, shownKey]) assert.ok(!log.includes(secret), "no key is ever logged");
      } finally {
        client.close();
      }
    } finally {
      await node.stop("SIGKILL");
    }
  });

  test("a bad API key setting stops the node with one line naming it, exit 2", async () => {
    const good = hashApiKey(generateApiKey());
    const cases: [string, string, NodeJS.ProcessEnv, RegExp][] = [
      ["malformed.yaml", 'tenants:\n  acme:\n    apiKeys: ["sha256:abc"]\n', {}, /^switchboard: --config \S+malformed\.yaml: tenants\.acme\.apiKeys\[0\]: "sha256:abc" is not an API key hash \(sha256:<64 hex digits>; `switchboard apikey` makes a key and its hash\)$/],
      ["plain.yaml", `tenants:\n  acme:\n    apiKeys: ["${good}", "${generateApiKey()}"]\n`, {}, /tenants\.acme\.apiKeys\[1\]: "sbk_[^"]+" is not an API key hash/],
      ["typo.yaml", `tenants:\n  acme:\n    apikeys: ["${good}"]\n`, {}, /^switchboard: --config \S+typo\.yaml: unknown setting "tenants\.acme\.apikeys" \(a tenant has: apiKeys\)$/],
      ["tenant.yaml", `tenants:\n  "a b":\n    apiKeys: ["${good}"]\n`, {}, /tenants\.a b: "a b" is not a tenant name/],
      ["shared.yaml", `tenants:\n  acme:\n    apiKeys: ["${good}"]\n  beta:\n    apiKeys: ["${good.toUpperCase().replace("SHA256", "sha256")}"]\n`, {}, /tenants\.beta\.apiKeys\[0\]: this key is already listed for tenant acme/],
      ["list.yaml", `tenants:\n  acme:\n    apiKeys: "${good}"\n`, {}, /tenants\.acme\.apiKeys: "sha256:[0-9a-f]+" is not a list of key hashes/],
      ["empty.yaml", "grpc:\n  port: 0\n", { SWITCHBOARD_API_KEYS: "acme" }, /^switchboard: SWITCHBOARD_API_KEYS: entry 1: "acme" is not <tenant>=sha256:<64 hex digits>$/],
      ["empty2.yaml", "grpc:\n  port: 0\n", { SWITCHBOARD_API_KEYS: `acme=${good},beta=sha256:00` }, /^switchboard: SWITCHBOARD_API_KEYS: entry 2: "sha256:00" is not an API key hash/],
    ];
    for (const [name, content, env, expected] of cases) {
      const file = join(scratch, name);
      writeFileSync(file, content);
      const r = await runCli(["start", "--config", file, "--data-dir", join(scratch, "never")], { env: { ...cleanEnv, ...env } });
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, expected, name);
    }
  });

  test("there is no flag for API keys", async () => {
    const r = await runCli(["start", "--api-keys", "acme=x"], { env: cleanEnv });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --api-keys/);
    const help = await runCli(["--help"]);
    for (const s of ["switchboard apikey", "SWITCHBOARD_API_KEYS", "tenants:"]) assert.ok(help.stdout.includes(s), s);
  });
});
