import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createLevelStateStore } from "../state/index.ts";
import { ActorRuntime } from "./actor-runtime.ts";
import { Counter } from "./test-actors.ts";

test("state in level survives a runtime restart; the new activation has a higher epoch", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sb-restart-"));
  try {
    const store1 = await createLevelStateStore({ path: dir });
    const rt1 = new ActorRuntime({ nodeId: "n", actors: [Counter], stateStore: store1 });
    const ids = Array.from({ length: 50 }, (_, i) => `counter/acme:c${i}`);
    await Promise.all(ids.map((id, i) => rt1.refById(id).call("add", i)));
    await rt1.shutdown();
    await store1.close();

    const store2 = await createLevelStateStore({ path: dir });
    const rt2 = new ActorRuntime({ nodeId: "n", actors: [Counter], stateStore: store2 });
    const values = await Promise.all(ids.map((id) => rt2.refById(id).call("get")));
    assert.deepEqual(values, ids.map((_, i) => i));
    assert.equal((await store2.load(ids[0]!)).epoch, 2);
    await rt2.shutdown();
    await store2.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
