import { SwitchboardError } from "../errors.ts";
import type { SaveExpectation, StateRecord } from "./state-store.ts";

/** The record of a key that was never claimed or written. */
export const absentRecord: StateRecord = Object.freeze({ value: undefined, etag: null, epoch: 0 });

/**
 * Refuses keys a backend could not store faithfully. Lone surrogates are refused
 * because UTF-8 encoding would turn two distinct keys into the same bytes.
 */
export function assertKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new SwitchboardError("invalid_argument", "state key must be a non-empty string", { context: { key } });
  }
  if (!key.isWellFormed()) {
    throw new SwitchboardError("invalid_argument", "state key must be well-formed Unicode", { context: { key } });
  }
}

export function assertValue(key: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) {
    throw new SwitchboardError("invalid_argument", "state value must be a Uint8Array", { context: { key } });
  }
}

export function assertExpectation(key: string, expect: SaveExpectation): void {
  const { etag, epoch } = expect ?? {};
  if (etag !== null && typeof etag !== "string") {
    throw new SwitchboardError("invalid_argument", "expected etag must be a string or null", { context: { key } });
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new SwitchboardError("invalid_argument", "expected epoch must be a non-negative integer", {
      context: { key, epoch },
    });
  }
}

/**
 * The fencing rule shared by every store: epoch first, so a fenced-out activation
 * learns it is stale (not retryable) rather than merely behind (retryable).
 */
export function assertWritable(
  key: string,
  stored: Pick<StateRecord, "etag" | "epoch">,
  expect: SaveExpectation,
): void {
  if (stored.epoch > expect.epoch) {
    throw new SwitchboardError("stale_epoch", `activation epoch ${expect.epoch} of ${key} is older than ${stored.epoch}`, {
      context: { key, epoch: expect.epoch, storedEpoch: stored.epoch },
    });
  }
  if (stored.etag !== expect.etag) {
    throw new SwitchboardError("etag_mismatch", `state of ${key} changed since it was read`, {
      context: { key, etag: expect.etag, storedEtag: stored.etag },
    });
  }
}

export function closedError(key: string): SwitchboardError {
  return new SwitchboardError("unavailable", "state store is closed", { context: { key } });
}
