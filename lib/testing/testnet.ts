/**
 * `Testnet`: many real {@link DhtNode}s on one {@link SimulatedNetwork}, in
 * virtual time, built in one call. Scenarios and tests use it to start a
 * network, crash, restart and remove nodes, and to ask what the true closest
 * online nodes to a key are.
 *
 * Nodes join one after another, {@link TestnetOptions.joinSpacingMs} apart,
 * each bootstrapping from up to three random nodes that joined before it.
 *
 * @example A 30-node network where every node knows some others
 * ```ts
 * import assert from "node:assert/strict";
 * import { Testnet } from "./testnet.ts";
 *
 * const net = Testnet.create({ nodes: 30, seed: 1 });
 * assert.ok(net.nodes.every((node) => node.routingTable.size > 0));
 * net.stop();
 * ```
 *
 * @module
 */
import { DhtNode, type DhtNodeConfig } from "../dht/dht_node.ts";
import { STOCK_OPENDHT_STORE_POLICY } from "../dht/store_policy.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import { ManualClock } from "./manual_clock.ts";
import { forkRng, randomInt, type Rng, rngBytes, seededRng } from "../rng.ts";
import type { PeerAddress } from "../transport.ts";
import { CoordinateLatency } from "./latency.ts";
import {
  SimulatedNetwork,
  type SimulatedTransport,
} from "./simulated_network.ts";

/** Virtual start time of every simulation: 2026-01-01T00:00:00Z. */
export const SIMULATION_EPOCH_MS: number = Date.UTC(2026, 0, 1);

/** Options of {@link Testnet.create}. */
export interface TestnetOptions {
  /** DHT nodes to build, joined one at a time `joinSpacingMs` apart. */
  readonly nodes: number;
  /** Seed of everything random. */
  readonly seed: number | string;
  /** Packet loss probability on every link. @default {0} */
  readonly lossProbability?: number;
  /** Median one-way latency. @default {50} */
  readonly medianOneWayMs?: number;
  /** Settings given to every node. */
  readonly nodeConfig?: DhtNodeConfig;
  /** Virtual time between two joins. @default {20} */
  readonly joinSpacingMs?: number;
  /** Virtual time to let the network settle after the last join. @default {30000} */
  readonly settleMs?: number;
  /** Called every 1,000 joins (progress on long builds). */
  readonly onProgress?: (joined: number) => void;
  /**
   * Share (0..1) of the nodes that behave as stock OpenDHT 2.4 nodes
   * ({@link STOCK_OPENDHT_STORE_POLICY}: our value types unknown to them),
   * chosen per node from the seed; a restarted node keeps its kind.
   * @default {0}
   */
  readonly stockShare?: number;
}

/** A simulated network of DHT nodes. */
export class Testnet {
  /** Virtual clock of the whole network. */
  readonly clock: ManualClock;
  /** The simulated datagram network the nodes' transports are attached to. */
  readonly network: SimulatedNetwork;
  /** Nodes by host index (a crashed node stays here, stopped). */
  readonly nodes: DhtNode[] = [];
  /** Transports by host index. */
  readonly transports: SimulatedTransport[] = [];
  /** Random source for scenario decisions. */
  readonly rng: Rng;
  readonly #seedRng: Rng;
  readonly #config: DhtNodeConfig;
  readonly #online: boolean[] = [];
  /** Draws which nodes are stock; undefined when none are (no draw at all then). */
  readonly #stockRng?: Rng;
  readonly #stockShare: number;
  /** Host indexes of the stock nodes. */
  readonly #stock = new Set<number>();

