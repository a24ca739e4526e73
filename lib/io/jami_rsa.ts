/**
 * The platform's RSA for the Jami codec (`lib/jami/`): Web Crypto for
 * RSASSA-PKCS1-v1_5 signatures and key generation, `node:crypto` for the
 * raw RSA operation under PKCS#1 v1.5 encryption (Web Crypto offers only
 * OAEP, and OpenDHT encrypts with PKCS#1 v1.5). It lives in `lib/io/`
 * because only this folder may touch the platform's crypto (see
 * `tests/determinism_rules_test.ts`); the padding of encryption is built by
 * `lib/jami/rsa_key.ts` from an injected random source.
 *
 * @example Sign and verify with a fresh 2048-bit key
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateRsaKeyPair, importRsaPrivateKey, importRsaPublicKey, rsaSign, rsaVerify } from "./jami_rsa.ts";
 *
 * const { spki, pkcs8 } = await generateRsaKeyPair(2048);
 * const data = new TextEncoder().encode("hello");
 * const signature = await rsaSign(await importRsaPrivateKey(pkcs8, "SHA-512"), data);
 * assert.equal(signature.length, 256);
 * assert.ok(await rsaVerify(await importRsaPublicKey(spki, "SHA-512"), signature, data));
 * ```
 *
 * @module
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from "node:crypto";
import { Buffer } from "node:buffer";

/** A digest RSASSA-PKCS1-v1_5 is used with: SHA-512 for DHT values and CRLs, SHA-384 for certificates. */
export type RsaHash = "SHA-256" | "SHA-384" | "SHA-512";

function arrayBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/**
 * Imports a DER SubjectPublicKeyInfo as an RSASSA-PKCS1-v1_5 verification key.
 *
 * @param spki The DER SPKI.
 * @param hash The digest the key is bound to.
 * @returns The key; its `algorithm.modulusLength` gives the size in bits.
 * @throws {Error} (a DOMException or TypeError) If the bytes are not an RSA SPKI.
 */
export function importRsaPublicKey(
  spki: Uint8Array,
  hash: RsaHash,
): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "spki",
    arrayBytes(spki),
    { name: "RSASSA-PKCS1-v1_5", hash },
    true,
    ["verify"],
  );
}

/**
 * The DER SPKI of an imported public key (GnuTLS's canonical encoding).
 *
 * @param key A key from {@link importRsaPublicKey}.
 * @returns The DER SPKI.
 */
export async function exportRsaSpki(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", key));
}

/**
 * Imports a DER PKCS#8 private key as an RSASSA-PKCS1-v1_5 signing key.
 *
 * @param pkcs8 The DER PKCS#8.
 * @param hash The digest the key is bound to.
 * @returns The key.
 * @throws {Error} (a DOMException or TypeError) If the bytes are not an RSA PKCS#8 key.
 */
export function importRsaPrivateKey(
  pkcs8: Uint8Array,
  hash: RsaHash,
): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "pkcs8",
    arrayBytes(pkcs8),
    { name: "RSASSA-PKCS1-v1_5", hash },
    true,
    ["sign"],
  );
}

/**
 * The DER SPKI of the public half of a PKCS#8 RSA key.
 *
 * @param pkcs8 The DER PKCS#8.
 * @returns The DER SPKI.
 * @throws {Error} If the bytes are not an RSA PKCS#8 key.
 */
export async function rsaPublicSpki(pkcs8: Uint8Array): Promise<Uint8Array> {
  const key = await importRsaPrivateKey(pkcs8, "SHA-512");
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const pub = await crypto.subtle.importKey(
    "jwk",
    { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS512", ext: true },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
    true,
    ["verify"],
  );
  return new Uint8Array(await crypto.subtle.exportKey("spki", pub));
}

/**
 * RSASSA-PKCS1-v1_5 signature with the key's digest.
 *
 * @param key A key from {@link importRsaPrivateKey}.
 * @param data The signed bytes.
 * @returns The signature (modulus length).
 */
export async function rsaSign(
  key: CryptoKey,
  data: Uint8Array,
): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, arrayBytes(data)),
  );
}

/**
 * RSASSA-PKCS1-v1_5 verification with the key's digest.
 *
 * @param key A key from {@link importRsaPublicKey}.
 * @param signature The signature.
 * @param data The signed bytes.
 * @returns Whether the signature is valid; false for any malformed input.
 */
export async function rsaVerify(
  key: CryptoKey,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  try {
    return await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      key,
      arrayBytes(signature),
      arrayBytes(data),
    );
  } catch {
    return false;
  }
}

/**
 * Generates an RSA key pair, public exponent 65537 (as GnuTLS does for Jami).
 *
 * @param bits Modulus size: 4096 for Jami, 2048 in tests.
 * @returns The DER SPKI and DER PKCS#8.
 */
export async function generateRsaKeyPair(
  bits: number,
): Promise<{ spki: Uint8Array; pkcs8: Uint8Array }> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: bits,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-512",
    },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", pair.publicKey),
  );
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", pair.privateKey),
  );
  return { spki, pkcs8 };
}

/** A `node:crypto` key object, opaque to callers. */
export type RsaKeyObject = KeyObject;

/**
 * A `node:crypto` public key object for {@link rsaRawPublic}.
 *
 * @param spki The DER SPKI.
 * @returns The key object.
 * @throws {Error} If the bytes are not a public key.
 */
export function rsaPublicKeyObject(spki: Uint8Array): RsaKeyObject {
  return createPublicKey({
    key: Buffer.from(spki),
    format: "der",
    type: "spki",
  });
}

/**
 * A `node:crypto` private key object for {@link rsaPkcs1Decrypt}.
 *
 * @param pkcs8 The DER PKCS#8.
 * @returns The key object.
 * @throws {Error} If the bytes are not a private key.
 */
export function rsaPrivateKeyObject(pkcs8: Uint8Array): RsaKeyObject {
  return createPrivateKey({
    key: Buffer.from(pkcs8),
    format: "der",
    type: "pkcs8",
  });
}

/**
 * The raw RSA public operation m^e mod n (no padding); the caller pads.
 *
 * @param key A key from {@link rsaPublicKeyObject}.
 * @param block Exactly the modulus length in bytes, below the modulus.
 * @returns The result, modulus length.
 * @throws {Error} If the block has the wrong length or is not below the modulus.
 */
export function rsaRawPublic(
  key: RsaKeyObject,
  block: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    publicEncrypt(
      { key, padding: constants.RSA_NO_PADDING },
      Buffer.from(block),
    ),
  );
}

/**
 * RSA PKCS#1 v1.5 decryption (OpenDHT's `PrivateKey::decrypt` of one block).
 *
 * @param key A key from {@link rsaPrivateKeyObject}.
 * @param block One modulus-length block.
 * @returns The plaintext.
 * @throws {Error} If the padding is wrong.
 */
export function rsaPkcs1Decrypt(
  key: RsaKeyObject,
  block: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    privateDecrypt(
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(block),
    ),
  );
}
