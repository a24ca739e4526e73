/**
 * `AesGcmKey`: an AES-256-GCM key expanded once, for the secure channel's
 * frames (one key per direction for a link's whole life). The AES block
 * function and GHASH are written here, on 32-bit words, so that a seal or
 * open allocates only its output and reads small tables: 4 KiB of AES
 * T-tables shared by all keys and 256 bytes of GHASH table per key, which
 * stay in the CPU cache when thousands of links seal keepalives in turn.
 * The key schedule is noble's; `aesGcmEncrypt` in lib/crypto.ts (noble's
 * one-shot GCM) gives the same bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AesGcmKey } from "./aes_gcm_key.ts";
 *
 * const key = new AesGcmKey(new Uint8Array(32));
 * const sealed = key.seal(new Uint8Array(12), new Uint8Array([1, 2]), new Uint8Array(0));
 * assert.deepEqual(key.open(new Uint8Array(12), sealed, new Uint8Array(0)), new Uint8Array([1, 2]));
 * ```
 *
 * @module
 */
import { unsafe as aesUnsafe } from "npm:@noble/ciphers@^2.4.0/aes.js";

/** Bytes of an AES-256 key. */
const AES_KEY_BYTES = 32;
/** Bytes of a GCM tag. */
const GCM_TAG_BYTES = 16;

/** Length of the AES-GCM nonce {@link AesGcmKey} takes, in bytes. */
export const GCM_NONCE_BYTES = 12;

// GHASH (NIST SP 800-38D) by Shoup's 4-bit method: the key's table holds
// the 16 multiples of the hash key by a 4-bit value (256 bytes), and each
// block is multiplied nibble by nibble, with a shared 16-entry table for the
// reduction. A channel keeps one key per direction for its whole life and
// seals a frame on it every few seconds; with thousands of channels a larger
// per-key table (noble's 8 KiB of 4-bit windows, which this replaced) is
// rarely in the CPU cache when its next frame comes: sealing a keepalive took
// 6.7 µs with 6,000 keys in turn against 1.8 µs with one (bench/
// aes_gcm_bench.ts, "keys in turn"). Words are big endian: word 0 holds bytes
// 0 to 3 of the block.

/** x^4-reduction terms for the nibble shifted out, in the top 16 bits. */
const GHASH_REDUCE = new Uint32Array([
  0x0000,
  0x1c20,
  0x3840,
  0x2460,
  0x7080,
  0x6ca0,
  0x48c0,
  0x54e0,
  0xe100,
  0xfd20,
  0xd940,
  0xc560,
  0x9180,
  0x8da0,
  0xa9c0,
  0xb5e0,
].map((term) => term << 16));

/** GHASH under one hash key, rewound for each message. */
class Ghash {
  /** Entry n (words 4n to 4n + 3): n·H, n read as 4 bits, high bit first. */
  readonly #table = new Uint32Array(64);
  #y0 = 0;
  #y1 = 0;
  #y2 = 0;
  #y3 = 0;

  constructor(hashKey: Uint8Array) {
    const table = this.#table;
    let v0 = readWordBE(hashKey, 0), v1 = readWordBE(hashKey, 4);
    let v2 = readWordBE(hashKey, 8), v3 = readWordBE(hashKey, 12);
    for (let entry = 8; entry > 0; entry >>= 1) {
      table[4 * entry] = v0;
      table[4 * entry + 1] = v1;
      table[4 * entry + 2] = v2;
      table[4 * entry + 3] = v3;
      // V·x: one bit right, reduced by x^128 + x^7 + x^2 + x + 1.
      const carry = v3 & 1;
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ (carry === 0 ? 0 : 0xe1000000);
    }
    for (let power = 2; power < 16; power <<= 1) {
      for (let low = 1; low < power; low++) {
        for (let word = 0; word < 4; word++) {
          table[4 * (power + low) + word] = table[4 * power + word] ^
            table[4 * low + word];
        }
      }
    }
  }

  reset(): this {
    this.#y0 =
      this.#y1 =
      this.#y2 =
      this.#y3 =
        0;
    return this;
  }

