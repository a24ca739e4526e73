/**
 * `DaemonSwarm`: real {@link Daemon}s (accounts, presence, trust requests)
 * on a simulated network, next to a {@link Testnet} of plain DHT nodes that
 * plays the public DHT. Devices start, stop cleanly (with their goodbye),
 * crash, and restart from their storage, in virtual time.
 *
 * Daemon state writes are asynchronous (they go through `Storage`); `run()`
 * advances the clock in small steps and lets pending writes finish after
 * each, so the order of events is the same on every run with a seed.
 *
 * @example Two devices become contacts on a 40-node DHT
 * ```ts
 * import assert from "node:assert/strict";
 * import { DaemonSwarm } from "./daemon_swarm.ts";
 *
 * const swarm = await DaemonSwarm.create({ seed: 1, infraNodes: 40 });
 * const alice = await swarm.addDevice();
 * const bob = await swarm.addDevice();
 * const a = await swarm.createAccount(alice);
 * const b = await swarm.createAccount(bob);
 * swarm.start(alice);
 * swarm.start(bob);
 * await swarm.run(5_000);
 * await alice.daemon!.config.sendTrustRequest(a, b, new Uint8Array([1]));
 * await swarm.run(5_000);
 * assert.equal(bob.daemon!.config.getTrustRequests(b).length, 1);
 * swarm.shutdown();
 * ```
 *
 * @module
 */
import { Daemon } from "../lib/daemon/daemon.ts";
import { WorkTracker } from "../lib/daemon/work_tracker.ts";
import { RelayServer } from "../lib/channel/relay_server.ts";
import type { DhtNodeConfig } from "../lib/dht/dht_node.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";
import type { ManualClock } from "../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import {
  OUR_PROFILE,
  presenceNodeConfig,
  type PresenceProfile,
} from "../lib/presence/presence_profile.ts";
import {
  forkRng,
  randomInt,
  type Rng,
  rngBytes,
  seededRng,
} from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import type {
  SimulatedNetwork,
  SimulatedTransport,
} from "../lib/testing/simulated_network.ts";
import { SimulatedStreamNetwork } from "./stream_network.ts";
import { type NatSpec, pickNatKind } from "./nat_spec.ts";
import { Testnet } from "../lib/testing/testnet.ts";

/** Options of {@link DaemonSwarm.create}. */
export interface DaemonSwarmOptions {
  /** Seed of everything random. */
  readonly seed: number | string;
  /** Plain DHT nodes (always on) that form the public DHT. @default {200} */
  readonly infraNodes?: number;
  /** Profile of every daemon and node. @default {OUR_PROFILE} */
  readonly profile?: PresenceProfile;
  /** Packet loss on every link. @default {0} */
  readonly lossProbability?: number;
  /** Median one-way latency. @default {50} */
  readonly medianOneWayMs?: number;
  /** Devices behind NATs, by kind (plain DHT nodes stay public). @default {none} */
  readonly nat?: NatSpec;
  /** Extra DHT settings of the daemons' nodes (not the plain ones). @default {none} */
  readonly deviceDht?: Omit<DhtNodeConfig, "bootstrap" | "id">;
  /** Called with the count of plain DHT nodes joined, every 1,000, while the DHT builds. */
  readonly onProgress?: (joined: number) => void;
  /** Share of the plain DHT nodes that behave as stock OpenDHT 2.4 (see `TestnetOptions.stockShare`). @default {0} */
  readonly stockShare?: number;
  /**
   * A public host serving as a relay (`RelayServer`) that every daemon
   * names as its configured relay (`DaemonOptions.relay`). @default {false}
   */
  readonly relay?: boolean;
}

/** One simulated device. */
export interface DeviceSlot {
  /** Host index on the network. */
  readonly index: number;
  /** Its transport (kept across restarts: same address). */
  readonly transport: SimulatedTransport;
  /** Its durable storage (kept across crashes). */
  readonly storage: MemoryStorage;
  /** The running (or last) daemon. */
  daemon?: Daemon;
  /** Its DHT node id (kept across restarts). */
  dhtId?: InfoHash;
  /** Whether its daemon runs: false from a stop or crash until a restart has started it. */
  online: boolean;
  /** Restarts so far; also names the rng fork of each new daemon, so each restart gets fresh, reproducible randomness. */
  restarts: number;
  /** True while a restart reopens it from storage, so that a second restart does nothing. */
  restarting?: boolean;
}

