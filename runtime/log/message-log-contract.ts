import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { isSwitchboardError } from "../errors.ts";
import type { ErrorCode } from "../errors.ts";
import type { LogEntry, MessageLog, RetentionPolicy } from "./message-log.ts";

export interface MessageLogFactoryOptions {
  readonly retention?: RetentionPolicy;
  /** Always a `ManualClock`; the log must take all its time from it. */
  readonly clock: Clock;
}

export interface MessageLogUnderTest {
  readonly log: MessageLog;
  /** Closes the log if it is still open and removes whatever it stored. */
  cleanup(): Promise<void>;
}

/** Makes a fresh, empty log; rejects as the implementation does for bad options. */
export type MakeMessageLog = (options: MessageLogFactoryOptions) => Promise<MessageLogUnderTest>;

const newest = Number.MAX_SAFE_INTEGER;
const utf8 = new TextEncoder();
const text = (s: string): Uint8Array => utf8.encode(s);
const textOf = (e: LogEntry): string => new TextDecoder().decode(e.data);
const seqsOf = (entries: readonly LogEntry[]): number[] => entries.map((e) => e.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err) => isSwitchboardError(err, code), `expected ${code}`);
}

/**
 * The one suite every `MessageLog` runs (STYLE.md §5). It sees a log only through the
 * interface, so a remote backend can run it unchanged.
 */