  /**
   * GHASH over `bytes[start, end)`, zero-padded to whole blocks (one GCM
   * segment), read word by word without copying.
   */
  absorb(bytes: Uint8Array, start: number, end: number): void {
    let offset = start;
    for (; offset + 16 <= end; offset += 16) {
      this.#update(
        readWordBE(bytes, offset),
        readWordBE(bytes, offset + 4),
        readWordBE(bytes, offset + 8),
        readWordBE(bytes, offset + 12),
      );
    }
    if (offset < end) {
      this.#update(
        readPartialWordBE(bytes, offset, end),
        readPartialWordBE(bytes, offset + 4, end),
        readPartialWordBE(bytes, offset + 8, end),
        readPartialWordBE(bytes, offset + 12, end),
      );
    }
  }

  /**
   * Word `index` (0 to 3) of the running GHASH, little endian (as noble's
   * AES block function gives its output words).
   */
  word(index: number): number {
    return byteSwap(
      index === 0
        ? this.#y0
        : index === 1
        ? this.#y1
        : index === 2
        ? this.#y2
        : this.#y3,
    );
  }

  /** The final GHASH block: both lengths as 64-bit big-endian bit counts. */
  absorbLengths(associatedDataBytes: number, ciphertextBytes: number): void {
    const aadBits = associatedDataBytes * 8;
    const bodyBits = ciphertextBytes * 8;
    this.#update(
      Math.floor(aadBits / 0x1_0000_0000),
      aadBits >>> 0,
      Math.floor(bodyBits / 0x1_0000_0000),
      bodyBits >>> 0,
    );
  }

  /** Y = (Y xor X)·H, the block X given as four big-endian words. */
  #update(x0: number, x1: number, x2: number, x3: number): void {
    x0 ^= this.#y0;
    x1 ^= this.#y1;
    x2 ^= this.#y2;
    x3 ^= this.#y3;
    const table = this.#table;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    // Bytes 15 down to 0; in each, the low nibble, then the high one.
    for (let word = 3; word >= 0; word--) {
      const bits = word === 3 ? x3 : word === 2 ? x2 : word === 1 ? x1 : x0;
      for (let shift = 0; shift < 32; shift += 8) {
        const byte = bits >>> shift;
        let rest = z3 & 0xf;
        z3 = (z3 >>> 4) | (z2 << 28);
        z2 = (z2 >>> 4) | (z1 << 28);
        z1 = (z1 >>> 4) | (z0 << 28);
        z0 = (z0 >>> 4) ^ GHASH_REDUCE[rest];
        let at = (byte & 0xf) << 2;
        z0 ^= table[at];
        z1 ^= table[at + 1];
        z2 ^= table[at + 2];
        z3 ^= table[at + 3];
        rest = z3 & 0xf;
        z3 = (z3 >>> 4) | (z2 << 28);
        z2 = (z2 >>> 4) | (z1 << 28);
        z1 = (z1 >>> 4) | (z0 << 28);
        z0 = (z0 >>> 4) ^ GHASH_REDUCE[rest];
        at = (byte & 0xf0) >>> 2;
        z0 ^= table[at];
        z1 ^= table[at + 1];
        z2 ^= table[at + 2];
        z3 ^= table[at + 3];
      }
    }
    this.#y0 = z0;
    this.#y1 = z1;
    this.#y2 = z2;
    this.#y3 = z3;
  }
}

// The AES block function (FIPS 197) on the little-endian words of noble's
// key schedule, by 1 KiB T-tables (one per row, 4 KiB in all) and the S-box.
// noble's own block function reads two merged 256 KiB tables, which a
// simulation of thousands of channels evicts from the CPU cache between
// frames; these stay in it. The result goes to one shared array, read before
// the next call.

const AES_SBOX = new Uint8Array(256);
const AES_T0 = new Uint32Array(256);
const AES_T1 = new Uint32Array(256);
const AES_T2 = new Uint32Array(256);
const AES_T3 = new Uint32Array(256);
{
  const xtime = (x: number) => ((x << 1) ^ (x & 0x80 ? 0x1b : 0)) & 0xff;
  // Powers and logarithms of the generator 3, for inverses in GF(2^8).
  const power = new Uint8Array(255);
  const log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    power[i] = x;
    log[x] = i;
    x ^= xtime(x);
  }
  for (let x = 0; x < 256; x++) {
    const inverse = x === 0 ? 0 : power[(255 - log[x]) % 255];
    let box = inverse;
    for (let turn = 1, rotated = inverse; turn <= 4; turn++) {
      rotated = ((rotated << 1) | (rotated >>> 7)) & 0xff;
      box ^= rotated;
    }
    box ^= 0x63;
    AES_SBOX[x] = box;
    // MixColumns of (box, 0, 0, 0): rows 2·S, S, S, 3·S, row 0 lowest.
    const column = (xtime(box) | (box << 8) | (box << 16) |
      ((xtime(box) ^ box) << 24)) >>> 0;
    AES_T0[x] = column;
    AES_T1[x] = ((column << 8) | (column >>> 24)) >>> 0;
    AES_T2[x] = ((column << 16) | (column >>> 16)) >>> 0;
    AES_T3[x] = ((column << 24) | (column >>> 8)) >>> 0;
  }
}
const AES_OUT = new Int32Array(4);

