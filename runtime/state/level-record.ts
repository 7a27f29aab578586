import { SwitchboardError } from "../errors.ts";

/** One key's record as the level store keeps it on disk. */
export interface LevelRecord {
  readonly value: Uint8Array | undefined;
  readonly epoch: number;
  /** Bumped on every write to the key; the etag is its decimal string. */
  readonly revision: number;
}

// Layout: format u8 | flags u8 | epoch u64 BE | revision u64 BE | value bytes.
// The flag tells "no value" from "empty value", which the byte length alone cannot.
const FORMAT = 1;
const HAS_VALUE = 0b1;
const HEADER_BYTES = 18;

export function encodeLevelRecord(record: LevelRecord): Uint8Array {
  const valueBytes = record.value?.byteLength ?? 0;
  const bytes = new Uint8Array(HEADER_BYTES + valueBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, FORMAT);
  view.setUint8(1, record.value === undefined ? 0 : HAS_VALUE);
  view.setBigUint64(2, BigInt(record.epoch));
  view.setBigUint64(10, BigInt(record.revision));
  if (record.value !== undefined) bytes.set(record.value, HEADER_BYTES);
  return bytes;
}

/** Throws `internal` on bytes this code did not write: a corrupt or foreign record. */
export function decodeLevelRecord(key: string, bytes: Uint8Array): LevelRecord {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < HEADER_BYTES || view.getUint8(0) !== FORMAT) {
    throw new SwitchboardError("internal", `state record of ${key} is not in a known format`, {
      context: { key, byteLength: bytes.byteLength },
    });
  }
  const hasValue = (view.getUint8(1) & HAS_VALUE) !== 0;
  return {
    // Copied into a plain Uint8Array: level may hand back a Buffer, whose slice() is a view.
    value: hasValue ? new Uint8Array(bytes.subarray(HEADER_BYTES)) : undefined,
    epoch: Number(view.getBigUint64(2)),
    revision: Number(view.getBigUint64(10)),
  };
}
