import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { isSwitchboardError } from "../../../runtime/index.ts";
import { createAuthenticator, type MqttAuthSettings, type MqttLogin, type MqttTenantAuth } from "./authenticator.ts";
import type { MqttJwtSettings } from "./jwt-verifier.ts";
import { hashPassword } from "./password-hash.ts";

const scratch = mkdtempSync(join(tmpdir(), "sb-mqtt-auth-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const secret = "a-shared-secret-of-at-least-32-bytes!";
const nowMs = Date.UTC(2030, 0, 1);
const now = () => nowMs;
const nowS = nowMs / 1000;

let aliceHash = "";
let carolHash = "";
before(async () => {
  aliceHash = await hashPassword("alice-pw", { logN: 10 });
  carolHash = await hashPassword("carol-pw", { logN: 10 });
});

function settings(over: Partial<MqttAuthSettings> = {}, tenants: Record<string, MqttTenantAuth> = {}): MqttAuthSettings {
  return {
    anonymous: { enabled: true, tenant: "default" },
    defaultTenant: "default",
    tenants: new Map(
      Object.entries({
        acme: { users: new Map([["alice", { password: aliceHash }], ["alice@example.com", { password: aliceHash }]]) },
        default: { users: new Map([["carol", { password: carolHash }]]) },
        ...tenants,
      }),
    ),
    ...over,
  };
}

const login = ({ password, ...l }: Partial<Omit<MqttLogin, "password">> & { password?: string | Buffer } = {}): MqttLogin => ({
  clientId: "c1",
  remoteAddress: "10.0.0.9",
  ...l,
  ...(password === undefined ? {} : { password: typeof password === "string" ? Buffer.from(password) : password }),
});

function hs(over: Partial<MqttJwtSettings> = {}): MqttJwtSettings {
  return { algorithm: "HS256", secret, userClaim: "sub", clockSkewS: 30, ...over };
}

async function token(claims: Record<string, unknown>, key: Parameters<SignJWT["sign"]>[0] = new TextEncoder().encode(secret), alg = "HS256"): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
}

describe("anonymous access", () => {
  test("on: a client without credentials is its own user in the anonymous tenant", async () => {
    const auth = createAuthenticator(settings({ anonymous: { enabled: true, tenant: "public" } }));
    assert.deepEqual(await auth.authenticate(login({ clientId: "sensor-17" })), { ok: true, tenant: "public", user: "sensor-17", anonymous: true });
    assert.deepEqual(await auth.authenticate(login({ clientId: "sensor-17", username: "", password: Buffer.alloc(0) })), { ok: true, tenant: "public", user: "sensor-17", anonymous: true }, "empty username and password count as none");
  });

  test("off: not authorized", async () => {
    const auth = createAuthenticator(settings({ anonymous: { enabled: false, tenant: "default" } }));
    const r = await auth.authenticate(login());
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, "not_authorized");
  });

  test("a username nobody configured is refused even with anonymous access on (no password either)", async () => {
    const auth = createAuthenticator(settings());
    for (const l of [login({ username: "mallory" }), login({ username: "mallory", password: "x" }), login({ username: "alice@nowhere", password: "alice-pw" })]) {
      const r = await auth.authenticate(l);
      assert.equal(!r.ok && r.reason, "bad_credentials", l.username);
    }
  });

  test("a client id that cannot be a user name is refused", async () => {
    const r = await createAuthenticator(settings()).authenticate(login({ clientId: "x".repeat(300) }));
    assert.equal(!r.ok && r.reason, "not_authorized");
  });
});

describe("users with password hashes", () => {
  test("user@tenant with the right password", async () => {
    const auth = createAuthenticator(settings());
    assert.deepEqual(await auth.authenticate(login({ username: "alice@acme", password: "alice-pw" })), { ok: true, tenant: "acme", user: "alice", anonymous: false });
    assert.deepEqual(await auth.authenticate(login({ username: "alice@example.com@acme", password: "alice-pw" })), { ok: true, tenant: "acme", user: "alice@example.com", anonymous: false });
  });

  test("a username without @tenant is a user of the default tenant", async () => {
    const auth = createAuthenticator(settings());
    assert.deepEqual(await auth.authenticate(login({ username: "carol", password: "carol-pw" })), { ok: true, tenant: "default", user: "carol", anonymous: false });
    const r = await auth.authenticate(login({ username: "alice", password: "alice-pw" }));
    assert.equal(!r.ok && r.reason, "bad_credentials", "alice is acme's, not the default tenant's");
  });

  test("a wrong, missing or empty password is refused; the detail never holds it", async () => {
    const auth = createAuthenticator(settings());
    for (const password of ["Tr0ub4dor", undefined, ""]) {
      const r = await auth.authenticate(login({ username: "alice@acme", ...(password === undefined ? {} : { password }) }));
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, "bad_credentials");
      assert.ok(!r.ok && !r.detail.includes("Tr0ub4dor"));
    }
  });

  test("a malformed configured hash stops the authenticator being made, naming the setting", () => {
    assert.throws(
      () => createAuthenticator(settings({}, { beta: { users: new Map([["bob", { password: "hunter2" }]]) } })),
      (err: unknown) => isSwitchboardError(err, "invalid_argument") && err.message.startsWith("mqtt.tenants.beta.users.bob.password: ") && !err.message.includes("hunter2"),
    );
  });

  test("a flood of password checks beyond the queue is refused busy at once", async () => {
    const auth = createAuthenticator(settings(), { maxConcurrentHashes: 1, maxWaitingHashes: 2 });
    const results = await Promise.all(Array.from({ length: 6 }, () => auth.authenticate(login({ username: "alice@acme", password: "alice-pw" }))));
    assert.deepEqual(
      results.map((r) => (r.ok ? "ok" : r.reason)),
      ["ok", "ok", "ok", "busy", "busy", "busy"],
    );
    assert.equal((await auth.authenticate(login({ username: "alice@acme", password: "alice-pw" }))).ok, true, "the gate opens again");
  });
});

