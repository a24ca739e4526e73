/**
 * `TidTable`: the requests a node awaits, by transaction id. A map from a
 * non-zero 32-bit id to a value, by open addressing with linear probing in
 * a `Uint32Array`, grown by doubling and never shrunk.
 *
 * Why not a `Map`: a node's pending requests come and go all the time, a few
 * at once. V8 rebuilds a `Map`'s table whenever its deleted slots fill it
 * (every few requests at that size) and when it shrinks, so a simulation of
 * 100,000 nodes made tables faster than anything else; each outlived a few
 * young-generation collections and became old-generation garbage. Here a
 * delete moves the following entries of its run back (no tombstones), so a
 * table only ever allocates when it grows.
 *
 * Transaction ids come from a cryptographic source (`RpcEngine`), so their
 * low bits are a fair hash that no peer can choose or predict.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TidTable } from "./_tid_table.ts";
 *
 * const table = new TidTable<string>();
 * table.set(0xdead_beef, "find");
 * assert.equal(table.get(0xdead_beef), "find");
 * assert.equal(table.delete(0xdead_beef), "find");
 * assert.equal(table.size, 0);
 * ```
 *
 * @module
 */

/** Slots a new table starts with (a power of two). */
const INITIAL_SLOTS = 8;

/** A map from non-zero 32-bit ids to values; see the module documentation. */
export class TidTable<V> {
  /** Ids by slot; 0 marks an empty slot. */
  #ids = new Uint32Array(INITIAL_SLOTS);
  /** Values by slot, beside `#ids`. */
  #values: (V | undefined)[] = new Array(INITIAL_SLOTS).fill(undefined);
  #size = 0;

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /**
   * The value held for `tid`.
   *
   * @param tid A 32-bit id (0 is never held).
   * @returns The value, or `undefined`.
   */
  get(tid: number): V | undefined {
    const slot = this.#find(tid);
    return slot === -1 ? undefined : this.#values[slot];
  }

  /**
   * Whether `tid` is held.
   *
   * @param tid A 32-bit id.
   * @returns True if it is.
   */
  has(tid: number): boolean {
    return this.#find(tid) !== -1;
  }

  /**
   * Holds `value` for `tid`, replacing what was held for it.
   *
   * @param tid A non-zero 32-bit id.
   * @param value The value.
   * @throws {RangeError} If `tid` is not an integer from 1 to 2^32 - 1.
   */
  set(tid: number, value: V): void {
    if (!(Number.isInteger(tid) && tid > 0 && tid <= 0xffff_ffff)) {
      throw new RangeError(
        `Cannot hold transaction id ${tid}: not an integer from 1 to 2^32 - 1`,
      );
    }
    const found = this.#find(tid);
    if (found !== -1) {
      this.#values[found] = value;
      return;
    }
    // At most half full: probe runs stay short.
    if ((this.#size + 1) * 2 > this.#ids.length) this.#grow();
    const ids = this.#ids;
    const mask = ids.length - 1;
    let slot = tid & mask;
    while (ids[slot] !== 0) slot = (slot + 1) & mask;
    ids[slot] = tid;
    this.#values[slot] = value;
    this.#size += 1;
  }

  /**
   * Stops holding `tid`.
   *
   * @param tid A 32-bit id.
   * @returns The value that was held, or `undefined`.
   */
  delete(tid: number): V | undefined {
    let slot = this.#find(tid);
    if (slot === -1) return undefined;
    const ids = this.#ids;
    const values = this.#values;
    const value = values[slot];
    const mask = ids.length - 1;
    // Backward-shift deletion: each later entry of the run whose home slot
    // is not between the hole and itself moves into the hole.
    let next = (slot + 1) & mask;
    while (ids[next] !== 0) {
      const home = ids[next] & mask;
      const fromHole = (next - slot) & mask;
      const fromHome = (next - home) & mask;
      if (fromHome >= fromHole) {
        ids[slot] = ids[next];
        values[slot] = values[next];
        slot = next;
      }
      next = (next + 1) & mask;
    }
    ids[slot] = 0;
    values[slot] = undefined;
    this.#size -= 1;
    return value;
  }

  /**
   * The ids held, in no particular order.
   *
   * @returns A fresh array.
   */
  ids(): number[] {
    const out: number[] = [];
    for (const tid of this.#ids) if (tid !== 0) out.push(tid);
    return out;
  }

  #find(tid: number): number {
    if (tid === 0) return -1;
    const ids = this.#ids;
    const mask = ids.length - 1;
    // `tid >>> 0` so that a negative number never matches a stored id.
    const wanted = tid >>> 0;
    if (wanted !== tid) return -1;
    for (let slot = tid & mask;; slot = (slot + 1) & mask) {
      const held = ids[slot];
      if (held === wanted) return slot;
      if (held === 0) return -1;
    }
  }

  #grow(): void {
    const oldIds = this.#ids;
    const oldValues = this.#values;
    const slots = oldIds.length * 2;
    this.#ids = new Uint32Array(slots);
    this.#values = new Array(slots).fill(undefined);
    this.#size = 0;
    for (let i = 0; i < oldIds.length; i++) {
      if (oldIds[i] !== 0) this.set(oldIds[i], oldValues[i] as V);
    }
  }
}
