import { once } from "node:events";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { createServer as createTlsServer, type SecureContextOptions, type TLSSocket } from "node:tls";
import { WebSocketServer } from "ws";
import { createMqttSessionActor, type MqttSessionActor } from "../../actors/index.ts";
import { SwitchboardError, type ActorRuntime, type KvTable, type Logger } from "../../runtime/index.ts";
import type { DurableRoutes, Messaging } from "../shared/index.ts";
import type { MqttAccess, MqttContext, MqttLoginAttempt, MqttLoginResult } from "./mqtt-context.ts";
import { LiveConnections } from "./live-connections.ts";
import { MqttConnection } from "./mqtt-connection.ts";
import { defaultMqttLimits, type MqttLimits } from "./mqtt-limits.ts";
import { MqttMetrics } from "./mqtt-metrics.ts";
import { socketTransport, webSocketTransport, type MqttTransport } from "./mqtt-transport.ts";
import { Reason } from "./reason-codes.ts";

/** How often connections' timeouts are checked: keep alive closes within this of its 1.5 intervals. */
const tickMs = 250;

export interface MqttGatewayOptions {
  readonly nodeId: string;
  readonly messaging: Messaging;
  readonly runtime: ActorRuntime;
  /** The MQTT session actor type the runtime hosts (`createMqttSessionActor`). */
  readonly sessionActor: MqttSessionActor;
  readonly routes?: DurableRoutes;
  authenticate(login: MqttLoginAttempt): Promise<MqttLoginResult>;
  readonly access: MqttAccess;
  readonly limits?: Partial<MqttLimits>;
  readonly logger: Logger;
  /**
   * In a cluster: where each node's connections are recorded, so that a node's death
   * ends its clients' connections in their sessions (wills, clean sessions). See
   * `LiveConnections`.
   */
  readonly live?: { readonly table: KvTable; readonly liveNodes: () => Promise<readonly string[]>; readonly intervalMs?: number };
}

/** One listener: MQTT over TCP, or over WebSocket; with TLS when `tls` is given. */
export interface MqttListenerOptions {
  readonly protocol: "mqtt" | "mqtt-ws";
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly tls?: SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean };
}

export interface MqttListenerInfo {
  /** `mqtt`, `mqtts`, `mqtt-ws` or `mqtt-wss`. */
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
}

/**
 * The MQTT gateway of one node: its listeners, its connections and their counters.
 * Each accepted socket (or WebSocket) becomes an `MqttConnection` bound to the
 * messaging API.
 */
export class MqttGateway {
  readonly metrics = new MqttMetrics();
  readonly #ctx: MqttContext;
  readonly #connections = new Set<MqttConnection>();
  readonly #servers: (NetServer | HttpServer)[] = [];
  readonly #wss: WebSocketServer[] = [];
  #closing = false;
  readonly #live: LiveConnections | undefined;
  /** Connections past CONNECT's limit check and not yet closed (`maxConnections` bounds these). */
  #admitted = 0;
  /** One clock for every connection's timeouts (connect, keep alive). */
  #ticker: ReturnType<typeof setInterval> | undefined;

  constructor(o: MqttGatewayOptions) {
    const limits = { ...defaultMqttLimits, ...o.limits };
    const logger = o.logger.child({ component: "mqtt" });
    const session: MqttContext["session"] = (tenant, clientId) => o.runtime.ref(o.sessionActor, `${tenant}:${clientId}`);
    this.#live =
      o.live === undefined
        ? undefined
        : new LiveConnections({
            ...o.live,
            nodeId: o.nodeId,
            logger,
            lost: async (tenant, clientId, connectionId) => void (await session(tenant, clientId).call("disconnect", { connectionId, sendWill: true })),
          });
    this.#ctx = {
      nodeId: o.nodeId,
      messaging: o.messaging,
      session,
      routes: o.routes,
      authenticate: (login) => o.authenticate(login),
      access: o.access,
      limits,
      metrics: this.metrics,
      logger,
      live: this.#live,
      admit: () => {
        if (this.#admitted >= limits.maxConnections) return false;
        this.#admitted++;
        return true;
      },
      leave: () => void this.#admitted--,
    };
  }

  /** In a cluster, ends the connections this node held in a previous life; then listen. */
  async start(): Promise<void> {
    await this.#live?.start();
  }

  /** The session actor type with the queue settings of these limits, for the runtime to host. */
  static sessionActor(limits: Partial<MqttLimits> = {}): MqttSessionActor {
    const l = { ...defaultMqttLimits, ...limits };
    return createMqttSessionActor({ maxQueued: l.maxQueuedMessages, queuePolicy: l.queuePolicy });
  }

