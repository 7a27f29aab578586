import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Level } from "level";
import { ManualClock } from "../clock.ts";
import { isSwitchboardError } from "../errors.ts";
import { createLevelMessageLog } from "./level-message-log.ts";
import { describeMessageLog } from "./message-log-contract.ts";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "switchboard-log-"));
}

async function eventually(condition: () => Promise<boolean>, message: string): Promise<void> {
  for (let tries = 0; !(await condition()); tries++) {
    assert.ok(tries < 500, message);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function removeOnFailure<T>(dir: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

describeMessageLog("LevelMessageLog", async (options) => {
  const dir = await tempDir();
  const log = await removeOnFailure(dir, () => createLevelMessageLog({ ...options, path: dir }));
  return {
    log,
    async cleanup() {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeMessageLog("LevelMessageLog on a shared sublevel", async (options) => {
  const dir = await tempDir();
  const root = new Level(dir);
  const log = await removeOnFailure(dir, async () => {
    try {
      await root.sublevel("state").put("neighbour", "must not show up in the log");
      return await createLevelMessageLog({ ...options, db: root.sublevel("inbox") });
    } catch (err) {
      await root.close();
      throw err;
    }
  });
  return {
    log,
    async cleanup() {
      await log.close();
      await root.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("LevelMessageLog on disk", () => {
  it("continues every stream's numbering after a reopen", async () => {
    const dir = await tempDir();
    try {
      const first = await createLevelMessageLog({ path: dir });
      await first.append("a", text("a1"));
      await first.append("a", text("a2"));
      await first.append("a", text("a3"));
      await first.append("b", text("b1"));
      await first.append("gone", text("g1"));
      await first.truncate("a", 1);
      await first.truncate("gone", 1);
      await first.close();

      const second = await createLevelMessageLog({ path: dir });
      try {
        const entries = await second.read("a", 1, 10);
        assert.deepEqual(
          entries.map((e) => [e.seq, new TextDecoder().decode(e.data)]),
          [
            [2, "a2"],
            [3, "a3"],
          ],
        );
        assert.deepEqual(await second.info("a"), { firstSeq: 2, lastSeq: 3, count: 2 });
        assert.deepEqual(await second.info("gone"), { firstSeq: 2, lastSeq: 1, count: 0 });
        assert.equal(await second.append("a", text("a4")), 4);
        assert.equal(await second.append("b", text("b2")), 2);
        assert.equal(await second.append("gone", text("g2")), 2);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports a directory another log holds as unavailable", async () => {
    const dir = await tempDir();
    try {
      const owner = await createLevelMessageLog({ path: dir });
      try {
        await assert.rejects(createLevelMessageLog({ path: dir }), (err) => isSwitchboardError(err, "unavailable"));
      } finally {
        await owner.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reclaims the storage of trimmed, truncated and expired entries", async () => {
    const dir = await tempDir();
    const root = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
    const storedKeys = async (): Promise<number> => (await root.keys().all()).length;
    try {
      const clock = new ManualClock();
      const retention = { maxEntries: 5, maxAgeMs: 1000 };
      const log = await createLevelMessageLog({ db: root, clock, retention, sweepIntervalMs: 500 });
      for (let i = 0; i < 12; i++) await log.append("trimmed", text(`t${i}`));
      for (let i = 0; i < 4; i++) await log.append("truncated", text(`u${i}`));
      await log.truncate("truncated", 3);
      assert.equal(await storedKeys(), 5 + 1 + (1 + 1), "entries plus one meta key per stream");

      await log.append("idle", text("i1"));
      await log.append("idle", text("i2"));
      await clock.advance(1500);
      // The sweep runs on the manual clock but waits on real disk I/O.
      await eventually(async () => (await storedKeys()) === 3, "only the meta keys are left");
      await log.close();

      const reopened = await createLevelMessageLog({ db: root, clock, retention });
      assert.deepEqual(await reopened.info("idle"), { firstSeq: 3, lastSeq: 2, count: 0 });
      assert.equal(await reopened.append("idle", text("i3")), 3);
      await reopened.close();
    } finally {
      await root.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
