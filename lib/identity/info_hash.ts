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
import { sha1, utf8 } from "../crypto.ts";
import type { Rng } from "../rng.ts";

/** Length of an InfoHash in bytes. */
export const INFO_HASH_BYTES = 20;

/** Bytes {@link InfoHash.random} draws into before reading them as an id. */
const RANDOM_SCRATCH = new Uint8Array(INFO_HASH_BYTES);

/** Length of an InfoHash in bits. */
export const INFO_HASH_BITS = 160;

const HEX_PATTERN = /^[0-9a-fA-F]{40}$/;

/**
 * Ids made from bytes (decoded, hashed, parsed, drawn), one per slot, the
 * slot picked by the low bits of a 30-bit key of their first words; a clash
 * replaces the slot's id. A plain array rather than a map: a read is one
 * slot and one id, where a map probe visited its hash table, its entry and
 * then the id (in a large simulation, a cache miss each), and a full map was
 * cleared and rebuilt. It starts at {@link SHARED_IDS_FIRST_SLOTS} and
 * doubles whenever half its slots are filled, up to
 * {@link SHARED_IDS_MAX_SLOTS}. Ids are public, so sharing them across the
 * nodes of one process tells nobody anything.
 */
const SHARED_IDS_FIRST_SLOTS = 4_096;
const SHARED_IDS_MAX_SLOTS = 262_144;
let sharedIds: (InfoHash | undefined)[] = new Array(SHARED_IDS_FIRST_SLOTS)
  .fill(undefined);
/** Slots of {@link sharedIds} that hold an id. */
let sharedIdsFilled = 0;
/** The 3 hex digits of every 12-bit number: an id's words (24 bits) print as two each. */
const HEX12: readonly string[] = Array.from(
  { length: 4_096 },
  (_, value) => value.toString(16).padStart(3, "0"),
);

/** An immutable 20-byte identifier, printed as 40 lowercase hex characters. */
export class InfoHash {
  // The 160 bits as seven small integers (six of 24 bits, the last of 16),
  // big-endian: V8 keeps them inline in the object as small integers, so an
  // id costs one small allocation, and comparisons and XOR distances take
  // seven steps instead of twenty.
  readonly #w0: number;
  readonly #w1: number;
  readonly #w2: number;
  readonly #w3: number;
  readonly #w4: number;
  readonly #w5: number;
  readonly #w6: number;
  // Computed on first use: most ids decoded from packets are never printed.
  #hex?: string;

  private constructor(
    w0: number,
    w1: number,
    w2: number,
    w3: number,
    w4: number,
    w5: number,
    w6: number,
  ) {
    this.#w0 = w0;
    this.#w1 = w1;
    this.#w2 = w2;
    this.#w3 = w3;
    this.#w4 = w4;
    this.#w5 = w5;
    this.#w6 = w6;
    this.#hex = undefined;
  }

