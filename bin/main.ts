import { parseArgs, type ParseArgsConfig } from "node:util";
import { readFileSync } from "node:fs";
import { ConfigError } from "./config.ts";
import { helpText } from "./help.ts";
import { settings } from "./settings.ts";

const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** A command line that cannot be run as written. */
class UsageError extends Error {}

const stringOption = { type: "string" } as const;

/** Options of the commands that ask a running node (status, cluster). */
const clientOptions = {
  host: stringOption,
  "grpc-port": stringOption,
  config: stringOption,
  json: { type: "boolean" },
  "timeout-ms": stringOption,
} as const;

// Each command loads its own module when run: `status` and `cluster` must start fast
// (an operator's shell, a health probe) and need none of the node's dependencies.

const commands = {
  start: {
    options: {
      ...Object.fromEntries(Object.values(settings).map((s) => [s.flag, stringOption])),
      config: stringOption,
    },
    run: async (values: Record<string, unknown>) => (await import("./start.ts")).runStart({ flags: values as Record<string, string>, env: process.env, version }),
  },
  status: {
    options: clientOptions,
    run: async (values: Record<string, unknown>) => (await import("./status.ts")).runStatus({ flags: values, env: process.env }),
  },
  cluster: {
    options: clientOptions,
    positionals: true,
    run: async (values: Record<string, unknown>, positionals: string[]) => (await import("./cluster.ts")).runCluster({ args: positionals, flags: values, env: process.env }),
  },
  apikey: {
    options: { tenant: stringOption, json: { type: "boolean" } },
    run: async (values: Record<string, unknown>) => (await import("./apikey.ts")).runApiKey({ flags: values }),
  },
  passwd: {
    options: { user: stringOption, tenant: stringOption, cost: stringOption, "password-stdin": { type: "boolean" }, json: { type: "boolean" } },
    run: async (values: Record<string, unknown>) =>
      (await import("./passwd.ts")).runPasswd({ flags: values, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }),
  },
  "dev-cluster": {
    options: {
      nodes: stringOption,
      "nats-port": stringOption,
      "grpc-port": stringOption,
      "mqtt-port": stringOption,
      "data-dir": stringOption,
      "nats-server": stringOption,
    },
    run: async (values: Record<string, unknown>) => (await import("./dev-cluster.ts")).runDevCluster({ flags: values, env: process.env }),
  },
} satisfies Record<string, { options: ParseArgsConfig["options"]; positionals?: boolean; run: (v: Record<string, unknown>, positionals: string[]) => Promise<number> }>;

function parse(argv: string[]): { command: keyof typeof commands; values: Record<string, unknown>; positionals: string[] } | "help" | "version" {
  const [first, ...rest] = argv;
  if (first === undefined || first === "help" || first === "--help" || first === "-h") return "help";
  if (first === "version" || first === "--version" || first === "-v") return "version";
  if (!Object.hasOwn(commands, first)) {
    throw new UsageError(first.startsWith("-") ? `unknown option ${first}` : `unknown command "${first}" (commands: start, status, cluster, dev-cluster, apikey, passwd, help, version)`);
  }
  const command = first as keyof typeof commands;
  if (rest.includes("--help") || rest.includes("-h")) return "help";
  try {
    const { values, positionals } = parseArgs({ args: rest, options: commands[command].options, strict: true, allowPositionals: true });
    if (positionals.length > 0 && !("positionals" in commands[command])) throw new UsageError(`unexpected argument "${positionals[0]}" for ${command}`);
    return { command, values, positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const e = err as { code?: string; message: string };
    const opt = /'([^']+)'/.exec(e.message)?.[1] ?? "";
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(`unknown option ${opt.split(" ")[0]} for ${command}`);
    if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new UsageError(`option ${opt.split(" ")[0] || "given"} needs a value`);
    throw new UsageError(e.message);
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`switchboard: ${err.message} (see switchboard --help)\n`);
      return 2;
    }
    throw err;
  }
  if (parsed === "help") {
    process.stdout.write(helpText(version));
    return 0;
  }
  if (parsed === "version") {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  try {
    return await commands[parsed.command].run(parsed.values, parsed.positionals);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchboard: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