/** One AES block under `roundKeys`, in and out as little-endian words. */
function aesBlock(
  roundKeys: Uint32Array,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
): Int32Array {
  const t0 = AES_T0, t1 = AES_T1, t2 = AES_T2, t3 = AES_T3;
  s0 ^= roundKeys[0];
  s1 ^= roundKeys[1];
  s2 ^= roundKeys[2];
  s3 ^= roundKeys[3];
  let k = 4;
  for (const last = roundKeys.length - 4; k < last; k += 4) {
    const r0 = roundKeys[k] ^ t0[s0 & 0xff] ^ t1[(s1 >>> 8) & 0xff] ^
      t2[(s2 >>> 16) & 0xff] ^ t3[s3 >>> 24];
    const r1 = roundKeys[k + 1] ^ t0[s1 & 0xff] ^ t1[(s2 >>> 8) & 0xff] ^
      t2[(s3 >>> 16) & 0xff] ^ t3[s0 >>> 24];
    const r2 = roundKeys[k + 2] ^ t0[s2 & 0xff] ^ t1[(s3 >>> 8) & 0xff] ^
      t2[(s0 >>> 16) & 0xff] ^ t3[s1 >>> 24];
    const r3 = roundKeys[k + 3] ^ t0[s3 & 0xff] ^ t1[(s0 >>> 8) & 0xff] ^
      t2[(s1 >>> 16) & 0xff] ^ t3[s2 >>> 24];
    s0 = r0;
    s1 = r1;
    s2 = r2;
    s3 = r3;
  }
  const box = AES_SBOX;
  AES_OUT[0] = roundKeys[k] ^ (box[s0 & 0xff] | (box[(s1 >>> 8) & 0xff] << 8) |
    (box[(s2 >>> 16) & 0xff] << 16) | (box[s3 >>> 24] << 24));
  AES_OUT[1] = roundKeys[k + 1] ^
    (box[s1 & 0xff] | (box[(s2 >>> 8) & 0xff] << 8) |
      (box[(s3 >>> 16) & 0xff] << 16) | (box[s0 >>> 24] << 24));
  AES_OUT[2] = roundKeys[k + 2] ^
    (box[s2 & 0xff] | (box[(s3 >>> 8) & 0xff] << 8) |
      (box[(s0 >>> 16) & 0xff] << 16) | (box[s1 >>> 24] << 24));
  AES_OUT[3] = roundKeys[k + 3] ^
    (box[s3 & 0xff] | (box[(s0 >>> 8) & 0xff] << 8) |
      (box[(s1 >>> 16) & 0xff] << 16) | (box[s2 >>> 24] << 24));
  return AES_OUT;
}

/**
 * An AES-256-GCM key expanded once: the AES round keys, the GHASH key and its
 * multiplication table are derived in the constructor, so each seal or open
 * costs only the counter-mode blocks and GHASH over the message. Same bytes as
 * `aesGcmEncrypt`/`aesGcmDecrypt` (lib/crypto.ts); for a key that seals many
 * messages (a secure channel's direction), not for one-shot use.
 *
 * Nonces must be 12 bytes; the caller must never reuse one under a key. The
 * counter blocks, the keystream and GHASH are computed on 32-bit words held in
 * locals, so a seal or open allocates only its output (a secure channel seals
 * and opens a frame per keepalive, which made the allocations most of the cost).
 *
 * @example
 * ```ts
 * import { AesGcmKey } from "./aes_gcm_key.ts";
 * import { utf8 } from "./crypto.ts";
 * const key = new AesGcmKey(new Uint8Array(32));
 * const nonce = new Uint8Array(12);
 * const sealed = key.seal(nonce, utf8("hi"), utf8("ad"));
 * console.assert(key.open(nonce, sealed, utf8("ad"))?.length === 2);
 * ```
 */
export class AesGcmKey {
  readonly #roundKeys: Uint32Array;
  readonly #ghash: Ghash;
  // J0 = nonce || 0x00000001 (NIST SP 800-38D, 96-bit IV) as the
  // little-endian words the block function takes; set per message.
  #nonce0 = 0;
  #nonce1 = 0;
  #nonce2 = 0;

