/**
 * `deno task bench:dht`: our UDP DHT node against OpenDHT's `dhtnode` under
 * the same load on 127.0.0.1. Each server runs in its own process with its
 * request rate limits lifted (`dhtnode -U`; ours via its settings), and
 * several load generator processes (`bench/_dht_load.ts`) each keep a fixed
 * number of requests in flight (a closed loop):
 *
 * - `get`: a get of one of 64 keys that each hold one small value (the
 *   answer carries the value, nodes and a token);
 * - `put`: a put of a new 32-byte value (a fresh value id every time) at one
 *   of 1,024 keys, with the token from an earlier get.
 *
 * For each server and operation it prints requests per second, median and
 * 99th-percentile latency, lost requests (no answer within 1 s), the
 * server's CPU use in all and per request (utime + stime deltas of
 * `/proc/<pid>/stat`, all threads), its busiest thread's CPU use, the
 * generators' CPU use (in all and the busiest process), the whole machine's
 * and whether the server and the generators were saturated (a thread or
 * process at ≥ 90 % of one core; else "machine" when all cores were ≥ 90 %
 * busy, which is where a server of several threads, like `dhtnode`, stops
 * getting CPU); then the ratios ours/dhtnode. With `--rate <n>` the
 * generators run an open loop instead: `n` requests a second in all, sent
 * on a fixed schedule, each latency counted from its scheduled time; the
 * servers then answer the same offered load, and their latencies compare
 * like with like (at saturation, in the closed loop, each server's latency
 * follows its own throughput: 64 requests in flight over its rate). The servers
 * run back to back in each round, in alternating order, so that each ratio
 * compares the two under the same machine load; with `--rounds 3` every
 * figure is given as the range over three rounds.
 *
 * `deno bench` is a poor fit: the measured code runs in other processes, and
 * the figure is a sustained rate, not a per-call time.
 *
 * Options: `--duration <s>` per measurement (default 5), `--warmup <s>`
 * (default 1), `--generators <n>` processes (default 2), `--concurrency <n>`
 * requests in flight per generator (default 32), `--sockets <n>` per
 * generator (default 2), `--rounds <n>` (default 1), `--ops get,put`,
 * `--servers ours,dhtnode`, `--profile <dir>` (our server writes a V8 CPU
 * profile there: `deno run --cpu-prof`), `--transport mmsg|datagram|dgram`
 * (our server's socket: `recvmmsg`/`sendmmsg` through FFI, the default and
 * what `bindUdpTransport` picks with `--allow-ffi`; `Deno.listenDatagram`,
 * what it picks without; or `node:dgram`), `--rate <n>` (open loop, `n`
 * requests per second over all generators).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { DhtMessage, DhtRequest } from "../lib/dht/messages.ts";
import type { RequestBody } from "../lib/dht/rpc_engine.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import {
  DhtnodeProcess,
  findDhtnode,
} from "../tests/interop/dhtnode_process.ts";
import { cpuSeconds, GET_KEYS, getKey } from "./_dht_keys.ts";
import denoJson from "../deno.json" with { type: "json" };

const USAGE = `Usage: deno task bench:dht [options]

Our UDP DHT node against OpenDHT's dhtnode (Debian: apt-get install dhtnode)
on 127.0.0.1, under the same load from load generator processes; prints each
server's requests per second, p50/p99 latency, CPU per request and whether
either was saturated, then the ratios ours/dhtnode.

Options:
  --duration S       seconds measured per server and operation (default 5)
  --warmup S         seconds of load before measuring (default 1)
  --generators N     load generator processes (default 2)
  --concurrency N    requests in flight per generator (default 32)
  --sockets N        sockets per generator (default 2)
  --rounds N         rounds, servers in alternating order; figures as ranges
                     (default 1)
  --ops LIST         get,put (default both)
  --servers LIST     ours,dhtnode (default both)
  --profile DIR      our server writes a V8 CPU profile there
  --transport KIND   our server's socket: mmsg (recvmmsg/sendmmsg via FFI,
                     default), datagram (Deno.listenDatagram) or dgram
                     (node:dgram)
  --rate N           open loop: N requests per second in all, on a fixed
                     schedule, latency counted from each request's scheduled
                     time (both servers get the same load: the fair latency
                     comparison); default: closed loop (capacity)
  -h, --help         show this help
`;

/** Exits with the usage and a one-line reason (exit code 2), never a stack trace. */
function usageError(reason: string): never {
  console.error(`bench:dht: ${reason}\n\n${USAGE}`);
  Deno.exit(2);
}

