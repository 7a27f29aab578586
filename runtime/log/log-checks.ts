import { SwitchboardError } from "../errors.ts";

/**
 * Refuses stream names a backend could not store faithfully. Lone surrogates are
 * refused because UTF-8 encoding would turn two distinct names into the same bytes.
 */
export function assertStream(stream: string): void {
  if (typeof stream !== "string" || stream.length === 0) {
    throw new SwitchboardError("invalid_argument", "stream name must be a non-empty string", { context: { stream } });
  }
  if (!stream.isWellFormed()) {
    throw new SwitchboardError("invalid_argument", "stream name must be well-formed Unicode", { context: { stream } });
  }
}

export function assertSeq(stream: string, name: string, seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new SwitchboardError("invalid_argument", `${name} must be a non-negative integer`, {
      context: { stream, [name]: seq },
    });
  }
}

export function assertLimit(stream: string, limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new SwitchboardError("invalid_argument", "limit must be a positive integer", { context: { stream, limit } });
  }
}

export function assertData(stream: string, data: Uint8Array): void {
  if (!(data instanceof Uint8Array)) {
    throw new SwitchboardError("invalid_argument", "log data must be a Uint8Array", { context: { stream } });
  }
}

export function closedError(stream: string): SwitchboardError {
  return new SwitchboardError("unavailable", "message log is closed", { context: { stream } });
}
