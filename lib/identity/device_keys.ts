/**
 * Device keys: each device of an account has its own Ed25519 signing key
 * (its SHA-1 is the device id) and an X25519 key that sealed boxes are
 * encrypted to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeviceKeys } from "./device_keys.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const device = DeviceKeys.generate(rngBytes(seededRng(2)));
 * assert.equal(device.encryptionKey.length, 32);
 * ```
 *
 * @module
 */
import {
  ed25519PublicKey,
  ed25519Sign,
  KEY_BYTES,
  x25519PublicKey,
  x25519Shared,
} from "../crypto.ts";
import { InfoHash } from "./info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import type { Signer } from "./signer.ts";

/** The two secrets of a device, as stored in the account archive. */
export interface DeviceSecrets {
  /** 32-byte Ed25519 seed. */
  readonly signing: Uint8Array;
  /** 32-byte X25519 secret. */
  readonly encryption: Uint8Array;
}

/** One device's signing and encryption keys. */
export class DeviceKeys implements Signer {
  readonly #signing: Uint8Array;
  readonly #encryption: Uint8Array;
  /** 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** 32-byte X25519 public key. */
  readonly encryptionKey: Uint8Array;
  /** Device id: SHA-1 of the signing public key. */
  readonly id: InfoHash;

  private constructor(signing: Uint8Array, encryption: Uint8Array) {
    this.#signing = signing;
    this.#encryption = encryption;
    this.publicKey = ed25519PublicKey(signing);
    this.encryptionKey = x25519PublicKey(encryption);
    this.id = InfoHash.get(this.publicKey);
  }

  /**
   * New device keys from `randomBytes`.
   *
   * @param randomBytes Source of 64 secret bytes.
   * @returns The keys.
   */
  static generate(randomBytes: RandomBytes): DeviceKeys {
    return new DeviceKeys(randomBytes(KEY_BYTES), randomBytes(KEY_BYTES));
  }

  /**
   * Rebuilds device keys from their secrets.
   *
   * @param secrets The two 32-byte secrets (copied).
   * @returns The keys.
   * @throws {RangeError} If a secret is not 32 bytes.
   */
  static fromSecrets(secrets: DeviceSecrets): DeviceKeys {
    for (const secret of [secrets?.signing, secrets?.encryption]) {
      if (!(secret instanceof Uint8Array) || secret.length !== KEY_BYTES) {
        throw new RangeError(
          `Cannot load device keys: expected two ${KEY_BYTES}-byte secrets`,
        );
      }
    }
    return new DeviceKeys(secrets.signing.slice(), secrets.encryption.slice());
  }

  /** Copies of both secrets, for the account archive. */
  exportSecrets(): DeviceSecrets {
    return {
      signing: this.#signing.slice(),
      encryption: this.#encryption.slice(),
    };
  }

  /**
   * Signs with the device key.
   *
   * @param message Bytes to sign.
   * @returns The 64-byte signature.
   */
  sign(message: Uint8Array): Uint8Array {
    return ed25519Sign(message, this.#signing);
  }

  /**
   * X25519 agreement with a peer public key.
   *
   * @param peerKey The peer's 32-byte X25519 public key.
   * @returns The shared secret, or undefined for a malformed or low-order key.
   */
  agree(peerKey: Uint8Array): Uint8Array | undefined {
    return x25519Shared(this.#encryption, peerKey);
  }
}
