import { status } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, isErrorCode, isSwitchboardError, SwitchboardError } from "./errors.ts";

test("every code maps to a gRPC status and a retry hint", () => {
  for (const [code, { grpc, retryable }] of Object.entries(ErrorCodes)) {
    assert.ok(Object.values(status).includes(grpc), `${code} maps to a real gRPC status`);
    assert.equal(typeof retryable, "boolean");
    assert.ok(isErrorCode(code));
  }
  assert.equal(isErrorCode("nonsense"), false);
  assert.equal(isErrorCode("toString"), false);
});

test("an error keeps its code, context and cause", () => {
  const cause = new Error("disk on fire");
  const err = new SwitchboardError("mailbox_full", "mailbox of session/acme:alice is full", {
    context: { actorId: "session/acme:alice", method: "deliver" },
    cause,
  });
  assert.equal(err.code, "mailbox_full");
  assert.equal(err.grpcStatus, status.RESOURCE_EXHAUSTED);
  assert.equal(err.retryable, true);
  assert.equal(err.context.actorId, "session/acme:alice");
  assert.equal(err.cause, cause);
  assert.ok(Object.isFrozen(err.context));
  assert.ok(isSwitchboardError(err, "mailbox_full"));
  assert.equal(isSwitchboardError(err, "internal"), false);
  assert.equal(isSwitchboardError(new Error("x")), false);
});
