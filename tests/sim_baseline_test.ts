import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { forkRng, randomInt, seededRng } from "../lib/rng.ts";
import {
  type BaselineLookupResult,
  type BaselineNode,
  createKademliaDhtNode,
} from "../sim/baseline_kademlia_dht.ts";
import type { PeerAddress } from "../lib/transport.ts";
import {
  type NetworkStats,
  SimulatedNetwork,
} from "../lib/testing/simulated_network.ts";

/** The node's default request timeout, in virtual ms. */
const REQUEST_TIMEOUT_MS = 1_000;

/** Most clock timers one join or one lookup may fire before the test gives up. */
const MAX_TIMERS_PER_STEP = 100_000;

/**
 * Fires the clock's timers one by one until `isDone()` or the bound. The test
 * is synchronous, so anything that completes here ran on the ManualClock:
 * a real `setTimeout` or `process.nextTick` inside the package could not.
 */
function driveUntil(clock: ManualClock, isDone: () => boolean): void {
  for (let fired = 0; !isDone(); fired++) {
    assert.ok(fired < MAX_TIMERS_PER_STEP, "drive loop bound reached");
    assert.ok(clock.runNext(), "clock went idle before completion");
  }
}

interface Swarm {
  clock: ManualClock;
  network: SimulatedNetwork;
  nodes: BaselineNode[];
  addresses: PeerAddress[];
}

/** `count` nodes joining one after another, each through a random earlier node. */
function makeSwarm(seed: number, count: number): Swarm {
  const rng = seededRng(seed);
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: forkRng(rng, "network") });
  const idRng = forkRng(rng, "ids");
  const seedRng = forkRng(rng, "seeds");
  const nodes: BaselineNode[] = [];
  const addresses: PeerAddress[] = [];
  for (let index = 0; index < count; index++) {
    const transport = network.attach();
    const node = createKademliaDhtNode({ transport, clock, rng: idRng });
    const seeds = index === 0 ? [] : [addresses[randomInt(seedRng, index)]];
    let joined = false;
    node.bootstrap(seeds, () => joined = true);
    driveUntil(clock, () => joined);
    nodes.push(node);
    addresses.push(transport.localAddress);
  }
  return { clock, network, nodes, addresses };
}

interface LookupRecord {
  source: number;
  target: string;
  truth: string;
  result: BaselineLookupResult;
  durationMs: number;
}

/** `count` lookups, one at a time, from random nodes towards random ids. */
function runLookups(swarm: Swarm, seed: number, count: number): LookupRecord[] {
  const { clock, nodes } = swarm;
  const rng = seededRng(seed);
  const records: LookupRecord[] = [];
  for (let index = 0; index < count; index++) {
    const source = randomInt(rng, nodes.length);
    const target = InfoHash.random(rng);
    // The looking node is not a result, as in our own Search.
    const truth = nodes.filter((_, index) => index !== source)
      .map((node) => node.id)
      .reduce((best, id) => target.compareDistance(id, best) < 0 ? id : best);
    const startMs = clock.now();
    let result: BaselineLookupResult | undefined;
    nodes[source].lookup(target, (done) => result = done);
    driveUntil(clock, () => result !== undefined);
    records.push({
      source,
      target: target.toString(),
      truth: truth.toString(),
      result: result!,
      durationMs: clock.now() - startMs,
    });
  }
  return records;
}

function runScenario(
  seed: number,
): { records: LookupRecord[]; stats: NetworkStats; endMs: number } {
  const swarm = makeSwarm(seed, 50);
  const records = runLookups(swarm, seed + 1, 20);
  const stats = swarm.network.stats();
  for (const node of swarm.nodes) node.stop();
  return { records, stats, endMs: swarm.clock.now() };
}

Deno.test("createKademliaDhtNode() over 50 simulated nodes finds the true closest node in most lookups", () => {
  // Goal: the baseline is drivable and sane on a lossless network.
  // Method: 50 sequential joins, 20 lookups towards random ids; compare each
  // result's first node with the closest of all 50 ids by XOR distance.
  const { records, stats } = runScenario(2024);
  assert.equal(records.length, 20);
  for (const { result } of records) {
    assert.equal(result.ok, true);
    assert.ok(result.closest.length >= 19, "20, less the looking node");
    assert.ok(result.queries >= 20, "the package asks all 20 closest");
    assert.ok(result.hops >= 1 && result.hops <= result.queries);
  }
  const found =
    records.filter((record) =>
      record.result.closest[0].toString() === record.truth
    ).length;
  assert.ok(found >= 18, `true closest found in ${found} of 20 lookups`);
  assert.equal(stats.drops.loss + stats.drops.oversize, 0);
});

