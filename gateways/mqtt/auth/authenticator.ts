import { randomBytes } from "node:crypto";
import { SwitchboardError } from "../../../runtime/index.ts";
import { createJwtVerifier, type JwtVerifier, type MqttJwtSettings } from "./jwt-verifier.ts";
import { defaultLogN, parsePasswordHash, verifyPassword, type PasswordHash } from "./password-hash.ts";
import { isUserName, parseUsername } from "./username.ts";

/** What a CONNECT offers to prove who the client is. */
export interface MqttLogin {
  /** The client identifier, as assigned when the client sent none. */
  readonly clientId: string;
  /** Absent or empty: none was given. */
  readonly username?: string;
  readonly password?: Buffer;
  readonly remoteAddress: string;
  /** TLS client certificate subject CN when one was verified */
  readonly certificateCn?: string;
}

/**
 * Why a login was refused, and the CONNACK that says so:
 * | reason | MQTT 5 | MQTT 3.1.1 |
 * |---|---|---|
 * | `bad_credentials` | 0x86 Bad User Name or Password | 4 |
 * | `bad_jwt` | 0x86 Bad User Name or Password (the token is the password) | 4 |
 * | `not_authorized` | 0x87 Not authorized | 5 |
 * | `busy` | 0x89 Server busy | 3 Server unavailable |
 */
export type MqttAuthRefusal = "bad_credentials" | "not_authorized" | "bad_jwt" | "busy";

export type MqttAuthResult =
  | {
      readonly ok: true;
      readonly tenant: string;
      readonly user: string;
      /** A client that gave no credentials; its user is its client id. ACL rules may single these out. */
      readonly anonymous: boolean;
      /** A token's `exp`, in ms since the epoch: the connection may be closed then. */
      readonly expiresAtMs?: number;
    }
  | {
      readonly ok: false;
      readonly reason: MqttAuthRefusal;
      /** For the operator's log: never holds a password or a token. */
      readonly detail: string;
    };

/** One tenant's credentials. */
export interface MqttTenantAuth {
  /** User name → the hash of their password (`scrypt:…`, see `hashPassword`). */
  readonly users: ReadonlyMap<string, { readonly password: string }>;
  readonly jwt?: MqttJwtSettings;
}

/** The part of `MqttSettings` that says who may connect. */
export interface MqttAuthSettings {
  /** Clients without credentials: allowed or not, and the tenant they belong to. */
  readonly anonymous: { readonly enabled: boolean; readonly tenant: string };
  /** The tenant of a username without `@tenant`. */
  readonly defaultTenant: string;
  readonly tenants: ReadonlyMap<string, MqttTenantAuth>;
  /** `useIdentityAsUsername`: a verified client certificate's CN is the username, and replaces the CONNECT's credentials. */
  readonly tls?: { readonly useIdentityAsUsername: boolean };
}

export interface MqttAuthenticator {
  /** Decides a login. Never throws for bad credentials; never logs. */
  authenticate(login: MqttLogin): Promise<MqttAuthResult>;
}

export interface AuthenticatorOptions {
  /** The clock for tokens' `exp` and `nbf`, in ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Password hashes computed at once; default 2, half of libuv's default thread pool, so store reads keep threads. */
  readonly maxConcurrentHashes?: number;
  /** Logins that may wait for a hash; beyond, a login is refused `busy` at once. Default 256. */
  readonly maxWaitingHashes?: number;
}

interface TenantCheck {
  readonly users: ReadonlyMap<string, PasswordHash>;
  readonly jwt?: JwtVerifier;
}

/**
 * The rules, in the order they are applied:
 * 1. With `tls.useIdentityAsUsername` and a verified client certificate, its CN is the
 *    username (`device@tenant`, the tenant configured or the default one) and the
 *    CONNECT's credentials are ignored; a CN that names no configured tenant or user:
 *    `not_authorized`. A login without a certificate (a plain listener) goes on below.
 * 2. No username and no password: anonymous. Allowed when anonymous access is on, as
 *    user = the client id in the anonymous tenant; otherwise `not_authorized`.
 * 3. The username is `user@tenant` (see `parseUsername`); no username but a password
 *    (MQTT 5 allows it) is the default tenant with an empty user part. A tenant with no
 *    credentials configured: `bad_credentials`, whatever the anonymous setting (a
 *    username is a claim to be someone, and is never taken unchecked).
 * 4. A user configured in the tenant: the password must match its hash.
 * 5. Otherwise, if the tenant takes tokens: the password is a JWT; the user is its
 *    claim, and a non-empty user part must equal it (`bad_jwt`).
 * 6. Otherwise `bad_credentials`, after hashing the password against a dummy hash so
 *    that an unknown user takes as long as a wrong password.
 *
 * Throws `invalid_argument` (message starting with the setting's key) for a malformed
 * hash or an unusable JWT key; reads JWT public key files now.
 */
