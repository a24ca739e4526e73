/**
 * `IntPairTable`: a hash table from a pair of 32-bit integers to a
 * non-negative integer, for the per-datagram counters of a node (the rate
 * limit's counts per origin, the write tokens' slots per address).
 *
 * Open addressing with linear probing over one integer array (each slot's
 * stamp, pair and value side by side, so that a probe reads one cache line:
 * in a large simulation every datagram goes to another node's table, and
 * four arrays cost four misses), grown by doubling and never rebuilt
 * otherwise; `clear()` moves a stamp on instead of touching the slots (a
 * slot stamped otherwise is free). A node's `Map`
 * keyed by such numbers was rebuilt whenever it was cleared or grew, and a
 * key above 2^31 was a heap object of its own: garbage that outlived the
 * young generation in every node of a large simulation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IntPairTable } from "./_int_pair_table.ts";
 *
 * const table = new IntPairTable();
 * table.insert(0x0a00_0001, 4222, 7);
 * const slot = table.find(0x0a00_0001, 4222);
 * assert.equal(table.valueAt(slot), 7);
 * assert.equal(table.find(0x0a00_0001, 4223), -1);
 * table.clear();
 * assert.equal(table.size, 0);
 * assert.equal(table.find(0x0a00_0001, 4222), -1);
 * ```
 *
 * @module
 */

/** Fibonacci hashing: the product's top bits pick the slot. */
const HASH_MULTIPLIER = 0x9e37_79b1;
/** Mixes the second integer in before the product. */
const LOW_MULTIPLIER = 0x85eb_ca6b;

/** Integers per slot: stamp, high, low, value. */
const SLOT_INTS = 4;

/** Pairs of 32-bit integers to non-negative integers, with an O(1) `clear()`. */
export class IntPairTable {
  /** Slot `i` at `4i`: its stamp, then high, low and value. */
  #slots: Int32Array;
  /** Slots stamped otherwise are free. */
  #stamp = 1;
  #size = 0;
  /** 32 minus log2 of the slots: the shift that leaves a slot number. */
  #shift: number;

  /**
   * An empty table.
   *
   * @param firstSlots Slots to start with, a power of two (it doubles when
   *   half full). @default {16}
   */
  constructor(firstSlots = 16) {
    this.#slots = new Int32Array(firstSlots * SLOT_INTS);
    this.#shift = 32 - Math.log2(firstSlots);
  }

  /** Pairs held. */
  get size(): number {
    return this.#size;
  }

  #home(high: number, low: number): number {
    return Math.imul(high ^ Math.imul(low, LOW_MULTIPLIER), HASH_MULTIPLIER) >>>
      this.#shift;
  }

  /**
   * The slot of `(high, low)`, or -1.
   *
   * @param high First integer (taken as int32).
   * @param low Second integer (taken as int32).
   * @returns A slot for {@link IntPairTable.valueAt}, or -1.
   */
  find(high: number, low: number): number {
    high |= 0;
    low |= 0;
    const slots = this.#slots;
    const mask = (slots.length >> 2) - 1;
    const stamp = this.#stamp;
    for (let slot = this.#home(high, low);; slot = (slot + 1) & mask) {
      const at = slot << 2;
      if (slots[at] !== stamp) return -1;
      if (slots[at + 1] === high && slots[at + 2] === low) return slot;
    }
  }

  /**
   * The value in `slot` (from {@link IntPairTable.find}).
   *
   * @param slot A slot that holds a pair.
   * @returns Its value.
   */
  valueAt(slot: number): number {
    return this.#slots[(slot << 2) + 3];
  }

  /**
   * Replaces the value in `slot`.
   *
   * @param slot A slot that holds a pair.
   * @param value 0 to 2^31 - 1.
   */
  setValueAt(slot: number, value: number): void {
    this.#slots[(slot << 2) + 3] = value;
  }

  /**
   * Adds `(high, low)`, which the table must not hold.
   *
   * @param high First integer (taken as int32).
   * @param low Second integer (taken as int32).
   * @param value 0 to 2^31 - 1.
   */
  insert(high: number, low: number, value: number): void {
    if (2 * (this.#size + 1) > this.#slots.length >> 2) this.#grow();
    this.#put(high | 0, low | 0, value);
    this.#size += 1;
  }

  /** Forgets every pair. */
  clear(): void {
    this.#stamp = (this.#stamp + 1) | 0;
    if (this.#stamp === 0) {
      // After 2^32 clears the stamps wrap: none may look current.
      this.#slots.fill(0);
      this.#stamp = 1;
    }
    this.#size = 0;
  }

  #put(high: number, low: number, value: number): void {
    const slots = this.#slots;
    const mask = (slots.length >> 2) - 1;
    let slot = this.#home(high, low);
    while (slots[slot << 2] === this.#stamp) slot = (slot + 1) & mask;
    const at = slot << 2;
    slots[at] = this.#stamp;
    slots[at + 1] = high;
    slots[at + 2] = low;
    slots[at + 3] = value;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Int32Array(2 * old.length);
    this.#shift -= 1;
    const stamp = this.#stamp;
    // The new array's stamps are 0, never current (`clear` skips 0).
    for (let at = 0; at < old.length; at += SLOT_INTS) {
      if (old[at] === stamp) this.#put(old[at + 1], old[at + 2], old[at + 3]);
    }
  }
}
