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
  /**
   * Hands a message to this node's runtime, for a retry that finds the partition has
   * come here meanwhile; resolves as `forward` does. Without it such a retry still goes
   * over the transport, which a transport with echo off never brings back here.
   */
  readonly local?: (message: ActorMessage) => Promise<unknown>;
  /**
   * How long one attempt waits for its answer before it is sent again (same message
   * id) within the call's deadline; default 2,000 ms. A node that dies with the
   * message in hand never answers, and this is what lets the call reach the new owner.
   */
  readonly attemptTimeoutMs?: number;
}

export const messageIdHeader = "Sb-Message-Id";

/**
 * Placement over partitions: an actor lives on the node that serves its partition's
 * subject, so the transport's routing is the directory. A message for a partition in
 * hand-over finds no responder (or a node that no longer owns it) and is retried with
 * backoff until its deadline. An attempt unanswered after `attemptTimeoutMs` (its node
 * may have died holding it) is sent again. Every retry reuses the message id: the
 * receiving activation joins a repeat to the original while that is still queued or
 * running, and a type with `dedupe` never applies it twice, so delivery is at least
 * once and, with `dedupe`, exactly once.
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
    const partition = this.partitionOf(msg.target);
    const subject = partitionSubject(this.#o.subjectPrefix, partition);
    const deadline = msg.deadlineMs !== 0 ? msg.deadlineMs : this.#o.clock.now() + (this.#o.sendTimeoutMs ?? 30_000);
    // Read fields, never spread: a message may compute some of them lazily.
    const bytes = encodeEnvelope(msg, deadline);
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
      if (attempt > 1 && this.#o.local !== undefined && this.#o.owns(partition)) return this.#o.local(msg);
      const attemptMs = Math.min(remaining, this.#o.attemptTimeoutMs ?? 2000);
      try {
        const reply = await this.#o.transport.request(subject, bytes, { timeoutMs: attemptMs, headers });
        return decodeReply(reply.data);
      } catch (err) {
        if (isSwitchboardError(err, "deadline_exceeded") && attemptMs < remaining) continue;
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
    let msg: ActorMessage;
    try {
      msg = decodeEnvelope(incoming.data, (err, result) => {
        incoming.respond(err ? encodeFaultReply(msg.messageId, err) : encodeResultReply(msg.messageId, result === undefined ? undefined : JSON.stringify(result)));
      });
    } catch (err) {
      // Not an envelope: answer under the id the headers carry, if any.
      incoming.respond(encodeFaultReply(incoming.headers[messageIdHeader] ?? "", err));
      return;
    }
    try {
      accept(msg);
      if (msg.kind === "send") incoming.respond(encodeResultReply(msg.messageId, undefined));
    } catch (err) {
      incoming.respond(encodeFaultReply(msg.messageId, err));
    }
  }
}
