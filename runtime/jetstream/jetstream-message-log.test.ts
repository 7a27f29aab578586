import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jetStreamPerFile } from "../../test/support/jetstream-fixture.ts";
import { ManualClock } from "../clock.ts";
import { isSwitchboardError } from "../errors.ts";
import { describeMessageLog } from "../log/message-log-contract.ts";
import { createJetStreamMessageLog } from "./jetstream-message-log.ts";
import type { JetStreamMessageLogOptions } from "./jetstream-message-log.ts";

const js = jetStreamPerFile();
let streams = 0;

function fresh(): { stream: string; subjectPrefix: string } {
  const n = ++streams;
  return { stream: `LOG_${n}`, subjectPrefix: `log${n}` };
}

async function dropStream(stream: string): Promise<void> {
  await js.jsm.streams.delete(stream).catch(() => undefined);
}

describeMessageLog("JetStreamMessageLog", async (options) => {
  const names = fresh();
  const log = await createJetStreamMessageLog(js.nc, { ...options, ...names });
  return {
    log,
    async cleanup() {
      await log.close();
      await dropStream(names.stream);
    },
  };
});

describe("JetStreamMessageLog on JetStream", () => {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);

  async function withLogs(
    count: number,
    options: Omit<JetStreamMessageLogOptions, "stream" | "subjectPrefix">,
    test: (...logs: Awaited<ReturnType<typeof createJetStreamMessageLog>>[]) => Promise<void>,
  ): Promise<void> {
    const names = fresh();
    const logs = [];
    try {
      for (let i = 0; i < count; i++) logs.push(await createJetStreamMessageLog(js.nc, { ...options, ...names }));
      await test(...logs);
    } finally {
      for (const log of logs) await log.close();
      await dropStream(names.stream);
    }
  }

  it("numbers one stream consecutively across logs sharing a JetStream stream", () =>
    withLogs(3, {}, async (a, b, c) => {
      const logs = [a!, b!, c!];
      const seqs = await Promise.all(Array.from({ length: 60 }, (_, i) => logs[i % 3]!.append("s", text(`m${i}`))));
      assert.deepEqual([...seqs].sort((x, y) => x - y), Array.from({ length: 60 }, (_, i) => i + 1));
      await b!.truncate("s", 60);
      assert.equal(await c!.append("s", text("after")), 61);
      assert.deepEqual(await a!.info("s"), { firstSeq: 61, lastSeq: 61, count: 1 });
    }));

  it("finds seqs among many other streams' messages", () =>
    withLogs(1, {}, async (log) => {
      for (let i = 1; i <= 40; i++) {
        await log!.append("sparse", text(`s${i}`));
        for (let j = 0; j < (i * 7) % 11; j++) await log!.append(`noise${j}`, text("x"));
      }
      for (const from of [1, 2, 17, 39, 40]) {
        const entries = await log!.read("sparse", from, 3);
        assert.deepEqual(
          entries.map((e) => new TextDecoder().decode(e.data)),
          Array.from({ length: Math.min(3, 41 - from) }, (_, i) => `s${from + i}`),
        );
      }
      await log!.truncate("sparse", 25);
      assert.deepEqual(await log!.info("sparse"), { firstSeq: 26, lastSeq: 40, count: 15 });
      assert.deepEqual((await log!.readBefore("sparse", 30, 2)).map((e) => e.seq), [28, 29]);
    }));

  it("reclaims expired entries in the background, keeping the numbering", async () => {
    const clock = new ManualClock();
    await withLogs(1, { clock, retention: { maxAgeMs: 1000 }, sweepIntervalMs: 500 }, async (log) => {
      for (let i = 0; i < 5; i++) await log!.append("idle", text(`i${i}`));
      await clock.advance(1500);
      const stream = log!.stream;
      for (let tries = 0; (await js.jsm.streams.info(stream)).state.messages !== 1; tries++) {
        assert.ok(tries < 200, "the sweep leaves only the mark");
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(await log!.info("idle"), { firstSeq: 6, lastSeq: 5, count: 0 });
      assert.equal(await log!.append("idle", text("i5")), 6);
    });
  });

  it("refuses data beyond the server's max payload with limit_exceeded", () =>
    withLogs(1, {}, async (log) => {
      const big = new Uint8Array(js.nc.info!.max_payload);
      await assert.rejects(log!.append("s", big), (e) => isSwitchboardError(e, "limit_exceeded"));
    }));

  it("refuses a JetStream stream of the same name with other subjects", async () => {
    const names = fresh();
    await js.jsm.streams.add({ name: names.stream, subjects: ["elsewhere.>"] });
    try {
      await assert.rejects(createJetStreamMessageLog(js.nc, names), (e) => isSwitchboardError(e, "invalid_argument"));
    } finally {
      await dropStream(names.stream);
    }
  });
});
