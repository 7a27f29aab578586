import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isSwitchboardError } from "../../runtime/index.ts";
import { hashPassword } from "./auth/password-hash.ts";
import { defaultMqttLimits } from "./mqtt-limits.ts";
import { checkExposure, isLoopback, parseMqttSettings, type MqttSettings } from "./mqtt-settings.ts";

const hash = await hashPassword("pw", { logN: 10 });
const secret = "a-shared-secret-of-at-least-32-bytes!";

/** Asserts that `raw` is refused with a message starting `key: ` (or naming it as unknown) and matching `why`. */
function refuses(raw: unknown, key: string, why: RegExp, env: Record<string, string> = {}): void {
  assert.throws(
    () => parseMqttSettings(raw, { env }),
    (err: unknown) => {
      assert.ok(isSwitchboardError(err, "invalid_argument"), String(err));
      assert.ok(err.message.startsWith(`${key}: `) || err.message.startsWith(`unknown setting "${key}"`), `names ${key}: ${err.message}`);
      assert.match(err.message, why);
      return true;
    },
  );
}

describe("parseMqttSettings", () => {
  test("nothing configured: anonymous on in tenant default, ACL allow, default limits, no TLS", () => {
    const s = parseMqttSettings(undefined);
    assert.deepEqual(s, {
      anonymous: { enabled: true, tenant: "default", explicit: false },
      defaultTenant: "default",
      tenants: new Map(),
      acl: { default: "allow", rules: [] },
      limits: defaultMqttLimits,
    } satisfies MqttSettings);
    assert.deepEqual(parseMqttSettings({}), s);
    assert.deepEqual(parseMqttSettings(null), s);
  });

  test("a full section", () => {
    const s = parseMqttSettings(
      {
        defaultTenant: "acme",
        anonymous: { enabled: false, tenant: "public" },
        tenants: {
          acme: { users: { alice: { password: hash }, "bob@example.com": { password: hash } } },
          iot: { jwt: { algorithm: "HS256", secretEnv: "IOT_JWT_SECRET", userClaim: "device", issuer: "https://id.example", audience: "mqtt", clockSkewS: 5 } },
          certs: { jwt: { algorithm: "ES256", publicKeyFile: "/etc/keys/es.pem" } },
          empty: null,
        },
        acl: {
          default: "deny",
          rules: [
            { action: "allow", tenant: "acme", user: "*", access: "publish", topic: "devices/%u/#" },
            { action: "deny", topic: "#", anonymous: true },
          ],
        },
        limits: { maxInflight: 20, queuePolicy: "drop-new", maxPublishRatePerClient: 50 },
        tls: { certFile: "/c.pem", keyFile: "/k.pem", caFile: "/ca.pem", requireClientCert: true, useIdentityAsUsername: true },
      },
      { env: { IOT_JWT_SECRET: secret } },
    );
    assert.deepEqual(s.anonymous, { enabled: false, tenant: "public", explicit: true });
    assert.equal(s.defaultTenant, "acme");
    assert.deepEqual([...s.tenants.keys()], ["acme", "iot", "certs", "empty"]);
    assert.deepEqual([...s.tenants.get("acme")!.users.keys()], ["alice", "bob@example.com"]);
    assert.deepEqual(s.tenants.get("iot")!.jwt, { algorithm: "HS256", secret, userClaim: "device", issuer: "https://id.example", audience: "mqtt", clockSkewS: 5 });
    assert.deepEqual(s.tenants.get("certs")!.jwt, { algorithm: "ES256", publicKeyFile: "/etc/keys/es.pem", userClaim: "sub", clockSkewS: 30 });
    assert.deepEqual(s.tenants.get("empty"), { users: new Map() });
    assert.deepEqual(s.acl, {
      default: "deny",
      rules: [
        { action: "allow", tenant: "acme", user: "*", access: "publish", topic: "devices/%u/#" },
        { action: "deny", tenant: "*", user: "*", access: "all", topic: "#", anonymous: true },
      ],
    });
    assert.deepEqual(s.limits, { ...defaultMqttLimits, maxInflight: 20, queuePolicy: "drop-new", maxPublishRatePerClient: 50 });
    assert.deepEqual(s.tls, { certFile: "/c.pem", keyFile: "/k.pem", caFile: "/ca.pem", requireClientCert: true, useIdentityAsUsername: true });
  });

  test("the anonymous tenant follows the default tenant unless given", () => {
    assert.equal(parseMqttSettings({ defaultTenant: "acme" }).anonymous.tenant, "acme");
    assert.equal(parseMqttSettings({ defaultTenant: "acme", anonymous: { tenant: "guests" } }).anonymous.tenant, "guests");
    assert.deepEqual(parseMqttSettings({ anonymous: { enabled: true } }).anonymous, { enabled: true, tenant: "default", explicit: true });
  });

  describe("each error names its key", () => {
    const cases: [name: string, raw: unknown, key: string, why: RegExp, env?: Record<string, string>][] = [
      ["an unknown key", { anonymus: {} }, "mqtt.anonymus", /mqtt has: anonymous, defaultTenant, tenants, acl, limits, tls/],
      ["not a mapping", [], "mqtt", /a list is not a mapping/],
      ["anonymous.enabled not a boolean", { anonymous: { enabled: "yes" } }, "mqtt.anonymous.enabled", /"yes" is not true or false/],
      ["a bad anonymous tenant", { anonymous: { tenant: "a b" } }, "mqtt.anonymous.tenant", /not a tenant name/],
      ["a bad default tenant", { defaultTenant: "" }, "mqtt.defaultTenant", /not a tenant name/],
      ["a bad tenant name", { tenants: { "ac me": {} } }, "mqtt.tenants.ac me", /not a tenant name/],
      ["an unknown tenant key", { tenants: { acme: { apiKeys: [] } } }, "mqtt.tenants.acme.apiKeys", /has: users, jwt/],
      ["a bad user name", { tenants: { acme: { users: { "*": { password: hash } } } } }, "mqtt.tenants.acme.users.*", /not a user name/],
      ["a plaintext password", { tenants: { acme: { users: { alice: { password: "hunter2" } } } } }, "mqtt.tenants.acme.users.alice.password", /not a password hash/],
      ["a password where the mapping belongs", { tenants: { acme: { users: { alice: "hunter2" } } } }, "mqtt.tenants.acme.users.alice", /a string is not a mapping/],
      ["no password", { tenants: { acme: { users: { alice: {} } } } }, "mqtt.tenants.acme.users.alice.password", /missing/],
      ["a JWT without algorithm", { tenants: { t: { jwt: { secret } } } }, "mqtt.tenants.t.jwt.algorithm", /missing/],
      ["an unknown algorithm", { tenants: { t: { jwt: { algorithm: "none", secret } } } }, "mqtt.tenants.t.jwt.algorithm", /"none" is not one of HS256/],
      ["HS256 without a secret", { tenants: { t: { jwt: { algorithm: "HS256" } } } }, "mqtt.tenants.t.jwt", /needs one of secret or secretEnv/],
      ["HS256 with both", { tenants: { t: { jwt: { algorithm: "HS256", secret, secretEnv: "X" } } } }, "mqtt.tenants.t.jwt", /needs one of secret or secretEnv/],
      ["a short secret", { tenants: { t: { jwt: { algorithm: "HS256", secret: "short-secret" } } } }, "mqtt.tenants.t.jwt.secret", /at least 32 bytes/],
      ["an unset secret variable", { tenants: { t: { jwt: { algorithm: "HS256", secretEnv: "NOPE" } } } }, "mqtt.tenants.t.jwt.secretEnv", /NOPE is not set/],
      ["a short secret from the environment", { tenants: { t: { jwt: { algorithm: "HS512", secretEnv: "S" } } } }, "mqtt.tenants.t.jwt.secretEnv", /at least 64 bytes/, { S: secret }],
      ["HS256 with a key file", { tenants: { t: { jwt: { algorithm: "HS256", publicKeyFile: "/k.pem" } } } }, "mqtt.tenants.t.jwt.publicKeyFile", /shared secret/],
      ["RS256 without a key file", { tenants: { t: { jwt: { algorithm: "RS256" } } } }, "mqtt.tenants.t.jwt.publicKeyFile", /missing/],
      ["RS256 with a secret", { tenants: { t: { jwt: { algorithm: "RS256", secret } } } }, "mqtt.tenants.t.jwt.secret", /public key/],
      ["a clock skew too large", { tenants: { t: { jwt: { algorithm: "HS256", secret, clockSkewS: 3600 } } } }, "mqtt.tenants.t.jwt.clockSkewS", /0 to 300/],
      ["an unknown ACL default", { acl: { default: "maybe" } }, "mqtt.acl.default", /one of allow, deny/],
      ["rules not a list", { acl: { rules: { a: 1 } } }, "mqtt.acl.rules", /not a list/],
      ["a rule without action", { acl: { rules: [{ topic: "#" }] } }, "mqtt.acl.rules[0].action", /missing/],
      ["a rule without topic", { acl: { rules: [{ action: "allow" }, {}] } }, "mqtt.acl.rules[0].topic", /missing/],
      ["a bad action", { acl: { rules: [{ action: "allow", topic: "#" }, { action: "permit", topic: "#" }] } }, "mqtt.acl.rules[1].action", /"permit" is not one of allow, deny/],
      ["a bad access", { acl: { rules: [{ action: "allow", topic: "#", access: "read" }] } }, "mqtt.acl.rules[0].access", /one of publish, subscribe, all/],
      ["a malformed filter", { acl: { rules: [{ action: "allow", topic: "a/#/b" }] } }, "mqtt.acl.rules[0].topic", /'#' stands alone/],
      ["%u inside a level", { acl: { rules: [{ action: "allow", topic: "devices/x-%u" }] } }, "mqtt.acl.rules[0].topic", /stand alone/],
      ["a bad rule tenant", { acl: { rules: [{ action: "allow", topic: "#", tenant: "a b" }] } }, "mqtt.acl.rules[0].tenant", /not a tenant name/],
      ["an unknown rule key", { acl: { rules: [{ action: "allow", topic: "#", clientId: "x" }] } }, "mqtt.acl.rules[0].clientId", /has: action, tenant, user, anonymous, access, topic/],
      ["a limit out of range", { limits: { receiveMaximum: 0 } }, "mqtt.limits.receiveMaximum", /0 is not a whole number from 1 to 65535/],
      ["a limit not a number", { limits: { maxPacketSize: "1MB" } }, "mqtt.limits.maxPacketSize", /"1MB" is not a whole number/],
      ["a fractional limit", { limits: { maxConnections: 1.5 } }, "mqtt.limits.maxConnections", /1.5 is not a whole number/],
      ["an unknown limit", { limits: { maxTopics: 5 } }, "mqtt.limits.maxTopics", /mqtt.limits has: maxKeepAliveS/],
      ["a bad queue policy", { limits: { queuePolicy: "refuse-new" } }, "mqtt.limits.queuePolicy", /one of drop-oldest, drop-new/],
      ["TLS without a cert", { tls: { keyFile: "/k" } }, "mqtt.tls.certFile", /missing/],
      ["TLS without a key", { tls: { certFile: "/c" } }, "mqtt.tls.keyFile", /missing/],
      ["client certs without a CA", { tls: { certFile: "/c", keyFile: "/k", requireClientCert: true } }, "mqtt.tls.caFile", /missing/],
      ["identity without client certs", { tls: { certFile: "/c", keyFile: "/k", useIdentityAsUsername: true } }, "mqtt.tls.useIdentityAsUsername", /needs requireClientCert/],
    ];
    for (const [name, raw, key, why, env] of cases) test(name, () => refuses(raw, key, why, env));
  });

  test("secrets and passwords are never repeated in a message", () => {
    for (const raw of [
      { tenants: { acme: { users: { alice: { password: "hunter2-plain" } } } } },
      { tenants: { acme: { users: { alice: "hunter2-plain" } } } },
      { tenants: { t: { jwt: { algorithm: "HS256", secret: "hunter2-plain" } } } },
      { tenants: { t: { jwt: "hunter2-plain" } } },
    ]) {
      assert.throws(() => parseMqttSettings(raw), (err: Error) => !err.message.includes("hunter2"));
    }
  });
});

