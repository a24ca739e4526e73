/**
 * RSA keys as Jami and OpenDHT use them: {@link JamiPublicKey} (DER SPKI,
 * key ids, RSASSA-PKCS1-v1_5 verification, PKCS#1 v1.5 encryption) and
 * {@link JamiPrivateKey} (PKCS#8, signing, decryption, generation).
 *
 * - Key id (`PublicKey::getId`): SHA-1 of the DER SPKI; the account id is
 *   the account key's, the "device SHA-1 id" the device key's.
 * - Long id (`PublicKey::getLongId`): SHA-256 of the DER SPKI, the device id
 *   of Jami's APIs.
 * - Signatures: SHA-512 for DHT values and CRLs, SHA-384 for certificates.
 * - Encryption pads with bytes from the injected {@link RandomBytes}, so a
 *   seeded source reproduces the ciphertext.
 *
 * @example Sign, verify, encrypt and decrypt with a 2048-bit key
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamiPrivateKey } from "./rsa_key.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const key = await JamiPrivateKey.generate(2048);
 * const data = new TextEncoder().encode("hello");
 * const signature = await key.sign(data, "SHA-512");
 * assert.ok(await key.publicKey.verify(data, signature, "SHA-512"));
 * assert.equal((await key.publicKey.id()).toString().length, 40);
 * const block = key.publicKey.encrypt(data, rngBytes(seededRng(1)));
 * assert.equal(block.length, 256);
 * assert.deepEqual(key.decrypt(block), data);
 * ```
 *
 * @module
 */
import { bytesEqual, sha256 } from "../crypto.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import {
  exportRsaSpki,
  generateRsaKeyPair,
  importRsaPrivateKey,
  importRsaPublicKey,
  type RsaHash,
  type RsaKeyObject,
  rsaPkcs1Decrypt,
  rsaPrivateKeyObject,
  rsaPublicKeyObject,
  rsaPublicSpki,
  rsaRawPublic,
  rsaSign,
  rsaVerify,
} from "../io/jami_rsa.ts";
import { JamiDecryptError, JamiFormatError } from "./errors.ts";
import { decodePem, encodePem } from "./_pem.ts";

/** The digest of an RSASSA-PKCS1-v1_5 signature. */
export type JamiHash = RsaHash;

/** Smallest RSA modulus accepted from the network, in bits. */
export const MIN_RSA_BITS = 2048;
/** Largest RSA modulus accepted from the network, in bits. */
export const MAX_RSA_BITS = 8192;
/** Draws of padding bytes before giving up on a random source. */
const MAX_PADDING_ROUNDS = 64;
/** Largest DER SPKI accepted (an RSA-8192 SPKI is 1062 bytes). */
export const MAX_SPKI_BYTES = 1100;
/** Largest DER PKCS#8 accepted (an RSA-8192 key is about 4.8 KB). */
export const MAX_PKCS8_BYTES = 5000;

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** An RSA public key, identified by its DER SubjectPublicKeyInfo. */
export class JamiPublicKey {
  /** The DER SPKI (what values carry as `owner` and ids hash). */
  readonly spki: Uint8Array;
  /** Modulus size in bits. */
  readonly bits: number;
  readonly #keys = new Map<JamiHash, Promise<CryptoKey>>();
  #object?: RsaKeyObject;
  #id?: InfoHash;

  private constructor(spki: Uint8Array, bits: number, verifyKey: CryptoKey) {
    this.spki = spki;
    this.bits = bits;
    this.#keys.set("SHA-512", Promise.resolve(verifyKey));
  }

