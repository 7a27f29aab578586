import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { freePort } from "./support/free-port.ts";
import { NodeProcess, runCli } from "./support/node-process.ts";

const scratch = mkdtempSync(join(tmpdir(), "sb-cli-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const dataDir = () => join(scratch, `data-${++dirs}`);
const cleanEnv = { SWITCHBOARD_CONFIG: "", SWITCHBOARD_GRPC_PORT: "", SWITCHBOARD_NODE_ID: "", OTEL_TRACES_EXPORTER: "", OTEL_EXPORTER_OTLP_ENDPOINT: "" };

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line of error, got:\n${stderr}`);
  return lines[0]!;
}

describe("switchboard start and status", () => {
  test("a started node reports healthy through `switchboard status`", async () => {
    await using node = new NodeProcess(["--grpc-port", "0", "--data-dir", dataDir(), "--node-id", "cli-n1"], { env: cleanEnv });
    const { grpc } = await node.started();
    assert.ok(grpc! > 0);
    const status = await runCli(["status", "--grpc-port", String(grpc)]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Switchboard node cli-n1 — SERVING$/m);
    assert.match(status.stdout, /mode\s+embedded/);
    assert.match(status.stdout, new RegExp(`listeners\\s+grpc 127\\.0\\.0\\.1:${grpc}`));
    assert.match(status.stdout, /activations\s+0/);
    const json = await runCli(["status", "--grpc-port", String(grpc), "--json"]);
    const parsed = JSON.parse(json.stdout) as { info: { nodeId: string; pid: number } };
    assert.equal(parsed.info.nodeId, "cli-n1");
    assert.equal(parsed.info.pid, node.pid);
  });

  test("logs are JSON lines with level, component and node id", async () => {
    await using node = new NodeProcess(["--grpc-port", "0", "--data-dir", dataDir(), "--node-id", "log-n1"], { env: cleanEnv });
    await node.started();
    const line = node.lines.find((l) => l.msg === "control API listening");
    assert.ok(line, "the gRPC listener logs its port");
    assert.equal(line.level, "info");
    assert.equal(line.component, "grpc");
    assert.equal(line.nodeId, "log-n1");
    assert.ok(node.lines.every((l) => l.level !== "raw"), "every stdout line is JSON");
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`${signal} shuts the node down gracefully`, async () => {
      const node = new NodeProcess(["--grpc-port", "0", "--data-dir", dataDir()], { env: cleanEnv });
      const { grpc } = await node.started();
      assert.equal(await node.stop(signal), 0);
      assert.ok(node.lines.some((l) => l.msg === "stopping" && l.reason === signal));
      assert.ok(node.lines.some((l) => l.msg === "node stopped"));
      const status = await runCli(["status", "--grpc-port", String(grpc), "--timeout-ms", "500"]);
      assert.equal(status.code, 1, "nothing answers after shutdown");
    });
  }

  test("flag beats environment, environment beats config file", async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const file = join(scratch, "prec.yaml");
    writeFileSync(file, `grpc:\n  port: ${a}\nnode:\n  id: from-file\n`);
    {
      await using node = new NodeProcess(["--config", file, "--data-dir", dataDir()], { env: { ...cleanEnv, SWITCHBOARD_GRPC_PORT: String(b) } });
      assert.equal((await node.started()).grpc, b);
      assert.equal(node.lines[0]?.nodeId, "from-file");
    }
    {
      await using node = new NodeProcess(["--config", file, "--data-dir", dataDir(), "--grpc-port", String(c)], { env: { ...cleanEnv, SWITCHBOARD_GRPC_PORT: String(b) } });
      assert.equal((await node.started()).grpc, c);
    }
  });

  test("`status` with no node running says so and exits 1", async () => {
    const port = await freePort();
    const r = await runCli(["status", "--grpc-port", String(port), "--timeout-ms", "500"], { env: cleanEnv });
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), new RegExp(`no Switchboard node answered at 127\\.0\\.0\\.1:${port}`));
  });
});

describe("bad input gets one clear line and a non-zero exit", () => {
  test("a port already in use", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const { port } = busy.address() as { port: number };
    try {
      const r = await runCli(["start", "--grpc-port", String(port), "--data-dir", dataDir()], { env: cleanEnv });
      assert.equal(r.code, 1);
      assert.equal(oneLine(r.stderr), `switchboard: --grpc-port ${port}: address 127.0.0.1:${port} is already in use`);
    } finally {
      busy.close();
    }
  });

  test("an unreadable config file", async () => {
    const missing = join(scratch, "nope.yaml");
    const r = await runCli(["start", "--config", missing], { env: cleanEnv });
    assert.equal(r.code, 2);
    assert.equal(oneLine(r.stderr), `switchboard: --config ${missing}: cannot read the file (no such file)`);
  });

  test("a config file that is not YAML", async () => {
    const file = join(scratch, "broken.yaml");
    writeFileSync(file, "grpc:\n  port: [7400\n");
    const r = await runCli(["start", "--config", file], { env: cleanEnv });
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), new RegExp(`^switchboard: --config ${file}: not valid YAML or JSON`));
  });

  test("a config file with an unknown key", async () => {
    const file = join(scratch, "unknown.yaml");
    writeFileSync(file, "grpc:\n  prot: 7400\n");
    const r = await runCli(["start", "--config", file], { env: cleanEnv });
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), /unknown setting "grpc\.prot"/);
  });

  test("a config file with an invalid value names its key", async () => {
    const file = join(scratch, "badvalue.json");
    writeFileSync(file, JSON.stringify({ grpc: { port: 70000 } }));
    const r = await runCli(["start", "--config", file], { env: cleanEnv });
    assert.equal(r.code, 2);
    assert.equal(oneLine(r.stderr), `switchboard: --config ${file}: grpc.port: 70000 is not a port number (0-65535; 0 picks a free port)`);
  });

  test("an invalid flag value and an invalid environment variable", async () => {
    const flag = await runCli(["start", "--grpc-port", "http"], { env: cleanEnv });
    assert.equal(flag.code, 2);
    assert.equal(oneLine(flag.stderr), `switchboard: --grpc-port: "http" is not a port number (0-65535; 0 picks a free port)`);
    const env = await runCli(["start"], { env: { ...cleanEnv, SWITCHBOARD_NODE_ID: "no spaces please" } });
    assert.equal(env.code, 2);
    assert.match(oneLine(env.stderr), /^switchboard: SWITCHBOARD_NODE_ID: "no spaces please" is not a node id/);
    const policy = await runCli(["start", "--inbox-policy", "keep-all"], { env: cleanEnv });
    assert.equal(policy.code, 2);
    assert.equal(oneLine(policy.stderr), `switchboard: --inbox-policy: "keep-all" is not an inbox policy (drop-oldest, refuse-new)`);
    const bound = await runCli(["start"], { env: { ...cleanEnv, SWITCHBOARD_MAX_INBOX: "0" } });
    assert.equal(bound.code, 2);
    assert.match(oneLine(bound.stderr), /^switchboard: SWITCHBOARD_MAX_INBOX: "0" is not an inbox bound/);
  });

  test("an unknown option, an unknown command, a missing value", async () => {
    const opt = await runCli(["start", "--bogus"], { env: cleanEnv });
    assert.equal(opt.code, 2);
    assert.equal(oneLine(opt.stderr), "switchboard: unknown option --bogus for start (see switchboard --help)");
    const cmd = await runCli(["launch"], { env: cleanEnv });
    assert.equal(cmd.code, 2);
    assert.match(oneLine(cmd.stderr), /unknown command "launch"/);
    const missing = await runCli(["start", "--grpc-port"], { env: cleanEnv });
    assert.equal(missing.code, 2);
    assert.match(oneLine(missing.stderr), /option --grpc-port needs a value/);
  });
});

test("--help documents every flag with its variable and config key", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  for (const [flag, env, key] of [
    ["--grpc-port", "SWITCHBOARD_GRPC_PORT", "grpc.port"],
    ["--data-dir", "SWITCHBOARD_DATA_DIR", "node.dataDir"],
    ["--node-id", "SWITCHBOARD_NODE_ID", "node.id"],
    ["--nats", "SWITCHBOARD_NATS", "nats.url"],
    ["--max-inbox", "SWITCHBOARD_MAX_INBOX", "messaging.maxInbox"],
    ["--inbox-policy", "SWITCHBOARD_INBOX_POLICY", "messaging.inboxPolicy"],
    ["--config", "SWITCHBOARD_CONFIG", ""],
  ] as const) {
    assert.ok(r.stdout.includes(flag), flag);
    assert.ok(r.stdout.includes(env), env);
    if (key) assert.ok(r.stdout.includes(key), key);
  }
});

test("a second node on the same data directory is refused with one clear line", async () => {
  const dir = dataDir();
  await using first = new NodeProcess(["--grpc-port", "0", "--data-dir", dir], { env: cleanEnv });
  await first.started();
  const r = await runCli(["start", "--grpc-port", "0", "--data-dir", dir], { env: cleanEnv });
  assert.equal(r.code, 1);
  assert.equal(oneLine(r.stderr), `switchboard: --data-dir ${dir}: the data directory ${dir} is in use by another process`);
});

test("`status` shows the runtime's load figures", async () => {
  await using node = new NodeProcess(["--grpc-port", "0", "--data-dir", dataDir()], { env: cleanEnv });
  const { grpc } = await node.started();
  const r = await runCli(["status", "--grpc-port", String(grpc)]);
  assert.equal(r.code, 0, r.stderr);
  for (const label of ["turns", "refused", "event loop", "memory"]) assert.match(r.stdout, new RegExp(`^  ${label}\\s`, "m"), label);
  assert.match(r.stdout, /lag p99 \d+\.\d ms/);
});
