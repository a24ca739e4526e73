/**
 * Our public IP address as DHT peers see it. OpenDHT replies carry `sa`:
 * the requester's IP as the replier saw it (no port; docs/opendht-wire.md).
 * Behind a NAT that is the NAT's public address, which a device needs for
 * its link candidates (docs/links.md, "Links through NATs").
 *
 * Votes count only from replies that matched one of our requests by
 * transaction id and source address, so an off-path spoofer cannot vote.
 * A replier (by its IP) holds one vote, its latest; the tracker keeps the
 * `maxVoters` most recent voters. The address is believed once at least
 * `quorum` distinct repliers (default 3) agree on it and they are more than
 * half of the voters: one hostile node, or a few on one host, cannot make
 * us believe a false address, and a changed address (new network, NAT
 * reboot) wins once recent repliers agree on it.
 *
 * @example Three repliers agree
 * ```ts
 * import assert from "node:assert/strict";
 * import { ObservedAddress } from "./observed_address.ts";
 *
 * const observed = new ObservedAddress();
 * observed.vote("198.51.100.1", "203.0.113.7");
 * observed.vote("198.51.100.1", "203.0.113.66"); // same replier: replaces its vote
 * observed.vote("198.51.100.2", "203.0.113.7");
 * assert.equal(observed.host, undefined);
 * observed.vote("198.51.100.1", "203.0.113.7");
 * observed.vote("198.51.100.3", "203.0.113.7");
 * assert.equal(observed.host, "203.0.113.7");
 * ```
 *
 * @module
 */

/** Options of {@link ObservedAddress}. */
import { RecentVotes } from "./_recent_votes.ts";

export interface ObservedAddressOptions {
  /** Distinct repliers that must agree. @default {3} */
  readonly quorum?: number;
  /** Most recent voters kept. @default {16} */
  readonly maxVoters?: number;
}

/** Our public IP as a majority of recent DHT repliers saw it; see the module documentation. */
export class ObservedAddress {
  readonly #quorum: number;
  /** Each recent replier's latest vote: the host it saw. */
  readonly #votes: RecentVotes<string>;
  #host: string | undefined;

  /**
   * An empty tracker.
   *
   * @param options Quorum and bound.
   * @throws {RangeError} If `quorum` is below 1 or above `maxVoters`.
   */
  constructor(options: ObservedAddressOptions = {}) {
    const { quorum = 3, maxVoters = 16 } = options;
    if (
      !Number.isInteger(quorum) || !Number.isInteger(maxVoters) ||
      quorum < 1 || quorum > maxVoters
    ) {
      throw new RangeError(
        `Cannot track observed address: quorum ${quorum} must be from 1 to maxVoters ${maxVoters}`,
      );
    }
    this.#quorum = quorum;
    this.#votes = new RecentVotes(maxVoters);
  }

  /**
   * The address a majority of at least `quorum` recent repliers saw.
   *
   * @returns The host text, or `undefined` while no address has that support.
   */
  get host(): string | undefined {
    return this.#host;
  }

  /**
   * Records what one replier saw.
   *
   * @param replier The replier's IP (one vote per IP).
   * @param seen The host it reported (`sa`, decoded).
   * @returns Whether {@link ObservedAddress.host} changed.
   */
  vote(replier: string, seen: string): boolean {
    // The usual case, a known replier saying the same again: no count (so
    // no winner) changes.
    if (!this.#votes.record(replier, seen)) return false;
    // Only `seen` gained a vote (another may have lost one), and the voters
    // grew or stayed: a host that holds a strict majority with the quorum
    // now either held it before (so it was the host) or is `seen`.
    // Majorities are unique, so checking those two gives what counting
    // every host would.
    const before = this.#host;
    this.#host = this.#holds(before)
      ? before
      : this.#holds(seen)
      ? seen
      : undefined;
    return this.#host !== before;
  }

  /** Whether `host` is named by a strict majority of the votes, with the quorum. */
  #holds(host: string | undefined): boolean {
    if (host === undefined) return false;
    const seens = this.#votes.votes;
    let count = 0;
    for (let i = 0; i < seens.length; i++) if (seens[i] === host) count++;
    return count >= this.#quorum && count * 2 > seens.length;
  }
}
