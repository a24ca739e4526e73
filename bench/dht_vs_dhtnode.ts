/**
 * `deno task bench:dht`: our UDP DHT node against OpenDHT's `dhtnode` under
 * the same load on 127.0.0.1. Each server runs in its own process with its
 * request rate limits lifted (`dhtnode -U`; ours via its settings), and this
 * process plays several clients that keep a fixed number of requests in
 * flight (a closed loop):
 *
 * - `get`: a get of one of 64 keys that each hold one small value (the
 *   answer carries the value, nodes and a token);
 * - `put`: a put of a new 32-byte value at one of 1,024 keys, with the token
 *   from an earlier get.
 *
 * It prints requests per second, median and 99th-percentile latency, lost
 * requests (no answer within 1 s), the server's CPU use (in all, and per
 * request) and this process's, then the ratios ours/dhtnode. When the load
 * process is busier than the server, the rate measures the load and the
 * latency; CPU time per request then says more about capacity. `deno bench` is a poor fit: the measured code runs in other
 * processes, and the figure is a sustained rate, not a per-call time.
 *
 * Options: `--duration <s>` per measurement (default 5), `--concurrency <n>`
 * requests in flight (default 32), `--clients <n>` client sockets (default 4).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type {
  DhtMessage,
  DhtRequest,
  GetRequest,
  PutRequest,
} from "../lib/dht/messages.ts";
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

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    clients: { type: "string", default: "4" },
  },
});
const DURATION_MS = Number(flags.duration) * 1_000;
const CONCURRENCY = Number(flags.concurrency);
const CLIENTS = Number(flags.clients);
const WARMUP_MS = 1_000;
const LOST_AFTER_MS = 1_000;
const GET_KEYS = 64;
const PUT_KEYS = 1_024;

type Operation = "get" | "put";

/** A get or put request without the fields every request has. */
type RequestBody =
  | Pick<GetRequest, "method" | "key">
  | Pick<PutRequest, "method" | "key" | "values" | "token">;

function requestFor(operation: Operation, client: Client): RequestBody {
  if (operation === "get") {
    return { method: "get", key: getKeys[Math.floor(rng() * GET_KEYS)] };
  }
  return {
    method: "put",
    key: putKeys[Math.floor(rng() * PUT_KEYS)],
    values: [{ id: nextValueId++, type: 0, data: randomData(32) }],
    token: client.token ?? new Uint8Array(32),
  };
}

interface Result {
  readonly completed: number;
  readonly lost: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuPercent: number;
  readonly clientCpuPercent: number;
}

const rng = seededRng("bench-dht");
const getKeys = Array.from(
  { length: GET_KEYS },
  (_, i) => InfoHash.get(`bench get ${i}`),
);
const putKeys = Array.from(
  { length: PUT_KEYS },
  (_, i) => InfoHash.get(`bench put ${i}`),
);
let nextValueId = 1n;

/** One client socket with its id, tids and token for the server. */
class Client {
  readonly id = InfoHash.random(rng);
  readonly transport: UdpTransport;
  token?: Uint8Array;
  #tid = 1;
  readonly #pending = new Map<number, (message: DhtMessage) => void>();

  constructor(transport: UdpTransport) {
    this.transport = transport;
    transport.receive((bytes) => {
      let message: DhtMessage;
      try {
        message = decodeMessage(bytes);
      } catch {
        return;
      }
      // The server's own requests (pings of a new node) are not answered.
      if (message.kind !== "reply" && message.kind !== "error") return;
      const done = this.#pending.get(message.tid);
      if (done === undefined) return;
      this.#pending.delete(message.tid);
      done(message);
    });
  }

  static async open(): Promise<Client> {
    return new Client(await UdpTransport.bind({ host: "127.0.0.1", port: 0 }));
  }

  /** Sends one request; `done` gets the answer. Returns the tid. */
  send(
    to: PeerAddress,
    body: RequestBody,
    done: (message: DhtMessage) => void,
  ): number {
    const tid = this.#tid;
    this.#tid = this.#tid >= 0xffff_fff0 ? 1 : this.#tid + 1;
    const request = {
      kind: "request",
      tid,
      network: 0,
      senderId: this.id,
      ...body,
    } as DhtRequest;
    this.#pending.set(tid, done);
    this.transport.send(to, encodeMessage(request));
    return tid;
  }

  forget(tid: number): void {
    this.#pending.delete(tid);
  }
}

function randomData(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(rng() * 256);
  return bytes;
}

function ask(
  client: Client,
  to: PeerAddress,
  body: RequestBody,
): Promise<DhtMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.forget(tid);
      reject(new Error(`no answer from ${to.host}:${to.port}`));
    }, 2_000);
    const tid = client.send(to, body, (message) => {
      clearTimeout(timer);
      resolve(message);
    });
  });
}

