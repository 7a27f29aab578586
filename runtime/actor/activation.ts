import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Tracer } from "@opentelemetry/api";
import type { Clock, TimerHandle } from "../clock.ts";
import { isSwitchboardError, SwitchboardError } from "../errors.ts";
import type { StateStore } from "../state/index.ts";
import type { Logger } from "../telemetry/logger.ts";
import { Attr } from "../telemetry/attributes.ts";
import type { ActorMessage } from "./actor-message.ts";
import type { CompiledDefinition, CompiledMethod } from "./compiled-definition.ts";
import { DedupeWindow, type DedupeEntry } from "./dedupe-window.ts";
import { encodeJson } from "./json-copy.ts";
import { Mailbox } from "./mailbox.ts";
import type { RuntimeMetrics } from "./runtime-metrics.ts";
import { TurnContext } from "./turn-context.ts";
import type { RuntimeInternals } from "./runtime-internals.ts";
import type { ActivationStatus } from "./activation-status.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
  readonly tracer: Tracer;
  readonly metrics: RuntimeMetrics;
  readonly nodeId: string;
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
  readonly #mailbox: Mailbox<ActorMessage>;
  #etag: string | null = null;
  #savedJson = "";
  #saving: Promise<void> = Promise.resolve();
  #dedupe: DedupeWindow | undefined;
  #writer = false;
  #running = 0;
  #idleWaiters: (() => void)[] = [];
  #timers: Map<string, TimerHandle> | undefined;
  #deactivateRequested = false;
  #fenced = false;
  #deactivation: Promise<void> | undefined;
  #markGone!: () => void;
  /** Settles when the activation has left the directory. */
  readonly gone = new Promise<void>((resolve) => (this.#markGone = resolve));

  constructor(id: string, def: CompiledDefinition, host: ActivationHost) {
    this.id = id;
    this.def = def;
    this.host = host;
    this.#mailbox = new Mailbox(def.mailboxCapacity);
    this.lastActiveMs = host.clock.now();
  }

  get queued(): number {
    return this.#mailbox.size;
  }

  get running(): number {
    return this.#running;
  }

  get idle(): boolean {
    return this.#running === 0 && this.#mailbox.size === 0;
  }

  /**
   * Accepts a message or throws: `call_cycle` if the target already waits in the
   * call chain (and the method does not interleave), `mailbox_full` at the bound.
   */
  enqueue(msg: ActorMessage, method: CompiledMethod): void {
    if (!method.interleave && msg.callChain.includes(this.id)) {
      this.host.metrics.callCyclesRefused++;
      throw new SwitchboardError(
        "call_cycle",
        `call cycle: ${[...msg.callChain, this.id].join(" -> ")}; ${this.id} is waiting in this chain and is not reentrant, so ${method.name} would deadlock`,
        { context: { actorId: this.id, method: method.name } },
      );
    }
    if (!this.#mailbox.push(msg)) {
      this.host.metrics.mailboxFull(this.def.type);
      throw new SwitchboardError("mailbox_full", `mailbox of ${this.id} is full (${this.def.mailboxCapacity} messages waiting)`, {
        context: { actorId: this.id, method: method.name },
      });
    }
    this.#pump();
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
      for (const m of this.#mailbox.drain()) m.settle?.(cause);
      this.host.removed(this, []);
      this.#markGone();
      return;
    }
    this.status = "active";
    this.host.metrics.activations++;
    if (this.#deactivateRequested && this.idle) void this.deactivate();
    else this.#pump();
  }

  #pump(): void {
    if (this.status !== "active") return;
    for (;;) {
      const msg = this.#mailbox.peek();
      if (msg === undefined) return;
      const method = this.def.methods.get(msg.method)!;
      if (!method.interleave) {
        if (this.#writer) return;
        if (!method.readOnly && this.#running > 0) return;
      }
      this.#mailbox.shift();
      const writer = !method.readOnly && !method.interleave;
      if (writer) this.#writer = true;
      this.#running++;
      void this.#turn(msg, method, writer);
    }
  }

  async #turn(msg: ActorMessage, method: CompiledMethod, writer: boolean): Promise<void> {
    const now = this.host.clock.now();
    let failed = false;
    const span = this.#startSpan(msg);
    try {
      if (msg.deadlineMs !== 0 && now >= msg.deadlineMs) {
        this.host.metrics.deadlinesExpired++;
        msg.settle?.(new SwitchboardError("deadline_exceeded", `deadline passed before ${this.id}.${msg.method} started`, { context: { actorId: this.id, method: msg.method } }));
        return;
      }
      const seen = this.#dedupe?.lookup(msg.messageId, now);
      if (seen !== undefined) {
        this.host.metrics.duplicatesDropped++;
        span.setAttribute(Attr.duplicate, true);
        msg.settle?.(null, seen.result === undefined ? undefined : JSON.parse(seen.result));
        return;
      }
      const ctx = new TurnContext(this, msg);
      const spanContext = trace.setSpan(context.active(), span);
      let result = context.with(spanContext, () => method.fn(ctx, msg.arg));
      if (result instanceof Promise) result = await result;
      const resultJson = msg.kind === "call" && result !== undefined ? encodeJson(result, `the result of ${this.id}.${msg.method}`) : undefined;
      this.#dedupe?.record(msg.messageId, this.host.clock.now(), resultJson);
      if (this.def.persistence === "turn" && !method.readOnly) await this.save();
      msg.settle?.(null, resultJson === undefined ? undefined : JSON.parse(resultJson));
    } catch (err) {
      failed = true;
      if (writer && this.def.persistence === "turn") this.#rollback();
      const error = this.#wrap(err, msg.method);
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      if (msg.settle) msg.settle(error);
      else this.host.logger.warn({ err: error, actorId: this.id, method: msg.method, messageId: msg.messageId }, "one-way message failed");
    } finally {
      span.end();
      this.host.metrics.turnDone(failed);
      if (writer) this.#writer = false;
      this.#running--;
      this.lastActiveMs = this.host.clock.now();
      if (this.#running === 0) this.#wakeIdleWaiters();
      if ((this.#deactivateRequested || this.#fenced) && this.idle) void this.deactivate();
      else this.#pump();
    }
  }

  #startSpan(msg: ActorMessage) {
    let parent: Context = ROOT_CONTEXT;
    if (msg.traceparent !== undefined) {
      parent = propagation.extract(ROOT_CONTEXT, { traceparent: msg.traceparent, tracestate: msg.tracestate });
    }
    return this.host.tracer.startSpan(
      `${this.def.type}.${msg.method}`,
      {
        kind: msg.kind === "call" ? SpanKind.SERVER : SpanKind.CONSUMER,
        attributes: {
          [Attr.messagingSystem]: "switchboard",
          [Attr.messagingOperation]: "process",
          [Attr.messagingDestination]: this.id,
          [Attr.messageId]: msg.messageId,
          [Attr.actorType]: this.def.type,
          [Attr.actorId]: this.id,
          [Attr.method]: msg.method,
          [Attr.nodeId]: this.host.nodeId,
        },
      },
      parent,
    );
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

  #rollback(): void {
    const rec = JSON.parse(this.#savedJson) as StoredRecord;
    this.state = rec.s;
  }

  /**
   * Persists the state if it changed since the last save. Saves of one activation run
   * one after another, each with the etag the previous one returned. A `stale_epoch`
   * means a newer activation exists elsewhere: this one stops serving.
   */
  save(): Promise<void> {
    const next = this.#saving.then(() => this.#saveNow());
    this.#saving = next.catch(() => undefined);
    return next;
  }

  async #saveNow(): Promise<void> {
    if (this.#fenced) throw this.#fencedError();
    const json = this.#recordJson();
    if (json === this.#savedJson) return;
    try {
      this.#etag = await this.host.store.save(this.id, encoder.encode(json), { etag: this.#etag, epoch: this.epoch });
      this.#savedJson = json;
    } catch (err) {
      if (isSwitchboardError(err, "stale_epoch") || isSwitchboardError(err, "etag_mismatch")) {
        this.#fenced = true;
        this.host.logger.warn({ actorId: this.id, epoch: this.epoch, code: err.code }, "activation fenced by a newer one; deactivating without saving");
      }
      throw err;
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

  #wakeIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
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
    if (this.#running > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
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
    this.host.removed(this, this.#mailbox.drain());
    this.#markGone();
  }
}
