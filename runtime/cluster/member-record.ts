const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Load a node publishes with every heartbeat. */
export interface NodeLoad {
  readonly activations: number;
  readonly mailboxDepth: number;
  readonly eventLoopLagMs: number;
  readonly turnsPerSecond: number;
}

/** A node's lease, under `node.<id>` in the members table (whose TTL is the lease). */
export interface MemberRecord {
  readonly nodeId: string;
  readonly startedAtMs: number;
  /** Asked to leave: the coordinator moves its partitions away. */
  readonly draining: boolean;
  /** `host:port` of its gRPC API. */
  readonly grpc: string;
  /** Where its client listeners are, by protocol (`mqtt` → `host:port`), for redirecting clients. */
  readonly endpoints?: Readonly<Record<string, string>>;
  readonly load: NodeLoad;
}

export const memberKey = (nodeId: string) => `node.${nodeId}`;
export const drainKey = (nodeId: string) => `drain.${nodeId}`;

export function encodeMemberRecord(r: MemberRecord): Uint8Array {
  return encoder.encode(JSON.stringify(r));
}

export function decodeMemberRecord(bytes: Uint8Array): MemberRecord {
  return JSON.parse(decoder.decode(bytes)) as MemberRecord;
}
