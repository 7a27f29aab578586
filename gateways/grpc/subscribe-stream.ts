import { Metadata, type ServerWritableStream } from "@grpc/grpc-js";
import type { Event, SubscribeRequest } from "../../protos/index.ts";
import { SwitchboardError, toServiceError } from "../../runtime/index.ts";
import type { Destination, Messaging, Watch } from "../shared/index.ts";

export interface SubscribeStreamOptions {
  readonly messaging: Messaging;
  /** Events that may wait for a slow client before the stream is ended with RESOURCE_EXHAUSTED. */
  readonly maxPendingEvents: number;
  readonly onInternal: (err: unknown) => void;
  /** Called once when the stream has ended, for whatever reason. */
  readonly onEnd: () => void;
}

/**
 * One `Subscribe` call: a watch of a user or a topic written to the client until it
 * cancels, the watch fails, the client falls too far behind, or the node stops.
 * Whatever ends it closes the watch once.
 */
export class SubscribeStream {
  readonly #call: ServerWritableStream<SubscribeRequest, Event>;
  readonly #options: SubscribeStreamOptions;
  #watch: Watch | undefined;
  #ended = false;

  constructor(call: ServerWritableStream<SubscribeRequest, Event>, options: SubscribeStreamOptions) {
    this.#call = call;
    this.#options = options;
    call.on("cancelled", () => this.#release());
    // A transport error on the stream: nothing can be written any more.
    call.on("error", () => this.#release());
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Starts the watch (replaying from `fromSeq` where the channel is numbered). Once it
   * is in place the response headers are sent, so a client that has seen them knows
   * that anything published afterwards reaches it. A failure ends the stream with the
   * error's status.
   */
  async start(tenant: string, to: Destination, fromSeq: number, asUser = ""): Promise<void> {
    const listener = { event: (e: Event) => this.#write(e), error: (err: unknown) => this.end(err) };
    let watch: Watch;
    try {
      watch = await this.#options.messaging.watch(tenant, to, listener, fromSeq, asUser);
    } catch (err) {
      this.end(err);
      return;
    }
    if (this.#ended) return watch.close();
    this.#watch = watch;
    this.#call.sendMetadata(new Metadata());
  }

  /** Ends the stream: OK without `err`, else with its status. Idempotent. */
  end(err?: unknown): void {
    if (this.#ended) return;
    this.#release();
    if (this.#call.cancelled) return;
    if (err === undefined) this.#call.end();
    else this.#call.emit("error", toServiceError(err, this.#options.onInternal));
  }

  #write(event: Event): void {
    if (this.#ended) return;
    if (this.#call.writableLength >= this.#options.maxPendingEvents) {
      this.end(new SwitchboardError("limit_exceeded", `the subscriber is too slow: ${this.#call.writableLength} events are waiting to be sent; subscribe again with from_seq to resume`));
      return;
    }
    this.#call.write(event);
  }

  #release(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#watch?.close();
    this.#options.onEnd();
  }
}
