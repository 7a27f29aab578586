import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../clock.ts";
import { isSwitchboardError, type ErrorCode } from "../errors.ts";
import { createLogger } from "../telemetry/logger.ts";
import { InProcessNetwork, type InProcessTransport } from "./in-process-transport.ts";
import { checkSubject, subjectMatches, subjectTokens } from "./subject-match.ts";
import { describeTransport } from "./transport-contract.ts";
import type { IncomingMessage } from "./transport.ts";

describeTransport("InProcessTransport", async () => {
  const net = new InProcessNetwork();
  const a = net.connect("a");
  const b = net.connect("b");
  let q: InProcessTransport | undefined;
  return {
    a,
    b,
    quiet: async () => (q = net.connect("q", { echo: false })),
    cleanup: async () => {
      await a.close();
      await b.close();
      await q?.close();
    },
    disconnect: async () => net.disconnect("a"),
    reconnect: async () => net.reconnect("a"),
  };
});

describe("InProcessTransport", () => {
  it("never runs a handler inside publish, request or respond", async () => {
    const net = new InProcessNetwork();
    const a = net.connect("a");
    const calls: string[] = [];
    a.subscribe("s", (msg) => {
      calls.push("handler");
      msg.respond(text("r"));
      calls.push("responded");
    });
    const published = a.publish("s", text("x"));
    calls.push("published");
    const reply = a.request("s", text("y"), { timeoutMs: 1000 });
    calls.push("requested");
    await published;
    await reply;
    assert.deepEqual(calls.slice(0, 2), ["published", "requested"]);
    await a.close();
  });

  it("gives every receiver its own copy of the bytes, taken at send time", async () => {
    const net = new InProcessNetwork();
    const a = net.connect("a");
    const got: Uint8Array[] = [];
    a.subscribe("s", (msg) => got.push(msg.data));
    a.subscribe("s", (msg) => got.push(msg.data));
    const data = text("abc");
    await a.publish("s", data);
    data[0] = 0;
    await turns();
    assert.deepEqual(got, [text("abc"), text("abc")]);
    got[0]![0] = 1;
    assert.deepEqual(got[1], text("abc"));
    await a.close();
  });

  it("times requests on the injected clock", async () => {
    const clock = new ManualClock();
    const net = new InProcessNetwork({ clock });
    const a = net.connect("a");
    a.subscribe("slow", () => undefined);
    const outcome: { err?: unknown } = {};
    a.request("slow", text("x"), { timeoutMs: 30_000 }).catch((err: unknown) => (outcome.err = err));
    await clock.advance(29_999);
    assert.equal(outcome.err, undefined);
    await clock.advance(1);
    const err: unknown = outcome.err;
    assert.ok(isSwitchboardError(err, "deadline_exceeded"));
    assert.deepEqual(err.context, { subject: "slow", timeoutMs: 30_000 });
    assert.equal(clock.pendingTimers, 0);
    await a.close();
  });

  it("cancels the deadline timer once the reply arrives", async () => {
    const clock = new ManualClock();
    const net = new InProcessNetwork({ clock });
    const a = net.connect("a");
    a.subscribe("fast", (msg) => msg.respond(text("ok")));
    await a.request("fast", text("x"), { timeoutMs: 30_000 });
    assert.equal(clock.pendingTimers, 0);
    await a.close();
  });

  it("gives each queue group one message, picking its member with the injected random source", async () => {
    let flip = 0;
    const net = new InProcessNetwork({ random: () => (flip++ % 2 === 0 ? 0 : 0.99) });
    const a = net.connect("a");
    const b = net.connect("b");
    const got: string[] = [];
    // One group per queue name, as in nats-server, even across different filters.
    a.subscribe("jobs.*", () => got.push("a"), { queue: "q" });
    b.subscribe("jobs.x", () => got.push("b"), { queue: "q" });
    await a.publish("jobs.x", text("1"));
    await turns();
    assert.equal(got.length, 1);
    await a.publish("jobs.x", text("2"));
    await turns();
    assert.deepEqual(got.sort(), ["a", "b"]);
    b.subscribe("jobs.x", () => got.push("other"), { queue: "other" });
    await a.publish("jobs.x", text("3"));
    await turns();
    assert.equal(got.length, 4);
    assert.equal(got.filter((g) => g === "other").length, 1);
    await a.close();
    await b.close();
  });

  it("refuses a second transport for a node id until the first is closed", async () => {
    const net = new InProcessNetwork();
    const a = net.connect("a");
    assert.throws(() => net.connect("a"), (err) => isSwitchboardError(err, "invalid_argument"));
    assert.throws(() => net.connect(""), (err) => isSwitchboardError(err, "invalid_argument"));
    await a.close();
    const again = net.connect("a");
    assert.equal(again.connected, true);
    await again.close();
    assert.throws(() => net.disconnect("a"), (err) => isSwitchboardError(err, "invalid_argument"));
    assert.throws(() => net.reconnect("nobody"), (err) => isSwitchboardError(err, "invalid_argument"));
  });

  it("refuses bad options with invalid_argument", () => {
    assert.throws(() => new InProcessNetwork({ maxPayloadBytes: 0 }), (err) => isSwitchboardError(err, "invalid_argument"));
    assert.throws(() => new InProcessNetwork({ maxPayloadBytes: 1.5 }), (err) => isSwitchboardError(err, "invalid_argument"));
  });

  it("counts headers against maxPayloadBytes", async () => {
    const net = new InProcessNetwork({ maxPayloadBytes: 100 });
    const a = net.connect("a");
    await a.publish("s", new Uint8Array(100));
    await rejectsWith(a.publish("s", new Uint8Array(90), { key: "value" }), "limit_exceeded");
    await a.close();
  });

  it("trims header values, as NATS does", async () => {
    const net = new InProcessNetwork();
    const a = net.connect("a");
    const got: IncomingMessage[] = [];
    a.subscribe("s", (msg) => got.push(msg));
    await a.publish("s", text("x"), { k: "  v \t" });
    await turns();
    assert.deepEqual({ ...got[0]!.headers }, { k: "v" });
    await a.close();
  });

  describe("disconnect and reconnect", () => {
    it("tells listeners, once per change, synchronously", async () => {
      const net = new InProcessNetwork();
      const a = net.connect("a");
      const changes: boolean[] = [];
      a.onConnectionChange((c) => changes.push(c));
      a.onConnectionChange(() => {
        throw new Error("a listener's failure is logged, not thrown");
      });
      net.disconnect("a");
      net.disconnect("a");
      assert.equal(a.connected, false);
      net.reconnect("a");
      net.reconnect("a");
      assert.equal(a.connected, true);
      assert.deepEqual(changes, [false, true]);
      await a.close();
      assert.deepEqual(changes, [false, true, false]);
    });

    it("refuses requests and publishes of a cut-off node with unavailable", async () => {
      const net = new InProcessNetwork();
      const a = net.connect("a");
      const b = net.connect("b");
      b.subscribe("svc", (msg) => msg.respond(text("ok")));
      net.disconnect("a");
      const err = await rejectsWith(a.request("svc", text("x"), { timeoutMs: 1000 }), "unavailable");
      assert.equal(err.context.noResponders, undefined);
      await rejectsWith(a.publish("svc", text("x")), "unavailable");
      await a.close();
      await b.close();
    });

    it("drops messages for a cut-off node instead of queueing them, and its subscriptions serve nobody", async () => {
      const net = new InProcessNetwork();
      const a = net.connect("a");
      const b = net.connect("b");
      const got: string[] = [];
      a.subscribe("to-a", (msg) => {
        got.push(str(msg.data));
        msg.respond(text("ok"));
      });
      net.disconnect("a");
      await b.publish("to-a", text("lost"));
      const err = await rejectsWith(b.request("to-a", text("x"), { timeoutMs: 1000 }), "unavailable");
      assert.equal(err.context.noResponders, true);
      net.reconnect("a");
      await turns();
      await b.publish("to-a", text("after"));
      assert.equal(str((await b.request("to-a", text("req"), { timeoutMs: 1000 })).data), "ok");
      assert.deepEqual(got, ["after", "req"]);
      await a.close();
      await b.close();
    });

    it("drops a message already routed to a node that is cut off before delivery", async () => {
      const net = new InProcessNetwork();
      const a = net.connect("a");
      const b = net.connect("b");
      const got: string[] = [];
      a.subscribe("to-a", (msg) => got.push(str(msg.data)));
      await b.publish("to-a", text("in flight"));
      net.disconnect("a");
      net.reconnect("a");
      await turns();
      assert.deepEqual(got, ["in flight"]);
      await b.publish("to-a", text("routed"));
      net.disconnect("a");
      await turns();
      net.reconnect("a");
      await turns();
      assert.deepEqual(got, ["in flight"]);
      await a.close();
      await b.close();
    });

    it("lets a request in flight run to its deadline when its node is cut off", async () => {
      const clock = new ManualClock();
      const net = new InProcessNetwork({ clock });
      const a = net.connect("a");
      const b = net.connect("b");
      let respond: ((data: Uint8Array) => boolean) | undefined;
      b.subscribe("svc", (msg) => (respond = (d) => msg.respond(d)));
      let outcome: unknown;
      a.request("svc", text("x"), { timeoutMs: 1000 }).then(
        (r) => (outcome = r),
        (err: unknown) => (outcome = err),
      );
      await turns();
      net.disconnect("a");
      assert.equal(respond!(text("late")), true);
      await turns();
      net.reconnect("a");
      await clock.advance(1000);
      assert.ok(isSwitchboardError(outcome, "deadline_exceeded"));
      await a.close();
      await b.close();
    });

    it("loses the replies a cut-off responder sends", async () => {
      const clock = new ManualClock();
      const net = new InProcessNetwork({ clock });
      const a = net.connect("a");
      const b = net.connect("b");
      b.subscribe("svc", (msg) => {
        net.disconnect("b");
        msg.respond(text("lost"));
      });
      let outcome: unknown;
      a.request("svc", text("x"), { timeoutMs: 1000 }).catch((err: unknown) => (outcome = err));
      await turns();
      assert.equal(b.connected, false);
      await clock.advance(1000);
      assert.ok(isSwitchboardError(outcome, "deadline_exceeded"));
      await a.close();
      await b.close();
    });
  });

  it("rejects requests in flight with unavailable when their transport closes", async () => {
    const net = new InProcessNetwork();
    const a = net.connect("a");
    a.subscribe("svc", () => undefined);
    const pending = a.request("svc", text("x"), { timeoutMs: 60_000 });
    await turns();
    await a.close();
    await rejectsWith(pending, "unavailable");
  });

  it("logs a failing handler and carries on", async () => {
    const lines: string[] = [];
    const logger = createLogger({ nodeId: "test", level: "error", destination: { write: (line: string) => void lines.push(line) } });
    const net = new InProcessNetwork({ logger });
    const a = net.connect("a");
    a.subscribe("s", () => {
      throw new Error("boom");
    });
    await a.publish("s", text("x"));
    await turns();
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as { msg: string; subject: string; node: string; err: { message: string } };
    assert.deepEqual([line.msg, line.subject, line.node, line.err.message], ["subscription handler failed", "s", "a", "boom"]);
    await a.close();
  });
});

