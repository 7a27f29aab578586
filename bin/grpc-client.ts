import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ControlServiceClient } from "../protos/index.ts";
import { ConfigError, resolveSettings } from "./config.ts";

/** Where `status` and `cluster` find a node: --host/--grpc-port, or the node's config. */
export function controlAddress(flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): { address: string; timeoutMs: number } {
  const configFile = (flags.config as string | undefined) ?? (env.SWITCHBOARD_CONFIG || undefined);
  const cfg = resolveSettings({ flags: { host: flags.host as string | undefined, "grpc-port": flags["grpc-port"] as string | undefined }, env, configFile });
  const timeoutRaw = (flags["timeout-ms"] as string | undefined) ?? "3000";
  const timeoutMs = Number(timeoutRaw);
  if (!/^\d+$/.test(timeoutRaw) || timeoutMs < 1) throw new ConfigError(`--timeout-ms: "${timeoutRaw}" is not a positive number of milliseconds`);
  const host = cfg.host === "0.0.0.0" ? "127.0.0.1" : cfg.host === "::" ? "::1" : cfg.host;
  return { address: host.includes(":") ? `[${host}]:${cfg.grpcPort}` : `${host}:${cfg.grpcPort}`, timeoutMs };
}

type Unary<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

/** One control client with a deadline per call. */
export class ControlClient {
  readonly client: ControlServiceClient;
  readonly #timeoutMs: number;

  constructor(address: string, timeoutMs: number) {
    this.client = new ControlServiceClient(address, credentials.createInsecure());
    this.#timeoutMs = timeoutMs;
  }

  call<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) =>
      fn.call(this.client, req, new Metadata(), { deadline: Date.now() + this.#timeoutMs }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  }

  close(): void {
    this.client.close();
  }
}
