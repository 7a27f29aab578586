import { SwitchboardError } from "../errors.ts";

/** The longest key a `KvTable` accepts, in characters. */
export const maxKvKeyLength = 256;

/**
 * Dot-separated tokens of `[A-Za-z0-9_-]`, none empty: `node.n1`, `p.17`,
 * `coordinator`. This is the alphabet a JetStream key-value bucket takes without
 * encoding (a key becomes a NATS subject, so `*`, `>`, spaces and empty tokens are
 * out), and every `KvTable` refuses anything else the same way.
 */
const keyPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const prefixPattern = /^[A-Za-z0-9_.-]*$/;

/** Throws `invalid_argument` unless `key` is a valid `KvTable` key (see `keyPattern`). */
export function checkKvKey(key: string): void {
  if (typeof key !== "string" || key.length > maxKvKeyLength || !keyPattern.test(key)) {
    throw new SwitchboardError(
      "invalid_argument",
      `invalid key ${JSON.stringify(key)}: use dot-separated tokens of [A-Za-z0-9_-], at most ${maxKvKeyLength} characters`,
      { context: { key } },
    );
  }
}

/**
 * Throws `invalid_argument` unless `prefix` is made of key characters (letters, digits,
 * `_`, `-`, `.`). A prefix that no valid key can start with (`.a`, `a..`) is allowed
 * and simply matches nothing.
 */
export function checkKvPrefix(prefix: string): void {
  if (typeof prefix !== "string" || prefix.length > maxKvKeyLength || !prefixPattern.test(prefix)) {
    throw new SwitchboardError("invalid_argument", `invalid key prefix ${JSON.stringify(prefix)}: use only [A-Za-z0-9_.-]`, {
      context: { prefix },
    });
  }
}

/** Whether some valid key starts with `prefix` (which passed `checkKvPrefix`). */
export function kvPrefixCanMatch(prefix: string): boolean {
  return !prefix.startsWith(".") && !prefix.includes("..");
}

/** Throws `invalid_argument` unless `revision` is a positive safe integer (revisions start at 1). */
export function checkKvRevision(revision: number, key: string): void {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new SwitchboardError("invalid_argument", `invalid revision ${String(revision)} for key ${JSON.stringify(key)}: revisions are integers from 1`, {
      context: { key, revision },
    });
  }
}

/** Throws `invalid_argument` unless `ttlMs` is a non-negative safe integer (0 = forever). */
export function checkKvTtlMs(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
    throw new SwitchboardError("invalid_argument", `invalid ttlMs ${String(ttlMs)}: a whole number of milliseconds, 0 for no expiry`, {
      context: { ttlMs },
    });
  }
}
