import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientConnection, Delivery } from "../gateways/shared/index.ts";
import { startEmbeddedMessaging } from "../gateways/shared/test-messaging.ts";
import type { Message } from "../protos/index.ts";
import { openEmbeddedStores } from "../runtime/index.ts";
import { MessagingProcess } from "../test/support/messaging-processes.ts";
import { NatsServer } from "../test/support/nats-server.ts";
import { report } from "./report.ts";

// `npm run bench -- messaging`: the messaging core's data path.
// - local: one embedded node in this process, on a level database in a temp directory,
//   as `npm start` runs it; subscribers and senders are connections of the messaging API.
// - cluster: two nodes as separate processes on one nats-server (JetStream for state
//   and logs). Publishers are on the first, subscribers on the second, so every
//   delivery crosses NATS; the figures are read from the nodes.
// Fan-out is deliveries per second from one publisher to 1,000 subscribers of a plain
// topic. Direct is 1:1 messages per second through the receivers' inboxes: stored,
// delivered and acknowledged. History is messages read per second, in pages of 100,
// from a managed topic's history.
const subscribers = 1000;
const fanoutMessages = 2000;
const receivers = 100;
const directMessages = 10_000;
const concurrency = 64;
const historyMessages = 5000;

export async function run(): Promise<void> {
  await local();
  await cluster();
}

async function local(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sb-bench-messaging-"));
  const stores = await openEmbeddedStores({ dataDir: dir });
  const node = await startEmbeddedMessaging({ stateStore: stores.state, messageLog: stores.log });
  const m = node.messaging;
  try {
    let delivered = 0;
    const fan: ClientConnection[] = [];
    for (let i = 0; i < subscribers; i++) {
      const c = await m.attach({ tenant: "bench", user: `s${i}`, resource: "r", listener: { message: () => void delivered++ } });
      await c.subscribe("bench/fanout");
      fan.push(c);
    }
    const body = Buffer.alloc(64, 120);
    let t = performance.now();
    for (let i = 0; i < fanoutMessages; i++) await m.send("bench", { user: "pub" }, { topic: "bench/fanout" }, { body });
    await until(() => delivered >= subscribers * fanoutMessages);
    report({ name: "messaging.fanout.local", value: (subscribers * fanoutMessages) / ((performance.now() - t) / 1000), unit: "deliveries/s", subscribers, messages: fanoutMessages });
    await Promise.all(fan.map((c) => c.close()));

    let received = 0;
    const inboxes: ClientConnection[] = [];
    for (let i = 0; i < receivers; i++) {
      let c: ClientConnection | undefined;
      const listener = {
        message: (msg: Message, d: Delivery) => {
          received++;
          if (d.kind === "inbox") c!.ack(msg.seq);
        },
      };
      c = await m.attach({ tenant: "bench", user: `r${i}`, resource: "r", listener });
      inboxes.push(c);
    }
    t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < directMessages; i = next++) await m.send("bench", { user: "sender" }, { user: `r${i % receivers}` }, { body });
      }),
    );
    await until(() => received >= directMessages);
    report({ name: "messaging.direct.local", value: directMessages / ((performance.now() - t) / 1000), unit: "messages/s", receivers, concurrency, store: "level" });
    await Promise.all(inboxes.map((c) => c.close()));

    await history((topic, page) => m.history("bench", topic, page), async (topic) => {
      await m.createTopic("bench", topic, { post: "anyone", read: "anyone" });
      for (let i = 0; i < historyMessages; i += concurrency) {
        await Promise.all(Array.from({ length: Math.min(concurrency, historyMessages - i) }, () => m.send("bench", { user: "w" }, { topic }, { body })));
      }
    }, "messaging.history.read", "level");
  } finally {
    await node.close();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function cluster(): Promise<void> {
  const nats = await NatsServer.start();
  const nodes: MessagingProcess[] = [];
  try {
    for (const id of ["bm-n1", "bm-n2"]) nodes.push(await MessagingProcess.start(id, { natsUrl: nats.url, clusterName: "bm", leaseMs: 3000 }));
    const [a, b] = nodes as [MessagingProcess, MessagingProcess];
    await until(async () => (await a.command("locate", { actorId: "session/bench:x" })).state === "active", 15_000);

    await b.command("attachMany", { tenant: "bench", group: "fan", count: subscribers, filter: "bench/fanout" }, 300_000);
    let t = performance.now();
    await a.command("sendLoad", { tenant: "bench", topic: "bench/fanout", count: fanoutMessages, concurrency: 1 }, 300_000);
    await until(async () => (await b.command<number>("deliveries", { group: "fan" })) >= subscribers * fanoutMessages, 300_000, 20);
    report({ name: "messaging.fanout.cluster", value: (subscribers * fanoutMessages) / ((performance.now() - t) / 1000), unit: "deliveries/s", subscribers, messages: fanoutMessages, nodes: 2 });

    await b.command("attachMany", { tenant: "bench", group: "in", count: receivers }, 300_000);
    const users = Array.from({ length: receivers }, (_, i) => `in-${i}`);
    t = performance.now();
    await a.command("sendLoad", { tenant: "bench", users, count: directMessages, concurrency }, 600_000);
    await until(async () => (await b.command<number>("deliveries", { group: "in" })) >= directMessages, 300_000, 20);
    report({ name: "messaging.direct.cluster", value: directMessages / ((performance.now() - t) / 1000), unit: "messages/s", receivers, concurrency, store: "jetstream", nodes: 2 });

    await history(
      async (topic, page) => a.command("history", { tenant: "bench", topic, page }),
      async (topic) => {
        await a.command("createTopic", { tenant: "bench", topic, settings: { post: "anyone", read: "anyone" } });
        await a.command("sendLoad", { tenant: "bench", topic, count: historyMessages, concurrency }, 600_000);
      },
      "messaging.history.read.cluster",
      "jetstream",
    );
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    await nats.close();
  }
}

/** Fills a managed topic, then reads random pages of 100 for a while; reports messages read per second. */
async function history(read: (topic: string, page: { beforeSeq: number; limit: number }) => Promise<{ messages: unknown[] }>, fill: (topic: string) => Promise<void>, name: string, store: string): Promise<void> {
  const topic = "bench/history";
  await fill(topic);
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let readCount = 0;
  const started = performance.now();
  while (performance.now() - started < 3000) {
    const page = await read(topic, { beforeSeq: 101 + Math.floor(random() * (historyMessages - 100)), limit: 100 });
    readCount += page.messages.length;
  }
  report({ name, value: readCount / ((performance.now() - started) / 1000), unit: "messages/s", pageSize: 100, stored: historyMessages, store });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 120_000, pollMs = 1): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error("benchmark timed out waiting for deliveries");
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
