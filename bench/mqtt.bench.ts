// `npm run bench -- mqtt`: Switchboard's MQTT gateway against Mosquitto, in one run.
//
// What runs. Two servers side by side on free loopback ports: the subject, an embedded
// Switchboard node (`bin/switchboard.js start --mqtt-port P --grpc-port 0 --data-dir
// TMP`, SWITCHBOARD_LOG_LEVEL=warn, anonymous MQTT on loopback), and the reference,
// Debian's /usr/sbin/mosquitto with a config in a temp dir (listener on 127.0.0.1,
// allow_anonymous, set_tcp_nodelay, persistence off, max_queued_messages 100000, a log
// file). SB_BENCH_MQTT_SUBJECT=mosquitto makes the subject a second Mosquitto, which
// checks the harness: every ratio should then come out near 1. SB_BENCH_MQTT_SUBJECT=relay
// makes it bench/fixtures/mqtt-floor-relay.ts, a relay on Node's sockets with no broker
// logic: the floor a Node server starts from. SB_BENCH_MQTT_FLOOR=1 runs that relay as a
// third server in the same slices as the other two, and adds `floor` (its figure) and
// `floor_ratio` (floor / reference) to each traffic and latency line: how much of the
// ratio Node's sockets take before any broker work, measured in the same run.
// SB_BENCH_MQTT_AEDES=1 does the same for Aedes (bench/fixtures/aedes-server.ts, the
// `aedes` dev dependency with its in-memory defaults), as `aedes` and `aedes_ratio`.
// The idle scenario measures each of them on a fresh server of its own. Every server is
// started through `sh -c 'ulimit -n <hard limit>; exec …'`, so the PID is the server's
// own and it can hold the 5,000 idle connections; the generators are started the same way.
//
// Load. Two generator processes (bench/fixtures/mqtt-load.ts), one holding the
// publishers, one the subscribers: raw sockets with TCP_NODELAY, packets encoded once
// with mqtt-packet and copied per send, replies split by their fixed header only (no
// object per message), reads into one shared buffer. Publishers send open-loop at a
// fixed total rate: every 5 ms (SB_BENCH_MQTT_TICK_MS) each sends what has fallen due
// since it started, in one write. Subscribers count PUBLISH packets and answer QoS 1
// with PUBACK. MQTT 3.1.1 (SB_BENCH_MQTT_VERSION=5 for 5.0), clean sessions, 64-byte
// payloads.
//
// Scenarios, each at QoS 0 and QoS 1 (publishes and subscriptions at that QoS), at the
// offered rates FACTS.md measured Mosquitto and Aedes at:
//   fanin   8 publishers on bench/fanin/0..7 → 1 subscriber of bench/fanin/+ (one
//           wildcard subscription matching 8 topics); 20k/s in total, QoS 1 5k/s.
//   fanout  1 publisher → 50 subscribers of bench/fanout: 1k/s published, 50k/s
//           delivered; QoS 1 200/s published, 10k/s delivered.
//   pairs   25 publishers → 25 subscribers, one topic each (bench/pair/<n>); 20k/s in
//           total, QoS 1 5k/s.
// A scenario connects its clients to both servers, warms each up (2 s of load), then
// measures them in alternating slices, A B B A A B B A (SB_BENCH_MQTT_SLICES=4 of
// SB_BENCH_MQTT_SLICE_MS=1500 each per side): publishers start, 300 ms to settle, the
// slice is measured, publishers stop, subscribers drain. Slices rather than one window
// per side so that a burst of other work on this shared machine falls on both alike.
//
// The figure: server CPU µs per delivered message = (utime + stime of the server
// process, all its threads and any child processes, from /proc/<pid>/stat, over the
// measured slices) / (PUBLISH packets the subscribers received in those slices). Why
// this and not maximum throughput: on two shared cores the generators and the server
// compete for the same CPU, so a maximum rate says as much about the generators as
// about the server. At a fixed offered rate both servers do the same work, and the CPU
// it costs is what a deployment pays per message (10 µs/msg is 100k msg/s per core).
// Every figure carries the offered rate and, for each side, the rate sent and delivered
// in the slices, the server's and the generators' CPU share, and `kept_up`: false when
// the generators sent or the subscribers received less than 98% of what was due. Such
// a side is reported, not hidden; its CPU per message is then per message it managed,
// and `lost` counts what never arrived after the drain. `user_us_per_msg` is the part
// spent in user space (utime only): on this machine kind about a third of Mosquitto's
// CPU is user time, the rest the kernel's socket and loopback TCP work that its writes
// pay for. That kernel part depends on how many packets each write carries, and a
// server that gathers several deliveries into one write pays less of it: the figure
// moves with the publishers' batch (`per_publisher_write`: messages a publisher writes
// at once, 1 to 12.5 here). SB_BENCH_MQTT_TICK_MS=1 makes the batches 5 times smaller
// (checked: Switchboard's fan-out QoS 0 ratio went from 0.23 to 0.55, fan-in's from
// 0.67 to 0.83). `others_cpu_pct` is what the rest of the machine used meanwhile
// (/proc/stat busy time less the server's and the generators'; 5-12% of a core, ±5,
// when nothing else runs): above 25% the bench says on stderr that a scenario's
// figures are noisy. /proc counts CPU in 10 ms ticks.
//
// Latency: 1 publisher → 1 subscriber in the same generator process (one clock), 1,000
// msg/s, one message per 1 ms tick with its send time (performance.now()) in the first
// 8 payload bytes; p50 and p99 of receipt − send, QoS 1 then QoS 0, measured in 12
// alternating slices of 500 ms per side (the p99 is what bursts move most).
//
// Memory per idle connection: server RSS (VmRSS, /proc/<pid>/status, with any child
// processes) after 5,000 clients have connected (clean session, keep-alive 600 s) and
// each subscribed to one topic of its own (bench/idle/<n>, QoS 0), minus RSS before,
// divided by 5,000; RSS read 3 s after the last SUBACK. On a fresh pair of servers,
// warmed by 100 clients that connect and leave: a garbage-collected server that has
// carried the traffic scenarios has free heap the connections would fill unseen (an
// earlier version read 13 KB/conn after them where a fresh Switchboard reads 32 KB).
// For such a server it still includes garbage and heap headroom not yet given back.
//
// Environment: SB_BENCH_MQTT_SUBJECT (switchboard | mosquitto | relay), SB_BENCH_MQTT_FLOOR,
// SB_BENCH_MQTT_AEDES, SB_BENCH_MQTT_ONLY
// (comma list of fanin.q0, …, pairs.q1, a prefix such as fanin, latency, idle),
// SB_BENCH_MQTT_SLICES (4), SB_BENCH_MQTT_SLICE_MS (1500), SB_BENCH_MQTT_WARMUP_MS
// (2000), SB_BENCH_MQTT_IDLE (5000), SB_BENCH_MQTT_VERSION (4), SB_BENCH_MQTT_TICK_MS (5),
// SB_BENCH_NODE_FLAGS (Node flags for the Switchboard server: `--cpu-prof --cpu-prof-dir=DIR`).
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { LoadAgent, RunningServer, aedes, cpuMicros, machineBusyMicros, mosquitto, nodeRelay, rssBytes, switchboard, type MqttServerSpec } from "./mqtt-servers.ts";
import { report } from "./report.ts";

