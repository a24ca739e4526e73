/**
 * `BootstrapJoiner`: how a node joins the network through its bootstrap
 * nodes, and keeps trying while none answers.
 *
 * A round pings every bootstrap address, then looks up our own id through
 * those that answered (`DhtNode.bootstrap`). If no node
 * answered and the routing table is still empty, the round is tried again
 * after 2 s, 4 s, 8 s, then every {@link MAX_JOIN_RETRY_MS}, for as long as
 * nobody answers (a round is a few datagrams); an answer ends the retries
 * and the next wait starts over at 2 s. OpenDHT's runner tries every 10 s
 * while disconnected; a node that only bootstrapped again at its
 * maintenance rounds (45 to 75 s apart) joined up to a minute after its
 * network came up, as for a laptop started before its Wi-Fi.
 *
 * Addresses can be added later ({@link BootstrapJoiner.add}: a bootstrap
 * name that resolved only once the network was up); if the node has not
 * joined, a round starts at once. At most {@link MAX_BOOTSTRAP_ADDRESSES}
 * are kept, without duplicates.
 *
 * @example A round that nobody answers is tried again after 2, 4, 8, 10 … s
 * ```ts
 * import assert from "node:assert/strict";
 * import { BootstrapJoiner } from "./bootstrap_joiner.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 *
 * const clock = new ManualClock(0);
 * const rounds: number[] = [];
 * const joiner = new BootstrapJoiner({
 *   clock,
 *   ping: (_address, onAnswer) => {
 *     rounds.push(clock.now());
 *     onAnswer(false); // nobody answered
 *   },
 *   findSelf: (onDone) => onDone(),
 *   joined: () => false,
 * }, [{ host: "192.0.2.1", port: 4222 }]);
 * joiner.join();
 * clock.advance(35_000);
 * assert.deepEqual(rounds, [0, 2_000, 6_000, 14_000, 24_000, 34_000]);
 * joiner.stop();
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import { formatAddress, type PeerAddress } from "../transport.ts";

/** The first wait before a round that nobody answered is tried again. */
export const FIRST_JOIN_RETRY_MS = 2_000;
/** The longest wait between two rounds (OpenDHT's runner waits 10 s). */
export const MAX_JOIN_RETRY_MS = 10_000;
/** Bootstrap addresses kept, at most. */
export const MAX_BOOTSTRAP_ADDRESSES = 64;

/** What a {@link BootstrapJoiner} drives. */
export interface BootstrapJoinerServices {
  /** Times the retries. */
  readonly clock: Clock;
  /**
   * Pings a bootstrap node (id unknown); the node takes an answer into its
   * routing table, then calls `onAnswer(true)`, or `onAnswer(false)` once
   * the ping failed.
   */
  ping(address: PeerAddress, onAnswer: (answered: boolean) => void): void;
  /** Looks up our own id (to fill the routing table), then calls `onDone`. */
  findSelf(onDone: () => void): void;
  /** Whether the node knows any node (it has joined, or others joined it). */
  joined(): boolean;
}

/** Bootstrap rounds, retried with backoff while nobody answers. */
export class BootstrapJoiner {
  readonly #services: BootstrapJoinerServices;
  readonly #addresses: PeerAddress[] = [];
  readonly #known = new Set<string>();
  #retryMs = FIRST_JOIN_RETRY_MS;
  #timer?: Timer;
  /** Numbers the rounds: only the newest one's outcome schedules a retry. */
  #round = 0;
  /** Between the first `join` and `stop`. */
  #active = false;

  /**
   * A joiner over `addresses` (duplicates and those past
   * {@link MAX_BOOTSTRAP_ADDRESSES} left out).
   *
   * @param services Clock, the node's bootstrap and whether it joined.
   * @param addresses Bootstrap nodes.
   */
  constructor(
    services: BootstrapJoinerServices,
    addresses: readonly PeerAddress[],
  ) {
    this.#services = services;
    this.#keep(addresses);
  }

  /** The bootstrap addresses kept. */
  get addresses(): readonly PeerAddress[] {
    return this.#addresses;
  }

  /**
   * Starts a round now (a pending retry is cancelled; its wait keeps
   * growing unless this round gets an answer). Nothing without addresses.
   */
  join(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#active = true;
    if (this.#addresses.length === 0) return;
    const round = ++this.#round;
    this.round(this.#addresses, (answered) => {
      if (round !== this.#round) return;
      if (answered > 0 || this.#services.joined()) {
        this.#retryMs = FIRST_JOIN_RETRY_MS;
        return;
      }
      this.#timer = this.#services.clock.setTimer(
        this.#retryMs,
        () => this.join(),
      );
      this.#retryMs = Math.min(2 * this.#retryMs, MAX_JOIN_RETRY_MS);
    });
  }

  /**
   * One round, without retries: pings `addresses` and, once one answered,
   * looks up our own id; then calls `onDone` with how many answered.
   *
   * @param addresses Bootstrap nodes.
   * @param onDone Called once, when every ping answered or failed (and the
   *   look-up ended).
   */
  round(
    addresses: readonly PeerAddress[],
    onDone?: (answered: number) => void,
  ): void {
    let waiting = addresses.length;
    let answered = 0;
    if (waiting === 0) onDone?.(0);
    for (const address of addresses) {
      this.#services.ping(address, (ok) => {
        if (ok) answered += 1;
        if (--waiting > 0) return;
        if (answered > 0) this.#services.findSelf(() => onDone?.(answered));
        else onDone?.(0);
      });
    }
  }

  /**
   * Adds bootstrap addresses; if one is new and the node has not joined (and
   * is joining: between `join` and `stop`), a round starts at once through
   * all of them.
   *
   * @param addresses Addresses, e.g. a bootstrap name just resolved.
   * @returns How many were new (and kept).
   */
  add(addresses: readonly PeerAddress[]): number {
    const added = this.#keep(addresses);
    if (added > 0 && this.#active && !this.#services.joined()) this.join();
    return added;
  }

  /** Stops the retries; a round still out is ignored. `join` starts again. */
  stop(): void {
    this.#active = false;
    this.#round += 1;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#retryMs = FIRST_JOIN_RETRY_MS;
  }

  #keep(addresses: readonly PeerAddress[]): number {
    let added = 0;
    for (const address of addresses) {
      if (this.#addresses.length >= MAX_BOOTSTRAP_ADDRESSES) break;
      const key = formatAddress(address);
      if (this.#known.has(key)) continue;
      this.#known.add(key);
      this.#addresses.push({ host: address.host, port: address.port });
      added += 1;
    }
    return added;
  }
}
