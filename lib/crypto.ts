/**
 * Synchronous cryptographic primitives (hashes, HMAC, Ed25519, X25519, HKDF,
 * AES-GCM) for every layer: identity, DHT tokens, trust, channels.
 *
 * Everything here is synchronous on purpose: the simulator replays a run byte
 * for byte only if no protocol step waits on work that finishes in an order
 * the operating system picks, and Web Crypto's promises resolve from a thread
 * pool. The noble libraries give audited, synchronous Ed25519, X25519,
 * SHA-1/SHA-256, HKDF and AES-GCM; the tests cross-check them against Web
 * Crypto and the RFC vectors.
 *
 * @module
 */
import * as ed from "npm:@noble/ed25519@^3.2.0";
import {
  sha256 as nobleSha256,
  sha512,
} from "npm:@noble/hashes@^2.4.0/sha2.js";
import { sha1 as nobleSha1 } from "npm:@noble/hashes@^2.4.0/legacy.js";
import { hkdf as nobleHkdf } from "npm:@noble/hashes@^2.4.0/hkdf.js";
import { hmac } from "npm:@noble/hashes@^2.4.0/hmac.js";
import { x25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import { gcm, unsafe as aesUnsafe } from "npm:@noble/ciphers@^2.4.0/aes.js";
import { GHASH } from "npm:@noble/ciphers@^2.4.0/_polyval.js";

ed.hashes.sha512 = sha512;

/** Length of an Ed25519 or X25519 key, in bytes. */
export const KEY_BYTES = 32;
/** Length of an Ed25519 signature, in bytes. */
export const SIGNATURE_BYTES = 64;
/** Length of an AES-GCM tag, in bytes. */
export const TAG_BYTES = 16;

/** SHA-1 of `data` (20 bytes). Used only for InfoHash, as OpenDHT does. */
export function sha1(data: Uint8Array): Uint8Array {
  return nobleSha1(data);
}

/** SHA-256 of `data` (32 bytes). */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** HMAC-SHA-256 (RFC 2104) of `data` under `key` (32 bytes). */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(nobleSha256, key, data);
}

/** HKDF-SHA-256 (RFC 5869). */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return nobleHkdf(nobleSha256, ikm, salt, info, length);
}

/** Ed25519 public key of a 32-byte secret seed. */
export function ed25519PublicKey(secret: Uint8Array): Uint8Array {
  return ed.getPublicKey(secret);
}

/** Ed25519 signature (RFC 8032, deterministic). */
export function ed25519Sign(
  message: Uint8Array,
  secret: Uint8Array,
): Uint8Array {
  return ed.sign(message, secret);
}

// Verification is the hot path (every watcher checks every announcement), and
// the same record reaches many nodes of a simulation, so results are memoized.
// The key is a SHA-256 over key, signature and message, so a hit means the very
// same bytes were checked before; the cache is bounded and evicts oldest first.
const VERIFY_CACHE_MAX = 8192;
const verifyCache = new Map<string, boolean>();

/** Empties the verification cache (benchmarks measure uncached checks). */
export function clearVerifyCache(): void {
  verifyCache.clear();
}

/**
 * Strict RFC 8032 Ed25519 verification. Returns false for malformed keys or
 * signatures instead of throwing.
 */
export function ed25519Verify(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (
    signature.length !== SIGNATURE_BYTES || publicKey.length !== KEY_BYTES
  ) {
    return false;
  }
  const digest = nobleSha256.create().update(publicKey).update(signature)
    .update(message).digest().toHex();
  const cached = verifyCache.get(digest);
  if (cached !== undefined) return cached;
  let valid = false;
  try {
    valid = ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    valid = false;
  }
  if (verifyCache.size >= VERIFY_CACHE_MAX) {
    const oldest = verifyCache.keys().next().value;
    if (oldest !== undefined) verifyCache.delete(oldest);
  }
  verifyCache.set(digest, valid);
  return valid;
}