const env = process.env;
const num = (name: string, fallback: number) => (env[name] === undefined || env[name] === "" ? fallback : Number(env[name]));
const warmMs = num("SB_BENCH_MQTT_WARMUP_MS", 2000);
const slices = Math.max(1, num("SB_BENCH_MQTT_SLICES", 4));
const sliceMs = num("SB_BENCH_MQTT_SLICE_MS", 1500);
const tickMs = num("SB_BENCH_MQTT_TICK_MS", 5); // publishers write what is due every tick, one write each
const settleMs = 300; // after (re)starting the publishers, before a slice's measurement
// Latency's p99 is what a burst of other work on this machine moves most: finer slices.
const latencySlices = slices * 3;
const latencySliceMs = 500;
const latencySettleMs = 100;
const idleCount = num("SB_BENCH_MQTT_IDLE", 5000);
const version = num("SB_BENCH_MQTT_VERSION", 4) as 4 | 5;
const only = env.SB_BENCH_MQTT_ONLY?.split(",").map((s) => s.trim()).filter(Boolean);
const payloadBytes = 64;
const keptUpShare = 0.98;
const busyWarnPct = 25; // other processes' share of a core during the slices above which the bench warns

const selected = (name: string) => only === undefined || only.some((o) => name === o || name.startsWith(o + "."));

