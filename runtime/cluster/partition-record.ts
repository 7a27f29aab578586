import { SwitchboardError } from "../errors.ts";

/**
 * Who owns a partition, as stored under `p.<n>` in the partition table and written
 * only with compare-and-set.
 *
 * - `active`: `owner` serves it.
 * - `handover`: `owner` is giving it to `to`. The owner has stopped (or is stopping)
 *   serving: it unsubscribes, finishes turns, persists and deactivates the
 *   partition's actors, then writes `{ owner: to, state: "active" }`. Meanwhile
 *   nobody serves it and senders retry.
 */
export interface PartitionRecord {
  readonly owner: string;
  readonly state: "active" | "handover";
  readonly to?: string;
  /** Rises by one on every change of owner. */
  readonly gen: number;
  /**
   * Put there by an operator: balancing leaves it alone (a drain or the owner's death
   * still moves it). Without this, balancing would undo a move at its next round.
   */
  readonly pinned?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const partitionKey = (p: number) => `p.${p}`;

export function encodePartitionRecord(r: PartitionRecord): Uint8Array {
  return encoder.encode(JSON.stringify(r));
}

export function decodePartitionRecord(bytes: Uint8Array): PartitionRecord {
  const r = JSON.parse(decoder.decode(bytes)) as PartitionRecord;
  if (typeof r.owner !== "string" || (r.state !== "active" && r.state !== "handover") || typeof r.gen !== "number") {
    throw new SwitchboardError("internal", `malformed partition record: ${decoder.decode(bytes)}`);
  }
  return r;
}
