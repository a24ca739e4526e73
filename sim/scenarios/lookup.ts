/**
 * Scenario `lookup`: N nodes, random lookups spread over the run, with or
 * without churn; our DHT node or the `kademlia-dht` baseline on the same
 * simulated network.
 *
 * A lookup succeeds when the closest node it found is the true closest online
 * node to the target (global knowledge of the simulator), checked when the
 * lookup starts and when it ends, since churn may change the answer meanwhile.
 * Hops are the hop count of the closest node found (1 = already in the
 * looking node's routing table). Latency is virtual time from start to the
 * search's completion.
 *
 * @module
 */
import { DhtNode } from "../../lib/dht/dht_node.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import {
  forkRng,
  randomInt,
  type Rng,
  rngBytes,
  seededRng,
} from "../../lib/rng.ts";
import type { PeerAddress } from "../../lib/transport.ts";
import {
  type BaselineNode,
  createKademliaDhtNode,
} from "../baseline_kademlia_dht.ts";
import { ChurnSchedule } from "../churn/schedule.ts";
import { type ChurnSpec, formatChurnSpec } from "../churn/spec.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { CoordinateLatency } from "../../lib/testing/latency.ts";
import { Samples } from "../metrics.ts";
import {
  SimulatedNetwork,
  type SimulatedTransport,
} from "../../lib/testing/simulated_network.ts";
import { SIMULATION_EPOCH_MS } from "../../lib/testing/testnet.ts";
import type { ProgressCallback, ProgressCount } from "../progress.ts";

/** Which DHT runs the lookups. */
export type LookupImplementation = "ours" | "kademlia-dht";

/** Options of {@link runLookupScenario}. */
export interface LookupScenarioOptions {
  /** DHT nodes in the network, all running the measured implementation. */
  readonly nodes: number;
  /** Seed of every random choice; the same seed replays the run exactly. */
  readonly seed: number | string;
  /** Virtual duration of the measured part, ms. */
  readonly durationMs: number;
  /** Lookups spread evenly over the duration. */
  readonly lookups: number;
  /** Churn (undefined: none). */
  readonly churn?: ChurnSpec;
  /** Probability that a leave is a crash. @default {0.5} */
  readonly crashProbability?: number;
  /** Packet loss on every link. @default {0} */
  readonly lossProbability?: number;
  /** Implementation. @default {"ours"} */
  readonly implementation?: LookupImplementation;
  /**
   * Extra virtual time after the build, before churn and lookups start, so
   * that a quickly built large network settles. @default {0}
   */
  readonly settleMs?: number;
  /** Called with the progress of each phase; the runner shows it on stderr. */
  readonly onProgress?: ProgressCallback;
  /** Called once the network is built and settled, before the measured part. */
  readonly onBuilt?: () => void;
}

/** Percentiles reported for a distribution. */
export interface Percentiles {
  /** 50th percentile (median). */
  readonly p50: number;
  /** 90th percentile. */
  readonly p90: number;
  /** 99th percentile. */
  readonly p99: number;
}

/** Result of a lookup run (deterministic for a seed). */
export interface LookupReport {
  /** "lookup". */
  readonly scenario: "lookup";
  /** The implementation measured, as in the options. */
  readonly impl: LookupImplementation;
  /** Node count, as in the options. */
  readonly nodes: number;
  /** The seed, as in the options: with it, the run can be replayed. */
  readonly seed: number | string;
  /** Churn spec as text, or "none". */
  readonly churn: string;
  /** Lookups started. */
  readonly lookups: number;
  /** Lookups that found the true closest node. */
  readonly lookup_success_ratio: number;
  /** Hops of the closest node found. */
  readonly lookup_hops: Percentiles;
  /** Virtual milliseconds per lookup. */
  readonly lookup_ms: Percentiles;
  /** Datagrams sent per lookup (all traffic in the measured window / lookups). */
  readonly messages_per_lookup: number;
  /** Mean fraction of nodes online during the measured window. */
  readonly online_ratio: number;
  /** Churn events (leaves) in the measured window. */
  readonly churn_leaves: number;
  /** Virtual seconds simulated in all, including the build. */
  readonly sim_seconds: number;
  /** The settle period after the build, when one was asked for. */
  readonly settle_seconds?: number;
}