/** X25519 public key of a 32-byte secret. */
export function x25519PublicKey(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

/**
 * X25519 shared secret. Returns undefined when the peer key is malformed or
 * of low order (the result would be all zeros).
 */
export function x25519Shared(
  secret: Uint8Array,
  publicKey: Uint8Array,
): Uint8Array | undefined {
  if (publicKey.length !== KEY_BYTES) return undefined;
  try {
    const shared = x25519.getSharedSecret(secret, publicKey);
    if (shared.every((byte) => byte === 0)) return undefined;
    return shared;
  } catch {
    return undefined;
  }
}

/** AES-256-GCM encryption; returns ciphertext followed by the 16-byte tag. */
export function aesGcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array {
  return gcm(key, nonce, associatedData).encrypt(plaintext);
}

/** AES-256-GCM decryption; returns undefined when authentication fails. */
export function aesGcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array | undefined {
  if (ciphertext.length < TAG_BYTES) return undefined;
  try {
    return gcm(key, nonce, associatedData).decrypt(ciphertext);
  } catch {
    return undefined;
  }
}

/** Length of the AES-GCM nonce {@link AesGcmKey} takes, in bytes. */
export const GCM_NONCE_BYTES = 12;

// GHASH state that can be rewound: the key-derived table is built once and
// reused for every message under the same key. noble builds the table of the
// 4-bit window (the length hint 2048 picks it: 32 windows of 16 entries) as
// objects; it is copied into one Uint32Array (8 KiB per key instead of 512
// objects) and the per-block multiplication reads it there, in noble's order.
const GHASH_WINDOW_HINT = 2048;
const GHASH_TABLE_ENTRIES = 32 * 16;
const HOST_IS_LITTLE_ENDIAN =
  new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

class ReusableGhash extends GHASH {
  #table = new Uint32Array(GHASH_TABLE_ENTRIES * 4);

  constructor(hashKey: Uint8Array) {
    super(hashKey, GHASH_WINDOW_HINT);
    if (this.t.length !== GHASH_TABLE_ENTRIES) {
      throw new Error("GHASH table has an unexpected window size");
    }
    for (let i = 0; i < GHASH_TABLE_ENTRIES; i++) {
      const entry = this.t[i];
      this.#table[4 * i] = entry.s0;
      this.#table[4 * i + 1] = entry.s1;
      this.#table[4 * i + 2] = entry.s2;
      this.#table[4 * i + 3] = entry.s3;
      entry.s0 = 0;
      entry.s1 = 0;
      entry.s2 = 0;
      entry.s3 = 0;
    }
    this.t = [];
  }

  reset(): this {
    this.s0 = 0;
    this.s1 = 0;
    this.s2 = 0;
    this.s3 = 0;
    this.finished = false;
    return this;
  }

  // noble copies every update; views that are already 4-byte aligned are
  // read in place here (on little-endian hosts, where the words need no swap).
  override update(data: Uint8Array): this {
    if (!HOST_IS_LITTLE_ENDIAN || data.byteOffset % 4 !== 0 || this.finished) {
      return super.update(data);
    }
    const blocks = Math.floor(data.length / 16);
    const words = new Uint32Array(data.buffer, data.byteOffset, blocks * 4);
    for (let i = 0; i < words.length; i += 4) {
      this._updateBlock(words[i], words[i + 1], words[i + 2], words[i + 3]);
    }
    if (blocks * 16 < data.length) {
      const last = new Uint8Array(16);
      last.set(data.subarray(blocks * 16));
      const tail = new Uint32Array(last.buffer);
      this._updateBlock(tail[0], tail[1], tail[2], tail[3]);
    }
    return this;
  }

  protected override _updateBlock(
    s0: number,
    s1: number,
    s2: number,
    s3: number,
  ): void {
    s0 ^= this.s0;
    s1 ^= this.s1;
    s2 ^= this.s2;
    s3 ^= this.s3;
    const table = this.#table;
    let o0 = 0, o1 = 0, o2 = 0, o3 = 0;
    let window = 0;
    for (let word = 0; word < 4; word++) {
      const num = word === 0 ? s0 : word === 1 ? s1 : word === 2 ? s2 : s3;
      for (let bytePos = 0; bytePos < 4; bytePos++) {
        const byte = (num >>> (8 * bytePos)) & 0xff;
        let at = (window * 16 + (byte >>> 4)) * 4;
        o0 ^= table[at];
        o1 ^= table[at + 1];
        o2 ^= table[at + 2];
        o3 ^= table[at + 3];
        at = ((window + 1) * 16 + (byte & 0xf)) * 4;
        o0 ^= table[at];
        o1 ^= table[at + 1];
        o2 ^= table[at + 2];
        o3 ^= table[at + 3];
        window += 2;
      }
    }
    this.s0 = o0;
    this.s1 = o1;
    this.s2 = o2;
    this.s3 = o3;
  }
}

/**
 * An AES-256-GCM key expanded once: the AES round keys, the GHASH key and its
 * multiplication table are derived in the constructor, so each seal or open
 * costs only the counter-mode blocks and GHASH over the message. Same bytes as
 * {@link aesGcmEncrypt}/{@link aesGcmDecrypt}; for a key that seals many
 * messages (a secure channel's direction), not for one-shot use.
 *
 * Nonces must be 12 bytes; the caller must never reuse one under a key.
 *
 * @example
 * ```ts
 * import { AesGcmKey, utf8 } from "./crypto.ts";
 * const key = new AesGcmKey(new Uint8Array(32));
 * const nonce = new Uint8Array(12);
 * const sealed = key.seal(nonce, utf8("hi"), utf8("ad"));
 * console.assert(key.open(nonce, sealed, utf8("ad"))?.length === 2);
 * ```
 */
export class AesGcmKey {
  readonly #roundKeys: Uint32Array;
  readonly #ghash: ReusableGhash;

  /** Expands a 32-byte AES-256 key. */
  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) {
      throw new RangeError(`AES-256-GCM key must be ${KEY_BYTES} bytes`);
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
    this.#ghash = new ReusableGhash(hashKey);
    hashKey.fill(0);
  }

  /** Ciphertext followed by the 16-byte tag. */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array {
    const counter = this.#firstCounter(nonce);
    const tagMask = aesUnsafe.ctr32(
      this.#roundKeys,
      false,
      counter,
      ZERO_BLOCK,
    );
    const out = new Uint8Array(plaintext.length + TAG_BYTES);
    const body = out.subarray(0, plaintext.length);
    aesUnsafe.ctr32(this.#roundKeys, false, counter, aligned(plaintext), body);
    out.set(this.#tag(tagMask, body, associatedData), plaintext.length);
    return out;
  }

  /** The plaintext, or undefined when authentication fails. */
  open(
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array | undefined {
    if (ciphertext.length < TAG_BYTES) return undefined;
    const counter = this.#firstCounter(nonce);
    const tagMask = aesUnsafe.ctr32(
      this.#roundKeys,
      false,
      counter,
      ZERO_BLOCK,
    );
    const sealed = aligned(ciphertext);
    const body = sealed.subarray(0, sealed.length - TAG_BYTES);
    const tag = this.#tag(tagMask, body, associatedData);
    if (!bytesEqual(tag, sealed.subarray(body.length))) return undefined;
    return aesUnsafe.ctr32(this.#roundKeys, false, counter, body);
  }

  // J0 = nonce || 0x00000001 (NIST SP 800-38D, 96-bit IV); the caller's
  // first ctr32() call turns it into E(J0) and leaves inc32(J0) behind.
  #firstCounter(nonce: Uint8Array): Uint8Array {
    if (nonce.length !== GCM_NONCE_BYTES) {
      throw new RangeError(`AES-GCM nonce must be ${GCM_NONCE_BYTES} bytes`);
    }
    const counter = new Uint8Array(16);
    counter.set(nonce);
    counter[15] = 1;
    return counter;
  }

  #tag(
    tagMask: Uint8Array,
    ciphertext: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array {
    const lengths = new Uint8Array(16);
    const view = new DataView(lengths.buffer);
    setBitLength(view, 0, associatedData.length);
    setBitLength(view, 8, ciphertext.length);
    const ghash = this.#ghash.reset();
    if (associatedData.length > 0) ghash.update(associatedData);
    ghash.update(ciphertext).update(lengths);
    const tag = new Uint8Array(16);
    ghash.digestInto(tag);
    for (let i = 0; i < 16; i++) tag[i] ^= tagMask[i];
    return tag;
  }
}

const ZERO_BLOCK = new Uint8Array(16);

// A byte length as a 64-bit big-endian bit count (exact below 2^50 bytes).
function setBitLength(view: DataView, offset: number, bytes: number): void {
  const bits = bytes * 8;
  view.setUint32(offset, Math.floor(bits / 0x1_0000_0000));
  view.setUint32(offset + 4, bits >>> 0);
}

// The counter-mode helper reads 32-bit words, so views must start aligned.
function aligned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
}

/** Constant-shape byte equality (length first, then every byte). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Concatenation of byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const encoder = new TextEncoder();
/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
