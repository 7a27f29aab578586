import type { ActorDefinition, Handler, Handlers } from "./actor-definition.ts";
import type { DedupeOptions } from "./actor-definition.ts";

export interface CompiledMethod {
  readonly name: string;
  readonly fn: Handler<unknown>;
  readonly readOnly: boolean;
  /** Runs without waiting for other turns (the method or the whole type is reentrant). */
  readonly interleave: boolean;
  /** `type.method`: the name of its turns' spans. */
  readonly spanName: string;
}

/** A definition with its defaults filled in and its handlers in a map: what the runtime runs. */
export interface CompiledDefinition {
  readonly type: string;
  readonly source: ActorDefinition<unknown, Handlers<unknown>>;
  readonly methods: ReadonlyMap<string, CompiledMethod>;
  readonly idleTimeoutMs: number;
  readonly mailboxCapacity: number;
  readonly dedupe: Required<DedupeOptions> | undefined;
  readonly persistence: "turn" | "explicit";
}

export function compileDefinition(def: ActorDefinition<any, Handlers<any>>): CompiledDefinition {
  const methods = new Map<string, CompiledMethod>();
  for (const [name, spec] of Object.entries(def.handlers)) {
    const fn = typeof spec === "function" ? spec : spec.handler;
    const readOnly = typeof spec !== "function" && spec.readOnly === true;
    const interleave = def.reentrant === true || (typeof spec !== "function" && spec.reentrant === true);
    methods.set(name, { name, fn, readOnly, interleave, spanName: `${def.type}.${name}` });
  }
  return {
    type: def.type,
    source: def,
    methods,
    idleTimeoutMs: def.idleTimeoutMs ?? 300_000,
    mailboxCapacity: def.mailboxCapacity ?? 1000,
    dedupe: def.dedupe ? { windowMs: def.dedupe.windowMs, maxEntries: def.dedupe.maxEntries ?? 10_000 } : undefined,
    persistence: def.persistence ?? "turn",
  };
}
