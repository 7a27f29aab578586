import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Level } from "level";
import { createLevelStateStore, LevelStateStore } from "./level-state-store.ts";
import { describeStateStore } from "./state-store-contract.ts";

const encodings = { keyEncoding: "utf8", valueEncoding: "view" } as const;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "switchboard-state-"));
}

describeStateStore("LevelStateStore", async () => {
  const dir = await tempDir();
  const store = await createLevelStateStore({ path: dir });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeStateStore("LevelStateStore on a sublevel", async () => {
  const dir = await tempDir();
  const db = new Level<string, Uint8Array>(dir, encodings);
  const store = await createLevelStateStore({ db: db.sublevel<string, Uint8Array>("state", encodings) });
  return {
    store,
    async cleanup() {
      await store.close();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LevelStateStore on disk", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps value, epoch and etag across closing and reopening", async () => {
    const first = await createLevelStateStore({ path: dir });
    await first.claim("session/acme:alice");
    const claimed = await first.claim("session/acme:alice");
    const etag = await first.save("session/acme:alice", Uint8Array.of(1, 2, 3), claimed);
    const deletedEtag = await first.delete("gone", { etag: null, epoch: 0 });
    await first.close();

    const second = await createLevelStateStore({ path: dir });
    try {
      const record = await second.load("session/acme:alice");
      assert.deepEqual(
        { value: record.value, etag: record.etag, epoch: record.epoch },
        { value: Uint8Array.of(1, 2, 3), etag, epoch: 2 },
      );
      assert.deepEqual({ ...(await second.load("gone")) }, { value: undefined, etag: deletedEtag, epoch: 0 });
      await second.save("session/acme:alice", Uint8Array.of(4), { etag, epoch: 2 });
      assert.equal((await second.claim("session/acme:alice")).epoch, 3);
    } finally {
      await second.close();
    }
  });

  it("refuses a second store on a directory already open, with unavailable", async () => {
    const owner = await createLevelStateStore({ path: dir });
    try {
      await assert.rejects(createLevelStateStore({ path: dir }), { name: "SwitchboardError", code: "unavailable" });
    } finally {
      await owner.close();
    }
  });

  it("keeps stores on sibling sublevels apart and leaves a borrowed db open", async () => {
    const db = new Level<string, Uint8Array>(dir, encodings);
    try {
      const a = new LevelStateStore({ db: db.sublevel<string, Uint8Array>("a", encodings) });
      const b = new LevelStateStore({ db: db.sublevel<string, Uint8Array>("b", encodings) });
      await a.save("k", Uint8Array.of(1), { etag: null, epoch: 0 });
      assert.equal((await b.load("k")).etag, null);
      await a.close();
      await b.close();
      assert.equal(db.status, "open");
    } finally {
      await db.close();
    }
  });
});
