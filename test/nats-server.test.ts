import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { NatsServer, startNatsCluster } from "./support/nats-server.ts";

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => (s.destroy(), resolve(false)));
    s.on("error", () => resolve(true));
  });
}

test("the helper starts a real nats-server with JetStream on a free port, restarts it and stops it", async () => {
  const server = await NatsServer.start();
  try {
    assert.match(server.log, /JetStream/);
    const pid = server.pid;
    await server.restart();
    assert.notEqual(server.pid, pid, "a new process after restart");
    assert.equal(await refused(server.port), false, "answers on the same port after restart");
  } finally {
    await server.close();
  }
  assert.equal(await refused(server.port), true, "nothing listens after close");
});

test("the helper forms a 3-server cluster", async () => {
  const servers = await startNatsCluster(3);
  try {
    const deadline = Date.now() + 10_000;
    while (!servers.every((s) => /route connection created/i.test(s.log)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const s of servers) assert.match(s.log, /route connection created/i, `server ${s.port} joined routes`);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});