  /**
   * Reads a DER SPKI (from the network: bounded and checked).
   *
   * @param der The DER SubjectPublicKeyInfo of an RSA key.
   * @returns The key.
   * @throws {JamiFormatError} If the bytes are not a canonical RSA SPKI of
   * {@link MIN_RSA_BITS} to {@link MAX_RSA_BITS} bits.
   */
  static async fromSpki(der: Uint8Array): Promise<JamiPublicKey> {
    if (!(der instanceof Uint8Array) || der.length > MAX_SPKI_BYTES) {
      throw new JamiFormatError("public key", "not an SPKI of a bounded size");
    }
    const spki = der.slice();
    let key: CryptoKey;
    let exported: Uint8Array;
    try {
      key = await importRsaPublicKey(spki, "SHA-512");
      exported = await exportRsaSpki(key);
    } catch (error) {
      throw new JamiFormatError("public key", "not an RSA SPKI", {
        cause: error,
      });
    }
    // The id hashes these bytes: accept only the canonical DER encoding.
    if (!bytesEqual(exported, spki)) {
      throw new JamiFormatError("public key", "SPKI is not canonical DER");
    }
    const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
      throw new JamiFormatError("public key", `${bits}-bit RSA key`);
    }
    return new JamiPublicKey(spki, bits, key);
  }

  /** Modulus length in bytes (the size of one RSA block). */
  get blockBytes(): number {
    return Math.ceil(this.bits / 8);
  }

  /** SHA-1 of the SPKI, synchronously. */
  get infoHash(): InfoHash {
    this.#id ??= InfoHash.get(this.spki);
    return this.#id;
  }

  /**
   * The key id (`PublicKey::getId`): SHA-1 of the DER SPKI.
   *
   * @returns The id; `toString()` gives the 40-hex account or device id.
   */
  id(): Promise<InfoHash> {
    return Promise.resolve(this.infoHash);
  }

  /**
   * The long id (`PublicKey::getLongId`): SHA-256 of the DER SPKI.
   *
   * @returns 64 lowercase hex characters.
   */
  longId(): Promise<string> {
    return Promise.resolve(hex(sha256(this.spki)));
  }

  /**
   * Verifies an RSASSA-PKCS1-v1_5 signature.
   *
   * @param data The signed bytes.
   * @param signature The signature.
   * @param hash SHA-512 for values and CRLs, SHA-384 for certificates.
   * @returns Whether it verifies; false for a signature of the wrong size.
   */
  async verify(
    data: Uint8Array,
    signature: Uint8Array,
    hash: JamiHash = "SHA-512",
  ): Promise<boolean> {
    if (signature.length !== this.blockBytes) return false;
    let key = this.#keys.get(hash);
    if (key === undefined) {
      key = importRsaPublicKey(this.spki, hash);
      this.#keys.set(hash, key);
    }
    return rsaVerify(await key, signature, data);
  }

  /**
   * RSA PKCS#1 v1.5 encryption of one block (`PublicKey::encrypt` for short
   * data), padded with non-zero bytes from `random`.
   *
   * @param data At most `blockBytes - 11` bytes.
   * @param random Source of the padding bytes.
   * @returns One block of {@link blockBytes} bytes.
   * @throws {RangeError} If `data` is too long for one block, or `random`
   * gives only zero bytes.
   */
  encrypt(data: Uint8Array, random: RandomBytes): Uint8Array {
    const k = this.blockBytes;
    if (data.length > k - 11) {
      throw new RangeError(
        `Cannot encrypt: ${data.length} bytes exceed one ${k}-byte RSA block`,
      );
    }
    const block = new Uint8Array(k);
    block[1] = 2;
    const padEnd = k - data.length - 1;
    let at = 2;
    // Zero bytes are skipped; a source that keeps giving zeros is broken.
    for (let round = 0; at < padEnd; round++) {
      if (round === MAX_PADDING_ROUNDS) {
        throw new RangeError("Cannot encrypt: the random source gives zeros");
      }
      for (const byte of random(padEnd - at)) {
        if (byte !== 0 && at < padEnd) block[at++] = byte;
      }
    }
    block.set(data, padEnd + 1);
    this.#object ??= rsaPublicKeyObject(this.spki);
    return rsaRawPublic(this.#object, block);
  }
}

/** An RSA private key (PKCS#8) with its public half. */
export class JamiPrivateKey {
  /** The public half. */
  readonly publicKey: JamiPublicKey;
  readonly #pkcs8: Uint8Array;
  readonly #keys = new Map<JamiHash, Promise<CryptoKey>>();
  #object?: RsaKeyObject;

  private constructor(pkcs8: Uint8Array, publicKey: JamiPublicKey) {
    this.#pkcs8 = pkcs8;
    this.publicKey = publicKey;
  }

