import { createHash } from "node:crypto";

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** Longest UTF-8 id kept readable in a token; longer ones are hashed. */
const maxPlainBytes = 256;

/**
 * One NATS subject token (and so one KV key token) naming an arbitrary well-formed
 * string. Subjects and KV keys allow only `[-/_=.a-zA-Z0-9]` with `.` separating
 * tokens, so the id's UTF-8 bytes go in base64url (no padding), behind a one-letter
 * scheme: `k` + base64url for ids up to 256 bytes, `h` + base64url(SHA-256) beyond,
 * which keeps subjects far below the server's 4 KiB control-line limit. The two
 * schemes cannot collide (different first letter); distinct ids give distinct tokens
 * except for a SHA-256 collision. Callers must validate well-formedness first: a lone
 * surrogate would encode like U+FFFD.
 */
export function encodeToken(id: string): string {
  const bytes = utf8.encode(id);
  if (bytes.byteLength <= maxPlainBytes) return `k${Buffer.from(bytes).toString("base64url")}`;
  return `h${createHash("sha256").update(bytes).digest("base64url")}`;
}

/**
 * The id behind a token from {@link encodeToken}, or undefined when the token is a hash
 * (the id must then come from the stored value) or not one this code wrote.
 */
export function decodeToken(token: string): string | undefined {
  if (!token.startsWith("k") || !/^[-_A-Za-z0-9]+$/.test(token.slice(1))) return undefined;
  try {
    return utf8Strict.decode(Buffer.from(token.slice(1), "base64url"));
  } catch {
    return undefined;
  }
}
