/**
 * Growth of the typed arrays the simulated network keeps per host and per
 * in-flight datagram: each helper returns a copy with a larger capacity,
 * the new tail zeroed.
 *
 * @example Double a capacity
 * ```ts
 * import assert from "node:assert/strict";
 * import { grownInt32 } from "./_grown_arrays.ts";
 *
 * const grown = grownInt32(new Int32Array([1, 2]), 4);
 * assert.deepEqual([...grown], [1, 2, 0, 0]);
 * ```
 *
 * @module
 */

/**
 * Copies `array` into a new `Float64Array` of `capacity` elements.
 *
 * @param array The array to grow.
 * @param capacity The new length, at least `array.length`.
 * @returns The grown copy.
 */
export function grownFloat64(
  array: Float64Array,
  capacity: number,
): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(capacity);
  grown.set(array);
  return grown;
}

/**
 * Copies `array` into a new `Int32Array` of `capacity` elements.
 *
 * @param array The array to grow.
 * @param capacity The new length, at least `array.length`.
 * @returns The grown copy.
 */
export function grownInt32(
  array: Int32Array,
  capacity: number,
): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(capacity);
  grown.set(array);
  return grown;
}

/**
 * Copies `array` into a new `Uint8Array` of `capacity` elements.
 *
 * @param array The array to grow.
 * @param capacity The new length, at least `array.length`.
 * @returns The grown copy.
 */
export function grownUint8(
  array: Uint8Array,
  capacity: number,
): Uint8Array<ArrayBuffer> {
  const grown = new Uint8Array(capacity);
  grown.set(array);
  return grown;
}
