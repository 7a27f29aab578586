import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { mqttSection } from "../bin/settings.ts";
import { mqttSettingKeys, parsePasswordHash, verifyPassword } from "../gateways/mqtt/index.ts";
import { freePort } from "./support/free-port.ts";
import { NodeProcess, cliPath, repoRoot, runCli } from "./support/node-process.ts";

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

  test("a node runs with a 16 MB young generation in its own PID, unless NODE_OPTIONS chose one", async () => {
    const semiSpace = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a.startsWith("--max-semi-space-size"));
    {
      await using node = new NodeProcess(["--grpc-port", "0", "--data-dir", dataDir()], { env: { ...cleanEnv, NODE_OPTIONS: "" } });
      const { grpc } = await node.started();
      assert.deepEqual(semiSpace(node.pid), ["--max-semi-space-size=16"]);
      const json = await runCli(["status", "--grpc-port", String(grpc), "--json"]);
      assert.equal((JSON.parse(json.stdout) as { info: { pid: number } }).info.pid, node.pid, "the process replaced itself, keeping its PID");
    }
    {
      await using node = new NodeProcess(["--grpc-port", "0", "--data-dir", dataDir()], { env: { ...cleanEnv, NODE_OPTIONS: "--max-semi-space-size=4" } });
      await node.started();
      assert.deepEqual(semiSpace(node.pid), [], "the operator's NODE_OPTIONS is left to Node");
    }
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

describe("switchboard passwd and the config file's mqtt section", () => {
  /** Runs `switchboard passwd ARGS…` with `input` on standard input (none: stdin closed at once). */
  async function passwd(args: readonly string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [cliPath, "passwd", ...args], { cwd: repoRoot, env: { ...process.env, ...cleanEnv }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.stdin.end(input ?? "");
    const [code] = (await once(child, "exit")) as [number | null];
    return { code, stdout, stderr };
  }

  test("hashes a password from standard input, prints the config lines, and the hash verifies it", async () => {
    const r = await passwd(["--password-stdin", "--user", "alice", "--tenant", "acme"], "s3cret pass\n");
    assert.equal(r.code, 0, r.stderr);
    const hash = /^ {2}(scrypt:\S+)$/m.exec(r.stdout)?.[1];
    assert.ok(hash, r.stdout);
    assert.ok(r.stdout.includes(`    tenants:\n      acme:\n        users:\n          alice: { password: "${hash}" }`), r.stdout);
    assert.ok(r.stdout.includes("alice@acme"));
    assert.ok(!r.stdout.includes("s3cret"), "the password is never printed");
    assert.equal(await verifyPassword(parsePasswordHash(hash), "s3cret pass"), true, "one trailing newline is dropped");
    assert.equal(await verifyPassword(parsePasswordHash(hash), "s3cret pass\n"), false);
  });

  test("--json and --cost", async () => {
    const r = await passwd(["--password-stdin", "--json", "--cost", "10"], "pw");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tenant: null; user: null; hash: string };
    assert.equal(out.tenant, null);
    assert.equal(out.user, null);
    assert.match(out.hash, /^scrypt:1024:8:1:/);
    assert.equal(await verifyPassword(parsePasswordHash(out.hash), "pw"), true);
  });

  test("no password from a flag, no terminal, an empty password or bad options: one line, exit 2", async () => {
    const noTty = await passwd([]);
    assert.equal(noTty.code, 2);
    assert.equal(oneLine(noTty.stderr), "switchboard: no terminal to ask for the password on: pipe it in with --password-stdin");
    const empty = await passwd(["--password-stdin"], "\n");
    assert.equal(empty.code, 2);
    assert.equal(oneLine(empty.stderr), "switchboard: the password is empty");
    const flag = await passwd(["--password", "hunter2"]);
    assert.equal(flag.code, 2);
    assert.equal(oneLine(flag.stderr), "switchboard: unknown option --password for passwd (see switchboard --help)");
    const user = await passwd(["--password-stdin", "--user", "*"], "pw");
    assert.equal(user.code, 2);
    assert.match(oneLine(user.stderr), /^switchboard: --user: "\*" is not a user name/);
    const cost = await passwd(["--password-stdin", "--cost", "40"], "pw");
    assert.equal(cost.code, 2);
    assert.match(oneLine(cost.stderr), /^switchboard: --cost: "40" is not a cost \(10-18/);
  });

  test("a node starts with the mqtt section holding that hash; a bad value stops it with one line naming the key", async () => {
    const made = await passwd(["--password-stdin", "--json", "--cost", "10"], "pw");
    const { hash } = JSON.parse(made.stdout) as { hash: string };
    const good = join(scratch, "mqtt-good.yaml");
    writeFileSync(
      good,
      [
        "mqtt:",
        "  anonymous: { enabled: false }",
        "  tenants:",
        "    acme:",
        `      users: { alice: { password: "${hash}" } }`,
        "  acl:",
        "    default: deny",
        '    rules: [{ action: allow, tenant: acme, topic: "devices/%u/#" }]',
        "  limits: { maxInflight: 10 }",
        "",
      ].join("\n"),
    );
    {
      // A free MQTT port through the environment, which a node without an MQTT listener ignores.
      await using node = new NodeProcess(["--config", good, "--grpc-port", "0", "--data-dir", dataDir()], { env: { ...cleanEnv, SWITCHBOARD_MQTT_PORT: "0" } });
      await node.started();
    }
    const bad = join(scratch, "mqtt-bad.yaml");
    writeFileSync(bad, "mqtt:\n  tenants:\n    acme:\n      users:\n        alice: { password: hunter2 }\n");
    const r = await runCli(["start", "--config", bad, "--grpc-port", "0", "--data-dir", dataDir()], { env: cleanEnv });
    assert.equal(r.code, 2);
    assert.equal(
      oneLine(r.stderr),
      `switchboard: --config ${bad}: mqtt.tenants.acme.users.alice.password: not a password hash (scrypt:<N>:<r>:<p>:<salt base64>:<hash base64>; \`switchboard passwd\` makes one); the configuration holds hashes only`,
    );
    const unknown = join(scratch, "mqtt-unknown.yaml");
    writeFileSync(unknown, "mqtt:\n  limit: { maxInflight: 10 }\n");
    const u = await runCli(["start", "--config", unknown], { env: cleanEnv });
    assert.equal(u.code, 2);
    assert.match(oneLine(u.stderr), /unknown setting "mqtt\.limit\.maxInflight"/);
  });

  test("`status` reads a config file with an mqtt section without checking it", async () => {
    const file = join(scratch, "mqtt-status.yaml");
    const port = await freePort();
    writeFileSync(file, `grpc: { port: ${port} }\nmqtt:\n  limits: { maxInflight: 0 }\n`);
    const r = await runCli(["status", "--config", file, "--timeout-ms", "300"], { env: cleanEnv });
    assert.equal(r.code, 1, "no node answers: the config itself was fine for status");
    assert.match(oneLine(r.stderr), new RegExp(`no Switchboard node answered at 127\\.0\\.0\\.1:${port}`));
  });

  test("bin/ keeps whole the same parts of the mqtt section that gateways/mqtt parses", () => {
    assert.deepEqual([...mqttSection.parts], [...mqttSettingKeys]);
  });
});
