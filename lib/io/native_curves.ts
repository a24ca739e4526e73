/**
 * `NATIVE_CURVES`: Ed25519 and X25519 by the platform's synchronous native
 * crypto (`node:crypto`, tested under Deno), for
 * `useCurveOperations` (lib/crypto.ts). Same bytes and verdicts as noble's
 * operations, 4 to 20 times faster: a handshake of a secure channel signs
 * once, verifies once and agrees three keys, which made the curves a seventh
 * of a simulation's time.
 *
 * Each call finishes before it returns (`sign`, `verify` and `diffieHellman`
 * without a callback), so a simulation still replays byte for byte; nothing
 * here draws randomness. Secret keys are imported per call from their raw
 * bytes (RFC 8410 DER), so no secret is kept here. Public keys are imported
 * once and kept in a cache of {@link PUBLIC_KEY_CACHE_SIZE} per curve (a
 * contact's device key is checked at every record and handshake; the import
 * was a quarter of a verification's cost); a full cache forgets its oldest
 * key, so a flood of new keys costs no more than it did without it.
 *
 * Native verification checks `[S]B = R + [k]A` on the signature's R bytes;
 * noble's strict mode (`zip215: false`) also refuses non-canonical encodings
 * of R and A, the x = 0 encodings with the sign bit set, an S not below the
 * group order and every small-order A. Those checks run here first on the raw
 * bytes, so this accepts no signature noble refuses (tests/native_curves_test.ts
 * compares both on vectors, random inputs and each of these edge cases).
 *
 * @example Same signature and verdict as noble
 * ```ts
 * import assert from "node:assert/strict";
 * import { NATIVE_CURVES } from "./native_curves.ts";
 * import { NOBLE_CURVES } from "../crypto.ts";
 *
 * const secret = new Uint8Array(32).fill(7);
 * const message = new TextEncoder().encode("hello");
 * const signature = NATIVE_CURVES.ed25519Sign(message, secret);
 * assert.deepEqual(signature, NOBLE_CURVES.ed25519Sign(message, secret));
 * const publicKey = NATIVE_CURVES.ed25519PublicKey(secret);
 * assert.ok(NATIVE_CURVES.ed25519Verify(signature, message, publicKey));
 * signature[0] ^= 1;
 * assert.equal(NATIVE_CURVES.ed25519Verify(signature, message, publicKey), false);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { ED25519_TORSION_SUBGROUP } from "npm:@noble/curves@^2.4.0/ed25519.js";
import type { CurveOperations } from "../crypto.ts";

// RFC 8410 DER prefixes: PKCS #8 private key (then the 32-byte secret) and
// SubjectPublicKeyInfo (then the 32-byte public key), OID 1.3.101.112
// (Ed25519) and 1.3.101.110 (X25519).
const ED25519_PKCS8 = [
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
];
const ED25519_SPKI = [
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x03,
  0x21,
  0x00,
];
const X25519_PKCS8 = [
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
];
const X25519_SPKI = [
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
];
const KEY_BYTES = 32;
const SPKI_PREFIX_BYTES = ED25519_SPKI.length;

// The group order L = 2^252 + 27742317777372353535851937790883648493, as
// little-endian bytes (how S is encoded).
const GROUP_ORDER = new Uint8Array([
  0xed,
  0xd3,
  0xf5,
  0x5c,
  0x1a,
  0x63,
  0x12,
  0x58,
  0xd6,
  0x9c,
  0xf7,
  0xa2,
  0xde,
  0xf9,
  0xde,
  0x14,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x10,
]);

// The canonical encodings of the eight points of small order (noble lists
// them); a public key equal to one is refused, as noble's strict mode does.
const SMALL_ORDER_KEYS: ReadonlySet<string> = new Set(ED25519_TORSION_SUBGROUP);

function der(prefix: readonly number[], key: Uint8Array): Buffer {
  const bytes = Buffer.alloc(prefix.length + key.length);
  bytes.set(prefix);
  bytes.set(key, prefix.length);
  return bytes;
}

function privateKey(prefix: readonly number[], secret: Uint8Array): KeyObject {
  if (secret.length !== KEY_BYTES) {
    throw new RangeError(
      `Cannot import secret key: ${secret.length} bytes instead of ${KEY_BYTES}`,
    );
  }
  return createPrivateKey({
    key: der(prefix, secret),
    format: "der",
    type: "pkcs8",
  });
}

/** Public keys kept imported, per curve. */
export const PUBLIC_KEY_CACHE_SIZE = 1_024;

/** Imported public keys of one curve by their bytes (hex), oldest first. */
class PublicKeyCache {
  readonly #prefix: readonly number[];
  readonly #keys = new Map<string, KeyObject>();

  constructor(prefix: readonly number[]) {
    this.#prefix = prefix;
  }

