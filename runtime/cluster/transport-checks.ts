import { SwitchboardError } from "../errors.ts";
import type { Headers } from "./transport.ts";

/** nats-server's default `max_payload` (1 MiB); the in-process transport's default limit. */
export const defaultMaxPayloadBytes = 1024 * 1024;

/** The longest timer Node can set; a longer request timeout would fire at once. */
const maxTimeoutMs = 2 ** 31 - 1;

/** Throws `invalid_argument` unless `timeoutMs` is a positive number of milliseconds Node can time. */
export function checkTimeout(timeoutMs: number, subject: string): void {
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0 && timeoutMs <= maxTimeoutMs)) {
    throw new SwitchboardError("invalid_argument", `timeoutMs must be a positive number of milliseconds up to ${maxTimeoutMs}`, {
      context: { subject, timeoutMs },
    });
  }
}

/** Throws `invalid_argument` unless `queue` is a non-empty name without whitespace. */
export function checkQueue(queue: string, subject: string): void {
  if (typeof queue !== "string" || queue.length === 0 || /\s/.test(queue)) {
    throw new SwitchboardError("invalid_argument", "a queue group is a non-empty name without whitespace", {
      context: { subject, queue },
    });
  }
}

/**
 * Checks headers as NATS does and returns them as NATS delivers them: a name is
 * printable ASCII without `:` (RFC 822 §3.1.2), a value has no CR or LF and loses its
 * surrounding whitespace. Name case is kept. Throws `invalid_argument`.
 */
export function normalizeHeaders(headers: Headers | undefined, subject: string): Headers {
  if (headers === undefined) return emptyHeaders;
  const entries: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!-9;-~]+$/.test(name)) {
      throw new SwitchboardError("invalid_argument", "a header name is printable ASCII without ':'", { context: { subject, header: name } });
    }
    if (typeof value !== "string" || /[\r\n]/.test(value)) {
      throw new SwitchboardError("invalid_argument", "a header value is a string without CR or LF", { context: { subject, header: name } });
    }
    entries.push([name, value.trim()]);
  }
  return entries.length === 0 ? emptyHeaders : Object.freeze(Object.fromEntries(entries));
}

export const emptyHeaders: Headers = Object.freeze({});

/**
 * Bytes a message counts against `max_payload`: the data plus the `NATS/1.0` header
 * block when there are headers, as the NATS client encodes it.
 */
export function payloadBytes(data: Uint8Array, headers: Headers): number {
  let size = data.byteLength;
  const names = Object.keys(headers);
  if (names.length > 0) {
    size += "NATS/1.0\r\n\r\n".length;
    for (const name of names) size += name.length + ": \r\n".length + Buffer.byteLength(headers[name]!);
  }
  return size;
}

/** Throws `limit_exceeded` when a message is larger than the transport carries. */
export function checkPayloadSize(bytes: number, maxPayloadBytes: number, subject: string): void {
  if (bytes > maxPayloadBytes) {
    throw new SwitchboardError("limit_exceeded", `message of ${bytes} bytes exceeds the ${maxPayloadBytes}-byte maximum payload`, {
      context: { subject, bytes, maxPayloadBytes },
    });
  }
}

/** Throws `invalid_argument` unless `data` is a `Uint8Array`. */
export function checkData(data: Uint8Array, subject: string): void {
  if (!(data instanceof Uint8Array)) {
    throw new SwitchboardError("invalid_argument", "message data is a Uint8Array", { context: { subject } });
  }
}