  /** Connections open now (CONNECT accepted). */
  get connections(): number {
    return this.metrics.connections;
  }

  /**
   * Opens a listener. Rejects with `unavailable` naming the address when the port is
   * taken or cannot be bound.
   */
  async listen(o: MqttListenerOptions): Promise<MqttListenerInfo> {
    const secure = o.tls !== undefined;
    let server: NetServer | HttpServer;
    if (o.protocol === "mqtt") {
      server = secure
        ? createTlsServer(o.tls!, (socket: TLSSocket) => this.#accept(socketTransport(socket, "tls")))
        : createNetServer((socket) => this.#accept(socketTransport(socket, "tcp")));
    } else {
      const http = secure ? createHttpsServer(o.tls!) : createHttpServer();
      http.on("request", (_req, res) => {
        res.writeHead(426, { "content-type": "text/plain" }).end("MQTT over WebSocket: connect with the subprotocol mqtt\n");
      });
      // [MQTT-6.0.0-3], [MQTT-6.0.0-4]: the subprotocol is `mqtt` (3.1 clients also say `mqttv3.1`).
      const wss = new WebSocketServer({
        server: http,
        maxPayload: this.#ctx.limits.maxPacketSize + 8,
        handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : protocols.has("mqttv3.1") ? "mqttv3.1" : false),
      });
      wss.on("connection", (ws, req) => {
        const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
        req.socket.setNoDelay(true);
        this.#accept(webSocketTransport(ws, remote, secure ? "wss" : "ws"));
      });
      this.#wss.push(wss);
      server = http;
    }
    server.on("error", (err) => this.#ctx.logger.warn({ err }, "MQTT listener error"));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(o.port, o.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const what = code === "EADDRINUSE" ? "is already in use" : code === "EACCES" ? "needs privileges this process lacks" : `cannot be bound (${code ?? (err as Error).message})`;
      throw new SwitchboardError("unavailable", `address ${o.host}:${o.port} ${what}`, { cause: err });
    }
    this.#servers.push(server);
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : o.port;
    const protocol = o.protocol === "mqtt" ? (secure ? "mqtts" : "mqtt") : secure ? "mqtt-wss" : "mqtt-ws";
    return { protocol, host: o.host, port };
  }

  /** Takes a connection from any byte stream (a listener's, or a test's). */
  accept(transport: MqttTransport): void {
    this.#accept(transport);
  }

  #accept(transport: MqttTransport): void {
    if (this.#closing) return transport.destroy();
    const connection = new MqttConnection(transport, this.#ctx);
    this.#connections.add(connection);
    connection.onClosed(() => this.#connections.delete(connection));
    if (this.#ticker === undefined) {
      this.#ticker = setInterval(() => {
        const now = Date.now();
        for (const c of this.#connections) c.tick(now);
      }, tickMs);
      this.#ticker.unref();
    }
  }

  /**
   * The node is draining: new connections are refused, v5 clients get DISCONNECT 0x9C
   * (Use another server) with `serverReference` when there is one, 3.1.1 clients are
   * closed. Their sessions go on wherever they reconnect. No will is sent.
   */
  async drain(serverReference?: string): Promise<void> {
    this.#closing = true;
    // A listener closes once its sockets have: it is told first (no new ones), then they are ended.
    const stopped = this.#stopListening();
    for (const c of [...this.#connections]) {
      c.disconnect(serverReference ? Reason.useAnotherServer : Reason.serverShuttingDown, { serverReference, sendWill: false, reasonString: "this node is leaving; reconnect elsewhere" });
    }
    await this.#settled();
    await stopped;
  }

  /** Stops: listeners close, every connection is ended (v5: 0x8B), their sessions told. */
  async close(): Promise<void> {
    const stopped = this.#closing ? Promise.resolve() : this.#stopListening();
    this.#closing = true;
    for (const c of [...this.#connections]) c.disconnect(Reason.serverShuttingDown, { sendWill: false, reasonString: "the server is shutting down" });
    await this.#settled();
    await stopped;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    await this.#live?.stop();
  }

  async #stopListening(): Promise<void> {
    for (const wss of this.#wss) wss.close();
    await Promise.all(
      this.#servers.map(async (s) => {
        if (!s.listening) return;
        const closed = once(s, "close");
        s.close();
        // A listener waits for its open sockets; it is not waited for longer than 2 s. The
        // timer is unref'd: left running, it kept a process that had closed everything alive.
        await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
      }),
    );
  }

  /** Waits (a while) for closed connections to have told their sessions. */
  async #settled(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.#connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
}
