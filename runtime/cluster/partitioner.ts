/**
 * Maps an actor id to one of `partitions` partitions with 32-bit FNV-1a over the id's
 * UTF-16 code units: fast, stable across nodes and versions, and well spread for ids
 * that differ only in their last characters. Every node of a cluster must use the same
 * partition count (it is recorded in the cluster's settings table).
 */
export function partitionOf(actorId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < actorId.length; i++) {
    h ^= actorId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

/** NATS subject a partition's owner serves: `<prefix>.p.<partition>`. */
export function partitionSubject(prefix: string, partition: number): string {
  return `${prefix}.p.${partition}`;
}
