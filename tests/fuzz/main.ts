/**
 * `deno task fuzz`: throws mutated and random packets at the UDP DHT node
 * and at the TCP link port, seeded and bounded, and reports packets sent,
 * crashes (must be 0), valid pings answered during the run, and memory
 * before and after. Exits 1 on any crash or unanswered ping.
 *
 * ```sh
 * deno task fuzz                         # a few seconds, seed 1
 * deno task fuzz --seed 7 --packets 200000 --target dht
 * deno task fuzz --duration 600          # ten minutes on each target
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fuzzDhtNode, loadDhtCorpus } from "./dht_fuzzer.ts";
import { fuzzLinkPort } from "./link_fuzzer.ts";
import type { FuzzReport } from "./_report.ts";

const HELP = `Usage: deno task fuzz [options]

Throws mutated and random packets at the UDP DHT node (real DhtNode, in
process, virtual time; seeds: the captured OpenDHT packets) and at the TCP
link port (real ConnectionManager on an in-memory stream network), with
valid pings interleaved. Same seed, same packets.

Options:
  --seed S          seed of every choice (default 1)
  --packets N       DHT datagrams to send (default 10000); link streams
                    get N/20 (default 500)
  --duration SECS   stop each target after SECS seconds of wall time; with
                    no --packets, run that long
  --target T        dht, link or all (default all)
  --ping-every K    a valid ping every K packets (default 50)
  --json            print the reports as JSON
  --help            this text
`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string", default: "1" },
    packets: { type: "string" },
    duration: { type: "string" },
    target: { type: "string", default: "all" },
    "ping-every": { type: "string", default: "50" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}

function positive(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} must be a positive number, not "${text}"`);
    Deno.exit(2);
  }
  return value;
}

const durationSeconds = positive("duration", values.duration);
const durationMs = durationSeconds === undefined
  ? undefined
  : durationSeconds * 1_000;
const packetsOption = positive("packets", values.packets);
const packets = packetsOption ?? (durationMs !== undefined ? Infinity : 10_000);
const pingEvery = positive("ping-every", values["ping-every"])!;
const target = values.target;
if (!["dht", "link", "all"].includes(target)) {
  console.error(`--target must be dht, link or all, not "${target}"`);
  Deno.exit(2);
}

const reports: FuzzReport[] = [];
if (target === "dht" || target === "all") {
  const corpus = await loadDhtCorpus(
    new URL("../vectors/opendht/", import.meta.url),
  );
  reports.push(
    fuzzDhtNode(corpus, { seed: values.seed, packets, durationMs, pingEvery }),
  );
}
if (target === "link" || target === "all") {
  reports.push(
    await fuzzLinkPort({
      seed: values.seed,
      packets: Math.max(1, Math.ceil(packets / 20)),
      durationMs,
      pingEvery,
    }),
  );
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
if (values.json) {
  console.log(JSON.stringify(reports, null, 2));
} else {
  for (const report of reports) {
    const unit = report.target === "dht" ? "datagrams" : "streams";
    console.log(
      `${report.target}: seed ${report.seed}, ${report.packetsSent} ${unit} ` +
        `(${(report.bytesSent / 1024).toFixed(0)} KiB) in ` +
        `${(report.elapsedMs / 1000).toFixed(1)} s`,
    );
    console.log(`  crashes: ${report.crashCount}`);
    for (const crash of report.crashes) console.log(`    ${crash}`);
    console.log(
      `  valid pings answered: ${report.pingsAnswered}/${report.pingsSent}`,
    );
    console.log(
      `  memory: heap ${mib(report.memoryBefore.heapUsed)} -> ` +
        `${mib(report.memoryAfter.heapUsed)}, rss ` +
        `${mib(report.memoryBefore.rss)} -> ${mib(report.memoryAfter.rss)}`,
    );
    console.log(
      `  ${
        Object.entries(report.notes).map(([k, v]) => `${k} ${v}`).join(", ")
      }`,
    );
  }
}
const failed = reports.some((report) =>
  report.crashCount > 0 || report.pingsAnswered < report.pingsSent
);
Deno.exit(failed ? 1 : 0);