interface LookupOutcome {
  readonly best?: InfoHash;
  readonly hops: number;
}

/** What the scenario needs from a network of either implementation. */
interface Swarm {
  readonly clock: ManualClock;
  readonly network: SimulatedNetwork;
  readonly size: number;
  idOf(index: number): InfoHash;
  isOnline(index: number): boolean;
  add(): void;
  crash(index: number): void;
  restart(index: number): void;
  lookup(
    from: number,
    target: InfoHash,
    done: (outcome: LookupOutcome) => void,
  ): void;
  stop(): void;
}

/** Phases shown in progress. */
const PHASES = ["building network", "settling", "running"] as const;

/** Progress is reported this many times per phase at most. */
const PROGRESS_STEPS = 1_000;

/** Virtual time to let the network settle after the last join. */
const BUILD_SETTLE_MS = 60_000;

function percentiles(samples: Samples): Percentiles {
  const round = (value: number) => Math.round(value * 1_000) / 1_000;
  return {
    p50: round(samples.percentile(50)),
    p90: round(samples.percentile(90)),
    p99: round(samples.percentile(99)),
  };
}

abstract class BaseSwarm implements Swarm {
  readonly clock: ManualClock = new ManualClock(SIMULATION_EPOCH_MS);
  readonly network: SimulatedNetwork;
  readonly rng: Rng;
  readonly transports: SimulatedTransport[] = [];
  readonly ids: InfoHash[] = [];
  readonly online: boolean[] = [];
  readonly onlineList: number[] = [];

  constructor(seed: number | string, lossProbability: number) {
    const root = seededRng(seed);
    this.network = new SimulatedNetwork({
      clock: this.clock,
      rng: forkRng(root, "network"),
      latency: new CoordinateLatency(forkRng(root, "latency")),
      lossProbability,
      // DhtNode encodes a fresh buffer per datagram and never reuses it.
      copyPayloads: false,
    });
    this.rng = forkRng(root, "swarm");
  }

  get size(): number {
    return this.ids.length;
  }

  idOf(index: number): InfoHash {
    return this.ids[index];
  }

  isOnline(index: number): boolean {
    return this.online[index];
  }

  seeds(except: number): PeerAddress[] {
    const picks: PeerAddress[] = [];
    for (let k = 0; k < 3 && this.onlineList.length > 1; k++) {
      const index =
        this.onlineList[randomInt(this.rng, this.onlineList.length)];
      if (index !== except) picks.push(this.transports[index].localAddress);
    }
    return picks;
  }

  setOnline(index: number, online: boolean): void {
    this.online[index] = online;
    const position = this.onlineList.indexOf(index);
    if (online && position === -1) this.onlineList.push(index);
    if (!online && position !== -1) {
      this.onlineList[position] = this.onlineList[this.onlineList.length - 1];
      this.onlineList.pop();
    }
  }

  abstract add(): void;
  abstract crash(index: number): void;
  abstract restart(index: number): void;
  abstract lookup(
    from: number,
    target: InfoHash,
    done: (outcome: LookupOutcome) => void,
  ): void;
  /** Stops every running node. */
  stop(): void {
    for (const index of [...this.onlineList]) this.crash(index);
  }
}

class OurSwarm extends BaseSwarm {
  readonly nodes: DhtNode[] = [];