let parsed: ReturnType<typeof parseOptions>;
function parseOptions() {
  return parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      generators: { type: "string", default: "2" },
      concurrency: { type: "string", default: "32" },
      sockets: { type: "string", default: "2" },
      rounds: { type: "string", default: "1" },
      ops: { type: "string", default: "get,put" },
      servers: { type: "string", default: "ours,dhtnode" },
      profile: { type: "string" },
      transport: { type: "string", default: "mmsg" },
      rate: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}
try {
  parsed = parseOptions();
} catch (error) {
  usageError((error as Error).message);
}
const flags = parsed.values;
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}

/** A positive number option (`integer`: a whole one), or a usage error. */
function positive(name: string, text: string, integer: boolean): number {
  const value = Number(text);
  if (
    !(value > 0) || !Number.isFinite(value) ||
    (integer && !Number.isInteger(value))
  ) {
    usageError(
      `--${name} must be a positive ${
        integer ? "integer" : "number"
      }, not "${text}"`,
    );
  }
  return value;
}

/** A comma-separated subset of `allowed`, or a usage error. */
function subset<T extends string>(
  name: string,
  text: string,
  allowed: readonly T[],
): T[] {
  const items = text.split(",");
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      usageError(`--${name}: "${item}" is not one of ${allowed.join(", ")}`);
    }
  }
  return items as T[];
}

const DURATION_MS = positive("duration", flags.duration, false) * 1_000;
const WARMUP_MS = flags.warmup === "0"
  ? 0
  : positive("warmup", flags.warmup, false) * 1_000;
const GENERATORS = positive("generators", flags.generators, true);
const CONCURRENCY = positive("concurrency", flags.concurrency, true);
const SOCKETS = positive("sockets", flags.sockets, true);
const ROUNDS = positive("rounds", flags.rounds, true);
/** Open loop: requests per second over all generators; 0 for the closed loop. */
const RATE = flags.rate === undefined ? 0 : positive("rate", flags.rate, true);
const OPERATIONS = subset<Operation>("ops", flags.ops, ["get", "put"]);
const SERVERS = subset<ServerName>("servers", flags.servers, [
  "ours",
  "dhtnode",
]);
if (!["mmsg", "datagram", "dgram"].includes(flags.transport)) {
  usageError(
    `--transport: "${flags.transport}" is not one of mmsg, datagram, dgram`,
  );
}
const SATURATED_PERCENT = 90;

type Operation = "get" | "put";
type ServerName = "ours" | "dhtnode";

interface Result {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly lost: number;
  readonly errors: number;
  /** Server CPU, all threads, % of one core. */
  readonly cpuPercent: number;
  /** The server's busiest thread, % of one core. */
  readonly threadPercent: number;
  readonly cpuMicrosPerRequest: number;
  /** All generators together, % of one core. */
  readonly loadPercent: number;
  /** The busiest generator process, % of one core. */
  readonly loadMaxPercent: number;
  /** The whole machine, % of all its cores. */
  readonly machinePercent: number;
}

// ---------------------------------------------------------------------------
// A client with the full codec, to prepare the server's values.

const rng = seededRng("bench-dht");
let nextValueId = 1n;

function randomData(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(rng() * 256);
  return bytes;
}

