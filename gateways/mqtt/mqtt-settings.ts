import { BlockList, isIPv4, isIPv6 } from "node:net";
import { checkTenant } from "../../actors/index.ts";
import { SwitchboardError } from "../../runtime/index.ts";
import { checkAclPattern, type MqttAclRule, type MqttAclSettings } from "./auth/acl.ts";
import type { MqttAuthSettings, MqttTenantAuth } from "./auth/authenticator.ts";
import { jwtAlgorithms, jwtSecretProblem, type JwtAlgorithm, type MqttJwtSettings } from "./auth/jwt-verifier.ts";
import type { MqttTlsSettings } from "./auth/load-tls.ts";
import { parsePasswordHash } from "./auth/password-hash.ts";
import { isUserName } from "./auth/username.ts";
import { defaultMqttLimits, type MqttLimits } from "./mqtt-limits.ts";

/**
 * The config file's `mqtt` section, checked and with defaults filled (docs/mqtt.md).
 * Holds secrets (a JWT `secret`): log parts of it, never the whole.
 */
export interface MqttSettings extends MqttAuthSettings {
  readonly anonymous: {
    readonly enabled: boolean;
    readonly tenant: string;
    /** Whether the config said `enabled` itself, rather than taking the default (see `checkExposure`). */
    readonly explicit: boolean;
  };
  readonly defaultTenant: string;
  readonly tenants: ReadonlyMap<string, MqttTenantAuth>;
  readonly acl: MqttAclSettings;
  readonly limits: MqttLimits;
  /** TLS material; absent: no TLS. */
  readonly tls?: MqttTlsSettings;
}

/** The keys of the `mqtt` section this module reads. */
export const mqttSettingKeys = ["anonymous", "defaultTenant", "tenants", "acl", "limits", "tls"] as const;

/** Integer bounds of each limit (`MqttLimits` documents them): [min, max]. */
const limitRanges: { readonly [K in keyof MqttLimits]: MqttLimits[K] extends number ? readonly [number, number] : undefined } = {
  maxKeepAliveS: [1, 65535],
  receiveMaximum: [1, 65535], // [MQTT-3.2.2.3.3]: 0 is a protocol error
  topicAliasMaximum: [0, 65535],
  maxPacketSize: [256, 268_435_460], // a 1-byte header, 4 bytes of length, 268,435,455 bytes ([MQTT-2.2.3])
  maxQueuedMessages: [1, 1_000_000],
  queuePolicy: undefined,
  maxConnections: [1, 10_000_000],
  maxInflight: [1, 65535],
  maxSubscriptionsPerClient: [1, 1_000_000],
  maxPublishRatePerClient: [0, 1_000_000],
  connectTimeoutMs: [100, 600_000],
};

