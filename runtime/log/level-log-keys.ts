import { SwitchboardError } from "../errors.ts";

/*
 * Layout, all binary so one database or sublevel can be shared with other stores:
 *   entry  'e' u32be(byteLength) utf8(stream) u64be(seq) -> f64be(timestampMs) data
 *   meta   'm' utf8(stream) -> 0x01 f64be(firstSeq) f64be(lastSeq) f64be(lastTimestampMs)
 * The length prefix keeps one stream's key range from containing another's ("a" and
 * "a\0..."), and big-endian seqs sort numerically. `firstSeq` in meta is the lowest seq
 * still stored: everything below it is gone or garbage, everything from it to
 * `lastSeq` is present.
 */

const ENTRY = 0x65;
const META = 0x6d;
const META_VERSION = 1;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export interface StreamMeta {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly lastTimestampMs: number;
}

export const emptyMeta: StreamMeta = Object.freeze({ firstSeq: 1, lastSeq: 0, lastTimestampMs: -Infinity });

/** The bytes every entry key of `stream` starts with. */
export function entryPrefix(stream: string): Uint8Array {
  const name = utf8.encode(stream);
  const prefix = new Uint8Array(5 + name.byteLength);
  const view = new DataView(prefix.buffer);
  view.setUint8(0, ENTRY);
  view.setUint32(1, name.byteLength);
  prefix.set(name, 5);
  return prefix;
}

export function entryKey(prefix: Uint8Array, seq: number): Uint8Array {
  const key = new Uint8Array(prefix.byteLength + 8);
  key.set(prefix);
  const view = new DataView(key.buffer, prefix.byteLength);
  view.setUint32(0, Math.floor(seq / 2 ** 32));
  view.setUint32(4, seq >>> 0);
  return key;
}

export function seqOfEntryKey(key: Uint8Array): number {
  const view = new DataView(key.buffer, key.byteOffset + key.byteLength - 8, 8);
  return view.getUint32(0) * 2 ** 32 + view.getUint32(4);
}

export function encodeEntry(timestampMs: number, data: Uint8Array): Uint8Array {
  const value = new Uint8Array(8 + data.byteLength);
  new DataView(value.buffer).setFloat64(0, timestampMs);
  value.set(data, 8);
  return value;
}

export function timestampOfEntry(value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getFloat64(0);
}

/** A copy, as a plain `Uint8Array` whatever subclass the backend handed back. */
export function dataOfEntry(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset + 8, value.byteLength - 8).slice();
}

export function metaKey(stream: string): Uint8Array {
  const name = utf8.encode(stream);
  const key = new Uint8Array(1 + name.byteLength);
  key[0] = META;
  key.set(name, 1);
  return key;
}

/** Every meta key lies in `[metaRange.gte, metaRange.lt)`. */
export const metaRange = Object.freeze({ gte: Uint8Array.of(META), lt: Uint8Array.of(META + 1) });

export function streamOfMetaKey(key: Uint8Array): string {
  return utf8Decoder.decode(key.subarray(1));
}

export function encodeMeta(meta: StreamMeta): Uint8Array {
  const value = new Uint8Array(25);
  const view = new DataView(value.buffer);
  view.setUint8(0, META_VERSION);
  view.setFloat64(1, meta.firstSeq);
  view.setFloat64(9, meta.lastSeq);
  view.setFloat64(17, meta.lastTimestampMs);
  return value;
}

export function decodeMeta(stream: string, value: Uint8Array): StreamMeta {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (value.byteLength !== 25 || view.getUint8(0) !== META_VERSION) {
    throw new SwitchboardError("internal", `unreadable meta for log stream ${stream}`, { context: { stream } });
  }
  return { firstSeq: view.getFloat64(1), lastSeq: view.getFloat64(9), lastTimestampMs: view.getFloat64(17) };
}
