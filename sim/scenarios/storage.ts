/**
 * Scenario `storage`: values put under churn, and how many stay retrievable.
 *
 * Half the values are plain puts of a 7-day type (type 4), made once; only
 * the storing nodes' maintenance keeps them reachable as nodes come and go.
 * The other half are permanent puts of a 10-minute type (type 0), kept alive
 * by their publisher, which churns too; when it comes back it publishes
 * again, as a daemon does at start. At ten checkpoints a `get` from a random
 * online node looks for every value.
 *
 * Listen delay: at regular intervals a random node listens on a fresh key and,
 * 10 s later, another node puts a value there; the delay is from the start of
 * that put to the listener's "added" event.
 *
 * @module
 */
import type { DhtValue } from "../../lib/dht/messages.ts";
import type { OperationHandle } from "../../lib/dht/dht_client.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { forkRng, randomInt } from "../../lib/rng.ts";
import { ChurnSchedule } from "../churn/schedule.ts";
import { type ChurnSpec, formatChurnSpec } from "../churn/spec.ts";
import { Samples } from "../metrics.ts";
import { SIMULATION_EPOCH_MS, Testnet } from "../../lib/testing/testnet.ts";
import { phaseProgress, type ProgressCallback } from "../progress.ts";
import type { Percentiles } from "./lookup.ts";

/** Options of {@link runStorageScenario}. */
export interface StorageScenarioOptions {
  /** DHT nodes in the network; they all churn when `churn` is set. */
  readonly nodes: number;
  /** Seed of every random choice; the same seed replays the run exactly. */
  readonly seed: number | string;
  /** Measured virtual duration, ms. */
  readonly durationMs: number;
  /** Values published (half plain, half permanent). */
  readonly values: number;
  /** Churn (undefined: none). */
  readonly churn?: ChurnSpec;
  /** Probability that a leave is a crash. @default {0.5} */
  readonly crashProbability?: number;
  /** Packet loss on every link. @default {0} */
  readonly lossProbability?: number;
  /** Called with the progress of each phase; the runner shows it on stderr. */
  readonly onProgress?: ProgressCallback;
}

/** Retrievability at one of the checkpoints spread over the measured duration. */
export interface RetrievabilityPoint {
  /** Virtual seconds since the values were published. */
  readonly t_s: number;
  /** Plain values found / published. */
  readonly plain: number;
  /** Permanent values found / published. */
  readonly permanent: number;
  /** Permanent values found / those whose publisher is online (protocol losses only). */
  readonly permanent_publisher_online: number;
}

/** Report of a storage run (deterministic for a seed). */
export interface StorageReport {
  /** "storage". */
  readonly scenario: "storage";
  /** Node count, as in the options. */
  readonly nodes: number;
  /** The seed, as in the options: with it, the run can be replayed. */
  readonly seed: number | string;
  /** The churn, written as `--churn` takes it, or `"none"`. */
  readonly churn: string;
  /** Values published, as in the options (half plain, half permanent). */
  readonly values: number;
  /** Plain values retrievable at the last checkpoint. */
  readonly retrievable_plain_ratio: number;
  /** Permanent values retrievable at the last checkpoint. */
  readonly retrievable_permanent_ratio: number;
  /** The same, counting only values whose publisher is online then. */
  readonly retrievable_permanent_publisher_online_ratio: number;
  /** Every checkpoint, in time order; the last one gives the ratios above. */
  readonly retrievable_over_time: readonly RetrievabilityPoint[];
  /** Listen notification delay, virtual ms. */
  readonly listen_ms: Percentiles;
  /** Listen probes whose value reached the (still online) listener. */
  readonly listen_delivered_ratio: number;
  /** Churn leaves during the run. */
  readonly churn_leaves: number;
  /** Virtual seconds simulated, build included. */
  readonly sim_seconds: number;
}

interface Published {
  readonly key: InfoHash;
  readonly value: DhtValue;
  readonly permanent: boolean;
  readonly publisher: number;
}

/** Phases shown in progress. */
const PHASES = ["building network", "publishing values", "running"] as const;

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/**
 * Runs the storage scenario.
 *
 * @param options Size, seed, duration, churn, values.
 * @returns The report.
 */
