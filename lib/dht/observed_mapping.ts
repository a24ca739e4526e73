/**
 * How our NAT maps our DHT socket, as our own DHT nodes see it. Their
 * replies carry `sp` (our extension; stock OpenDHT nodes send none): the
 * UDP port our request came from. Behind an endpoint-independent mapping
 * (most home routers, Linux masquerade) every replier sees the same port,
 * which is then our public port; behind an address-dependent ("symmetric")
 * NAT each replier sees another one, and a contact cannot punch to us at
 * any port we could announce (docs/links.md, "Links through NATs").
 *
 * Votes count only from replies that matched one of our requests by
 * transaction id and source address (the caller's job, as for
 * `ObservedAddress`). A replier (by its IP) holds one vote, its latest; the
 * `maxVoters` most recent voters are kept.
 *
 * - **Independent**, with its port: at least `quorum` repliers saw one port
 *   and they are more than half of the voters.
 * - **Dependent**: at least `quorum` distinct ports among the voters, more
 *   than half of the voters each with a port of its own count (a changed
 *   mapping, old port and new, is two ports, not a symmetric NAT).
 * - Otherwise unknown.
 *
 * Hostile repliers can lie about the port. To make us believe a mapping is
 * dependent they need more than half of our recent voters' IPs; the harm is
 * bounded: we then skip punches to contacts whose NAT also filters (they
 * could not have worked if the verdict were true) and tell our contacts so
 * in sealed sets; we send nothing more, to no one else. To fake
 * independence they need the same majority, and we punch as before.
 *
 * @example Three repliers see three ports: a symmetric NAT
 * ```ts
 * import assert from "node:assert/strict";
 * import { ObservedMapping } from "./observed_mapping.ts";
 *
 * const mapping = new ObservedMapping();
 * mapping.vote("198.51.100.1", 40_001);
 * mapping.vote("198.51.100.2", 40_002);
 * assert.equal(mapping.mapping, undefined);
 * mapping.vote("198.51.100.3", 40_003);
 * assert.equal(mapping.mapping, "dependent");
 *
 * const home = new ObservedMapping();
 * for (const replier of ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) {
 *   home.vote(replier, 4_222);
 * }
 * assert.equal(home.mapping, "independent");
 * assert.equal(home.port, 4_222);
 * ```
 *
 * @module
 */

import { RecentVotes } from "./_recent_votes.ts";

/**
 * A NAT's mapping behaviour (RFC 4787): one public port for the socket
 * whatever the destination, or a port per destination ("symmetric").
 */
export type NatMapping = "independent" | "dependent";

/** Options of {@link ObservedMapping}. */
export interface ObservedMappingOptions {
  /** Distinct repliers that must agree on a port, or distinct ports for "dependent". @default {3} */
  readonly quorum?: number;
  /** Most recent voters kept. @default {16} */
  readonly maxVoters?: number;
}

/** Our NAT's mapping as recent DHT repliers' `sp` shows it; see the module documentation. */
export class ObservedMapping {
  readonly #quorum: number;
  /** Each recent replier's latest vote: the port it saw. */
  readonly #votes: RecentVotes<number>;
  #mapping: NatMapping | undefined;
  #port: number | undefined;

  /**
   * An empty tracker.
   *
   * @param options Quorum and bound.
   * @throws {RangeError} If `quorum` is below 1 or above `maxVoters`.
   */
  constructor(options: ObservedMappingOptions = {}) {
    const { quorum = 3, maxVoters = 16 } = options;
    if (
      !Number.isInteger(quorum) || !Number.isInteger(maxVoters) ||
      quorum < 1 || quorum > maxVoters
    ) {
      throw new RangeError(
        `Cannot track observed mapping: quorum ${quorum} must be from 1 to maxVoters ${maxVoters}`,
      );
    }
    this.#quorum = quorum;
    this.#votes = new RecentVotes(maxVoters);
  }

  /** The verdict, or `undefined` while the votes do not support one. */
  get mapping(): NatMapping | undefined {
    return this.#mapping;
  }

  /** Our public port, while the mapping is independent. */
  get port(): number | undefined {
    return this.#port;
  }

  /**
   * Records what one replier saw.
   *
   * @param replier The replier's IP (one vote per IP).
   * @param port The port it reported (`sp`).
   * @returns Whether {@link ObservedMapping.mapping} or the port changed.
   */
  vote(replier: string, port: number): boolean {
    // The same vote again, or the vote that went named the same port: the
    // counts are as they were, and so is the verdict.
    if (!this.#votes.record(replier, port)) return false;
    const mapping = this.#mapping;
    const publicPort = this.#port;
    this.#judge();
    return this.#mapping !== mapping || this.#port !== publicPort;
  }

  /** How many votes name `port`. */
  #count(port: number): number {
    const ports = this.#votes.votes;
    let count = 0;
    for (let i = 0; i < ports.length; i++) if (ports[i] === port) count++;
    return count;
  }

  #judge(): void {
    const ports = this.#votes.votes;
    const voters = ports.length;
    this.#mapping = undefined;
    this.#port = undefined;
    let distinct = 0;
    let alone = 0;
    for (let i = 0; i < voters; i++) {
      // Each port is counted at its first vote only.
      if (ports.indexOf(ports[i]) !== i) continue;
      const count = this.#count(ports[i]);
      if (count >= this.#quorum && count * 2 > voters) {
        this.#mapping = "independent";
        this.#port = ports[i];
        return;
      }
      distinct += 1;
      if (count === 1) alone += 1;
    }
    if (distinct >= this.#quorum && alone * 2 > voters) {
      this.#mapping = "dependent";
    }
  }
}