type QoS = 0 | 1;
interface Traffic {
  readonly name: string;
  readonly qos: QoS;
  readonly rate: number; // messages published per second, all publishers together
  readonly topics: readonly string[]; // one per publisher
  readonly filters: readonly string[]; // one per subscriber
  readonly fan: number; // deliveries per publish
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const traffic: Traffic[] = ([0, 1] as const).flatMap((qos) => [
  { name: "fanin", qos, rate: qos === 0 ? 20_000 : 5_000, topics: range(8).map((i) => `bench/fanin/${i}`), filters: ["bench/fanin/+"], fan: 1 },
  { name: "fanout", qos, rate: qos === 0 ? 1_000 : 200, topics: ["bench/fanout"], filters: range(50).map(() => "bench/fanout"), fan: 50 },
  { name: "pairs", qos, rate: qos === 0 ? 20_000 : 5_000, topics: range(25).map((i) => `bench/pair/${i}`), filters: range(25).map((i) => `bench/pair/${i}`), fan: 1 },
]);

interface Counters {
  sent: number;
  skipped: number;
  acked: number;
  delivered: number;
  errors: number;
}
interface Stats {
  groups: Record<string, Counters>;
  lastError: string;
}
const zero: Counters = { sent: 0, skipped: 0, acked: 0, delivered: 0, errors: 0 };

/** What one side did in its measured slices, summed. */
interface Tally {
  ms: number;
  serverCpuUs: number;
  serverUserCpuUs: number;
  generatorCpuUs: number;
  othersCpuUs: number; // the rest of the machine: busy CPU time less the server's and the generators
  sent: number;
  skipped: number;
  delivered: number;
  errors: number;
  lost: number; // sent (× fan) but never delivered, over the whole scenario, counted after each drain
  lastError: string;
  failure?: string;
  samples: number[]; // latency, ms
}
const emptyTally = (): Tally => ({ ms: 0, serverCpuUs: 0, serverUserCpuUs: 0, generatorCpuUs: 0, othersCpuUs: 0, sent: 0, skipped: 0, delivered: 0, errors: 0, lost: 0, lastError: "", samples: [] });

/** One server under test in a scenario: its load generator groups and what it did. */
interface Side {
  readonly server: RunningServer;
  readonly key: string; // suffix of its generator groups
  readonly tally: Tally;
}

let tags = 0;
/** A short unique prefix for client ids (3.1.1 servers need accept no more than 23 characters). */
const nextTag = () => `sbb${(tags++).toString(36)}`;

const message = (err: unknown) => (err as Error).message;

/** A server measured beside the subject and the reference (SB_BENCH_MQTT_FLOOR, SB_BENCH_MQTT_AEDES). */
interface Extra {
  readonly label: string;
  readonly server: RunningServer;
}

interface IdleResult {
  readonly before: number; // RSS, bytes
  readonly after: number;
  readonly connectMs: number;
  readonly failure?: string;
}

class Bench {
  readonly pub = new LoadAgent("publishers");
  readonly sub = new LoadAgent("subscribers");

  /** Counters of a side's publisher and subscriber groups, its server's CPU and the generators' CPU, at one moment. */
  private async snapshot(side: Side, pubGroup: string, subGroup: string) {
    const [p, s] = await Promise.all([this.pub.call<Stats>("stats"), this.sub.call<Stats>("stats")]);
    // Everything CPU from /proc, read together: the server, the generators, the machine.
    const { user, system } = cpuMicros(side.server.pid);
    const gens = [this.pub.pid, this.sub.pid].map((pid) => cpuMicros(pid)).reduce((x, c) => x + c.user + c.system, 0);
    const busy = machineBusyMicros();
    const t = performance.now();
    const pc = p.groups[pubGroup] ?? zero;
    const sc = p.groups[subGroup] ?? s.groups[subGroup] ?? zero;
    return { t, busy, cpu: user + system, userCpu: user, sent: pc.sent, skipped: pc.skipped, delivered: sc.delivered, errors: pc.errors + sc.errors, genCpu: gens, lastError: p.lastError || s.lastError };
  }

