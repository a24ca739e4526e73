/**
 * Daemons with Jami accounts on a simulated network, for the
 * `jami_account_*` tests: virtual time advanced in 100 ms steps, each step
 * waiting for the daemons' CPU work (RSA signatures, decryptions, chain
 * checks, state writes) so results are the same on a slow machine.
 */
import { Daemon } from "../../lib/daemon/daemon.ts";
import type { ConfigurationEventMap } from "../../lib/daemon/configuration_manager.ts";
import type { PresenceEventMap } from "../../lib/daemon/presence_manager.ts";
import {
  ManualClock,
  MemoryStorage,
  seededRng,
  SimulatedNetwork,
} from "../../lib/testing/mod.ts";
import type { PeerAddress } from "../../lib/transport.ts";

/** RSA size of test identities: 2048 keeps key generation under a second. */
export const TEST_BITS = 2048;

/** Events a daemon emitted, in order, with the account they concern. */
export interface Logged {
  readonly type: string;
  readonly detail: Record<string, unknown>;
  readonly atMs: number;
}

/** One daemon of the swarm and what it emitted. */
export interface Node {
  daemon: Daemon;
  readonly storage: MemoryStorage;
  readonly events: Logged[];
  readonly seed: number;
}

const CONFIG_EVENTS: (keyof ConfigurationEventMap)[] = [
  "incomingTrustRequest",
  "contactAdded",
  "contactRemoved",
  "trustRequestDelivered",
  "trustRequestAccepted",
  "trustRequestExpired",
  "confirmationDelivered",
  "confirmationExpired",
];

/** Daemons on one simulated network and one virtual clock. */
export class JamiSwarm {
  readonly clock = new ManualClock(1_800_000_000_000);
  readonly network = new SimulatedNetwork({
    clock: this.clock,
    rng: seededRng(7),
  });
  readonly nodes: Node[] = [];
  /** Plain daemons (no account) that keep values while test devices come and go. */
  readonly relays: Daemon[] = [];
  #bootstrap: PeerAddress[] = [];

  /** Opens the relays once: two daemons without accounts. */
  async #relays(): Promise<void> {
    if (this.relays.length > 0) return;
    for (let i = 0; i < 2; i++) {
      const relay = await Daemon.open({
        transport: this.network.attach(),
        clock: this.clock,
        rng: seededRng(1_000 + i),
        storage: new MemoryStorage(),
        scryptLog2N: 10,
        dht: { bootstrap: this.#bootstrap },
      });
      if (this.#bootstrap.length === 0) this.#bootstrap = [relay.dht.address];
      relay.start();
      this.relays.push(relay);
    }
  }

  /**
   * Opens (and starts) a daemon; two relays opened first are everybody's
   * bootstrap.
   *
   * @param storage Reuse a storage to restart a device.
   * @returns The node.
   */
  async add(storage = new MemoryStorage()): Promise<Node> {
    await this.#relays();
    const seed = this.nodes.length + 2;
    const daemon = await Daemon.open({
      transport: this.network.attach(),
      clock: this.clock,
      rng: seededRng(seed),
      storage,
      scryptLog2N: 10,
      dht: { bootstrap: this.#bootstrap },
    });
    const node: Node = { daemon, storage, events: [], seed };
    this.#log(node);
    this.nodes.push(node);
    daemon.start();
    return node;
  }

  /**
   * Restarts a node's daemon on its storage (after a stop or crash).
   *
   * @param node The node.
   */
  async reopen(node: Node): Promise<void> {
    node.daemon = await Daemon.open({
      transport: this.network.attach(),
      clock: this.clock,
      rng: seededRng(node.seed + 100),
      storage: node.storage,
      scryptLog2N: 10,
      dht: { bootstrap: this.#bootstrap },
    });
    this.#log(node);
    node.daemon.start();
  }

  #log(node: Node): void {
    const push = (type: string, detail: unknown) =>
      node.events.push({
        type,
        detail: detail as Record<string, unknown>,
        atMs: this.clock.now(),
      });
    for (const type of CONFIG_EVENTS) {
      node.daemon.config.on(type, (detail) => push(type, detail));
    }
    node.daemon.presence.on(
      "newBuddyNotification",
      (detail: PresenceEventMap["newBuddyNotification"]) =>
        push("newBuddyNotification", detail),
    );
  }

  /**
   * Advances virtual time by `ms` in 100 ms steps, letting every daemon's
   * pending work finish after each step.
   *
   * @param ms Milliseconds of virtual time.
   */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      this.clock.advance(100);
      for (const relay of this.relays) await relay.whenIdle();
      for (const node of this.nodes) await node.daemon.whenIdle();
    }
  }

  /**
   * Runs until `check` holds, at most `limitMs` of virtual time.
   *
   * @param check The condition.
   * @param limitMs Longest wait.
   * @returns Virtual milliseconds waited (or -1 if it never held).
   */
  async until(check: () => boolean, limitMs: number): Promise<number> {
    for (let t = 0; t <= limitMs; t += 100) {
      if (check()) return t;
      await this.run(100);
    }
    return -1;
  }

  /** Stops every daemon (goodbyes run on the virtual clock). */
  async stopAll(): Promise<void> {
    const stopping = Promise.all([
      ...this.nodes.map((n) => n.daemon.stop()),
      ...this.relays.map((relay) => relay.stop()),
    ]);
    await this.run(3_000);
    await stopping;
  }
}

/**
 * Events of one type.
 *
 * @param node The node.
 * @param type Event type.
 * @returns Their details.
 */
export function eventsOf(node: Node, type: string): Record<string, unknown>[] {
  return node.events.filter((e) => e.type === type).map((e) => e.detail);
}
