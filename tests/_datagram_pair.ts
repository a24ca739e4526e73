/**
 * Two sockets on a simulated network, each with its DatagramStreams, for
 * the datagram stream tests: `pair()` builds them, `drive()` advances
 * virtual time in steps and lets promise callbacks run between steps.
 *
 * @module
 */
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import {
  SimulatedNetwork,
  type SimulatedNetworkOptions,
  type SimulatedTransport,
} from "../lib/testing/simulated_network.ts";
import {
  DatagramStreams,
  type DatagramStreamsOptions,
} from "../lib/channel/datagram_streams.ts";

/** One end: its socket and its streams. */
export interface DatagramEnd {
  readonly socket: SimulatedTransport;
  readonly streams: DatagramStreams;
}

/** A network, its clock and two ends. */
export interface DatagramPair {
  readonly clock: ManualClock;
  readonly network: SimulatedNetwork;
  readonly alice: DatagramEnd;
  readonly bob: DatagramEnd;
}

/** Network settings of a pair. */
export type PairNetworkOptions = Partial<
  Pick<SimulatedNetworkOptions, "lossProbability" | "jitterMsMax">
>;

/**
 * Attaches a socket and its streams (every datagram goes to the streams).
 */
export function attachEnd(
  network: SimulatedNetwork,
  clock: ManualClock,
  seed: string,
  options: DatagramStreamsOptions = {},
): DatagramEnd {
  const socket = network.attach();
  const streams = new DatagramStreams({
    socket,
    clock,
    randomBytes: rngBytes(seededRng(seed)),
  }, options);
  socket.receive((bytes, from) => streams.handle(bytes, from));
  return { socket, streams };
}

/** Alice and Bob on a fresh network seeded with `seed`. */
export function pair(
  seed: string,
  network: PairNetworkOptions = {},
  options: DatagramStreamsOptions = {},
): DatagramPair {
  const clock = new ManualClock(0);
  const net = new SimulatedNetwork({
    clock,
    rng: seededRng(seed),
    ...network,
  });
  return {
    clock,
    network: net,
    alice: attachEnd(net, clock, `${seed}/alice`, options),
    bob: attachEnd(net, clock, `${seed}/bob`, options),
  };
}

/**
 * Advances virtual time by `ms` in `stepMs` steps, letting promise
 * callbacks run after each; stops early once `until` holds.
 *
 * @returns The virtual time it took.
 */
export async function drive(
  clock: ManualClock,
  ms: number,
  until: () => boolean = () => false,
  stepMs = 10,
): Promise<number> {
  const start = clock.now();
  while (clock.now() - start < ms && !until()) {
    clock.advance(stepMs);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
  return clock.now() - start;
}
