import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { SwitchboardError } from "../errors.ts";
import { KeyLock } from "../key-lock.ts";
import { absentRecord, assertExpectation, assertKey, assertValue, assertWritable, closedError } from "../state/state-checks.ts";
import type { SaveExpectation, StateRecord, StateStore } from "../state/state-store.ts";
import { backendError, isWrongLastSequence } from "./jetstream-errors.ts";
import { resolveJetStreamStoreOptions, resolveName } from "./jetstream-options.ts";
import type { JetStreamStoreOptions } from "./jetstream-options.ts";
import { decodeStateRecord, encodeStateRecord, stateRecordHeaderBytes } from "./jetstream-state-record.ts";
import type { JetStreamStateRecord } from "./jetstream-state-record.ts";
import { createKvBucket } from "./kv-bucket.ts";
import { encodeToken } from "./subject-token.ts";

export interface JetStreamStateStoreOptions extends JetStreamStoreOptions {
  /** The KV bucket, created (history 1, file storage) if absent. Default "sb_state". */
  readonly bucket?: string;
}

/** What one KV read found: the revision (0 if the key has no message) and our record, if any. */
interface Current {
  readonly revision: number;
  readonly record: JetStreamStateRecord | undefined;
}

/** How often `claim` retries after losing a compare-and-set to another process. */
const maxClaimAttempts = 100;
/** How many keys' last-seen etag and epoch are remembered for the one-round-trip save. */
const knownKeysLimit = 10_000;

/**
 * Resolves once the bucket exists (created if absent). Rejects with `unavailable` when
 * JetStream cannot be reached, `invalid_argument` for bad options.
 */
export async function createJetStreamStateStore(
  nc: NatsConnection,
  options: JetStreamStateStoreOptions = {},
): Promise<JetStreamStateStore> {
  const store = new JetStreamStateStore(nc, options);
  await store.open();
  return store;
}

/**
 * A `StateStore` on a JetStream key-value bucket, so state survives the node and, with
 * `replicas: 3`, a server. One KV key per state key (see `encodeToken`); its value is a
 * small header (epoch, has-value flag) plus the bytes; the etag is the KV revision.
 *
 * Atomicity comes from the server, not from this object: every write is a KV
 * compare-and-set (`put` with `previousSeq`: 0 = the key must have no message,
 * otherwise the revision read), so stores on many nodes can share a bucket. Epoch and
 * etag are checked against the record read just before; if the CAS then loses, the
 * record changed in between, and re-reading gives `stale_epoch` or `etag_mismatch`.
 * `claim` retries its read-modify-CAS until it wins. A delete writes a tombstone (no
 * value, same epoch) rather than a KV delete, so fencing survives it and the etag
 * stays non-null. Within one process, calls on a key run one at a time in call order,
 * which spares them CAS retries against each other.
 *
 * A save whose expectation matches what this process last read or wrote for the key
 * skips the read and goes straight to the CAS (one round trip); when the CAS fails it
 * reads and reports as above. Etags are revisions of this bucket: destroying and
 * recreating the bucket under running nodes would let old etags match new records.
 *
 * Reads go to the bucket's stream leader (no direct get), so a load sees every write
 * acknowledged before it, on any node.
 *
 * Values larger than the server's max payload less the header are refused with
 * `limit_exceeded`. Closing does not close the connection.
 */
export class JetStreamStateStore implements StateStore {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #replicas: number;
  readonly #timeoutMs: number;
  readonly #lock = new KeyLock();
  /** token → what this process last saw of the key, for the one-round-trip save. */
  readonly #known = new Map<string, { readonly etag: string; readonly epoch: number }>();
  #kv: KV | undefined;
  #closed = false;

  /** Prefer `createJetStreamStateStore`, which reports a failed open at once. Throws `invalid_argument` for bad options. */
  constructor(nc: NatsConnection, options: JetStreamStateStoreOptions = {}) {
    const { replicas, timeoutMs } = resolveJetStreamStoreOptions(options);
    this.#nc = nc;
    this.#bucket = resolveName("bucket", options.bucket, "sb_state");
    this.#replicas = replicas;
    this.#timeoutMs = timeoutMs;
  }

  /** The KV bucket this store uses. */
  get bucket(): string {
    return this.#bucket;
  }