  /** Expands a 32-byte AES-256 key. */
  constructor(key: Uint8Array) {
    if (key.length !== AES_KEY_BYTES) {
      throw new RangeError(`AES-256-GCM key must be ${AES_KEY_BYTES} bytes`);
    }
    this.#roundKeys = aesUnsafe.expandKeyLE(key);
    const hashKey = new Uint8Array(16);
    aesUnsafe.ctr32(
      this.#roundKeys,
      false,
      new Uint8Array(16),
      ZERO_BLOCK,
      hashKey,
    );
    this.#ghash = new Ghash(hashKey);
    hashKey.fill(0);
  }

  /** Ciphertext followed by the 16-byte tag. */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array {
    const out = new Uint8Array(
      associatedData.length + plaintext.length + GCM_TAG_BYTES,
    );
    out.set(associatedData);
    out.set(plaintext, associatedData.length);
    this.sealInPlace(nonce, out, associatedData.length);
    return out.subarray(associatedData.length);
  }

  /**
   * Seals in place, for a caller that builds the whole record in one buffer:
   * `buffer` holds the associated data (its first `associatedDataBytes`),
   * then the plaintext, then 16 spare bytes. The plaintext is replaced by its
   * ciphertext and the tag is written into the spare bytes; the associated
   * data is left as it is.
   *
   * @param nonce 12 bytes, never reused under this key.
   * @param buffer Associated data, plaintext, 16 bytes for the tag.
   * @param associatedDataBytes How many leading bytes are associated data.
   * @throws {RangeError} If the nonce is not 12 bytes or the buffer has no
   *   room for the associated data and the tag.
   */
  sealInPlace(
    nonce: Uint8Array,
    buffer: Uint8Array,
    associatedDataBytes: number,
  ): void {
    const bodyEnd = buffer.length - GCM_TAG_BYTES;
    if (associatedDataBytes < 0 || bodyEnd < associatedDataBytes) {
      throw new RangeError(
        `Cannot seal in place: ${buffer.length} bytes hold no ${associatedDataBytes}-byte associated data and tag`,
      );
    }
    this.#setNonce(nonce);
    this.#crypt(
      buffer,
      associatedDataBytes,
      bodyEnd,
      buffer,
      associatedDataBytes,
    );
    const ghash = this.#tag(
      buffer,
      0,
      associatedDataBytes,
      buffer,
      associatedDataBytes,
      bodyEnd,
    );
    const mask = this.#tagMask();
    writeWord(buffer, bodyEnd, ghash.word(0) ^ mask[0]);
    writeWord(buffer, bodyEnd + 4, ghash.word(1) ^ mask[1]);
    writeWord(buffer, bodyEnd + 8, ghash.word(2) ^ mask[2]);
    writeWord(buffer, bodyEnd + 12, ghash.word(3) ^ mask[3]);
  }

  /** The plaintext, or undefined when authentication fails. */
  open(
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array | undefined {
    const bodyEnd = this.#verify(nonce, ciphertext, associatedData);
    if (bodyEnd < 0) return undefined;
    const plaintext = new Uint8Array(bodyEnd);
    this.#crypt(ciphertext, 0, bodyEnd, plaintext, 0);
    return plaintext;
  }

  /**
   * {@link AesGcmKey.open} into the ciphertext's own bytes: on success its
   * first bytes become the plaintext (returned, a view of them); on failure
   * nothing is written.
   *
   * @example
   * ```ts
   * import { AesGcmKey } from "./aes_gcm_key.ts";
   *
   * const key = new AesGcmKey(new Uint8Array(32));
   * const nonce = new Uint8Array(12);
   * const sealed = key.seal(nonce, new Uint8Array([1, 2]), new Uint8Array(0));
   * const plaintext = key.openInPlace(nonce, sealed, new Uint8Array(0));
   * console.assert(plaintext?.buffer === sealed.buffer && plaintext[1] === 2);
   * ```
   */
  openInPlace(
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array | undefined {
    const bodyEnd = this.#verify(nonce, ciphertext, associatedData);
    if (bodyEnd < 0) return undefined;
    this.#crypt(ciphertext, 0, bodyEnd, ciphertext, 0);
    return ciphertext.subarray(0, bodyEnd);
  }

  /** The plaintext's length if the tag is right (the nonce set), else -1. */
  #verify(
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    associatedData: Uint8Array,
  ): number {
    if (ciphertext.length < GCM_TAG_BYTES) return -1;
    this.#setNonce(nonce);
    const bodyEnd = ciphertext.length - GCM_TAG_BYTES;
    const ghash = this.#tag(
      associatedData,
      0,
      associatedData.length,
      ciphertext,
      0,
      bodyEnd,
    );
    const mask = this.#tagMask();
    // Constant-shape comparison of the four tag words.
    const diff = (ghash.word(0) ^ mask[0] ^ readWord(ciphertext, bodyEnd)) |
      (ghash.word(1) ^ mask[1] ^ readWord(ciphertext, bodyEnd + 4)) |
      (ghash.word(2) ^ mask[2] ^ readWord(ciphertext, bodyEnd + 8)) |
      (ghash.word(3) ^ mask[3] ^ readWord(ciphertext, bodyEnd + 12));
    return diff === 0 ? bodyEnd : -1;
  }

  #setNonce(nonce: Uint8Array): void {
    if (nonce.length !== GCM_NONCE_BYTES) {
      throw new RangeError(`AES-GCM nonce must be ${GCM_NONCE_BYTES} bytes`);
    }
    this.#nonce0 = readWord(nonce, 0);
    this.#nonce1 = readWord(nonce, 4);
    this.#nonce2 = readWord(nonce, 8);
  }

  /**
   * Counter mode from inc32(J0): `source[start, end)` XOR the keystream into
   * `target` from `at` (the same buffer and offset is fine: each byte is read
   * before it is written).
   */
  #crypt(
    source: Uint8Array,
    start: number,
    end: number,
    target: Uint8Array,
    at: number,
  ): void {
    const roundKeys = this.#roundKeys;
    let counter = 2;
    for (let offset = start; offset < end; offset += 16) {
      const block = aesBlock(
        roundKeys,
        this.#nonce0,
        this.#nonce1,
        this.#nonce2,
        byteSwap(counter),
      );
      counter = (counter + 1) >>> 0;
      const shift = at - start;
      if (offset + 16 <= end) {
        writeWord(target, offset + shift, readWord(source, offset) ^ block[0]);
        writeWord(
          target,
          offset + shift + 4,
          readWord(source, offset + 4) ^ block[1],
        );
        writeWord(
          target,
          offset + shift + 8,
          readWord(source, offset + 8) ^ block[2],
        );
        writeWord(
          target,
          offset + shift + 12,
          readWord(source, offset + 12) ^ block[3],
        );
      } else {
        for (let i = 0; offset + i < end; i++) {
          const word = i < 4
            ? block[0]
            : i < 8
            ? block[1]
            : i < 12
            ? block[2]
            : block[3];
          target[offset + shift + i] = source[offset + i] ^
            (word >>> (8 * (i & 3)));
        }
      }
    }
  }

  /**
   * GHASH of `aad[aadStart, aadEnd)` then `body[bodyStart, bodyEnd)` and
   * their lengths (the same buffer may hold both).
   */
  #tag(
    aad: Uint8Array,
    aadStart: number,
    aadEnd: number,
    body: Uint8Array,
    bodyStart: number,
    bodyEnd: number,
  ): Ghash {
    const ghash = this.#ghash.reset();
    ghash.absorb(aad, aadStart, aadEnd);
    ghash.absorb(body, bodyStart, bodyEnd);
    ghash.absorbLengths(aadEnd - aadStart, bodyEnd - bodyStart);
    return ghash;
  }

  /** E(K, J0): what the GHASH is masked with to give the tag. */
  #tagMask(): Int32Array {
    return aesBlock(
      this.#roundKeys,
      this.#nonce0,
      this.#nonce1,
      this.#nonce2,
      J0_COUNTER_WORD,
    );
  }
}

