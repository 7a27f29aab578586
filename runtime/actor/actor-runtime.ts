import { context, propagation, type Tracer } from "@opentelemetry/api";
import { randomUUID } from "node:crypto";
import { systemClock, type Clock, type TimerHandle } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import type { StateStore } from "../state/index.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import type { ActorDefinition, ActorRef, CallOptions, Handlers, ReminderOptions, SendOptions } from "./actor-definition.ts";
import { actorId, parseActorId, typeOf } from "./actor-id.ts";
import type { ActorMessage } from "./actor-message.ts";
import { ActorRefImpl } from "./actor-ref.ts";
import { Activation, type ActivationHost } from "./activation.ts";
import { compileDefinition, type CompiledDefinition } from "./compiled-definition.ts";
import { jsonCopy } from "./json-copy.ts";
import { RuntimeMetrics } from "./runtime-metrics.ts";
import type { RuntimeInternals } from "./runtime-internals.ts";
import { TurnTracer } from "./turn-tracer.ts";
import type { Placement } from "./placement.ts";
import type { ActorServices } from "./actor-services.ts";

/** Durable reminders, as the runtime uses them (see runtime/reminders). */
export interface ReminderScheduler {
  set(actorId: string, name: string, options: ReminderOptions): Promise<void>;
  cancel(actorId: string, name: string): Promise<boolean>;
  /** Loads stored reminders and starts firing them through `deliver`. */
  start(deliver: (actorId: string, method: string, arg: unknown, messageId: string) => Promise<void>): Promise<void>;
  /** Follows a change of which actors this node hosts (cluster mode). */
  refresh?(): Promise<void>;
  stop(): Promise<void>;
}

export interface ActorRuntimeOptions {
  readonly nodeId: string;
  /** Every actor type this runtime hosts. */
  readonly actors: readonly ActorDefinition<any, any>[];
  readonly stateStore: StateStore;
  readonly reminders?: ReminderScheduler;
  /** Where actors live; without one every actor is local (embedded mode). */
  readonly placement?: Placement;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly tracer?: Tracer;
  /** Default deadline of a call; default 30,000 ms. */
  readonly callTimeoutMs?: number;
  /** What actors may publish to and log into (`ctx.publish`, `ctx.messageLog`); default none. */
  readonly services?: ActorServices;
  /** How often idle activations are looked for; default a quarter of the shortest idle timeout, at least 1,000 ms. */
  readonly idleCheckIntervalMs?: number;
  /** How long shutdown lets queued and running turns finish before deactivating anyway; default 10,000 ms. */
  readonly shutdownGraceMs?: number;
}

export interface ActivationSummary {
  readonly type: string;
  readonly count: number;
  readonly sampleIds: readonly string[];
}

export interface RuntimeStats {
  readonly activations: number;
  readonly mailboxDepthTotal: number;
  readonly mailboxDepthMax: number;
  readonly turnsPerSecond: number;
  readonly turns: number;
  readonly turnsFailed: number;
  readonly mailboxRejected: number;
  readonly duplicatesDropped: number;
  readonly deadlinesExpired: number;
  readonly callCyclesRefused: number;
  readonly activationsTotal: number;
  readonly deactivationsTotal: number;
}

const noCallChain: readonly string[] = Object.freeze([]);
/** What a send resolves with once the message is accepted; shared, as it carries nothing. */
const accepted: Promise<void> = Promise.resolve();

/**
 * The virtual-actor runtime of one node. Actors are reached by id through `ref`;
 * the first message activates an actor, an idle one is persisted and deactivated, and
 * the next message brings it back. At most one activation per id exists here.
 */