  private constructor(options: TestnetOptions) {
    const root = seededRng(options.seed);
    this.clock = new ManualClock(SIMULATION_EPOCH_MS);
    this.network = new SimulatedNetwork({
      clock: this.clock,
      rng: forkRng(root, "network"),
      latency: new CoordinateLatency(forkRng(root, "latency"), {
        medianOneWayMs: options.medianOneWayMs ?? 50,
      }),
      lossProbability: options.lossProbability ?? 0,
      // DhtNode encodes a fresh buffer per datagram and never reuses it.
      copyPayloads: false,
    });
    this.rng = forkRng(root, "scenario");
    this.#seedRng = forkRng(root, "nodes");
    this.#config = options.nodeConfig ?? {};
    this.#stockShare = options.stockShare ?? 0;
    // Forked last, and only when asked, so that runs without stock nodes
    // draw exactly what they drew before the option existed.
    if (this.#stockShare > 0) this.#stockRng = forkRng(root, "stock");
  }

  /**
   * Builds and starts a network, advancing virtual time until it settles.
   *
   * @param options Size, seed and settings.
   * @returns The network.
   */
  static create(options: TestnetOptions): Testnet {
    const net = new Testnet(options);
    const spacing = options.joinSpacingMs ?? 20;
    for (let i = 0; i < options.nodes; i++) {
      net.addNode();
      net.clock.advance(spacing);
      if ((i + 1) % 1_000 === 0) options.onProgress?.(i + 1);
    }
    net.clock.advance(options.settleMs ?? 30_000);
    return net;
  }

  /** Number of nodes (online or not). */
  get size(): number {
    return this.nodes.length;
  }

  /**
   * Whether node `index` is running.
   *
   * @param index Host index.
   * @returns True if online.
   */
  isOnline(index: number): boolean {
    return this.#online[index] ?? false;
  }

  /** Indexes of running nodes. */
  onlineIndexes(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      if (this.#online[i]) out.push(i);
    }
    return out;
  }

  /**
   * Whether node `index` plays a stock OpenDHT 2.4 node.
   *
   * @param index Host index.
   * @returns True for a stock node.
   */
  isStock(index: number): boolean {
    return this.#stock.has(index);
  }

  /** Settings of node `index`: the shared ones, with its store policy. */
  #configFor(index: number): DhtNodeConfig {
    return this.#stock.has(index)
      ? {
        ...this.#config,
        storePolicy: STOCK_OPENDHT_STORE_POLICY,
        sendSeenPort: false,
      }
      : this.#config;
  }

  #bootstrapFor(index: number): PeerAddress[] {
    const online = this.onlineIndexes().filter((i) => i !== index);
    const picks: PeerAddress[] = [];
    for (let k = 0; k < 3 && online.length > 0; k++) {
      const choice = online.splice(randomInt(this.rng, online.length), 1)[0];
      picks.push(this.transports[choice].localAddress);
    }
    return picks;
  }

  /**
   * Adds and starts one node.
   *
   * @returns Its host index.
   */
  addNode(): number {
    const transport = this.network.attach();
    const index = transport.hostIndex;
    if (this.#stockRng !== undefined && this.#stockRng() < this.#stockShare) {
      this.#stock.add(index);
    }
    const rng = forkRng(this.#seedRng, `node-${index}`);
    // Seeded "secure" bytes: the simulation replays; real nodes use the system's.
    const randomBytes = rngBytes(forkRng(rng, "bytes"));
    const node = new DhtNode(
      { transport, clock: this.clock, rng, randomBytes },
      {
        ...this.#configFor(index),
        bootstrap: this.#bootstrapFor(index),
      },
    );
    this.transports[index] = transport;
    this.nodes[index] = node;
    this.#online[index] = true;
    node.start();
    return index;
  }

  /**
   * Kills node `index` without a word: its timers stop and packets to it are
   * lost.
   *
   * @param index Host index.
   */
  crash(index: number): void {
    if (!this.#online[index]) return;
    this.nodes[index].stop();
    this.network.setHostOnline(index, false);
    this.#online[index] = false;
  }

  /**
   * Brings node `index` back with the same id and address (its storage,
   * kept in memory as in OpenDHT, starts empty).
   *
   * @param index Host index.
   */
  restart(index: number): void {
    if (this.#online[index]) return;
    const old = this.nodes[index];
    this.network.setHostOnline(index, true);
    const rng = forkRng(this.#seedRng, `node-${index}-${this.clock.now()}`);
    const node = new DhtNode({
      transport: this.transports[index],
      clock: this.clock,
      rng,
      randomBytes: rngBytes(forkRng(rng, "bytes")),
    }, {
      ...this.#configFor(index),
      id: old.id,
      bootstrap: this.#bootstrapFor(index),
    });
    this.nodes[index] = node;
    this.#online[index] = true;
    node.start();
  }

  /**
   * Ids of the `count` online nodes closest to `target` (global knowledge).
   *
   * @param target Target id.
   * @param count How many.
   * @returns Their ids, closest first.
   */
  closestOnline(target: InfoHash, count: number): InfoHash[] {
    const ids = this.onlineIndexes().map((i) => this.nodes[i].id);
    ids.sort((a, b) => target.compareDistance(a, b));
    return ids.slice(0, count);
  }

  /**
   * Advances virtual time.
   *
   * @param ms Virtual milliseconds; every timer due by then runs.
   */
  run(ms: number): void {
    this.clock.advance(ms);
  }

  /** Stops every node (timers, searches). */
  stop(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      if (this.#online[i]) this.nodes[i].stop();
      this.#online[i] = false;
    }
  }
}