  /** Waits until the subscribers have all that was sent, or receive nothing more for 1 s; returns how many never came. */
  private async drain(subAgent: LoadAgent, pubGroup: string, subGroup: string, fan: number): Promise<number> {
    let last = -1;
    let stableSince = performance.now();
    const deadline = performance.now() + 15_000;
    for (;;) {
      const [p, s] = await Promise.all([this.pub.call<Stats>("stats"), subAgent.call<Stats>("stats")]);
      const due = (p.groups[pubGroup]?.sent ?? 0) * fan;
      const got = s.groups[subGroup]?.delivered ?? 0;
      if (got >= due || performance.now() > deadline || (got === last && performance.now() - stableSince > 1000)) return due - got;
      if (got !== last) [last, stableSince] = [got, performance.now()];
      await sleep(20);
    }
  }

  /**
   * Runs `slice` for each side: first once unmeasured (warm-up), then `slices` times in
   * alternating order (A B, B A, A B, …) so both sides see the same drift of this
   * shared machine. A side that fails is left out of the rest.
   */
  private async alternate(sides: readonly Side[], slices: number, slice: (side: Side, measured: boolean) => Promise<void>): Promise<void> {
    const run = async (side: Side, measured: boolean) => {
      if (side.tally.failure !== undefined) return;
      try {
        await slice(side, measured);
      } catch (err) {
        side.tally.failure = message(err);
      }
      if (!side.server.alive) side.tally.failure = `${side.server.name} exited (${side.server.exitReason}): ${side.server.logTail()}`;
    };
    for (const side of sides) await run(side, false);
    for (let i = 0; i < slices; i++) for (const side of i % 2 === 0 ? sides : [...sides].reverse()) await run(side, true);
  }

  async traffic(sides: readonly Side[], sc: Traffic): Promise<void> {
    try {
      for (const side of sides) {
        const tag = nextTag();
        const common = { port: side.server.port, version, qos: sc.qos };
        try {
          await this.sub.call("connect", { ...common, group: `s${side.key}`, clients: sc.filters.map((filter, i) => ({ id: `${tag}s${i}`, filter })) });
          await this.pub.call("publishers", { ...common, group: `p${side.key}`, payloadBytes, clients: sc.topics.map((topic, i) => ({ id: `${tag}p${i}`, topic })) });
        } catch (err) {
          side.tally.failure = message(err);
        }
      }
      await this.alternate(sides, slices, async (side, measured) => {
        const [pg, sg, t] = [`p${side.key}`, `s${side.key}`, side.tally];
        await this.pub.call("start", { group: pg, qos: sc.qos, rate: sc.rate, tickMs });
        await sleep(measured ? settleMs : warmMs);
        const a = await this.snapshot(side, pg, sg);
        if (measured) await sleep(sliceMs);
        const b = await this.snapshot(side, pg, sg);
        await this.pub.call("stop", { group: pg });
        t.lost = await this.drain(this.sub, pg, sg, sc.fan);
        t.errors = b.errors;
        if (b.lastError) t.lastError = b.lastError;
        if (!measured) return;
        t.ms += b.t - a.t;
        t.serverCpuUs += b.cpu - a.cpu;
        t.serverUserCpuUs += b.userCpu - a.userCpu;
        t.generatorCpuUs += b.genCpu - a.genCpu;
        t.othersCpuUs += b.busy - a.busy - (b.cpu - a.cpu) - (b.genCpu - a.genCpu);
        t.sent += b.sent - a.sent;
        t.skipped += b.skipped - a.skipped;
        t.delivered += b.delivered - a.delivered;
      });
    } finally {
      await Promise.allSettled(sides.flatMap((s) => [this.pub.call("close", { group: `p${s.key}` }), this.sub.call("close", { group: `s${s.key}` })]));
    }
  }

