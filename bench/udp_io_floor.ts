/**
 * The I/O floor of a UDP server in Deno: CPU time per datagram of an echo
 * server (no DHT code: every datagram is sent back as it came) on each of
 * the ways to drive a socket, under the same closed-loop load on
 * 127.0.0.1:
 *
 * - `mmsg`: {@link MmsgTransport}, `recvmmsg`/`sendmmsg` through FFI, the
 *   replies of a batch sent in one call;
 * - `datagram`: {@link DatagramTransport}, `Deno.listenDatagram`, one
 *   `receive()` per datagram, sends not awaited;
 * - `datagram-await`: `Deno.listenDatagram` with each reply's `send()`
 *   awaited before the next `receive()`;
 * - `dgram`: {@link UdpTransport}, `node:dgram` (`socket.on("message")`,
 *   `send`).
 *
 * ```sh
 * deno run -A bench/udp_io_floor.ts [--modes mmsg,datagram,datagram-await,dgram]
 *   [--rounds 3] [--duration 4] [--generators 2] [--concurrency 32] [--bytes 200]
 * ```
 *
 * For each mode (in rotating order each round) it prints datagrams per
 * second, the server's CPU time per datagram (user + system of all its
 * threads, `/proc/<pid>/stat`), its busiest thread, the generators' CPU
 * and whether the server or a generator was saturated (≥ 90 % of a core),
 * with the load average; at the end the range over the rounds per mode.
 * The generators are Deno processes on {@link MmsgTransport} when FFI is
 * allowed (the cheapest here), each keeping `--concurrency` datagrams in
 * flight over 4 sockets.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DatagramTransport } from "../lib/io/datagram_transport.ts";
import { MmsgTransport } from "../lib/io/mmsg_transport.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import type { PeerAddress, Transport } from "../lib/transport.ts";
import { cpuSeconds } from "./_dht_keys.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    role: { type: "string", default: "main" },
    mode: { type: "string", default: "datagram" },
    modes: { type: "string", default: "mmsg,datagram,datagram-await,dgram" },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "4" },
    warmup: { type: "string", default: "1" },
    generators: { type: "string", default: "2" },
    concurrency: { type: "string", default: "32" },
    bytes: { type: "string", default: "200" },
    port: { type: "string", default: "0" },
  },
});
const SATURATED_PERCENT = 90;
const LOAD_SOCKETS = 4;

type Mode = "mmsg" | "datagram" | "datagram-await" | "dgram";

// ---------------------------------------------------------------------------
// Server: echoes every datagram.

async function serve(mode: Mode): Promise<void> {
  const options = { host: "127.0.0.1", port: 0 };
  let close: () => Promise<void>;
  let port: number;
  if (mode === "datagram-await") {
    const conn = Deno.listenDatagram({ transport: "udp", ...options });
    port = (conn.addr as Deno.NetAddr).port;
    (async () => {
      const buffer = new Uint8Array(65_536);
      for (;;) {
        try {
          const [bytes, from] = await conn.receive(buffer);
          await conn.send(bytes, from);
        } catch {
          return;
        }
      }
    })();
    close = () => Promise.resolve(conn.close());
  } else {
    const transport: Transport = mode === "mmsg"
      ? await MmsgTransport.bind(options)
      : mode === "datagram"
      ? await DatagramTransport.bind(options)
      : await UdpTransport.bind(options);
    transport.receive((bytes, from) => transport.send(from, bytes));
    port = transport.localAddress.port;
    close = () => transport.close();
  }
  console.log(`port ${port}`);
  for await (const _ of Deno.stdin.readable) {
    // Serve until stdin closes.
  }
  await close();
}

// ---------------------------------------------------------------------------
// Generator: a closed loop of datagrams in flight.

async function load(port: number): Promise<void> {
  const bind = MmsgTransport.available("127.0.0.1")
    ? MmsgTransport.bind
    : DatagramTransport.bind;
  const to: PeerAddress = { host: "127.0.0.1", port };
  const payload = new Uint8Array(Number(flags.bytes)).fill(0x61);
  const perSocket = Math.max(
    1,
    Math.round(Number(flags.concurrency) / LOAD_SOCKETS),
  );
  let running = false;
  let measuring = false;
  let received = 0;
  const sockets = await Promise.all(
    Array.from({ length: LOAD_SOCKETS }, () => bind({ host: "127.0.0.1" })),
  );
  const lastReply = sockets.map(() => 0);
  sockets.forEach((socket, index) =>
    socket.receive(() => {
      lastReply[index] = performance.now();
      if (measuring) received++;
      if (running) socket.send(to, payload);
    })
  );
  // A socket that lost its datagrams (a full buffer) is primed again.
  const prime = (index: number) => {
    lastReply[index] = performance.now();
    for (let i = 0; i < perSocket; i++) sockets[index].send(to, payload);
  };
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let cpuAtStart = 0;
  console.log("ready");
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    for (const command of chunk.split("\n").map((line) => line.trim())) {
      if (command === "go") {
        running = true;
        sockets.forEach((_, index) => prime(index));
        sweeper = setInterval(() => {
          const now = performance.now();
          sockets.forEach((_, index) => {
            if (now - lastReply[index] > 200) prime(index);
          });
        }, 100);
      } else if (command === "measure") {
        received = 0;
        measuring = true;
        cpuAtStart = cpuSeconds(Deno.pid);
      } else if (command === "stop") {
        measuring = false;
        running = false;
        clearInterval(sweeper);
        const cpu = cpuSeconds(Deno.pid) - cpuAtStart;
        console.log(JSON.stringify({ received, cpu }));
      }
    }
  }
  await Promise.all(sockets.map((socket) => socket.close()));
}

// ---------------------------------------------------------------------------
// Main: one server per mode, the generators, the figures.

/** A child process of this file and its line-based conversation. */
class Child {
  readonly process: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(args: string[]) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.process.stdin.getWriter();
    this.#lines = this.process.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
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
      if (done) throw new Error("a child process exited");
      this.#buffered += value;
    }
  }

  async say(command: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${command}\n`));
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.process.kill("SIGKILL"), 5_000);
    await this.process.status;
    clearTimeout(timer);
    await this.#lines.cancel().catch(() => {});
  }
}

interface Figure {
  readonly perSecond: number;
  readonly serverMicros: number;
  readonly serverPercent: number;
  readonly threadPercent: number;
  readonly loadMaxPercent: number;
  readonly loadAverage: string;
}

/** CPU seconds of the busiest thread of `pid` between two snapshots. */
function threads(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    const stat = Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(entry.name, (Number(fields[11]) + Number(fields[12])) / 100);
  }
  return out;
}

async function measure(mode: Mode): Promise<Figure> {
  const server = new Child(["--role=server", `--mode=${mode}`]);
  const port = Number(/port (\d+)/.exec(await server.line())?.[1]);
  const generators = Array.from(
    { length: Number(flags.generators) },
    () =>
      new Child([
        "--role=load",
        `--port=${port}`,
        `--concurrency=${flags.concurrency}`,
        `--bytes=${flags.bytes}`,
      ]),
  );
  try {
    for (const generator of generators) await generator.line();
    await Promise.all(generators.map((generator) => generator.say("go")));
    await new Promise((resolve) =>
      setTimeout(resolve, Number(flags.warmup) * 1_000)
    );
    await Promise.all(generators.map((generator) => generator.say("measure")));
    const pid = server.process.pid;
    const cpuBefore = cpuSeconds(pid);
    const threadsBefore = threads(pid);
    const start = performance.now();
    await new Promise((resolve) =>
      setTimeout(resolve, Number(flags.duration) * 1_000)
    );
    await Promise.all(generators.map((generator) => generator.say("stop")));
    const seconds = (performance.now() - start) / 1_000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    let busiest = 0;
    for (const [id, after] of threads(pid)) {
      busiest = Math.max(busiest, after - (threadsBefore.get(id) ?? 0));
    }
    const reports: { received: number; cpu: number }[] = [];
    for (const generator of generators) {
      reports.push(JSON.parse(await generator.line()));
    }
    const received = reports.reduce((sum, report) => sum + report.received, 0);
    return {
      perSecond: received / seconds,
      serverMicros: cpu * 1e6 / received,
      serverPercent: cpu / seconds * 100,
      threadPercent: busiest / seconds * 100,
      loadMaxPercent: Math.max(...reports.map((r) => r.cpu)) / seconds * 100,
      loadAverage: Deno.readTextFileSync("/proc/loadavg").split(" ")[0],
    };
  } finally {
    await Promise.all(generators.map((generator) => generator.close()));
    await server.close();
  }
}

function range(values: readonly number[], digits: number): string {
  const low = Math.min(...values).toFixed(digits);
  const high = Math.max(...values).toFixed(digits);
  return low === high ? low : `${low}–${high}`;
}

async function main(): Promise<void> {
  const modes = flags.modes.split(",") as Mode[];
  const rounds = Number(flags.rounds);
  console.log(
    `echo server, ${flags.generators} generators × ${flags.concurrency} datagrams of ${flags.bytes} bytes in flight; ${flags.duration} s per measurement; load average ${
      Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")
    }`,
  );
  console.log(
    "round mode            datagram/s  server µs/datagram  server %  thread %  load max %  saturated  load avg",
  );
  const figures = new Map<Mode, Figure[]>();
  for (let round = 0; round < rounds; round++) {
    const order = modes.map((_, i) => modes[(i + round) % modes.length]);
    for (const mode of order) {
      const figure = await measure(mode);
      figures.set(mode, [...figures.get(mode) ?? [], figure]);
      const saturated = [
        figure.threadPercent >= SATURATED_PERCENT ? "server" : "",
        figure.loadMaxPercent >= SATURATED_PERCENT ? "load" : "",
      ].filter(Boolean).join("+") || "neither";
      console.log(
        [
          String(round + 1).padEnd(5),
          mode.padEnd(15),
          figure.perSecond.toFixed(0).padStart(10),
          figure.serverMicros.toFixed(1).padStart(19),
          figure.serverPercent.toFixed(0).padStart(9),
          figure.threadPercent.toFixed(0).padStart(9),
          figure.loadMaxPercent.toFixed(0).padStart(11),
          saturated.padStart(10),
          figure.loadAverage.padStart(9),
        ].join(" "),
      );
    }
  }
  for (const mode of modes) {
    const list = figures.get(mode) ?? [];
    console.log(
      `${mode}: ${
        range(list.map((f) => f.serverMicros), 1)
      } µs of server CPU per datagram, ${
        range(list.map((f) => f.perSecond), 0)
      } datagrams/s`,
    );
  }
}

if (flags.role === "server") await serve(flags.mode as Mode);
else if (flags.role === "load") await load(Number(flags.port));
else await main();