  /** Creates or binds the bucket; idempotent. Rejects with `unavailable` if JetStream cannot be reached. */
  async open(): Promise<void> {
    if (this.#kv !== undefined) return;
    try {
      this.#kv = await createKvBucket(this.#nc, { bucket: this.#bucket, replicas: this.#replicas, timeoutMs: this.#timeoutMs });
    } catch (cause) {
      throw backendError(`cannot open the state bucket ${this.#bucket}`, { bucket: this.#bucket }, cause);
    }
  }

  async load(key: string): Promise<StateRecord> {
    const kv = this.#check(key);
    const token = encodeToken(key);
    // Through the lock too, so it sees this process's earlier writes and close() waits for it.
    return this.#lock.run(token, async () => {
      const current = await this.#read(kv, key, token);
      return current.record === undefined ? absentRecord : toRecord(current.record, current.revision);
    });
  }

  async claim(key: string): Promise<StateRecord> {
    const kv = this.#check(key);
    const token = encodeToken(key);
    return this.#lock.run(token, async () => {
      for (let attempt = 0; attempt < maxClaimAttempts; attempt++) {
        const current = await this.#read(kv, key, token);
        const next = { value: current.record?.value, epoch: (current.record?.epoch ?? 0) + 1 };
        const revision = await this.#put(kv, key, token, next, current.revision);
        if (revision !== undefined) return toRecord(next, revision);
      }
      throw new SwitchboardError("unavailable", `claim of ${key} kept losing to concurrent writers`, {
        context: { key, attempts: maxClaimAttempts },
      });
    });
  }

  async save(key: string, value: Uint8Array, expect: SaveExpectation): Promise<string> {
    const kv = this.#check(key);
    assertValue(key, value);
    assertExpectation(key, expect);
    const maxPayload = this.#nc.info?.max_payload;
    if (maxPayload !== undefined && value.byteLength + stateRecordHeaderBytes > maxPayload) {
      throw new SwitchboardError("limit_exceeded", `state of ${key} is larger than the server's max payload`, {
        context: { key, byteLength: value.byteLength, maxPayload },
      });
    }
    // Copied before the first await, so a caller reusing its buffer cannot change what is written.
    return this.#update(kv, key, new Uint8Array(value), expect);
  }

  async delete(key: string, expect: SaveExpectation): Promise<string> {
    const kv = this.#check(key);
    assertExpectation(key, expect);
    return this.#update(kv, key, undefined, expect);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.idle();
    this.#known.clear();
  }

  #update(kv: KV, key: string, value: Uint8Array | undefined, expect: SaveExpectation): Promise<string> {
    const token = encodeToken(key);
    const { etag: expectedEtag, epoch: expectedEpoch } = expect;
    return this.#lock.run(token, async () => {
      const known = this.#known.get(token);
      if (known !== undefined && known.etag === expectedEtag && known.epoch <= expectedEpoch) {
        // The CAS at the known revision succeeds only if the record is still the one
        // this process saw, whose epoch passes the fence.
        const revision = await this.#put(kv, key, token, { value, epoch: known.epoch }, Number(known.etag));
        if (revision !== undefined) return String(revision);
      }
      for (;;) {
        const current = await this.#read(kv, key, token);
        const stored = current.record;
        assertWritable(
          key,
          { etag: stored === undefined ? null : String(current.revision), epoch: stored?.epoch ?? 0 },
          { etag: expectedEtag, epoch: expectedEpoch },
        );
        // A lost CAS means the record changed since the read: the next read fails the checks.
        const revision = await this.#put(kv, key, token, { value, epoch: stored?.epoch ?? 0 }, current.revision);
        if (revision !== undefined) return String(revision);
      }
    });
  }

  async #read(kv: KV, key: string, token: string): Promise<Current> {
    let entry;
    try {
      entry = await kv.get(token);
    } catch (cause) {
      throw backendError(`cannot read the state of ${key}`, { key }, cause);
    }
    // A DEL or PURGE marker (from outside this store) reads as never written, but a
    // write must still name its revision.
    if (entry === null) return { revision: 0, record: undefined };
    if (entry.operation !== "PUT") {
      this.#known.delete(token);
      return { revision: entry.revision, record: undefined };
    }
    const record = decodeStateRecord(key, entry.value);
    this.#remember(token, String(entry.revision), record.epoch);
    return { revision: entry.revision, record };
  }

  /** The new revision, or undefined when the CAS lost (the key is no longer at `previousRevision`). */
  async #put(
    kv: KV,
    key: string,
    token: string,
    record: JetStreamStateRecord,
    previousRevision: number,
  ): Promise<number | undefined> {
    try {
      const revision = await kv.put(token, encodeStateRecord(record), { previousSeq: previousRevision });
      this.#remember(token, String(revision), record.epoch);
      return revision;
    } catch (cause) {
      if (isWrongLastSequence(cause)) {
        this.#known.delete(token);
        return undefined;
      }
      throw backendError(`cannot write the state of ${key}`, { key }, cause);
    }
  }

  #remember(token: string, etag: string, epoch: number): void {
    this.#known.delete(token);
    this.#known.set(token, { etag, epoch });
    if (this.#known.size > knownKeysLimit) this.#known.delete(this.#known.keys().next().value!);
  }

  #check(key: string): KV {
    if (this.#closed) throw closedError(key);
    assertKey(key);
    if (this.#kv === undefined) {
      throw new SwitchboardError("unavailable", "state store is not open", { context: { key } });
    }
    return this.#kv;
  }
}

function toRecord(record: JetStreamStateRecord, revision: number): StateRecord {
  return Object.freeze({ value: record.value, etag: String(revision), epoch: record.epoch });
}
