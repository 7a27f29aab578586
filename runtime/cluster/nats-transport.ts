import { connect, createInbox, errors, headers as natsHeaders } from "@nats-io/transport-node";
import type { Msg, MsgHdrs, NatsConnection, NodeConnectionOptions, Subscription } from "@nats-io/transport-node";
import { SwitchboardError, isSwitchboardError } from "../errors.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import { runGuarded } from "./run-guarded.ts";
import { checkSubject } from "./subject-match.ts";
import { checkData, checkPayloadSize, checkQueue, checkTimeout, emptyHeaders, normalizeHeaders, payloadBytes } from "./transport-checks.ts";
import type { Headers, IncomingMessage, RequestOptions, Transport, TransportMessage, TransportSubscription } from "./transport.ts";

export interface NatsTransportOptions {
  /** One URL or several (`nats://host:4222`); the client fails over among them. */
  readonly servers: string | readonly string[];
  /** The connection's name in the server's connection list; use the node id. */
  readonly name: string;
  /** Pause between reconnect attempts to one server, in ms. Default 250. */
  readonly reconnectTimeWaitMs?: number;
  /** Reconnect attempts per server before giving up and closing; -1 for ever. Default -1. */
  readonly maxReconnectAttempts?: number;
  /** How long the first connect may take, in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /**
   * Client ping interval, in ms. Default 10000: after two unanswered pings the client
   * counts the link as dead and reconnects, so a silently lost server is noticed in
   * about 30 s rather than the client's default of several minutes.
   */
  readonly pingIntervalMs?: number;
  /** Where a throwing handler or connection listener is reported. Default a silent logger. */
  readonly logger?: Logger;
  /**
   * Whether this connection's own publishes and requests reach its own subscriptions.
   * Default true. A node turns it off: what it publishes for its own subscribers it
   * has delivered in-process already, and its own partitions it serves in-process.
   */
  readonly echo?: boolean;
}

/**
 * The NATS client options `connectNatsTransport` uses: defaults filled, values checked.
 * Throws `invalid_argument` naming the bad field. Pure.
 */
export function natsConnectionOptions(options: NatsTransportOptions): NodeConnectionOptions {
  const servers = typeof options.servers === "string" ? [options.servers] : [...(options.servers ?? [])];
  if (servers.length === 0 || servers.some((s) => typeof s !== "string" || s.length === 0)) {
    throw invalid("servers must be one or more NATS URLs", { servers: options.servers });
  }
  if (typeof options.name !== "string" || options.name.length === 0) {
    throw invalid("name must be a non-empty string (the node id)", { name: options.name });
  }
  const reconnectTimeWait = options.reconnectTimeWaitMs ?? 250;
  if (!(Number.isFinite(reconnectTimeWait) && reconnectTimeWait >= 0)) {
    throw invalid("reconnectTimeWaitMs must be a non-negative number of milliseconds", { reconnectTimeWaitMs: reconnectTimeWait });
  }
  const maxReconnectAttempts = options.maxReconnectAttempts ?? -1;
  if (!Number.isSafeInteger(maxReconnectAttempts) || maxReconnectAttempts < -1) {
    throw invalid("maxReconnectAttempts must be -1 (for ever) or a non-negative integer", { maxReconnectAttempts });
  }
  const timeout = options.connectTimeoutMs ?? 5000;
  if (!(Number.isFinite(timeout) && timeout > 0)) {
    throw invalid("connectTimeoutMs must be a positive number of milliseconds", { connectTimeoutMs: timeout });
  }
  const pingInterval = options.pingIntervalMs ?? 10_000;
  if (!(Number.isFinite(pingInterval) && pingInterval > 0)) {
    throw invalid("pingIntervalMs must be a positive number of milliseconds", { pingIntervalMs: pingInterval });
  }
  // noAsyncTraces: the client would otherwise build two Error objects (stack traces
  // included) for every request, in case it fails; that was a fifth of a busy
  // caller's CPU. Our own errors carry the subject and context instead.
  return { servers, name: options.name, reconnect: true, reconnectTimeWait, maxReconnectAttempts, timeout, pingInterval, noAsyncTraces: true, noEcho: options.echo === false };
}