  /**
   * Reads 20 bytes at `at` (unchecked) into the shared id with those bytes,
   * if {@link sharedIds} holds one, else a new one that it then holds.
   */
  static #read(b: Uint8Array, at: number): InfoHash {
    const w0 = (b[at] << 16) | (b[at + 1] << 8) | b[at + 2];
    const w1 = (b[at + 3] << 16) | (b[at + 4] << 8) | b[at + 5];
    const w2 = (b[at + 6] << 16) | (b[at + 7] << 8) | b[at + 8];
    const w3 = (b[at + 9] << 16) | (b[at + 10] << 8) | b[at + 11];
    const w4 = (b[at + 12] << 16) | (b[at + 13] << 8) | b[at + 14];
    const w5 = (b[at + 15] << 16) | (b[at + 16] << 8) | b[at + 17];
    const w6 = (b[at + 18] << 8) | b[at + 19];
    // 30 bits (a small integer key): all of the first word, six of the next.
    const key = (w0 ^ (w1 << 6)) & 0x3fff_ffff;
    const slots = sharedIds;
    const slot = key & (slots.length - 1);
    const known = slots[slot];
    if (
      known !== undefined && known.#w0 === w0 && known.#w1 === w1 &&
      known.#w2 === w2 && known.#w3 === w3 && known.#w4 === w4 &&
      known.#w5 === w5 && known.#w6 === w6
    ) return known;
    const id = new InfoHash(w0, w1, w2, w3, w4, w5, w6);
    if (known !== undefined) slots[slot] = id;
    else if (
      ++sharedIdsFilled * 2 > slots.length &&
      slots.length < SHARED_IDS_MAX_SLOTS
    ) InfoHash.#growShared(id);
    else slots[slot] = id;
    return id;
  }

  /** Doubles the shared ids' slots, keeping every id held, and holds `id`. */
  static #growShared(id: InfoHash): void {
    const grown: (InfoHash | undefined)[] = new Array(2 * sharedIds.length)
      .fill(undefined);
    const mask = grown.length - 1;
    sharedIdsFilled = 0;
    for (const held of [...sharedIds, id]) {
      if (held === undefined) continue;
      const slot = ((held.#w0 ^ (held.#w1 << 6)) & 0x3fff_ffff) & mask;
      if (grown[slot] === undefined) sharedIdsFilled += 1;
      grown[slot] = held;
    }
    sharedIds = grown;
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
    if (typeof data === "string") return InfoHash.#read(sha1(utf8(data)), 0);
    if (data instanceof Uint8Array) return InfoHash.#read(sha1(data), 0);
    throw new TypeError(
      `Cannot hash: expected a string or Uint8Array, got ${typeof data}`,
    );
  }

  /**
   * Parses 40 hex characters (any case).
   *
   * @param hex 40 hex characters, upper or lower case.
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
    return InfoHash.#read(Uint8Array.fromHex(hex.toLowerCase()), 0);
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
    return InfoHash.#read(bytes, 0);
  }

  /**
   * Reads 20 bytes of a larger buffer (copied), e.g. one entry of a node
   * list, without making a view of them first: the decoder's way in. Like
   * every id made from bytes, it is shared (an InfoHash is immutable), so
   * the same id in reply after reply, and in the routing tables of every
   * node of a simulation, is one object; a bounded cache of 262,144 recent
   * ids, emptied when full, finds them.
   *
   * @param bytes A buffer holding the id among other data.
   * @param offset Where the id starts.
   * @returns The InfoHash.
   * @throws {RangeError} If fewer than 20 bytes follow `offset`.
   * @example The second id of two
   * ```ts
   * import assert from "node:assert/strict";
   * import { InfoHash } from "./info_hash.ts";
   * const buffer = new Uint8Array(40).fill(7, 20);
   * assert.equal(InfoHash.fromBytesAt(buffer, 20).toString(), "07".repeat(20));
   * ```
   */
  static fromBytesAt(bytes: Uint8Array, offset: number): InfoHash {
    if (
      !(bytes instanceof Uint8Array) || !Number.isInteger(offset) ||
      offset < 0 || offset + INFO_HASH_BYTES > bytes.length
    ) {
      throw new RangeError(
        `Cannot make InfoHash: no ${INFO_HASH_BYTES} bytes at offset ${offset}`,
      );
    }
    return InfoHash.#read(bytes, offset);
  }

  /**
   * A uniformly random InfoHash drawn from `rng`.
   *
   * @param rng Seeded random source.
   * @returns A random id.
   */
  static random(rng: Rng): InfoHash {
    // Drawn into scratch bytes (read into words at once): a typed array of
    // their own would cost more than the draws.
    const bytes = RANDOM_SCRATCH;
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = Math.floor(rng() * 256) & 0xff;
    }
    return InfoHash.#read(bytes, 0);
  }

  /** The all-zero InfoHash: "none" on the wire (no recipient, no owner), and refused as a sender id. */
  static readonly ZERO: InfoHash = new InfoHash(0, 0, 0, 0, 0, 0, 0);

  /** A copy of the 20 bytes. */
  get bytes(): Uint8Array {
    const out = new Uint8Array(INFO_HASH_BYTES);
    this.copyTo(out, 0);
    return out;
  }

  /** Word `index` (0..6). */
  #word(index: number): number {
    switch (index) {
      case 0:
        return this.#w0;
      case 1:
        return this.#w1;
      case 2:
        return this.#w2;
      case 3:
        return this.#w3;
      case 4:
        return this.#w4;
      case 5:
        return this.#w5;
      default:
        return this.#w6;
    }
  }

  /** Byte `index` (0..19), without copying. */
  byteAt(index: number): number {
    const word = (index / 3) | 0;
    const position = index - 3 * word;
    const shift = word === 6 ? 8 - 8 * position : 16 - 8 * position;
    return (this.#word(word) >> shift) & 0xff;
  }

  /**
   * A number made of the last 30 bits: equal ids have equal ones, and
   * distinct ids rarely share them, even ids of one routing-table bucket
   * (which share their first bits), so a scan may compare these numbers and
   * settle the rare match with {@link InfoHash.equals}.
   */
  get suffix30(): number {
    return ((this.#w5 & 0x3fff) << 16) | this.#w6;
  }

  /**
   * The first 30 bits as a number. Of two ids whose numbers differ, the one
   * whose number XOR a target's is smaller is the closer to that target
   * (what {@link InfoHash.compareDistance} says), so a scan may compare
   * these and read the ids only on a tie.
   */
  get prefix30(): number {
    return (this.#w0 << 6) | (this.#w1 >>> 18);
  }

  /** 40 lowercase hex characters. */
  toString(): string {
    if (this.#hex !== undefined) return this.#hex;
    // Ids are map keys in the value store and elsewhere: built from a table
    // rather than a toString and a padStart per word.
    let hex = "";
    for (let i = 0; i < 6; i++) {
      const word = this.#word(i);
      hex += HEX12[word >>> 12] + HEX12[word & 0xfff];
    }
    const last = this.#w6;
    hex += HEX12[last >>> 4] + (last & 0xf).toString(16);
    return this.#hex = hex;
  }

  /** Same as {@link InfoHash.toString}, so JSON shows the hex form. */
  toJSON(): string {
    return this.toString();
  }

  /**
   * Copies the 20 bytes into `target` at `offset` (no allocation).
   *
   * @param target A buffer with at least 20 bytes from `offset`.
   * @param offset Where to write.
   */
  copyTo(target: Uint8Array, offset: number): void {
    if (offset < 0 || offset + INFO_HASH_BYTES > target.length) {
      throw new RangeError(
        `Cannot copy InfoHash: no room for ${INFO_HASH_BYTES} bytes at offset ${offset}`,
      );
    }
    for (let i = 0; i < 6; i++) {
      const word = this.#word(i);
      const at = offset + 3 * i;
      target[at] = word >> 16;
      target[at + 1] = (word >> 8) & 0xff;
      target[at + 2] = word & 0xff;
    }
    target[offset + 18] = this.#w6 >> 8;
    target[offset + 19] = this.#w6 & 0xff;
  }

  /**
   * Equality of the 20 bytes.
   *
   * @param other Another InfoHash.
   * @returns True when both are the same id.
   */
  equals(other: InfoHash): boolean {
    return this === other || (
      this.#w0 === other.#w0 && this.#w1 === other.#w1 &&
      this.#w2 === other.#w2 && this.#w3 === other.#w3 &&
      this.#w4 === other.#w4 && this.#w5 === other.#w5 &&
      this.#w6 === other.#w6
    );
  }

  /**
   * Lexicographic order of the bytes: negative, zero or positive.
   *
   * @param other Another InfoHash.
   * @returns The comparison result.
   */
  compare(other: InfoHash): number {
    if (this.#w0 !== other.#w0) return this.#w0 - other.#w0;
    if (this.#w1 !== other.#w1) return this.#w1 - other.#w1;
    if (this.#w2 !== other.#w2) return this.#w2 - other.#w2;
    if (this.#w3 !== other.#w3) return this.#w3 - other.#w3;
    if (this.#w4 !== other.#w4) return this.#w4 - other.#w4;
    if (this.#w5 !== other.#w5) return this.#w5 - other.#w5;
    return this.#w6 - other.#w6;
  }

  /**
   * XOR distance to `other`, as 20 bytes.
   *
   * @param other Another InfoHash.
   * @returns `this XOR other`.
   */
  xor(other: InfoHash): Uint8Array {
    const out = this.bytes;
    const theirs = other.bytes;
    for (let i = 0; i < INFO_HASH_BYTES; i++) out[i] ^= theirs[i];
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
   * const sorted = [far, near].sort((x, y) => target.compareDistance(x, y));
   * assert.deepEqual(sorted.map(String), [near, far].map(String));
   * ```
   */
  compareDistance(a: InfoHash, b: InfoHash): number {
    // Words are at most 24 bits: XORs and differences stay small integers.
    let d = (this.#w0 ^ a.#w0) - (this.#w0 ^ b.#w0);
    if (d !== 0) return d;
    d = (this.#w1 ^ a.#w1) - (this.#w1 ^ b.#w1);
    if (d !== 0) return d;
    d = (this.#w2 ^ a.#w2) - (this.#w2 ^ b.#w2);
    if (d !== 0) return d;
    d = (this.#w3 ^ a.#w3) - (this.#w3 ^ b.#w3);
    if (d !== 0) return d;
    d = (this.#w4 ^ a.#w4) - (this.#w4 ^ b.#w4);
    if (d !== 0) return d;
    d = (this.#w5 ^ a.#w5) - (this.#w5 ^ b.#w5);
    if (d !== 0) return d;
    return (this.#w6 ^ a.#w6) - (this.#w6 ^ b.#w6);
  }

  /**
   * Number of leading bits shared with `other` (160 when equal). The routing
   * table uses it to pick a bucket.
   *
   * @param other Another InfoHash.
   * @returns 0..160.
   */
  commonPrefixBits(other: InfoHash): number {
    for (let i = 0; i < 6; i++) {
      const diff = this.#word(i) ^ other.#word(i);
      if (diff !== 0) return i * 24 + Math.clz32(diff) - 8;
    }
    const diff = this.#w6 ^ other.#w6;
    return diff === 0 ? INFO_HASH_BITS : 144 + Math.clz32(diff) - 16;
  }

  /**
   * Bit `index` (0 = most significant).
   *
   * @param index 0..159.
   * @returns 0 or 1.
   */
  bit(index: number): number {
    return (this.byteAt(index >> 3) >> (7 - (index & 7))) & 1;
  }
}