  /** 1 → 1 at 1,000 msg/s, publisher and subscriber in the publishers' process (one clock). */
  async latency(sides: readonly Side[], qos: QoS): Promise<void> {
    try {
      for (const side of sides) {
        const tag = nextTag();
        const common = { port: side.server.port, version, qos };
        try {
          await this.pub.call("connect", { ...common, group: `ls${side.key}`, timed: true, clients: [{ id: `${tag}s`, filter: "bench/latency" }] });
          await this.pub.call("publishers", { ...common, group: `lp${side.key}`, payloadBytes, clients: [{ id: `${tag}p`, topic: "bench/latency" }] });
        } catch (err) {
          side.tally.failure = message(err);
        }
      }
      await this.alternate(sides, latencySlices, async (side, measured) => {
        const [pg, sg, t] = [`lp${side.key}`, `ls${side.key}`, side.tally];
        await this.pub.call("start", { group: pg, qos, rate: 1000, tickMs: 1, stamp: true });
        await sleep(measured ? latencySettleMs : warmMs);
        await this.pub.call("samples", { group: sg, reset: true });
        const a = await this.snapshot(side, pg, sg);
        if (measured) await sleep(latencySliceMs);
        const { samples } = await this.pub.call<{ samples: number[] }>("samples", { group: sg, reset: true });
        const b = await this.snapshot(side, pg, sg);
        await this.pub.call("stop", { group: pg });
        t.lost = await this.drain(this.pub, pg, sg, 1);
        if (!measured) return;
        for (const x of samples) t.samples.push(x);
        t.ms += b.t - a.t;
        t.serverCpuUs += b.cpu - a.cpu;
        t.othersCpuUs += b.busy - a.busy - (b.cpu - a.cpu) - (b.genCpu - a.genCpu);
        t.sent += b.sent - a.sent;
        t.delivered += b.delivered - a.delivered;
      });
    } finally {
      await Promise.allSettled(sides.flatMap((s) => [this.pub.call("close", { group: `lp${s.key}` }), this.pub.call("close", { group: `ls${s.key}` })]));
    }
  }

  /** On a fresh server: 100 clients connect and leave (code paths warm), then RSS before and after `idleCount` connect. */
  async idle(server: RunningServer): Promise<IdleResult> {
    const tag = nextTag();
    try {
      const warm = range(100).map((i) => ({ id: `${tag}w${i}`, filter: `bench/idle/w${i}` }));
      await this.sub.call("connect", { port: server.port, version, qos: 0, group: "idle", clients: warm, concurrency: 100 });
      await this.sub.call("close", { group: "idle" });
      await sleep(3000);
      const before = rssBytes(server.pid);
      const t = performance.now();
      const clients = range(idleCount).map((i) => ({ id: `${tag}i${i}`, filter: `bench/idle/${i}` }));
      await this.sub.call("connect", { port: server.port, version, qos: 0, group: "idle", clients, concurrency: 100 });
      const connectMs = performance.now() - t;
      await sleep(3000);
      const after = rssBytes(server.pid);
      const stats = await this.sub.call<Stats>("stats");
      const errors = stats.groups.idle?.errors ?? 0;
      if (errors > 0) return { before, after, connectMs, failure: `${errors} of ${idleCount} connections dropped (${stats.lastError})` };
      if (!server.alive) return { before, after, connectMs, failure: `${server.name} exited (${server.exitReason}): ${server.logTail()}` };
      return { before, after, connectMs };
    } catch (err) {
      return { before: 0, after: 0, connectMs: 0, failure: message(err) };
    } finally {
      await this.sub.call("close", { group: "idle" }).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.pub.stop(), this.sub.stop()]);
  }

