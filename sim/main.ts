/**
 * `deno task sim`: runs a simulation scenario on the in-process network and
 * prints a human summary, or one JSON object with `--json`. Progress goes to
 * stderr.
 *
 * Everything in the report is virtual-time and deterministic for a seed,
 * except the fields measured on the host: `wall_seconds`, `speedup`
 * (virtual seconds per wall second), `rss_mb`, and for `lookup`
 * `build_wall_seconds` and `measured_speedup` (the churn-and-lookups part
 * without building the network).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseChurnSpec, parseDuration } from "./churn.ts";
import {
  type LookupImplementation,
  type LookupReport,
  runLookupScenario,
} from "./scenarios/lookup.ts";
import { runStorageScenario } from "./scenarios/storage.ts";

const SCENARIOS = ["lookup", "storage"] as const;
const DEFAULT_CHURN = "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m";

const USAGE = `Usage: deno task sim <scenario> [options]

Scenarios:
  lookup    random lookups; success ratio, hops, latency (virtual ms)
  storage   plain and permanent values under churn; retrievability, listen delay

Options:
  --nodes N          number of nodes (default 1000)
  --seed S           seed of everything random (default 1)
  --duration D       measured virtual time, e.g. 10m, 1h (default 10m)
  --churn SPEC       "none", "default", or session/downtime distributions,
                     e.g. "${DEFAULT_CHURN}"
                     (default none)
  --crash-ratio P    share of leaves that are crashes (default 0.5)
  --loss P           packet loss on every link (default 0)
  --lookups N        lookups in the lookup scenario (default 1000)
  --settle D         lookup: virtual time to let the built network settle
                     before churn and lookups, e.g. 10m (default 0)
  --values N         values in the storage scenario (default 200)
  --impl NAME        lookup: "ours" (default) or "kademlia-dht"
  --compare          lookup: run ours and kademlia-dht on the same seed, print ratios
  --json             print one JSON object on stdout
  -h, --help         show this help
`;

class UsageError extends Error {}

function number(text: string | undefined, name: string, fallback: number) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(
      `--${name} expects a non-negative number, got "${text}"`,
    );
  }
  return value;
}

function machine(startMs: number, simSeconds: number) {
  const wall = (performance.now() - startMs) / 1_000;
  return {
    wall_seconds: Math.round(wall * 100) / 100,
    speedup: Math.round(simSeconds / Math.max(wall, 0.001) * 10) / 10,
    rss_mb: Math.round(Deno.memoryUsage().rss / 1_048_576),
  };
}

function ratio(ours: number, theirs: number): number {
  return theirs === 0 ? 0 : Math.round(ours / theirs * 1_000) / 1_000;
}

function compareLookups(ours: LookupReport, theirs: LookupReport) {
  return {
    lookup_success_ratio: ratio(
      ours.lookup_success_ratio,
      theirs.lookup_success_ratio,
    ),
    lookup_hops_p50: ratio(ours.lookup_hops.p50, theirs.lookup_hops.p50),
    lookup_ms_p50: ratio(ours.lookup_ms.p50, theirs.lookup_ms.p50),
    lookup_ms_p90: ratio(ours.lookup_ms.p90, theirs.lookup_ms.p90),
    messages_per_lookup: ratio(
      ours.messages_per_lookup,
      theirs.messages_per_lookup,
    ),
  };
}

function summary(report: Record<string, unknown>): string {
  return Object.entries(report).map(([key, value]) =>
    `${key.padEnd(24)} ${
      typeof value === "object" ? JSON.stringify(value) : String(value)
    }`
  ).join("\n");
}

function main(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        nodes: { type: "string" },
        seed: { type: "string" },
        duration: { type: "string" },
        churn: { type: "string" },
        "crash-ratio": { type: "string" },
        loss: { type: "string" },
        lookups: { type: "string" },
        settle: { type: "string" },
        values: { type: "string" },
        impl: { type: "string" },
        compare: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const scenario = positionals[0];
  if (values.help || scenario === undefined) {
    console.log(USAGE);
    return 0;
  }
  try {
    if (!(SCENARIOS as readonly string[]).includes(scenario)) {
      throw new UsageError(`Unknown scenario "${scenario}"`);
    }
    const seedText = values.seed ?? "1";
    const seed = /^\d+$/.test(seedText) ? Number(seedText) : seedText;
    const churnText = values.churn ?? "none";
    const churn = parseChurnSpec(
      churnText === "default" ? DEFAULT_CHURN : churnText,
    );
    const common = {
      nodes: Math.floor(number(values.nodes, "nodes", 1_000)),
      seed,
      durationMs: parseDuration(values.duration ?? "10m"),
      churn,
      crashProbability: number(values["crash-ratio"], "crash-ratio", 0.5),
      lossProbability: number(values.loss, "loss", 0),
      onProgress: (message: string) =>
        console.error(`[${scenario}] ${message}`),
    };
    if (common.nodes < 2) throw new UsageError("--nodes must be at least 2");
    const startMs = performance.now();
    let report: Record<string, unknown>;
    if (scenario === "lookup") {
      const impl = (values.impl ?? "ours") as LookupImplementation;
      if (impl !== "ours" && impl !== "kademlia-dht") {
        throw new UsageError(`--impl must be "ours" or "kademlia-dht"`);
      }
      const lookups = Math.floor(number(values.lookups, "lookups", 1_000));
      let builtMs = startMs;
      const first = runLookupScenario({
        ...common,
        lookups,
        settleMs: parseDuration(values.settle ?? "0s"),
        implementation: values.compare ? "ours" : impl,
        onBuilt: () => builtMs = performance.now(),
      });
      // The measured part alone (churn and lookups), without the build.
      const measuredWall = (performance.now() - builtMs) / 1_000;
      const measuredVirtual = (common.durationMs + 15_000) / 1_000;
      report = {
        ...first,
        ...machine(startMs, first.sim_seconds),
        build_wall_seconds: Math.round((builtMs - startMs) / 10) / 100,
        measured_speedup: Math.round(
          measuredVirtual / Math.max(measuredWall, 0.001) * 10,
        ) / 10,
      };
      if (values.compare) {
        const baselineStart = performance.now();
        const baseline = runLookupScenario({
          ...common,
          lookups,
          settleMs: parseDuration(values.settle ?? "0s"),
          implementation: "kademlia-dht",
        });
        report = {
          ...report,
          baseline: {
            ...baseline,
            ...machine(baselineStart, baseline.sim_seconds),
          },
          ratio_vs_baseline: compareLookups(first, baseline),
        };
      }
    } else {
      const result = runStorageScenario({
        ...common,
        values: Math.floor(number(values.values, "values", 200)),
      });
      report = { ...result, ...machine(startMs, result.sim_seconds) };
    }
    console.log(values.json ? JSON.stringify(report) : summary(report));
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

Deno.exit(main(Deno.args));