  /**
   * Reads a DER PKCS#8 RSA key.
   *
   * @param der The DER PKCS#8.
   * @returns The key.
   * @throws {JamiFormatError} If the bytes are not an RSA PKCS#8 key.
   */
  static async fromPkcs8(der: Uint8Array): Promise<JamiPrivateKey> {
    if (!(der instanceof Uint8Array) || der.length > MAX_PKCS8_BYTES) {
      throw new JamiFormatError("private key", "not a PKCS#8 of bounded size");
    }
    const pkcs8 = der.slice();
    let spki: Uint8Array;
    try {
      spki = await rsaPublicSpki(pkcs8);
    } catch (error) {
      throw new JamiFormatError("private key", "not an RSA PKCS#8 key", {
        cause: error,
      });
    }
    return new JamiPrivateKey(pkcs8, await JamiPublicKey.fromSpki(spki));
  }

  /**
   * Reads a `-----BEGIN PRIVATE KEY-----` PEM (Jami's `ring_device.key`,
   * the archive's `ringAccountKey`).
   *
   * @param pem The PEM text.
   * @returns The key.
   * @throws {JamiFormatError} If there is no PKCS#8 block or it is invalid.
   */
  static async fromPem(pem: string): Promise<JamiPrivateKey> {
    const blocks = decodePem(pem, "private key", 16_384, 1);
    if (blocks.length !== 1 || blocks[0].label !== "PRIVATE KEY") {
      throw new JamiFormatError("private key", "no PRIVATE KEY PEM block");
    }
    return await JamiPrivateKey.fromPkcs8(blocks[0].der);
  }

  /**
   * Generates a key, public exponent 65537. 4096 bits (Jami's size) takes
   * seconds on a loaded machine; tests use 2048.
   *
   * @param bits Modulus size in bits.
   * @returns The new key.
   */
  static async generate(bits = 4096): Promise<JamiPrivateKey> {
    const { pkcs8 } = await generateRsaKeyPair(bits);
    return JamiPrivateKey.fromPkcs8(pkcs8);
  }

  /**
   * RSASSA-PKCS1-v1_5 signature.
   *
   * @param data The bytes to sign.
   * @param hash SHA-512 for values and CRLs (default), SHA-384 for certificates.
   * @returns The signature ({@link JamiPublicKey.blockBytes} bytes).
   */
  async sign(
    data: Uint8Array,
    hash: JamiHash = "SHA-512",
  ): Promise<Uint8Array> {
    return rsaSign(await this.signingKey(hash), data);
  }

  /**
   * The Web Crypto signing key for `hash` (for the X.509 builder).
   *
   * @param hash The digest the key is bound to.
   * @returns The CryptoKey.
   */
  signingKey(hash: JamiHash): Promise<CryptoKey> {
    let key = this.#keys.get(hash);
    if (key === undefined) {
      key = importRsaPrivateKey(this.#pkcs8, hash);
      this.#keys.set(hash, key);
    }
    return key;
  }

  /**
   * RSA PKCS#1 v1.5 decryption of one block.
   *
   * @param block Exactly one block ({@link JamiPublicKey.blockBytes} bytes).
   * @returns The plaintext.
   * @throws {JamiDecryptError} If the block has the wrong size or padding.
   */
  decrypt(block: Uint8Array): Uint8Array {
    if (block.length !== this.publicKey.blockBytes) {
      throw new JamiDecryptError(
        `RSA block of ${block.length} bytes, expected ${this.publicKey.blockBytes}`,
      );
    }
    this.#object ??= rsaPrivateKeyObject(this.#pkcs8);
    try {
      return rsaPkcs1Decrypt(this.#object, block);
    } catch (error) {
      throw new JamiDecryptError("bad RSA padding", { cause: error });
    }
  }

  /**
   * The DER PKCS#8 (a copy).
   *
   * @returns The bytes.
   */
  pkcs8(): Uint8Array {
    return this.#pkcs8.slice();
  }

  /**
   * The PKCS#8 as a `-----BEGIN PRIVATE KEY-----` PEM, 64-column lines.
   *
   * @returns The PEM text.
   */
  toPem(): string {
    return encodePem("PRIVATE KEY", this.#pkcs8);
  }
}