describe("JWT", () => {
  const jwtTenants = () => ({ iot: { users: new Map(), jwt: hs({ issuer: "https://id.example", audience: "mqtt" }) } });
  const good = { sub: "dev-1", iss: "https://id.example", aud: "mqtt", exp: nowS + 600 };

  test("a good token: the user is its sub; the username may name the user or leave it out", async () => {
    const auth = createAuthenticator(settings({}, jwtTenants()), { now });
    const t = await token(good);
    const expected = { ok: true, tenant: "iot", user: "dev-1", anonymous: false, expiresAtMs: (nowS + 600) * 1000 };
    assert.deepEqual(await auth.authenticate(login({ username: "@iot", password: t })), expected);
    assert.deepEqual(await auth.authenticate(login({ username: "dev-1@iot", password: t })), expected);
    const other = await auth.authenticate(login({ username: "dev-2@iot", password: t }));
    assert.equal(!other.ok && other.reason, "bad_jwt", "the username's user must be the token's");
  });

  test("refused: expired, not yet valid, wrong signature, wrong audience, wrong issuer, no exp, alg none, garbage", async () => {
    const auth = createAuthenticator(settings({}, jwtTenants()), { now });
    const cases: [string, Promise<string> | string][] = [
      ["expired", token({ ...good, exp: nowS - 31 })],
      ["not yet valid", token({ ...good, nbf: nowS + 31 })],
      ["wrong signature", token(good, new TextEncoder().encode("another-secret-of-at-least-32-bytes!!"))],
      ["wrong audience", token({ ...good, aud: "other" })],
      ["wrong issuer", token({ ...good, iss: "https://evil.example" })],
      ["no exp", token({ sub: "dev-1", iss: good.iss, aud: good.aud })],
      ["alg none", `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(good)).toString("base64url")}.`],
      ["no user claim", token({ ...good, sub: undefined })],
      ["garbage", "not.a.jwt"],
      ["huge", "x".repeat(20_000)],
    ];
    for (const [name, t] of cases) {
      const tok = await t;
      const r = await auth.authenticate(login({ username: "@iot", password: tok }));
      assert.equal(r.ok, false, name);
      assert.equal(!r.ok && r.reason, "bad_jwt", name);
      assert.ok(!r.ok && !r.detail.includes(tok.slice(0, 20)), `${name}: the detail never holds the token`);
    }
  });

  test("within the clock skew, exp and nbf still pass", async () => {
    const auth = createAuthenticator(settings({}, jwtTenants()), { now });
    assert.equal((await auth.authenticate(login({ username: "@iot", password: await token({ ...good, exp: nowS - 20 }) }))).ok, true);
    assert.equal((await auth.authenticate(login({ username: "@iot", password: await token({ ...good, nbf: nowS + 20 }) }))).ok, true);
  });

  test("another user claim; a token with no username is checked by the default tenant", async () => {
    const auth = createAuthenticator(settings({}, { default: { users: new Map(), jwt: hs({ userClaim: "device" }) } }), { now });
    const r = await auth.authenticate(login({ password: await token({ device: "meter-9", exp: nowS + 60 }) }));
    assert.deepEqual(r, { ok: true, tenant: "default", user: "meter-9", anonymous: false, expiresAtMs: (nowS + 60) * 1000 });
  });

  test("a configured user's password wins over the token path; without a password, refused", async () => {
    const auth = createAuthenticator(settings({}, { acme: { users: new Map([["alice", { password: aliceHash }]]), jwt: hs() } }), { now });
    assert.equal((await auth.authenticate(login({ username: "alice@acme", password: "alice-pw" }))).ok, true);
    const t = await token({ sub: "alice", exp: nowS + 60 });
    assert.equal((await auth.authenticate(login({ username: "alice@acme", password: t }))).ok, false, "alice has a password; her token is not it");
    assert.equal((await auth.authenticate(login({ username: "@acme", password: t }))).ok, true, "the token path names the user by the token");
    const none = await auth.authenticate(login({ username: "@acme" }));
    assert.equal(!none.ok && none.reason, "bad_credentials");
  });

  test("RS256 and ES256 with public key files", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const rsaFile = join(scratch, "rsa.pem");
    const ecFile = join(scratch, "ec.pem");
    writeFileSync(rsaFile, rsa.publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(ecFile, ec.publicKey.export({ type: "spki", format: "pem" }));
    const auth = createAuthenticator(
      settings({}, {
        r: { users: new Map(), jwt: { algorithm: "RS256", publicKeyFile: rsaFile, userClaim: "sub", clockSkewS: 0 } },
        e: { users: new Map(), jwt: { algorithm: "ES256", publicKeyFile: ecFile, userClaim: "sub", clockSkewS: 0 } },
      }),
      { now },
    );
    const claims = { sub: "d1", exp: nowS + 60 };
    assert.equal((await auth.authenticate(login({ username: "@r", password: await token(claims, rsa.privateKey, "RS256") }))).ok, true);
    assert.equal((await auth.authenticate(login({ username: "@e", password: await token(claims, ec.privateKey, "ES256") }))).ok, true);
    const swapped = await auth.authenticate(login({ username: "@r", password: await token(claims, ec.privateKey, "ES256") }));
    assert.equal(!swapped.ok && swapped.reason, "bad_jwt", "an ES256 token where RS256 is configured");
    const hsForged = await auth.authenticate(login({ username: "@r", password: await token(claims, new TextEncoder().encode(rsa.publicKey.export({ type: "spki", format: "pem" }) as string), "HS256") }));
    assert.equal(!hsForged.ok && hsForged.reason, "bad_jwt", "the public key used as an HMAC secret (algorithm confusion)");
  });

  test("unusable keys stop the authenticator being made, naming the setting", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const ecFile = join(scratch, "ec-only.pem");
    const privFile = join(scratch, "private.pem");
    writeFileSync(ecFile, ec.publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(privFile, ec.privateKey.export({ type: "pkcs8", format: "pem" }));
    const cases: [MqttJwtSettings, RegExp][] = [
      [{ algorithm: "RS256", publicKeyFile: join(scratch, "missing.pem"), userClaim: "sub", clockSkewS: 0 }, /^mqtt\.tenants\.k\.jwt\.publicKeyFile: cannot read .*missing\.pem \(no such file\)$/],
      [{ algorithm: "RS256", publicKeyFile: ecFile, userClaim: "sub", clockSkewS: 0 }, /^mqtt\.tenants\.k\.jwt\.publicKeyFile: RS256 needs an RSA key/],
      [{ algorithm: "ES384", publicKeyFile: ecFile, userClaim: "sub", clockSkewS: 0 }, /^mqtt\.tenants\.k\.jwt\.publicKeyFile: ES384 needs an EC key on secp384r1/],
      [{ algorithm: "ES256", publicKeyFile: privFile, userClaim: "sub", clockSkewS: 0 }, /^mqtt\.tenants\.k\.jwt\.publicKeyFile: .* holds a private key/],
      [{ algorithm: "HS256", secret: "short", userClaim: "sub", clockSkewS: 0 }, /^mqtt\.tenants\.k\.jwt\.secret: HS256 needs a secret of at least 32 bytes/],
    ];
    for (const [jwt, why] of cases) {
      assert.throws(() => createAuthenticator(settings({}, { k: { users: new Map(), jwt } })), (err: unknown) => isSwitchboardError(err, "invalid_argument") && why.test(err.message), String(why));
    }
  });
});