export interface ParseMqttOptions {
  /** Where `secretEnv` names are looked up; only bin/ passes `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Checks the config file's `mqtt` section and fills its defaults: anonymous access
 * on, in tenant `default`; no users; ACL default `allow` with no rules; the limits of
 * `defaultMqttLimits`; no TLS. Pure: reads no file (key and certificate files are read
 * by `createAuthenticator` and `loadTls`) and no environment but `options.env`.
 *
 * Throws `invalid_argument` whose message starts with the offending key
 * (`mqtt.tenants.acme.users.alice.password: not a password hash …`). Passwords and
 * secrets are never repeated in a message.
 */
export function parseMqttSettings(raw: unknown, options: ParseMqttOptions = {}): MqttSettings {
  const env = options.env ?? {};
  const m = mapping(raw, "mqtt", mqttSettingKeys);
  const defaultTenant = m.defaultTenant === undefined ? "default" : tenantName(m.defaultTenant, "mqtt.defaultTenant");
  const anon = mapping(m.anonymous, "mqtt.anonymous", ["enabled", "tenant"]);
  const anonymous = {
    enabled: anon.enabled === undefined ? true : bool(anon.enabled, "mqtt.anonymous.enabled"),
    tenant: anon.tenant === undefined ? defaultTenant : tenantName(anon.tenant, "mqtt.anonymous.tenant"),
    explicit: anon.enabled !== undefined,
  };
  const tenants = new Map<string, MqttTenantAuth>();
  for (const [tenant, value] of entries(m.tenants, "mqtt.tenants", "tenant names to { users, jwt }")) {
    const at = `mqtt.tenants.${tenant}`;
    tenantName(tenant, at);
    tenants.set(tenant, tenantAuth(value, at, env));
  }
  const tls = m.tls === undefined || m.tls === null ? undefined : tlsSettings(m.tls);
  return { anonymous, defaultTenant, tenants, acl: aclSettings(m.acl), limits: limitSettings(m.limits), ...(tls === undefined ? {} : { tls }) };
}

function tenantAuth(raw: unknown, at: string, env: Readonly<Record<string, string | undefined>>): MqttTenantAuth {
  const t = mapping(raw, at, ["users", "jwt"]);
  const users = new Map<string, { password: string }>();
  for (const [user, value] of entries(t.users, `${at}.users`, "user names to { password }")) {
    const u = `${at}.users.${user}`;
    if (!isUserName(user) || user === "*") throw bad(`${u}: ${show(user)} is not a user name (1-256 characters, no control characters, not *)`);
    const { password } = mapping(value, u, ["password"]);
    if (password === undefined) throw bad(`${u}.password: missing (the hash of the user's password; \`switchboard passwd\` makes one)`);
    try {
      parsePasswordHash(password);
    } catch (err) {
      throw bad(`${u}.password: ${(err as Error).message}`);
    }
    users.set(user, { password: password as string });
  }
  const jwt = t.jwt === undefined || t.jwt === null ? undefined : jwtSettings(t.jwt, `${at}.jwt`, env);
  return jwt === undefined ? { users } : { users, jwt };
}

function jwtSettings(raw: unknown, at: string, env: Readonly<Record<string, string | undefined>>): MqttJwtSettings {
  const j = mapping(raw, at, ["algorithm", "secret", "secretEnv", "publicKeyFile", "userClaim", "issuer", "audience", "clockSkewS"]);
  if (typeof j.algorithm !== "string" || !(jwtAlgorithms as readonly string[]).includes(j.algorithm)) {
    throw bad(`${at}.algorithm: ${j.algorithm === undefined ? "missing" : `${show(j.algorithm)} is not`} one of ${jwtAlgorithms.join(", ")}`);
  }
  const algorithm = j.algorithm as JwtAlgorithm;
  const out: { -readonly [K in keyof MqttJwtSettings]: MqttJwtSettings[K] } = {
    algorithm,
    userClaim: j.userClaim === undefined ? "sub" : str(j.userClaim, `${at}.userClaim`),
    clockSkewS: j.clockSkewS === undefined ? 30 : int(j.clockSkewS, `${at}.clockSkewS`, 0, 300),
  };
  if (j.issuer !== undefined) out.issuer = str(j.issuer, `${at}.issuer`);
  if (j.audience !== undefined) out.audience = str(j.audience, `${at}.audience`);
  if (algorithm === "HS256" || algorithm === "HS384" || algorithm === "HS512") {
    if (j.publicKeyFile !== undefined) throw bad(`${at}.publicKeyFile: ${algorithm} uses a shared secret (secret or secretEnv), not a public key`);
    if ((j.secret === undefined) === (j.secretEnv === undefined)) throw bad(`${at}: ${algorithm} needs one of secret or secretEnv (the name of an environment variable holding it)`);
    let secret: string;
    if (j.secretEnv !== undefined) {
      const name = str(j.secretEnv, `${at}.secretEnv`);
      const value = env[name];
      if (value === undefined || value === "") throw bad(`${at}.secretEnv: the environment variable ${name} is not set`);
      secret = value;
    } else {
      if (typeof j.secret !== "string" || j.secret === "") throw bad(`${at}.secret: not a string`);
      secret = j.secret;
    }
    const problem = jwtSecretProblem(algorithm, secret);
    if (problem !== undefined) throw bad(`${at}.${j.secretEnv !== undefined ? "secretEnv" : "secret"}: ${problem}`);
    out.secret = secret;
  } else {
    if (j.secret !== undefined || j.secretEnv !== undefined) throw bad(`${at}.${j.secret !== undefined ? "secret" : "secretEnv"}: ${algorithm} checks signatures with a public key (publicKeyFile), not a shared secret`);
    if (j.publicKeyFile === undefined) throw bad(`${at}.publicKeyFile: missing (${algorithm} needs a PEM file with the public key)`);
    out.publicKeyFile = str(j.publicKeyFile, `${at}.publicKeyFile`);
  }
  return out;
}

function aclSettings(raw: unknown): MqttAclSettings {
  const a = mapping(raw, "mqtt.acl", ["default", "rules"]);
  const fallback = a.default === undefined ? "allow" : oneOf(a.default, "mqtt.acl.default", ["allow", "deny"] as const);
  if (a.rules !== undefined && a.rules !== null && !Array.isArray(a.rules)) throw bad(`mqtt.acl.rules: ${show(a.rules)} is not a list of rules`);
  const rules = ((a.rules ?? []) as unknown[]).map((value, i): MqttAclRule => {
    const at = `mqtt.acl.rules[${i}]`;
    const r = mapping(value, at, ["action", "tenant", "user", "anonymous", "access", "topic"]);
    if (r.action === undefined) throw bad(`${at}.action: missing (allow or deny)`);
    if (r.topic === undefined) throw bad(`${at}.topic: missing (a topic filter; %u and %c stand for the user and the client id)`);
    const topic = str(r.topic, `${at}.topic`);
    try {
      checkAclPattern(topic);
    } catch (err) {
      throw bad(`${at}.topic: ${(err as Error).message}`);
    }
    const tenant = r.tenant === undefined ? "*" : r.tenant === "*" ? "*" : tenantName(r.tenant, `${at}.tenant`);
    const user = r.user === undefined ? "*" : str(r.user, `${at}.user`);
    if (user !== "*" && !isUserName(user)) throw bad(`${at}.user: ${show(user)} is not a user name or *`);
    const rule: MqttAclRule = {
      action: oneOf(r.action, `${at}.action`, ["allow", "deny"] as const),
      tenant,
      user,
      access: r.access === undefined ? "all" : oneOf(r.access, `${at}.access`, ["publish", "subscribe", "all"] as const),
      topic,
    };
    return r.anonymous === undefined ? rule : { ...rule, anonymous: bool(r.anonymous, `${at}.anonymous`) };
  });
  return { default: fallback, rules };
}

function limitSettings(raw: unknown): MqttLimits {
  const l = mapping(raw, "mqtt.limits", Object.keys(defaultMqttLimits));
  const out: Record<string, unknown> = { ...defaultMqttLimits };
  for (const [key, value] of Object.entries(l)) {
    if (value === undefined) continue;
    const at = `mqtt.limits.${key}`;
    if (key === "queuePolicy") out[key] = oneOf(value, at, ["drop-oldest", "drop-new"] as const);
    else {
      const [min, max] = limitRanges[key as Exclude<keyof MqttLimits, "queuePolicy">];
      out[key] = int(value, at, min, max);
    }
  }
  return out as unknown as MqttLimits;
}

function tlsSettings(raw: unknown): MqttTlsSettings {
  const t = mapping(raw, "mqtt.tls", ["certFile", "keyFile", "caFile", "requireClientCert", "useIdentityAsUsername"]);
  if (t.certFile === undefined) throw bad("mqtt.tls.certFile: missing (a PEM file with the server's certificate)");
  if (t.keyFile === undefined) throw bad("mqtt.tls.keyFile: missing (a PEM file with the server's private key)");
  const requireClientCert = t.requireClientCert === undefined ? false : bool(t.requireClientCert, "mqtt.tls.requireClientCert");
  const useIdentityAsUsername = t.useIdentityAsUsername === undefined ? false : bool(t.useIdentityAsUsername, "mqtt.tls.useIdentityAsUsername");
  if (requireClientCert && t.caFile === undefined) throw bad("mqtt.tls.caFile: missing (requireClientCert needs the CAs that client certificates chain to)");
  if (useIdentityAsUsername && !requireClientCert) throw bad("mqtt.tls.useIdentityAsUsername: needs requireClientCert: true (the identity must come from a verified certificate)");
  return {
    certFile: str(t.certFile, "mqtt.tls.certFile"),
    keyFile: str(t.keyFile, "mqtt.tls.keyFile"),
    ...(t.caFile === undefined ? {} : { caFile: str(t.caFile, "mqtt.tls.caFile") }),
    requireClientCert,
    useIdentityAsUsername,
  };
}

/**
 * The refusal to start when `host` is reachable from other machines and anonymous
 * access is on only because nobody turned it off: a node started with its defaults and
 * `--host 0.0.0.0` would take MQTT clients from anywhere without credentials. As
 * Mosquitto 2 takes anonymous clients on its local listener only unless told
 * `allow_anonymous true`, anonymous access that the config enables itself
 * (`mqtt.anonymous.enabled: true`) is the operator's decision and passes. Loopback
 * is `localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped); every other address or name,
 * the wildcards included, is not. Returns one line, or undefined to go ahead. Call it
 * only when an MQTT listener is to be started.
 */
export function checkExposure(host: string, settings: Pick<MqttSettings, "anonymous">): string | undefined {
  if (isLoopback(host) || !settings.anonymous.enabled || settings.anonymous.explicit) return undefined;
  return (
    `--host ${host}: MQTT clients could connect from anywhere without authentication; ` +
    "configure mqtt users, JWT or client certificates and turn anonymous access off (mqtt.anonymous.enabled: false), " +
    "or allow anonymous clients from the network explicitly (mqtt.anonymous.enabled: true)"
  );
}

export function isLoopback(host: string): boolean {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (h.toLowerCase() === "localhost") return true;
  const loopback = new BlockList();
  loopback.addSubnet("127.0.0.0", 8, "ipv4"); // also matches ::ffff:127.0.0.0/104
  loopback.addAddress("::1", "ipv6");
  return isIPv4(h) ? loopback.check(h, "ipv4") : isIPv6(h) ? loopback.check(h, "ipv6") : false;
}

// --- reading the raw section ---------------------------------------------------------

function mapping(raw: unknown, at: string, keys: readonly string[]): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  // The value is not repeated: it may be a password or a secret written in the wrong place.
  if (typeof raw !== "object" || Array.isArray(raw)) throw bad(`${at}: ${Array.isArray(raw) ? "a list" : `a ${typeof raw}`} is not a mapping (it has: ${keys.join(", ")})`);
  for (const k of Object.keys(raw)) {
    if (!keys.includes(k)) throw bad(`unknown setting ${show(`${at}.${k}`)} (${at} has: ${keys.join(", ")})`);
  }
  return raw as Record<string, unknown>;
}

