/**
 * An in-process, deterministic datagram network in virtual time: hosts
 * attach to get a {@link SimulatedTransport}, datagrams arrive after a
 * modelled latency plus jitter, and faults (loss, partitions, hosts going
 * down) drop them with a counted reason.
 *
 * @module
 */

import type { ClockEventSource, ManualClock } from "./manual_clock.ts";
import { normalizeDelayMs } from "../clock.ts";
import { forkRng, type Rng } from "../rng.ts";
import {
  type DatagramHandler,
  MAX_DATAGRAM_BYTES,
  type PeerAddress,
} from "../transport.ts";
import { CoordinateLatency, type LatencyModel } from "./latency.ts";
import { DatagramQueue } from "./_datagram_queue.ts";
import {
  type NatDropCounts,
  type NatPacket,
  NatRouter,
  type PutBehindNatOptions,
} from "./_nat_router.ts";
import type { NatBox } from "./nat_box.ts";
import { grownFloat64, grownInt32, grownUint8 } from "./_grown_arrays.ts";
import type { DropCounts, HostStats, NetworkStats } from "./network_stats.ts";
import {
  type NetworkCore,
  NetworkTransport,
  type SimulatedTransport,
} from "./simulated_transport.ts";

export type {
  DropCounts,
  DropReason,
  HostStats,
  NetworkStats,
} from "./network_stats.ts";
export type { SimulatedTransport } from "./simulated_transport.ts";
export type {
  AttachOptions,
  DatagramObserver,
  SimulatedNetworkOptions,
} from "./simulated_network_options.ts";
import type {
  AttachOptions,
  DatagramObserver,
  SimulatedNetworkOptions,
} from "./simulated_network_options.ts";
export type { NatDropCounts, PutBehindNatOptions } from "./_nat_router.ts";

/** The port hosts attach at unless told otherwise; the DHT's customary port. */
const DEFAULT_PORT = 4222;

/** Most hosts a network holds: the host addresses 10.0.0.1 to 10.255.255.254. */
const MAX_HOSTS = 0xff_ff_fe;

/** Multiplier combining a source and a target index into one safe-integer link key. */
const LINK_KEY_FACTOR = 0x100_0000;

/** Hosts allocated before the first growth of the per-host arrays. */
const INITIAL_HOST_CAPACITY = 1024;

/** The text key of an address, as `formatAddress` in lib/transport.ts writes it, without its checks. */
function addressKey(address: PeerAddress): string {
  const host = address.host;
  return host.includes(":")
    ? `[${host}]:${address.port}`
    : `${host}:${address.port}`;
}

/** The default host part for host `index`: 10.0.0.1 for index 0, and so on. */
function defaultHost(index: number): string {
  const number = index + 1;
  return `10.${(number >>> 16) & 0xff}.${(number >>> 8) & 0xff}.${
    number & 0xff
  }`;
}

function checkProbability(action: string, probability: number): void {
  if (!(probability >= 0 && probability <= 1)) {
    throw new RangeError(
      `Cannot ${action}: probability ${probability} is not from 0 to 1`,
    );
  }
}

