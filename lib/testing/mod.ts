/**
 * Deterministic fakes for testing code built on this package, published as
 * the `@jami-contacts/dht-contacts/testing` entry point: virtual time
 * ({@link ManualClock}), storage in memory ({@link MemoryStorage}), streams in
 * memory ({@link memoryStreamNetwork}), a simulated datagram network with
 * latency, loss, partitions and hosts going down ({@link SimulatedNetwork},
 * {@link CoordinateLatency}), and a network of real DHT nodes built in one
 * call ({@link Testnet}).
 *
 * Everything here is driven by the clock you advance and by the seeded
 * generator you pass ({@link seededRng}), so a test that uses it sees the
 * same datagrams in the same order on every run.
 *
 * @example Two daemons on a simulated network become contacts, in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { Daemon } from "../../mod.ts";
 * import {
 *   ManualClock, MemoryStorage, rngBytes, seededRng, SimulatedNetwork,
 * } from "./mod.ts";
 *
 * const clock = new ManualClock(1_700_000_000_000);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const open = (seed: number, bootstrap = [] as { host: string; port: number }[]) =>
 *   Daemon.open({
 *     transport: network.attach(), clock, rng: seededRng(seed),
 *     randomBytes: rngBytes(seededRng(seed + 100)),
 *     storage: new MemoryStorage(), scryptLog2N: 10, dht: { bootstrap },
 *   });
 * const alice = await open(2);
 * const bob = await open(3, [alice.dht.address]);
 * const a = await alice.createAccount();
 * const b = await bob.createAccount();
 * alice.start();
 * bob.start();
 * const run = async (ms: number) => {
 *   for (let t = 0; t < ms; t += 100) {
 *     clock.advance(100);
 *     await alice.whenIdle();
 *     await bob.whenIdle();
 *   }
 * };
 * await run(5_000);
 * bob.config.on("incomingTrustRequest", (r) => bob.config.acceptTrustRequest(b, r.from));
 * await alice.config.sendTrustRequest(a, b, new TextEncoder().encode("hi"));
 * await run(20_000);
 * assert.equal(alice.config.getContactDetails(a, b)?.confirmed, true);
 * const stopping = Promise.all([alice.stop(), bob.stop()]);
 * await run(3_000);
 * await stopping;
 * ```
 *
 * @example A 50-node DHT, a put and a get
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../mod.ts";
 * import { Testnet } from "./mod.ts";
 *
 * const net = Testnet.create({ nodes: 50, seed: "example" });
 * const key = InfoHash.get("some key");
 * const data = new TextEncoder().encode("hello");
 * net.nodes[3].put(key, { id: 1n, type: 0, data });
 * net.run(5_000);
 * let found = 0;
 * net.nodes[40].get(key, { onValues: (values) => found += values.length });
 * net.run(5_000);
 * assert.equal(found, 1);
 * net.stop();
 * ```
 *
 * @module
 */
export { type ClockEventSource, ManualClock } from "./manual_clock.ts";
export { MemoryStorage } from "./memory_storage.ts";
export {
  type MemoryStreamNetwork,
  memoryStreamNetwork,
} from "./memory_stream_network.ts";
export {
  type AttachOptions,
  type DatagramObserver,
  type DropCounts,
  type DropReason,
  type HostStats,
  type NatDropCounts,
  type NetworkStats,
  type PutBehindNatOptions,
  SimulatedNetwork,
  type SimulatedNetworkOptions,
  type SimulatedTransport,
} from "./simulated_network.ts";
export {
  DEFAULT_NAT_TIMEOUT_MS,
  NAT_KINDS,
  NatBox,
  type NatBoxOptions,
  type NatBoxStats,
  type NatKind,
} from "./nat_box.ts";
export {
  CoordinateLatency,
  type CoordinateLatencyOptions,
  type HostCoordinates,
  type LatencyModel,
} from "./latency.ts";
export {
  SIMULATION_EPOCH_MS,
  Testnet,
  type TestnetOptions,
} from "./testnet.ts";
export {
  forkRng,
  type RandomBytes,
  type Rng,
  rngBytes,
  seededRng,
} from "../rng.ts";