function entries(raw: unknown, at: string, what: string): [string, unknown][] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== "object" || Array.isArray(raw)) throw bad(`${at}: ${Array.isArray(raw) ? "a list" : `a ${typeof raw}`} is not a mapping of ${what}`);
  return Object.entries(raw);
}

function tenantName(raw: unknown, at: string): string {
  try {
    return checkTenant(raw as string);
  } catch {
    throw bad(`${at}: ${show(raw)} is not a tenant name (1-64 of A-Z a-z 0-9 _ . -)`);
  }
}

function str(raw: unknown, at: string): string {
  if (typeof raw !== "string" || raw === "") throw bad(`${at}: ${show(raw)} is not a non-empty string`);
  return raw;
}

function bool(raw: unknown, at: string): boolean {
  if (typeof raw !== "boolean") throw bad(`${at}: ${show(raw)} is not true or false`);
  return raw;
}

function int(raw: unknown, at: string, min: number, max: number): number {
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < min || raw > max) throw bad(`${at}: ${show(raw)} is not a whole number from ${min} to ${max}`);
  return raw;
}

function oneOf<T extends string>(raw: unknown, at: string, values: readonly T[]): T {
  if (typeof raw !== "string" || !(values as readonly string[]).includes(raw)) throw bad(`${at}: ${show(raw)} is not one of ${values.join(", ")}`);
  return raw as T;
}

function show(raw: unknown): string {
  return typeof raw === "string" ? JSON.stringify(raw) : String(JSON.stringify(raw) ?? raw);
}

function bad(message: string): SwitchboardError {
  return new SwitchboardError("invalid_argument", message);
}
