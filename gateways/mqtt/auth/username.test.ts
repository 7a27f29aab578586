import assert from "node:assert/strict";
import { test } from "node:test";
import { isUserName, parseUsername } from "./username.ts";

test("user@tenant splits at the last @; no @ means the default tenant", () => {
  const table: [string, string, string][] = [
    ["alice@acme", "alice", "acme"],
    ["alice", "alice", "default"],
    ["alice@example.com@acme", "alice@example.com", "acme"],
    ["alice@example.com", "alice", "example.com"],
    ["@acme", "", "acme"],
    ["alice@", "alice", ""],
    ["", "", "default"],
    ["a/b@acme", "a/b", "acme"],
  ];
  for (const [username, user, tenant] of table) assert.deepEqual(parseUsername(username, "default"), { user, tenant }, username);
});

test("user names: 1-256 characters, no control characters", () => {
  assert.equal(isUserName("alice"), true);
  assert.equal(isUserName("a".repeat(256)), true);
  assert.equal(isUserName("a".repeat(257)), false);
  assert.equal(isUserName(""), false);
  assert.equal(isUserName("a\nb"), false);
  assert.equal(isUserName("Jürgen Müller"), true);
});