/** Daemons on a simulated DHT. */
export class DaemonSwarm {
  /** The plain DHT nodes (and the clock and network). */
  readonly testnet: Testnet;
  /** State writes in flight, across all daemons. */
  readonly work: WorkTracker = new WorkTracker();
  /** Every device added, in the order added, online or not. */
  readonly devices: DeviceSlot[] = [];
  /** Presence profile of every daemon and plain node (from the options, or OUR_PROFILE). */
  readonly profile: PresenceProfile;
  /** Simulated TCP for the daemons' direct links. */
  readonly streams: SimulatedStreamNetwork;
  /** Called each time a device's daemon starts (first start and restarts). */
  onStart?: (slot: DeviceSlot) => void;
  /**
   * Called after each timer (or step) that {@link DaemonSwarm.run} fires,
   * once the work it started has finished: for progress display only, it
   * must not change the simulation.
   */
  onStep?: () => void;
  readonly #rng: Rng;
  readonly #pickRng: Rng;
  readonly #deviceDht: Omit<DhtNodeConfig, "bootstrap" | "id">;
  readonly #starting: DeviceSlot[] = [];
  readonly #nat: NatSpec | undefined;
  readonly #natRng: Rng;
  /** Links opened by daemons no longer running (their counters are gone with them). */
  readonly #pastLinks = { tcp: 0, punched: 0 };
  /** The relay every daemon names, when asked for. */
  readonly relay: RelayServer | undefined;
  readonly #relayAddress: PeerAddress | undefined;

  private constructor(testnet: Testnet, options: DaemonSwarmOptions) {
    this.testnet = testnet;
    this.streams = new SimulatedStreamNetwork(testnet.network, testnet.clock);
    this.profile = options.profile ?? OUR_PROFILE;
    const root = seededRng(`${options.seed}/devices`);
    this.#rng = forkRng(root, "daemons");
    this.#pickRng = forkRng(root, "bootstrap");
    this.#nat = options.nat;
    this.#natRng = forkRng(root, "nat");
    this.#deviceDht = options.deviceDht ?? {};
    if (options.relay === true) {
      const socket = testnet.network.attach();
      this.#relayAddress = socket.localAddress;
      this.relay = new RelayServer({
        socket,
        clock: testnet.clock,
        randomBytes: rngBytes(forkRng(root, "relay")),
      });
    }
  }

  /**
   * Builds the plain DHT (joins, then 30 s to settle).
   *
   * @param options Seed, size of the plain DHT, profile and network conditions.
   * @returns The swarm, with no device yet.
   */
  static create(options: DaemonSwarmOptions): Promise<DaemonSwarm> {
    const profile = options.profile ?? OUR_PROFILE;
    const testnet = Testnet.create({
      nodes: options.infraNodes ?? 200,
      seed: options.seed,
      lossProbability: options.lossProbability,
      medianOneWayMs: options.medianOneWayMs,
      nodeConfig: presenceNodeConfig(profile),
      onProgress: options.onProgress,
      stockShare: options.stockShare,
    });
    return Promise.resolve(new DaemonSwarm(testnet, options));
  }

  /** The virtual clock every node and daemon runs on. */
  get clock(): ManualClock {
    return this.testnet.clock;
  }

  /** The simulated datagram network under the plain nodes and the daemons. */
  get network(): SimulatedNetwork {
    return this.testnet.network;
  }

