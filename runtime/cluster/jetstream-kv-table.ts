import { JetStreamApiCodes, JetStreamApiError, JetStreamError, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { KvWatchInclude } from "@nats-io/kv";
import type { KV, KvEntry as NatsKvEntry, KvWatchEntry } from "@nats-io/kv";
import { errors as natsErrors } from "@nats-io/transport-node";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { SwitchboardError } from "../errors.ts";
import { createKvBucket } from "../jetstream/kv-bucket.ts";
import { checkKvKey, checkKvPrefix, checkKvRevision, checkKvTtlMs, kvPrefixCanMatch } from "./kv-key.ts";
import type { KvChange, KvEntry, KvTable, KvWatch } from "./kv-table.ts";

export interface JetStreamKvTableOptions {
  /** The key-value bucket (stream `KV_<bucket>`); `[A-Za-z0-9_-]+`. Created if absent. */
  readonly bucket: string;
  /**
   * The bucket's time to live (JetStream `max_age`), in ms; 0 = forever. Default: the
   * existing bucket's, or 0 when creating. Given for an existing bucket, it must match
   * (`invalid_argument` otherwise): a bucket's TTL is not changed behind its users' backs.
   */
  readonly ttlMs?: number;
  /** Replicas when the bucket is created (1, 3 or 5); default 1. An existing bucket keeps its own. */
  readonly replicas?: number;
  /** How long each JetStream request may take before failing with `unavailable`; default 5,000 ms. */
  readonly timeoutMs?: number;
}

const bucketPattern = /^[A-Za-z0-9_-]+$/;
/** How many reads `entries` keeps in flight at once. */
const entriesReadConcurrency = 64;

/**
 * Opens the bucket, creating it (history 1, file storage, TTL `ttlMs`) when absent. The
 * connection stays the caller's: `close()` on the table does not close it.
 * Rejects with `invalid_argument` for a bad bucket name or options, or options the
 * server refuses; `unavailable` when JetStream cannot be reached.
 */
export async function openJetStreamKvTable(nc: NatsConnection, options: JetStreamKvTableOptions): Promise<JetStreamKvTable> {
  const { bucket, replicas, timeoutMs } = resolveJetStreamKvTableOptions(options);
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    const kv = await createKvBucket(nc, { bucket, replicas, timeoutMs, ttlMs: options.ttlMs });
    const ttlMs = (await kv.status()).ttl;
    if (options.ttlMs !== undefined && options.ttlMs !== ttlMs) {
      throw new SwitchboardError("invalid_argument", `bucket ${bucket} exists with ttlMs ${ttlMs}, not ${options.ttlMs}`, {
        context: { bucket, ttlMs, requestedTtlMs: options.ttlMs },
      });
    }
    return new JetStreamKvTable({ kv, jsm, bucket, ttlMs });
  } catch (err) {
    if (err instanceof JetStreamApiError && !isTransient(err)) {
      throw new SwitchboardError("invalid_argument", `JetStream refused bucket ${bucket}: ${err.message}`, { context: { bucket, apiCode: err.code }, cause: err });
    }
    throw toKvError(err, "open", undefined, bucket);
  }
}

/**
 * Fills the defaults of `options` (all but `ttlMs`, which defaults to the bucket's) and
 * checks them; throws `invalid_argument` with what is wrong.
 */
export function resolveJetStreamKvTableOptions(options: JetStreamKvTableOptions): Required<Omit<JetStreamKvTableOptions, "ttlMs">> & Pick<JetStreamKvTableOptions, "ttlMs"> {
  const { bucket } = options;
  if (typeof bucket !== "string" || !bucketPattern.test(bucket)) {
    throw new SwitchboardError("invalid_argument", `invalid bucket name ${JSON.stringify(bucket)}: use [A-Za-z0-9_-]+`, { context: { bucket } });
  }
  if (options.ttlMs !== undefined) checkKvTtlMs(options.ttlMs);
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new SwitchboardError("invalid_argument", `invalid replicas ${String(replicas)}: 1 to 5`, { context: { bucket, replicas } });
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new SwitchboardError("invalid_argument", `invalid timeoutMs ${String(timeoutMs)}`, { context: { bucket, timeoutMs } });
  }
  return { bucket, replicas, timeoutMs, ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }) };
}

