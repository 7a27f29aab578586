import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Clock, TimerHandle } from "../clock.ts";
import { isSwitchboardError, SwitchboardError } from "../errors.ts";
import type { StateStore } from "../state/index.ts";
import type { Logger } from "../telemetry/logger.ts";
import { Attr } from "../telemetry/attributes.ts";
import type { ActorMessage } from "./actor-message.ts";
import type { CompiledDefinition, CompiledMethod } from "./compiled-definition.ts";
import { DedupeWindow, type DedupeEntry } from "./dedupe-window.ts";
import { encodeJson, jsonRoundTrip } from "./json-copy.ts";
import { Mailbox } from "./mailbox.ts";
import type { RuntimeMetrics } from "./runtime-metrics.ts";
import { TurnContext } from "./turn-context.ts";
import type { RuntimeInternals } from "./runtime-internals.ts";
import type { ActivationStatus } from "./activation-status.ts";
import type { ActorServices } from "./actor-services.ts";
import type { TurnTracer } from "./turn-tracer.ts";

const decoder = new TextDecoder();
const ignore = () => undefined;

/** The persisted record: `s` the state, `d` the dedupe window when the type has one. */
interface StoredRecord {
  s: unknown;
  d?: DedupeEntry[];
}

/** Everything an activation needs from its runtime. */
export interface ActivationHost extends RuntimeInternals {
  readonly clock: Clock;
  readonly store: StateStore;
  readonly logger: Logger;
  readonly tracing: TurnTracer;
  readonly metrics: RuntimeMetrics;
  readonly nodeId: string;
  readonly services: ActorServices;
  /** The activation is gone; `leftovers` arrived while it went and must go to a new one. */
  removed(activation: Activation, leftovers: ActorMessage[]): void;
}

/**
 * One live instance of a virtual actor on this node: its state, its mailbox and the
 * scheduler that runs its turns. The runtime holds at most one per actor id.
 *
 * Turn rules: a writer turn runs alone; read-only turns run together while no writer
 * runs; interleaving (reentrant) turns start as soon as they are next in the mailbox.
 * Turns start in arrival order.
 */
export class Activation {
  readonly id: string;
  readonly def: CompiledDefinition;
  readonly host: ActivationHost;
  status: ActivationStatus = "activating";
  state: unknown;
  epoch = 0;
  lastActiveMs: number;
  /** Only while messages wait: most turns start as they arrive, and idle actors are many. */
  #mailbox: Mailbox<ActorMessage> | undefined;
  #etag: string | null = null;
  #savedJson = "";
  /** The last save asked for, while any is in flight; the next one runs after it. */
  #saving: Promise<void> | undefined;
  #savesInFlight = 0;
  #dedupe: DedupeWindow | undefined;
  #writer = false;
  #running = 0;
  /** The message whose turn `#pump` is starting, while that turn has not yet yielded. */
  #pumpStarting: ActorMessage | undefined;
  #idleWaiters: (() => void)[] | undefined;
  /**
   * Messages from other nodes still queued or running, by message id, with the repeats
   * that arrived meanwhile. A sender retries an attempt it got no answer to, with the
   * same id; a repeat of a message still in hand is joined to it (answered with its
   * outcome) instead of being run again.
   */
  #inflight: Map<string, { original: ActorMessage; repeats: ActorMessage[] }> | undefined;
  #timers: Map<string, TimerHandle> | undefined;
  #deactivateRequested = false;
  #fenced = false;
  #deactivation: Promise<void> | undefined;
  // Made when first asked for: most activations never are.
  #gone: Promise<void> | undefined;
  #markGone: (() => void) | undefined;

  constructor(id: string, def: CompiledDefinition, host: ActivationHost) {
    this.id = id;
    this.def = def;
    this.host = host;
    this.lastActiveMs = host.clock.now();
  }

  get queued(): number {
    return this.#mailbox === undefined ? 0 : this.#mailbox.size;
  }

  get running(): number {
    return this.#running;
  }

  get idle(): boolean {
    return this.#running === 0 && this.queued === 0;
  }

  /** Settles when the activation has left the directory. */
  get gone(): Promise<void> {
    if (this.#gone === undefined) {
      this.#gone = this.status === "gone" ? Promise.resolve() : new Promise<void>((resolve) => (this.#markGone = resolve));
    }
    return this.#gone;
  }

