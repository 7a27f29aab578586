import { logVerbosity, setLogVerbosity } from "@grpc/grpc-js";
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { createLogger, isSwitchboardError, startTelemetry, type ControlPlane, type ListenerInfo, type NodeHealth } from "../runtime/index.ts";
import { startControlServer } from "../runtime/index.ts";
import { ConfigError, resolveSettings } from "./config.ts";

export interface StartInput {
  readonly flags: Readonly<Record<string, string | undefined>>;
  readonly env: NodeJS.ProcessEnv;
  readonly version: string;
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

/**
 * `switchboard start`: wires one node and runs it until SIGINT or SIGTERM. Resolves
 * with the process exit code.
 */
export async function runStart(input: StartInput): Promise<number> {
  const configFile = input.flags.config ?? (input.env.SWITCHBOARD_CONFIG || undefined);
  const cfg = resolveSettings({ flags: input.flags, env: input.env, configFile });
  const dataDir = prepareDataDir(cfg.dataDir);
  if (cfg.nats !== undefined) {
    throw new ConfigError(`--nats ${cfg.nats}: cluster mode is not available in this version yet; start without --nats for an embedded node`);
  }

  const telemetry = startTelemetry({ nodeId: cfg.nodeId, env: input.env });
  const logger = createLogger({ nodeId: cfg.nodeId, level: cfg.logLevel });
  if (!input.env.GRPC_VERBOSITY) setLogVerbosity(logVerbosity.NONE);
  const log = logger.child({ component: "node" });

  const startedAtMs = Date.now();
  const listeners: ListenerInfo[] = [];
  let health: NodeHealth = "serving";
  const plane: ControlPlane = {
    health: () => health,
    nodeInfo: () => ({
      nodeId: cfg.nodeId,
      version: input.version,
      mode: "embedded",
      startedAtMs,
      uptimeMs: Date.now() - startedAtMs,
      listeners,
      dataDir,
    }),
    activations: () => ({ groups: [], total: 0 }),
  };

  let control;
  try {
    control = await startControlServer({ host: cfg.host, port: cfg.grpcPort, plane, logger });
  } catch (err) {
    await telemetry.shutdown();
    if (isSwitchboardError(err, "unavailable")) {
      process.stderr.write(`switchboard: --grpc-port ${cfg.grpcPort}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  listeners.push({ protocol: "grpc", host: control.host, port: control.port });
  log.info({ mode: "embedded", dataDir, listeners, telemetryExport: telemetry.exporting }, "node started");

  const stopped = new Promise<string>((resolveStop) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.once(signal, () => {
        log.warn({ signal }, "second signal: exiting at once");
        process.exit(1);
      });
      resolveStop(signal);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  const signal = await stopped;
  health = "draining";
  log.info({ signal }, "stopping");
  await control.close();
  log.info("node stopped");
  await telemetry.shutdown();
  return 0;
}