export function describeMessageLog(name: string, make: MakeMessageLog): void {
  async function withLog(
    retention: RetentionPolicy | undefined,
    test: (log: MessageLog, clock: ManualClock) => Promise<void>,
  ): Promise<void> {
    const clock = new ManualClock();
    const { log, cleanup } = await make({ retention, clock });
    try {
      await test(log, clock);
    } finally {
      await cleanup();
    }
  }

  async function appendAll(log: MessageLog, stream: string, count: number): Promise<void> {
    for (let i = 1; i <= count; i++) await log.append(stream, text(`${stream}#${i}`));
  }

  describe(`MessageLog contract: ${name}`, () => {
    it("numbers a stream from 1, consecutively", () =>
      withLog(undefined, async (log) => {
        assert.deepEqual(await log.info("s"), { firstSeq: 1, lastSeq: 0, count: 0 });
        assert.deepEqual(await log.read("s", 1, 10), []);
        assert.equal(await log.append("s", text("a")), 1);
        assert.equal(await log.append("s", text("b")), 2);
        assert.equal(await log.append("s", text("c")), 3);
        assert.deepEqual(await log.info("s"), { firstSeq: 1, lastSeq: 3, count: 3 });
        const entries = await log.read("s", 1, 10);
        assert.deepEqual(seqsOf(entries), [1, 2, 3]);
        assert.deepEqual(entries.map(textOf), ["a", "b", "c"]);
      }));

    it("gives concurrent appends distinct consecutive seqs in call order", () =>
      withLog(undefined, async (log) => {
        const seqs = await Promise.all(range(0, 199).map((i) => log.append("hot", text(`m${i}`))));
        assert.deepEqual(seqs, range(1, 200));
        const entries = await log.read("hot", 1, 1000);
        assert.deepEqual(seqsOf(entries), range(1, 200));
        assert.deepEqual(entries.map(textOf), range(0, 199).map((i) => `m${i}`));
      }));

    it("reads a window from a seq, up to a limit", () =>
      withLog(undefined, async (log) => {
        await appendAll(log, "s", 10);
        assert.deepEqual(seqsOf(await log.read("s", 3, 4)), [3, 4, 5, 6]);
        assert.deepEqual(seqsOf(await log.read("s", 0, 2)), [1, 2]);
        assert.deepEqual(seqsOf(await log.read("s", 9, 5)), [9, 10]);
        assert.deepEqual(seqsOf(await log.read("s", 1, 1000)), range(1, 10));
        assert.deepEqual(await log.read("s", 11, 5), []);
        assert.deepEqual(await log.read("s", newest, 5), []);
        assert.equal(textOf((await log.read("s", 7, 1))[0]!), "s#7");
      }));

    it("pages backwards through a whole stream with readBefore", () =>
      withLog(undefined, async (log) => {
        await appendAll(log, "s", 23);
        const seen: number[] = [];
        let before = newest;
        for (;;) {
          const page = await log.readBefore("s", before, 5);
          if (page.length === 0) break;
          assert.ok(page.length <= 5);
          assert.deepEqual(seqsOf(page), range(page[0]!.seq, page[0]!.seq + page.length - 1), "ascending, no gap");
          seen.unshift(...seqsOf(page));
          before = page[0]!.seq;
        }
        assert.deepEqual(seen, range(1, 23));
        assert.deepEqual(seqsOf(await log.readBefore("s", 4, 10)), [1, 2, 3]);
        assert.deepEqual(seqsOf(await log.readBefore("s", 24, 2)), [22, 23]);
        assert.deepEqual(await log.readBefore("s", 1, 5), []);
        assert.deepEqual(await log.readBefore("s", 0, 5), []);
        assert.deepEqual(await log.readBefore("never", newest, 5), []);
      }));

    it("keeps streams independent, whatever their names", () =>
      withLog(undefined, async (log) => {
        const names = ["inbox/acme:alice", "inbox/acme:bob", "a", "a\u0000", "a\u0000b"];
        names.push("t.a.>", "t.*", "a b", "é/ü:漢字", "🙂");
        for (let round = 1; round <= 3; round++) {
          for (const [i, stream] of names.entries()) {
            if (round <= (i % 3) + 1) assert.equal(await log.append(stream, text(`${stream}#${round}`)), round);
          }
        }
        await log.truncate("a", 10);
        for (const [i, stream] of names.entries()) {
          const count = (i % 3) + 1;
          if (stream === "a") {
            assert.deepEqual(await log.info(stream), { firstSeq: count + 1, lastSeq: count, count: 0 });
            continue;
          }
          assert.deepEqual(await log.info(stream), { firstSeq: 1, lastSeq: count, count });
          const entries = await log.read(stream, 1, 10);
          assert.deepEqual(entries.map(textOf), range(1, count).map((n) => `${stream}#${n}`));
        }
      }));

    it("reads long pages of streams whose appends interleave, after a truncation", () =>
      withLog(undefined, async (log) => {
        for (let i = 1; i <= 60; i++) {
          await log.append("long/a", text(`a${i}`));
          if (i % 3 === 0) await log.append("long/b", text(`b${i / 3}`));
        }
        await log.truncate("long/a", 5);
        assert.deepEqual((await log.read("long/a", 1, 40)).map(textOf), range(6, 45).map((n) => `a${n}`));
        assert.deepEqual((await log.read("long/a", 50, 40)).map(textOf), range(50, 60).map((n) => `a${n}`));
        assert.deepEqual((await log.readBefore("long/a", 61, 30)).map(textOf), range(31, 60).map((n) => `a${n}`));
        assert.deepEqual((await log.read("long/b", 1, 100)).map(textOf), range(1, 20).map((n) => `b${n}`));
      }));

    it("keeps only the newest maxEntries per stream", () =>
      withLog({ maxEntries: 5 }, async (log) => {
        await appendAll(log, "s", 12);
        await appendAll(log, "other", 3);
        assert.deepEqual(seqsOf(await log.read("s", 1, 100)), range(8, 12));
        assert.deepEqual(seqsOf(await log.read("s", 1, 2)), [8, 9]);
        assert.deepEqual(await log.info("s"), { firstSeq: 8, lastSeq: 12, count: 5 });
        assert.deepEqual(seqsOf(await log.readBefore("s", newest, 100)), range(8, 12));
        assert.deepEqual(await log.readBefore("s", 8, 10), []);
        assert.deepEqual(await log.info("other"), { firstSeq: 1, lastSeq: 3, count: 3 });
        assert.equal(await log.append("s", text("13")), 13);
        assert.deepEqual(seqsOf(await log.read("s", 1, 100)), range(9, 13));
      }));

    it("hides entries once they are maxAgeMs old by the log's clock", () =>
      withLog({ maxAgeMs: 1000 }, async (log, clock) => {
        await appendAll(log, "s", 2);
        await clock.advance(600);
        await log.append("s", text("s#3"));
        await clock.advance(399);
        assert.deepEqual(seqsOf(await log.read("s", 1, 10)), [1, 2, 3]);
        await clock.advance(1);
        assert.deepEqual(seqsOf(await log.read("s", 1, 10)), [3]);
        assert.deepEqual(seqsOf(await log.readBefore("s", newest, 10)), [3]);
        assert.deepEqual(await log.info("s"), { firstSeq: 3, lastSeq: 3, count: 1 });
        await clock.advance(600);
        assert.deepEqual(await log.read("s", 1, 10), []);
        assert.deepEqual(await log.readBefore("s", newest, 10), []);
        assert.deepEqual(await log.info("s"), { firstSeq: 4, lastSeq: 3, count: 0 });
        await clock.advance(10 * 60_000);
        assert.equal(await log.append("s", text("s#4")), 4);
        const [entry] = await log.read("s", 1, 10);
        assert.deepEqual({ seq: entry?.seq, timestampMs: entry?.timestampMs }, { seq: 4, timestampMs: clock.now() });
      }));

    it("applies count and age retention together", () =>
      withLog({ maxEntries: 3, maxAgeMs: 1000 }, async (log, clock) => {
        await appendAll(log, "s", 5);
        assert.deepEqual(await log.info("s"), { firstSeq: 3, lastSeq: 5, count: 3 });
        await clock.advance(500);
        await log.append("s", text("s#6"));
        await clock.advance(500);
        assert.deepEqual(await log.info("s"), { firstSeq: 6, lastSeq: 6, count: 1 });
      }));

    it("truncates through a seq without reusing seqs", () =>
      withLog(undefined, async (log) => {
        await appendAll(log, "s", 5);
        await log.truncate("s", 3);
        assert.deepEqual(seqsOf(await log.read("s", 1, 10)), [4, 5]);
        assert.deepEqual(await log.info("s"), { firstSeq: 4, lastSeq: 5, count: 2 });
        assert.equal(await log.append("s", text("s#6")), 6);
        assert.deepEqual(seqsOf(await log.readBefore("s", newest, 10)), [4, 5, 6]);
        await log.truncate("s", 100);
        assert.deepEqual(await log.info("s"), { firstSeq: 7, lastSeq: 6, count: 0 });
        assert.deepEqual(await log.read("s", 1, 10), []);
        assert.equal(await log.append("s", text("s#7")), 7);
        assert.deepEqual(seqsOf(await log.read("s", 1, 10)), [7]);
      }));

    it("truncates idempotently", () =>
      withLog(undefined, async (log) => {
        await appendAll(log, "s", 5);
        await log.truncate("s", 3);
        await log.truncate("s", 3);
        await log.truncate("s", 2);
        await log.truncate("s", 0);
        assert.deepEqual(await log.info("s"), { firstSeq: 4, lastSeq: 5, count: 2 });
        await log.truncate("never", 10);
        assert.deepEqual(await log.info("never"), { firstSeq: 1, lastSeq: 0, count: 0 });
        assert.equal(await log.append("never", text("x")), 1);
      }));

    it("returns the bytes exactly as appended", () =>
      withLog(undefined, async (log) => {
        const backing = Uint8Array.from(range(0, 15));
        let x = 1;
        const payloads = [
          new Uint8Array(0),
          Uint8Array.from(range(0, 255)),
          Buffer.from("héllo\u0000wörld"),
          new Uint8Array(backing.buffer, 3, 5),
          Uint8Array.from({ length: 64 * 1024 }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24),
        ];
        for (const p of payloads) await log.append("bin", p);
        const entries = await log.read("bin", 1, 10);
        assert.equal(entries.length, payloads.length);
        for (const [i, p] of payloads.entries()) assert.deepEqual(entries[i]!.data, Uint8Array.from(p));
      }));

    it("copies data in and out, so callers cannot change the log", () =>
      withLog(undefined, async (log) => {
        const data = text("abc");
        const pending = log.append("s", data);
        data[0] = 0x7a;
        await pending;
        const [first] = await log.read("s", 1, 1);
        first!.data[1] = 0x7a;
        assert.equal(textOf((await log.read("s", 1, 1))[0]!), "abc");
      }));

    it("stamps entries with the log's clock", () =>
      withLog(undefined, async (log, clock) => {
        const start = clock.now();
        await log.append("s", text("a"));
        await clock.advance(250);
        await log.append("s", text("b"));
        const entries = await log.read("s", 1, 10);
        assert.deepEqual(
          entries.map((e) => e.timestampMs),
          [start, start + 250],
        );
      }));

    it("refuses invalid arguments with invalid_argument", () =>
      withLog(undefined, async (log) => {
        const notBytes = "abc" as unknown as Uint8Array;
        for (const stream of ["", "\uD800", 42 as unknown as string]) {
          await rejectsWith(log.append(stream, text("x")), "invalid_argument");
          await rejectsWith(log.read(stream, 1, 1), "invalid_argument");
          await rejectsWith(log.readBefore(stream, newest, 1), "invalid_argument");
          await rejectsWith(log.info(stream), "invalid_argument");
          await rejectsWith(log.truncate(stream, 1), "invalid_argument");
        }
        for (const limit of [0, -1, 1.5, Number.NaN, Infinity]) {
          await rejectsWith(log.read("s", 1, limit), "invalid_argument");
          await rejectsWith(log.readBefore("s", newest, limit), "invalid_argument");
        }
        for (const seq of [-1, 1.5, Number.NaN, Infinity]) {
          await rejectsWith(log.read("s", seq, 1), "invalid_argument");
          await rejectsWith(log.readBefore("s", seq, 1), "invalid_argument");
          await rejectsWith(log.truncate("s", seq), "invalid_argument");
        }
        await rejectsWith(log.append("s", notBytes), "invalid_argument");
        await rejectsWith(log.append("s", undefined as unknown as Uint8Array), "invalid_argument");
        assert.deepEqual(await log.info("s"), { firstSeq: 1, lastSeq: 0, count: 0 });
      }));

    it("refuses an invalid retention policy with invalid_argument", async () => {
      const clock = new ManualClock();
      for (const retention of [{ maxEntries: 0 }, { maxEntries: 2.5 }, { maxAgeMs: 0 }, { maxAgeMs: -5 }]) {
        await rejectsWith(make({ retention, clock }), "invalid_argument");
      }
    });

    it("refuses operations once closed and leaves no timers behind", () =>
      withLog({ maxEntries: 10, maxAgeMs: 1000 }, async (log, clock) => {
        const started = [log.append("s", text("a")), log.append("s", text("b"))];
        await log.close();
        assert.deepEqual(await Promise.all(started), [1, 2], "operations started before close finish");
        await log.close();
        assert.equal(clock.pendingTimers, 0);
        await rejectsWith(log.append("s", text("b")), "unavailable");
        await rejectsWith(log.read("s", 1, 1), "unavailable");
        await rejectsWith(log.info("s"), "unavailable");
      }));
  });
}
