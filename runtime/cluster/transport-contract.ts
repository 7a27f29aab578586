import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { afterEach, beforeEach, describe, it } from "node:test";
import { isSwitchboardError, type ErrorCode } from "../errors.ts";
import type { IncomingMessage, Transport } from "./transport.ts";

export interface TransportFixture {
  /** Two nodes on one network. */
  readonly a: Transport;
  readonly b: Transport;
  /** Closes both transports and whatever `make` created. */
  cleanup(): Promise<void>;
  /** Cuts `a` off the network (it may cut `b` off too, as stopping a NATS server does). */
  disconnect?(): Promise<void>;
  /** Undoes `disconnect`. */
  reconnect?(): Promise<void>;
  /** A third node on the network with echo off; `cleanup` closes it too. */
  quiet(): Promise<Transport>;
}

/**
 * The one suite every `Transport` runs (STYLE.md §5). Each test gets two fresh nodes
 * from `make`. Tests know a subscription is in place only through the API: after
 * subscribing, a node sends a request nobody serves, and its "no responders" answer
 * comes back only after the server has taken the subscription.
 */
export function describeTransport(name: string, make: () => Promise<TransportFixture>): void {
  describe(`Transport contract: ${name}`, () => {
    let fx: TransportFixture;
    let a: Transport;
    let b: Transport;
    let p: string;

    beforeEach(async () => {
      fx = await make();
      ({ a, b } = fx);
      p = `contract.t${++testCounter}`;
    });

    afterEach(async () => {
      await fx.cleanup();
    });

    it("round-trips a request with binary data and headers both ways", async () => {
      const seen = new Inbox();
      b.subscribe(`${p}.echo`, (msg) => {
        seen.handler(msg);
        msg.respond(reversed(msg.data), { "X-Reply": "pong", "echo-of": msg.headers["X-Req"] ?? "" });
      });
      await settled(b);
      const data = Uint8Array.from({ length: 256 }, (_, i) => i);
      const reply = await a.request(`${p}.echo`, data, { timeoutMs: 5000, headers: { "X-Req": "ping", "trace-id": "t-1" } });
      assert.deepEqual(reply.data, reversed(data));
      assert.deepEqual({ ...reply.headers }, { "X-Reply": "pong", "echo-of": "ping" });
      const [received] = seen.messages;
      assert.equal(received!.subject, `${p}.echo`);
      assert.deepEqual(received!.data, data);
      assert.deepEqual({ ...received!.headers }, { "X-Req": "ping", "trace-id": "t-1" });
    });

    it("with echo off, a node's own messages never reach its own subscriptions, and others' do", async () => {
      const q = await fx.quiet();
      const own = new Inbox();
      q.subscribe(`${p}.echo.>`, own.handler);
      b.subscribe(`${p}.echo.b`, (msg) => msg.respond(new TextEncoder().encode("from b")));
      await settled(q);
      await settled(b);
      await q.publish(`${p}.echo.x`, new Uint8Array([1]));
      await rejectsWith(q.request(`${p}.echo.y`, new Uint8Array([2]), { timeoutMs: 2000 }), "unavailable");
      assert.equal(new TextDecoder().decode((await q.request(`${p}.echo.b`, new Uint8Array([3]), { timeoutMs: 5000 })).data), "from b");
      await a.publish(`${p}.echo.z`, new Uint8Array([4]));
      await own.atLeast(1);
      assert.deepEqual(own.messages.map((m) => m.subject), [`${p}.echo.z`], "only a's message, none of its own");
    });

    it("round-trips empty data without headers", async () => {
      b.subscribe(`${p}.empty`, (msg) => msg.respond(new Uint8Array(0)));
      await settled(b);
      const reply = await a.request(`${p}.empty`, new Uint8Array(0), { timeoutMs: 5000 });
      assert.equal(reply.data.byteLength, 0);
      assert.deepEqual({ ...reply.headers }, {});
    });

    it("fails fast with unavailable and noResponders when nobody serves the subject", async () => {
      const start = performance.now();
      const err = await rejectsWith(a.request(`${p}.nobody`, text("hi"), { timeoutMs: 5000 }), "unavailable");
      assert.equal(err.context.noResponders, true);
      assert.equal(err.retryable, true);
      assert.ok(performance.now() - start < 1000, "no responders takes no timeout");
    });

    it("fails with deadline_exceeded when the responder never answers", async () => {
      b.subscribe(`${p}.silent`, () => undefined);
      await settled(b);
      const start = performance.now();
      await rejectsWith(a.request(`${p}.silent`, text("hi"), { timeoutMs: 200 }), "deadline_exceeded");
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 150 && elapsed < 2000, `timed out after ${elapsed} ms`);
    });

    it("delivers to '*' one token and to '>' one or more tokens", async () => {
      const star = new Inbox();
      const rest = new Inbox();
      b.subscribe(`${p}.orders.*`, star.handler);
      b.subscribe(`${p}.orders.>`, rest.handler);
      await settled(b);
      for (const s of ["orders", "orders.eu", "orders.eu.fr", "other.eu", "orders.end"]) await a.publish(`${p}.${s}`, text(s));
      await star.atLeast(2);
      await rest.atLeast(3);
      assert.deepEqual(star.texts(), ["orders.eu", "orders.end"]);
      assert.deepEqual(rest.texts(), ["orders.eu", "orders.eu.fr", "orders.end"]);
      assert.deepEqual(
        star.messages.map((m) => m.subject),
        [`${p}.orders.eu`, `${p}.orders.end`],
      );
    });

    it("fans a publish out to a subscriber on each node, once each", async () => {
      const onA = new Inbox();
      const onB = new Inbox();
      a.subscribe(`${p}.news`, onA.handler);
      b.subscribe(`${p}.news`, onB.handler);
      await settled(a, b);
      await a.publish(`${p}.news`, text("one"), { kind: "headline" });
      await a.publish(`${p}.news`, text("end"));
      await onA.atLeast(2);
      await onB.atLeast(2);
      assert.deepEqual(onA.texts(), ["one", "end"]);
      assert.deepEqual(onB.texts(), ["one", "end"]);
      assert.equal(onB.messages[0]!.headers["kind"], "headline");
      assert.equal(onB.messages[0]!.respond(text("no")), false, "a plain publish cannot be answered");
    });

    it("spreads a queue group's messages across its members, each message once", async () => {
      const onA = new Inbox();
      const onB = new Inbox();
      const endA = new Inbox();
      const endB = new Inbox();
      a.subscribe(`${p}.work`, onA.handler, { queue: "workers" });
      b.subscribe(`${p}.work`, onB.handler, { queue: "workers" });
      a.subscribe(`${p}.end`, endA.handler);
      b.subscribe(`${p}.end`, endB.handler);
      await settled(a, b);
      for (let i = 0; i < 100; i++) await a.publish(`${p}.work`, text(String(i)));
      await a.publish(`${p}.end`, text("end"));
      await endA.atLeast(1);
      await endB.atLeast(1);
      const all = [...onA.texts(), ...onB.texts()].map(Number).sort((x, y) => x - y);
      assert.deepEqual(all, Array.from({ length: 100 }, (_, i) => i));
      assert.ok(onA.messages.length > 0 && onB.messages.length > 0, `split ${onA.messages.length}/${onB.messages.length}`);
    });

    it("stops delivery when a subscription closes, and its subject then has no responders", async () => {
      const inbox = new Inbox();
      const end = new Inbox();
      const sub = b.subscribe(`${p}.svc`, (msg) => {
        inbox.handler(msg);
        msg.respond(text("ok"));
      });
      b.subscribe(`${p}.end`, end.handler);
      assert.equal(sub.subject, `${p}.svc`);
      await settled(b);
      assert.deepEqual(await a.request(`${p}.svc`, text("first"), { timeoutMs: 5000 }).then((r) => str(r.data)), "ok");
      await sub.close();
      await sub.close();
      await a.publish(`${p}.svc`, text("after"));
      await a.publish(`${p}.end`, text("end"));
      await end.atLeast(1);
      assert.deepEqual(inbox.texts(), ["first"]);
      const err = await rejectsWith(a.request(`${p}.svc`, text("again"), { timeoutMs: 5000 }), "unavailable");
      assert.equal(err.context.noResponders, true);
    });

    it("answers 1,000 concurrent requests, each with its own reply", async () => {
      b.subscribe(`${p}.double`, (msg) => msg.respond(text(String(Number(str(msg.data)) * 2)), { n: str(msg.data) }));
      await settled(b);
      const replies = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => a.request(`${p}.double`, text(String(i)), { timeoutMs: 10_000 })),
      );
      replies.forEach((reply, i) => {
        assert.equal(str(reply.data), String(i * 2));
        assert.equal(reply.headers["n"], String(i));
      });
    });

    it("takes the first of several replies", async () => {
      b.subscribe(`${p}.race`, (msg) => msg.respond(text("b")));
      a.subscribe(`${p}.race`, (msg) => msg.respond(text("a")));
      await settled(a, b);
      const reply = await a.request(`${p}.race`, text("?"), { timeoutMs: 5000 });
      assert.ok(["a", "b"].includes(str(reply.data)));
    });

    it("keeps working after a handler throws or rejects", async () => {
      const inbox = new Inbox();
      b.subscribe(`${p}.svc`, (msg) => {
        inbox.handler(msg);
        const what = str(msg.data);
        if (what === "throw") throw new Error("handler blew up");
        if (what !== "ok") return;
        msg.respond(text("fine"));
      });
      b.subscribe(`${p}.async`, async () => {
        throw new Error("async handler blew up");
      });
      await settled(b);
      await a.publish(`${p}.svc`, text("throw"));
      await a.publish(`${p}.async`, text("x"));
      await a.publish(`${p}.svc`, text("throw"));
      const reply = await a.request(`${p}.svc`, text("ok"), { timeoutMs: 5000 });
      assert.equal(str(reply.data), "fine");
      assert.deepEqual(inbox.texts(), ["throw", "throw", "ok"]);
    });

    it("refuses bad subjects, queues, headers and timeouts with invalid_argument", async () => {
      const noop = () => undefined;
      await rejectsWith(a.publish(`${p}.*`, text("x")), "invalid_argument");
      await rejectsWith(a.publish(`${p}.>`, text("x")), "invalid_argument");
      await rejectsWith(a.publish("", text("x")), "invalid_argument");
      await rejectsWith(a.publish(`${p} x`, text("x")), "invalid_argument");
      await rejectsWith(a.request(`${p}..x`, text("x"), { timeoutMs: 1000 }), "invalid_argument");
      await rejectsWith(a.request(`${p}.x`, text("x"), { timeoutMs: 0 }), "invalid_argument");
      await rejectsWith(a.request(`${p}.x`, text("x"), { timeoutMs: Number.NaN }), "invalid_argument");
      await rejectsWith(a.publish(`${p}.x`, text("x"), { "bad:name": "v" }), "invalid_argument");
      await rejectsWith(a.publish(`${p}.x`, text("x"), { name: "line\r\nbreak" }), "invalid_argument");
      throwsWith(() => a.subscribe(`${p}.>.x`, noop), "invalid_argument");
      throwsWith(() => a.subscribe(`${p}.`, noop), "invalid_argument");
      throwsWith(() => a.subscribe(`${p}.x`, noop, { queue: "" }), "invalid_argument");
    });

    it("refuses a message over the maximum payload with limit_exceeded", async () => {
      b.subscribe(`${p}.big`, (msg) => msg.respond(text("ok")));
      await settled(b);
      const big = new Uint8Array(2 * 1024 * 1024);
      await rejectsWith(a.publish(`${p}.big`, big), "limit_exceeded");
      await rejectsWith(a.request(`${p}.big`, big, { timeoutMs: 1000 }), "limit_exceeded");
      assert.equal(str((await a.request(`${p}.big`, new Uint8Array(1000), { timeoutMs: 5000 })).data), "ok");
    });

    it("after close: not connected, refuses with unavailable, closes again quietly", async () => {
      const changes: boolean[] = [];
      a.onConnectionChange((c) => changes.push(c));
      assert.equal(a.connected, true);
      await a.close();
      await a.close();
      assert.equal(a.connected, false);
      assert.deepEqual(changes, [false]);
      await rejectsWith(a.request(`${p}.x`, text("x"), { timeoutMs: 1000 }), "unavailable");
      await rejectsWith(a.publish(`${p}.x`, text("x")), "unavailable");
      throwsWith(() => a.subscribe(`${p}.x`, () => undefined), "unavailable");
    });

    it("stops calling a connection listener once it is removed", async () => {
      const changes: boolean[] = [];
      const remove = a.onConnectionChange((c) => changes.push(c));
      remove();
      remove();
      await a.close();
      assert.deepEqual(changes, []);
    });

    it("reports a disconnect, refuses meanwhile, and resumes subscriptions after reconnecting", async (t) => {
      if (fx.disconnect === undefined || fx.reconnect === undefined) {
        t.skip("the fixture cannot disconnect");
        return;
      }
      const changes: boolean[] = [];
      a.onConnectionChange((c) => changes.push(c));
      const onA = new Inbox();
      const onB = new Inbox();
      a.subscribe(`${p}.to-a`, onA.handler);
      b.subscribe(`${p}.to-b`, (msg) => {
        onB.handler(msg);
        msg.respond(text("back"));
      });
      await settled(a, b);
      await fx.disconnect();
      await connectedIs(a, false);
      await rejectsWith(a.request(`${p}.to-b`, text("x"), { timeoutMs: 1000 }), "unavailable");
      await rejectsWith(a.publish(`${p}.to-b`, text("x")), "unavailable");
      await fx.reconnect();
      await connectedIs(a, true);
      await connectedIs(b, true);
      assert.deepEqual(changes, [false, true]);
      await settled(a, b);
      assert.equal(str((await a.request(`${p}.to-b`, text("req"), { timeoutMs: 5000 })).data), "back");
      await b.publish(`${p}.to-a`, text("hello a"));
      await onA.atLeast(1);
      assert.deepEqual(onA.texts(), ["hello a"]);
      assert.deepEqual(onB.texts(), ["req"]);
    });
  });
}

