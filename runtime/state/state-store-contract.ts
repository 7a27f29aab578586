import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ErrorCode } from "../errors.ts";
import type { StateRecord, StateStore } from "./state-store.ts";

export interface StateStoreFixture {
  readonly store: StateStore;
  /** Closes the store and removes whatever `make` created. */
  cleanup(): Promise<void>;
}

/**
 * The one suite every `StateStore` runs (STYLE.md §5). Each test gets a fresh store
 * from `make`. It assumes nothing an out-of-process backend could not honour: etags
 * are compared only for equality, and concurrency is exercised only through the API.
 */
export function describeStateStore(name: string, make: () => Promise<StateStoreFixture>): void {
  describe(`StateStore contract: ${name}`, () => {
    let store: StateStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    it("loads an absent key as no value, null etag, epoch 0", async () => {
      assert.deepEqual(snapshot(await store.load("never")), { value: undefined, etag: null, epoch: 0 });
    });

    it("claims an absent key as epoch 1 with a non-null etag and no value", async () => {
      const claimed = await store.claim("k");
      assert.equal(claimed.epoch, 1);
      assert.equal(typeof claimed.etag, "string");
      assert.equal(claimed.value, undefined);
      assert.ok(Object.isFrozen(claimed));
      assert.deepEqual(snapshot(await store.load("k")), snapshot(claimed));
    });

    it("raises the epoch and changes the etag on every claim, keeping the value", async () => {
      const first = await store.claim("k");
      await store.save("k", bytes(7), first);
      const second = await store.claim("k");
      const third = await store.claim("k");
      assert.deepEqual([second.epoch, third.epoch], [2, 3]);
      assert.equal(new Set([first.etag, second.etag, third.etag]).size, 3);
      assert.deepEqual(valueOf(third), bytes(7));
    });

    it("saves with the current etag and epoch, returning a new etag and keeping the epoch", async () => {
      const claimed = await store.claim("k");
      const etag = await store.save("k", bytes(1, 2, 3), claimed);
      assert.equal(typeof etag, "string");
      assert.notEqual(etag, claimed.etag);
      assert.deepEqual(snapshot(await store.load("k")), { value: bytes(1, 2, 3), etag, epoch: 1 });
      const next = await store.save("k", bytes(4), { etag, epoch: 1 });
      assert.notEqual(next, etag);
      assert.deepEqual(valueOf(await store.load("k")), bytes(4));
    });

    it("refuses a save based on an old etag with etag_mismatch", async () => {
      const claimed = await store.claim("k");
      await store.save("k", bytes(1), claimed);
      await rejectsWith(store.save("k", bytes(2), claimed), "etag_mismatch");
      await rejectsWith(store.save("k", bytes(2), { etag: "no-such-etag", epoch: 1 }), "etag_mismatch");
      assert.deepEqual(valueOf(await store.load("k")), bytes(1));
    });

    it("refuses a save from an older epoch with stale_epoch, even with the current etag", async () => {
      await store.claim("k");
      const newer = await store.claim("k");
      await rejectsWith(store.save("k", bytes(1), { etag: newer.etag, epoch: 1 }), "stale_epoch");
      await rejectsWith(store.delete("k", { etag: newer.etag, epoch: 1 }), "stale_epoch");
      assert.deepEqual(snapshot(await store.load("k")), snapshot(newer));
    });

    it("checks the epoch before the etag", async () => {
      const older = await store.claim("k");
      await store.claim("k");
      await rejectsWith(store.save("k", bytes(1), older), "stale_epoch");
      await rejectsWith(store.save("k", bytes(1), { etag: "no-such-etag", epoch: 1 }), "stale_epoch");
    });

    it("fences out an unclaimed writer (epoch 0) once the key is claimed", async () => {
      const etag = await store.save("k", bytes(1), { etag: null, epoch: 0 });
      const claimed = await store.claim("k");
      await rejectsWith(store.save("k", bytes(2), { etag, epoch: 0 }), "stale_epoch");
      await rejectsWith(store.save("k", bytes(2), { etag: claimed.etag, epoch: 0 }), "stale_epoch");
    });

    it("treats a null etag as create-only: only a never-touched key accepts it", async () => {
      const etag = await store.save("k", bytes(1), { etag: null, epoch: 0 });
      assert.deepEqual(snapshot(await store.load("k")), { value: bytes(1), etag, epoch: 0 });
      await rejectsWith(store.save("k", bytes(2), { etag: null, epoch: 0 }), "etag_mismatch");

      const claimed = await store.claim("c");
      assert.equal(claimed.value, undefined);
      await rejectsWith(store.save("c", bytes(1), { etag: null, epoch: claimed.epoch }), "etag_mismatch");
      await store.save("c", bytes(1), claimed);
    });

    it("deletes the value, returning a new etag and keeping the epoch", async () => {
      const claimed = await store.claim("k");
      const saved = await store.save("k", bytes(1), claimed);
      const deleted = await store.delete("k", { etag: saved, epoch: 1 });
      assert.equal(typeof deleted, "string");
      assert.notEqual(deleted, saved);
      assert.deepEqual(snapshot(await store.load("k")), { value: undefined, etag: deleted, epoch: 1 });
      await rejectsWith(store.delete("k", { etag: saved, epoch: 1 }), "etag_mismatch");
      await rejectsWith(store.save("k", bytes(2), { etag: null, epoch: 1 }), "etag_mismatch");
      await rejectsWith(store.save("k", bytes(2), { etag: saved, epoch: 1 }), "etag_mismatch");
      await store.save("k", bytes(2), { etag: deleted, epoch: 1 });
      assert.deepEqual(valueOf(await store.load("k")), bytes(2));
    });

    it("deletes a key that has no value, still changing the etag", async () => {
      const claimed = await store.claim("k");
      const deleted = await store.delete("k", claimed);
      assert.notEqual(deleted, claimed.etag);
      assert.deepEqual(snapshot(await store.load("k")), { value: undefined, etag: deleted, epoch: 1 });
      const created = await store.delete("fresh", { etag: null, epoch: 0 });
      assert.equal((await store.load("fresh")).etag, created);
    });

    it("keeps fencing after a delete", async () => {
      await store.claim("k");
      const newer = await store.claim("k");
      const deleted = await store.delete("k", newer);
      await rejectsWith(store.save("k", bytes(1), { etag: deleted, epoch: 1 }), "stale_epoch");
      assert.equal((await store.claim("k")).epoch, 3);
    });

    it("gives concurrent claims distinct epochs", async () => {
      const claims = await Promise.all(Array.from({ length: 20 }, () => store.claim("k")));
      const epochs = claims.map((c) => c.epoch).sort((a, b) => a - b);
      assert.deepEqual(epochs, Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal(new Set(claims.map((c) => c.etag)).size, 20);
      assert.equal((await store.load("k")).epoch, 20);
    });

    it("lets exactly one of concurrent saves on the same etag win", async () => {
      const claimed = await store.claim("k");
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.save("k", bytes(i), claimed)),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ i, etag: r.value }] : []));
      assert.equal(won.length, 1);
      for (const r of results) {
        if (r.status === "rejected") assert.equal(r.reason?.code, "etag_mismatch");
      }
      assert.deepEqual(snapshot(await store.load("k")), { value: bytes(won[0]!.i), etag: won[0]!.etag, epoch: 1 });
    });

    it("round-trips values byte for byte, telling an empty value from no value", async () => {
      const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
      const large = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
      const values = [new Uint8Array(0), everyByte, large, bytes(0), bytes(0xff, 0, 0xff)];
      for (const [i, value] of values.entries()) {
        await store.save(`v${i}`, value, { etag: null, epoch: 0 });
        const loaded = (await store.load(`v${i}`)).value;
        assert.ok(loaded instanceof Uint8Array);
        assert.deepEqual(valueOf({ value: loaded }), value);
      }
      const offset = new Uint8Array([9, 9, 1, 2, 3, 9]).subarray(2, 5);
      await store.save("view", offset, { etag: null, epoch: 0 });
      assert.deepEqual(valueOf(await store.load("view")), bytes(1, 2, 3));
    });

    it("keeps its own copy of values, in and out", async () => {
      const value = bytes(1, 2, 3);
      await store.save("k", value, { etag: null, epoch: 0 });
      value[0] = 99;
      const loaded = (await store.load("k")).value!;
      loaded[1] = 99;
      assert.deepEqual(valueOf(await store.load("k")), bytes(1, 2, 3));
    });

    it("accepts keys with unicode, '/', ':' and spaces, each independent", async () => {
      const keys = ["session/acme:alice", "session/acme:alice/x", "session", "ünï cödé/日本:🎧", "a b", "k".repeat(200)];
      for (const [i, key] of keys.entries()) {
        await store.save(key, bytes(i), { etag: null, epoch: 0 });
      }
      for (const [i, key] of keys.entries()) {
        assert.deepEqual(valueOf(await store.load(key)), bytes(i), key);
      }
    });

    it("refuses an empty or malformed key with invalid_argument", async () => {
      for (const key of ["", "lone\uD800surrogate"]) {
        await rejectsWith(store.load(key), "invalid_argument");
        await rejectsWith(store.claim(key), "invalid_argument");
        await rejectsWith(store.save(key, bytes(1), { etag: null, epoch: 0 }), "invalid_argument");
        await rejectsWith(store.delete(key, { etag: null, epoch: 0 }), "invalid_argument");
      }
    });

    it("refuses a bad epoch, etag or value with invalid_argument", async () => {
      for (const epoch of [-1, 1.5, Number.NaN]) {
        await rejectsWith(store.save("k", bytes(1), { etag: null, epoch }), "invalid_argument");
        await rejectsWith(store.delete("k", { etag: null, epoch }), "invalid_argument");
      }
      const badEtag = { etag: 7, epoch: 0 } as unknown as { etag: string; epoch: number };
      await rejectsWith(store.save("k", bytes(1), badEtag), "invalid_argument");
      await rejectsWith(store.save("k", "text" as unknown as Uint8Array, { etag: null, epoch: 0 }), "invalid_argument");
      assert.deepEqual(snapshot(await store.load("k")), { value: undefined, etag: null, epoch: 0 });
    });

    it("keeps many keys independent under concurrent use", async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `actor/${i}`);
      await Promise.all(
        keys.map(async (key, i) => {
          for (let n = 0; n <= i % 3; n++) await store.claim(key);
          const claimed = await store.load(key);
          await store.save(key, bytes(i), claimed);
        }),
      );
      for (const [i, key] of keys.entries()) {
        const record = await store.load(key);
        assert.deepEqual(valueOf(record), bytes(i), key);
        assert.equal(record.epoch, (i % 3) + 1, key);
      }
    });

    it("refuses every call with unavailable once closed, and closes twice", async () => {
      await store.claim("k");
      await store.close();
      await store.close();
      await rejectsWith(store.load("k"), "unavailable");
      await rejectsWith(store.claim("k"), "unavailable");
      await rejectsWith(store.save("k", bytes(1), { etag: null, epoch: 0 }), "unavailable");
      await rejectsWith(store.delete("k", { etag: null, epoch: 0 }), "unavailable");
    });
  });
}

// Plain copies, so a backend may hand back any Uint8Array (a Buffer, say) and still compare equal.
function snapshot(record: StateRecord): StateRecord {
  return { value: valueOf(record), etag: record.etag, epoch: record.epoch };
}

function valueOf(record: Pick<StateRecord, "value">): Uint8Array | undefined {
  return record.value === undefined ? undefined : new Uint8Array(record.value);
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, { name: "SwitchboardError", code });
}