/**
 * A deterministic datagram network in the virtual time of a
 * {@link ManualClock}.
 *
 * Hosts are dense integer indexes with per-host state in typed arrays;
 * addresses resolve through a `Map` (and a `WeakMap` for the address objects
 * the network hands out), so `send` does constant work besides one heap
 * insertion. Each datagram is due at
 * `now + latency.oneWayMs(source, target) + jitter` and waits in the
 * network's own queue, which the clock fires among its timers (the network is
 * one of its event sources): by due time, then by the insertion number the
 * clock gives it, exactly as if it were a timer set at send time, but with no
 * timer object or closure per datagram. The payload is copied at send time.
 *
 * At send, in order: a closed or down source drops as `"offline"`, an
 * oversize payload as `"oversize"`, an address never attached as `"offline"`
 * (it has no coordinates to travel to), then random loss as `"loss"`. At
 * delivery: a closed or down target drops as `"offline"`, and hosts in
 * different partition groups as `"partition"`, so that both cut datagrams
 * already in flight. A handler that throws propagates out of the clock call
 * that fired it, as the clock documents. Datagrams reaching an attached host
 * that has not set a handler yet count as received and are discarded, as a
 * socket nobody reads.
 *
 * Randomness: the constructor forks three streams from `rng`, in this order,
 * whether or not they are used: `forkRng(rng, "latency")` for the default
 * latency model, `forkRng(rng, "loss")` (one draw per datagram while its
 * loss probability is strictly between 0 and 1) and `forkRng(rng, "jitter")`
 * (one draw per scheduled datagram while `jitterMsMax > 0`, the jitter being
 * `draw * jitterMsMax`). The same seed and the same calls therefore give the
 * same deliveries at the same virtual times.
 *
 * @example Two hosts, one datagram, one partition
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "./simulated_network.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(42) });
 * const alice = network.attach();
 * const bob = network.attach();
 * const log: string[] = [];
 * bob.receive((bytes, from) => log.push(`${from.host}:${bytes[0]}`));
 * alice.send(bob.localAddress, new Uint8Array([7]));
 * clock.runUntilIdle();
 * assert.deepEqual(log, ["10.0.0.1:7"]);
 *
 * network.partition([[alice.hostIndex], [bob.hostIndex]]);
 * alice.send(bob.localAddress, new Uint8Array([8]));
 * clock.runUntilIdle();
 * assert.equal(network.stats().drops.partition, 1);
 * ```
 */
export class SimulatedNetwork {
  readonly #clock: ManualClock;
  readonly #latency: LatencyModel;
  readonly #lossRng: Rng;
  readonly #jitterRng: Rng;
  readonly #lossProbability: number;
  readonly #jitterMsMax: number;
  readonly #copyPayloads: boolean;
  readonly #core: NetworkCore;

  // Per host, by index.
  #hostCount = 0;
  #hostCapacity = INITIAL_HOST_CAPACITY;
  readonly #addresses: PeerAddress[] = [];
  readonly #addressKeys: string[] = [];
  readonly #transports: (NetworkTransport | undefined)[] = [];
  readonly #handlers: (DatagramHandler | undefined)[] = [];
  /** 1 while the host is down by `setHostOnline(index, false)`. */
  #down = new Uint8Array(INITIAL_HOST_CAPACITY);
  /** Partition group; 0 for hosts not listed in `partition()`. */
  #groups = new Int32Array(INITIAL_HOST_CAPACITY);
  #messagesSent = new Float64Array(INITIAL_HOST_CAPACITY);
  #bytesSent = new Float64Array(INITIAL_HOST_CAPACITY);
  #messagesReceived = new Float64Array(INITIAL_HOST_CAPACITY);
  #bytesReceived = new Float64Array(INITIAL_HOST_CAPACITY);
  #onlineHostCount = 0;

  readonly #indexByKey = new Map<string, number>();
  readonly #indexByAddress = new WeakMap<PeerAddress, number>();
  readonly #linkLoss = new Map<number, number>();
  #partitioned = false;

