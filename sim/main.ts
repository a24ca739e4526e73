/**
 * `deno task sim`: runs a simulation scenario on the in-process network and
 * prints a table in human units, or one JSON object with `--json`, on
 * stdout. Progress goes to stderr (phase, counts, virtual time, elapsed wall
 * time and ETA; see {@link ProgressReporter}) unless `--quiet`.
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
import { useCurveOperations } from "../lib/crypto.ts";
import { NATIVE_CURVES } from "../lib/io/native_curves.ts";
import { parseChurnSpec, parseDuration } from "./churn/spec.ts";
import {
  type LookupImplementation,
  type LookupReport,
  runLookupScenario,
} from "./scenarios/lookup.ts";
import { runStorageScenario } from "./scenarios/storage.ts";
import { runPresenceScenario } from "./scenarios/presence.ts";
import { runInboxScenario } from "./scenarios/inbox.ts";
import { type NatSpec, parseNatSpec } from "./nat_spec.ts";
import { runNetworkCutScenario } from "./scenarios/network_cut.ts";
import { renderReport, type ReportRun } from "./report.ts";
import { type ProgressCallback, ProgressReporter } from "./progress.ts";
import { formatTextTable, reportTable } from "./summary_table.ts";
import {
  JAMI_PROFILE,
  OUR_PROFILE,
  type PresenceProfile,
} from "../lib/presence/presence_profile.ts";

const SCENARIOS = [
  "lookup",
  "storage",
  "presence",
  "inbox",
  "network-cut",
] as const;
const DEFAULT_CHURN = "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m";
/** Device churn of the presence scenario: about 30 % of devices offline. */
const DEFAULT_DEVICE_CHURN =
  "weibull:shape=0.5,scale=20m/pareto:alpha=1.5,min=6m";