  #start(index: number, id?: InfoHash): void {
    const rng = forkRng(this.rng, `node-${index}-${this.clock.now()}`);
    const node = new DhtNode({
      transport: this.transports[index],
      clock: this.clock,
      rng,
      // Seeded "secure" bytes: the simulation replays.
      randomBytes: rngBytes(forkRng(rng, "bytes")),
    }, { id, bootstrap: this.seeds(index) });
    this.nodes[index] = node;
    this.ids[index] = node.id;
    this.setOnline(index, true);
    node.start();
  }

  add(): void {
    const transport = this.network.attach();
    this.transports[transport.hostIndex] = transport;
    this.#start(transport.hostIndex);
  }

  crash(index: number): void {
    if (!this.online[index]) return;
    this.nodes[index].stop();
    this.network.setHostOnline(index, false);
    this.setOnline(index, false);
  }

  restart(index: number): void {
    if (this.online[index]) return;
    this.network.setHostOnline(index, true);
    this.#start(index, this.ids[index]);
  }

  lookup(
    from: number,
    target: InfoHash,
    done: (outcome: LookupOutcome) => void,
  ): void {
    this.nodes[from].findNode(
      target,
      (result) => done({ best: result.nodes[0]?.id, hops: result.hops }),
    );
  }
}

class KademliaSwarm extends BaseSwarm {
  readonly nodes: BaselineNode[] = [];

  #start(index: number, transport: SimulatedTransport, id?: InfoHash): void {
    const node = createKademliaDhtNode({
      transport,
      clock: this.clock,
      rng: forkRng(this.rng, `node-${index}`),
      id,
      bucketSize: 8,
      requestAttempts: 3,
    });
    this.transports[index] = transport;
    this.nodes[index] = node;
    this.ids[index] = node.id;
    this.setOnline(index, true);
    node.bootstrap(this.seeds(index), () => {});
  }

  add(): void {
    const transport = this.network.attach();
    this.#start(transport.hostIndex, transport);
  }

  crash(index: number): void {
    if (!this.online[index]) return;
    this.nodes[index].stop(); // closes its transport too
    this.setOnline(index, false);
  }

  restart(index: number): void {
    if (this.online[index]) return;
    const transport = this.network.attach(this.transports[index].localAddress);
    this.#start(index, transport, this.ids[index]);
  }

  lookup(
    from: number,
    target: InfoHash,
    done: (outcome: LookupOutcome) => void,
  ): void {
    this.nodes[from].lookup(
      target,
      (result) => done({ best: result.closest[0], hops: result.hops }),
    );
  }
}

function trueClosest(swarm: BaseSwarm, target: InfoHash): InfoHash | undefined {
  let best: InfoHash | undefined;
  for (const index of swarm.onlineList) {
    const id = swarm.ids[index];
    if (best === undefined || target.compareDistance(id, best) < 0) best = id;
  }
  return best;
}

/**
 * Runs the lookup scenario.
 *
 * @param options Size, seed, duration, churn, implementation.
 * @returns The report (virtual-time figures only).
 */
