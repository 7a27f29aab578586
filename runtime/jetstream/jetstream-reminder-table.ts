import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { SwitchboardError } from "../errors.ts";
import { KeyLock } from "../key-lock.ts";
import { assertActorId, assertFilter, assertReminderKey, closedError, compareCodePoints } from "../reminders/reminder-checks.ts";
import { decodeReminderRecord, encodeReminderRecord } from "../reminders/reminder-record.ts";
import type { Reminder, ReminderTable } from "../reminders/reminder-table.ts";
import { backendError } from "./jetstream-errors.ts";
import { resolveJetStreamStoreOptions, resolveName } from "./jetstream-options.ts";
import type { JetStreamStoreOptions } from "./jetstream-options.ts";
import { createKvBucket } from "./kv-bucket.ts";
import { decodeToken, encodeToken } from "./subject-token.ts";

export interface JetStreamReminderTableOptions extends JetStreamStoreOptions {
  /** The KV bucket, created (history 1, file storage) if absent. Default "sb_reminders". */
  readonly bucket?: string;
}

/** How many values a listing fetches at once. */
const readConcurrency = 64;
const separator = "\u0000";
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/**
 * Resolves once the bucket exists (created if absent). Rejects with `unavailable` when
 * JetStream cannot be reached, `invalid_argument` for bad options.
 */
export async function createJetStreamReminderTable(
  nc: NatsConnection,
  options: JetStreamReminderTableOptions = {},
): Promise<JetStreamReminderTable> {
  const table = new JetStreamReminderTable(nc, options);
  await table.open();
  return table;
}

/**
 * A `ReminderTable` on a JetStream key-value bucket, one KV key per reminder:
 * `<actor token>.<name token>` (see `encodeToken`), so one actor's reminders are the
 * keys matching `<actor token>.*` and `listForActor` is a key filter, not a scan. The
 * value is `actorId U+0000 name U+0000 record` (ids never hold U+0000), so listings
 * never need to decode keys, and ids too long to keep readable in a key (hashed
 * tokens) still come back whole.
 *
 * `upsert` is a plain put: last writer wins, as the contract asks. `delete` reads the
 * key and then purges its subject below the next revision, which removes the reminder
 * without leaving a KV delete marker behind (markers would pile up, one per reminder
 * ever deleted) and without touching an upsert that lands after the read. Two nodes
 * deleting the same reminder at once may both answer true. Within one process, calls
 * on one reminder run one at a time in call order. Reads go to the stream leader (no
 * direct get), so they see every acknowledged write.
 *
 * Listings fetch keys with a KV key listing and then the values, 64 at a time;
 * `listAll`'s filter runs on the actor id decoded from the key before any value is
 * fetched. Closing does not close the connection.
 */
export class JetStreamReminderTable implements ReminderTable {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #replicas: number;
  readonly #timeoutMs: number;
  readonly #queue = new KeyLock();
  #kv: KV | undefined;
  #jsm: JetStreamManager | undefined;
  #closed = false;

  /** Prefer `createJetStreamReminderTable`, which reports a failed open at once. Throws `invalid_argument` for bad options. */
  constructor(nc: NatsConnection, options: JetStreamReminderTableOptions = {}) {
    const { replicas, timeoutMs } = resolveJetStreamStoreOptions(options);
    this.#nc = nc;
    this.#bucket = resolveName("bucket", options.bucket, "sb_reminders");
    this.#replicas = replicas;
    this.#timeoutMs = timeoutMs;
  }

  /** The KV bucket this table uses. */
  get bucket(): string {
    return this.#bucket;
  }

