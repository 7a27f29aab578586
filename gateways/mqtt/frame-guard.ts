/** What `FrameGuard.push` found in a chunk. */
export type FrameVerdict =
  | { readonly verdict: "ok"; readonly frames: readonly Buffer[] }
  /** A packet over the maximum, known from its fixed header alone; `frames` are the whole packets before it. */
  | { readonly verdict: "too-large"; readonly bytes: number; readonly frames: readonly Buffer[] }
  /** A remaining length longer than four bytes ([MQTT-1.5.5-1]); `frames` as above. */
  | { readonly verdict: "malformed"; readonly frames: readonly Buffer[] };

/**
 * Splits the MQTT byte stream into whole packets (frames), whatever the chunks it
 * arrives in. A packet larger than the server's Maximum Packet Size is refused as soon
 * as its fixed header arrives ([MQTT-3.1.2-24]: the server may close at once), before
 * any of its body is buffered; a malformed remaining length (more than four bytes) is
 * reported too. After a failure the stream is not read further.
 *
 * A packet wholly inside one chunk is a view of it (no copy); one spread over chunks is
 * copied once, when complete. Pure: bytes in, frames or a verdict out.
 */
export class FrameGuard {
  readonly #maxPacketBytes: number;
  /** The current packet's bytes so far, when it started in an earlier chunk. */
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** Within a fixed header: 0 = at its first byte, then the bytes of it read so far. */
  #headerBytes = 0;
  #length = 0;
  #multiplier = 1;
  /** Bytes of the current packet's body still to come; -1 while in its fixed header. */
  #remaining = -1;
  #failed = false;

  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  push(chunk: Buffer): FrameVerdict {
    const frames: Buffer[] = [];
    if (this.#failed) return { verdict: "malformed", frames };
    const n = chunk.length;
    let i = 0;
    /** Where the current packet starts in this chunk (0 when it started before). */
    let start = 0;
    while (i < n) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, n - i);
        this.#remaining -= take;
        i += take;
      } else {
        const byte = chunk[i++]!;
        if (this.#headerBytes === 0) {
          start = i - 1;
          this.#headerBytes = 1;
          this.#length = 0;
          this.#multiplier = 1;
          continue;
        }
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        this.#headerBytes++;
        if ((byte & 0x80) !== 0) {
          if (this.#headerBytes > 4) return this.#fail({ verdict: "malformed", frames });
          continue;
        }
        const total = this.#headerBytes + this.#length;
        if (total > this.#maxPacketBytes) return this.#fail({ verdict: "too-large", bytes: total, frames });
        this.#remaining = this.#length;
      }
      if (this.#remaining === 0) {
        frames.push(this.#frame(chunk, start, i));
        this.#headerBytes = 0;
        this.#remaining = -1;
        start = i;
      }
    }
    if (this.#headerBytes > 0) {
      // A packet continues in the next chunk: keep what came of it.
      const part = chunk.subarray(start);
      this.#parts.push(part);
      this.#partBytes += part.length;
    }
    return { verdict: "ok", frames };
  }

  #frame(chunk: Buffer, start: number, end: number): Buffer {
    if (this.#partBytes === 0) return chunk.subarray(start, end);
    const frame = Buffer.concat([...this.#parts, chunk.subarray(0, end)], this.#partBytes + end);
    this.#parts = [];
    this.#partBytes = 0;
    return frame;
  }

  #fail<V extends FrameVerdict>(v: V): V {
    this.#failed = true;
    this.#parts = [];
    return v;
  }
}

/**
 * Where a whole frame's variable header starts (a PUBLISH's topic name, a CONNECT's
 * protocol name): after its first byte and its Remaining Length, which `FrameGuard`
 * has checked is at most four bytes.
 */
export function variableHeaderAt(frame: Uint8Array): number {
  let at = 1;
  while ((frame[at]! & 0x80) !== 0) at++;
  return at + 1;
}
