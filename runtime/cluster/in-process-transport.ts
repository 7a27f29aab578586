import { systemClock, type Clock, type TimerHandle } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import { runGuarded } from "./run-guarded.ts";
import { hasWildcard, subjectMatches, subjectTokens } from "./subject-match.ts";
import {
  checkData,
  checkPayloadSize,
  checkQueue,
  checkTimeout,
  defaultMaxPayloadBytes,
  normalizeHeaders,
  payloadBytes,
} from "./transport-checks.ts";
import type { Headers, IncomingMessage, RequestOptions, Transport, TransportMessage, TransportSubscription } from "./transport.ts";

export interface InProcessNetworkOptions {
  /** Times request deadlines. Default `systemClock`. */
  readonly clock?: Clock;
  /** Picks which member of a queue group gets a message: returns a number in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Largest message, data plus encoded headers, in bytes. Default 1 MiB, nats-server's default `max_payload`. */
  readonly maxPayloadBytes?: number;
  /** Where a throwing handler or connection listener is reported. Default a silent logger. */
  readonly logger?: Logger;
}

/**
 * Several nodes in one process, with NATS semantics (see `Transport`): subjects and
 * wildcards, queue groups (one member, chosen at random, gets each message), requests
 * delivered to every matching subscriber with the first reply winning, and "no
 * responders" at once when nobody serves a subject.
 *
 * Delivery is asynchronous, in order per sender and subscription: handlers run from a
 * `setImmediate`, never inside `publish`, `request` or `respond`. Every receiver gets
 * its own copy of the bytes, taken when the message is sent.
 *
 * `disconnect(nodeId)` cuts a node off as losing its NATS connection would: it is told
 * through `onConnectionChange`, its `request` and `publish` reject with `unavailable`,
 * nothing is delivered to it (messages sent meanwhile are lost, not queued), its
 * subscriptions do not count as responders, and replies it sends are lost.
 * `reconnect(nodeId)` restores it with its subscriptions, as the NATS client
 * re-subscribes. A request in flight when its node is cut off ends at its deadline.
 */
export class InProcessNetwork {
  readonly #fabric: Fabric;

  constructor(options: InProcessNetworkOptions = {}) {
    this.#fabric = new Fabric(resolveOptions(options));
  }

  /**
   * A transport for `nodeId`. With `echo: false` its own publishes and requests never
   * reach its own subscriptions (NATS's `no_echo`). Throws `invalid_argument` if that
   * node is already connected and not closed.
   */
  connect(nodeId: string, options: { echo?: boolean } = {}): InProcessTransport {
    if (typeof nodeId !== "string" || nodeId.length === 0) {
      throw new SwitchboardError("invalid_argument", "a node id is a non-empty string", { context: { nodeId } });
    }
    if (this.#fabric.links.has(nodeId)) {
      throw new SwitchboardError("invalid_argument", `node ${nodeId} is already on this network`, { context: { nodeId } });
    }
    const link: Link = { nodeId, echo: options.echo ?? true, state: "connected", listeners: new Set(), subs: new Set(), pending: new Set() };
    this.#fabric.links.set(nodeId, link);
    return new InProcessTransport(this.#fabric, link);
  }

  /** Cuts `nodeId` off (see the class comment). Idempotent; throws `invalid_argument` for a node not on the network. */
  disconnect(nodeId: string): void {
    const link = this.#link(nodeId);
    if (link.state === "connected") this.#fabric.setState(link, "disconnected");
  }

  /** Brings `nodeId` back with its subscriptions. Idempotent; throws `invalid_argument` for a node not on the network. */
  reconnect(nodeId: string): void {
    const link = this.#link(nodeId);
    if (link.state === "disconnected") this.#fabric.setState(link, "connected");
  }

  #link(nodeId: string): Link {
    const link = this.#fabric.links.get(nodeId);
    if (link === undefined) {
      throw new SwitchboardError("invalid_argument", `node ${nodeId} is not on this network`, { context: { nodeId } });
    }
    return link;
  }
}

/** One node's end of an `InProcessNetwork`; made by `InProcessNetwork.connect`. */
export class InProcessTransport implements Transport {
  readonly #fabric: Fabric;
  readonly #link: Link;

  /** Use `InProcessNetwork.connect`. */
  constructor(fabric: Fabric, link: Link) {
    this.#fabric = fabric;
    this.#link = link;
  }

  get nodeId(): string {
    return this.#link.nodeId;
  }

