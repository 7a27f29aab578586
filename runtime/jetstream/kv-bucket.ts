import { jetstream, StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

export interface KvBucketOptions {
  readonly bucket: string;
  readonly replicas: number;
  readonly timeoutMs: number;
  /** Entries older than this are removed by the server; 0 or absent: kept. */
  readonly ttlMs?: number;
}

/**
 * Creates the key-value bucket, or binds it when it exists, with the settings every
 * Switchboard bucket uses: history 1, file storage, and reads from the stream leader.
 * A direct get may be answered by a replica that has not applied the latest write,
 * so a node could miss a lease another node just wrote or read a revision already
 * replaced; the leader has every acknowledged write. Errors are the client's, for the
 * caller to map.
 */
export function createKvBucket(nc: NatsConnection, options: KvBucketOptions): Promise<KV> {
  return new Kvm(jetstream(nc, { timeout: options.timeoutMs })).create(options.bucket, {
    history: 1,
    replicas: options.replicas,
    storage: StorageType.File,
    ...(options.ttlMs ? { ttl: options.ttlMs } : {}),
    allow_direct: false,
  });
}
