/**
 * Copies of received or sent datagrams made in shared 64 KiB slabs, for the
 * UDP transports: one `malloc` per slab instead of one per datagram.
 *
 * @example Two copies share a slab and do not overlap
 * ```ts
 * import assert from "node:assert/strict";
 * import { SlabCopier } from "./_slab_copier.ts";
 *
 * const copier = new SlabCopier();
 * const source = Uint8Array.of(1, 2, 3, 4);
 * const first = copier.copy(source, 0, 2);
 * const second = copier.copy(source, 2, 4);
 * source.fill(0);
 * assert.deepEqual([...first, ...second], [1, 2, 3, 4]);
 * assert.equal(first.buffer, second.buffer);
 * ```
 *
 * @module
 */

/** Bytes of one slab that datagram copies are made in. */
const SLAB_BYTES = 65_536;

/**
 * Copies datagrams into shared slabs, one after the other, never over each
 * other: each copy is a view of its own bytes without a buffer (a `malloc`)
 * of its own. A slab is freed once none of its views is referenced; the
 * decoder copies what it keeps, so a kept view holds at most one slab.
 */
export class SlabCopier {
  #slab = new Uint8Array(SLAB_BYTES);
  #used = 0;

  /** A copy of `bytes[start, end)`. */
  copy(bytes: Uint8Array, start: number, end: number): Uint8Array {
    const length = end - start;
    if (length > SLAB_BYTES / 8) return bytes.slice(start, end);
    if (this.#used + length > SLAB_BYTES) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    const at = this.#used;
    this.#slab.set(bytes.subarray(start, end), at);
    this.#used = at + length;
    return this.#slab.subarray(at, at + length);
  }
}