export class ActorRuntime implements RuntimeInternals {
  readonly nodeId: string;
  readonly metrics: RuntimeMetrics;
  readonly #types = new Map<string, CompiledDefinition>();
  readonly #directory = new Map<string, Activation>();
  readonly #host: ActivationHost;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #callTimeoutMs: number;
  readonly #idleCheckMs: number;
  readonly #shutdownGraceMs: number;
  readonly #reminders: ReminderScheduler | undefined;
  readonly #placement: Placement | undefined;
  #accepting = true;
  #collector: { cancel(): void } | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: ActorRuntimeOptions) {
    this.nodeId = options.nodeId;
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? createLogger({ nodeId: options.nodeId, level: "silent" })).child({ component: "runtime" });
    this.#callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.#shutdownGraceMs = options.shutdownGraceMs ?? 10_000;
    this.#reminders = options.reminders;
    this.#placement = options.placement;
    this.metrics = new RuntimeMetrics(this.#clock);
    for (const def of options.actors) {
      if (this.#types.has(def.type)) throw new SwitchboardError("invalid_argument", `actor type ${def.type} is registered twice`);
      this.#types.set(def.type, compileDefinition(def));
    }
    const shortestIdle = Math.min(...[...this.#types.values()].map((d) => d.idleTimeoutMs), 300_000);
    this.#idleCheckMs = options.idleCheckIntervalMs ?? Math.max(1000, Math.floor(shortestIdle / 4));
    const self = this;
    this.#host = {
      clock: this.#clock,
      store: options.stateStore,
      logger: this.#logger,
      tracing: new TurnTracer(options.tracer, options.nodeId),
      metrics: this.metrics,
      nodeId: this.nodeId,
      services: options.services ?? {},
      invoke: (kind, target, method, arg, options, parent) => self.invoke(kind, target, method, arg, options, parent),
      setReminder: (...args) => self.setReminder(...args),
      cancelReminder: (...args) => self.cancelReminder(...args),
      removed: (activation, leftovers) => self.#removed(activation, leftovers),
    };
  }

  /** Starts the idle collector and the reminders. */
  async start(): Promise<void> {
    this.#scheduleCollect();
    // A tick counts as fired once the actor has handled it (a call, not a send).
    await this.#reminders?.start(async (id, method, arg, messageId) => void (await this.invoke("call", id, method, arg, { messageId }, undefined)));
  }

  ref<H extends Handlers<any>>(definition: ActorDefinition<any, H>, tenantKey: string): ActorRef<H> {
    return this.refById(actorId(definition.type, tenantKey)) as ActorRef<H>;
  }

  refById(id: string): ActorRef<Handlers<any>> {
    return new ActorRefImpl(this, id, undefined);
  }

  invoke(
    kind: "call" | "send",
    target: string,
    method: string,
    arg: unknown,
    options: CallOptions & SendOptions,
    parent: { readonly actorId: string; readonly message: ActorMessage | undefined } | undefined,
  ): Promise<unknown> {
    try {
      if (!this.#accepting && parent === undefined) {
        throw new SwitchboardError("shutting_down", `node ${this.nodeId} is shutting down`, { context: { actorId: target, method } });
      }
      // An id with an activation here was checked when it was activated.
      const def = this.#directory.get(target)?.def ?? this.#definitionOf(target, method);
      if (!def.methods.has(method)) throw this.#unknownMethod(def, target, method);
      const now = kind === "call" ? this.#clock.now() : 0;
      const carrier: { traceparent?: string; tracestate?: string } = {};
      propagation.inject(context.active(), carrier);
      const copy = jsonCopy(arg, `the argument of ${target}.${method}`);
      const messageId = options.messageId ?? randomUUID();
      if (kind === "send") {
        const msg: ActorMessage = {
          kind,
          target,
          method,
          arg: copy,
          messageId,
          deadlineMs: 0,
          callChain: noCallChain,
          sender: parent?.actorId,
          traceparent: carrier.traceparent,
          tracestate: carrier.tracestate,
          settle: undefined,
        };
        if (this.#isRemote(target)) return this.#placement!.forward(msg).then(() => undefined);
        this.#deliver(msg, def);
        return accepted;
      }
      let timeoutMs = options.timeoutMs ?? this.#callTimeoutMs;
      const parentDeadline = parent?.message?.deadlineMs ?? 0;
      if (parentDeadline !== 0) timeoutMs = Math.min(timeoutMs, parentDeadline - now);
      if (timeoutMs <= 0) throw this.#deadlineError(target, method);
      const callChain = parent === undefined ? noCallChain : [...(parent.message?.callChain ?? noCallChain), parent.actorId];
      const deadlineMs = now + timeoutMs;
      let resolveCall!: (result: unknown) => void;
      let rejectCall!: (err: unknown) => void;
      const answered = new Promise<unknown>((resolve, reject) => {
        resolveCall = resolve;
        rejectCall = reject;
      });
      let done = false;
      let timer: TimerHandle | undefined;
      const settle = (err: unknown, result?: unknown) => {
        if (done) return;
        done = true;
        timer?.cancel();
        if (err) rejectCall(err);
        else resolveCall(result);
      };
      const msg: ActorMessage = {
        kind,
        target,
        method,
        arg: copy,
        messageId,
        deadlineMs,
        callChain,
        sender: parent?.actorId,
        traceparent: carrier.traceparent,
        tracestate: carrier.tracestate,
        settle,
      };
      try {
        this.#route(msg, def);
      } catch (err) {
        settle(err);
      }
      // A call answered before its turn yielded (a synchronous handler of an idle actor) needs no deadline timer.
      if (!done) timer = this.#clock.setTimer(() => settle(this.#deadlineError(target, method)), deadlineMs - this.#clock.now());
      return answered;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #deadlineError(target: string, method: string): SwitchboardError {
    return new SwitchboardError("deadline_exceeded", `${target}.${method} did not answer before its deadline`, { context: { actorId: target, method } });
  }

  #definitionFor(target: string, method: string): CompiledDefinition {
    const def = this.#definitionOf(target, method);
    if (!def.methods.has(method)) throw this.#unknownMethod(def, target, method);
    return def;
  }

  /** Checks the id and finds its type; `method` is for the error's context. */
  #definitionOf(target: string, method: string): CompiledDefinition {
    parseActorId(target);
    const def = this.#types.get(typeOf(target));
    if (def === undefined) throw new SwitchboardError("unknown_actor_type", `no actor type ${typeOf(target)} on this node (${target})`, { context: { actorId: target, method } });
    return def;
  }

  #unknownMethod(def: CompiledDefinition, target: string, method: string): SwitchboardError {
    return new SwitchboardError("unknown_method", `${def.type} has no handler ${method}`, { context: { actorId: target, method } });
  }

  #isRemote(target: string): boolean {
    return this.#placement !== undefined && !this.#placement.isLocal(target);
  }

  /** Delivers locally or forwards to the node that serves the target; a call's outcome reaches `settle`. */
  #route(msg: ActorMessage, def: CompiledDefinition): void {
    if (!this.#isRemote(msg.target)) return this.#deliver(msg, def);
    const forwarded = this.#placement!.forward(msg);
    if (msg.settle) forwarded.then((r) => msg.settle!(null, r), (e: unknown) => msg.settle!(e));
    else forwarded.catch((err: unknown) => this.#logger.warn({ err, actorId: msg.target, method: msg.method }, "forwarded one-way message refused"));
  }

  /**
   * A message from another node. Throws (for the transport to answer with) when this
   * node is draining (`shutting_down`), no longer serves the actor (`unavailable`: the
   * sender retries on the new owner), or refuses it (`mailbox_full`, `call_cycle`, …).
   */
  acceptRemote(msg: ActorMessage): void {
    if (!this.#accepting) throw new SwitchboardError("shutting_down", `node ${this.nodeId} is shutting down`, { context: { actorId: msg.target, method: msg.method } });
    const def = this.#definitionFor(msg.target, msg.method);
    if (this.#isRemote(msg.target)) throw new SwitchboardError("unavailable", `node ${this.nodeId} does not serve ${msg.target} now`, { context: { actorId: msg.target, method: msg.method } });
    this.#deliver(msg, def, true);
  }

  /**
   * A message the placement forwarded, handed back because its target came to this
   * node meanwhile. Resolves with a call's result, or once a send is accepted; rejects
   * as `acceptRemote` throws or the call fails.
   */
  acceptLocal(msg: ActorMessage): Promise<unknown> {
    if (msg.kind === "send") {
      try {
        this.acceptRemote(msg);
        return accepted;
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    try {
      const settle = (err: unknown, result?: unknown) => (err ? reject(err) : resolve(result));
      this.acceptRemote({
        kind: msg.kind,
        target: msg.target,
        method: msg.method,
        arg: msg.arg,
        messageId: msg.messageId,
        deadlineMs: msg.deadlineMs,
        callChain: msg.callChain,
        sender: msg.sender,
        traceparent: msg.traceparent,
        tracestate: msg.tracestate,
        settle,
      });
    } catch (err) {
      reject(err);
    }
    return promise;
  }

  /** Deactivates (persisting) every activation whose id matches; resolves when all are gone. */
  async deactivateWhere(match: (actorId: string) => boolean): Promise<number> {
    const chosen = [...this.#directory.values()].filter((a) => match(a.id));
    await Promise.all(chosen.map((a) => a.deactivate()));
    return chosen.length;
  }

  /** Puts the message in the target's mailbox, activating it first if needed. Throws what `enqueue` throws. */
  #deliver(msg: ActorMessage, def: CompiledDefinition, fromRemote = false): void {
    let activation = this.#directory.get(msg.target);
    if (activation === undefined) {
      activation = new Activation(msg.target, def, this.#host);
      this.#directory.set(msg.target, activation);
      activation.enqueue(msg, def.methods.get(msg.method)!, fromRemote);
      void activation.activate();
      return;
    }
    activation.enqueue(msg, def.methods.get(msg.method)!, fromRemote);
  }

  #removed(activation: Activation, leftovers: ActorMessage[]): void {
    if (this.#directory.get(activation.id) === activation) this.#directory.delete(activation.id);
    for (const msg of leftovers) {
      try {
        this.#route(msg, this.#types.get(activation.def.type)!);
      } catch (err) {
        msg.settle?.(err);
      }
    }
  }

  #scheduleCollect(): void {
    this.#collector = this.#clock.setTimer(() => {
      this.collectIdle();
      if (this.#accepting) this.#scheduleCollect();
    }, this.#idleCheckMs);
  }

  /** Deactivates every activation idle for longer than its type's timeout. Returns how many. */
  collectIdle(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const a of this.#directory.values()) {
      if (a.status === "active" && a.idle && now - a.lastActiveMs >= a.def.idleTimeoutMs) {
        void a.deactivate();
        n++;
      }
    }
    return n;
  }

  /** Deactivates one actor (persisting it). False if it was not active here. */
  async deactivate(id: string): Promise<boolean> {
    const a = this.#directory.get(id);
    if (a === undefined) return false;
    await a.deactivate();
    return true;
  }

  isActive(id: string): boolean {
    return this.#directory.has(id);
  }

  setReminder(id: string, name: string, options: ReminderOptions): Promise<void> {
    if (this.#reminders === undefined) return Promise.reject(new SwitchboardError("unavailable", "this runtime has no reminder table", { context: { actorId: id } }));
    this.#definitionFor(id, options.method);
    return this.#reminders.set(id, name, options);
  }

  cancelReminder(id: string, name: string): Promise<boolean> {
    if (this.#reminders === undefined) return Promise.resolve(false);
    return this.#reminders.cancel(id, name);
  }

  /** Activations by type, with up to `sampleIds` ids each. */
  activations(filter: { type?: string; sampleIds?: number } = {}): { groups: ActivationSummary[]; total: number } {
    const groups = new Map<string, { count: number; sampleIds: string[] }>();
    let total = 0;
    for (const a of this.#directory.values()) {
      if (filter.type !== undefined && a.def.type !== filter.type) continue;
      let g = groups.get(a.def.type);
      if (g === undefined) groups.set(a.def.type, (g = { count: 0, sampleIds: [] }));
      g.count++;
      total++;
      if (g.sampleIds.length < (filter.sampleIds ?? 0)) g.sampleIds.push(a.id);
    }
    return { groups: [...groups].map(([type, g]) => ({ type, ...g })).sort((a, b) => a.type.localeCompare(b.type)), total };
  }

  stats(): RuntimeStats {
    let depthTotal = 0;
    let depthMax = 0;
    for (const a of this.#directory.values()) {
      depthTotal += a.queued;
      if (a.queued > depthMax) depthMax = a.queued;
    }
    const m = this.metrics;
    return {
      activations: this.#directory.size,
      mailboxDepthTotal: depthTotal,
      mailboxDepthMax: depthMax,
      turnsPerSecond: m.turnsPerSecond(),
      turns: m.turns,
      turnsFailed: m.turnsFailed,
      mailboxRejected: [...m.mailboxRejected.values()].reduce((a, b) => a + b, 0),
      duplicatesDropped: m.duplicatesDropped,
      deadlinesExpired: m.deadlinesExpired,
      callCyclesRefused: m.callCyclesRefused,
      activationsTotal: m.activations,
      deactivationsTotal: m.deactivations,
    };
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Drains: refuses new outside messages (`shutting_down`), stops reminders, lets
   * queued and running turns finish (within `shutdownGraceMs`), then persists and
   * deactivates every activation. Idempotent.
   */
  shutdown(): Promise<void> {
    return (this.#shutdown ??= this.#shutdownNow());
  }

  async #shutdownNow(): Promise<void> {
    this.#accepting = false;
    this.#collector?.cancel();
    await this.#reminders?.stop();
    const deadline = Date.now() + this.#shutdownGraceMs;
    while (Date.now() < deadline && [...this.#directory.values()].some((a) => !a.idle || a.status === "activating")) {
      await new Promise((r) => setTimeout(r, 5));
    }
    // Deactivation can hand late messages to fresh activations; go round until none is left.
    while (this.#directory.size > 0 && Date.now() < deadline + this.#shutdownGraceMs) {
      await Promise.all([...this.#directory.values()].map((a) => a.deactivate()));
    }
    this.#logger.info({ remaining: this.#directory.size }, "runtime stopped");
  }
}
