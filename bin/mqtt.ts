import type { TlsOptions } from "node:tls";
import { checkExposure, createAcl, createAuthenticator, loadTls, MqttGateway, type MqttListenerInfo, type MqttListenerOptions, type MqttSettings } from "../gateways/mqtt/index.ts";
import { isSwitchboardError, type Logger } from "../runtime/index.ts";
import { ConfigError } from "./config.ts";
import type { RunningNode } from "./node.ts";
import type { NodeSettings } from "./settings.ts";

/** The MQTT listeners the settings ask for: the flag naming each port, and what to open. */
export function mqttListeners(cfg: NodeSettings): { flag: string; options: Omit<MqttListenerOptions, "tls"> & { secure: boolean } }[] {
  const out: { flag: string; options: Omit<MqttListenerOptions, "tls"> & { secure: boolean } }[] = [];
  const add = (flag: string, port: number | "off", protocol: "mqtt" | "mqtt-ws", secure: boolean) => {
    if (port !== "off") out.push({ flag, options: { protocol, host: cfg.host, port, secure } });
  };
  add("--mqtt-port", cfg.mqttPort, "mqtt", false);
  add("--mqtt-ws-port", cfg.mqttWsPort, "mqtt-ws", false);
  add("--mqtt-tls-port", cfg.mqttTlsPort, "mqtt", true);
  add("--mqtt-wss-port", cfg.mqttWssPort, "mqtt-ws", true);
  return out;
}

/**
 * Checks what the MQTT settings need before anything is opened: a non-loopback
 * listener without authentication refuses to start, TLS listeners need `mqtt.tls`,
 * and users, JWT keys and certificates must load. Throws `ConfigError` (exit 2).
 */
export function prepareMqtt(cfg: NodeSettings & { mqtt: MqttSettings }) {
  const listeners = mqttListeners(cfg);
  if (listeners.length === 0) return undefined;
  const exposed = checkExposure(cfg.host, cfg.mqtt);
  if (exposed !== undefined) throw new ConfigError(exposed);
  let tls: TlsOptions | undefined;
  const secure = listeners.find((l) => l.options.secure);
  if (secure !== undefined) {
    if (cfg.mqtt.tls === undefined) throw new ConfigError(`${secure.flag}: a TLS listener needs mqtt.tls (certFile, keyFile) in the config file`);
    tls = rethrow(() => loadTls(cfg.mqtt.tls!));
  }
  const authenticator = rethrow(() => createAuthenticator(cfg.mqtt));
  const acl = createAcl(cfg.mqtt.acl);
  return { listeners, tls, authenticator, acl };
}

/** Starts the MQTT gateway on a running node and opens its listeners; the listeners it opened. */
export async function startMqtt(
  node: RunningNode,
  cfg: NodeSettings & { mqtt: MqttSettings },
  prepared: NonNullable<ReturnType<typeof prepareMqtt>>,
  logger: Logger,
): Promise<{ gateway: MqttGateway; opened: MqttListenerInfo[]; stop(): Promise<void> }> {
  const { authenticator, acl } = prepared;
  const gateway = new MqttGateway({
    nodeId: cfg.nodeId,
    messaging: node.messaging,
    runtime: node.runtime,
    sessionActor: node.mqttSessions,
    routes: node.routes,
    authenticate: async (login) => {
      const r = await authenticator.authenticate(login);
      return r.ok ? { ok: true, tenant: r.tenant, user: r.user, anonymous: r.anonymous } : { ok: false, reason: r.reason };
    },
    access: acl,
    limits: cfg.mqtt.limits,
    logger,
    live: node.mqttLive,
  });
  await gateway.start();
  const opened: MqttListenerInfo[] = [];
  try {
    for (const l of prepared.listeners) {
      try {
        opened.push(await gateway.listen({ protocol: l.options.protocol, host: l.options.host, port: l.options.port, ...(l.options.secure ? { tls: prepared.tls } : {}) }));
      } catch (err) {
        if (isSwitchboardError(err, "unavailable")) throw new ListenError(`${l.flag} ${l.options.port}: ${err.message}`);
        throw err;
      }
    }
  } catch (err) {
    await gateway.close();
    throw err;
  }
  // The retained count is the tenants' directories': read every few seconds, not per stats call.
  let retained = 0;
  const refresh = () => void node.messaging.retainedCount().then((n) => (retained = n), () => undefined);
  refresh();
  const timer = setInterval(refresh, 5000);
  timer.unref();
  node.gatewayMetrics.push(() => gateway.metrics.snapshot(retained));
  node.onDrain = async () => gateway.drain(await node.otherEndpoint("mqtt"));
  return {
    gateway,
    opened,
    async stop() {
      clearInterval(timer);
      await gateway.close();
    },
  };
}

/** A listener that could not be opened: the one line to print, exit 1. */
export class ListenError extends Error {}

function rethrow<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (isSwitchboardError(err, "invalid_argument") || isSwitchboardError(err, "unavailable")) throw new ConfigError(err.message);
    throw err;
  }
}