export function runStorageScenario(
  options: StorageScenarioOptions,
): StorageReport {
  const progress = phaseProgress(PHASES, options.onProgress);
  const joined = (value: number) =>
    progress("building network", [
      { label: "nodes joined", value, total: options.nodes },
    ]);
  joined(0);
  const net = Testnet.create({
    nodes: options.nodes,
    seed: options.seed,
    lossProbability: options.lossProbability,
    onProgress: joined,
  });
  joined(options.nodes);
  const rng = forkRng(net.rng, "storage");
  const published: Published[] = [];
  const handles = new Map<number, OperationHandle[]>();
  const publishPermanent = (item: Published) => {
    const handle = net.nodes[item.publisher].put(item.key, item.value, {
      permanent: true,
    });
    handles.set(item.publisher, [
      ...(handles.get(item.publisher) ?? []),
      handle,
    ]);
  };
  for (let i = 0; i < options.values; i++) {
    progress("publishing values", [
      { label: "values", value: i, total: options.values },
    ]);
    const permanent = i % 2 === 1;
    const online = net.onlineIndexes();
    const item: Published = {
      key: InfoHash.get(`storage-${options.seed}-${i}`),
      value: {
        id: BigInt(i + 1),
        type: permanent ? 0 : 4,
        data: new TextEncoder().encode(`value ${i}`),
      },
      permanent,
      publisher: online[randomInt(rng, online.length)],
    };
    published.push(item);
    if (permanent) publishPermanent(item);
    else net.nodes[item.publisher].put(item.key, item.value);
    net.run(50);
  }
  progress("publishing values", [
    { label: "values", value: options.values, total: options.values },
  ]);
  net.run(10_000);
  const publishedAtMs = net.clock.now();

  const churn = new ChurnSchedule({
    clock: net.clock,
    rng: forkRng(rng, "churn"),
    hostCount: options.nodes,
    spec: options.churn,
    durationMs: options.durationMs,
    crashProbability: options.crashProbability ?? 0.5,
  }, {
    onLeave: (index) => {
      handles.delete(index);
      net.crash(index);
    },
    onJoin: (index) => {
      net.restart(index);
      for (const item of published) {
        if (item.permanent && item.publisher === index) publishPermanent(item);
      }
    },
  });
  churn.start();

  const listenDelays = new Samples();
  let probes = 0;
  let delivered = 0;
  const probe = (n: number) => {
    const online = net.onlineIndexes();
    const listener = online[randomInt(rng, online.length)];
    const writer = online[randomInt(rng, online.length)];
    const key = InfoHash.get(`listen-probe-${options.seed}-${n}`);
    let putAtMs: number | undefined;
    let seen = false;
    probes += 1;
    const listenerNode = net.nodes[listener];
    listenerNode.listen(key, (event) => {
      if (event.kind !== "added" || seen || putAtMs === undefined) return;
      if (net.nodes[listener] !== listenerNode) return; // crashed meanwhile
      seen = true;
      delivered += 1;
      listenDelays.add(net.clock.now() - putAtMs);
    });
    net.clock.setTimer(10_000, () => {
      putAtMs = net.clock.now();
      if (net.isOnline(writer)) {
        net.nodes[writer].put(key, {
          id: BigInt(n + 1),
          type: 0,
          data: new Uint8Array([1]),
        });
      }
    });
  };

  const points: RetrievabilityPoint[] = [];
  const checkpoints = 10;
  const stepMs = options.durationMs / checkpoints;
  let probeCount = 0;
  // Each checkpoint runs its step and 15 s of gets.
  const runTotalMs = checkpoints * (stepMs + 15_000);
  const running = (done: number) =>
    progress("running", [
      { label: "checkpoints", value: done, total: checkpoints },
      { label: "churn leaves", value: churn.counts().leaves },
    ], {
      ms: Math.min(net.clock.now() - publishedAtMs, runTotalMs),
      totalMs: runTotalMs,
    });
  for (let checkpoint = 1; checkpoint <= checkpoints; checkpoint++) {
    for (let k = 0; k < 5; k++) {
      running(checkpoint - 1);
      probe(probeCount++);
      net.run(stepMs / 5);
    }
    running(checkpoint - 1);
    let plainFound = 0;
    let permanentFound = 0;
    let publisherOnline = 0;
    let publisherOnlineFound = 0;
    for (const item of published) {
      const publisherUp = item.permanent && net.isOnline(item.publisher);
      if (publisherUp) publisherOnline += 1;
      const online = net.onlineIndexes();
      const reader = online[randomInt(rng, online.length)];
      net.nodes[reader].get(item.key, {
        onDone: (values) => {
          if (!values.some((value) => value.id === item.value.id)) return;
          if (item.permanent) permanentFound += 1;
          else plainFound += 1;
          if (publisherUp) publisherOnlineFound += 1;
        },
      });
    }
    net.run(15_000);
    const half = Math.max(1, published.length / 2);
    points.push({
      t_s: Math.round((net.clock.now() - publishedAtMs) / 1_000),
      plain: round(plainFound / Math.ceil(half)),
      permanent: round(permanentFound / Math.floor(half)),
      permanent_publisher_online: round(
        publisherOnlineFound / Math.max(1, publisherOnline),
      ),
    });
    running(checkpoint);
  }
  churn.stop();
  const last = points.at(-1);
  const report: StorageReport = {
    scenario: "storage",
    nodes: options.nodes,
    seed: options.seed,
    churn: formatChurnSpec(options.churn),
    values: published.length,
    retrievable_plain_ratio: last?.plain ?? 0,
    retrievable_permanent_ratio: last?.permanent ?? 0,
    retrievable_permanent_publisher_online_ratio:
      last?.permanent_publisher_online ?? 0,
    retrievable_over_time: points,
    listen_ms: {
      p50: round(listenDelays.percentile(50)),
      p90: round(listenDelays.percentile(90)),
      p99: round(listenDelays.percentile(99)),
    },
    listen_delivered_ratio: round(delivered / Math.max(1, probes)),
    churn_leaves: churn.counts().leaves,
    sim_seconds: Math.round((net.clock.now() - SIMULATION_EPOCH_MS) / 1_000),
  };
  net.stop();
  return report;
}