export function runLookupScenario(
  options: LookupScenarioOptions,
): LookupReport {
  const implementation = options.implementation ?? "ours";
  const swarm: BaseSwarm = implementation === "ours"
    ? new OurSwarm(options.seed, options.lossProbability ?? 0)
    : new KademliaSwarm(options.seed, options.lossProbability ?? 0);
  const onProgress = options.onProgress ?? (() => {});
  const progress = (
    phase: typeof PHASES[number],
    counts: ProgressCount[],
    virtualMs: number,
    virtualTotalMs: number,
  ) =>
    onProgress({
      phase,
      phaseIndex: PHASES.indexOf(phase) + 1,
      phaseCount: PHASES.length,
      counts,
      virtualMs,
      virtualTotalMs,
    });
  // Build: one join every 20 ms (at most 200 s of joins in all, so that
  // 100,000 nodes join 2 ms apart), then let the network settle for 60 s.
  const joinSpacingMs = Math.min(20, 200_000 / options.nodes);
  const buildMs = joinSpacingMs * options.nodes;
  const joinsPerUpdate = Math.max(
    1,
    Math.floor(options.nodes / PROGRESS_STEPS),
  );
  const joined = (count: number) =>
    progress(
      "building network",
      [
        { label: "nodes joined", value: count, total: options.nodes },
      ],
      joinSpacingMs * count,
      buildMs,
    );
  joined(0);
  for (let i = 0; i < options.nodes; i++) {
    swarm.add();
    swarm.clock.advance(joinSpacingMs);
    if ((i + 1) % joinsPerUpdate === 0) joined(i + 1);
  }
  const settleMs = options.settleMs ?? 0;
  const settling = (ms: number) =>
    progress("settling", [], ms, BUILD_SETTLE_MS + settleMs);
  // The same timers fire as in one advance of 60 s, shown once a second.
  const settleStartMs = swarm.clock.now();
  for (let second = 1; second < BUILD_SETTLE_MS / 1_000; second++) {
    settling(swarm.clock.now() - settleStartMs);
    swarm.clock.advanceTo(settleStartMs + second * 1_000);
  }
  swarm.clock.advanceTo(settleStartMs + BUILD_SETTLE_MS);
  for (let settled = 0; settled < settleMs;) {
    settling(BUILD_SETTLE_MS + settled);
    const step = Math.min(60_000, settleMs - settled);
    swarm.clock.advance(step);
    settled += step;
  }
  settling(BUILD_SETTLE_MS + settleMs);
  options.onBuilt?.();
  const sentBefore = swarm.network.stats().messagesSent;
  const churn = new ChurnSchedule({
    clock: swarm.clock,
    rng: forkRng(swarm.rng, "churn"),
    hostCount: options.nodes,
    spec: options.churn,
    durationMs: options.durationMs,
    crashProbability: options.crashProbability ?? 0.5,
  }, {
    onLeave: (index) => swarm.crash(index),
    onJoin: (index) => swarm.restart(index),
  });
  churn.start();

  const hops = new Samples();
  const latency = new Samples();
  let succeeded = 0;
  let onlineSum = 0;
  const spacing = options.durationMs / Math.max(1, options.lookups);
  const lookupRng = forkRng(swarm.rng, "lookups");
  const lookupsPerUpdate = Math.max(
    1,
    Math.floor(options.lookups / PROGRESS_STEPS),
  );
  const runStartMs = swarm.clock.now();
  const running = (started: number) =>
    progress(
      "running",
      [
        { label: "lookups", value: started, total: options.lookups },
        { label: "done", value: latency.count },
      ],
      swarm.clock.now() - runStartMs,
      options.durationMs + 15_000,
    );
  running(0);
  for (let i = 0; i < options.lookups; i++) {
    const target = InfoHash.random(lookupRng);
    const from =
      swarm.onlineList[randomInt(lookupRng, swarm.onlineList.length)];
    const startMs = swarm.clock.now();
    const before = trueClosest(swarm, target);
    onlineSum += swarm.onlineList.length / options.nodes;
    swarm.lookup(from, target, (outcome) => {
      latency.add(swarm.clock.now() - startMs);
      hops.add(outcome.hops);
      const after = trueClosest(swarm, target);
      const self = swarm.idOf(from);
      const best = outcome.best;
      const found = (candidate?: InfoHash) =>
        candidate !== undefined &&
        ((best !== undefined && best.equals(candidate)) ||
          self.equals(candidate));
      if (found(before) || found(after)) succeeded += 1;
    });
    swarm.clock.advance(spacing);
    if ((i + 1) % lookupsPerUpdate === 0) running(i + 1);
  }
  swarm.clock.advance(15_000); // let the last lookups finish
  running(options.lookups);
  churn.stop();
  const sent = swarm.network.stats().messagesSent - sentBefore;
  const report: LookupReport = {
    scenario: "lookup",
    impl: implementation,
    nodes: options.nodes,
    seed: options.seed,
    churn: formatChurnSpec(options.churn),
    lookups: options.lookups,
    lookup_success_ratio: options.lookups === 0
      ? 0
      : Math.round(succeeded / options.lookups * 10_000) / 10_000,
    lookup_hops: percentiles(hops),
    lookup_ms: percentiles(latency),
    messages_per_lookup: Math.round(sent / Math.max(1, options.lookups)),
    online_ratio: Math.round(onlineSum / Math.max(1, options.lookups) * 1_000) /
      1_000,
    churn_leaves: churn.counts().leaves,
    sim_seconds: Math.round((swarm.clock.now() - SIMULATION_EPOCH_MS) / 1_000),
    ...(settleMs > 0 ? { settle_seconds: settleMs / 1_000 } : {}),
  };
  swarm.stop();
  return report;
}
