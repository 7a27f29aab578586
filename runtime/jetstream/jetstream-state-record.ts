import { SwitchboardError } from "../errors.ts";

/** One key's record as the JetStream store keeps it in a KV value; the etag is the KV revision. */
export interface JetStreamStateRecord {
  readonly value: Uint8Array | undefined;
  readonly epoch: number;
}

// Layout: format u8 | flags u8 | epoch u64 BE | value bytes. The flag tells "no value"
// (a claim of an absent key, or a delete: a tombstone that keeps the epoch) from
// "empty value", which the byte length alone cannot.
const FORMAT = 1;
const HAS_VALUE = 0b1;

/** Bytes a record adds to its value. */
export const stateRecordHeaderBytes = 10;

export function encodeStateRecord(record: JetStreamStateRecord): Uint8Array {
  const bytes = new Uint8Array(stateRecordHeaderBytes + (record.value?.byteLength ?? 0));
  const view = new DataView(bytes.buffer);
  view.setUint8(0, FORMAT);
  view.setUint8(1, record.value === undefined ? 0 : HAS_VALUE);
  view.setBigUint64(2, BigInt(record.epoch));
  if (record.value !== undefined) bytes.set(record.value, stateRecordHeaderBytes);
  return bytes;
}

/** Throws `internal` on bytes this code did not write: a corrupt or foreign record. */
export function decodeStateRecord(key: string, bytes: Uint8Array): JetStreamStateRecord {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < stateRecordHeaderBytes || view.getUint8(0) !== FORMAT) {
    throw new SwitchboardError("internal", `state record of ${key} is not in a known format`, {
      context: { key, byteLength: bytes.byteLength },
    });
  }
  const hasValue = (view.getUint8(1) & HAS_VALUE) !== 0;
  return {
    // Copied into a plain Uint8Array: the client may hand out a Buffer view of its receive buffer.
    value: hasValue ? new Uint8Array(bytes.subarray(stateRecordHeaderBytes)) : undefined,
    epoch: Number(view.getBigUint64(2)),
  };
}