  // Totals.
  #totalMessagesSent = 0;
  #totalBytesSent = 0;
  #totalMessagesReceived = 0;
  #totalBytesReceived = 0;
  readonly #drops: DropCounts = {
    loss: 0,
    partition: 0,
    offline: 0,
    oversize: 0,
  };

  /** In-flight datagrams, by due time, then by the clock's insertion number. */
  readonly #queue = new DatagramQueue();
  /** Hosts behind NATs (see nat_box.ts) and their translated datagrams. */
  readonly #nat = new NatRouter();
  #observer?: DatagramObserver;

  /**
   * Creates an empty network.
   *
   * @param options The clock, the rng, the latency model and the faults.
   * @throws {RangeError} If `lossProbability` is not from 0 to 1 or
   * `jitterMsMax` is not a non-negative finite number.
   *
   * @example Jitter-free, constant latency
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({
   *   clock,
   *   rng: seededRng(1),
   *   latency: { oneWayMs: () => 25 },
   *   jitterMsMax: 0,
   * });
   * const [a, b] = [network.attach(), network.attach()];
   * b.receive(() => assert.equal(clock.now(), 25));
   * a.send(b.localAddress, new Uint8Array(1));
   * assert.equal(clock.runUntilIdle(), 1);
   * ```
   */
  constructor(options: SimulatedNetworkOptions) {
    const { clock, rng, lossProbability = 0, jitterMsMax = 2 } = options;
    checkProbability("create network", lossProbability);
    if (!(Number.isFinite(jitterMsMax) && jitterMsMax >= 0)) {
      throw new RangeError(
        `Cannot create network: jitterMsMax ${jitterMsMax} is not a non-negative finite number`,
      );
    }
    const latencyRng = forkRng(rng, "latency");
    this.#lossRng = forkRng(rng, "loss");
    this.#jitterRng = forkRng(rng, "jitter");
    this.#latency = options.latency ?? new CoordinateLatency(latencyRng);
    this.#clock = clock;
    this.#lossProbability = lossProbability;
    this.#jitterMsMax = jitterMsMax;
    this.#copyPayloads = options.copyPayloads ?? true;
    // The clock fires the queued datagrams among its timers.
    const queue = this.#queue;
    const source: ClockEventSource = {
      get size(): number {
        return queue.size;
      },
      get headDueMs(): number {
        return queue.headDueMs;
      },
      get headSequence(): number {
        return queue.headSequence;
      },
      runHead: (): void => this.#deliverNext(),
    };
    clock.addEventSource(source);
    this.#core = {
      send: (transport, to, bytes): void => this.#send(transport, to, bytes),
      receive: (transport, handler): void => {
        if (this.#transports[transport.hostIndex] === transport) {
          this.#handlers[transport.hostIndex] = handler;
        }
      },
      close: (transport): void => this.#close(transport),
    };
  }

  /**
   * The number of hosts ever attached; indexes run from 0 to `hostCount - 1`.
   *
   * @returns The count.
   *
   * @example Re-attaching does not add a host
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
   * const transport = network.attach();
   * await transport.close();
   * network.attach(transport.localAddress);
   * assert.equal(network.hostCount, 1);
   * ```
   */
  get hostCount(): number {
    return this.#hostCount;
  }

  /**
   * Attaches a host and returns its transport. Without a `host`, a new host
   * gets the address derived from its index (10.0.0.1 for index 0). An
   * address that was attached before and closed is attached again with the
   * same index, so the host keeps its place in the latency model; it is up
   * again, whatever `setHostOnline` said before.
   *
   * @param options The address; both parts are optional.
   * @returns The transport, online at once.
   * @throws {Error} If the address is attached and not closed, or if the
   * address derived for a new host was taken by an explicit `host`.
   * @throws {TypeError} If `host` is empty.
   * @throws {RangeError} If `port` is not an integer from 1 to 65535, or if
   * the network already holds 16,777,214 hosts.
   *
   * @example Come back with the same identity
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
   * network.attach();
   * const first = network.attach({ port: 5000 });
   * assert.deepEqual(first.localAddress, { host: "10.0.0.2", port: 5000 });
   * assert.throws(() => network.attach(first.localAddress), Error);
   * await first.close();
   * const again = network.attach(first.localAddress);
   * assert.equal(again.hostIndex, first.hostIndex);
   * ```
   */
  attach(options: AttachOptions = {}): SimulatedTransport {
    const port = options.port ?? DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(
        `Cannot attach host: port ${port} is not an integer from 1 to 65535`,
      );
    }
    const host = options.host ?? defaultHost(this.#hostCount);
    if (typeof host !== "string" || host === "") {
      throw new TypeError(
        `Cannot attach host: host ${
          JSON.stringify(String(host))
        } is not a non-empty string`,
      );
    }
    const key = addressKey({ host, port });
    const existing = this.#indexByKey.get(key);
    if (existing !== undefined) {
      if (options.host === undefined) {
        // The address derived for a new index was taken by an explicit one.
        throw new Error(
          `Cannot attach host: derived address "${key}" is already host ${existing}'s`,
        );
      }
      return this.#reattach(existing, key);
    }
    const index = this.#hostCount;
    if (index >= MAX_HOSTS) {
      throw new RangeError(
        `Cannot attach host: the network already holds ${MAX_HOSTS} hosts`,
      );
    }
    if (index >= this.#hostCapacity) this.#growHosts();
    const address: PeerAddress = Object.freeze({ host, port });
    this.#hostCount++;
    this.#addresses.push(address);
    this.#addressKeys.push(key);
    this.#transports.push(undefined);
    this.#handlers.push(undefined);
    this.#indexByKey.set(key, index);
    this.#indexByAddress.set(address, index);
    return this.#open(index);
  }

  /**
   * Brings a host up or takes it down, as a crash or a reboot would; while
   * down it sends nothing and datagrams reaching it are dropped as
   * `"offline"`. Its transport stays usable: it is the same host when it
   * comes back up.
   *
   * @param hostIndex From 0 to the number of hosts attached minus 1.
   * @param online Whether it is up.
   * @throws {RangeError} If no host has that index.
   *
   * @example Datagrams to a crashed host are dropped at delivery
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * a.send(b.localAddress, new Uint8Array(1));
   * network.setHostOnline(b.hostIndex, false);
   * clock.runUntilIdle();
   * assert.equal(network.stats().drops.offline, 1);
   * assert.equal(network.isHostOnline(b.hostIndex), false);
   * ```
   */
  setHostOnline(hostIndex: number, online: boolean): void {
    this.#checkHost("set host online", hostIndex);
    const wasOnline = this.isHostOnline(hostIndex);
    this.#down[hostIndex] = online ? 0 : 1;
    this.#onlineHostCount += Number(this.isHostOnline(hostIndex)) -
      Number(wasOnline);
  }

  /**
   * Whether a host is attached (not closed) and up.
   *
   * @param hostIndex From 0 to the number of hosts attached minus 1.
   * @returns `true` if datagrams can reach it now.
   * @throws {RangeError} If no host has that index.
   *
   * @example Closing takes a host offline
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
   * const transport = network.attach();
   * assert.equal(network.isHostOnline(transport.hostIndex), true);
   * await transport.close();
   * assert.equal(network.isHostOnline(transport.hostIndex), false);
   * ```
   */
  isHostOnline(hostIndex: number): boolean {
    this.#checkHost("read host state", hostIndex);
    return this.#transports[hostIndex] !== undefined &&
      this.#down[hostIndex] === 0;
  }

  /**
   * Finds the host attached at an address.
   *
   * @param address Host and port, compared by value.
   * @returns The host's index, or `undefined` if none was ever attached there.
   *
   * @example Look up an address
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
   * network.attach();
   * assert.equal(network.hostIndexOf({ host: "10.0.0.1", port: 4222 }), 0);
   * assert.equal(network.hostIndexOf({ host: "10.0.0.9", port: 4222 }), undefined);
   * ```
   */
  hostIndexOf(address: PeerAddress): number | undefined {
    return this.#indexByAddress.get(address) ??
      this.#indexByKey.get(addressKey(address));
  }

  /**
   * The address of a host.
   *
   * @param hostIndex From 0 to the number of hosts attached minus 1.
   * @returns Its address, a frozen object shared with its transport.
   * @throws {RangeError} If no host has that index.
   *
   * @example Index 0 is 10.0.0.1
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
   * network.attach();
   * assert.deepEqual(network.addressOf(0), { host: "10.0.0.1", port: 4222 });
   * ```
   */
  addressOf(hostIndex: number): PeerAddress {
    this.#checkHost("read host address", hostIndex);
    return this.#addresses[hostIndex];
  }

  /**
   * Overrides the loss probability of one direction of one link; the reverse
   * direction keeps its own setting. Overrides live in a `Map`, so only the
   * links set cost memory.
   *
   * @param sourceIndex The sending host.
   * @param targetIndex The receiving host.
   * @param probability The loss probability from 0 to 1, or `undefined` to
   * fall back to the network's `lossProbability`.
   * @throws {RangeError} If a host index is unknown or the probability is not from 0 to 1.
   *
   * @example Cut one direction of a link
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * network.setLinkLoss(a.hostIndex, b.hostIndex, 1);
   * a.send(b.localAddress, new Uint8Array(1));
   * b.send(a.localAddress, new Uint8Array(1));
   * clock.runUntilIdle();
   * assert.equal(network.stats().drops.loss, 1);
   * assert.equal(network.stats().messagesReceived, 1);
   * ```
   */
  setLinkLoss(
    sourceIndex: number,
    targetIndex: number,
    probability: number | undefined,
  ): void {
    this.#checkHost("set link loss", sourceIndex);
    this.#checkHost("set link loss", targetIndex);
    const key = sourceIndex * LINK_KEY_FACTOR + targetIndex;
    if (probability === undefined) {
      this.#linkLoss.delete(key);
      return;
    }
    checkProbability("set link loss", probability);
    this.#linkLoss.set(key, probability);
  }

  /**
   * Splits the network: hosts in different groups cannot reach each other,
   * including datagrams already in flight. Hosts not listed, and hosts
   * attached later, form one more group together. Replaces any earlier
   * partition.
   *
   * @param groups Disjoint lists of host indexes.
   * @throws {RangeError} If an index is unknown or listed twice.
   *
   * @example Unlisted hosts share a group
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b, c] = [network.attach(), network.attach(), network.attach()];
   * network.partition([[a.hostIndex]]);
   * b.send(c.localAddress, new Uint8Array(1)); // Both unlisted: delivered.
   * b.send(a.localAddress, new Uint8Array(1)); // Dropped.
   * clock.runUntilIdle();
   * assert.equal(network.stats().messagesReceived, 1);
   * assert.equal(network.stats().drops.partition, 1);
   * ```
   */
  partition(groups: readonly (readonly number[])[]): void {
    const assigned = new Int32Array(this.#hostCapacity);
    groups.forEach((group, groupIndex) => {
      for (const hostIndex of group) {
        this.#checkHost("partition network", hostIndex);
        if (assigned[hostIndex] !== 0) {
          throw new RangeError(
            `Cannot partition network: host ${hostIndex} is listed twice`,
          );
        }
        assigned[hostIndex] = groupIndex + 1;
      }
    });
    this.#groups = assigned;
    this.#partitioned = groups.some((group) => group.length > 0);
  }

  /**
   * Removes any partition: every host can reach every other again.
   *
   * @example Heal after a partition
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * network.partition([[a.hostIndex], [b.hostIndex]]);
   * network.heal();
   * a.send(b.localAddress, new Uint8Array(1));
   * clock.runUntilIdle();
   * assert.equal(network.stats().messagesReceived, 1);
   * ```
   */
  heal(): void {
    this.#groups.fill(0);
    this.#partitioned = false;
  }

  /**
   * Network-wide counters.
   *
   * @returns A fresh plain object.
   *
   * @example Every datagram is accounted for
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * a.send(b.localAddress, new Uint8Array(10));
   * a.send(b.localAddress, new Uint8Array(70_000));
   * assert.equal(network.stats().inFlight, 1);
   * clock.runUntilIdle();
   * const stats = network.stats();
   * assert.equal(stats.messagesSent, 2);
   * assert.equal(stats.bytesReceived, 10);
   * assert.equal(stats.drops.oversize, 1);
   * ```
   */
  stats(): NetworkStats {
    return {
      hostCount: this.#hostCount,
      onlineHostCount: this.#onlineHostCount,
      messagesSent: this.#totalMessagesSent,
      bytesSent: this.#totalBytesSent,
      messagesReceived: this.#totalMessagesReceived,
      bytesReceived: this.#totalBytesReceived,
      inFlight: this.#queue.size,
      drops: { ...this.#drops },
    };
  }

  /**
   * The one-way latency between two hosts (without jitter), for simulated
   * streams that share this network's geography.
   *
   * @param source Sending host.
   * @param target Receiving host.
   * @returns Milliseconds.
   * @throws {RangeError} If either host does not exist.
   *
   * @example Latency is positive between distinct hosts
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const network = new SimulatedNetwork({ clock: new ManualClock(0), rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * assert.ok(network.latencyMs(a.hostIndex, b.hostIndex) > 0);
   * ```
   */
  latencyMs(source: number, target: number): number {
    this.#checkHost("read latency", source);
    this.#checkHost("read latency", target);
    return this.#latency.oneWayMs(source, target);
  }

  /**
   * One host's counters.
   *
   * @param hostIndex From 0 to the number of hosts attached minus 1.
   * @returns A fresh plain object.
   * @throws {RangeError} If no host has that index.
   *
   * @example Sent and received
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * a.send(b.localAddress, new Uint8Array(3));
   * clock.runUntilIdle();
   * assert.equal(network.hostStats(a.hostIndex).bytesSent, 3);
   * assert.equal(network.hostStats(b.hostIndex).messagesReceived, 1);
   * ```
   */
  hostStats(hostIndex: number): HostStats {
    this.#checkHost("read host stats", hostIndex);
    return {
      hostIndex,
      address: this.#addressKeys[hostIndex],
      online: this.isHostOnline(hostIndex),
      messagesSent: this.#messagesSent[hostIndex],
      bytesSent: this.#bytesSent[hostIndex],
      messagesReceived: this.#messagesReceived[hostIndex],
      bytesReceived: this.#bytesReceived[hostIndex],
    };
  }

  /**
   * Puts a host behind a NAT of the given kind (see `NatBox`): from then on
   * it is reachable only at its box's public address, through mappings its
   * own datagrams open. Replaces any earlier box of that host.
   *
   * @param hostIndex The host.
   * @param options Kind, the rng drawing its public ports, and the mapping timeout.
   * @returns The box.
   * @throws {RangeError} If no host has that index.
   *
   * @example A NATed host answers; strangers cannot reach it
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [device, server] = [network.attach(), network.attach()];
   * network.putBehindNat(device.hostIndex, { kind: "eim-prf", rng: seededRng(2) });
   * server.receive((bytes, from) => server.send(from, bytes));
   * let replies = 0;
   * device.receive(() => replies++);
   * device.send(server.localAddress, new Uint8Array([1]));
   * server.send(device.localAddress, new Uint8Array([2])); // private: unroutable
   * clock.runUntilIdle();
   * assert.equal(replies, 1);
   * assert.equal(network.natDrops().unroutable, 1);
   * ```
   */
  putBehindNat(hostIndex: number, options: PutBehindNatOptions): NatBox {
    this.#checkHost("put host behind NAT", hostIndex);
    return this.#nat.add(hostIndex, options);
  }

  /**
   * The NAT box in front of a host.
   *
   * @param hostIndex The host.
   * @returns Its box, or `undefined` if it is reachable directly.
   * @throws {RangeError} If no host has that index.
   */
  natOf(hostIndex: number): NatBox | undefined {
    this.#checkHost("read host NAT", hostIndex);
    return this.#nat.boxOf(hostIndex);
  }

  /**
   * Datagrams the NAT layer dropped, apart from the `drops` of {@link SimulatedNetwork.stats}.
   *
   * @returns A fresh plain object.
   */
  natDrops(): NatDropCounts {
    return this.#nat.drops();
  }

  #checkHost(action: string, hostIndex: number): void {
    if (
      !Number.isInteger(hostIndex) || hostIndex < 0 ||
      hostIndex >= this.#hostCount
    ) {
      throw new RangeError(
        `Cannot ${action}: no host has index ${hostIndex}`,
      );
    }
  }

  #reattach(index: number, key: string): SimulatedTransport {
    if (this.#transports[index] !== undefined) {
      throw new Error(
        `Cannot attach host: address "${key}" is already attached`,
      );
    }
    return this.#open(index);
  }

  /** Opens a transport for a host that has none; the host comes up. */
  #open(index: number): SimulatedTransport {
    const transport = new NetworkTransport(
      this.#core,
      index,
      this.#addresses[index],
    );
    this.#transports[index] = transport;
    this.#handlers[index] = undefined;
    this.#down[index] = 0;
    this.#onlineHostCount++;
    return transport;
  }

  #close(transport: NetworkTransport): void {
    const index = transport.hostIndex;
    // An old transport of a re-attached host must not close the new one.
    if (this.#transports[index] !== transport) return;
    if (this.isHostOnline(index)) this.#onlineHostCount--;
    this.#transports[index] = undefined;
    this.#handlers[index] = undefined;
  }

  #growHosts(): void {
    const capacity = this.#hostCapacity * 2;
    this.#down = grownUint8(this.#down, capacity);
    this.#groups = grownInt32(this.#groups, capacity);
    this.#messagesSent = grownFloat64(this.#messagesSent, capacity);
    this.#bytesSent = grownFloat64(this.#bytesSent, capacity);
    this.#messagesReceived = grownFloat64(this.#messagesReceived, capacity);
    this.#bytesReceived = grownFloat64(this.#bytesReceived, capacity);
    this.#hostCapacity = capacity;
  }

  /**
   * Sets (or with undefined removes) the observer of datagrams.
   *
   * @param observer See {@link DatagramObserver}.
   *
   * @example Count what a host sends
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   * import { seededRng } from "../rng.ts";
   * import { SimulatedNetwork } from "./simulated_network.ts";
   *
   * const clock = new ManualClock(0);
   * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
   * const [a, b] = [network.attach(), network.attach()];
   * const seen: string[] = [];
   * network.observe((direction, source, target, bytes) =>
   *   seen.push(`${direction} ${source}>${target} ${bytes.length}`)
   * );
   * a.send(b.localAddress, new Uint8Array(3));
   * clock.runUntilIdle();
   * assert.deepEqual(seen, ["sent 0>1 3", "received 0>1 3"]);
   * ```
   */
  observe(observer: DatagramObserver | undefined): void {
    this.#observer = observer;
  }

  #send(transport: NetworkTransport, to: PeerAddress, bytes: Uint8Array): void {
    const source = transport.hostIndex;
    const length = bytes.length;
    this.#observer?.(
      "sent",
      source,
      this.#indexByAddress.get(to) ?? this.#indexByKey.get(addressKey(to)),
      bytes,
    );
    this.#messagesSent[source]++;
    this.#bytesSent[source] += length;
    this.#totalMessagesSent++;
    this.#totalBytesSent += length;
    if (this.#transports[source] !== transport || this.#down[source] !== 0) {
      this.#drops.offline++;
      return;
    }
    if (length > MAX_DATAGRAM_BYTES) {
      this.#drops.oversize++;
      return;
    }
    let routed: { target: number; packet: NatPacket } | undefined;
    if (this.#nat.active) {
      const route = this.#nat.route(
        this.#clock.now(),
        source,
        this.#addresses[source],
        to,
        addressKey(to),
        () => this.hostIndexOf(to),
      );
      if (route === -1) return;
      routed = route;
    }
    let target = routed?.target ?? this.#indexByAddress.get(to);
    if (target === undefined) {
      target = this.#indexByKey.get(addressKey(to));
      if (target === undefined) {
        this.#drops.offline++;
        return;
      }
      // Senders reuse address objects (decoders share them): resolve each
      // one by its text once. Addresses never move to another host.
      this.#indexByAddress.set(to, target);
    }
    let lossProbability = this.#lossProbability;
    if (this.#linkLoss.size > 0) {
      lossProbability = this.#linkLoss.get(source * LINK_KEY_FACTOR + target) ??
        lossProbability;
    }
    if (
      lossProbability > 0 &&
      (lossProbability >= 1 || this.#lossRng() < lossProbability)
    ) {
      this.#drops.loss++;
      return;
    }
    let delayMs = this.#latency.oneWayMs(source, target);
    if (this.#jitterMsMax > 0) delayMs += this.#jitterRng() * this.#jitterMsMax;
    this.#enqueue(
      routed === undefined ? source : this.#nat.register(routed.packet),
      target,
      this.#copyPayloads ? bytes.slice() : bytes,
      delayMs,
    );
  }

  #enqueue(
    source: number,
    target: number,
    bytes: Uint8Array,
    delayMs: number,
  ): void {
    // Due and ordered as a timer set now would be, without the timer.
    const clock = this.#clock;
    this.#queue.push(
      clock.now() + normalizeDelayMs(delayMs),
      clock.takeSequence(),
      source,
      target,
      bytes,
    );
  }

  /**
   * Runs when the clock reaches the earliest queued datagram (the network is
   * one of its event sources): takes it out of the queue and delivers it.
   */
  #deliverNext(): void {
    const queue = this.#queue;
    const slot = queue.pop();
    let source = queue.source(slot);
    const target = queue.target(slot);
    const bytes = queue.release(slot);
    let translated: NatPacket | undefined;
    if (source < 0) {
      translated = this.#nat.take(source);
      source = translated.source;
    }
    if (this.#transports[target] === undefined || this.#down[target] !== 0) {
      this.#drops.offline++;
      return;
    }
    if (this.#partitioned && this.#groups[source] !== this.#groups[target]) {
      this.#drops.partition++;
      return;
    }
    if (
      translated !== undefined &&
      !this.#nat.admits(this.#clock.now(), translated)
    ) return;
    const length = bytes.length;
    this.#messagesReceived[target]++;
    this.#bytesReceived[target] += length;
    this.#totalMessagesReceived++;
    this.#totalBytesReceived += length;
    this.#observer?.("received", source, target, bytes);
    this.#handlers[target]?.(
      bytes,
      translated?.from ?? this.#addresses[source],
    );
  }
}