Deno.test("createKademliaDhtNode() runs the same scenario to the same results from the same seed", () => {
  const first = runScenario(7);
  const second = runScenario(7);
  assert.equal(JSON.stringify(second), JSON.stringify(first));
  assert.ok(first.endMs > 0);
  assert.notEqual(
    JSON.stringify(runScenario(8).records),
    JSON.stringify(first.records),
  );
});

Deno.test("createKademliaDhtNode() lookups finish in bounded virtual time when nodes are down", () => {
  // Goal: requests to unreachable nodes time out on the ManualClock.
  // Method: take a fifth of the hosts down after the joins, then look up from
  // live nodes; each lookup must end within one request timeout per query.
  const swarm = makeSwarm(11, 50);
  for (let index = 1; index < 50; index += 5) {
    swarm.network.setHostOnline(index, false);
  }
  const records = runLookups(swarm, 12, 10)
    .filter((record) => record.source % 5 !== 1);
  assert.ok(records.length > 0);
  for (const { result, durationMs } of records) {
    assert.equal(result.ok, true);
    // Each strand of the lookup waits at most one timeout per query.
    assert.ok(
      durationMs <= result.queries * REQUEST_TIMEOUT_MS,
      `lookup took ${durationMs} ms for ${result.queries} queries`,
    );
  }
  for (const node of swarm.nodes) node.stop();
  assert.equal(swarm.clock.pendingCount, 0);
});

Deno.test("createKademliaDhtNode() sends a request requestAttempts times, requestTimeoutMs apart", () => {
  // Goal: timeouts and retries run on the ManualClock, to the millisecond.
  // Method: bootstrap through a host that is down; the join ends when the
  // only ping has failed, after every attempt has timed out.
  for (const requestAttempts of [1, 3]) {
    const clock = new ManualClock(0);
    const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
    const down = network.attach();
    network.setHostOnline(down.hostIndex, false);
    const transport = network.attach();
    const node = createKademliaDhtNode({
      transport,
      clock,
      rng: seededRng(2),
      requestAttempts,
    });
    let joinedAtMs: number | undefined;
    node.bootstrap([down.localAddress], () => joinedAtMs = clock.now());
    driveUntil(clock, () => joinedAtMs !== undefined);
    assert.equal(joinedAtMs, requestAttempts * REQUEST_TIMEOUT_MS);
    assert.equal(
      network.hostStats(transport.hostIndex).messagesSent,
      requestAttempts,
    );
    node.stop();
    assert.equal(clock.pendingCount, 0);
  }
});

Deno.test("createKademliaDhtNode() drops malformed datagrams without throwing", () => {
  const swarm = makeSwarm(3, 5);
  const attacker = swarm.network.attach();
  const to = swarm.addresses[0];
  const garbage = [
    "not json",
    "null",
    '{"type":"query","tid":1,"method":"constructor","body":{}}',
    '{"type":"query","tid":1,"method":"findNode","body":{"id":"zz"}}',
    '{"type":"query","tid":1,"method":"ping","body":{"id":"' + "0".repeat(39) +
    '"}}',
    '{"type":"reply","tid":0,"body":{"contacts":[{"id":"x","host":"h","port":0}]}}',
    '{"type":"reply","tid":99999,"body":null}',
  ];
  for (const text of garbage) {
    attacker.send(to, new TextEncoder().encode(text));
  }
  swarm.clock.runUntilIdle();
  let result: BaselineLookupResult | undefined;
  swarm.nodes[0].lookup(swarm.nodes[3].id, (done) => result = done);
  driveUntil(swarm.clock, () => result !== undefined);
  assert.equal(result!.closest[0].toString(), swarm.nodes[3].id.toString());
  for (const node of swarm.nodes) node.stop();
});

Deno.test("createKademliaDhtNode() rejects non-positive settings with RangeError", () => {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  const transport = network.attach();
  const rng = seededRng(2);
  for (
    const bad of [
      { requestTimeoutMs: 0 },
      { bucketSize: -1 },
      { concurrency: Number.NaN },
      { requestAttempts: 1.5 },
    ]
  ) {
    assert.throws(
      () => createKademliaDhtNode({ transport, clock, rng, ...bad }),
      RangeError,
    );
  }
});