/** Sends `request` (tid and ids filled in) and waits for its answer. */
async function ask(
  transport: UdpTransport,
  to: PeerAddress,
  request: RequestBody,
): Promise<DhtMessage> {
  const tid = 0x1000_0000 + Math.floor(rng() * 0xffff);
  const answer = new Promise<DhtMessage>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer from ${to.host}:${to.port}`)),
      2_000,
    );
    transport.receive((bytes) => {
      try {
        const message = decodeMessage(bytes);
        if (message.tid !== tid || message.kind === "request") return;
        clearTimeout(timer);
        resolve(message);
      } catch {
        // Not ours.
      }
    });
  });
  transport.send(
    to,
    encodeMessage({
      kind: "request",
      tid,
      network: 0,
      senderId: PREPARER_ID,
      ...request,
    } as DhtRequest),
  );
  return await answer;
}
const PREPARER_ID = InfoHash.random(rng);

/** Stores one value at every get key. */
async function prepare(to: PeerAddress): Promise<void> {
  const transport = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  try {
    const first = await ask(transport, to, { method: "get", key: getKey(0) });
    if (first.kind !== "reply" || first.token === undefined) {
      throw new Error("Cannot benchmark: the server gave no token");
    }
    for (let k = 0; k < GET_KEYS; k++) {
      const reply = await ask(transport, to, {
        method: "put",
        key: getKey(k),
        values: [{ id: nextValueId++, type: 0, data: randomData(32) }],
        token: first.token,
      });
      if (reply.kind !== "reply") {
        throw new Error("Cannot benchmark: the server refused a put");
      }
    }
  } finally {
    await transport.close();
  }
}

// ---------------------------------------------------------------------------
// CPU figures from /proc.

/** CPU seconds of each thread of `pid`, by thread id. */
function threadSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      out.set(entry.name, cpuSecondsOf(`/proc/${pid}/task/${entry.name}/stat`));
    }
  } catch {
    // Gone: no threads.
  }
  return out;
}

function cpuSecondsOf(path: string): number {
  try {
    const stat = Deno.readTextFileSync(path);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, tick) => sum + tick, 0);
  // idle and iowait are fields 4 and 5.
  return { busy: total - ticks[3] - ticks[4], total };
}

// ---------------------------------------------------------------------------
// Servers and generators.

interface Server {
  readonly name: ServerName;
  readonly address: PeerAddress;
  readonly pid: number;
  close(): Promise<void>;
}

/**
 * The V8 flags of `deno task run` (deno.json), so that our server runs with
 * the garbage collector settings a node gets: a young generation held at 1
 * MiB keeps each scavenge short while the store grows (docs/figures.md).
 */
const RUN_TASK_V8_FLAGS: string[] =
  /--v8-flags=\S+/.exec(denoJson.tasks.run.command)?.slice(0, 1) ?? [];

async function startOurs(): Promise<Server> {
  const profile = flags.profile === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${flags.profile}`];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--unstable-net",
      "--allow-ffi",
      ...RUN_TASK_V8_FLAGS,
      ...profile,
      new URL("./_dht_server.ts", import.meta.url).pathname,
      `--transport=${flags.transport}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/port (\d+)\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("our server exited before printing its port");
    text += value;
  }
  const port = Number(/port (\d+)\n/.exec(text)?.[1]);
  return {
    name: "ours",
    address: { host: "127.0.0.1", port },
    pid: child.pid,
    async close() {
      // Closing stdin ends it cleanly (and writes its profile).
      await child.stdin.close().catch(() => {});
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await child.status;
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
    },
  };
}

async function startDhtnode(binary: string): Promise<Server> {
  const process = await DhtnodeProcess.start(binary, { args: ["-U"] });
  return {
    name: "dhtnode",
    address: { host: "127.0.0.1", port: process.port },
    pid: process.pid,
    close: () => process.close(),
  };
}

/** One generator process and its line-based conversation. */
class Generator {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(to: PeerAddress, operation: Operation, index: number) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all", // /proc needs it
        "--unstable-net",
        new URL("./_dht_load.ts", import.meta.url).pathname,
        `--host=${to.host}`,
        `--port=${to.port}`,
        `--op=${operation}`,
        `--concurrency=${CONCURRENCY}`,
        `--sockets=${SOCKETS}`,
        `--index=${index}`,
        `--rate=${RATE / GENERATORS}`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  get pid(): number {
    return this.#child.pid;
  }

  async line(): Promise<string> {
    for (;;) {
      const newline = this.#buffered.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffered.slice(0, newline);
        this.#buffered = this.#buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("a load generator exited");
      this.#buffered += value;
    }
  }

  async say(command: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${command}\n`));
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#lines.cancel().catch(() => {});
  }
}