let testCounter = 0;

/**
 * Resolves once each transport's earlier subscriptions are in place: a request that
 * nobody serves travels the same path and is answered only after them.
 */
async function settled(...transports: Transport[]): Promise<void> {
  for (const t of transports) {
    await rejectsWith(t.request(`contract.barrier.${++testCounter}`, new Uint8Array(0), { timeoutMs: 5000 }), "unavailable");
  }
}

/** Messages a handler received, with a way to wait for them. */
class Inbox {
  readonly messages: IncomingMessage[] = [];
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  readonly handler = (msg: IncomingMessage): void => {
    this.messages.push(msg);
    for (const w of [...this.#waiters]) {
      if (this.messages.length >= w.n) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  texts(): string[] {
    return this.messages.map((m) => str(m.data));
  }

  async atLeast(n: number, timeoutMs = 5000): Promise<void> {
    if (this.messages.length >= n) return;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.push({ n, resolve });
    const timer = setTimeout(() => reject(new Error(`got ${this.messages.length} of ${n} messages in ${timeoutMs} ms`)), timeoutMs);
    try {
      await promise;
    } finally {
      clearTimeout(timer);
    }
  }
}

async function connectedIs(t: Transport, expected: boolean, timeoutMs = 10_000): Promise<void> {
  if (t.connected === expected) return;
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const remove = t.onConnectionChange((c) => {
    if (c === expected) resolve();
  });
  const timer = setTimeout(() => reject(new Error(`connected did not become ${expected} in ${timeoutMs} ms`)), timeoutMs);
  try {
    if (t.connected !== expected) await promise;
  } finally {
    clearTimeout(timer);
    remove();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode) {
  try {
    await promise;
  } catch (err) {
    assert.ok(isSwitchboardError(err, code), `expected ${code}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

function throwsWith(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err) => isSwitchboardError(err, code));
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function str(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

function reversed(data: Uint8Array): Uint8Array {
  return new Uint8Array(data).reverse();
}