describe("subject matching", () => {
  it("matches as nats-server does", () => {
    const cases: [string, string, boolean][] = [
      ["a.b", "a.b", true],
      ["a.b", "a.c", false],
      ["a.*", "a.b", true],
      ["a.*", "a", false],
      ["a.*", "a.b.c", false],
      ["*.b", "a.b", true],
      ["a.>", "a.b", true],
      ["a.>", "a.b.c", true],
      ["a.>", "a", false],
      [">", "a", true],
      ["a.*.c", "a.b.c", true],
      ["a.*.>", "a.b", false],
      ["a.b*", "a.bc", false],
      ["a.b*", "a.b*", true],
    ];
    for (const [filter, subject, expected] of cases) {
      assert.equal(subjectMatches(subjectTokens(filter, "subscribe"), subjectTokens(subject, "publish")), expected, `${filter} ~ ${subject}`);
    }
  });

  it("refuses malformed subjects", () => {
    for (const bad of ["", ".a", "a.", "a..b", "a b", "a.>.b"]) {
      assert.throws(() => subjectTokens(bad, "subscribe"), (err) => isSwitchboardError(err, "invalid_argument"), bad);
      assert.throws(() => checkSubject(bad, "publish"), (err) => isSwitchboardError(err, "invalid_argument"), bad);
    }
    assert.throws(() => subjectTokens("a.*", "publish"), (err) => isSwitchboardError(err, "invalid_argument"));
    assert.throws(() => checkSubject("a.>", "publish"), (err) => isSwitchboardError(err, "invalid_argument"));
    assert.doesNotThrow(() => checkSubject("a.>", "subscribe"));
    assert.doesNotThrow(() => checkSubject("a.b*.>", "subscribe"));
  });
});

async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
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

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function str(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
