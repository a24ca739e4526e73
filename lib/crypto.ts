/**
 * Synchronous cryptographic primitives (hashes, HMAC, Ed25519, X25519, HKDF,
 * AES-GCM) for every layer: identity, DHT tokens, trust, channels.
 *
 * Everything here is synchronous on purpose: the simulator replays a run byte
 * for byte only if no protocol step waits on work that finishes in an order
 * the operating system picks, and Web Crypto's promises resolve from a thread
 * pool. The noble libraries give audited, synchronous Ed25519, X25519,
 * SHA-1/SHA-256, HKDF and AES-GCM; the tests cross-check them against Web
 * Crypto and the RFC vectors. The secure channel's per-frame AES-256-GCM,
 * `AesGcmKey` (re-exported from `lib/aes_gcm_key.ts`), is this project's own
 * block function and GHASH over noble's key schedule, checked against noble's
 * one-shot GCM and the GCM specification's test cases.
 *
 * The Ed25519 and X25519 operations go through a replaceable
 * {@link CurveOperations}: noble's by default, or the platform's synchronous
 * native ones (`lib/io/native_curves.ts`, installed with
 * {@link useCurveOperations} by the daemon and the simulator), which give the
 * same bytes and the same verdicts several times faster.
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
import { _HMAC, hmac } from "npm:@noble/hashes@^2.4.0/hmac.js";
import { x25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import { gcm } from "npm:@noble/ciphers@^2.4.0/aes.js";
export { AesGcmKey, GCM_NONCE_BYTES } from "./aes_gcm_key.ts";

ed.hashes.sha512 = sha512;

/** The state type of noble's SHA-256. */
type Sha256 = ReturnType<typeof nobleSha256.create>;

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

/**
 * HMAC-SHA-256 under one fixed `key`, for many messages: the key's padded
 * blocks are hashed once here, not on every call, which halves the work for
 * short messages (the DHT's write tokens make one per requester).
 *
 * @param key The key, any length.
 * @returns A function giving the same 32 bytes as `hmacSha256(key, data)`,
 *   written into `out` when it is given (at least 32 bytes; the function
 *   returns it), else into new bytes.
 */
export function hmacSha256Keyed(
  key: Uint8Array,
): (data: Uint8Array, out?: Uint8Array) => Uint8Array {
  // The class rather than `hmac.create`, whose declared type cannot be
  // cloned into.
  const keyed = new _HMAC<Sha256>(nobleSha256, key);
  // One scratch state, overwritten from the keyed one for every message:
  // `clone()` would allocate two hashes and their buffers each time.
  let scratch: _HMAC<Sha256> | undefined;
  return (data, out) => {
    const state = keyed._cloneInto(scratch);
    scratch = state;
    if (out === undefined) return state.update(data).digest();
    state.update(data).digestInto(out);
    return out;
  };
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

/**
 * The Ed25519 and X25519 operations this module's functions run on. Every
 * implementation must give the same bytes and the same verdicts as
 * {@link NOBLE_CURVES}: deterministic RFC 8032 signatures, strict RFC 8032
 * verification as noble's `{ zip215: false }` (canonical encodings of R and
 * A, S below the group order, no small-order A), RFC 7748 X25519; and each
 * call must finish before it returns (no promise), so simulations replay.
 */
export interface CurveOperations {
  /** Ed25519 public key of a 32-byte secret seed. */
  ed25519PublicKey(secret: Uint8Array): Uint8Array;
  /** Ed25519 signature of `message` by the 32-byte secret seed. */
  ed25519Sign(message: Uint8Array, secret: Uint8Array): Uint8Array;
  /**
   * Strict verification of a 64-byte signature under a 32-byte key (the
   * lengths are checked before); may throw for a malformed input, which
   * counts as invalid.
   */
  ed25519Verify(
    signature: Uint8Array,
    message: Uint8Array,
    publicKey: Uint8Array,
  ): boolean;
  /** X25519 public key of a 32-byte secret. */
  x25519PublicKey(secret: Uint8Array): Uint8Array;
  /**
   * X25519 shared secret with a 32-byte peer key; may throw for a low-order
   * peer key (an all-zero result is refused by the caller anyway).
   */
  x25519Shared(secret: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

/** The audited pure-JS operations of noble (the default). */
export const NOBLE_CURVES: CurveOperations = {
  ed25519PublicKey: (secret) => ed.getPublicKey(secret),
  ed25519Sign: (message, secret) => ed.sign(message, secret),
  ed25519Verify: (signature, message, publicKey) =>
    ed.verify(signature, message, publicKey, { zip215: false }),
  x25519PublicKey: (secret) => x25519.getPublicKey(secret),
  x25519Shared: (secret, publicKey) =>
    x25519.getSharedSecret(secret, publicKey),
};

let curves: CurveOperations = NOBLE_CURVES;

/**
 * Replaces the Ed25519 and X25519 operations of the whole process (see
 * {@link CurveOperations} for what a replacement must guarantee). The daemon
 * and the simulator install the platform's native ones at start-up.
 *
 * @param operations The operations every later call runs on.
 */
export function useCurveOperations(operations: CurveOperations): void {
  curves = operations;
}

/** Ed25519 public key of a 32-byte secret seed. */
export function ed25519PublicKey(secret: Uint8Array): Uint8Array {
  return curves.ed25519PublicKey(secret);
}

/** Ed25519 signature (RFC 8032, deterministic). */
export function ed25519Sign(
  message: Uint8Array,
  secret: Uint8Array,
): Uint8Array {
  return curves.ed25519Sign(message, secret);
}

// Verification is the hot path (every watcher checks every announcement), and
// the same record reaches many nodes of a simulation, so results are memoized.
// The key is a SHA-256 over key, signature and message, so a hit means the very
// same bytes were checked before; the cache is bounded and evicts the least
// recently used first.
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
  if (cached !== undefined) {
    // Least recently used goes first: a certificate checked at every
    // handshake stays cached while one-off handshake signatures pass through.
    verifyCache.delete(digest);
    verifyCache.set(digest, cached);
    return cached;
  }
  let valid = false;
  try {
    valid = curves.ed25519Verify(signature, message, publicKey);
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
  return curves.x25519PublicKey(secret);
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
    const shared = curves.x25519Shared(secret, publicKey);
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