/**
 * `KvTable` over a JetStream key-value bucket (nats-server ≥ 2.9). Keys are NATS
 * subject tokens: see `checkKvKey` in `kv-key.ts` (anything else is `invalid_argument`).
 *
 * - `revision` is the stream sequence, so it increases across the whole bucket.
 * - `writtenAtMs` is the server's timestamp of the write.
 * - TTL is the bucket's `max_age`, applied by the server: an entry is gone once the
 *   server has removed it, which nats-server 2.9.10 was seen to do within about 10 ms
 *   of `writtenAtMs + ttlMs`. Until then it is live for every operation (an `update`
 *   at its revision still succeeds). No client clock is consulted, so clock skew
 *   between nodes does not change what is live.
 * - A compare-and-set that loses (`wrong last sequence`) is `etag_mismatch`; a timeout,
 *   a lost or closed connection, or JetStream without a leader is `unavailable`;
 *   anything else the server refuses is `internal`.
 * - `delete` without a revision always writes a delete marker (one revision, one
 *   `delete` change), also for a key that is already absent.
 * - A delete marker has a revision of its own, and the server's compare-and-set does
 *   not tell it from a live entry: `update` or `delete` at a delete's revision succeeds
 *   here while `MemoryKvTable` refuses it. Pass only revisions of live entries.
 * - `entries` lists the bucket's subjects (one stream-info request), then reads each
 *   matching key: 1 + n requests, up to 64 at a time, each entry as it was at some
 *   moment during the call.
 * - `watch` runs an ordered push consumer that starts at the stream's next sequence
 *   when the server creates it, which takes a round trip. Every later call on this
 *   handle waits for that, so "watch, then `entries`" misses nothing: each change is in
 *   the snapshot, in the watch, or both (compare revisions). Writes through other
 *   connections count from the consumer's creation.
 */
export class JetStreamKvTable implements KvTable {
  readonly bucket: string;
  readonly ttlMs: number;
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;
  readonly #watches = new Set<JetStreamKvWatch>();
  readonly #watchesStarting = new Set<Promise<void>>();
  #closed = false;

