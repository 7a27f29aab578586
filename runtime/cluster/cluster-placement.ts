import type { ActorMessage } from "../actor/actor-message.ts";
import { decodeEnvelope, encodeEnvelope } from "../actor/envelope-codec.ts";
import type { Placement } from "../actor/placement.ts";
import type { Clock } from "../clock.ts";
import { isSwitchboardError, SwitchboardError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import { partitionOf, partitionSubject } from "./partitioner.ts";
import { decodeReply, encodeFaultReply, encodeResultReply } from "./reply-codec.ts";
import type { IncomingMessage, Transport } from "./transport.ts";

/** What the placement hands inbound messages to: the runtime's `acceptRemote`. */
export type AcceptRemote = (message: ActorMessage) => void;

export interface ClusterPlacementOptions {
  readonly transport: Transport;
  readonly subjectPrefix: string;
  readonly partitions: number;
  readonly owns: (partition: number) => boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Deadline of a forwarded one-way message, which has none of its own; default 30,000 ms. */
  readonly sendTimeoutMs?: number;
}

export const messageIdHeader = "Sb-Message-Id";

/**
 * Placement over partitions: an actor lives on the node that serves its partition's
 * subject, so the transport's routing is the directory. A message for a partition in
 * hand-over finds no responder (or a node that no longer owns it) and is retried with
 * backoff until its deadline; retries reuse the message id, so a type with `dedupe`
 * applies it once.
 */
export class ClusterPlacement implements Placement {
  readonly #o: ClusterPlacementOptions;

  constructor(options: ClusterPlacementOptions) {
    this.#o = options;
  }

  partitionOf(actorId: string): number {
    return partitionOf(actorId, this.#o.partitions);
  }

  isLocal(actorId: string): boolean {
    return this.#o.owns(this.partitionOf(actorId));
  }

  async forward(msg: ActorMessage): Promise<unknown> {
    const subject = partitionSubject(this.#o.subjectPrefix, this.partitionOf(msg.target));
    const deadline = msg.deadlineMs !== 0 ? msg.deadlineMs : this.#o.clock.now() + (this.#o.sendTimeoutMs ?? 30_000);
    const bytes = encodeEnvelope({ ...msg, deadlineMs: deadline });
    const headers: Record<string, string> = { [messageIdHeader]: msg.messageId };
    if (msg.traceparent) headers.traceparent = msg.traceparent;
    if (msg.tracestate) headers.tracestate = msg.tracestate;
    let backoffMs = 5;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - this.#o.clock.now();
      if (remaining <= 0) {
        throw new SwitchboardError("deadline_exceeded", `${msg.target}.${msg.method} did not answer before its deadline (${attempt - 1} attempts)`, {
          context: { actorId: msg.target, method: msg.method },
        });
      }
      try {
        const reply = await this.#o.transport.request(subject, bytes, { timeoutMs: remaining, headers });
        return decodeReply(reply.data);
      } catch (err) {
        // Nobody serves the partition (hand-over, failover) or the node that answered no
        // longer owns it: try again shortly. Anything else is the answer.
        if (!isSwitchboardError(err) || (err.code !== "unavailable" && err.code !== "shutting_down")) {
          if (isSwitchboardError(err, "deadline_exceeded")) {
            throw new SwitchboardError("deadline_exceeded", `${msg.target}.${msg.method} did not answer before its deadline`, { context: { actorId: msg.target, method: msg.method }, cause: err });
          }
          throw err;
        }
        await new Promise<void>((r) => this.#o.clock.setTimer(r, Math.min(backoffMs, Math.max(1, deadline - this.#o.clock.now()))));
        backoffMs = Math.min(backoffMs * 2, 200);
      }
    }
  }

  /** Handles one inbound request on a partition subject: decode, hand to the runtime, answer. */
  handle(incoming: IncomingMessage, accept: AcceptRemote): void {
    let messageId = incoming.headers[messageIdHeader] ?? "";
    try {
      const msg = decodeEnvelope(incoming.data, (err, result) => {
        incoming.respond(err ? encodeFaultReply(messageId, err) : encodeResultReply(messageId, result === undefined ? undefined : JSON.stringify(result)));
      });
      messageId = msg.messageId;
      accept(msg);
      if (msg.kind === "send") incoming.respond(encodeResultReply(messageId, undefined));
    } catch (err) {
      incoming.respond(encodeFaultReply(messageId, err));
    }
  }
}
