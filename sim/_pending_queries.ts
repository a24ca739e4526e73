/**
 * The queries the report's byte counter has seen leave and not yet seen
 * answered, by querier, queried host and transaction id, so that a reply is
 * counted under its query's method. Keyed by numbers rather than by a string
 * made per datagram: host pairs fit in 48 bits and short transaction ids in
 * a number, and a string key (with its hash computed afresh) per query and
 * per reply was a few per cent of a presence simulation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PendingQueries } from "./_pending_queries.ts";
 *
 * const pending = new PendingQueries();
 * pending.set(3, 7, 0x0401_0203, "get");
 * assert.equal(pending.get(7, 3, 0x0401_0203, false), undefined);
 * assert.equal(pending.get(3, 7, 0x0401_0203, true), "get");
 * assert.equal(pending.size, 0);
 * ```
 *
 * @module
 */

/** Host indexes are below this (the simulated network's 10.0.0.1 to 10.255.255.254). */
const HOSTS = 0x100_0000;

/** One waiting query; queries that share a transaction id form a list. */
interface Waiting {
  readonly pair: number;
  method: string;
  next: Waiting | undefined;
}

/** Waiting queries, as a `Map` from "querier>queried:tid" would hold them. */
export class PendingQueries {
  readonly #byTid = new Map<number, Waiting>();
  /** Transaction ids that are not numbers (long or missing ones). */
  readonly #other = new Map<string, string>();
  #size = 0;

  /** Queries held. */
  get size(): number {
    return this.#size;
  }

  /**
   * Holds `method` for the query `querier` sent `queried` with `tid`,
   * replacing what was held for the same three.
   *
   * @param querier The sending host's index.
   * @param queried The receiving host's index.
   * @param tid The transaction id, as a number or a text key.
   * @param method The query's method.
   */
  set(
    querier: number,
    queried: number,
    tid: number | string,
    method: string,
  ): void {
    const pair = querier * HOSTS + queried;
    if (typeof tid === "string") {
      const key = `${pair}:${tid}`;
      if (!this.#other.has(key)) this.#size += 1;
      this.#other.set(key, method);
      return;
    }
    const first = this.#byTid.get(tid);
    for (let at = first; at !== undefined; at = at.next) {
      if (at.pair === pair) {
        at.method = method;
        return;
      }
    }
    this.#byTid.set(tid, { pair, method, next: first });
    this.#size += 1;
  }

  /**
   * The method held for the query `querier` sent `queried` with `tid`.
   *
   * @param querier The host that sent the query.
   * @param queried The host it went to.
   * @param tid The transaction id.
   * @param remove Stop holding it (its reply arrived).
   * @returns The method, or `undefined` if none is held.
   */
  get(
    querier: number,
    queried: number,
    tid: number | string,
    remove: boolean,
  ): string | undefined {
    const pair = querier * HOSTS + queried;
    if (typeof tid === "string") {
      const key = `${pair}:${tid}`;
      const method = this.#other.get(key);
      if (remove && method !== undefined) {
        this.#other.delete(key);
        this.#size -= 1;
      }
      return method;
    }
    let before: Waiting | undefined;
    for (let at = this.#byTid.get(tid); at !== undefined; at = at.next) {
      if (at.pair !== pair) {
        before = at;
        continue;
      }
      if (remove) {
        if (before !== undefined) before.next = at.next;
        else if (at.next !== undefined) this.#byTid.set(tid, at.next);
        else this.#byTid.delete(tid);
        this.#size -= 1;
      }
      return at.method;
    }
    return undefined;
  }

  /** Forgets every query. */
  clear(): void {
    this.#byTid.clear();
    this.#other.clear();
    this.#size = 0;
  }
}
