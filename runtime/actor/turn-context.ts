import type { Clock } from "../clock.ts";
import { SwitchboardError } from "../errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { ActorContext, ActorDefinition, ActorRef, ActorReminders, ActorTimers, Handlers, TimerOptions } from "./actor-definition.ts";
import { actorId, parseActorId } from "./actor-id.ts";
import type { ActorMessage } from "./actor-message.ts";
import type { CompiledDefinition } from "./compiled-definition.ts";
import type { ActivationStatus } from "./activation-status.ts";
import type { RuntimeInternals } from "./runtime-internals.ts";
import { ActorRefImpl } from "./actor-ref.ts";
import { actorMessageLog, type ActorMessageLog, type ActorServices } from "./actor-services.ts";

/** What a turn context reads through: the part of an activation it needs. */
export interface ActivationView {
  readonly id: string;
  readonly def: CompiledDefinition;
  readonly epoch: number;
  readonly status: ActivationStatus;
  state: unknown;
  readonly host: RuntimeInternals & { readonly clock: Clock; readonly logger: Logger; readonly services: ActorServices };
  save(): Promise<void>;
  requestDeactivation(): void;
  setTimer(name: string, fire: () => void, delayMs: number): void;
  cancelTimer(name: string): boolean;
}

/**
 * The context of one turn (or of `onActivate`/`onDeactivate`, with no message). Cheap:
 * one object per turn, everything else read through the activation.
 */
export class TurnContext implements ActorContext<unknown> {
  readonly #activation: ActivationView;
  readonly #message: ActorMessage | undefined;
  #log: Logger | undefined;

  constructor(activation: ActivationView, message: ActorMessage | undefined) {
    this.#activation = activation;
    this.#message = message;
  }

  get id(): string {
    return this.#activation.id;
  }
  get type(): string {
    return this.#activation.def.type;
  }
  get tenant(): string {
    return parseActorId(this.id).tenant;
  }
  get key(): string {
    return parseActorId(this.id).key;
  }
  get state(): unknown {
    return this.#activation.state;
  }
  set state(value: unknown) {
    this.#activation.state = value;
  }
  get clock(): Clock {
    return this.#activation.host.clock;
  }
  get messageId(): string {
    return this.#message?.messageId ?? "";
  }
  get sender(): string | undefined {
    return this.#message?.sender;
  }
  get epoch(): number {
    return this.#activation.epoch;
  }
  get log(): Logger {
    return (this.#log ??= this.#activation.host.logger.child({ actorId: this.id }));
  }

  ref<H extends Handlers<any>>(definition: ActorDefinition<any, H>, tenantKey: string): ActorRef<H> {
    return this.refById(actorId(definition.type, tenantKey)) as ActorRef<H>;
  }

  refById(id: string): ActorRef<Handlers<any>> {
    return new ActorRefImpl(this.#activation.host, id, { actorId: this.id, message: this.#message });
  }

  save(): Promise<void> {
    return this.#activation.save();
  }

  publish(channel: string, payload: unknown): void {
    const publish = this.#activation.host.services.publish;
    if (publish === undefined) throw new SwitchboardError("unavailable", "this node lends actors no publisher", { context: { actorId: this.id } });
    publish(this.tenant, channel, payload);
  }

  messageLog(name?: string): ActorMessageLog {
    return actorMessageLog(this.#activation.host.services.messageLog, this.id, name);
  }

  deactivateOnIdle(): void {
    this.#activation.requestDeactivation();
  }

  get timers(): ActorTimers {
    const activation = this.#activation;
    return {
      set(name: string, options: TimerOptions): void {
        if (!activation.def.methods.has(options.method)) {
          throw new SwitchboardError("unknown_method", `timer ${name}: ${activation.def.type} has no handler ${options.method}`, { context: { actorId: activation.id } });
        }
        const period = options.periodMs ?? 0;
        const fire = () => {
          if (activation.status !== "active") return;
          if (period > 0) activation.setTimer(name, fire, period);
          activation.host
            .invoke("send", activation.id, options.method, options.arg, {}, { actorId: activation.id, message: undefined })
            .catch((err: unknown) => activation.host.logger.warn({ err, actorId: activation.id, timer: name }, "timer tick refused"));
        };
        activation.setTimer(name, fire, options.delayMs);
      },
      cancel: (name: string) => activation.cancelTimer(name),
    };
  }

  get reminders(): ActorReminders {
    const host = this.#activation.host;
    const id = this.id;
    return {
      set: (name, options) => host.setReminder(id, name, options),
      cancel: (name) => host.cancelReminder(id, name),
    };
  }
}
