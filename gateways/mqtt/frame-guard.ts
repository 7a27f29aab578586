/**
 * Watches the MQTT byte stream for the remaining length of each packet, before the
 * packet is buffered: a packet larger than the server's Maximum Packet Size is
 * refused as soon as its fixed header arrives ([MQTT-3.1.2-24]: the server may close
 * at once), instead of being read whole into memory. A malformed remaining length
 * (more than four bytes) is reported too. Pure: bytes in, verdicts out.
 */
export class FrameGuard {
  readonly #maxPacketBytes: number;
  /** Bytes still to skip in the current packet's body. */
  #remaining = 0;
  /** Within a fixed header: 0 = at its first byte, then the length bytes read so far. */
  #headerBytes = 0;
  #length = 0;
  #multiplier = 1;

  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  /**
   * Scans a chunk. Returns `ok`, or `too-large` (with the packet's size) or `malformed`
   * at the first packet that fails; after a failure the stream is not scanned further.
   */
  scan(chunk: Uint8Array): { verdict: "ok" } | { verdict: "too-large"; bytes: number } | { verdict: "malformed" } {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#remaining > 0) {
        const skip = Math.min(this.#remaining, n - i);
        this.#remaining -= skip;
        i += skip;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#headerBytes === 0) {
        this.#headerBytes = 1;
        this.#length = 0;
        this.#multiplier = 1;
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#headerBytes++;
      if ((byte & 0x80) !== 0) {
        if (this.#headerBytes > 4) return { verdict: "malformed" };
        continue;
      }
      const total = this.#headerBytes + this.#length;
      if (total > this.#maxPacketBytes) return { verdict: "too-large", bytes: total };
      this.#remaining = this.#length;
      this.#headerBytes = 0;
    }
    return { verdict: "ok" };
  }
}
