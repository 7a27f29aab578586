import { Metadata } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { isSwitchboardError } from "../../runtime/index.ts";
import { ApiKeyTable, generateApiKey, hashApiKey, parseApiKeyHash } from "./api-keys.ts";
import { authenticate } from "./authenticate.ts";

describe("API keys", () => {
  test("a generated key is sbk_ plus 256 random bits in base64url, different each time", () => {
    const key = generateApiKey();
    assert.match(key, /^sbk_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateApiKey(), key);
    assert.equal(generateApiKey(() => Buffer.alloc(32, 0xff)), `sbk_${"_".repeat(42)}8`);
  });

  test("the stored hash is sha256: and the hex SHA-256 of the key's UTF-8 bytes", () => {
    const key = "sbk_example";
    assert.equal(hashApiKey(key), `sha256:${createHash("sha256").update(key).digest("hex")}`);
    assert.deepEqual(parseApiKeyHash(hashApiKey(key)), createHash("sha256").update(key).digest());
    assert.equal(parseApiKeyHash(hashApiKey(key).toUpperCase().replace("SHA256", "sha256")).length, 32, "upper-case hex is accepted");
  });

  test("a malformed hash is refused with invalid_argument", () => {
    for (const bad of ["", "abc", `sha256:${"0".repeat(63)}`, `sha256:${"g".repeat(64)}`, `md5:${"0".repeat(64)}`, `sha256:${"0".repeat(64)} `]) {
      assert.throws(() => parseApiKeyHash(bad), (err) => isSwitchboardError(err, "invalid_argument") && /sha256:<64 hex digits>/.test(err.message), bad);
    }
  });

  test("a key maps to its tenant; an unknown key to nobody", () => {
    const [a1, a2, b1] = [generateApiKey(), generateApiKey(), generateApiKey()];
    const table = new ApiKeyTable([
      { tenant: "acme", apiKeyHashes: [hashApiKey(a1), hashApiKey(a2)] },
      { tenant: "beta", apiKeyHashes: [hashApiKey(b1)] },
    ]);
    assert.equal(table.size, 3);
    assert.deepEqual(table.tenants, ["acme", "beta"]);
    assert.equal(table.tenantOf(a1), "acme");
    assert.equal(table.tenantOf(a2), "acme");
    assert.equal(table.tenantOf(b1), "beta");
    assert.equal(table.tenantOf(generateApiKey()), undefined);
    assert.equal(table.tenantOf(""), undefined);
    assert.equal(table.tenantOf(hashApiKey(a1)), undefined, "the hash is not the key");
  });

  test("one key for two tenants, or a bad tenant name, is refused", () => {
    const h = hashApiKey(generateApiKey());
    assert.throws(() => new ApiKeyTable([{ tenant: "acme", apiKeyHashes: [h] }, { tenant: "beta", apiKeyHashes: [h] }]), /acme and beta/);
    assert.throws(() => new ApiKeyTable([{ tenant: "not a tenant", apiKeyHashes: [h] }]), (err) => isSwitchboardError(err, "invalid_argument"));
    assert.equal(new ApiKeyTable([{ tenant: "acme", apiKeyHashes: [h, h] }]).size, 1, "a repeat in one tenant is harmless");
  });
});

describe("authenticate", () => {
  const key = generateApiKey();
  const table = new ApiKeyTable([{ tenant: "acme", apiKeyHashes: [hashApiKey(key)] }]);
  const md = (...values: string[]) => {
    const m = new Metadata();
    for (const v of values) m.add("authorization", v);
    return m;
  };

  test("a bearer token of a known key gives its tenant; the scheme is case-insensitive", () => {
    assert.deepEqual(authenticate(table, md(`Bearer ${key}`)), { ok: true, tenant: "acme" });
    assert.deepEqual(authenticate(table, md(`bearer ${key}`)), { ok: true, tenant: "acme" });
    assert.deepEqual(authenticate(table, md(`BEARER   ${key}`)), { ok: true, tenant: "acme" });
  });

  test("each way of not being authenticated has its reason", () => {
    assert.deepEqual(authenticate(table, new Metadata()), { ok: false, reason: "no authorization metadata" });
    assert.deepEqual(authenticate(table, md(`Bearer ${key}`, `Bearer ${key}`)), { ok: false, reason: "several authorization values" });
    assert.deepEqual(authenticate(table, md(key)), { ok: false, reason: "not a bearer token" });
    assert.deepEqual(authenticate(table, md(`Basic ${key}`)), { ok: false, reason: "not a bearer token" });
    assert.deepEqual(authenticate(table, md("Bearer ")), { ok: false, reason: "not a bearer token" });
    assert.deepEqual(authenticate(table, md(`Bearer ${key}x`)), { ok: false, reason: "unknown key" });
    assert.deepEqual(authenticate(table, md(`Bearer ${generateApiKey()}`)), { ok: false, reason: "unknown key" });
  });
});