  killNow(): void {
    this.pub.killNow();
    this.sub.killNow();
  }
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const perSecond = (n: number, ms: number) => (ms > 0 ? Math.round((n * 1000) / ms) : 0);
/** CPU microseconds over a window of `ms` as a percentage of one core, to 0.1. */
const pct = (us: number, ms: number) => (ms > 0 ? Math.round(us / ms) / 10 : 0);

/** The figures of one side of a traffic scenario, under `prefix` (value side: none). */
function sideFields(t: Tally, sc: Traffic, prefix: string): Record<string, unknown> {
  const delivered = perSecond(t.delivered, t.ms);
  const sent = perSecond(t.sent, t.ms);
  const out: Record<string, unknown> = {
    [`${prefix}sent_per_s`]: sent,
    [`${prefix}delivered_per_s`]: delivered,
    // A server that died took its CPU time out of /proc with it: no CPU figures then.
    [`${prefix}cpu_pct`]: t.failure === undefined ? pct(t.serverCpuUs, t.ms) : null,
    [`${prefix}user_us_per_msg`]: t.failure === undefined && t.delivered > 0 ? Math.round((t.serverUserCpuUs / t.delivered) * 100) / 100 : null,
    [`${prefix}generator_cpu_pct`]: pct(t.generatorCpuUs, t.ms),
    [`${prefix}others_cpu_pct`]: t.failure === undefined ? pct(t.othersCpuUs, t.ms) : null,
    [`${prefix}kept_up`]: t.failure === undefined && sent >= keptUpShare * sc.rate && delivered >= keptUpShare * sc.rate * sc.fan,
  };
  if (t.skipped > 0) out[`${prefix}skipped`] = t.skipped;
  if (t.lost > 0) out[`${prefix}lost`] = t.lost;
  if (t.errors > 0) out[`${prefix}dropped_connections`] = t.errors;
  if (t.failure !== undefined) out[`${prefix}error`] = t.failure;
  else if (t.errors > 0) out[`${prefix}error`] = t.lastError;
  return out;
}

const round3 = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * 1000) / 1000);
const cpuPerMessage = (t: Tally) => (t.failure === undefined && t.delivered > 0 ? t.serverCpuUs / t.delivered : NaN);

function subjectHasGateway(): boolean {
  const bin = new URL("../bin/switchboard.js", import.meta.url).pathname;
  const help = execFileSync(process.execPath, [bin, "start", "--help"], { encoding: "utf8" });
  return help.includes("--mqtt-port");
}

