/**
 * Copies of received or sent datagrams made in shared 64 KiB slabs, for the
 * UDP transports: one `malloc` per slab instead of one per datagram (and a
 * new typed array costs about a microsecond, a view of a slab a twentieth
 * of that). The wire's decoder and encoder use small slabs for the few
 * bytes each message carries (a token, a seen address).
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
  readonly #slabBytes: number;
  #slab: Uint8Array;
  #used = 0;

  /**
   * A copier whose slabs have `slabBytes` bytes (copies above an eighth of
   * that get a buffer of their own). A kept copy holds its whole slab: give
   * copies that may be kept long small slabs.
   *
   * @param slabBytes Bytes per slab. @default {65536}
   */
  constructor(slabBytes = SLAB_BYTES) {
    this.#slabBytes = slabBytes;
    this.#slab = new Uint8Array(slabBytes);
  }

  /** A copy of `bytes[start, end)`. */
  copy(bytes: Uint8Array, start: number, end: number): Uint8Array {
    const length = end - start;
    if (length > this.#slabBytes / 8) return bytes.slice(start, end);
    const at = this.#reserve(length);
    this.#slab.set(bytes.subarray(start, end), at);
    return this.#slab.subarray(at, at + length);
  }

  /**
   * `length` zero bytes of their own (a view of the slab), for bytes made
   * here rather than copied.
   */
  zeroed(length: number): Uint8Array {
    if (length > this.#slabBytes / 8) return new Uint8Array(length);
    const at = this.#reserve(length);
    return this.#slab.subarray(at, at + length);
  }

  /** Where `length` unused bytes start, in a new slab if this one is full. */
  #reserve(length: number): number {
    if (this.#used + length > this.#slabBytes) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const at = this.#used;
    this.#used = at + length;
    return at;
  }
}
