import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { checkTenant } from "../../actors/index.ts";
import { SwitchboardError } from "../../runtime/index.ts";

/** How a stored key looks: `sha256:` and the SHA-256 of the key's UTF-8 bytes, as 64 hex digits. */
const hashPattern = /^sha256:([0-9a-fA-F]{64})$/;

/** The API keys of one tenant, as the configuration holds them: hashes only. */
export interface TenantApiKeys {
  readonly tenant: string;
  /** `sha256:<64 hex digits>` each (see `hashApiKey`). */
  readonly apiKeyHashes: readonly string[];
}

/**
 * A new API key: `sbk_` and 32 random bytes in base64url (256 bits; fits an HTTP
 * bearer token, RFC 6750 §2.1). `random` is for tests.
 */
export function generateApiKey(random: (n: number) => Buffer = randomBytes): string {
  return `sbk_${random(32).toString("base64url")}`;
}

/** What the configuration stores for `key`: `sha256:<64 hex digits>`. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

/** The 32 digest bytes of a stored hash; throws `invalid_argument` unless it is `sha256:<64 hex digits>`. */
export function parseApiKeyHash(hash: string): Buffer {
  const m = typeof hash === "string" ? hashPattern.exec(hash) : null;
  if (m === null) throw new SwitchboardError("invalid_argument", `${JSON.stringify(hash)} is not an API key hash (sha256:<64 hex digits>; make one with \`switchboard apikey\`)`);
  return Buffer.from(m[1]!, "hex");
}

/**
 * Which tenant an API key belongs to. Holds only the keys' SHA-256 digests; a key
 * presented is hashed and compared with every stored digest in constant time
 * (`crypto.timingSafeEqual`), all of them, so the time taken says nothing about which
 * digest, if any, matched. A key belongs to exactly one tenant.
 */
export class ApiKeyTable {
  readonly #entries: { readonly tenant: string; readonly digest: Buffer }[] = [];

  /** Throws `invalid_argument` for a malformed tenant or hash, or one hash listed for two tenants. */
  constructor(tenants: readonly TenantApiKeys[]) {
    const owner = new Map<string, string>();
    for (const t of tenants) {
      checkTenant(t.tenant);
      for (const hash of t.apiKeyHashes) {
        const digest = parseApiKeyHash(hash);
        const hex = digest.toString("hex");
        const had = owner.get(hex);
        if (had !== undefined && had !== t.tenant) {
          throw new SwitchboardError("invalid_argument", `one API key hash is listed for tenants ${had} and ${t.tenant}; a key belongs to one tenant`);
        }
        if (had !== undefined) continue;
        owner.set(hex, t.tenant);
        this.#entries.push({ tenant: t.tenant, digest });
      }
    }
  }

  /** Keys held, over all tenants. */
  get size(): number {
    return this.#entries.length;
  }

  /** Tenants that have at least one key. */
  get tenants(): readonly string[] {
    return [...new Set(this.#entries.map((e) => e.tenant))];
  }

  /** The tenant `key` belongs to, or undefined for a key nobody configured. */
  tenantOf(key: string): string | undefined {
    const digest = createHash("sha256").update(key, "utf8").digest();
    let found: string | undefined;
    for (const e of this.#entries) {
      if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.tenant;
    }
    return found;
  }
}
