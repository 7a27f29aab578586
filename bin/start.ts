import { logVerbosity, setLogVerbosity } from "@grpc/grpc-js";
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import {
  createLogger,
  isSwitchboardError,
  startControlServer,
  startTelemetry,
  type ActorDefinition,
  type ControlServer,
  type Logger,
} from "../runtime/index.ts";
import { ApiKeyTable, createMessagingService, type MessagingService } from "../gateways/grpc/index.ts";
import { parseMqttSettings } from "../gateways/mqtt/index.ts";
import { ConfigError, resolveSettings } from "./config.ts";
import { ListenError, prepareMqtt, startMqtt } from "./mqtt.ts";
import { startNode, type RunningNode } from "./node.ts";
import type { NodeSettings } from "./settings.ts";

export interface StartInput {
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: NodeJS.ProcessEnv;
  readonly version: string;
  /** Actor types the node hosts besides the messaging core's. Test fixtures pass their own. */
  readonly actors?: readonly ActorDefinition<any, any>[];
  /** Called once the node serves (test fixtures drive its messaging API through it). */
  readonly onStarted?: (node: RunningNode) => void;
}

function prepareDataDir(dir: string): string {
  const path = resolve(dir);
  try {
    mkdirSync(path, { recursive: true });
    accessSync(path, constants.W_OK);
  } catch (err) {
    throw new ConfigError(`--data-dir ${dir}: cannot use it as the data directory (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return path;
}

/** Prints one line for a failure the operator can fix, and gives the exit code. */
function fail(line: string): number {
  process.stderr.write(`switchboard: ${line}\n`);
  return 1;
}

/**
 * `switchboard start`: wires one node and runs it until SIGINT or SIGTERM (or until an
 * operator's drain finishes). Resolves with the process exit code. Shutdown runs in
 * reverse: stop listening, drain the runtime (finish turns, persist, deactivate),
 * close the stores, flush telemetry.
 */
export async function runStart(input: StartInput): Promise<number> {
  const configFile = input.flags.config ?? (input.env.SWITCHBOARD_CONFIG || undefined);
  const cfg = resolveSettings({ flags: input.flags, env: input.env, configFile, parseMqtt: (section, env) => parseMqttSettings(section, { env }) });
  const dataDir = cfg.nats === undefined ? prepareDataDir(cfg.dataDir) : resolve(cfg.dataDir);
  const mqtt = prepareMqtt(cfg);

  const telemetry = startTelemetry({ nodeId: cfg.nodeId, env: input.env });
  const logger = createLogger({ nodeId: cfg.nodeId, level: cfg.logLevel });
  if (!input.env.GRPC_VERBOSITY) setLogVerbosity(logVerbosity.NONE);
  const log = logger.child({ component: "node" });

  let node: RunningNode;
  let control: ControlServer | undefined;
  let messaging: MessagingService;
  let mqttEndpoint: string | undefined;
  try {
    node = await startNode({
      settings: cfg,
      dataDir,
      version: input.version,
      logger,
      actors: input.actors ?? [],
      session: { maxInbox: cfg.maxInbox, inboxPolicy: cfg.inboxPolicy },
      mqttSession: { maxQueued: cfg.mqtt.limits.maxQueuedMessages, queuePolicy: cfg.mqtt.limits.queuePolicy },
      grpcAddress: () => (control ? `${advertised(cfg.host)}:${control.port}` : ""),
      endpoints: (): Record<string, string> => (mqttEndpoint === undefined ? {} : { mqtt: mqttEndpoint }),
    });
  } catch (err) {
    await telemetry.shutdown();
    if (isSwitchboardError(err, "unavailable")) {
      return fail(cfg.nats === undefined ? `--data-dir ${cfg.dataDir}: ${err.message}` : `--nats ${cfg.nats}: ${err.message}`);
    }
    throw err;
  }
  try {
    ({ control, messaging } = await startGrpcServer(node, cfg, logger));
  } catch (err) {
    await node.stop();
    await telemetry.shutdown();
    if (isSwitchboardError(err, "unavailable")) return fail(`--grpc-port ${cfg.grpcPort}: ${err.message}`);
    throw err;
  }
  node.listeners.push({ protocol: "grpc", host: control.host, port: control.port });
  let stopMqtt: (() => Promise<void>) | undefined;
  if (mqtt !== undefined) {
    try {
      const started = await startMqtt(node, cfg, mqtt, logger);
      stopMqtt = started.stop;
      for (const l of started.opened) node.listeners.push(l);
      const tcp = started.opened.find((l) => l.protocol === "mqtt");
      if (tcp !== undefined) mqttEndpoint = `${advertised(cfg.host)}:${tcp.port}`;
    } catch (err) {
      messaging.close();
      await control.close();
      await node.stop();
      await telemetry.shutdown();
      if (err instanceof ListenError) return fail(err.message);
      throw err;
    }
  }
  log.info({ mode: node.mode, dataDir: node.mode === "embedded" ? dataDir : undefined, nats: cfg.nats, listeners: node.listeners, telemetryExport: telemetry.exporting }, "node started");
  logApiKeys(cfg, logger);
  input.onStarted?.(node);

  const reason = await new Promise<string>((resolveStop) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.once(sig, () => {
        log.warn({ signal: sig }, "second signal: exiting at once");
        process.exit(1);
      });
      resolveStop(sig);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    void node.drained.then(() => resolveStop("drained"));
  });
  log.info({ reason }, "stopping");
  await stopMqtt?.();
  messaging.close();
  await control.close();
  await node.stop();
  await telemetry.shutdown();
  log.info("node stopped");
  return 0;
}

/**
 * The node's gRPC port: the control API, and the messaging API for the configured
 * tenants' API keys.
 */
export async function startGrpcServer(node: RunningNode, cfg: NodeSettings, logger: Logger): Promise<{ control: ControlServer; messaging: MessagingService }> {
  const messaging = createMessagingService({ messaging: node.messaging, keys: new ApiKeyTable(cfg.tenants), logger });
  const control = await startControlServer({ host: cfg.host, port: cfg.grpcPort, plane: node.plane, logger, services: [messaging] });
  return { control, messaging };
}

/** Says which tenants may use the messaging API (names and counts only, never a key or hash). */
function logApiKeys(cfg: NodeSettings, logger: Logger): void {
  const log = logger.child({ component: "grpc-messaging" });
  const apiKeys = cfg.tenants.reduce((n, t) => n + t.apiKeyHashes.length, 0);
  if (apiKeys === 0) log.info("no API keys are configured: every messaging API call is refused (make one with `switchboard apikey`)");
  else log.info({ tenants: cfg.tenants.map((t) => t.tenant), apiKeys }, "messaging API keys loaded");
}

/** The address peers reach a listener at: a wildcard bind is reached on loopback here. */
function advertised(host: string): string {
  return host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
}
