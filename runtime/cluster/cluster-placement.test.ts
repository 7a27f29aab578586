import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ActorMessage } from "../actor/actor-message.ts";
import { systemClock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import { createLogger } from "../telemetry/logger.ts";
import { ClusterPlacement } from "./cluster-placement.ts";
import type { Transport } from "./transport.ts";

function message(kind: "call" | "send"): ActorMessage {
  return {
    kind,
    target: "account/t:a1",
    method: "balance",
    arg: undefined,
    messageId: "m-1",
    deadlineMs: Date.now() + 5000,
    callChain: [],
    sender: undefined,
    traceparent: undefined,
    tracestate: undefined,
    settle: undefined,
  };
}

describe("ClusterPlacement.forward", () => {
  it("hands a retry to this node once the partition has come here, instead of sending it again", async () => {
    let owned = false;
    let requests = 0;
    const transport = {
      request: async () => {
        requests++;
        owned = true; // the partition arrives while the first attempt finds nobody
        throw new SwitchboardError("unavailable", "no responders", { context: { noResponders: true } });
      },
    } as unknown as Transport;
    const handedBack: ActorMessage[] = [];
    const placement = new ClusterPlacement({
      transport,
      subjectPrefix: "sb.t",
      partitions: 8,
      owns: () => owned,
      local: async (msg) => (handedBack.push(msg), 42),
      clock: systemClock,
      logger: createLogger({ nodeId: "t", level: "silent" }),
    });
    assert.equal(await placement.forward(message("call")), 42);
    assert.equal(requests, 1);
    assert.deepEqual(handedBack.map((m) => m.messageId), ["m-1"], "the same message, with its id, handed to the local runtime");
  });
});