  /** Use `openJetStreamKvTable`. */
  constructor(parts: { kv: KV; jsm: JetStreamManager; bucket: string; ttlMs: number }) {
    this.#kv = parts.kv;
    this.#jsm = parts.jsm;
    this.bucket = parts.bucket;
    this.ttlMs = parts.ttlMs;
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKvKey(key);
    return this.#run("get", key, async () => {
      const found = await this.#kv.get(key);
      return found === null || found.operation !== "PUT" ? undefined : toEntry(found);
    });
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.#run("create", key, () => this.#kv.create(key, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKvKey(key);
    checkKvRevision(revision, key);
    return this.#run("update", key, () => this.#kv.update(key, value, revision));
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.#run("put", key, () => this.#kv.put(key, value));
  }

  async delete(key: string, revision?: number): Promise<void> {
    checkKvKey(key);
    if (revision !== undefined) checkKvRevision(revision, key);
    return this.#run("delete", key, () => this.#kv.delete(key, revision === undefined ? undefined : { previousSeq: revision }));
  }

  /** Live entries whose key starts with `prefix`, sorted by key. */
  async entries(prefix = ""): Promise<KvEntry[]> {
    checkKvPrefix(prefix);
    if (!kvPrefixCanMatch(prefix)) return [];
    return this.#run("entries", undefined, async () => {
      const subjectPrefix = `$KV.${this.bucket}.`;
      // A subject filter matches whole tokens only: filter on the prefix's complete
      // tokens, then on the rest of it here.
      const wholeTokens = prefix.slice(0, prefix.lastIndexOf(".") + 1);
      const info = await this.#jsm.streams.info(streamName(this.bucket), { subjects_filter: `${subjectPrefix}${wholeTokens}>` });
      const keys = Object.keys(info.state.subjects ?? {})
        .map((subject) => subject.slice(subjectPrefix.length))
        .filter((key) => key.startsWith(prefix))
        .sort();
      const out: KvEntry[] = [];
      for (let i = 0; i < keys.length; i += entriesReadConcurrency) {
        const read = await Promise.all(keys.slice(i, i + entriesReadConcurrency).map((key) => this.#kv.get(key)));
        for (const found of read) if (found !== null && found.operation === "PUT") out.push(toEntry(found));
      }
      return out;
    });
  }

  /**
   * Puts and deletes from the consumer's creation on, in revision order (see the class
   * comment). The iteration fails with `unavailable` if the consumer cannot be made or
   * is lost for good (the connection closed); it ends when the watch or this handle is
   * closed.
   */
  watch(): KvWatch {
    this.#checkOpen();
    const watch = new JetStreamKvWatch(this.#kv, this.bucket, () => this.#watches.delete(watch));
    this.#watches.add(watch);
    const started = watch.started;
    this.#watchesStarting.add(started);
    void started.then(() => this.#watchesStarting.delete(started));
    return watch;
  }

  /** Ends this handle's watches; idempotent. Leaves the bucket and the connection alone. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    this.#checkOpen();
    if (this.#watchesStarting.size > 0) await Promise.all(this.#watchesStarting);
    try {
      return await fn();
    } catch (err) {
      throw toKvError(err, op, key, this.bucket);
    }
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new SwitchboardError("unavailable", `the key-value table handle on bucket ${this.bucket} is closed`, { context: { bucket: this.bucket, closed: true } });
    }
  }
}

class JetStreamKvWatch implements KvWatch {
  /** Settles (never rejects) once the consumer exists or could not be made. */
  readonly started: Promise<void>;
  readonly #bucket: string;
  readonly #onClose: () => void;
  #changes: QueuedIterator<KvWatchEntry> | undefined;
  #failure: SwitchboardError | undefined;
  #closed = false;

  constructor(kv: KV, bucket: string, onClose: () => void) {
    this.#bucket = bucket;
    this.#onClose = onClose;
    this.started = kv.watch({ include: KvWatchInclude.UpdatesOnly }).then(
      (changes) => {
        if (this.#closed) changes.stop();
        else this.#changes = changes;
      },
      (err: unknown) => {
        this.#failure = toKvError(err, "watch", undefined, bucket);
      },
    );
  }

  /** Ends the iteration; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#changes?.stop();
    this.#onClose();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<KvChange, void, undefined> {
    try {
      await this.started;
      if (this.#failure !== undefined) throw this.#failure;
      const changes = this.#changes;
      if (changes === undefined || this.#closed) return;
      for await (const found of changes) {
        if (this.#closed) return;
        yield found.operation === "PUT" ? { op: "put", entry: toEntry(found) } : { op: "delete", key: found.key, revision: found.revision };
      }
      if (!this.#closed) {
        throw new SwitchboardError("unavailable", `the watch on bucket ${this.#bucket} ended: its consumer or connection is gone`, {
          context: { bucket: this.#bucket, op: "watch" },
        });
      }
    } finally {
      this.close();
    }
  }
}

function streamName(bucket: string): string {
  return `KV_${bucket}`;
}

/** Copies the value, so an entry never shares memory with the client's buffers. */
function toEntry(found: NatsKvEntry): KvEntry {
  return Object.freeze({ key: found.key, value: found.value.slice(), revision: found.revision, writtenAtMs: found.created.getTime() });
}

/** A server answer that says "not now" rather than "no". */
function isTransient(err: JetStreamApiError): boolean {
  return err.status === 503 || err.code === JetStreamApiCodes.StreamNotFound;
}

function isConnectionError(err: unknown): boolean {
  return (
    err instanceof natsErrors.TimeoutError ||
    err instanceof natsErrors.RequestError ||
    err instanceof natsErrors.NoRespondersError ||
    err instanceof natsErrors.ClosedConnectionError ||
    err instanceof natsErrors.DrainingConnectionError ||
    err instanceof natsErrors.ConnectionError ||
    err instanceof JetStreamError ||
    (err instanceof Error && err.name === "JetStreamNotEnabled")
  );
}

function toKvError(err: unknown, op: string, key: string | undefined, bucket: string): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  const context = key === undefined ? { bucket, op } : { bucket, op, key };
  const what = key === undefined ? `${op} on bucket ${bucket}` : `${op} ${JSON.stringify(key)} on bucket ${bucket}`;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof JetStreamApiError) {
    const apiContext = { ...context, apiCode: err.code };
    if (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown) {
      return new SwitchboardError("etag_mismatch", `${what}: ${message}`, { context: apiContext, cause: err });
    }
    if (isTransient(err)) return new SwitchboardError("unavailable", `${what}: ${message}`, { context: apiContext, cause: err });
    return new SwitchboardError("internal", `${what}: ${message}`, { context: apiContext, cause: err });
  }
  if (isConnectionError(err)) return new SwitchboardError("unavailable", `${what}: ${message}`, { context, cause: err });
  return new SwitchboardError("internal", `${what}: ${message}`, { context, cause: err });
}
