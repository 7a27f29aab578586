import { SwitchboardError } from "../errors.ts";

/**
 * Payloads and results cross an actor boundary as JSON, on one node as across NATS,
 * so both modes have the same semantics: the receiver gets its own copy, `Date`
 * becomes a string, `undefined` fields vanish, and what JSON cannot carry (BigInt,
 * cycles, functions) is refused at the sender with `invalid_argument`.
 */
export function jsonCopy<T>(value: T, what: string): T {
  if (value === null || value === undefined) return value;
  const t = typeof value;
  if (t === "string" || t === "boolean") return value;
  if (t === "number") return (Number.isFinite(value) ? value : null) as T;
  return JSON.parse(encodeJson(value, what)) as T;
}

export function encodeJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new SwitchboardError("invalid_argument", `${what} cannot be sent as JSON: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new SwitchboardError("invalid_argument", `${what} cannot be sent as JSON (${typeof value})`);
  return text;
}
