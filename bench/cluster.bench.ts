import { connect } from "@nats-io/transport-node";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { encodeEnvelope } from "../runtime/actor/envelope-codec.ts";
import { Account } from "../runtime/cluster/test-cluster.ts";
import { connectClusterClient } from "../test/support/cluster-client.ts";
import { startClusterProcess } from "../test/support/cluster-processes.ts";
import { NatsServer } from "../test/support/nats-server.ts";
import { report } from "./report.ts";

// `npm run bench -- cluster`: two nodes as separate processes on one nats-server.
// The client (this process) calls actors owned by the nodes, so every call crosses
// NATS to another process and back: the cross-node path. The reference is raw NATS
// request/reply between the same two kinds of process, with a payload of the
// envelope's size and the same number of concurrent callers, measured in the same run.
// Both sides are warmed up first (the JIT and the connections), then measured in
// alternating rounds, so drift in this shared machine's load falls on both alike.
// Throughput is the median round; latency quantiles are over every call of all rounds.
const concurrency = 64;
const rounds = 3;
const roundMs = 2000;
const warmMs = 1500;
const partitions = 32;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Round {
  readonly perSecond: number;
  readonly latencies: number[];
}

async function drive(call: (i: number) => Promise<unknown>, ms: number): Promise<Round> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  let n = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() < end; i += concurrency) {
        const t = performance.now();
        await call(i);
        latencies.push(performance.now() - t);
        n++;
      }
    }),
  );
  return { perSecond: n / ((performance.now() - start) / 1000), latencies };
}

/** Warms both up, then measures them in alternating rounds. */
async function compare(a: (i: number) => Promise<unknown>, b: (i: number) => Promise<unknown>): Promise<[Summary, Summary]> {
  await drive(a, warmMs);
  await drive(b, warmMs);
  const ra: Round[] = [];
  const rb: Round[] = [];
  for (let r = 0; r < rounds; r++) {
    ra.push(await drive(a, roundMs));
    rb.push(await drive(b, roundMs));
  }
  return [summarize(ra), summarize(rb)];
}

interface Summary {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

function summarize(rs: readonly Round[]): Summary {
  const rates = rs.map((r) => r.perSecond).sort((x, y) => x - y);
  const all = rs.flatMap((r) => r.latencies).sort((x, y) => x - y);
  return { perSecond: rates[Math.floor(rates.length / 2)]!, p50: quantile(all, 0.5), p99: quantile(all, 0.99) };
}

export async function run(): Promise<void> {
  const nats = await NatsServer.start();
  const nodes = [
    await startClusterProcess("bench-n1", { natsUrl: nats.url, clusterName: "bench", partitions, leaseMs: 1500 }),
    await startClusterProcess("bench-n2", { natsUrl: nats.url, clusterName: "bench", partitions, leaseMs: 1500 }),
  ];
  const client = await connectClusterClient({ natsUrl: nats.url, clusterName: "bench", partitions, actors: [Account] });
  const echo = spawn(process.execPath, [new URL("./fixtures/nats-echo.ts", import.meta.url).pathname, nats.url, "bench.echo"], { stdio: ["pipe", "pipe", "inherit"] });
  // The same client options as the cluster's transport (noAsyncTraces), so the
  // reference is the transport's ceiling, not a differently configured client.
  const raw = await connect({ servers: nats.url, noAsyncTraces: true });
  try {
    await once(createInterface({ input: echo.stdout! }), "line");
    const ids = Array.from({ length: 1000 }, (_, i) => `account/t:b${i}`);
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map((id) => client.runtime.refById(id).call("deposit", 1, { timeoutMs: 20_000 })));

    const envelope = encodeEnvelope({ kind: "call", target: ids[0]!, method: "balance", arg: undefined, messageId: crypto.randomUUID(), deadlineMs: Date.now(), callChain: [], sender: undefined, traceparent: undefined, tracestate: undefined, settle: undefined });
    const payload = new Uint8Array(envelope.length).fill(7);

    // A read-only call: the hop and the turn, with no store write (a write per call is
    // the store's cost, measured by the state-store figures, not the transport's).
    const [cluster, rawNats] = await compare(
      (i) => client.runtime.refById(ids[i % ids.length]!).call("balance"),
      () => raw.request("bench.echo", payload, { timeout: 5000 }),
    );
    report({ name: "cluster.call.throughput", value: cluster.perSecond, unit: "calls/s", concurrency, payloadBytes: envelope.length, reference: rawNats.perSecond, ratio: cluster.perSecond / rawNats.perSecond });
    report({ name: "cluster.call.p50_ms", value: cluster.p50, unit: "ms" });
    report({ name: "cluster.call.p99_ms", value: cluster.p99, unit: "ms", reference: rawNats.p99, ratio: cluster.p99 / rawNats.p99 });
    report({ name: "cluster.nats.throughput", value: rawNats.perSecond, unit: "requests/s", concurrency, payloadBytes: payload.length });
    report({ name: "cluster.nats.p99_ms", value: rawNats.p99, unit: "ms" });
    report({ name: "cluster.call.ratio", value: cluster.perSecond / rawNats.perSecond, unit: "ratio", reference: 1, target: ">= 0.5" });
    // For scale: the same hop plus a JetStream save before the answer (per-turn persistence).
    const persisted = summarize([await drive((i) => client.runtime.refById(ids[i % ids.length]!).call("deposit", 1), roundMs)]);
    report({ name: "cluster.call.persisted.throughput", value: persisted.perSecond, unit: "calls/s", p99_ms: Math.round(persisted.p99 * 100) / 100 });

    // Failover: kill -9 the node owning half the actors; time until every actor answers.
    const killedAt = Date.now();
    process.kill(nodes[1]!.node.pid, "SIGKILL");
    let last = killedAt;
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map(async (id) => {
        await client.runtime.refById(id).call("balance", undefined, { timeoutMs: 20_000 });
        last = Math.max(last, Date.now());
      }));
    }
    report({ name: "cluster.failover.ms", value: last - killedAt, unit: "ms", actors: ids.length, leaseMs: 1500, target: "<= 5000" });
  } finally {
    echo.stdin!.end();
    await raw.close();
    await client.close();
    await Promise.all(nodes.map((n) => n.node.stop("SIGKILL")));
    await nats.close();
  }
}