  /**
   * Accepts a message or throws: `call_cycle` if the target already waits in the
   * call chain (and the method does not interleave), `mailbox_full` at the bound.
   */
  enqueue(msg: ActorMessage, method: CompiledMethod, fromRemote = false): void {
    if (fromRemote) {
      const inflight = this.#inflight?.get(msg.messageId);
      if (inflight !== undefined) {
        inflight.repeats.push(msg);
        this.host.metrics.duplicatesDropped++;
        return;
      }
    }
    if (!method.interleave && msg.callChain.includes(this.id)) {
      this.host.metrics.callCyclesRefused++;
      throw new SwitchboardError(
        "call_cycle",
        `call cycle: ${[...msg.callChain, this.id].join(" -> ")}; ${this.id} is waiting in this chain and is not reentrant, so ${method.name} would deadlock`,
        { context: { actorId: this.id, method: method.name } },
      );
    }
    // Nothing waits ahead of it and it may start: what queueing and pumping would do at once.
    if (this.#mailbox === undefined && this.status === "active" && this.#mayStart(method)) {
      if (fromRemote) this.#track(msg);
      this.#start(msg, method);
      return;
    }
    if (!(this.#mailbox ??= new Mailbox(this.def.mailboxCapacity)).push(msg)) {
      this.host.metrics.mailboxFull(this.def.type);
      throw new SwitchboardError("mailbox_full", `mailbox of ${this.id} is full (${this.def.mailboxCapacity} messages waiting)`, {
        context: { actorId: this.id, method: method.name },
      });
    }
    if (fromRemote) this.#track(msg);
    this.#pump();
  }

  #track(msg: ActorMessage): void {
    (this.#inflight ??= new Map()).set(msg.messageId, { original: msg, repeats: [] });
  }

  /** Answers a message and any repeats joined to it. */
  #settle(msg: ActorMessage, err: unknown, result?: unknown): void {
    if (err) msg.settle?.(err);
    else msg.settle?.(null, result);
    const inflight = this.#inflight?.get(msg.messageId);
    if (inflight === undefined || inflight.original !== msg) return;
    this.#inflight!.delete(msg.messageId);
    if (this.#inflight!.size === 0) this.#inflight = undefined;
    for (const r of inflight.repeats) {
      if (err) r.settle?.(err);
      else r.settle?.(null, result);
    }
  }

  /** Claims the next epoch, loads the state, runs `onActivate`, then starts turns. */
  async activate(): Promise<void> {
    try {
      const rec = await this.host.store.claim(this.id);
      this.epoch = rec.epoch;
      this.#etag = rec.etag;
      const stored: StoredRecord = rec.value === undefined ? { s: this.def.source.initialState() } : (JSON.parse(decoder.decode(rec.value)) as StoredRecord);
      this.state = stored.s;
      if (this.def.dedupe) this.#dedupe = new DedupeWindow(this.def.dedupe.windowMs, this.def.dedupe.maxEntries, stored.d);
      this.#savedJson = this.#recordJson();
      if (this.def.source.onActivate) {
        await this.def.source.onActivate(new TurnContext(this, undefined));
      }
    } catch (err) {
      const cause = isSwitchboardError(err) ? err : new SwitchboardError("unavailable", `activation of ${this.id} failed: ${(err as Error)?.message ?? err}`, { cause: err, context: { actorId: this.id } });
      this.host.logger.error({ err, actorId: this.id }, "activation failed");
      this.status = "gone";
      for (const m of this.#drain()) m.settle?.(cause);
      this.host.removed(this, []);
      this.#markGone?.();
      return;
    }
    this.status = "active";
    this.host.metrics.activations++;
    if (this.#deactivateRequested && this.idle) void this.deactivate();
    else this.#pump();
  }

  /** Whether a turn of `method` may start now, beside the turns running. */
  #mayStart(method: CompiledMethod): boolean {
    return method.interleave || (!this.#writer && (method.readOnly || this.#running === 0));
  }

  #start(msg: ActorMessage, method: CompiledMethod): void {
    const writer = !method.readOnly && !method.interleave;
    if (writer) this.#writer = true;
    this.#running++;
    void this.#turn(msg, method, writer);
  }

  #pump(): void {
    for (;;) {
      if (this.status !== "active") return;
      const mailbox = this.#mailbox;
      if (mailbox === undefined) return;
      const msg = mailbox.peek()!;
      const method = this.def.methods.get(msg.method)!;
      if (!this.#mayStart(method)) return;
      mailbox.shift();
      if (mailbox.size === 0) this.#mailbox = undefined;
      // A turn that ends before it yields leaves the next start to this loop rather than
      // pumping itself: a long backlog of synchronous turns must not grow the stack.
      const outer = this.#pumpStarting;
      this.#pumpStarting = msg;
      try {
        this.#start(msg, method);
      } finally {
        this.#pumpStarting = outer;
      }
    }
  }

  async #turn(msg: ActorMessage, method: CompiledMethod, writer: boolean): Promise<void> {
    let failed = false;
    const span = this.host.tracing.start(this.id, this.def.type, msg, method);
    try {
      // A read-only turn changes nothing, so a repeat may simply run again: it is
      // neither looked up in nor recorded into the dedupe window.
      const dedupe = method.readOnly ? undefined : this.#dedupe;
      const now = msg.deadlineMs !== 0 || dedupe !== undefined ? this.host.clock.now() : 0;
      if (msg.deadlineMs !== 0 && now >= msg.deadlineMs) {
        this.host.metrics.deadlinesExpired++;
        this.#settle(msg, new SwitchboardError("deadline_exceeded", `deadline passed before ${this.id}.${msg.method} started`, { context: { actorId: this.id, method: msg.method } }));
        return;
      }
      const seen = dedupe?.lookup(msg.messageId, now);
      if (seen !== undefined) {
        this.host.metrics.duplicatesDropped++;
        span?.setAttribute(Attr.duplicate, true);
        this.#settle(msg, null, seen.result === undefined ? undefined : JSON.parse(seen.result));
        return;
      }
      const ctx = new TurnContext(this, msg);
      let result = span === undefined ? method.fn(ctx, msg.arg) : context.with(trace.setSpan(context.active(), span), method.fn, method, ctx, msg.arg);
      if (result instanceof Promise) result = await result;
      let answer: unknown;
      if (msg.kind === "call" && result !== undefined) {
        const what = `the result of ${this.id}.${msg.method}`;
        if (dedupe === undefined) {
          answer = jsonRoundTrip(result, what);
        } else {
          const resultJson = encodeJson(result, what);
          dedupe.record(msg.messageId, this.host.clock.now(), resultJson);
          answer = JSON.parse(resultJson);
        }
      } else {
        dedupe?.record(msg.messageId, this.host.clock.now(), undefined);
      }
      if (this.def.persistence === "turn" && !method.readOnly) await this.save();
      this.#settle(msg, null, answer);
    } catch (err) {
      failed = true;
      if (writer && this.def.persistence === "turn") this.#rollback();
      const error = this.#wrap(err, msg.method);
      span?.recordException(error);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      if (msg.settle) this.#settle(msg, error);
      else this.host.logger.warn({ err: error, actorId: this.id, method: msg.method, messageId: msg.messageId }, "one-way message failed");
    } finally {
      span?.end();
      const now = this.host.clock.now();
      this.host.metrics.turnDone(failed, now);
      if (writer) this.#writer = false;
      this.#running--;
      this.lastActiveMs = now;
      if (this.#running === 0) this.#wakeIdleWaiters();
      if ((this.#deactivateRequested || this.#fenced) && this.idle) void this.deactivate();
      else if (this.#pumpStarting !== msg) this.#pump();
    }
  }

  /**
   * A typed error keeps its code, so a caller sees `call_cycle` or `permission_denied`
   * from however deep it came; one raised without an actor gets this actor's id. Any
   * other exception becomes `handler_failed` with the original as `cause`.
   */
  #wrap(err: unknown, method: string): SwitchboardError {
    if (isSwitchboardError(err)) {
      if (err.context.actorId !== undefined) return err;
      return new SwitchboardError(err.code, err.message, { context: { ...err.context, actorId: this.id, method }, cause: err });
    }
    const why = err instanceof Error ? err.message : String(err);
    return new SwitchboardError("handler_failed", `${this.id}.${method} failed: ${why}`, { context: { actorId: this.id, method }, cause: err });
  }

  #recordJson(): string {
    const rec: StoredRecord = { s: this.state };
    if (this.#dedupe) rec.d = this.#dedupe.toJSON(this.host.clock.now());
    return encodeJson(rec, `the state of ${this.id}`);
  }

  /**
   * Back to the last saved record: the state and the dedupe window both. A window that
   * kept the failed turn's message id would answer the caller's retry from memory
   * without ever applying it.
   */
  #rollback(): void {
    const rec = JSON.parse(this.#savedJson) as StoredRecord;
    this.state = rec.s;
    if (this.def.dedupe) this.#dedupe = new DedupeWindow(this.def.dedupe.windowMs, this.def.dedupe.maxEntries, rec.d);
  }

  /**
   * Persists the state if it changed since the last save. Saves of one activation run
   * one after another, each with the etag the previous one returned. A `stale_epoch`
   * means a newer activation exists elsewhere: this one stops serving.
   */
  save(): Promise<void> {
    const next = this.#savesInFlight++ === 0 ? this.#saveNow() : this.#saving!.then(() => this.#saveNow());
    // Handled here, so a caller that drops the promise does not make an unhandled rejection.
    const settled = next.catch(ignore);
    if (this.#savesInFlight > 0) this.#saving = settled;
    return next;
  }

  async #saveNow(): Promise<void> {
    try {
      if (this.#fenced) throw this.#fencedError();
      const json = this.#recordJson();
      if (json === this.#savedJson) return;
      try {
        // Buffer: a Uint8Array, and much quicker than TextEncoder for short strings. The store copies it.
        this.#etag = await this.host.store.save(this.id, Buffer.from(json, "utf8"), { etag: this.#etag, epoch: this.epoch });
        this.#savedJson = json;
      } catch (err) {
        if (isSwitchboardError(err, "stale_epoch") || isSwitchboardError(err, "etag_mismatch")) {
          this.#fenced = true;
          this.host.logger.warn({ actorId: this.id, epoch: this.epoch, code: err.code }, "activation fenced by a newer one; deactivating without saving");
        }
        throw err;
      }
    } finally {
      if (--this.#savesInFlight === 0) this.#saving = undefined;
    }
  }

  #fencedError(): SwitchboardError {
    return new SwitchboardError("stale_epoch", `activation ${this.id} (epoch ${this.epoch}) was superseded`, { context: { actorId: this.id } });
  }

  setTimer(name: string, fire: () => void, delayMs: number): void {
    this.cancelTimer(name);
    (this.#timers ??= new Map()).set(name, this.host.clock.setTimer(fire, delayMs));
  }

  cancelTimer(name: string): boolean {
    const t = this.#timers?.get(name);
    if (t === undefined) return false;
    t.cancel();
    this.#timers!.delete(name);
    return true;
  }

  requestDeactivation(): void {
    this.#deactivateRequested = true;
  }

  /** Takes every waiting message, with the repeats joined to them, out of the mailbox. */
  #drain(): ActorMessage[] {
    const waiting = this.#mailbox?.drain() ?? [];
    this.#mailbox = undefined;
    if (this.#inflight === undefined) return waiting;
    const out: ActorMessage[] = [];
    for (const m of waiting) {
      out.push(m);
      const inflight = this.#inflight.get(m.messageId);
      if (inflight?.original === m) {
        out.push(...inflight.repeats);
        this.#inflight.delete(m.messageId);
      }
    }
    if (this.#inflight.size === 0) this.#inflight = undefined;
    return out;
  }

  #wakeIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    if (waiters === undefined) return;
    this.#idleWaiters = undefined;
    for (const w of waiters) w();
  }

  /**
   * Stops starting turns, lets running ones finish, runs `onDeactivate`, saves, and
   * leaves the directory. Messages that arrive meanwhile wait in the mailbox and are
   * handed to the next activation, so none is lost. Idempotent.
   */
  deactivate(): Promise<void> {
    if (this.status === "activating") {
      this.#deactivateRequested = true;
      return this.gone;
    }
    return (this.#deactivation ??= this.#deactivateNow());
  }

  async #deactivateNow(): Promise<void> {
    this.status = "deactivating";
    if (this.#timers) for (const t of this.#timers.values()) t.cancel();
    this.#timers = undefined;
    if (this.#running > 0) await new Promise<void>((r) => (this.#idleWaiters ??= []).push(r));
    if (!this.#fenced) {
      try {
        if (this.def.source.onDeactivate) await this.def.source.onDeactivate(new TurnContext(this, undefined));
        await this.save();
      } catch (err) {
        this.host.logger.error({ err, actorId: this.id }, "final save failed on deactivation");
      }
    }
    this.status = "gone";
    this.host.metrics.deactivations++;
    this.host.removed(this, this.#drain());
    this.#markGone?.();
  }
}