  #bootstrap(): PeerAddress[] {
    const online = this.testnet.onlineIndexes();
    const picks: PeerAddress[] = [];
    for (let k = 0; k < 3 && online.length > 0; k++) {
      const choice =
        online.splice(randomInt(this.#pickRng, online.length), 1)[0];
      picks.push(this.testnet.transports[choice].localAddress);
    }
    return picks;
  }

  async #open(slot: DeviceSlot): Promise<Daemon> {
    const rng = forkRng(this.#rng, `device-${slot.index}-${slot.restarts}`);
    const daemon = await Daemon.open({
      transport: slot.transport,
      clock: this.clock,
      rng,
      // Seeded key material and DHT secrets, so that the simulation replays
      // (a real daemon takes the system's generator).
      randomBytes: rngBytes(forkRng(rng, "bytes")),
      storage: slot.storage,
      profile: this.profile,
      scryptLog2N: 10,
      work: this.work,
      dht: { ...this.#deviceDht, bootstrap: this.#bootstrap(), id: slot.dhtId },
      streams: this.streams.host(slot.index),
      ...(this.#relayAddress === undefined
        ? {}
        : { relay: this.#relayAddress }),
    });
    slot.dhtId = daemon.dht.id;
    return daemon;
  }

  /**
   * Adds a device (offline until {@link DaemonSwarm.start}).
   *
   * @returns The device.
   */
  async addDevice(): Promise<DeviceSlot> {
    const transport = this.network.attach();
    this.network.setHostOnline(transport.hostIndex, false);
    if (this.#nat !== undefined && this.#nat.shares.length > 0) {
      const kind = pickNatKind(this.#nat, this.#natRng());
      if (kind !== undefined) {
        this.network.putBehindNat(transport.hostIndex, {
          kind,
          rng: forkRng(this.#natRng, `box-${transport.hostIndex}`),
          timeoutMs: this.#nat.timeoutMs,
          // Linux masquerade and most home routers keep the host's port when
          // it is free; a symmetric NAT maps each destination apart.
          preservePort: kind !== "symmetric",
        });
      }
    }
    const slot: DeviceSlot = {
      index: transport.hostIndex,
      transport,
      storage: new MemoryStorage(),
      online: false,
      restarts: 0,
    };
    slot.daemon = await this.#open(slot);
    this.devices.push(slot);
    return slot;
  }

  /**
   * Creates an account on `slot`.
   *
   * @param slot A running device with no account yet.
   * @returns Account id.
   */
  async createAccount(slot: DeviceSlot): Promise<string> {
    return await slot.daemon!.createAccount({ deviceName: `d${slot.index}` });
  }

  /**
   * Links `slot` to the account of `from` (a second device).
   *
   * @param slot New device.
   * @param from A device of the account.
   * @param accountId The account of `from` to link to; exported and imported with a fixed passphrase.
   * @returns Account id.
   */
  async linkDevice(
    slot: DeviceSlot,
    from: DeviceSlot,
    accountId: string,
  ): Promise<string> {
    const archive = await from.daemon!.exportAccount(accountId, "link");
    return await slot.daemon!.linkDevice(archive, "link", {
      deviceName: `d${slot.index}`,
    });
  }

  /**
   * Brings a device online (its daemon starts).
   *
   * @param slot A device that is not running; does nothing if it is.
   */
  start(slot: DeviceSlot): void {
    if (slot.online) return;
    slot.online = true;
    this.network.setHostOnline(slot.index, true);
    slot.daemon!.start();
    this.onStart?.(slot);
  }

  /**
   * Clean shutdown: goodbye, state flushed; the host goes offline once done.
   *
   * @param slot A running device; does nothing if it is not.
   * @returns Resolves when stopped (run the clock meanwhile).
   */
  stop(slot: DeviceSlot): Promise<void> {
    if (!slot.online) return Promise.resolve();
    slot.online = false;
    this.#tallyLinks(slot, this.#pastLinks);
    // Not tracked by `work`: the goodbye waits on the clock.
    return slot.daemon!.stop().then(() => {
      if (slot.online) return;
      this.network.setHostOnline(slot.index, false);
      this.streams.hostDown(slot.index);
    });
  }

  /**
   * Kills a device: no goodbye, no final write, packets to it are lost.
   *
   * @param slot A running device; does nothing if it is not.
   */
  crash(slot: DeviceSlot): void {
    if (!slot.online) return;
    slot.online = false;
    this.#tallyLinks(slot, this.#pastLinks);
    slot.daemon!.crash();
    this.network.setHostOnline(slot.index, false);
    this.streams.hostDown(slot.index);
  }

  /**
   * Cuts a running device's network, or gives it back: its daemon keeps
   * running, but nothing it sends leaves and nothing reaches it (datagrams
   * and link bytes alike), as when a laptop loses its Wi-Fi. Open links are
   * not closed: they fall silent, as TCP does.
   *
   * @param slot A running device; does nothing if it is not running.
   * @param cut True to cut, false to restore.
   */
  setNetworkCut(slot: DeviceSlot, cut: boolean): void {
    if (!slot.online) return;
    this.network.setHostOnline(slot.index, !cut);
  }

  /**
   * Reopens a stopped or crashed device from its storage and starts it.
   * Opening is asynchronous (archive decryption); the device starts at the
   * end of the current `run()` step, in index order, so runs replay exactly.
   *
   * @param slot A stopped or crashed device; does nothing if it runs or is already restarting.
   * @returns Resolves once it is open (it starts at the end of the step).
   */
  restart(slot: DeviceSlot): Promise<void> {
    if (slot.online || slot.restarting) return Promise.resolve();
    slot.restarting = true;
    slot.restarts += 1;
    return this.work.track(
      this.#open(slot).then((daemon) => {
        slot.daemon = daemon;
        this.#starting.push(slot);
      }),
    );
  }

  #startQueued(): void {
    if (this.#starting.length === 0) return;
    const queued = this.#starting.splice(0).sort((a, b) => a.index - b.index);
    for (const slot of queued) {
      slot.restarting = false;
      this.start(slot);
    }
  }

  /**
   * Advances virtual time by `ms`. By default one timer at a time: whenever
   * a timer started asynchronous work (a state write, a device reopening),
   * that work finishes before the next timer runs, as it would on a real
   * machine where it takes microseconds. With `stepMs`, time moves in steps
   * and work finishes at the end of each (faster for long runs; effects of
   * a write are then late by up to a step).
   *
   * @param ms Virtual milliseconds to advance.
   * @param stepMs Step, or undefined for timer by timer.
   */
  async run(ms: number, stepMs?: number): Promise<void> {
    const end = this.clock.now() + ms;
    const clock = this.clock;
    for (;;) {
      if (stepMs === undefined) {
        if (!clock.runNext(end)) break;
      } else {
        if (clock.now() >= end) break;
        clock.advanceTo(Math.min(end, clock.now() + stepMs));
      }
      // One microtask turn either way (as awaiting #settle() took when idle),
      // without an async call per timer when nothing is pending.
      if (this.work.size > 0 || this.#starting.length > 0) {
        await this.#settle();
      } else await undefined;
      this.onStep?.();
    }
    // Devices reopened since the last timer start now, too.
    await this.#settle();
    clock.advanceTo(end);
  }

  async #settle(): Promise<void> {
    while (this.work.size > 0 || this.#starting.length > 0) {
      await this.work.whenIdle();
      this.#startQueued();
    }
  }

  /**
   * Bytes sent and received by these devices' hosts so far.
   *
   * @param slots The devices to sum over, online or not.
   * @returns Total bytes.
   */
  deviceBytes(slots: readonly DeviceSlot[]): number {
    let total = 0;
    for (const slot of slots) {
      const stats = this.network.hostStats(slot.index);
      total += stats.bytesSent + stats.bytesReceived;
    }
    return total;
  }

  /**
   * Direct-link (stream) bytes sent and received by these devices' hosts,
   * TCP/IP headers included.
   *
   * @param slots The devices to sum over, online or not.
   * @returns Total bytes.
   */
  linkBytes(slots: readonly DeviceSlot[]): number {
    let total = 0;
    for (const slot of slots) total += this.streams.bytes(slot.index);
    return total;
  }

  /**
   * Direct links opened so far by every daemon (stopped ones included), by
   * path: TCP, or UDP through a punched hole. A link counts once per side.
   *
   * @returns Counts.
   */
  linksOpened(): { tcp: number; punched: number } {
    const total = { ...this.#pastLinks };
    for (const slot of this.devices) {
      if (slot.online) this.#tallyLinks(slot, total);
    }
    return total;
  }

  #tallyLinks(
    slot: DeviceSlot,
    into: { tcp: number; punched: number },
  ): void {
    const daemon = slot.daemon;
    if (daemon === undefined) return;
    for (const id of daemon.listAccounts()) {
      if (daemon.accountKind(id) !== "dht-contacts") continue;
      const counters = daemon.account(id).linkCounters;
      into.punched += counters.punchedLinksOpened;
      into.tcp += counters.linksOpened - counters.punchedLinksOpened;
    }
  }

  /** Stops every daemon and node at once (end of a scenario). */
  shutdown(): void {
    for (const slot of this.devices) {
      if (slot.online) slot.daemon!.crash();
      slot.online = false;
    }
    this.relay?.close();
    this.testnet.stop();
  }
}
