import { defaultLogN, hashPassword, isUserName, maxLogN, minLogN } from "../gateways/mqtt/index.ts";
import { ConfigError } from "./config.ts";
import { isTenantName } from "./settings.ts";

export interface PasswdInput {
  readonly flags: Readonly<Record<string, unknown>>;
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** Ctrl-C at the prompt. */
class Interrupted extends Error {}

/**
 * `switchboard passwd [--user U] [--tenant T] [--cost N] [--password-stdin] [--json]`:
 * reads a password and prints its hash (`scrypt:…`) with the lines to put in the
 * config file. The password never comes from a flag (a flag shows in `ps` and the
 * shell history): it is typed at a prompt, twice, without echo, or piped in with
 * `--password-stdin` (one trailing newline is dropped). Resolves with the exit code.
 */
export async function runPasswd(input: PasswdInput): Promise<number> {
  const { flags } = input;
  const user = flags.user as string | undefined;
  const tenant = flags.tenant as string | undefined;
  if (user !== undefined && (!isUserName(user) || user === "*")) throw new ConfigError(`--user: ${JSON.stringify(user)} is not a user name (1-256 characters, no control characters, not *)`);
  if (tenant !== undefined && !isTenantName(tenant)) throw new ConfigError(`--tenant: ${JSON.stringify(tenant)} is not a tenant name (1-64 of A-Z a-z 0-9 _ . -)`);
  const costText = flags.cost as string | undefined;
  const logN = costText === undefined ? defaultLogN : /^\d{1,2}$/.test(costText) ? Number(costText) : NaN;
  if (!(logN >= minLogN && logN <= maxLogN)) throw new ConfigError(`--cost: ${JSON.stringify(costText)} is not a cost (${minLogN}-${maxLogN}, log2 of scrypt's N; default ${defaultLogN})`);

  let password: string;
  try {
    password = flags["password-stdin"] ? await readAll(input.stdin) : await promptTwice(input);
  } catch (err) {
    if (err instanceof Interrupted) return 130;
    throw err;
  }
  if (password === "") throw new ConfigError("the password is empty");

  const hash = await hashPassword(password, { logN });
  if (flags.json) {
    input.stdout.write(JSON.stringify({ tenant: tenant ?? null, user: user ?? null, hash }) + "\n");
    return 0;
  }
  const [u, t] = [user ?? "<user>", tenant ?? "<tenant>"];
  input.stdout.write(
    [
      `Password hash${user ? ` for ${user}` : ""}${tenant ? ` of tenant ${tenant}` : ""} (the node keeps only the hash):`,
      "",
      `  ${hash}`,
      "",
      `The client logs in as ${u}@${t} with the password (a username without @tenant belongs to mqtt.defaultTenant).`,
      "Add the hash to the node's config file (--config):",
      "",
      "  mqtt:",
      "    tenants:",
      `      ${t}:`,
      "        users:",
      `          ${yamlKey(u)}: { password: "${hash}" }`,
      "",
    ].join("\n"),
  );
  return 0;
}

function yamlKey(name: string): string {
  return /^[A-Za-z0-9_.<>-]+$/.test(name) ? name : JSON.stringify(name);
}

/** All of standard input, less one trailing newline. */
async function readAll(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

async function promptTwice(input: PasswdInput): Promise<string> {
  if (!input.stdin.isTTY) throw new ConfigError("no terminal to ask for the password on: pipe it in with --password-stdin");
  const first = await prompt("Password: ", input.stdin, input.stderr);
  const again = await prompt("Password again: ", input.stdin, input.stderr);
  if (first !== again) throw new ConfigError("the two passwords differ");
  return first;
}

/** Reads one line from the terminal without echoing it. */
function prompt(question: string, stdin: NodeJS.ReadStream, out: NodeJS.WriteStream): Promise<string> {
  stdin.setRawMode(true); // before the question, so nothing typed after it is echoed
  stdin.setEncoding("utf8");
  stdin.resume();
  out.write(question);
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      out.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return finish(), resolve(value);
        if (ch === "\u0003") return finish(), reject(new Interrupted());
        if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
        else if (ch === "\u0015") value = "";
        else if (ch >= " ") value += ch;
      }
    };
    stdin.on("data", onData);
  });
}
