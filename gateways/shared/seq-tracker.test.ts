import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Message } from "../../protos/index.ts";
import { SeqTracker, type SeqPage } from "./seq-tracker.ts";

function msg(seq: number): Message {
  return { ...Message.fromPartial({}), seq, id: `m${seq}` };
}

/** A channel holding `seqs` (absent ones were dropped), read in pages of `pageSize`. */
function channel(seqs: number[], pageSize = 2) {
  const reads: number[] = [];
  return {
    reads,
    seqs,
    fetch: async (from: number): Promise<SeqPage> => {
      reads.push(from);
      await new Promise((r) => setImmediate(r));
      const messages = seqs.filter((s) => s >= from).slice(0, pageSize).map(msg);
      return { messages, lastSeq: Math.max(0, ...seqs) };
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe("SeqTracker", () => {
  it("delivers live messages in order, each once, dropping repeats and old ones", async () => {
    const ch = channel([1, 2, 3]);
    const got: number[] = [];
    const t = new SeqTracker({ cursor: 0, fetch: ch.fetch, deliver: (m) => got.push(m.seq) });
    for (const s of [1, 1, 2, 3, 2]) t.offer(msg(s));
    await settle();
    assert.deepEqual(got, [1, 2, 3]);
    assert.deepEqual(ch.reads, [], "nothing was missing, nothing was fetched");
  });

  it("holds a message that comes early and fetches the gap before it", async () => {
    const ch = channel([1, 2, 3, 4, 5]);
    const got: number[] = [];
    const t = new SeqTracker({ cursor: 1, fetch: ch.fetch, deliver: (m) => got.push(m.seq) });
    t.offer(msg(5));
    t.offer(msg(4));
    await settle();
    assert.deepEqual(got, [2, 3, 4, 5]);
    assert.equal(t.cursor, 5);
  });

  it("catches up to a head, across pages, when the last live message was lost", async () => {
    const ch = channel([1, 2, 3, 4, 5, 6, 7]);
    const got: number[] = [];
    const t = new SeqTracker({ cursor: 2, fetch: ch.fetch, deliver: (m) => got.push(m.seq) });
    t.head(7);
    await settle();
    assert.deepEqual(got, [3, 4, 5, 6, 7]);
    assert.deepEqual(ch.reads, [3, 5, 7]);
  });

  it("skips what the channel dropped instead of waiting for it", async () => {
    const ch = channel([5, 6]);
    const got: number[] = [];
    const t = new SeqTracker({ cursor: 1, fetch: ch.fetch, deliver: (m) => got.push(m.seq) });
    t.offer(msg(6));
    await settle();
    assert.deepEqual(got, [5, 6]);
  });

  it("a head past the end of a channel that lost everything leaves nothing waiting", async () => {
    const ch = channel([]);
    const t = new SeqTracker({ cursor: 0, fetch: ch.fetch, deliver: () => assert.fail("nothing to deliver") });
    t.head(3);
    await settle();
    assert.equal(ch.reads.length, 1);
  });

  it("retries a failed fetch, and stops for good once closed", async () => {
    let fail = 2;
    const got: number[] = [];
    const errors: unknown[] = [];
    const t = new SeqTracker({
      cursor: 0,
      retryMs: 1,
      fetch: async (from) => {
        if (fail-- > 0) throw new Error("node gone");
        return { messages: [msg(from)], lastSeq: 1 };
      },
      deliver: (m) => got.push(m.seq),
      onError: (e) => errors.push(e),
    });
    t.head(1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, [1]);
    assert.equal(errors.length, 2);
    t.close();
    t.offer(msg(2));
    assert.deepEqual(got, [1]);
  });
});
