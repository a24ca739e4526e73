/**
 * `OriginCounts`: the rate limit's requests per origin in its current
 * window, for at most {@link MAX_TRACKED_ORIGINS} origins a window.
 *
 * An IPv4 origin is counted in an {@link IntPairTable}, which a new window
 * empties by moving a stamp on: a node that counts the same few senders
 * window after window makes no garbage (a map emptied every window was
 * rebuilt every window: the largest source of promoted garbage of a
 * simulated node).
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
import { IntPairTable } from "./_int_pair_table.ts";
import { strictIpv4Number } from "./_ipv4_number.ts";

/** Origins counted one by one in a window, at most; later ones share a count. */
export const MAX_TRACKED_ORIGINS = 4_096;

/** Counts of one rate window per origin, bounded in memory. */
export class OriginCounts {
  /** IPv4 origins (the address as int32, 0) to their counts. */
  readonly #ipv4 = new IntPairTable();
  #others: Map<string, number> | undefined;
  /** Requests of this window's origins beyond the first {@link MAX_TRACKED_ORIGINS}. */
  #overflow = 0;

  /** Origins counted one by one in the current window. */
  get tracked(): number {
    return this.#ipv4.size + (this.#others?.size ?? 0);
  }

  /** Starts a new window: every origin's count is 0 again. */
  newWindow(): void {
    this.#ipv4.clear();
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
    const table = this.#ipv4;
    const slot = table.find(ipv4, 0);
    if (slot >= 0) {
      const count = table.valueAt(slot) + 1;
      table.setValueAt(slot, count);
      return count;
    }
    if (this.tracked >= MAX_TRACKED_ORIGINS) return ++this.#overflow;
    table.insert(ipv4, 0, 1);
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
}