export function createAuthenticator(settings: MqttAuthSettings, options: AuthenticatorOptions = {}): MqttAuthenticator {
  const now = options.now ?? Date.now;
  const tenants = new Map<string, TenantCheck>();
  for (const [tenant, auth] of settings.tenants) {
    const users = new Map<string, PasswordHash>();
    for (const [user, { password }] of auth.users) {
      try {
        users.set(user, parsePasswordHash(password));
      } catch (err) {
        throw new SwitchboardError("invalid_argument", `mqtt.tenants.${tenant}.users.${user}.password: ${(err as Error).message}`);
      }
    }
    const jwt = auth.jwt === undefined ? undefined : createJwtVerifier(auth.jwt, `mqtt.tenants.${tenant}.jwt`, now);
    tenants.set(tenant, jwt === undefined ? { users } : { users, jwt });
  }
  const dummy: PasswordHash = { n: 2 ** defaultLogN, r: 8, p: 1, salt: randomBytes(16), hash: randomBytes(32) };
  const gate = hashGate(options.maxConcurrentHashes ?? 2, options.maxWaitingHashes ?? 256);
  const refuse = (reason: MqttAuthRefusal, detail: string): MqttAuthResult => ({ ok: false, reason, detail });

  async function checkPassword(stored: PasswordHash, password: Buffer): Promise<boolean | "busy"> {
    return gate(() => verifyPassword(stored, password));
  }

  return {
    async authenticate(login) {
      const cn = login.certificateCn;
      if (settings.tls?.useIdentityAsUsername && cn !== undefined && cn !== "") {
        const { user, tenant } = parseUsername(cn, settings.defaultTenant);
        if (tenant !== settings.defaultTenant && !tenants.has(tenant)) return refuse("not_authorized", `certificate names tenant ${JSON.stringify(tenant)}, which is not configured`);
        if (!isUserName(user)) return refuse("not_authorized", "certificate CN is not a user name");
        return { ok: true, tenant, user, anonymous: false };
      }

      const username = login.username === "" ? undefined : login.username;
      const password = login.password !== undefined && login.password.length > 0 ? login.password : undefined;
      if (username === undefined && password === undefined) {
        if (!settings.anonymous.enabled) return refuse("not_authorized", "anonymous access is off");
        if (!isUserName(login.clientId)) return refuse("not_authorized", "anonymous client's id is not a user name (1-256 characters, no control characters)");
        return { ok: true, tenant: settings.anonymous.tenant, user: login.clientId, anonymous: true };
      }

      const { user, tenant } = username === undefined ? { user: "", tenant: settings.defaultTenant } : parseUsername(username, settings.defaultTenant);
      const check = tenants.get(tenant);
      if (check === undefined) return refuse("bad_credentials", `no credentials are configured for tenant ${JSON.stringify(tenant)}`);

      const stored = user === "" ? undefined : check.users.get(user);
      if (stored !== undefined) {
        if (password === undefined) return refuse("bad_credentials", "no password");
        const match = await checkPassword(stored, password);
        if (match === "busy") return refuse("busy", "too many logins waiting for a password check");
        return match ? { ok: true, tenant, user, anonymous: false } : refuse("bad_credentials", "wrong password");
      }

      if (check.jwt !== undefined) {
        if (password === undefined) return refuse("bad_credentials", "no token in the password field");
        const token = await check.jwt.verify(password.toString("utf8"));
        if (!token.ok) return refuse("bad_jwt", token.detail);
        if (user !== "" && user !== token.user) return refuse("bad_jwt", "the username's user is not the token's");
        return { ok: true, tenant, user: token.user, anonymous: false, expiresAtMs: token.expiresAtMs };
      }

      if (password !== undefined && (await checkPassword(dummy, password)) === "busy") return refuse("busy", "too many logins waiting for a password check");
      return refuse("bad_credentials", "unknown user");
    },
  };
}

/**
 * Runs at most `max` hash checks at once and queues up to `maxWaiting` more; a check
 * beyond that resolves `"busy"` at once, so a flood of logins is refused loudly
 * instead of queueing without bound.
 */
function hashGate(max: number, maxWaiting: number): <T>(run: () => Promise<T>) => Promise<T | "busy"> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (run) => {
    if (running >= max) {
      if (waiting.length >= maxWaiting) return "busy";
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else running++;
    try {
      return await run();
    } finally {
      const next = waiting.shift();
      if (next !== undefined) next();
      else running--;
    }
  };
}
