import { SwitchboardError } from "../errors.ts";

/**
 * Refuses an actor id or reminder name a backend could not key faithfully: it must be a
 * non-empty, well-formed Unicode string without U+0000. Lone surrogates are refused
 * because UTF-8 would turn two distinct ids into the same bytes; U+0000 is refused
 * because the level table uses it to separate the actor id from the name in its keys.
 */
export function assertReminderId(field: "actorId" | "name", value: unknown, context: Record<string, unknown>): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new SwitchboardError("invalid_argument", `reminder ${field} must be a non-empty string`, { context });
  }
  if (!value.isWellFormed()) {
    throw new SwitchboardError("invalid_argument", `reminder ${field} must be well-formed Unicode`, { context });
  }
  if (value.includes("\u0000")) {
    throw new SwitchboardError("invalid_argument", `reminder ${field} must not contain U+0000`, { context });
  }
}

export function assertReminderKey(actorId: string, name: string): void {
  assertReminderId("actorId", actorId, { actorId });
  assertReminderId("name", name, { actorId, name });
}

export function assertActorId(actorId: string): void {
  assertReminderId("actorId", actorId, { actorId });
}

export function assertFilter(filter: unknown): void {
  if (filter !== undefined && typeof filter !== "function") {
    throw new SwitchboardError("invalid_argument", "reminder filter must be a function when given");
  }
}

export function closedError(context: Record<string, unknown> = {}): SwitchboardError {
  return new SwitchboardError("unavailable", "reminder table is closed", { context });
}

/**
 * Orders strings by Unicode code point, which is also UTF-8 byte order: the order a
 * level database keeps its keys in. JavaScript's `<` compares UTF-16 code units and
 * disagrees for characters above U+FFFF against U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (0xD800–0xDFFF) starts a character above U+FFFF, so it outranks
    // every code unit from U+E000 up, though its own code unit is smaller.
    const xHigh = x >= 0xd800 && x <= 0xdfff;
    const yHigh = y >= 0xd800 && y <= 0xdfff;
    if (xHigh !== yHigh && (xHigh ? y >= 0xe000 : x >= 0xe000)) return xHigh ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
