/**
 * One host's view of a `SimulatedNetwork`: a {@link Transport} that
 * also knows its host index, and the small class that forwards its calls to
 * the network.
 *
 * @example Send between two hosts
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "./simulated_network.ts";
 * import type { SimulatedTransport } from "./simulated_transport.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const alice: SimulatedTransport = network.attach();
 * const bob: SimulatedTransport = network.attach();
 * let received = 0;
 * bob.receive(() => received++);
 * alice.send(bob.localAddress, new Uint8Array([1]));
 * clock.runUntilIdle();
 * assert.equal(received, 1);
 * ```
 *
 * @module
 */

import type { DatagramHandler, PeerAddress, Transport } from "../transport.ts";

/**
 * A {@link Transport} on a `SimulatedNetwork`, with the host's index
 * for the network's per-host controls and counters.
 *
 * @example Send between two hosts
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork, type SimulatedTransport } from "./simulated_network.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const alice: SimulatedTransport = network.attach();
 * const bob: SimulatedTransport = network.attach();
 * let received = 0;
 * bob.receive(() => received++);
 * alice.send(bob.localAddress, new Uint8Array([1, 2, 3]));
 * clock.runUntilIdle();
 * assert.equal(received, 1);
 * assert.equal(bob.hostIndex, 1);
 * ```
 */
export interface SimulatedTransport extends Transport {
  /** The host's dense index in its network, stable across re-attachment. */
  readonly hostIndex: number;
}

/** What a transport may ask of its network; one object per network. */
export interface NetworkCore {
  send(transport: NetworkTransport, to: PeerAddress, bytes: Uint8Array): void;
  receive(transport: NetworkTransport, handler: DatagramHandler): void;
  close(transport: NetworkTransport): void;
}

/**
 * The transport a network hands to one host: every call goes to the
 * network's {@link NetworkCore}, which checks that the transport is still
 * the host's current one.
 */
export class NetworkTransport implements SimulatedTransport {
  readonly localAddress: PeerAddress;
  readonly hostIndex: number;
  readonly #core: NetworkCore;

  constructor(core: NetworkCore, hostIndex: number, localAddress: PeerAddress) {
    this.#core = core;
    this.hostIndex = hostIndex;
    this.localAddress = localAddress;
  }

  send(to: PeerAddress, bytes: Uint8Array): void {
    this.#core.send(this, to, bytes);
  }

  receive(handler: DatagramHandler): void {
    this.#core.receive(this, handler);
  }

  close(): Promise<void> {
    this.#core.close(this);
    return Promise.resolve();
  }
}
