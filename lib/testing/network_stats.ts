/**
 * The counters a `SimulatedNetwork` keeps: why datagrams were dropped,
 * network-wide totals and per-host figures, all plain objects that
 * `JSON.stringify` can write.
 *
 * @example Read the totals of a fresh network
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "./simulated_network.ts";
 * import type { NetworkStats } from "./network_stats.ts";
 *
 * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
 * const stats: NetworkStats = network.stats();
 * assert.deepEqual(stats.drops, { loss: 0, partition: 0, offline: 0, oversize: 0 });
 * ```
 *
 * @module
 */

/**
 * Why the network dropped a datagram:
 *
 * - `"loss"`: random loss, from `lossProbability` or a `setLinkLoss` override;
 * - `"partition"`: source and target were in different partition groups at delivery;
 * - `"offline"`: the source was closed or down at send, the address was never
 *   attached, or the target was closed or down at delivery;
 * - `"oversize"`: the payload exceeded 65,507 bytes.
 *
 * @example Count one reason
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DropReason } from "./simulated_network.ts";
 *
 * const reason: DropReason = "partition";
 * assert.equal(reason, "partition");
 * ```
 */
export type DropReason = "loss" | "partition" | "offline" | "oversize";

/**
 * Dropped datagrams, by {@link DropReason}.
 *
 * @example Sum the drops
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DropCounts } from "./simulated_network.ts";
 *
 * const drops: DropCounts = { loss: 1, partition: 2, offline: 3, oversize: 0 };
 * assert.equal(Object.values(drops).reduce((a, b) => a + b), 6);
 * ```
 */
export interface DropCounts {
  /** Dropped by random loss. */
  loss: number;
  /** Dropped between partition groups. */
  partition: number;
  /** Dropped because an end was closed, down or unknown. */
  offline: number;
  /** Dropped for exceeding the largest UDP payload. */
  oversize: number;
}

/**
 * Network-wide counters, a plain object that `JSON.stringify` can write. At
 * any moment `messagesSent = messagesReceived + inFlight + ` the sum of `drops`.
 *
 * @example Read the totals
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { type NetworkStats, SimulatedNetwork } from "./simulated_network.ts";
 *
 * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
 * const stats: NetworkStats = network.stats();
 * assert.equal(stats.messagesSent, 0);
 * ```
 */
export interface NetworkStats {
  /** Hosts ever attached. */
  hostCount: number;
  /** Hosts attached (not closed) and up. */
  onlineHostCount: number;
  /** Datagrams handed to `send`, whatever became of them. */
  messagesSent: number;
  /** Payload bytes handed to `send`. */
  bytesSent: number;
  /** Datagrams delivered. */
  messagesReceived: number;
  /** Payload bytes delivered. */
  bytesReceived: number;
  /** Datagrams scheduled and not yet delivered or dropped. */
  inFlight: number;
  /** Datagrams dropped, by reason. */
  drops: DropCounts;
}

/**
 * One host's counters and state, a plain object.
 *
 * @example Read one host's counters
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { type HostStats, SimulatedNetwork } from "./simulated_network.ts";
 *
 * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
 * const transport = network.attach();
 * const stats: HostStats = network.hostStats(transport.hostIndex);
 * assert.equal(stats.address, "10.0.0.1:4222");
 * ```
 */
export interface HostStats {
  /** The host's dense index. */
  hostIndex: number;
  /** The host's address as `host:port`. */
  address: string;
  /** Whether the host is attached (not closed) and up. */
  online: boolean;
  /** Datagrams this host handed to `send`. */
  messagesSent: number;
  /** Payload bytes this host handed to `send`. */
  bytesSent: number;
  /** Datagrams delivered to this host. */
  messagesReceived: number;
  /** Payload bytes delivered to this host. */
  bytesReceived: number;
}
