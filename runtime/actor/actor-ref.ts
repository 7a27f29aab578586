import type { ActorRef, CallOptions, Handlers } from "./actor-definition.ts";
import type { RuntimeInternals } from "./runtime-internals.ts";

type Parent = Parameters<RuntimeInternals["invoke"]>[5];

const noOptions: CallOptions = Object.freeze({});

/** The one `ActorRef` implementation: an id plus who is calling. */
export class ActorRefImpl implements ActorRef<Handlers<any>> {
  readonly id: string;
  readonly #runtime: RuntimeInternals;
  readonly #parent: Parent;

  constructor(runtime: RuntimeInternals, id: string, parent: Parent) {
    this.#runtime = runtime;
    this.id = id;
    this.#parent = parent;
  }

  call(method: string, arg?: unknown, options: CallOptions = noOptions): Promise<any> {
    return this.#runtime.invoke("call", this.id, method, arg, options, this.#parent);
  }

  send(method: string, arg?: unknown, options: CallOptions = noOptions): Promise<void> {
    return this.#runtime.invoke("send", this.id, method, arg, options, this.#parent) as Promise<void>;
  }
}
