import type { Clock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { MissedTickPolicy } from "../reminders/index.ts";
import type { ActorMessageLog } from "./actor-services.ts";
import { isValidActorType } from "./actor-id.ts";

/** Per-call options. */
export interface CallOptions {
  /** How long the caller waits for the answer; default the runtime's `callTimeoutMs` (30 s), capped by the calling turn's own deadline. */
  readonly timeoutMs?: number;
  /** Reuse to make a retry recognisable as the same message (see `dedupe`); default a fresh id. */
  readonly messageId?: string;
}

export interface SendOptions {
  readonly messageId?: string;
}

export interface TimerOptions {
  /** First tick after this many ms. */
  readonly delayMs: number;
  /** Then every this many ms; 0 or absent: once. */
  readonly periodMs?: number;
  /** Handler the tick calls, as a one-way message through the mailbox. */
  readonly method: string;
  readonly arg?: unknown;
}

export interface ReminderOptions {
  /** First tick after this many ms. */
  readonly dueInMs: number;
  /** Then every this many ms; 0 or absent: once. */
  readonly periodMs?: number;
  readonly method: string;
  readonly arg?: unknown;
  /** Ticks missed while no process ran: `fire-once` (default) fires one now, `skip` drops them, `fire-all` fires each (at most 1000). */
  readonly missed?: MissedTickPolicy;
}

/** Timers live and die with the activation; ticks are turns like any other message. */
export interface ActorTimers {
  set(name: string, options: TimerOptions): void;
  cancel(name: string): boolean;
}

/** Durable timers: persisted, they survive restarts and reactivate the actor. */
export interface ActorReminders {
  set(name: string, options: ReminderOptions): Promise<void>;
  cancel(name: string): Promise<boolean>;
}

/**
 * What a handler sees: its actor's identity and state, time, and ways to reach other
 * actors. Actors do no I/O of their own (STYLE.md §7).
 */
export interface ActorContext<S> {
  /** `type/tenant:key`. */
  readonly id: string;
  readonly type: string;
  readonly tenant: string;
  /** The key after `tenant:`. */
  readonly key: string;
  /** The actor's state; replace it or mutate it. Persisted per the type's `persistence`. */
  state: S;
  readonly clock: Clock;
  /** Id of the message being handled. */
  readonly messageId: string;
  /** Id of the sending actor, if an actor sent it. */
  readonly sender: string | undefined;
  /** Epoch of this activation: rises by one each time the actor is activated anywhere. */
  readonly epoch: number;
  ref<H extends Handlers<any>>(definition: ActorDefinition<any, H>, tenantKey: string): ActorRef<H>;
  refById(id: string): ActorRef<Handlers<any>>;
  /** Persists the state now (etag- and epoch-checked); resolves when stored. */
  save(): Promise<void>;
  /** Deactivates the actor once this turn ends. */
  deactivateOnIdle(): void;
  readonly timers: ActorTimers;
  readonly reminders: ActorReminders;
  readonly log: Logger;
  /**
   * Publishes an event on a channel of this actor's tenant, to the subscribers of every
   * node. Fire and forget. The payload goes to local subscribers as it is: do not
   * change it afterwards. Throws `unavailable` on a node that lends no publisher.
   */
  publish(channel: string, payload: unknown): void;
  /** This actor's own stream of the node's message log (`<id>`, or `<id>#<name>`). */
  messageLog(name?: string): ActorMessageLog;
}

export type Handler<S> = (ctx: ActorContext<S>, arg: any) => unknown;

export interface MethodOptions {
  /** May run while other read-only turns run; must not change state (it is not saved). */
  readonly readOnly?: boolean;
  /** Runs interleaved with any other turn of this activation, even one that awaits. */
  readonly reentrant?: boolean;
}

export type HandlerSpec<S> = Handler<S> | ({ readonly handler: Handler<S> } & MethodOptions);
export type Handlers<S> = Record<string, HandlerSpec<S>>;

export interface DedupeOptions {
  /** How long a message id is remembered; a repeat within it is not applied again. */
  readonly windowMs: number;
  /** At most this many ids per activation (oldest forgotten first); default 10,000. */
  readonly maxEntries?: number;
}

export interface ActorDefinition<S, H extends Handlers<S>> {
  /** The type name: the part of the id before `/`. */
  readonly type: string;
  /** State of an actor that has never been saved. */
  readonly initialState: () => S;
  readonly handlers: H;
  /** Every turn interleaves with every other (no turn waits for another). Default false. */
  readonly reentrant?: boolean;
  /** An activation with no message for this long persists and deactivates; default 300,000 ms. */
  readonly idleTimeoutMs?: number;
  /** Messages waiting per activation before new ones are refused with `mailbox_full`; default 1,000. */
  readonly mailboxCapacity?: number;
  /** Drop repeats of a message id within a window; a repeated call gets the first answer. Off by default. */
  readonly dedupe?: DedupeOptions;
  /**
   * `turn` (default): state is saved after every turn that changed it, before the
   * caller hears back, so an answered call is durable. `explicit`: only `ctx.save()`
   * and deactivation save.
   */
  readonly persistence?: "turn" | "explicit";
  /** Runs once after the state is loaded, before the first message. */
  readonly onActivate?: (ctx: ActorContext<S>) => unknown;
  /** Runs before the final save when the activation goes away. */
  readonly onDeactivate?: (ctx: ActorContext<S>) => unknown;
}

type HandlerFn<Spec> = Spec extends { readonly handler: infer F } ? F : Spec;
export type ArgOf<Spec> = HandlerFn<Spec> extends (ctx: any, arg: infer A) => any ? A : undefined;
export type ResultOf<Spec> = HandlerFn<Spec> extends (...args: any[]) => infer R ? Awaited<R> : never;
type ArgsOf<Spec, O> = unknown extends ArgOf<Spec> ? [arg?: unknown, options?: O] : undefined extends ArgOf<Spec> ? [arg?: ArgOf<Spec>, options?: O] : [arg: ArgOf<Spec>, options?: O];

/** A typed handle on one actor. Cheap; holding one does not activate anything. */
export interface ActorRef<H extends Handlers<any>> {
  readonly id: string;
  /** Request/response. Rejects with a `SwitchboardError` carrying the actor id and method. */
  call<M extends keyof H & string>(method: M, ...args: ArgsOf<H[M], CallOptions>): Promise<ResultOf<H[M]>>;
  /** One way: resolves once the message is accepted (queued), rejects if refused (e.g. `mailbox_full`). */
  send<M extends keyof H & string>(method: M, ...args: ArgsOf<H[M], SendOptions>): Promise<void>;
}

/**
 * Declares an actor type. Checks the definition (names, bounds) and returns it frozen;
 * registering happens when the runtime is built, never at import time.
 */
export function defineActor<S, H extends Handlers<S>>(definition: ActorDefinition<S, H>): ActorDefinition<S, H> {
  const bad = (why: string) => new SwitchboardError("invalid_argument", `actor type ${JSON.stringify(definition.type)}: ${why}`);
  if (!isValidActorType(definition.type)) throw bad("the type name must be a letter, then up to 63 of A-Z a-z 0-9 _ . -");
  if (Object.keys(definition.handlers).length === 0) throw bad("it needs at least one handler");
  for (const [name, spec] of Object.entries(definition.handlers)) {
    const fn = typeof spec === "function" ? spec : spec?.handler;
    if (typeof fn !== "function") throw bad(`handler ${name} is not a function`);
    if (typeof spec !== "function" && spec.readOnly && spec.reentrant) throw bad(`handler ${name} cannot be both readOnly and reentrant`);
  }
  const positive = (v: number | undefined, name: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw bad(`${name} must be a positive integer, got ${v}`);
  };
  positive(definition.idleTimeoutMs, "idleTimeoutMs");
  positive(definition.mailboxCapacity, "mailboxCapacity");
  positive(definition.dedupe?.windowMs, "dedupe.windowMs");
  positive(definition.dedupe?.maxEntries, "dedupe.maxEntries");
  return Object.freeze({ ...definition });
}