const USAGE = `Usage: deno task sim <scenario> [options]

Scenarios:
  lookup    random lookups; success ratio, hops, latency (virtual ms)
  storage   plain and permanent values under churn; retrievability, listen delay
  presence  accounts watching their contacts under device churn: online,
            clean-offline and crash-offline detection, false offlines, bytes
  inbox     trust requests to targets offline 1 min to 7 days, sender churn:
            delivery, delay after the target is back, duplicates, confirmations
  network-cut
            one device loses its network for --duration (default 10m) while
            contacts crash, leave and arrive: false offlines, own connectivity
            events, real changes told after the return (--nodes default 60;
            --compare: also without holding presence)

Options:
  --nodes N          number of nodes (default 1000)
  --seed S           seed of everything random (default 1)
  --duration D       measured virtual time, e.g. 10m, 1h (default 10m)
  --churn SPEC       "none", "default", or session/downtime distributions,
                     e.g. "${DEFAULT_CHURN}"
                     (default none)
  --crash-ratio P    share of leaves that are crashes (default 0.5)
  --loss P           packet loss on every link (default 0)
  --note-every D     presence: a random online device publishes a new note
                     this often, e.g. 10s (default never); note_delivery_ms
  --latency MS       presence: median one-way latency in ms (default 50;
                     6 is LAN-like; at least 6)
  --lookups N        lookups in the lookup scenario (default 1000)
  --settle D         lookup: virtual time to let the built network settle
                     before churn and lookups, e.g. 10m (default 0)
  --values N         values in the storage scenario (default 200)
  --impl NAME        lookup: "ours" (default) or "kademlia-dht"
  --accounts N       presence: accounts, one device each (default 200);
                     --nodes is then the plain DHT nodes (default = accounts)
  --contacts A-B     presence: contacts per account (default 20-100)
  --requests N       inbox: requests (default 100; --nodes default 100)
  --max-offline D    inbox: longest target offline time (default 7d)
  --nat SPEC         presence: devices behind NATs: "none" (default) or
                     KIND:SHARE items, KIND eim-prf (home router, Linux
                     masquerade), symmetric or full-cone, shares summing to
                     at most 1 (the rest public), plus an optional
                     timeout:D (mapping idle timeout, default 30s), e.g.
                     "eim-prf:0.8,symmetric:0.1"; DHT nodes stay public
  --relay            presence: a public relay host that every device names for
                     links its NAT and a contact's cannot punch (both
                     symmetric, or symmetric against a port-restricted NAT)
  --profile NAME     presence/inbox: "ours" (default) or "jami"
  --stock-share P    presence, network-cut: share (0..1) of the plain DHT
                     nodes that behave as stock OpenDHT 2.4 (our value types
                     unknown: kept 10 min, refreshes pushed); chosen from the
                     seed (default 0)
  --quiet-offline D  presence, our profile: silence of pushed refreshes after
                     which a device is offline (default 30s; 0 = off)
  --listen-nodes N   presence, our profile: storing nodes a watcher listens
                     at for a contact (1-4, default 2)
  --compare          lookup: ours vs kademlia-dht; presence/inbox: ours vs the
                     jami profile; same seed, one process, ratios printed
  --report FILE      presence/inbox: write an HTML page with CDF plots and
                     the figures as a table
  --json             print one JSON object on stdout (default: a table in
                     human units)
  --quiet            no progress on stderr (by default: phase, counts,
                     virtual time, elapsed time and ETA)
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

const encoder = new TextEncoder();

function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  for (let done = 0; done < bytes.length;) {
    done += Deno.stderr.writeSync(bytes.subarray(done));
  }
}

/**
 * Shows progress on stderr, or nothing with `--quiet`. The wall clock here
 * is for display only: it never reaches a scenario.
 */
class RunnerOutput {
  readonly #quiet: boolean;
  readonly #terminal = Deno.stderr.isTerminal();
  #current: ProgressReporter | undefined;

  constructor(quiet: boolean) {
    this.#quiet = quiet;
  }

  /** A fresh progress line for one run, labelled e.g. "presence/ours". */
  progress(label: string): ProgressCallback {
    this.#current?.finish();
    if (this.#quiet) return () => {};
    let columns: number | undefined;
    try {
      if (this.#terminal) columns = Deno.consoleSize().columns;
    } catch {
      // No console size: keep the default width.
    }
    const reporter = new ProgressReporter({
      label,
      write: writeStderr,
      now: () => performance.now(),
      terminal: this.#terminal,
      columns,
    });
    this.#current = reporter;
    return (update) => reporter.update(update);
  }

  /** Ends the current progress line. */
  finish(): void {
    this.#current?.finish();
    this.#current = undefined;
  }

  /** A line of information, unless quiet. */
  message(text: string): void {
    if (this.#quiet) return;
    this.finish();
    writeStderr(`${text}\n`);
  }
}

async function main(args: string[]): Promise<number> {
  // The daemon's curves (native, same bytes as noble's): the simulated
  // handshakes run the code real ones run.
  useCurveOperations(NATIVE_CURVES);
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
        latency: { type: "string" },
        "note-every": { type: "string" },
        loss: { type: "string" },
        lookups: { type: "string" },
        settle: { type: "string" },
        values: { type: "string" },
        impl: { type: "string" },
        accounts: { type: "string" },
        contacts: { type: "string" },
        requests: { type: "string" },
        "max-offline": { type: "string" },
        profile: { type: "string" },
        nat: { type: "string" },
        "stock-share": { type: "string" },
        relay: { type: "boolean" },
        "quiet-offline": { type: "string" },
        "listen-nodes": { type: "string" },
        report: { type: "string" },
        compare: { type: "boolean" },
        json: { type: "boolean" },
        quiet: { type: "boolean" },
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
    const device = scenario === "presence" || scenario === "inbox";
    const churnText = values.churn ?? (device ? "device" : "none");
    const churn = parseChurnSpec(
      churnText === "default"
        ? DEFAULT_CHURN
        : churnText === "device"
        ? DEFAULT_DEVICE_CHURN
        : churnText,
    );
    const accounts = Math.floor(number(values.accounts, "accounts", 200));
    const requests = Math.floor(number(values.requests, "requests", 100));
    const defaultNodes = scenario === "presence"
      ? accounts
      : scenario === "inbox"
      ? 100
      : scenario === "network-cut"
      ? 60
      : 1_000;
    const output = new RunnerOutput(values.quiet ?? false);
    const common = {
      nodes: Math.floor(number(values.nodes, "nodes", defaultNodes)),
      seed,
      durationMs: parseDuration(values.duration ?? "10m"),
      churn,
      crashProbability: number(values["crash-ratio"], "crash-ratio", 0.5),
      lossProbability: number(values.loss, "loss", 0),
    };
    if (common.nodes < 2) throw new UsageError("--nodes must be at least 2");
    if (values.latency !== undefined && !(Number(values.latency) >= 6)) {
      throw new UsageError(
        `--latency expects at least 6 (ms; host access links alone take about 5), got "${values.latency}"`,
      );
    }
    const startMs = performance.now();
    let report: Record<string, unknown>;
    if (device) {
      const profileName = values.profile ?? "ours";
      if (profileName !== "ours" && profileName !== "jami") {
        throw new UsageError(`--profile must be "ours" or "jami"`);
      }
      let ours: PresenceProfile = values["quiet-offline"] === undefined
        ? OUR_PROFILE
        : {
          ...OUR_PROFILE,
          quietOfflineMs: values["quiet-offline"] === "0"
            ? 0
            : parseDuration(values["quiet-offline"]),
        };
      if (values["listen-nodes"] !== undefined) {
        const listenNodes = Number(values["listen-nodes"]);
        if (
          !Number.isInteger(listenNodes) || listenNodes < 1 || listenNodes > 4
        ) {
          throw new UsageError("--listen-nodes must be 1 to 4");
        }
        ours = { ...ours, listenNodes };
      }
      const profiles: PresenceProfile[] = values.compare
        ? [ours, JAMI_PROFILE]
        : [profileName === "jami" ? JAMI_PROFILE : ours];
      const [minContacts, maxContacts] = parseRange(
        values.contacts ?? "20-100",
      );
      const maxOfflineMs = parseDuration(values["max-offline"] ?? "7d");
      let nat: NatSpec | undefined;
      try {
        nat = values.nat === undefined ? undefined : parseNatSpec(values.nat);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const stockShare = number(values["stock-share"], "stock-share", 0);
      if (stockShare > 1) {
        throw new UsageError(`--stock-share expects 0..1, got "${stockShare}"`);
      }
      const runs: ReportRun[] = [];
      for (const profile of profiles) {
        const runStart = performance.now();
        const onProgress = output.progress(`${scenario}/${profile.name}`);
        const { cdf, cdfNotes, ...result } = scenario === "presence"
          ? await runPresenceScenario({
            accounts,
            infraNodes: common.nodes,
            seed,
            durationMs: common.durationMs,
            churn,
            crashProbability: common.crashProbability,
            lossProbability: common.lossProbability,
            noteEveryMs: values["note-every"] === undefined
              ? undefined
              : parseDuration(values["note-every"]),
            medianOneWayMs: values.latency === undefined
              ? undefined
              : number(values.latency, "latency", 50),
            minContacts,
            maxContacts,
            profile,
            stockShare,
            onProgress,
            nat,
            relay: values.relay ?? false,
          })
          : await runInboxScenario({
            requests,
            infraNodes: common.nodes,
            seed,
            maxOfflineMs,
            lossProbability: common.lossProbability,
            profile,
            onProgress,
          });
        output.finish();
        runs.push({
          label: profile.name,
          report: { ...result, ...machine(runStart, result.sim_seconds) },
          cdf: cdf ?? {},
          notes: cdfNotes,
        });
      }
      report = runs[0].report;
      if (runs.length > 1) {
        report = {
          ...report,
          baseline: runs[1].report,
          ratio_vs_jami: compareProfiles(runs[0].report, runs[1].report),
        };
      }
      if (values.report !== undefined) {
        await Deno.writeTextFile(values.report, renderReport(scenario, runs));
        output.message(`[${scenario}] report written to ${values.report}`);
      }
    } else if (scenario === "network-cut") {
      const cut = (hold: boolean) =>
        runNetworkCutScenario({
          seed,
          infraNodes: common.nodes,
          cutMs: common.durationMs,
          medianOneWayMs: values.latency === undefined
            ? undefined
            : number(values.latency, "latency", 50),
          hold,
          stockShare: number(values["stock-share"], "stock-share", 0),
        });
      const { log: _log, ...held } = await cut(true);
      report = { profile: "hold", ...held };
      if (values.compare) {
        const { log: _baselineLog, ...baseline } = await cut(false);
        report = { ...report, baseline: { profile: "no hold", ...baseline } };
      }
      // Virtual time: 2 minutes before the cut, the cut, 3 minutes after.
      const runs = values.compare ? 2 : 1;
      const simSeconds = runs * (common.durationMs + 5 * 60_000) / 1_000;
      report = { ...report, ...machine(startMs, simSeconds) };
    } else if (scenario === "lookup") {
      const impl = (values.impl ?? "ours") as LookupImplementation;
      if (impl !== "ours" && impl !== "kademlia-dht") {
        throw new UsageError(`--impl must be "ours" or "kademlia-dht"`);
      }
      const lookups = Math.floor(number(values.lookups, "lookups", 1_000));
      let builtMs = startMs;
      const implementation = values.compare ? "ours" : impl;
      const first = runLookupScenario({
        ...common,
        lookups,
        settleMs: parseDuration(values.settle ?? "0s"),
        implementation,
        onBuilt: () => builtMs = performance.now(),
        onProgress: output.progress(`lookup/${implementation}`),
      });
      output.finish();
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
          onProgress: output.progress("lookup/kademlia-dht"),
        });
        output.finish();
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
        onProgress: output.progress("storage"),
      });
      output.finish();
      report = { ...result, ...machine(startMs, result.sim_seconds) };
    }
    console.log(
      values.json
        ? JSON.stringify(report)
        : formatTextTable(reportTable(report)),
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

function parseRange(text: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (match === null || Number(match[1]) > Number(match[2])) {
    throw new UsageError(`--contacts expects "MIN-MAX", got "${text}"`);
  }
  return [Number(match[1]), Number(match[2])];
}

/** Ours / Jami's for the figures where lower (or higher) is better. */
function compareProfiles(
  ours: Record<string, unknown>,
  jami: Record<string, unknown>,
): Record<string, number> {
  const out: Record<string, number> = {};
  const p99 = (report: Record<string, unknown>, key: string) =>
    (report[key] as { p99?: number } | undefined)?.p99 ?? 0;
  for (
    const key of [
      "online_detect_ms",
      "offline_graceful_ms",
      "offline_crash_ms",
      "delivery_after_online_ms",
    ]
  ) {
    if (key in ours) out[`${key}_p99`] = ratio(p99(ours, key), p99(jami, key));
  }
  for (
    const key of [
      "presence_bytes_per_device_hour",
      "delivered_ratio",
      "confirmations_delivered_ratio",
      "bytes_per_request",
    ]
  ) {
    if (key in ours) out[key] = ratio(ours[key] as number, jami[key] as number);
  }
  return out;
}

Deno.exit(await main(Deno.args));