export async function run(): Promise<void> {
  const subjectSpec = env.SB_BENCH_MQTT_SUBJECT === "mosquitto" ? mosquitto : env.SB_BENCH_MQTT_SUBJECT === "relay" ? nodeRelay : switchboard;
  if (subjectSpec === switchboard && !subjectHasGateway()) {
    process.stderr.write("bench mqtt: `switchboard start` has no --mqtt-port yet (the MQTT gateway is not wired in). SB_BENCH_MQTT_SUBJECT=mosquitto runs the harness against a second Mosquitto.\n");
    process.exitCode = 1;
    return;
  }
  const started = performance.now();
  const bench = new Bench();
  const servers: RunningServer[] = [];
  const lastResort = () => {
    bench.killNow();
    for (const s of servers) s.killNow();
  };
  process.on("exit", lastResort);
  const log = (line: string) => process.stderr.write(`bench mqtt: ${line}\n`);
  const warnIfBusy = (name: string, a: Tally, b: Tally) => {
    const [x, y] = [pct(a.othersCpuUs, a.ms), pct(b.othersCpuUs, b.ms)];
    if (a.failure === undefined && b.failure === undefined && Math.max(x, y) > busyWarnPct) log(`${name}: other processes used ${x}% and ${y}% of a core while the subject and the reference were measured; its figures are noisy`);
  };
  /** Starts a server and keeps it in `servers`, which the end of the run stops whatever happens. */
  const startServer = async (spec: MqttServerSpec, label: string): Promise<RunningServer> => {
    const server = await RunningServer.start(spec, label);
    servers.push(server);
    return server;
  };
  const startPair = async (label: string): Promise<[RunningServer, RunningServer]> => {
    const subject = await startServer(subjectSpec, `${label}subject`);
    const reference = await startServer(mosquitto, `${label}reference`);
    log(`${label}subject ${subject.name} pid ${subject.pid} port ${subject.port}; ${label}reference mosquitto pid ${reference.pid} port ${reference.port}`);
    return [subject, reference];
  };
  // More servers measured in the same slices, each reported beside the reference under its label.
  const extraSpecs: [string, MqttServerSpec][] = [];
  if (env.SB_BENCH_MQTT_FLOOR === "1" && subjectSpec !== nodeRelay) extraSpecs.push(["floor", nodeRelay]);
  if (env.SB_BENCH_MQTT_AEDES === "1") extraSpecs.push(["aedes", aedes]);
  if (extraSpecs.length > 0 && version === 5) {
    // The relay answers in 3.1.1's form only, and Aedes does not speak MQTT 5.
    log(`${extraSpecs.map(([label]) => label).join(" and ")} not run: they speak MQTT 3.1.1 only (SB_BENCH_MQTT_VERSION=5)`);
    extraSpecs.length = 0;
  }
  const stopServers = async (some: readonly RunningServer[]) => {
    await Promise.all(some.map((s) => s.stop()));
    for (const s of some) servers.splice(servers.indexOf(s), 1);
  };
  const common = { subject: subjectSpec.name, mqtt_version: version === 5 ? "5.0" : "3.1.1" };
  try {
    if (traffic.some((sc) => selected(`${sc.name}.q${sc.qos}`)) || selected("latency.q0") || selected("latency.q1")) {
      const [subject, reference] = await startPair("");
      const extras: Extra[] = [];
      for (const [label, spec] of extraSpecs) {
        const server = await startServer(spec, label);
        extras.push({ label, server });
        log(`${label} ${server.name} pid ${server.pid} port ${server.port}`);
      }
      await measureLoad(subject, reference, extras);
      await stopServers([subject, reference, ...extras.map((x) => x.server)]);
    }
    if (selected("idle")) {
      // Fresh servers: a garbage-collected server that has carried traffic has free heap
      // the connections would fit in unseen, and how much depends on what ran before.
      const pair = await startPair("idle-");
      const [a, b] = [await bench.idle(pair[0]), await bench.idle(pair[1])];
      await stopServers(pair);
      const others: [string, IdleResult][] = [];
      for (const [label, spec] of extraSpecs) {
        const server = await startServer(spec, `idle-${label}`);
        others.push([label, await bench.idle(server)]);
        await stopServers([server]);
      }
      reportIdle(a, b, others);
    }
  } finally {
    await bench.stop();
    await Promise.all(servers.map((s) => s.stop()));
    process.off("exit", lastResort);
    log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
  }

  async function measureLoad(subject: RunningServer, reference: RunningServer, extras: readonly Extra[]): Promise<void> {
    const sidesOf = (): Side[] => [
      { server: subject, key: "a", tally: emptyTally() },
      { server: reference, key: "b", tally: emptyTally() },
      ...extras.map((x, i) => ({ server: x.server, key: `x${i}`, tally: emptyTally() })),
    ];
    /** Each extra server's figure under its label, its ratio to the reference's, and (traffic) its side's fields. */
    const extraFields = (sides: readonly Side[], figure: (t: Tally) => number, reference: number, sc?: Traffic) => {
      const out: Record<string, unknown> = {};
      extras.forEach(({ label }, i) => {
        const t = sides[2 + i]!.tally;
        const value = figure(t);
        Object.assign(out, { [label]: value, [`${label}_ratio`]: value / reference }, sc === undefined ? (t.failure === undefined ? {} : { [`${label}_error`]: t.failure }) : sideFields(t, sc, `${label}_`));
      });
      return out;
    };

    for (const sc of traffic) {
      const name = `${sc.name}.q${sc.qos}`;
      if (!selected(name)) continue;
      const sides = sidesOf();
      await bench.traffic(sides, sc);
      const [value, ref] = sides.map((x) => x.tally) as [Tally, Tally];
      warnIfBusy(name, value, ref);
      const v = cpuPerMessage(value);
      const rv = cpuPerMessage(ref);
      report({
        name: `mqtt.${name}.cpu_us_per_msg`,
        value: v,
        reference: rv,
        ratio: v / rv,
        unit: "us/msg",
        ...common,
        qos: sc.qos,
        publishers: sc.topics.length,
        subscribers: sc.filters.length,
        payload_bytes: payloadBytes,
        offered_per_s: sc.rate,
        expected_delivered_per_s: sc.rate * sc.fan,
        per_publisher_write: Math.round(((sc.rate / sc.topics.length) * tickMs) / 100) / 10,
        ...sideFields(value, sc, ""),
        ...sideFields(ref, sc, "reference_"),
        ...extraFields(sides, cpuPerMessage, rv, sc),
        window_s: Math.round(value.ms / 100) / 10,
      });
    }

    for (const qos of [1, 0] as const) {
      if (selected(`latency.q${qos}`)) {
        const sides = sidesOf();
        await bench.latency(sides, qos);
        const [a, b] = sides.map((x) => x.tally) as [Tally, Tally];
        warnIfBusy(`latency.q${qos}`, a, b);
        const sa = a.samples.sort((x, y) => x - y);
        const sb = b.samples.sort((x, y) => x - y);
        for (const x of sides.slice(2)) x.tally.samples.sort((p, q) => p - q);
        const extra = {
          ...common,
          qos,
          offered_per_s: 1000,
          delivered_per_s: perSecond(a.delivered, a.ms),
          reference_delivered_per_s: perSecond(b.delivered, b.ms),
          samples: sa.length,
          reference_samples: sb.length,
          cpu_pct: pct(a.serverCpuUs, a.ms),
          reference_cpu_pct: pct(b.serverCpuUs, b.ms),
          others_cpu_pct: pct(a.othersCpuUs, a.ms),
          reference_others_cpu_pct: pct(b.othersCpuUs, b.ms),
          ...(a.lost > 0 ? { lost: a.lost } : {}),
          ...(b.lost > 0 ? { reference_lost: b.lost } : {}),
          ...(a.failure === undefined ? {} : { error: a.failure }),
          ...(b.failure === undefined ? {} : { reference_error: b.failure }),
        };
        for (const [q, label] of [[0.5, "p50"], [0.99, "p99"]] as const) {
          const v = a.failure === undefined ? quantile(sa, q) : NaN;
          const rv = b.failure === undefined ? quantile(sb, q) : NaN;
          const max = label === "p99" ? { max_ms: round3(sa.at(-1)), reference_max_ms: round3(sb.at(-1)) } : {};
          const others = extraFields(sides, (t) => (t.failure === undefined ? quantile(t.samples, q) : NaN), rv);
          report({ name: `mqtt.latency.q${qos}.${label}_ms`, value: v, reference: rv, ratio: v / rv, unit: "ms", ...extra, ...max, ...others });
        }
      }
    }
  }

  function reportIdle(a: IdleResult, b: IdleResult, others: readonly [string, IdleResult][]): void {
    const per = (x: typeof a) => (x.failure === undefined ? (x.after - x.before) / idleCount : NaN);
    const extra: Record<string, unknown> = {};
    for (const [label, x] of others) Object.assign(extra, { [label]: per(x), [`${label}_ratio`]: per(x) / per(b), [`${label}_connect_s`]: Math.round(x.connectMs / 100) / 10 }, x.failure === undefined ? {} : { [`${label}_error`]: x.failure });
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    report({
      name: "mqtt.idle.bytes_per_conn",
      value: per(a),
      reference: per(b),
      ratio: per(a) / per(b),
      unit: "bytes",
      ...common,
      connections: idleCount,
      clients: `clean session, keep-alive 600 s, each subscribed to one topic of its own at QoS 0`,
      rss_before_mb: mb(a.before),
      rss_after_mb: mb(a.after),
      reference_rss_before_mb: mb(b.before),
      reference_rss_after_mb: mb(b.after),
      connect_s: Math.round(a.connectMs / 100) / 10,
      reference_connect_s: Math.round(b.connectMs / 100) / 10,
      ...(a.failure === undefined ? {} : { error: a.failure }),
      ...(b.failure === undefined ? {} : { reference_error: b.failure }),
      ...extra,
    });
  }
}
