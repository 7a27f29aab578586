import assert from "node:assert/strict";
import { test } from "node:test";
import { planAssignments, type PartitionState, type PlannedWrite } from "./assignment-plan.ts";
import type { MemberRecord } from "./member-record.ts";
import type { PartitionRecord } from "./partition-record.ts";

const member = (nodeId: string, draining = false): MemberRecord => ({
  nodeId,
  draining,
  startedAtMs: 0,
  grpc: "",
  load: { activations: 0, mailboxDepth: 0, eventLoopLagMs: 0, turnsPerSecond: 0 },
});

function table(owners: (string | PartitionRecord)[]): Map<number, PartitionState> {
  return new Map(owners.map((o, p) => [p, { record: typeof o === "string" ? { owner: o, state: "active", gen: 1 } : o, revision: 100 + p }]));
}

/** Applies writes as the partition table would (handovers complete at once) and counts per owner. */
function after(current: Map<number, PartitionState>, writes: PlannedWrite[]): Record<string, number> {
  const next = new Map(current);
  for (const w of writes) next.set(w.partition, { record: w.next.state === "handover" ? { owner: w.next.to!, state: "active", gen: w.next.gen + 1 } : w.next, revision: 0 });
  const counts: Record<string, number> = {};
  for (const { record } of next.values()) counts[record.owner] = (counts[record.owner] ?? 0) + 1;
  return counts;
}

test("a fresh cluster spreads every partition evenly", () => {
  const writes = planAssignments({ partitions: 64, current: new Map(), live: [member("a"), member("b"), member("c")], maxMoves: 8 });
  assert.equal(writes.length, 64);
  assert.ok(writes.every((w) => w.reason === "unassigned" && w.revision === undefined && w.next.gen === 1));
  assert.deepEqual(after(new Map(), writes), { a: 22, b: 21, c: 21 });
});

test("a dead node's partitions go to the survivors at once, beyond the move budget", () => {
  const current = table(Array.from({ length: 30 }, (_, p) => ["a", "b", "c"][p % 3]!));
  const writes = planAssignments({ partitions: 30, current, live: [member("a"), member("b")], maxMoves: 1 });
  assert.equal(writes.length, 10);
  assert.ok(writes.every((w) => w.reason === "owner-dead" && w.next.state === "active" && w.next.gen === 2 && w.revision === 100 + w.partition));
  assert.deepEqual(after(current, writes), { a: 15, b: 15 });
});

test("draining hands partitions over in bounded steps, and only to nodes that stay", () => {
  const current = table(Array.from({ length: 12 }, (_, p) => ["a", "b", "c"][p % 3]!));
  const writes = planAssignments({ partitions: 12, current, live: [member("a"), member("b", true), member("c")], maxMoves: 3 });
  assert.equal(writes.length, 3);
  for (const w of writes) {
    assert.equal(w.reason, "drain");
    assert.equal(w.next.state, "handover");
    assert.equal(current.get(w.partition)!.record.owner, "b");
    assert.ok(w.next.to === "a" || w.next.to === "c");
  }
});

test("a new node is filled by balancing moves, never below one partition of difference", () => {
  const current = table(Array.from({ length: 16 }, (_, p) => (p % 2 ? "a" : "b")));
  let writes = planAssignments({ partitions: 16, current, live: [member("a"), member("b"), member("c")], maxMoves: 100 });
  assert.ok(writes.every((w) => w.reason === "balance"));
  const counts = after(current, writes);
  assert.ok(Math.max(...Object.values(counts)) - Math.min(...Object.values(counts)) <= 1, JSON.stringify(counts));
  writes = planAssignments({ partitions: 16, current: table(Array.from({ length: 16 }, (_, p) => ["a", "b", "c"][p % 3]!)), live: [member("a"), member("b"), member("c")], maxMoves: 100 });
  assert.deepEqual(writes, [], "a balanced table is left alone");
});

test("handovers: a dead owner's completes, a dead target's is cancelled", () => {
  const current = table([
    { owner: "gone", state: "handover", to: "a", gen: 4 },
    { owner: "a", state: "handover", to: "gone", gen: 7 },
    { owner: "gone", state: "handover", to: "gone2", gen: 2 },
  ]);
  const writes = planAssignments({ partitions: 3, current, live: [member("a"), member("b")], maxMoves: 0 });
  const by = new Map(writes.map((w) => [w.partition, w]));
  assert.deepEqual(by.get(0)!.next, { owner: "a", state: "active", gen: 5 });
  assert.equal(by.get(0)!.reason, "handover-finished");
  assert.deepEqual(by.get(1)!.next, { owner: "a", state: "active", gen: 8 });
  assert.equal(by.get(1)!.reason, "handover-cancelled");
  assert.equal(by.get(2)!.next.state, "active");
  assert.ok(["a", "b"].includes(by.get(2)!.next.owner));
});

test("no eligible node: nothing is planned", () => {
  assert.deepEqual(planAssignments({ partitions: 4, current: new Map(), live: [member("a", true)], maxMoves: 8 }), []);
});

test("balancing never moves a pinned partition; a drain still does", () => {
  const pinned = (owner: string): PartitionRecord => ({ owner, state: "active", gen: 1, pinned: true });
  const current = table([pinned("a"), pinned("a"), pinned("a"), "a", "b"]);
  const writes = planAssignments({ partitions: 5, current, live: [member("a"), member("b")], maxMoves: 10 });
  assert.deepEqual(writes.map((w) => [w.partition, w.reason]), [[3, "balance"]], "only the unpinned partition of a moves");
  const draining = planAssignments({ partitions: 5, current, live: [member("a", true), member("b")], maxMoves: 10 });
  assert.deepEqual(draining.filter((w) => w.reason === "drain").map((w) => w.partition), [0, 1, 2, 3]);
  assert.ok(draining.every((w) => w.partition === 4 || w.next.to === "b"));
});
