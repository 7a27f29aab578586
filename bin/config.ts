import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parse as parseYaml } from "yaml";
import type { MqttSettings } from "../gateways/mqtt/index.ts";
import { apiKeysSetting, mqttSection, settings, show, type NodeSettings, type Setting, type SettingName } from "./settings.ts";

/** A setting the user gave that cannot be used; `message` is one line naming it. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export interface ConfigSources {
  /** Flag values as parsed from the command line (strings), by flag name. */
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--config FILE`, or `SWITCHBOARD_CONFIG`. */
  readonly configFile?: string;
  /**
   * Checks the file's `mqtt` section (gateways/mqtt `parseMqttSettings`). `start` passes
   * it; the commands that only ask a node do not, so they need not load the gateways,
   * and the section is then accepted unchecked and left out.
   */
  readonly parseMqtt?: MqttParser;
}

/** The `mqtt` section's parts as the file gives them (see `mqttSection`) → the settings; throws an `Error` whose message starts with the key. */
export type MqttParser = (section: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>) => MqttSettings;

/**
 * Reads a YAML or JSON config file into a flat map of dotted keys. The `tenants`
 * section and the parts of `mqtt` in `mqttSection` stay one value each: tenant and user
 * names may hold dots.
 */
export function readConfigFile(path: string): Map<string, unknown> {
  let textContent: string;
  try {
    textContent = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : String(err);
    throw new ConfigError(`--config ${path}: cannot read the file (${why})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(textContent, { prettyErrors: false });
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new ConfigError(`--config ${path}: not valid YAML or JSON${line ? ` (line ${line})` : ""}: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(`--config ${path}: the top level must be a mapping of sections (node, grpc, …)`);
  const flat = new Map<string, unknown>();
  const walk = (prefix: string, value: unknown) => {
    if (prefix !== apiKeysSetting.key && !wholeMqttParts.has(prefix) && value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else flat.set(prefix, value);
  };
  walk("", doc);
  return flat;
}

const wholeMqttParts = new Set<string>(mqttSection.parts.map((p) => `${mqttSection.key}.${p}`));

/**
 * Resolves every setting from flags, environment, config file and defaults, checking
 * each. Throws `ConfigError` with one line naming the offending setting as the user
 * wrote it (the flag, the variable or the file key).
 */
export function resolveSettings(sources: ConfigSources & { readonly parseMqtt: MqttParser }): NodeSettings & { mqtt: MqttSettings };
export function resolveSettings(sources: ConfigSources): NodeSettings;
export function resolveSettings(sources: ConfigSources): NodeSettings {
  const file = sources.configFile === undefined ? new Map<string, unknown>() : readConfigFile(sources.configFile);
  const known = new Set<string>([...Object.values(settings).map((s) => s.key), apiKeysSetting.key, ...wholeMqttParts]);
  for (const key of file.keys()) {
    if (!known.has(key)) throw new ConfigError(`--config ${sources.configFile}: unknown setting "${key}" (known: ${[...known].join(", ")})`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(settings) as [SettingName, Setting<unknown>][]) {
    const flag = sources.flags[setting.flag];
    const env = sources.env[setting.env];
    const [raw, origin] =
      flag !== undefined ? [flag, `--${setting.flag}`]
      : env !== undefined && env !== "" ? [env, setting.env]
      : file.has(setting.key) ? [file.get(setting.key), `--config ${sources.configFile}: ${setting.key}`]
      : [undefined, ""];
    if (raw === undefined) {
      out[name] = setting.fallback;
      continue;
    }
    try {
      out[name] = setting.parse(raw);
    } catch (err) {
      throw new ConfigError(`${origin}: ${(err as Error).message}`);
    }
  }
  out.tenants = resolveApiKeys(sources.env[apiKeysSetting.env], file, sources.configFile);
  if (sources.parseMqtt !== undefined) out.mqtt = resolveMqtt(sources.parseMqtt, sources.env, file, sources.configFile);
  out.nodeId ??= defaultNodeId();
  return out as NodeSettings;
}

/** The API keys: from the environment if set there, else from the config file, else none. */
function resolveApiKeys(env: string | undefined, file: ReadonlyMap<string, unknown>, configFile: string | undefined): NodeSettings["tenants"] {
  try {
    if (env !== undefined && env.trim() !== "") return apiKeysSetting.parseEnv(env);
  } catch (err) {
    throw new ConfigError(`${apiKeysSetting.env}: ${(err as Error).message}`);
  }
  try {
    return apiKeysSetting.parseFile(file.get(apiKeysSetting.key));
  } catch (err) {
    throw new ConfigError(`--config ${configFile}: ${(err as Error).message}`);
  }
}

/** The `mqtt` section's parts found in the file, checked by `parse`; defaults when there are none. */
function resolveMqtt(parse: MqttParser, env: ConfigSources["env"], file: ReadonlyMap<string, unknown>, configFile: string | undefined): MqttSettings {
  const section: Record<string, unknown> = {};
  for (const key of wholeMqttParts) if (file.has(key)) section[key.slice(mqttSection.key.length + 1)] = file.get(key);
  try {
    return parse(section, env);
  } catch (err) {
    throw new ConfigError(`--config ${configFile}: ${(err as Error).message}`);
  }
}

function defaultNodeId(): string {
  const h = hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  return h || "node";
}

export { show };
