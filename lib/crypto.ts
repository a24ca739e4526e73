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
import { gcm } from "npm:@noble/ciphers@^2.4.0/aes.js";

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