  get connected(): boolean {
    return this.#link.state === "connected";
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<TransportMessage> {
    const fabric = this.#fabric;
    const link = this.#link;
    const tokens = subjectTokens(subject, "publish");
    checkData(data, subject);
    checkTimeout(options?.timeoutMs, subject);
    const headers = normalizeHeaders(options.headers, subject);
    checkPayloadSize(payloadBytes(data, headers), fabric.maxPayloadBytes, subject);
    this.#checkConnected(subject);
    const targets = fabric.route(subject, tokens, link);
    if (targets.length === 0) {
      throw new SwitchboardError("unavailable", `no responders for ${subject}`, { context: { subject, noResponders: true } });
    }
    const reply = fabric.nextInbox();
    return new Promise<TransportMessage>((resolve, reject) => {
      const pending: PendingRequest = {
        settled: false,
        fail: (err) => finish(() => reject(err)),
        timer: undefined,
      };
      const finish = (then: () => void) => {
        if (pending.settled) return;
        pending.settled = true;
        pending.timer?.cancel();
        link.pending.delete(pending);
        then();
      };
      const respondFrom =
        (responder: Link) =>
        (replyData: Uint8Array, replyHeaders?: Headers): boolean => {
          checkData(replyData, reply);
          const h = normalizeHeaders(replyHeaders, reply);
          checkPayloadSize(payloadBytes(replyData, h), fabric.maxPayloadBytes, reply);
          if (pending.settled || responder.state !== "connected") return true;
          const answer: TransportMessage = Object.freeze({ subject: reply, data: new Uint8Array(replyData), headers: h });
          fabric.enqueue(() => {
            if (link.state === "connected") finish(() => resolve(answer));
          });
          return true;
        };
      link.pending.add(pending);
      pending.timer = fabric.clock.setTimer(() => {
        pending.fail(
          new SwitchboardError("deadline_exceeded", `no reply on ${subject} within ${options.timeoutMs} ms`, {
            context: { subject, timeoutMs: options.timeoutMs },
          }),
        );
      }, options.timeoutMs);
      for (const sub of targets) {
        fabric.deliver(sub, { subject, data: new Uint8Array(data), headers, respond: respondFrom(sub.link) });
      }
    });
  }

  async publish(subject: string, data: Uint8Array, headers?: Headers): Promise<void> {
    const tokens = subjectTokens(subject, "publish");
    checkData(data, subject);
    const h = normalizeHeaders(headers, subject);
    checkPayloadSize(payloadBytes(data, h), this.#fabric.maxPayloadBytes, subject);
    this.#checkConnected(subject);
    for (const sub of this.#fabric.route(subject, tokens, this.#link)) {
      this.#fabric.deliver(sub, { subject, data: new Uint8Array(data), headers: h, respond: notARequest });
    }
  }

  /** Throws `invalid_argument` for a bad subject or queue, `unavailable` once the transport is closed. */
  subscribe(subject: string, handler: (msg: IncomingMessage) => void, options?: { queue?: string }): TransportSubscription {
    const tokens = subjectTokens(subject, "subscribe");
    if (typeof handler !== "function") {
      throw new SwitchboardError("invalid_argument", "a subscription needs a handler function", { context: { subject } });
    }
    const queue = options?.queue;
    if (queue !== undefined) checkQueue(queue, subject);
    if (this.#link.state === "closed") {
      throw new SwitchboardError("unavailable", "the transport is closed", { context: { subject, nodeId: this.nodeId } });
    }
    const sub: Sub = { link: this.#link, subject, tokens, queue, handler, open: true };
    this.#fabric.addSub(sub);
    const fabric = this.#fabric;
    const close = async (): Promise<void> => fabric.removeSub(sub);
    return Object.freeze({ subject, close, [Symbol.asyncDispose]: close });
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    const listeners = this.#link.listeners;
    const entry = (connected: boolean) => listener(connected);
    listeners.add(entry);
    return () => void listeners.delete(entry);
  }

  /**
   * Closes: subscriptions stop, requests in flight reject with `unavailable`, the node
   * id is free again. Messages this node already sent are still delivered. Idempotent.
   */
  async close(): Promise<void> {
    const link = this.#link;
    if (link.state === "closed") return;
    this.#fabric.setState(link, "closed");
    link.listeners.clear();
    for (const sub of [...link.subs]) this.#fabric.removeSub(sub);
    const closed = new SwitchboardError("unavailable", "the transport was closed", { context: { nodeId: link.nodeId } });
    for (const pending of [...link.pending]) pending.fail(closed);
    this.#fabric.links.delete(link.nodeId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkConnected(subject: string): void {
    const state = this.#link.state;
    if (state === "connected") return;
    throw new SwitchboardError("unavailable", state === "closed" ? "the transport is closed" : "the transport is disconnected", {
      context: { subject, nodeId: this.nodeId },
    });
  }
}

type LinkState = "connected" | "disconnected" | "closed";

/** One node's place on the network. */
interface Link {
  readonly nodeId: string;
  /** Whether this node's own messages reach its own subscriptions. */
  readonly echo: boolean;
  state: LinkState;
  readonly listeners: Set<(connected: boolean) => void>;
  readonly subs: Set<Sub>;
  readonly pending: Set<PendingRequest>;
}

interface Sub {
  readonly link: Link;
  readonly subject: string;
  readonly tokens: readonly string[];
  readonly queue: string | undefined;
  readonly handler: (msg: IncomingMessage) => void;
  open: boolean;
}

interface PendingRequest {
  settled: boolean;
  readonly fail: (err: SwitchboardError) => void;
  timer: TimerHandle | undefined;
}

interface ResolvedOptions {
  readonly clock: Clock;
  readonly random: () => number;
  readonly maxPayloadBytes: number;
  readonly logger: Logger;
}

function resolveOptions(options: InProcessNetworkOptions): ResolvedOptions {
  const maxPayloadBytes = options.maxPayloadBytes ?? defaultMaxPayloadBytes;
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 1) {
    throw new SwitchboardError("invalid_argument", "maxPayloadBytes must be a positive integer", { context: { maxPayloadBytes } });
  }
  const random = options.random ?? Math.random;
  if (typeof random !== "function") {
    throw new SwitchboardError("invalid_argument", "random must be a function returning a number in [0, 1)");
  }
  return {
    clock: options.clock ?? systemClock,
    random,
    maxPayloadBytes,
    logger: (options.logger ?? createLogger({ nodeId: "in-process-network", level: "silent" })).child({ component: "transport" }),
  };
}

function notARequest(): boolean {
  return false;
}

/** The routing table and delivery queue every transport of one network shares. */
class Fabric implements ResolvedOptions {
  readonly clock: Clock;
  readonly random: () => number;
  readonly maxPayloadBytes: number;
  readonly logger: Logger;
  readonly links = new Map<string, Link>();
  readonly #literal = new Map<string, Set<Sub>>();
  readonly #wildcard = new Set<Sub>();
  #queue: (() => void)[] = [];
  #scheduled = false;
  #inbox = 0;

  constructor(options: ResolvedOptions) {
    this.clock = options.clock;
    this.random = options.random;
    this.maxPayloadBytes = options.maxPayloadBytes;
    this.logger = options.logger;
  }

  nextInbox(): string {
    return `_INBOX.${++this.#inbox}`;
  }

  addSub(sub: Sub): void {
    sub.link.subs.add(sub);
    if (hasWildcard(sub.tokens)) {
      this.#wildcard.add(sub);
      return;
    }
    let subs = this.#literal.get(sub.subject);
    if (subs === undefined) this.#literal.set(sub.subject, (subs = new Set()));
    subs.add(sub);
  }

  removeSub(sub: Sub): void {
    if (!sub.open) return;
    sub.open = false;
    sub.link.subs.delete(sub);
    this.#wildcard.delete(sub);
    const subs = this.#literal.get(sub.subject);
    if (subs !== undefined && subs.delete(sub) && subs.size === 0) this.#literal.delete(sub.subject);
  }

  /**
   * The subscriptions a message on `subject` goes to: every matching plain one, and
   * one member of each queue group. Groups are keyed by queue name alone, as in
   * nats-server, so members with different filters that match still share a message.
   * Subscriptions of nodes not connected have no interest, nor the sender's own when it
   * has echo off.
   */
  route(subject: string, tokens: readonly string[], from: Link): Sub[] {
    const targets: Sub[] = [];
    const groups = new Map<string, Sub[]>();
    const consider = (sub: Sub) => {
      if (!sub.open || sub.link.state !== "connected" || (sub.link === from && !from.echo)) return;
      if (sub.queue === undefined) {
        targets.push(sub);
        return;
      }
      const members = groups.get(sub.queue);
      if (members === undefined) groups.set(sub.queue, [sub]);
      else members.push(sub);
    };
    const literal = this.#literal.get(subject);
    if (literal !== undefined) for (const sub of literal) consider(sub);
    for (const sub of this.#wildcard) if (subjectMatches(sub.tokens, tokens)) consider(sub);
    for (const members of groups.values()) {
      const i = Math.min(members.length - 1, Math.floor(this.random() * members.length));
      targets.push(members[Math.max(0, i)]!);
    }
    return targets;
  }

  /** Hands `msg` to `sub` later, unless the subscription closes or its node is cut off first. */
  deliver(sub: Sub, msg: IncomingMessage): void {
    Object.freeze(msg);
    this.enqueue(() => {
      if (!sub.open || sub.link.state !== "connected") return;
      runGuarded(sub.handler, msg, (err) =>
        this.logger.error({ err, subject: msg.subject, filter: sub.subject, node: sub.link.nodeId }, "subscription handler failed"),
      );
    });
  }

  /** Runs `fn` on a later turn of the event loop, after everything enqueued before it. */
  enqueue(fn: () => void): void {
    this.#queue.push(fn);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#drain);
  }

  // What is enqueued while a batch runs waits for the next turn, so a handler that
  // answers every message with another cannot starve timers and I/O.
  readonly #drain = (): void => {
    const batch = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    for (const fn of batch) fn();
  };

  setState(link: Link, state: LinkState): void {
    const was = link.state === "connected";
    link.state = state;
    const now = state === "connected";
    if (was === now) return;
    for (const listener of [...link.listeners]) {
      runGuarded(listener, now, (err) => this.logger.error({ err, node: link.nodeId }, "connection listener failed"));
    }
  }
}
