import type { MemberRecord } from "./member-record.ts";
import type { PartitionRecord } from "./partition-record.ts";

export interface PartitionState {
  readonly record: PartitionRecord;
  readonly revision: number;
}

export interface PlanInput {
  readonly partitions: number;
  /** Current record of each partition (absent: never assigned). */
  readonly current: ReadonlyMap<number, PartitionState>;
  readonly live: readonly MemberRecord[];
  /** Handovers started in one round, at most (orphans are always assigned). */
  readonly maxMoves: number;
}

/** One compare-and-set write the coordinator should make. `revision` undefined: create. */
export interface PlannedWrite {
  readonly partition: number;
  readonly revision: number | undefined;
  readonly next: PartitionRecord;
  readonly reason: "unassigned" | "owner-dead" | "handover-finished" | "handover-cancelled" | "drain" | "balance";
}

/**
 * What the coordinator should write to the partition table, as a pure function of
 * what it reads (STYLE.md §6: policy as data). Rules, in order:
 * 1. A partition with no owner, or whose owner is dead, goes to the live,
 *    non-draining node with the fewest partitions, at once.
 * 2. A handover whose owner died completes to its target (or the least loaded node
 *    if the target died too); one whose target died is cancelled.
 * 3. Partitions of draining nodes are handed over, at most `maxMoves` per round.
 * 4. While the most loaded node has two or more partitions more than the least
 *    loaded one, one partition that is not pinned moves from the first to the
 *    second, within the same budget of moves.
 */
export function planAssignments(input: PlanInput): PlannedWrite[] {
  const alive = new Set(input.live.map((m) => m.nodeId));
  const eligible = input.live.filter((m) => !m.draining).map((m) => m.nodeId).sort();
  if (eligible.length === 0) return [];
  const count = new Map(eligible.map((n) => [n, 0]));
  for (const { record } of input.current.values()) {
    const holder = record.state === "handover" && record.to && count.has(record.to) ? record.to : record.owner;
    if (count.has(holder)) count.set(holder, count.get(holder)! + 1);
  }
  const least = () => eligible.reduce((a, b) => (count.get(b)! < count.get(a)! ? b : a));
  const most = () => eligible.reduce((a, b) => (count.get(b)! > count.get(a)! ? b : a));
  const take = (node: string) => count.set(node, count.get(node)! + 1);
  const give = (node: string) => count.has(node) && count.set(node, count.get(node)! - 1);

  const writes: PlannedWrite[] = [];
  let moves = 0;
  for (let p = 0; p < input.partitions; p++) {
    const cur = input.current.get(p);
    if (cur === undefined) {
      const to = least();
      take(to);
      writes.push({ partition: p, revision: undefined, next: { owner: to, state: "active", gen: 1 }, reason: "unassigned" });
      continue;
    }
    const { record: r, revision } = cur;
    if (r.state === "active" && !alive.has(r.owner)) {
      const to = least();
      take(to);
      writes.push({ partition: p, revision, next: { owner: to, state: "active", gen: r.gen + 1 }, reason: "owner-dead" });
    } else if (r.state === "handover" && !alive.has(r.owner)) {
      const to = r.to && eligible.includes(r.to) ? r.to : least();
      if (to !== r.to) take(to);
      writes.push({ partition: p, revision, next: { owner: to, state: "active", gen: r.gen + 1 }, reason: "handover-finished" });
    } else if (r.state === "handover" && (!r.to || !alive.has(r.to))) {
      writes.push({ partition: p, revision, next: { owner: r.owner, state: "active", gen: r.gen + 1 }, reason: "handover-cancelled" });
    }
  }
  const touched = new Set(writes.map((w) => w.partition));
  const draining = new Set(input.live.filter((m) => m.draining).map((m) => m.nodeId));
  for (let p = 0; p < input.partitions && moves < input.maxMoves; p++) {
    const cur = input.current.get(p);
    if (cur === undefined || touched.has(p) || cur.record.state !== "active" || !draining.has(cur.record.owner)) continue;
    const to = least();
    take(to);
    touched.add(p);
    moves++;
    writes.push({ partition: p, revision: cur.revision, next: { ...cur.record, state: "handover", to }, reason: "drain" });
  }
  while (moves < input.maxMoves) {
    const from = most();
    const to = least();
    if (count.get(from)! - count.get(to)! < 2) break;
    let moved = false;
    for (let p = 0; p < input.partitions; p++) {
      const cur = input.current.get(p);
      if (cur === undefined || touched.has(p) || cur.record.state !== "active" || cur.record.owner !== from || cur.record.pinned) continue;
      give(from);
      take(to);
      touched.add(p);
      moves++;
      moved = true;
      writes.push({ partition: p, revision: cur.revision, next: { ...cur.record, state: "handover", to }, reason: "balance" });
      break;
    }
    if (!moved) break;
  }
  return writes;
}
