/**
 * The settings of a `SimulatedNetwork`: its collaborators (virtual
 * time, randomness, latency), loss and jitter, where a host attaches, and
 * the observer that sees every datagram.
 *
 * @module
 */
import type { ManualClock } from "./manual_clock.ts";
import type { Rng } from "../rng.ts";
import type { LatencyModel } from "./latency.ts";

/**
 * Collaborators and settings of a `SimulatedNetwork`.
 *
 * @example A lossy network
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork, type SimulatedNetworkOptions } from "./simulated_network.ts";
 *
 * const options: SimulatedNetworkOptions = {
 *   clock: new ManualClock(0),
 *   rng: seededRng(1),
 *   lossProbability: 0.01,
 * };
 * assert.equal(new SimulatedNetwork(options).hostCount, 0);
 * ```
 */
export interface SimulatedNetworkOptions {
  /** Virtual time; it fires each datagram as if it were one of its timers. */
  clock: ManualClock;
  /** The scenario's randomness; the network forks its own streams from it. */
  rng: Rng;
  /**
   * One-way latency between hosts.
   *
   * @default {new CoordinateLatency(forkRng(rng, "latency"))}
   */
  latency?: LatencyModel;
  /**
   * Probability that any one datagram is lost, unless a link overrides it.
   *
   * @default {0}
   */
  lossProbability?: number;
  /**
   * Extra delay per datagram, uniform in [0, jitterMsMax); it may reorder
   * datagrams on one path.
   *
   * @default {2}
   */
  jitterMsMax?: number;
  /**
   * Copy each payload at send time, as a socket would. A sender that never
   * touches a buffer after sending it (our DHT node encodes a fresh one per
   * datagram) may turn this off: large simulations then skip one allocation
   * per datagram.
   *
   * @default {true}
   */
  copyPayloads?: boolean;
}

/**
 * Sees every datagram a host sends (`"sent"`, counted as in its stats even
 * if it is then dropped) and every one delivered (`"received"`): the
 * simulator's byte profile by message kind. It must not keep or change the
 * bytes.
 */
export type DatagramObserver = (
  direction: "sent" | "received",
  source: number,
  target: number | undefined,
  bytes: Uint8Array,
) => void;

/**
 * Options for `SimulatedNetwork.attach`.
 *
 * @example Attach at a chosen address
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { type AttachOptions, SimulatedNetwork } from "./simulated_network.ts";
 *
 * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
 * const options: AttachOptions = { host: "192.0.2.1", port: 5000 };
 * assert.deepEqual(network.attach(options).localAddress, options);
 * ```
 */
export interface AttachOptions {
  /**
   * The host part of the address.
   *
   * @default {"10.x.y.z", derived from the new host's index: index 0 is 10.0.0.1}
   */
  host?: string;
  /**
   * The port, from 1 to 65535.
   *
   * @default {4222}
   */
  port?: number;
}