interface GeneratorReport {
  completed: number;
  errors: number;
  lost: number;
  cpu: number;
  latencies: number[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function measure(server: Server, operation: Operation): Promise<Result> {
  const generators = Array.from(
    { length: GENERATORS },
    (_, index) => new Generator(server.address, operation, index),
  );
  try {
    for (const generator of generators) {
      const line = await generator.line();
      if (line !== "ready") throw new Error(`generator said ${line}`);
    }
    await Promise.all(generators.map((generator) => generator.say("go")));
    await sleep(WARMUP_MS);
    await Promise.all(generators.map((generator) => generator.say("measure")));
    const cpuBefore = cpuSeconds(server.pid);
    const threadsBefore = threadSeconds(server.pid);
    const machineBefore = machineTicks();
    const start = performance.now();
    await sleep(DURATION_MS);
    await Promise.all(generators.map((generator) => generator.say("stop")));
    const seconds = (performance.now() - start) / 1_000;
    const cpuAfter = cpuSeconds(server.pid);
    const threadsAfter = threadSeconds(server.pid);
    const machineAfter = machineTicks();
    const reports: GeneratorReport[] = [];
    for (const generator of generators) {
      reports.push(JSON.parse(await generator.line()));
    }
    let busiestThread = 0;
    for (const [id, after] of threadsAfter) {
      busiestThread = Math.max(
        busiestThread,
        after - (threadsBefore.get(id) ?? 0),
      );
    }
    const latencies = reports.flatMap((report) => report.latencies)
      .sort((a, b) => a - b);
    const completed = reports.reduce((sum, r) => sum + r.completed, 0);
    const requestsPerSecond = completed / seconds;
    const cpuPercent = (cpuAfter - cpuBefore) / seconds * 100;
    return {
      requestsPerSecond,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      lost: reports.reduce((sum, r) => sum + r.lost, 0),
      errors: reports.reduce((sum, r) => sum + r.errors, 0),
      cpuPercent,
      threadPercent: busiestThread / seconds * 100,
      cpuMicrosPerRequest: (cpuAfter - cpuBefore) * 1e6 / completed,
      loadPercent: reports.reduce((sum, r) => sum + r.cpu, 0) / seconds * 100,
      loadMaxPercent: Math.max(...reports.map((r) => r.cpu)) / seconds * 100,
      machinePercent: (machineAfter.busy - machineBefore.busy) /
        (machineAfter.total - machineBefore.total) * 100,
    };
  } finally {
    await Promise.all(generators.map((generator) => generator.close()));
  }
}

// ---------------------------------------------------------------------------
// Report.

const COLUMNS = [
  "op",
  "server",
  "req/s",
  "p50 ms",
  "p99 ms",
  "lost",
  "errors",
  "cpu %",
  "thread %",
  "µs/req",
  "load %",
  "load max %",
  "machine %",
  "saturated",
];

function cells(cells: readonly string[]): string {
  return cells.map((cell, i) => cell.padStart(i < 2 ? 7 : 9)).join(" ");
}

function saturation(result: Result): string {
  const server = result.threadPercent >= SATURATED_PERCENT;
  const load = result.loadMaxPercent >= SATURATED_PERCENT;
  const machine = result.machinePercent >= SATURATED_PERCENT;
  return server && load
    ? "both"
    : server
    ? "server"
    : load
    ? "load"
    : machine
    ? "machine"
    : "neither";
}

function row(name: string, operation: Operation, result: Result): string {
  return cells([
    operation,
    name,
    result.requestsPerSecond.toFixed(0),
    result.p50Ms.toFixed(3),
    result.p99Ms.toFixed(3),
    String(result.lost),
    String(result.errors),
    result.cpuPercent.toFixed(0),
    result.threadPercent.toFixed(0),
    result.cpuMicrosPerRequest.toFixed(1),
    result.loadPercent.toFixed(0),
    result.loadMaxPercent.toFixed(0),
    result.machinePercent.toFixed(0),
    saturation(result),
  ]);
}

/** "a" or "a–b" over the rounds. */
function range(values: readonly number[], digits: number): string {
  const low = Math.min(...values).toFixed(digits);
  const high = Math.max(...values).toFixed(digits);
  return low === high ? low : `${low}–${high}`;
}

const binary = SERVERS.includes("dhtnode") ? findDhtnode() : "";
if (binary === undefined) {
  console.error(
    "bench:dht: dhtnode not found; install it with `apt-get install -y dhtnode`",
  );
  Deno.exit(1);
}
const LOAD = RATE > 0
  ? `an open loop of ${RATE} requests per second from ${GENERATORS} generator processes with ${SOCKETS} sockets each`
  : `${GENERATORS} generator processes × ${CONCURRENCY} requests in flight from ${SOCKETS} sockets each`;
console.log(
  `load: ${LOAD}; ${DURATION_MS / 1_000} s per measurement after ${
    WARMUP_MS / 1_000
  } s of warm-up; ${ROUNDS} round(s); our server's socket: ${flags.transport}, V8 flags as the run task: ${
    RUN_TASK_V8_FLAGS.join(" ") || "none"
  }; ${
    Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")
  } load average before`,
);
console.log(
  `saturated: the server's busiest thread or the busiest generator process at ≥ ${SATURATED_PERCENT} % of one core, or else the machine (all ${navigator.hardwareConcurrency} cores) at ≥ ${SATURATED_PERCENT} %: a server of several threads could get no more CPU`,
);
console.log(cells(COLUMNS));
const results = new Map<string, Result[]>();
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? SERVERS : [...SERVERS].reverse();
  for (const name of order) {
    const server = name === "ours"
      ? await startOurs()
      : await startDhtnode(binary);
    try {
      await prepare(server.address);
      for (const operation of OPERATIONS) {
        const result = await measure(server, operation);
        const key = `${name} ${operation}`;
        results.set(key, [...results.get(key) ?? [], result]);
        console.log(row(name, operation, result));
      }
    } finally {
      await server.close();
    }
  }
}
for (const operation of OPERATIONS) {
  const ours = results.get(`ours ${operation}`) ?? [];
  const theirs = results.get(`dhtnode ${operation}`) ?? [];
  if (ours.length === 0 || theirs.length === 0) continue;
  // Ratios within each round: both servers under the same conditions.
  const ratio = (pick: (result: Result) => number) =>
    ours.map((result, i) => pick(result) / pick(theirs[i]));
  console.log(
    `${operation}: ours/dhtnode CPU per request ${
      range(ratio((r) => r.cpuMicrosPerRequest), 2)
    } (target ≤ 1.5; ${range(ours.map((r) => r.cpuMicrosPerRequest), 1)} vs ${
      range(theirs.map((r) => r.cpuMicrosPerRequest), 1)
    } µs), requests per second ${
      range(ratio((r) => r.requestsPerSecond), 2)
    } (${
      RATE > 0 ? `offered ${RATE} per second to both` : "≥ 1 at saturation"
    }), p99 latency ${
      range(ratio((r) => r.p99Ms), 2)
    } (target ≤ 1.0); one-core capacity (10⁶ / µs per request) ${
      range(ours.map((r) => 1e6 / r.cpuMicrosPerRequest), 0)
    } vs ${range(theirs.map((r) => 1e6 / r.cpuMicrosPerRequest), 0)} req/s`,
  );
}
console.log(
  `load average after: ${
    Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")
  }`,
);
