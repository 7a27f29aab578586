import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QueueAcks } from "./queue-acks.ts";

describe("QueueAcks", () => {
  it("moves the cumulative acknowledgement only over a settled prefix", () => {
    const a = new QueueAcks();
    for (const seq of [3, 4, 5, 8]) a.sent(seq); // 6 and 7 were dropped by the queue
    assert.equal(a.settle(5), undefined, "3 and 4 are still out");
    assert.equal(a.settle(3), 3);
    assert.equal(a.settle(4), 5, "4 and the 5 settled before");
    assert.equal(a.settle(8), 8, "across the gap");
    assert.equal(a.settle(8), undefined, "once");
    assert.equal(a.settle(42), undefined, "never sent");
  });

  it("a message sent again (after a reconnect) is one entry", () => {
    const a = new QueueAcks();
    a.sent(1);
    a.sent(1);
    a.sent(2);
    assert.equal(a.settle(1), 1);
    assert.equal(a.settle(2), 2);
  });
});
