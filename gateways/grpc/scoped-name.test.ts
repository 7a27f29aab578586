import assert from "node:assert/strict";
import { test } from "node:test";
import { checkTenant } from "../../actors/index.ts";
import { isSwitchboardError } from "../../runtime/index.ts";
import { scopedName } from "./scoped-name.ts";

test("a plain name is a name in the key's tenant, as given", () => {
  for (const name of ["bob", "rooms/lobby", "", "rooms/a:b", "John Doe:x", ":bob", "a/b:c/d", "sensors/+/temp", "#"]) {
    assert.equal(scopedName("acme", name, "user"), name, name);
  }
});

test("the key's own tenant in front is accepted and stripped", () => {
  assert.equal(scopedName("acme", "acme:bob", "user"), "bob");
  assert.equal(scopedName("acme", "acme:urn:x", "topic"), "urn:x");
  assert.equal(scopedName("acme", "acme:", "user"), "", "left to the name check");
  assert.equal(scopedName("acme.eu", "acme.eu:bob", "user"), "bob");
});

test("another tenant in front is refused with permission_denied, existing or not", () => {
  for (const name of ["beta:bob", "Acme:bob", "acme.eu:bob", "x:rooms/lobby", "urn:x", "acme-2:bob"]) {
    assert.throws(
      () => scopedName("acme", name, "user"),
      (err) => isSwitchboardError(err, "permission_denied") && err.message.includes("this API key is for tenant acme") && err.context.tenant === "acme",
      name,
    );
  }
});

test("what counts as a tenant prefix is exactly what checkTenant accepts", () => {
  for (const prefix of ["a", "A-b_c.d", "x".repeat(64), "x".repeat(65), "a b", "a/b", "", "ä", "+"]) {
    let valid = true;
    try {
      checkTenant(prefix);
    } catch {
      valid = false;
    }
    let refused = false;
    try {
      scopedName("zz-other", `${prefix}:bob`, "user");
    } catch {
      refused = true;
    }
    assert.equal(refused, valid, JSON.stringify(prefix));
  }
});
