import { SwitchboardError } from "../errors.ts";

/**
 * Payloads and results cross an actor boundary as JSON, on one node as across NATS,
 * so both modes have the same semantics: the receiver gets its own copy, `Date`
 * becomes a string, `undefined` fields vanish, and what JSON cannot carry (BigInt,
 * cycles, functions) is refused at the sender with `invalid_argument`.
 *
 * A top-level `null`, `undefined`, string, boolean or finite number is returned as is;
 * anything else as `jsonRoundTrip` copies it.
 */
export function jsonCopy<T>(value: T, what: string): T {
  if (value === null || value === undefined) return value;
  const t = typeof value;
  if (t === "string" || t === "boolean") return value;
  if (t === "number") return (Number.isFinite(value) ? value : null) as T;
  return jsonRoundTrip(value, what);
}

/**
 * Exactly `JSON.parse(encodeJson(value, what))`, including its errors, but plain
 * objects and arrays are copied directly rather than through JSON text; anything else
 * inside them (a `Date`, a class instance, a `toJSON`, a BigInt) goes through JSON.
 */
export function jsonRoundTrip<T>(value: T, what: string): T {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return (Number.isFinite(value) ? value + 0 : null) as T;
    case "object":
      if (value === null) return value;
      if (isPlain(value)) {
        try {
          return copyObject(value, 0) as T;
        } catch {
          // Too deep, a cycle, or something JSON refuses: JSON itself reports it, with its own message.
        }
      }
  }
  return JSON.parse(encodeJson(value, what)) as T;
}

export function encodeJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw unencodable(what, err);
  }
  if (text === undefined) throw new SwitchboardError("invalid_argument", `${what} cannot be sent as JSON (${typeof value})`);
  return text;
}

function unencodable(what: string, err: unknown): SwitchboardError {
  return new SwitchboardError("invalid_argument", `${what} cannot be sent as JSON: ${(err as Error).message}`, { cause: err });
}

// Deeper than this (or a cycle) the whole value goes through JSON.
const maxDepth = 64;
const tooDeep = new RangeError("nested too deeply for the direct copy");
/** What JSON leaves out of an object (and writes as `null` in an array). */
const omitted: unique symbol = Symbol("omitted");

/** An array or object literal with no `toJSON` of its own: what the direct copy handles. */
function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  if (proto === Array.prototype ? !Array.isArray(value) : proto !== Object.prototype) return false;
  return typeof (value as { toJSON?: unknown }).toJSON !== "function";
}

function copyObject(value: object, depth: number): object {
  if (depth > maxDepth) throw tooDeep;
  if (Array.isArray(value)) {
    const n = value.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const v = copyValue(value[i], i, depth);
      out[i] = v === omitted ? null : v;
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = copyValue((value as Record<string, unknown>)[key], key, depth);
    if (v === omitted) continue;
    // JSON.parse makes "__proto__" an own property; assignment would set the prototype.
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

function copyValue(v: unknown, key: string | number, depth: number): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      // JSON writes -0 as 0 and non-finite numbers as null.
      return Number.isFinite(v) ? v + 0 : null;
    case "undefined":
    case "function":
    case "symbol":
      return omitted;
    case "object":
      if (v === null) return null;
      return isPlain(v) ? copyObject(v, depth + 1) : viaJson(v, key);
    default:
      return viaJson(v, key);
  }
}

/** One value through JSON itself, under its own key, so a `toJSON(key)` sees the key JSON would pass. */
function viaJson(v: unknown, key: string | number): unknown {
  const text = JSON.stringify({ [key]: v });
  return text === "{}" ? omitted : (JSON.parse(text) as Record<string, unknown>)[key];
}
