import { logVerbosity, setLogVerbosity } from "@grpc/grpc-js";
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import {
  ActorRuntime,
  createLogger,
  createRuntimeControlPlane,
  isSwitchboardError,
  openEmbeddedStores,
  ReminderService,
  startControlServer,
  startTelemetry,
  systemClock,
  type ControlServer,
  type EmbeddedStores,
  type ListenerInfo,
} from "../runtime/index.ts";
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

/** Prints one line for a failure the operator can fix, and gives the exit code. */
function fail(line: string): number {
  process.stderr.write(`switchboard: ${line}\n`);
  return 1;
}

/**
 * `switchboard start`: wires one node and runs it until SIGINT or SIGTERM. Resolves
 * with the process exit code. Shutdown runs in reverse: stop listening, drain the
 * runtime (finish turns, persist, deactivate), close the stores, flush telemetry.
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

  let stores: EmbeddedStores;
  try {
    stores = await openEmbeddedStores({ dataDir });
  } catch (err) {
    await telemetry.shutdown();
    if (isSwitchboardError(err, "unavailable")) return fail(`--data-dir ${cfg.dataDir}: ${err.message}`);
    throw err;
  }
  const reminders = new ReminderService({ table: stores.reminders, clock: systemClock, logger });
  // Domain actor types (sessions, topics, agents) are registered here as they arrive.
  const runtime = new ActorRuntime({ nodeId: cfg.nodeId, actors: [], stateStore: stores.state, reminders, logger });
  await runtime.start();

  const startedAtMs = Date.now();
  const listeners: ListenerInfo[] = [];
  const plane = createRuntimeControlPlane({
    runtime,
    nodeInfo: () => ({ nodeId: cfg.nodeId, version: input.version, mode: "embedded", startedAtMs, uptimeMs: Date.now() - startedAtMs, listeners, dataDir }),
  });

  const stopAll = async (control?: ControlServer) => {
    await control?.close();
    await runtime.shutdown();
    plane.close();
    await stores.close();
    await telemetry.shutdown();
  };

  let control: ControlServer;
  try {
    control = await startControlServer({ host: cfg.host, port: cfg.grpcPort, plane, logger });
  } catch (err) {
    await stopAll();
    if (isSwitchboardError(err, "unavailable")) return fail(`--grpc-port ${cfg.grpcPort}: ${err.message}`);
    throw err;
  }
  listeners.push({ protocol: "grpc", host: control.host, port: control.port });
  log.info({ mode: "embedded", dataDir, listeners, telemetryExport: telemetry.exporting }, "node started");

  const signal = await new Promise<string>((resolveStop) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.once(sig, () => {
        log.warn({ signal: sig }, "second signal: exiting at once");
        process.exit(1);
      });
      resolveStop(sig);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  log.info({ signal }, "stopping");
  await stopAll(control);
  log.info("node stopped");
  return 0;
}