/**
 * Connects to NATS and returns a transport that owns the connection. The client
 * reconnects on its own after a drop and re-subscribes; `connected` and
 * `onConnectionChange` follow it. The Node client already sets TCP no-delay on its
 * sockets (plain and TLS), so small requests are not held back by Nagle's algorithm.
 * Rejects with `unavailable` when no server answers within `connectTimeoutMs`, and
 * with `invalid_argument` for bad options.
 */
export async function connectNatsTransport(options: NatsTransportOptions): Promise<NatsTransport> {
  const connectionOptions = natsConnectionOptions(options);
  let nc: NatsConnection;
  try {
    nc = await connect(connectionOptions);
  } catch (cause) {
    throw new SwitchboardError("unavailable", "cannot connect to NATS", {
      context: { servers: connectionOptions.servers, name: options.name },
      cause,
    });
  }
  return new NatsTransport(nc, options.logger === undefined ? {} : { logger: options.logger });
}

/** A request waiting for its reply on the transport's inbox. */
interface PendingRequest {
  readonly subject: string;
  readonly timeoutMs: number;
  readonly resolve: (msg: TransportMessage) => void;
  readonly reject: (err: SwitchboardError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * `Transport` over a NATS connection. It owns the connection: `close()` drains it.
 * Where this differs from the bare client, it is to keep to the `Transport` contract:
 * `request` and `publish` reject with `unavailable` while the connection is down
 * instead of buffering, subjects and headers are checked before they are sent, and a
 * handler's failure is logged rather than breaking the client's read loop. A reply
 * sent while the connection is down is buffered by the client, as NATS does.
 *
 * Requests share one inbox subscription (`_INBOX.<id>.*`), each waiting under a token
 * of its own, as the client's own request does; this one is ours because the
 * client's builds an Error with a stack trace for every request, also a successful
 * one, which was the largest cost of a busy caller. A request still waiting when the
 * connection drops is refused with `unavailable` at once: its reply, if any was sent,
 * went to an inbox the server no longer knew, so waiting out the deadline gains nothing.
 */
export class NatsTransport implements Transport {
  readonly #nc: NatsConnection;
  readonly #logger: Logger;
  readonly #listeners = new Set<(connected: boolean) => void>();
  readonly #watching: Promise<void>;
  readonly #inbox: string;
  readonly #pending = new Map<string, PendingRequest>();
  #nextToken = 0;
  #connected: boolean;
  #closing: Promise<void> | undefined;

  constructor(nc: NatsConnection, options: { readonly logger?: Logger } = {}) {
    this.#nc = nc;
    this.#logger = (options.logger ?? createLogger({ nodeId: "nats-transport", level: "silent" })).child({ component: "transport" });
    this.#connected = !nc.isClosed();
    this.#inbox = `${createInbox()}.`;
    if (!nc.isClosed()) nc.subscribe(`${this.#inbox}*`, { callback: (err, msg) => this.#onReply(err, msg) });
    this.#watching = this.#watch();
    void nc.closed().then(() => {
      this.#setConnected(false);
      this.#failPending("the NATS connection closed");
    });
  }

  get connected(): boolean {
    return this.#connected;
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<TransportMessage> {
    checkSubject(subject, "publish");
    checkData(data, subject);
    const timeoutMs = options?.timeoutMs;
    checkTimeout(timeoutMs, subject);
    const headers = normalizeHeaders(options.headers, subject);
    this.#checkSendable(subject, data, headers);
    const token = (this.#nextToken++).toString(36);
    const { promise, resolve, reject } = Promise.withResolvers<TransportMessage>();
    const pending: PendingRequest = { subject, timeoutMs, resolve, reject, timer: undefined };
    try {
      this.#nc.publish(subject, data, { reply: this.#inbox + token, headers: toNatsHeaders(headers) });
    } catch (err) {
      throw natsError(err, subject);
    }
    pending.timer = setTimeout(() => {
      this.#pending.delete(token);
      reject(new SwitchboardError("deadline_exceeded", `no reply on ${subject} within ${timeoutMs} ms`, { context: { subject, timeoutMs } }));
    }, timeoutMs);
    this.#pending.set(token, pending);
    return promise;
  }

  /** A message on the inbox: the reply to the request named by its last token, or a late one, dropped. */
  #onReply(err: Error | null, msg: Msg): void {
    if (err !== null) {
      this.#logger.error({ err }, "the request inbox subscription failed");
      this.#failPending("the request inbox subscription failed");
      return;
    }
    const token = msg.subject.slice(this.#inbox.length);
    const pending = this.#pending.get(token);
    if (pending === undefined) return;
    this.#pending.delete(token);
    clearTimeout(pending.timer);
    // The server's "no responders" status: a 503 with no data, sent to the reply subject.
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      pending.reject(new SwitchboardError("unavailable", `no responders for ${pending.subject}`, { context: { subject: pending.subject, noResponders: true } }));
      return;
    }
    pending.resolve(Object.freeze({ subject: msg.subject, data: new Uint8Array(msg.data), headers: fromNatsHeaders(msg.headers) }));
  }

  #failPending(why: string): void {
    if (this.#pending.size === 0) return;
    const waiting = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      p.reject(new SwitchboardError("unavailable", `${why} before ${p.subject} answered`, { context: { subject: p.subject } }));
    }
  }

  async publish(subject: string, data: Uint8Array, headers?: Headers): Promise<void> {
    checkSubject(subject, "publish");
    checkData(data, subject);
    const h = normalizeHeaders(headers, subject);
    this.#checkSendable(subject, data, h);
    try {
      this.#nc.publish(subject, data, { headers: toNatsHeaders(h) });
    } catch (err) {
      throw natsError(err, subject);
    }
  }

  /**
   * Throws `invalid_argument` for a bad subject or queue, `unavailable` once the
   * transport is closing. Made while disconnected, it is sent when the link is back.
   * `close()` on the subscription resolves once the server has seen the unsubscribe
   * (when connected), so a request sent after it gets "no responders".
   */
  subscribe(subject: string, handler: (msg: IncomingMessage) => void, options?: { queue?: string }): TransportSubscription {
    checkSubject(subject, "subscribe");
    if (typeof handler !== "function") {
      throw new SwitchboardError("invalid_argument", "a subscription needs a handler function", { context: { subject } });
    }
    const queue = options?.queue;
    if (queue !== undefined) checkQueue(queue, subject);
    if (this.#closing !== undefined) throw closedError(subject);
    const nc = this.#nc;
    const onError = (err: unknown) => this.#logger.error({ err, subject }, "subscription handler failed");
    let sub: Subscription;
    try {
      sub = nc.subscribe(subject, {
        ...(queue === undefined ? {} : { queue }),
        callback: (err, msg) => {
          if (err !== null) {
            this.#logger.error({ err, subject }, "subscription failed");
            return;
          }
          runGuarded(handler, this.#incoming(msg), onError);
        },
      });
    } catch (err) {
      throw natsError(err, subject);
    }
    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        if (sub.isClosed()) return;
        sub.unsubscribe();
        if (this.#connected && !nc.isClosed()) await nc.flush().catch(() => undefined);
      })();
      return closing;
    };
    return Object.freeze({ subject, close, [Symbol.asyncDispose]: close });
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    const entry = (connected: boolean) => listener(connected);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  /**
   * Drains the connection: the server stops sending to its subscriptions, messages
   * already on the way still reach their handlers, everything sent so far (replies
   * included) goes out, then the connection closes and requests still waiting reject
   * with `unavailable`. While disconnected it closes at once. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    const nc = this.#nc;
    try {
      if (nc.isClosed()) {
        // nothing to do
      } else if (nc.isDraining()) {
        await nc.closed();
      } else if (this.#connected) {
        await nc.drain();
      } else {
        await nc.close();
      }
    } catch (err) {
      this.#logger.warn({ err }, "drain failed; closing the NATS connection");
      await nc.close().catch(() => undefined);
    }
    await this.#watching;
    this.#setConnected(false);
    this.#listeners.clear();
  }

  #checkSendable(subject: string, data: Uint8Array, headers: Headers): void {
    const maxPayload = this.#nc.info?.max_payload;
    if (maxPayload !== undefined) checkPayloadSize(payloadBytes(data, headers), maxPayload, subject);
    if (this.#closing !== undefined || this.#nc.isClosed()) throw closedError(subject);
    if (!this.#connected) {
      throw new SwitchboardError("unavailable", "the NATS connection is down", { context: { subject } });
    }
  }

  #incoming(msg: Msg): IncomingMessage {
    return new NatsIncoming(msg, this.#nc, this.#logger);
  }

  async #watch(): Promise<void> {
    try {
      for await (const status of this.#nc.status()) {
        switch (status.type) {
          case "disconnect":
            this.#setConnected(false);
            this.#failPending("the NATS connection dropped");
            break;
          case "reconnect":
            this.#setConnected(true);
            break;
          case "close":
            this.#setConnected(false);
            break;
          default:
            break;
        }
      }
    } catch (err) {
      this.#logger.warn({ err }, "NATS status stream failed");
    }
  }

  #setConnected(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    for (const listener of [...this.#listeners]) {
      runGuarded(listener, connected, (err) => this.#logger.error({ err }, "connection listener failed"));
    }
  }
}

/**
 * A received message. Its headers are decoded the first time they are read: a node
 * answering a partition's requests reads the envelope and never needs them.
 */
class NatsIncoming implements IncomingMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly #msg: Msg;
  readonly #nc: NatsConnection;
  readonly #logger: Logger;
  #headers: Headers | undefined;

  constructor(msg: Msg, nc: NatsConnection, logger: Logger) {
    this.subject = msg.subject;
    this.data = new Uint8Array(msg.data);
    this.#msg = msg;
    this.#nc = nc;
    this.#logger = logger;
    Object.freeze(this);
  }

  get headers(): Headers {
    return (this.#headers ??= fromNatsHeaders(this.#msg.headers));
  }

  respond(data: Uint8Array, headers?: Headers): boolean {
    const reply = this.#msg.reply;
    if (reply === undefined || reply === "") return false;
    checkData(data, reply);
    const h = normalizeHeaders(headers, reply);
    const maxPayload = this.#nc.info?.max_payload;
    if (maxPayload !== undefined) checkPayloadSize(payloadBytes(data, h), maxPayload, reply);
    try {
      this.#nc.publish(reply, data, { headers: toNatsHeaders(h) });
    } catch (err) {
      // The connection closed under the responder: the reply is lost, as on any
      // network, and the requester sees its deadline pass.
      this.#logger.warn({ err, subject: this.subject }, "reply not sent");
    }
    return true;
  }
}

function toNatsHeaders(headers: Headers): MsgHdrs | undefined {
  const names = Object.keys(headers);
  if (names.length === 0) return undefined;
  const h = natsHeaders();
  for (const name of names) h.set(name, headers[name]!);
  return h;
}

/** A header a foreign sender set more than once keeps its first value. */
function fromNatsHeaders(headers: MsgHdrs | undefined): Headers {
  if (headers === undefined) return emptyHeaders;
  const entries: [string, string][] = [];
  for (const [name, values] of headers) entries.push([name, values[0] ?? ""]);
  return entries.length === 0 ? emptyHeaders : Object.freeze(Object.fromEntries(entries));
}

/** Maps a NATS client failure onto the `Transport` contract's codes. */
function natsError(err: unknown, subject: string): SwitchboardError {
  if (isSwitchboardError(err)) return err;
  const cause = err instanceof errors.RequestError && err.cause !== undefined ? err.cause : err;
  if (
    cause instanceof errors.ClosedConnectionError ||
    cause instanceof errors.DrainingConnectionError ||
    cause instanceof errors.ConnectionError ||
    err instanceof errors.RequestError
  ) {
    return new SwitchboardError("unavailable", "the NATS connection is down or closing", { context: { subject }, cause: err });
  }
  if (cause instanceof errors.PermissionViolationError) {
    return new SwitchboardError("permission_denied", `not permitted on ${subject}`, { context: { subject }, cause: err });
  }
  if (cause instanceof errors.InvalidSubjectError || cause instanceof errors.InvalidArgumentError) {
    return new SwitchboardError("invalid_argument", String((cause as Error).message), { context: { subject }, cause: err });
  }
  return new SwitchboardError("internal", "NATS request failed", { context: { subject }, cause: err });
}

function closedError(subject: string): SwitchboardError {
  return new SwitchboardError("unavailable", "the transport is closed", { context: { subject } });
}

function invalid(message: string, context: Record<string, unknown>): SwitchboardError {
  return new SwitchboardError("invalid_argument", message, { context });
}