  /** Creates or binds the bucket; idempotent. Rejects with `unavailable` if JetStream cannot be reached. */
  async open(): Promise<void> {
    if (this.#kv !== undefined) return;
    try {
      this.#jsm = await jetstreamManager(this.#nc, { timeout: this.#timeoutMs });
      this.#kv = await createKvBucket(this.#nc, { bucket: this.#bucket, replicas: this.#replicas, timeoutMs: this.#timeoutMs });
    } catch (cause) {
      throw backendError(`cannot open the reminder bucket ${this.#bucket}`, { bucket: this.#bucket }, cause);
    }
  }

  async upsert(reminder: Reminder): Promise<void> {
    const kv = this.#checkOpen();
    const record = encodeReminderRecord(reminder);
    const { actorId, name } = reminder;
    const key = keyOf(actorId, name);
    const value = utf8.encode(actorId + separator + name + separator + record);
    await this.#queue.run(key, () => this.#backend("write", { actorId, name }, () => kv.put(key, value)));
  }

  async delete(actorId: string, name: string): Promise<boolean> {
    const kv = this.#checkOpen();
    assertReminderKey(actorId, name);
    const key = keyOf(actorId, name);
    return this.#queue.run(key, () =>
      this.#backend("delete", { actorId, name }, async () => {
        const entry = await kv.get(key);
        if (entry === null || entry.operation !== "PUT") return false;
        await this.#jsm!.streams.purge(`KV_${this.#bucket}`, {
          filter: `$KV.${this.#bucket}.${key}`,
          seq: entry.revision + 1,
        });
        return true;
      }),
    );
  }

  async get(actorId: string, name: string): Promise<Reminder | undefined> {
    const kv = this.#checkOpen();
    assertReminderKey(actorId, name);
    const key = keyOf(actorId, name);
    // Through the queue too, so it sees earlier writes to the key and close() waits for it.
    const value = await this.#queue.run(key, () => this.#backend("read", { actorId, name }, () => this.#value(kv, key)));
    return value === undefined ? undefined : decodeValue(value);
  }

  async listForActor(actorId: string): Promise<Reminder[]> {
    const kv = this.#checkOpen();
    assertActorId(actorId);
    return this.#queue.run(undefined, async () => {
      const keys = await this.#keys(kv, `${encodeToken(actorId)}.*`, { actorId });
      const found = (await this.#values(kv, keys, { actorId })).map(decodeValue);
      // A hashed actor token could in theory be shared; the value names the actor.
      return found.filter((r) => r.actorId === actorId).sort((a, b) => compareCodePoints(a.name, b.name));
    });
  }

  async listAll(filter?: (actorId: string) => boolean): Promise<Reminder[]> {
    const kv = this.#checkOpen();
    assertFilter(filter);
    return this.#queue.run(undefined, async () => {
      let keys = await this.#keys(kv, ">", {});
      if (filter !== undefined) {
        const admitted = new Map<string, boolean>();
        keys = keys.filter((key) => {
          const actorToken = key.slice(0, key.indexOf("."));
          const actorId = decodeToken(actorToken);
          if (actorId === undefined) return true; // hashed: decided on the value below
          let ok = admitted.get(actorToken);
          if (ok === undefined) {
            ok = filter(actorId);
            admitted.set(actorToken, ok);
          }
          return ok;
        });
      }
      const found = (await this.#values(kv, keys, {})).map(decodeValue);
      return filter === undefined ? found : found.filter((r) => filter(r.actorId));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.idle();
  }

  async #keys(kv: KV, filter: string, context: Record<string, unknown>): Promise<string[]> {
    return this.#backend("list", context, async () => {
      const keys: string[] = [];
      for await (const key of await kv.keys(filter)) keys.push(key);
      return keys;
    });
  }

  /** The values of `keys`, skipping keys removed since they were listed. */
  async #values(kv: KV, keys: readonly string[], context: Record<string, unknown>): Promise<Uint8Array[]> {
    const values: Uint8Array[] = [];
    for (let i = 0; i < keys.length; i += readConcurrency) {
      const page = keys.slice(i, i + readConcurrency);
      const got = await this.#backend("list", context, () => Promise.all(page.map((key) => this.#value(kv, key))));
      for (const value of got) if (value !== undefined) values.push(value);
    }
    return values;
  }

  async #value(kv: KV, key: string): Promise<Uint8Array | undefined> {
    const entry = await kv.get(key);
    return entry === null || entry.operation !== "PUT" ? undefined : entry.value;
  }

  async #backend<T>(op: string, context: Record<string, unknown>, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (cause) {
      throw backendError(`cannot ${op} reminders`, context, cause);
    }
  }

  #checkOpen(): KV {
    if (this.#closed) throw closedError();
    if (this.#kv === undefined) throw new SwitchboardError("unavailable", "reminder table is not open");
    return this.#kv;
  }
}

function keyOf(actorId: string, name: string): string {
  return `${encodeToken(actorId)}.${encodeToken(name)}`;
}

/** Throws `internal` on a value this code did not write. */
function decodeValue(value: Uint8Array): Reminder {
  let text: string;
  try {
    text = utf8Strict.decode(value);
  } catch (cause) {
    throw new SwitchboardError("internal", "stored reminder is not UTF-8", { cause });
  }
  const first = text.indexOf(separator);
  const second = first < 0 ? -1 : text.indexOf(separator, first + 1);
  if (first <= 0 || second <= first + 1) {
    throw new SwitchboardError("internal", "stored reminder is not in a known format", {
      context: { prefix: text.slice(0, 80) },
    });
  }
  return decodeReminderRecord(text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1));
}