describe("TLS client certificate as the identity", () => {
  const withCerts = () => settings({ tls: { useIdentityAsUsername: true }, anonymous: { enabled: false, tenant: "default" } });

  test("the verified CN is the username; the CONNECT's credentials are ignored", async () => {
    const auth = createAuthenticator(withCerts());
    assert.deepEqual(await auth.authenticate(login({ certificateCn: "meter-1@acme", username: "whoever", password: "x" })), { ok: true, tenant: "acme", user: "meter-1", anonymous: false });
    assert.deepEqual(await auth.authenticate(login({ certificateCn: "meter-2" })), { ok: true, tenant: "default", user: "meter-2", anonymous: false });
  });

  test("a certificate naming a tenant not configured, or no user: not authorized", async () => {
    const auth = createAuthenticator(withCerts());
    for (const l of [login({ certificateCn: "m@nowhere", username: "alice@acme", password: "alice-pw" }), login({ certificateCn: "@acme" })]) {
      const r = await auth.authenticate(l);
      assert.equal(!r.ok && r.reason, "not_authorized");
    }
  });

  test("without a certificate (a plain listener), the other rules apply", async () => {
    const auth = createAuthenticator(withCerts());
    assert.deepEqual(await auth.authenticate(login({ username: "alice@acme", password: "alice-pw" })), { ok: true, tenant: "acme", user: "alice", anonymous: false });
    const anonymous = await auth.authenticate(login());
    assert.equal(!anonymous.ok && anonymous.reason, "not_authorized", "anonymous access is off in these settings");
  });

  test("a certificate counts only when useIdentityAsUsername is on", async () => {
    const auth = createAuthenticator(settings());
    assert.deepEqual(await auth.authenticate(login({ certificateCn: "meter-1@acme", clientId: "m1" })), { ok: true, tenant: "default", user: "m1", anonymous: true });
  });
});