describe("checkExposure", () => {
  const on = parseMqttSettings({});
  test("loopback: anything goes", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) assert.equal(checkExposure(host, on), undefined, host);
  });
  test("beyond loopback with anonymous access on by default: one line naming --host and the way out", () => {
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "::ffff:10.1.2.3", "mqtt.example.com"]) {
      const line = checkExposure(host, on);
      assert.ok(line !== undefined, host);
      assert.ok(line.startsWith(`--host ${host}: MQTT clients could connect from anywhere without authentication; `), line);
      assert.match(line, /mqtt\.anonymous\.enabled: false/);
      assert.ok(!line.includes("\n"));
    }
  });
  test("anonymous access turned off, or turned on explicitly: the operator decided", () => {
    assert.equal(checkExposure("0.0.0.0", parseMqttSettings({ anonymous: { enabled: false } })), undefined);
    assert.equal(checkExposure("0.0.0.0", parseMqttSettings({ anonymous: { enabled: true } })), undefined);
  });
  test("users configured but anonymous access left on by default still refuses: anonymous clients would get in beside them", () => {
    assert.ok(checkExposure("0.0.0.0", parseMqttSettings({ tenants: { acme: { users: { alice: { password: hash } } } } })) !== undefined);
  });
  test("isLoopback", () => {
    assert.equal(isLoopback("127.0.0.1"), true);
    assert.equal(isLoopback("0:0:0:0:0:0:0:1"), true);
    assert.equal(isLoopback("128.0.0.1"), false);
    assert.equal(isLoopback("localhost.example.com"), false);
  });
});