  /** The imported key for these 32 bytes (imported now if not kept). */
  get(key: Uint8Array, hex: string = key.toHex()): KeyObject {
    const kept = this.#keys.get(hex);
    if (kept !== undefined) return kept;
    const imported = createPublicKey({
      key: der(this.#prefix, key),
      format: "der",
      type: "spki",
    });
    if (this.#keys.size >= PUBLIC_KEY_CACHE_SIZE) {
      this.#keys.delete(this.#keys.keys().next().value as string);
    }
    this.#keys.set(hex, imported);
    return imported;
  }
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const spki = key.export({ format: "der", type: "spki" });
  return new Uint8Array(
    spki.buffer,
    spki.byteOffset + SPKI_PREFIX_BYTES,
    KEY_BYTES,
  ).slice();
}

/**
 * Whether 32 bytes are a canonical point encoding: y (the low 255 bits)
 * below p = 2^255 - 19, and not x = 0 (y = 1 or y = p - 1) with the sign bit.
 */
function isCanonicalPoint(bytes: Uint8Array, at: number): boolean {
  const top = bytes[at + 31] & 0x7f;
  const sign = bytes[at + 31] & 0x80;
  let middleAllOnes = true;
  let middleAllZeros = true;
  for (let i = 1; i < 31; i++) {
    if (bytes[at + i] !== 0xff) middleAllOnes = false;
    if (bytes[at + i] !== 0) middleAllZeros = false;
  }
  // y >= p: every byte 0xff but the lowest, which is at least 0xed.
  if (top === 0x7f && middleAllOnes && bytes[at] >= 0xed) return false;
  if (sign === 0) return true;
  // x = 0 with the sign bit: y = 1, or y = p - 1 (0xec, 0xff..., 0x7f).
  if (top === 0 && middleAllZeros && bytes[at] === 1) return false;
  if (top === 0x7f && middleAllOnes && bytes[at] === 0xec) return false;
  return true;
}

/** Whether S (the signature's second half, little-endian) is below L. */
function isReducedScalar(signature: Uint8Array): boolean {
  for (let i = KEY_BYTES - 1; i >= 0; i--) {
    const byte = signature[KEY_BYTES + i];
    if (byte !== GROUP_ORDER[i]) return byte < GROUP_ORDER[i];
  }
  return false;
}

/**
 * Whether a signature and key pass noble's strict checks that come before
 * the group equation: the canonical encodings, a reduced S, a key not of
 * small order.
 *
 * @param signature 64 bytes, R then S.
 * @param publicKey 32 bytes.
 * @returns False if noble's strict mode refuses them whatever the message.
 */
export function passesStrictEncodingChecks(
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  return passesStrictChecks(signature, publicKey, publicKey.toHex());
}

/** {@link passesStrictEncodingChecks} with the key's hex already made. */
function passesStrictChecks(
  signature: Uint8Array,
  publicKey: Uint8Array,
  publicKeyHex: string,
): boolean {
  return signature.length === 2 * KEY_BYTES &&
    publicKey.length === KEY_BYTES &&
    isCanonicalPoint(publicKey, 0) &&
    isCanonicalPoint(signature, 0) &&
    isReducedScalar(signature) &&
    !SMALL_ORDER_KEYS.has(publicKeyHex);
}

const ED25519_PUBLIC_KEYS = new PublicKeyCache(ED25519_SPKI);
const X25519_PUBLIC_KEYS = new PublicKeyCache(X25519_SPKI);

/** Ed25519 and X25519 by `node:crypto`, with noble's results. */
export const NATIVE_CURVES: CurveOperations = {
  ed25519PublicKey(secret: Uint8Array): Uint8Array {
    return rawPublicKey(
      createPublicKey(privateKey(ED25519_PKCS8, secret)),
    );
  },
  ed25519Sign(message: Uint8Array, secret: Uint8Array): Uint8Array {
    const signature = sign(null, message, privateKey(ED25519_PKCS8, secret));
    return new Uint8Array(
      signature.buffer,
      signature.byteOffset,
      signature.length,
    ).slice();
  },
  ed25519Verify(
    signature: Uint8Array,
    message: Uint8Array,
    publicKey: Uint8Array,
  ): boolean {
    // The key's hex serves both the small-order check and the cache.
    const hex = publicKey.toHex();
    if (!passesStrictChecks(signature, publicKey, hex)) return false;
    return verify(
      null,
      message,
      ED25519_PUBLIC_KEYS.get(publicKey, hex),
      signature,
    );
  },
  x25519PublicKey(secret: Uint8Array): Uint8Array {
    return rawPublicKey(createPublicKey(privateKey(X25519_PKCS8, secret)));
  },
  x25519Shared(secret: Uint8Array, publicKey: Uint8Array): Uint8Array {
    if (publicKey.length !== KEY_BYTES) {
      throw new RangeError(
        `Cannot agree on a key: peer key of ${publicKey.length} bytes instead of ${KEY_BYTES}`,
      );
    }
    const shared = diffieHellman({
      privateKey: privateKey(X25519_PKCS8, secret),
      publicKey: X25519_PUBLIC_KEYS.get(publicKey),
    });
    return new Uint8Array(shared.buffer, shared.byteOffset, shared.length)
      .slice();
  },
};
