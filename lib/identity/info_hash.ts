/**
 * `InfoHash`: the 160-bit identifier of OpenDHT, used for DHT keys, node ids,
 * account ids and device ids.
 *
 * @example Account hash and device inbox key
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "./info_hash.ts";
 *
 * const key = InfoHash.get("abc");
 * assert.equal(key.toString(), "a9993e364706816aba3e25717850c26c9cd0d89d");
 * const inbox = InfoHash.get("inbox:" + key.toString());
 * assert.equal(inbox.toString().length, 40);
 * ```
 *
 * @module
 */
import { sha1, utf8 } from "./_primitives.ts";
import type { Rng } from "../rng.ts";

/** Length of an InfoHash in bytes. */
export const INFO_HASH_BYTES = 20;
/** Length of an InfoHash in bits. */
export const INFO_HASH_BITS = 160;

const HEX_PATTERN = /^[0-9a-fA-F]{40}$/;

/** An immutable 20-byte identifier, printed as 40 lowercase hex characters. */
export class InfoHash {
  readonly #bytes: Uint8Array;
  // Computed on first use: most ids decoded from packets are never printed.
  #hex?: string;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /**
   * SHA-1 of `data` (UTF-8 for a string), as OpenDHT's `InfoHash::get`.
   *
   * @param data Bytes, or text hashed as UTF-8.
   * @returns The hash.
   * @throws {TypeError} If `data` is neither a string nor a Uint8Array.
   * @example Hash of a public key
   * ```ts
   * import assert from "node:assert/strict";
   * import { InfoHash } from "./info_hash.ts";
   * assert.equal(InfoHash.get("").toString(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
   * ```
   */
  static get(data: Uint8Array | string): InfoHash {
    if (typeof data === "string") return new InfoHash(sha1(utf8(data)));
    if (data instanceof Uint8Array) return new InfoHash(sha1(data));
    throw new TypeError(
      `Cannot hash: expected a string or Uint8Array, got ${typeof data}`,
    );
  }

  /**
   * Parses 40 hex characters (any case).
   *
   * @param hex The text.
   * @returns The InfoHash.
   * @throws {SyntaxError} If `hex` is not exactly 40 hex characters.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { InfoHash } from "./info_hash.ts";
   * const id = InfoHash.fromHex("A9993E364706816ABA3E25717850C26C9CD0D89D");
   * assert.equal(id.toString(), "a9993e364706816aba3e25717850c26c9cd0d89d");
   * ```
   */
  static fromHex(hex: string): InfoHash {
    if (typeof hex !== "string" || !HEX_PATTERN.test(hex)) {
      throw new SyntaxError(
        `Cannot parse InfoHash: "${
          String(hex).slice(0, 64)
        }" is not 40 hex characters`,
      );
    }
    return new InfoHash(Uint8Array.fromHex(hex.toLowerCase()));
  }

  /**
   * Wraps 20 bytes (copied).
   *
   * @param bytes Exactly 20 bytes.
   * @returns The InfoHash.
   * @throws {RangeError} If `bytes` is not 20 bytes long.
   */
  static fromBytes(bytes: Uint8Array): InfoHash {
    if (!(bytes instanceof Uint8Array) || bytes.length !== INFO_HASH_BYTES) {
      throw new RangeError(
        `Cannot make InfoHash: expected ${INFO_HASH_BYTES} bytes, got ${
          bytes instanceof Uint8Array ? bytes.length : typeof bytes
        }`,
      );
    }
    return new InfoHash(bytes.slice());
  }

  /**
   * A uniformly random InfoHash drawn from `rng`.
   *
   * @param rng Seeded random source.
   * @returns A random id.
   */
  static random(rng: Rng): InfoHash {
    const bytes = new Uint8Array(INFO_HASH_BYTES);
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = Math.floor(rng() * 256) & 0xff;
    }
    return new InfoHash(bytes);
  }

  /** The all-zero InfoHash. */
  static readonly ZERO: InfoHash = new InfoHash(
    new Uint8Array(INFO_HASH_BYTES),
  );

  /** A copy of the 20 bytes. */
  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** Byte `index` (0..19), without copying. */
  byteAt(index: number): number {
    return this.#bytes[index];
  }

  /** 40 lowercase hex characters. */
  toString(): string {
    return this.#hex ??= this.#bytes.toHex();
  }

  /** Same as {@link InfoHash.toString}, so JSON shows the hex form. */
  toJSON(): string {
    return this.toString();
  }

  /**
   * Copies the 20 bytes into `target` at `offset` (no allocation).
   *
   * @param target Destination.
   * @param offset Where to write.
   */
  copyTo(target: Uint8Array, offset: number): void {
    target.set(this.#bytes, offset);
  }

  /**
   * Equality of the 20 bytes.
   *
   * @param other Another InfoHash.
   * @returns True when both are the same id.
   */
  equals(other: InfoHash): boolean {
    const a = this.#bytes;
    const b = other.#bytes;
    for (let i = 0; i < INFO_HASH_BYTES; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /**
   * Lexicographic order of the bytes: negative, zero or positive.
   *
   * @param other Another InfoHash.
   * @returns The comparison result.
   */
  compare(other: InfoHash): number {
    for (let i = 0; i < INFO_HASH_BYTES; i++) {
      const diff = this.#bytes[i] - other.#bytes[i];
      if (diff !== 0) return diff;
    }
    return 0;
  }

  /**
   * XOR distance to `other`, as 20 bytes.
   *
   * @param other Another InfoHash.
   * @returns `this XOR other`.
   */
  xor(other: InfoHash): Uint8Array {
    const out = new Uint8Array(INFO_HASH_BYTES);
    for (let i = 0; i < INFO_HASH_BYTES; i++) {
      out[i] = this.#bytes[i] ^ other.#bytes[i];
    }
    return out;
  }

  /**
   * Which of `a` and `b` is closer to this id in XOR distance: negative when
   * `a` is closer, positive when `b` is, zero when they are the same id.
   *
   * @param a First candidate.
   * @param b Second candidate.
   * @returns The comparison result.
   * @example Sorting by distance
   * ```ts
   * import assert from "node:assert/strict";
   * import { InfoHash } from "./info_hash.ts";
   * const target = InfoHash.fromHex("00".repeat(20));
   * const near = InfoHash.fromHex("01" + "00".repeat(19));
   * const far = InfoHash.fromHex("80" + "00".repeat(19));
   * assert.deepEqual([far, near].sort((x, y) => target.compareDistance(x, y)), [near, far]);
   * ```
   */
  compareDistance(a: InfoHash, b: InfoHash): number {
    for (let i = 0; i < INFO_HASH_BYTES; i++) {
      const da = this.#bytes[i] ^ a.#bytes[i];
      const db = this.#bytes[i] ^ b.#bytes[i];
      if (da !== db) return da - db;
    }
    return 0;
  }

  /**
   * Number of leading bits shared with `other` (160 when equal). The routing
   * table uses it to pick a bucket.
   *
   * @param other Another InfoHash.
   * @returns 0..160.
   */
  commonPrefixBits(other: InfoHash): number {
    for (let i = 0; i < INFO_HASH_BYTES; i++) {
      const diff = this.#bytes[i] ^ other.#bytes[i];
      if (diff !== 0) return i * 8 + Math.clz32(diff) - 24;
    }
    return INFO_HASH_BITS;
  }

  /**
   * Bit `index` (0 = most significant).
   *
   * @param index 0..159.
   * @returns 0 or 1.
   */
  bit(index: number): number {
    return (this.#bytes[index >> 3] >> (7 - (index & 7))) & 1;
  }
}
