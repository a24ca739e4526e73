/**
 * Who stored what, for fair shares of one key: an *origin* is what one
 * party controls cheaply (an IPv4 address, or an IPv6 /64, since a host is
 * handed a whole /64), a *prefix* what one network operator controls (an
 * IPv4 /24, an IPv6 /48). Node ids are not origins: they are free to mint.
 *
 * {@link OriginShares} weighs each origin's and prefix's entries at one key.
 * When the key is full, a newcomer may push out an entry of the heaviest
 * prefix (and, inside its own prefix, of the heaviest origin), but only if
 * the newcomer would still weigh less than it: shares converge to max-min
 * fairness: one flooding source ends up with the same share as one honest
 * sender, and an origin holding a single entry is never pushed out by one
 * adding an entry of the same weight.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OriginShares, originOf } from "./origin_shares.ts";
 *
 * const shares = new OriginShares();
 * const flooder = originOf("192.0.2.7");
 * for (let i = 0; i < 10; i++) shares.add(flooder, 1);
 * assert.equal(shares.heavierThan(originOf("198.51.100.1"), 1)?.origin, "192.0.2.7");
 * assert.equal(shares.heavierThan(flooder, 1), undefined);
 * ```
 *
 * @module
 */

/** One party and the network it sits in, as far as addresses tell. */
export interface Origin {
  /** IPv4 address, or IPv6 /64 (`2001:db8:0:1::/64`); other host names as they are. */
  readonly origin: string;
  /** IPv4 /24 (`192.0.2.0/24`) or IPv6 /48; other host names as they are. */
  readonly prefix: string;
}

/** The origin of entries the node makes for itself (its own listens). */
export const LOCAL_ORIGIN: Origin = { origin: "local", prefix: "local" };

function ipv6Groups(host: string): string[] | undefined {
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  const zoneless = bare.split("%")[0];
  const halves = zoneless.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 1 || halves[1] === ""
    ? []
    : halves[1].split(":");
  // An embedded IPv4 tail counts as two groups; only the first four matter.
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const groups = [
    ...head,
    ...new Array(Math.max(missing, 0)).fill("0"),
    ...tail,
  ];
  return groups.map((group) => group.toLowerCase().replace(/^0+(?=.)/, ""));
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket
 * reports IPv4 peers) as plain IPv4; any other host unchanged.
 *
 * @param host An IP address as text (or a simulator host name).
 * @returns The IPv4 address it maps, or `host`.
 */
export function unmappedHost(host: string): string {
  const match = /^\[?::ffff:(\d{1,3}(?:\.\d{1,3}){3})\]?$/i.exec(host);
  return match === null ? host : match[1];
}

/**
 * The origin and prefix of a sender's host. An IPv4-mapped IPv6 address counts
 * as the IPv4 address it maps, so that IPv4 peers of a dual-stack socket do not
 * all share one /64.
 *
 * @param host The sender's IP address as text (or a simulator host name).
 * @returns Its origin and prefix.
 */
export function originOf(host: string): Origin {
  // Every stored value and listener asks, mostly for the same few hosts.
  const cached = ORIGINS.get(host);
  if (cached !== undefined) return cached;
  const origin = Object.freeze(computeOrigin(host));
  if (ORIGINS.size >= MAX_CACHED_ORIGINS) ORIGINS.clear();
  ORIGINS.set(host, origin);
  return origin;
}

/** Hosts seen lately and their origins; emptied when full. */
const ORIGINS = new Map<string, Origin>();
const MAX_CACHED_ORIGINS = 1_024;

function computeOrigin(host: string): Origin {
  host = unmappedHost(host);
  if (host.includes(":")) {
    const groups = ipv6Groups(host);
    if (groups !== undefined) {
      return {
        origin: `${groups.slice(0, 4).join(":")}::/64`,
        prefix: `${groups.slice(0, 3).join(":")}::/48`,
      };
    }
    return { origin: host, prefix: host };
  }
  const octets = host.split(".");
  if (octets.length === 4) {
    return { origin: host, prefix: `${octets.slice(0, 3).join(".")}.0/24` };
  }
  return { origin: host, prefix: host };
}

/** Weights per origin and per prefix of one key's entries. */
export class OriginShares {
  readonly #byOrigin = new Map<string, { prefix: string; weight: number }>();
  readonly #byPrefix = new Map<string, number>();

  /**
   * Counts `weight` more for `who`.
   *
   * @param who The origin.
   * @param weight Its entry's weight.
   */
  add(who: Origin, weight: number): void {
    const entry = this.#byOrigin.get(who.origin);
    if (entry === undefined) {
      this.#byOrigin.set(who.origin, { prefix: who.prefix, weight });
    } else entry.weight += weight;
    this.#byPrefix.set(
      who.prefix,
      (this.#byPrefix.get(who.prefix) ?? 0) + weight,
    );
  }

  /**
   * Counts `weight` less for `who`.
   *
   * @param who The origin.
   * @param weight The weight its removed entry had.
   */
  remove(who: Origin, weight: number): void {
    const entry = this.#byOrigin.get(who.origin);
    if (entry !== undefined) {
      entry.weight -= weight;
      if (entry.weight <= 0) this.#byOrigin.delete(who.origin);
    }
    const left = (this.#byPrefix.get(who.prefix) ?? 0) - weight;
    if (left > 0) this.#byPrefix.set(who.prefix, left);
    else this.#byPrefix.delete(who.prefix);
  }

  /**
   * Weight held by `who`'s origin.
   *
   * @param who The origin.
   * @returns Its weight (0 when it holds nothing).
   */
  weightOf(who: Origin): number {
    return this.#byOrigin.get(who.origin)?.weight ?? 0;
  }

  /**
   * The origin one of whose entries should make room for `newcomer` adding
   * `weight`: in the heaviest prefix, its heaviest origin, if the newcomer
   * would still weigh strictly less than that prefix (or, inside its own
   * prefix, than that origin). Undefined when the newcomer is the one over
   * its share.
   *
   * @param newcomer Who wants to add an entry.
   * @param weight The new entry's weight.
   * @returns The origin to take an entry from, or undefined.
   */
  heavierThan(newcomer: Origin, weight: number): Origin | undefined {
    let heaviestPrefix: string | undefined;
    let prefixWeight = -Infinity;
    for (const [prefix, w] of this.#byPrefix) {
      if (w > prefixWeight) [heaviestPrefix, prefixWeight] = [prefix, w];
    }
    if (heaviestPrefix === undefined) return undefined;
    const heaviest = this.#heaviestOriginIn(heaviestPrefix);
    if (heaviest === undefined) return undefined;
    if (heaviestPrefix !== newcomer.prefix) {
      const own = this.#byPrefix.get(newcomer.prefix) ?? 0;
      return own + weight < prefixWeight ? heaviest : undefined;
    }
    if (heaviest.origin === newcomer.origin) return undefined;
    const own = this.weightOf(newcomer);
    return own + weight < this.weightOf(heaviest) ? heaviest : undefined;
  }

  #heaviestOriginIn(prefix: string): Origin | undefined {
    let best: string | undefined;
    let bestWeight = -Infinity;
    for (const [origin, entry] of this.#byOrigin) {
      if (entry.prefix === prefix && entry.weight > bestWeight) {
        [best, bestWeight] = [origin, entry.weight];
      }
    }
    return best === undefined ? undefined : { origin: best, prefix };
  }
}