const ZERO_BLOCK = new Uint8Array(16);
// The last word of J0 (counter 1, big-endian) read as a little-endian word.
const J0_COUNTER_WORD = 0x01000000;

/** `bytes[at, at + 4)` as a little-endian 32-bit word, whatever the host. */
function readWord(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) |
    (bytes[at + 3] << 24);
}

/** `bytes[at, at + 4)` as a big-endian 32-bit word. */
function readWordBE(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3]) >>> 0;
}

/** Like {@link readWordBE}, with the bytes from `end` on read as zeros. */
function readPartialWordBE(bytes: Uint8Array, at: number, end: number): number {
  let word = 0;
  for (let i = 0; i < 4 && at + i < end; i++) {
    word |= bytes[at + i] << (24 - 8 * i);
  }
  return word >>> 0;
}

/** Writes `word` little-endian at `bytes[at]`. */
function writeWord(bytes: Uint8Array, at: number, word: number): void {
  bytes[at] = word;
  bytes[at + 1] = word >>> 8;
  bytes[at + 2] = word >>> 16;
  bytes[at + 3] = word >>> 24;
}

/** A 32-bit counter as big-endian bytes read as a little-endian word. */
function byteSwap(value: number): number {
  return ((value & 0xff) << 24) | ((value & 0xff00) << 8) |
    ((value >>> 8) & 0xff00) | (value >>> 24);
}
