import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jetStreamPerFile } from "../../test/support/jetstream-fixture.ts";
import { isSwitchboardError } from "../errors.ts";
import { describeStateStore } from "../state/state-store-contract.ts";
import { createJetStreamStateStore, JetStreamStateStore } from "./jetstream-state-store.ts";

const js = jetStreamPerFile();
let buckets = 0;

describeStateStore("JetStreamStateStore", async () => {
  const bucket = `state_${++buckets}`;
  const store = await createJetStreamStateStore(js.nc, { bucket });
  return {
    store,
    async cleanup() {
      await store.close();
      await js.jsm.streams.delete(`KV_${bucket}`);
    },
  };
});

describe("JetStreamStateStore on JetStream", () => {
  it("shares one bucket between stores: claims fence across them", async () => {
    const bucket = `state_${++buckets}`;
    const a = await createJetStreamStateStore(js.nc, { bucket });
    const b = await createJetStreamStateStore(js.nc, { bucket });
    try {
      const first = await a.claim("k");
      const saved = await a.save("k", Uint8Array.of(1), first);
      const second = await b.claim("k");
      assert.equal(second.epoch, 2);
      assert.deepEqual(second.value, Uint8Array.of(1));
      await assert.rejects(a.save("k", Uint8Array.of(2), { etag: saved, epoch: 1 }), (e) => isSwitchboardError(e, "stale_epoch"));
      // b's save goes through a's remembered etag path too: a stale memory must not win.
      await b.save("k", Uint8Array.of(3), second);
      await assert.rejects(a.save("k", Uint8Array.of(4), { etag: second.etag, epoch: 2 }), (e) => isSwitchboardError(e, "etag_mismatch"));
      const claims = await Promise.all([a.claim("k"), b.claim("k"), a.claim("k"), b.claim("k")]);
      assert.deepEqual(claims.map((c) => c.epoch).sort(), [3, 4, 5, 6]);
      assert.deepEqual((await a.load("k")).value, Uint8Array.of(3));
    } finally {
      await a.close();
      await b.close();
      await js.jsm.streams.delete(`KV_${bucket}`);
    }
  });

  it("refuses bad options with invalid_argument and leaves the connection open on close", async () => {
    assert.throws(() => new JetStreamStateStore(js.nc, { bucket: "a.b" }), (e) => isSwitchboardError(e, "invalid_argument"));
    assert.throws(() => new JetStreamStateStore(js.nc, { replicas: 0 }), (e) => isSwitchboardError(e, "invalid_argument"));
    assert.throws(() => new JetStreamStateStore(js.nc, { timeoutMs: -1 }), (e) => isSwitchboardError(e, "invalid_argument"));
    const bucket = `state_${++buckets}`;
    const store = await createJetStreamStateStore(js.nc, { bucket });
    await store.close();
    assert.equal(js.nc.isClosed(), false);
    await js.jsm.streams.delete(`KV_${bucket}`);
  });

  it("keeps keys too long for a readable KV key apart (hashed)", async () => {
    const bucket = `state_${++buckets}`;
    const store = await createJetStreamStateStore(js.nc, { bucket });
    try {
      const keys = ["ü".repeat(2000), `${"ü".repeat(2000)}x`, "k".repeat(257)];
      for (const [i, key] of keys.entries()) await store.save(key, Uint8Array.of(i), { etag: null, epoch: 0 });
      for (const [i, key] of keys.entries()) assert.deepEqual((await store.load(key)).value, Uint8Array.of(i));
    } finally {
      await store.close();
      await js.jsm.streams.delete(`KV_${bucket}`);
    }
  });

  it("refuses a value beyond the server's max payload with limit_exceeded", async () => {
    const bucket = `state_${++buckets}`;
    const store = await createJetStreamStateStore(js.nc, { bucket });
    try {
      const big = new Uint8Array(js.nc.info!.max_payload);
      await assert.rejects(store.save("k", big, { etag: null, epoch: 0 }), (e) => isSwitchboardError(e, "limit_exceeded"));
    } finally {
      await store.close();
      await js.jsm.streams.delete(`KV_${bucket}`);
    }
  });
});
