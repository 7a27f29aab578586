import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isSwitchboardError } from "../../../runtime/index.ts";
import { defaultLogN, formatPasswordHash, hashPassword, parsePasswordHash, verifyPassword } from "./password-hash.ts";

describe("password hashes", () => {
  test("a hash verifies its password and no other", async () => {
    const line = await hashPassword("correct horse", { logN: 10 });
    const stored = parsePasswordHash(line);
    assert.equal(await verifyPassword(stored, "correct horse"), true);
    assert.equal(await verifyPassword(stored, Buffer.from("correct horse")), true, "the same bytes as a Buffer");
    assert.equal(await verifyPassword(stored, "correct horsE"), false);
    assert.equal(await verifyPassword(stored, ""), false);
    assert.equal(await verifyPassword(stored, Buffer.from([0xff, 0x00])), false, "binary passwords are fine");
  });

  test("the line names its own cost and salt; the default cost is 2^14, r 8, p 1", async () => {
    const line = await hashPassword("pw");
    assert.match(line, /^scrypt:16384:8:1:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]{43}=$/);
    assert.equal(defaultLogN, 14);
    const h = parsePasswordHash(line);
    assert.deepEqual([h.n, h.r, h.p, h.salt.length, h.hash.length], [16384, 8, 1, 16, 32]);
    assert.equal(formatPasswordHash(h), line);
  });

  test("two hashes of one password differ (fresh salt) and both verify", async () => {
    const [a, b] = [await hashPassword("pw", { logN: 10 }), await hashPassword("pw", { logN: 10 })];
    assert.notEqual(a, b);
    assert.equal(await verifyPassword(parsePasswordHash(b), "pw"), true);
  });

  test("scrypt as RFC 7914 defines it: its §12 test vector", async () => {
    // RFC 7914 §12, third vector: "pleaseletmein" / "SodiumChloride", N=16384, r=8, p=1, dkLen=64.
    const expected = "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887";
    const stored = { n: 16384, r: 8, p: 1, salt: Buffer.from("SodiumChloride"), hash: Buffer.from(expected, "hex") };
    assert.equal(await verifyPassword(stored, "pleaseletmein"), true);
  });

  for (const [name, line, why] of [
    ["a plaintext password", "hunter2", /not a password hash/],
    ["another scheme", "sha256:" + "a".repeat(64), /not a password hash/],
    ["N not a power of two", `scrypt:1000:8:1:${"A".repeat(22)}==:${"A".repeat(43)}=`, /power of two/],
    ["N too small", `scrypt:512:8:1:${"A".repeat(22)}==:${"A".repeat(43)}=`, /power of two/],
    ["N too large", `scrypt:524288:1:1:${"A".repeat(22)}==:${"A".repeat(43)}=`, /power of two/],
    ["r zero", `scrypt:16384:0:1:${"A".repeat(22)}==:${"A".repeat(43)}=`, /r must be/],
    ["p too large", `scrypt:16384:8:17:${"A".repeat(22)}==:${"A".repeat(43)}=`, /p must be/],
    ["too much memory", `scrypt:262144:16:1:${"A".repeat(22)}==:${"A".repeat(43)}=`, /MiB/],
    ["a short salt", `scrypt:16384:8:1:AAAA:${"A".repeat(43)}=`, /salt/],
    ["a short hash", `scrypt:16384:8:1:${"A".repeat(22)}==:AAAA`, /hash must be/],
    ["bad base64", `scrypt:16384:8:1:${"A".repeat(22)}==:${"*".repeat(43)}=`, /not a password hash/],
    ["a trailing field", `scrypt:16384:8:1:${"A".repeat(22)}==:${"A".repeat(43)}=:x`, /not a password hash/],
  ] as const) {
    test(`a malformed hash is refused: ${name}`, () => {
      assert.throws(
        () => parsePasswordHash(line),
        (err: unknown) => isSwitchboardError(err, "invalid_argument") && why.test(err.message) && !err.message.includes(line),
      );
    });
  }

  test("a non-string is refused", () => {
    assert.throws(() => parsePasswordHash(42), /not a password hash/);
  });

  test("hashPassword refuses a cost out of bounds", async () => {
    await assert.rejects(hashPassword("pw", { logN: 9 }), /cost must be 10-18/);
    await assert.rejects(hashPassword("pw", { logN: 19 }), /cost must be 10-18/);
  });
});
