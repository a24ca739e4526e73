/**
 * `OriginCounts`: the rate limit's requests per origin in its current
 * window, for at most {@link MAX_TRACKED_ORIGINS} origins a window.
 *
 * An IPv4 origin is counted in an open-addressing table of three small
 * integer arrays, each slot stamped with the window it counts for: a slot
 * of an older window is free, so a new window empties the table by moving
 * the stamp on, and a node that counts the same few senders window after
 * window makes no garbage (a map emptied every window was rebuilt every
 * window: the largest source of promoted garbage of a simulated node).
 * Other origins (an IPv6 /64, a host name) go to a map emptied each window.
 *
 * Once {@link MAX_TRACKED_ORIGINS} origins are counted in a window, the
 * origins that come after them in it share one count: memory stays bounded
 * when every request comes from another (spoofed) address, and those
 * newcomers share one origin's allowance rather than each getting their own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OriginCounts } from "./_origin_counts.ts";
 *
 * const counts = new OriginCounts();
 * assert.equal(counts.add("10.0.0.1"), 1);
 * assert.equal(counts.add("10.0.0.1"), 2);
 * assert.equal(counts.add("2001:db8::/64"), 1);
 * counts.newWindow();
 * assert.equal(counts.add("10.0.0.1"), 1);
 * ```
 *
 * @module
 */
import { strictIpv4Number } from "./_ipv4_number.ts";

/** Origins counted one by one in a window, at most; later ones share a count. */
export const MAX_TRACKED_ORIGINS = 4_096;

/** Slots of a new table (a power of two). */
const FIRST_SLOTS = 16;

/** Fibonacci hashing: the product's top bits pick the slot. */
const HASH_MULTIPLIER = 0x9e37_79b1;

/** Counts of one rate window per origin, bounded in memory. */
export class OriginCounts {
  #keys = new Int32Array(FIRST_SLOTS);
  #stamps = new Int32Array(FIRST_SLOTS);
  #counts = new Int32Array(FIRST_SLOTS);
  /** 32 minus log2 of the slots: the shift that leaves a slot number. */
  #shift = 32 - Math.log2(FIRST_SLOTS);
  /** The current window's stamp; slots stamped otherwise are free. */
  #window = 1;
  /** IPv4 origins counted in this window (slots stamped with it). */
  #ipv4 = 0;
  #others: Map<string, number> | undefined;
  /** Requests of this window's origins beyond the first {@link MAX_TRACKED_ORIGINS}. */
  #overflow = 0;

  /** Origins counted one by one in the current window. */
  get tracked(): number {
    return this.#ipv4 + (this.#others?.size ?? 0);
  }

  /** Starts a new window: every origin's count is 0 again. */
  newWindow(): void {
    this.#window = (this.#window + 1) | 0;
    if (this.#window === 0) {
      // After 2^32 windows the stamps wrap: clear them so none is current.
      this.#stamps.fill(0);
      this.#window = 1;
    }
    this.#ipv4 = 0;
    this.#overflow = 0;
    if (this.#others !== undefined && this.#others.size > 0) {
      this.#others.clear();
    }
  }

  /**
   * Counts one request from `origin` in the current window.
   *
   * @param origin An IPv4 address, an IPv6 /64, or any other origin text.
   * @returns The origin's count in this window, this request included (the
   *   shared count, once the window tracks {@link MAX_TRACKED_ORIGINS}).
   */
  add(origin: string): number {
    const ipv4 = strictIpv4Number(origin);
    if (ipv4 < 0) return this.#addOther(origin);
    const key = ipv4 | 0;
    const mask = this.#keys.length - 1;
    let slot = Math.imul(key, HASH_MULTIPLIER) >>> this.#shift;
    for (;;) {
      if (this.#stamps[slot] !== this.#window) break;
      if (this.#keys[slot] === key) return ++this.#counts[slot];
      slot = (slot + 1) & mask;
    }
    if (this.tracked >= MAX_TRACKED_ORIGINS) return ++this.#overflow;
    if (2 * (this.#ipv4 + 1) > this.#keys.length) {
      this.#grow();
      return this.add(origin);
    }
    this.#keys[slot] = key;
    this.#stamps[slot] = this.#window;
    this.#counts[slot] = 1;
    this.#ipv4 += 1;
    return 1;
  }

  #addOther(origin: string): number {
    const others = this.#others ??= new Map();
    const count = others.get(origin);
    if (count === undefined && this.tracked >= MAX_TRACKED_ORIGINS) {
      return ++this.#overflow;
    }
    const next = (count ?? 0) + 1;
    others.set(origin, next);
    return next;
  }

  /** Doubles the table, keeping this window's counts. */
  #grow(): void {
    const keys = this.#keys;
    const stamps = this.#stamps;
    const counts = this.#counts;
    const size = 2 * keys.length;
    const mask = size - 1;
    this.#keys = new Int32Array(size);
    this.#stamps = new Int32Array(size);
    this.#counts = new Int32Array(size);
    this.#shift -= 1;
    for (let i = 0; i < keys.length; i++) {
      if (stamps[i] !== this.#window) continue;
      let slot = Math.imul(keys[i], HASH_MULTIPLIER) >>> this.#shift;
      while (this.#stamps[slot] === this.#window) slot = (slot + 1) & mask;
      this.#keys[slot] = keys[i];
      this.#stamps[slot] = this.#window;
      this.#counts[slot] = counts[i];
    }
  }
}
