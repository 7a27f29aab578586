import { generateApiKey, hashApiKey } from "../gateways/grpc/index.ts";
import { ConfigError } from "./config.ts";
import { apiKeysSetting, isTenantName } from "./settings.ts";

export interface ApiKeyInput {
  readonly flags: Readonly<Record<string, unknown>>;
}

/**
 * `switchboard apikey [--tenant T] [--json]`: makes a new API key and prints it once,
 * with the line to put in the config file (its hash: the node keeps nothing else).
 * Resolves with the exit code.
 */
export async function runApiKey(input: ApiKeyInput): Promise<number> {
  const tenant = input.flags.tenant as string | undefined;
  if (tenant !== undefined && !isTenantName(tenant)) throw new ConfigError(`--tenant: ${JSON.stringify(tenant)} is not a tenant name (1-64 of A-Z a-z 0-9 _ . -)`);
  const key = generateApiKey();
  const hash = hashApiKey(key);
  if (input.flags.json) {
    process.stdout.write(JSON.stringify({ tenant: tenant ?? null, key, hash }) + "\n");
    return 0;
  }
  const t = tenant ?? "<tenant>";
  process.stdout.write(
    [
      `API key${tenant ? ` for tenant ${tenant}` : ""} (shown only now; the node keeps only its hash):`,
      "",
      `  ${key}`,
      "",
      "Clients send it as the gRPC metadata `authorization: Bearer <key>`.",
      "Add its hash to the node's config file (--config), under the tenant's apiKeys:",
      "",
      `  ${apiKeysSetting.key}:`,
      `    ${t}:`,
      `      apiKeys: ["${hash}"]`,
      "",
      `or to the environment (comma-separated, replaces the file's keys): ${apiKeysSetting.env}=${t}=${hash}`,
      "",
    ].join("\n"),
  );
  return 0;
}