/** CPU time (user + system) of a process in seconds, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Closed loop: CONCURRENCY requests in flight, each answer sends the next. */
async function load(
  clients: readonly Client[],
  to: PeerAddress,
  pid: number,
  operation: Operation,
): Promise<Result> {
  let measuring = false;
  let running = true;
  const latencies: number[] = [];
  let lost = 0;
  let errors = 0;
  const inFlight = new Map<string, number>();
  const issue = (slot: number) => {
    if (!running) return;
    const client = clients[slot % clients.length];
    const sentAt = performance.now();
    const tid = client.send(to, requestFor(operation, client), (message) => {
      inFlight.delete(`${slot}`);
      if (measuring) {
        if (message.kind === "error") errors += 1;
        else latencies.push(performance.now() - sentAt);
      }
      issue(slot);
    });
    inFlight.set(`${slot}`, sentAt);
    sweeper.set(slot, { client, tid, sentAt });
  };
  const sweeper = new Map<
    number,
    { client: Client; tid: number; sentAt: number }
  >();
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [slot, entry] of sweeper) {
      if (inFlight.has(`${slot}`) && now - entry.sentAt > LOST_AFTER_MS) {
        entry.client.forget(entry.tid);
        if (measuring) lost += 1;
        issue(slot);
      }
    }
  }, 100);
  for (let slot = 0; slot < CONCURRENCY; slot++) issue(slot);
  await sleep(WARMUP_MS);
  measuring = true;
  const cpuBefore = cpuSeconds(pid);
  const clientCpuBefore = cpuSeconds(Deno.pid);
  const start = performance.now();
  await sleep(DURATION_MS);
  measuring = false;
  const elapsedMs = performance.now() - start;
  const cpuAfter = cpuSeconds(pid);
  const clientCpuAfter = cpuSeconds(Deno.pid);
  running = false;
  clearInterval(sweep);
  // Let the last answers drain before the next measurement.
  await sleep(300);
  latencies.sort((a, b) => a - b);
  return {
    completed: latencies.length,
    lost,
    errors,
    requestsPerSecond: latencies.length / (elapsedMs / 1_000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuPercent: (cpuAfter - cpuBefore) / (elapsedMs / 1_000) * 100,
    clientCpuPercent: (clientCpuAfter - clientCpuBefore) / (elapsedMs / 1_000) *
      100,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fetches each client's token, then stores one value at every get key. */
async function prepare(
  clients: readonly Client[],
  to: PeerAddress,
): Promise<void> {
  for (const client of clients) {
    const reply = await ask(client, to, { method: "get", key: getKeys[0] });
    if (reply.kind !== "reply" || reply.token === undefined) {
      throw new Error("Cannot benchmark: the server gave no token");
    }
    client.token = reply.token;
  }
  const [first] = clients;
  for (const key of getKeys) {
    const reply = await ask(first, to, {
      method: "put",
      key,
      values: [{ id: nextValueId++, type: 0, data: randomData(32) }],
      token: first.token ?? new Uint8Array(32),
    });
    if (reply.kind !== "reply") {
      throw new Error("Cannot benchmark: the server refused a put");
    }
  }
}

interface Server {
  readonly name: string;
  readonly address: PeerAddress;
  readonly pid: number;
  close(): Promise<void>;
}

async function startOurs(): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./_dht_server.ts", import.meta.url).pathname,
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
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel().catch(() => {});
      await child.stdin.close().catch(() => {});
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

function row(name: string, operation: Operation, result: Result): string {
  const cells = [
    operation,
    name,
    result.requestsPerSecond.toFixed(0),
    result.p50Ms.toFixed(3),
    result.p99Ms.toFixed(3),
    String(result.lost),
    String(result.errors),
    result.cpuPercent.toFixed(0),
    (result.cpuPercent * 10_000 / result.requestsPerSecond).toFixed(1),
    result.clientCpuPercent.toFixed(0),
  ];
  return cells.map((cell, i) => cell.padStart(i < 2 ? 8 : 10)).join(" ");
}

const binary = findDhtnode();
if (binary === undefined) {
  console.error(
    "bench:dht: dhtnode not found; install it with `apt-get install -y dhtnode`",
  );
  Deno.exit(1);
}
console.log(
  `load: ${CONCURRENCY} requests in flight from ${CLIENTS} sockets, ${
    DURATION_MS / 1_000
  } s per measurement after ${WARMUP_MS / 1_000} s of warm-up`,
);
console.log(
  [
    "op",
    "server",
    "req/s",
    "p50 ms",
    "p99 ms",
    "lost",
    "errors",
    "cpu %",
    "cpu µs/req",
    "load cpu %",
  ]
    .map((cell, i) => cell.padStart(i < 2 ? 8 : 10)).join(" "),
);
const results = new Map<string, Result>();
for (const start of [startOurs, () => startDhtnode(binary)]) {
  const server = await start();
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => Client.open()),
  );
  try {
    await prepare(clients, server.address);
    for (const operation of ["get", "put"] as const) {
      const result = await load(clients, server.address, server.pid, operation);
      results.set(`${server.name} ${operation}`, result);
      console.log(row(server.name, operation, result));
    }
  } finally {
    await Promise.all(clients.map((client) => client.transport.close()));
    await server.close();
  }
}
for (const operation of ["get", "put"] as const) {
  const ours = results.get(`ours ${operation}`);
  const theirs = results.get(`dhtnode ${operation}`);
  if (ours === undefined || theirs === undefined) continue;
  console.log(
    `${operation}: ours/dhtnode requests per second ${
      (ours.requestsPerSecond / theirs.requestsPerSecond).toFixed(2)
    } (goal ≥ 0.5), p99 latency ${
      (ours.p99Ms / theirs.p99Ms).toFixed(2)
    } (lower is better), server CPU per request ${
      (theirs.cpuPercent / theirs.requestsPerSecond /
        (ours.cpuPercent / ours.requestsPerSecond)).toFixed(2)
    } (dhtnode's over ours: higher is better)`,
  );
}
