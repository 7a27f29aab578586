import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { SwitchboardError } from "../../../runtime/index.ts";

/**
 * Password hashes of MQTT users, as the configuration holds them:
 * `scrypt:<N>:<r>:<p>:<salt>:<hash>`, with the salt and the derived key in standard
 * base64 (RFC 4648 §4). The line names its own cost, so hashes made with another cost
 * keep verifying when the default changes. `switchboard passwd` makes one.
 *
 * scrypt (RFC 7914) is memory-hard; node:crypto runs it on the libuv thread pool, so
 * the event loop never waits on it.
 */
export interface PasswordHash {
  /** CPU/memory cost: a power of two. */
  readonly n: number;
  /** Block size. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
  readonly salt: Buffer;
  /** The derived key; its length is the key length to derive when verifying. */
  readonly hash: Buffer;
}

/**
 * The default cost: N = 2^14, r = 8, p = 1, 16 MiB and about 40 ms on a server core
 * (scrypt's paper's figure for interactive logins). A broker checks a password on
 * every CONNECT, and thousands of devices reconnect at once after a node drains, so
 * the cost stays at the interactive figure; `switchboard passwd --cost` makes dearer
 * hashes for people's passwords.
 */
export const defaultLogN = 14;
/** Bounds on a hash's cost, so a configured hash cannot make each login take seconds or gigabytes. */
export const minLogN = 10;
export const maxLogN = 18; // 2^18 with r = 8 is 256 MiB, the memory bound
const maxMemoryBytes = 256 * 1024 * 1024;
const saltBytes = 16;
const keyBytes = 32;

const pattern = /^scrypt:(\d{1,8}):(\d{1,3}):(\d{1,3}):([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;
const formatHelp = "scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>; `switchboard passwd` makes one";

/**
 * Parses a stored hash. Throws `invalid_argument` with a message that never repeats the
 * value: an operator who pastes a password where its hash belongs must not see it
 * printed back into a terminal or a log.
 */
export function parsePasswordHash(text: unknown): PasswordHash {
  const m = typeof text === "string" ? pattern.exec(text) : null;
  if (m === null) throw bad(`not a password hash (${formatHelp}); the configuration holds hashes only`);
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const logN = Math.log2(n);
  if (!Number.isInteger(logN) || logN < minLogN || logN > maxLogN) throw bad(`scrypt N must be a power of two from 2^${minLogN} to 2^${maxLogN}`);
  if (r < 1 || r > 32) throw bad("scrypt r must be 1-32");
  if (p < 1 || p > 16) throw bad("scrypt p must be 1-16");
  if (128 * n * r > maxMemoryBytes) throw bad(`scrypt N and r ask for more than ${maxMemoryBytes / 1024 / 1024} MiB`);
  const salt = Buffer.from(m[4]!, "base64");
  const hash = Buffer.from(m[5]!, "base64");
  if (salt.length < 16 || salt.length > 64) throw bad("the salt must be 16-64 bytes");
  if (hash.length < 16 || hash.length > 64) throw bad("the hash must be 16-64 bytes");
  return { n, r, p, salt, hash };
}

export function formatPasswordHash(h: PasswordHash): string {
  return `scrypt:${h.n}:${h.r}:${h.p}:${h.salt.toString("base64")}:${h.hash.toString("base64")}`;
}

/**
 * Hashes `password` (its UTF-8 bytes when a string: an MQTT password is binary data,
 * and a configured one is text) with a fresh 16-byte salt. `logN` is log2 of scrypt's
 * N, default `defaultLogN`; `salt` is for tests.
 */
export async function hashPassword(password: string | Uint8Array, options: { logN?: number; salt?: Buffer } = {}): Promise<string> {
  const logN = options.logN ?? defaultLogN;
  if (!Number.isInteger(logN) || logN < minLogN || logN > maxLogN) throw bad(`the cost must be ${minLogN}-${maxLogN} (log2 of scrypt N)`);
  const params = { n: 2 ** logN, r: 8, p: 1 };
  const salt = options.salt ?? randomBytes(saltBytes);
  const hash = await derive(toBytes(password), { ...params, salt, hash: Buffer.alloc(keyBytes) });
  return formatPasswordHash({ ...params, salt, hash });
}

/** Whether `password` is the one `stored` was made from; compares in constant time. */
export async function verifyPassword(stored: PasswordHash, password: string | Uint8Array): Promise<boolean> {
  const derived = await derive(toBytes(password), stored);
  return timingSafeEqual(derived, stored.hash);
}

function derive(password: Uint8Array, h: PasswordHash): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, h.salt, h.hash.length, { N: h.n, r: h.r, p: h.p, maxmem: 256 * h.n * h.r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function toBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === "string" ? Buffer.from(password, "utf8") : password;
}

function bad(message: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", message);
}
