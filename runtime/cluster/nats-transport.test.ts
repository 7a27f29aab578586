import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { NatsServer } from "../../test/support/nats-server.ts";
import { freePort } from "../../test/support/free-port.ts";
import { isSwitchboardError } from "../errors.ts";
import { connectNatsTransport, natsConnectionOptions, type NatsTransport } from "./nats-transport.ts";
import { describeTransport } from "./transport-contract.ts";
import type { IncomingMessage, Transport } from "./transport.ts";

let server: NatsServer;
let nodes = 0;

before(async () => {
  server = await NatsServer.start({ jetstream: false });
});

after(async () => {
  await server?.close();
});

async function pair(): Promise<{ a: NatsTransport; b: NatsTransport }> {
  const [a, b] = await Promise.all([
    connectNatsTransport({ servers: server.url, name: `a-${++nodes}` }),
    connectNatsTransport({ servers: server.url, name: `b-${nodes}` }),
  ]);
  return { a, b };
}

describeTransport("NatsTransport", async () => {
  const { a, b } = await pair();
  let down = false;
  let q: NatsTransport | undefined;
  return {
    a,
    b,
    quiet: async () => (q = await connectNatsTransport({ servers: server.url, name: `q-${nodes}`, echo: false })),
    cleanup: async () => {
      await Promise.all([a.close(), b.close(), q?.close()]);
      // A test that failed while the server was stopped leaves it running for the next.
      if (down) await server.restart();
    },
    // Stopping the server cuts both nodes off.
    disconnect: async () => {
      down = true;
      await server.stop();
    },
    reconnect: async () => {
      await server.restart();
      down = false;
    },
  };
});

describe("NatsTransport", () => {
  it("reconnects after the server restarts: reports false then true, and old subscriptions receive again", async () => {
    const { a, b } = await pair();
    let down = false;
    try {
      const changes = { a: [] as boolean[], b: [] as boolean[] };
      a.onConnectionChange((c) => changes.a.push(c));
      b.onConnectionChange((c) => changes.b.push(c));
      const got: string[] = [];
      b.subscribe("restart.events", (msg) => got.push(str(msg.data)));
      b.subscribe("restart.svc", (msg) => msg.respond(text("still here")));
      await settled(b);
      await a.publish("restart.events", text("before"));
      await until(() => got.length === 1);

      down = true;
      await server.stop();
      await until(() => !a.connected && !b.connected);
      await rejectsCode(a.publish("restart.events", text("while down")), "unavailable");
      await server.restart();
      down = false;
      await until(() => a.connected && b.connected);
      assert.deepEqual(changes, { a: [false, true], b: [false, true] });

      await settled(b);
      await a.publish("restart.events", text("after"));
      await until(() => got.length === 2);
      assert.deepEqual(got, ["before", "after"]);
      assert.equal(str((await a.request("restart.svc", text("?"), { timeoutMs: 5000 })).data), "still here");
    } finally {
      await Promise.all([a.close(), b.close()]);
      if (down) await server.restart();
    }
  });

  it("refuses a request in flight when the connection drops, at once rather than at its deadline", async () => {
    const { a, b } = await pair();
    let down = false;
    try {
      let received = false;
      b.subscribe("drop.svc", () => void (received = true)); // never answers
      await settled(b);
      const start = performance.now();
      const refused = rejectsCode(a.request("drop.svc", text("?"), { timeoutMs: 30_000 }), "unavailable");
      await until(() => received);
      down = true;
      await server.stop();
      await refused;
      assert.ok(performance.now() - start < 10_000, "refused when the link dropped, not after 30 s");
      await server.restart();
      down = false;
      await until(() => a.connected && b.connected);
      b.subscribe("drop.echo", (msg) => msg.respond(msg.data));
      await settled(b);
      assert.equal(str((await a.request("drop.echo", text("again"), { timeoutMs: 5000 })).data), "again", "the inbox works after the reconnect");
    } finally {
      await Promise.all([a.close(), b.close()]);
      if (down) await server.restart();
    }
  });

  it("closes promptly while the server is down", async () => {
    const { a, b } = await pair();
    try {
      await server.stop();
      await until(() => !a.connected);
      const start = performance.now();
      await a.close();
      assert.ok(performance.now() - start < 1000);
      assert.equal(a.connected, false);
    } finally {
      await server.restart();
      await b.close();
      await a.close();
    }
  });

  it("flushes a reply sent just before close", async () => {
    const { a, b } = await pair();
    try {
      let received!: () => void;
      const gotIt = new Promise<void>((r) => (received = r));
      let pending: IncomingMessage | undefined;
      b.subscribe("drain.svc", (msg) => {
        pending = msg;
        received();
      });
      await settled(b);
      const reply = a.request("drain.svc", text("x"), { timeoutMs: 5000 });
      await gotIt;
      pending!.respond(text("answered"));
      await b.close();
      assert.equal(str((await reply).data), "answered");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("rejects with unavailable when no server answers", async () => {
    const port = await freePort();
    await assert.rejects(
      connectNatsTransport({ servers: `nats://127.0.0.1:${port}`, name: "lonely", connectTimeoutMs: 2000 }),
      (err) => isSwitchboardError(err, "unavailable"),
    );
  });

  it("fills connection defaults and refuses bad options", () => {
    assert.deepEqual(natsConnectionOptions({ servers: "nats://h:4222", name: "n1" }), {
      servers: ["nats://h:4222"],
      name: "n1",
      reconnect: true,
      reconnectTimeWait: 250,
      maxReconnectAttempts: -1,
      timeout: 5000,
      pingInterval: 10_000,
      noAsyncTraces: true,
      noEcho: false,
    });
    assert.equal(natsConnectionOptions({ servers: "nats://h:4222", name: "n1", echo: false }).noEcho, true);
    const bad = (o: object) => assert.throws(() => natsConnectionOptions({ servers: "nats://h:4222", name: "n1", ...o }), (err) => isSwitchboardError(err, "invalid_argument"));
    bad({ servers: [] });
    bad({ name: "" });
    bad({ reconnectTimeWaitMs: -1 });
    bad({ maxReconnectAttempts: -2 });
    bad({ connectTimeoutMs: 0 });
    bad({ pingIntervalMs: Number.NaN });
  });
});

/** A request nobody serves comes back only after the server has taken the node's earlier subscriptions. */
async function settled(t: Transport): Promise<void> {
  await rejectsCode(t.request(`settle.${++nodes}`, new Uint8Array(0), { timeoutMs: 5000 }), "unavailable");
}

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejectsCode(promise: Promise<unknown>, code: "unavailable"): Promise<void> {
  await assert.rejects(promise, (err) => isSwitchboardError(err, code));
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function str(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
