/**
 * Account keys: the Ed25519 key pair whose SHA-1 is the account id (the
 * contact URI and the DHT key of the account's presence).
 *
 * @example Create an account from seeded randomness
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "./account_keys.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const account = AccountKeys.generate(rngBytes(seededRng(1)));
 * assert.equal(account.id.toString().length, 40);
 * ```
 *
 * @module
 */
import { ed25519PublicKey, ed25519Sign, KEY_BYTES } from "../crypto.ts";
import { InfoHash } from "./info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import type { Signer } from "./signer.ts";

/** The account's Ed25519 key pair. The secret never leaves this object except through {@link AccountKeys.exportSecret}. */
export class AccountKeys implements Signer {
  readonly #secret: Uint8Array;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The account id: SHA-1 of the public key. */
  readonly id: InfoHash;

  private constructor(secret: Uint8Array) {
    this.#secret = secret;
    this.publicKey = ed25519PublicKey(secret);
    this.id = InfoHash.get(this.publicKey);
  }

  /**
   * A new account key from `randomBytes` (use `systemRandomBytes` outside tests).
   *
   * @param randomBytes Source of 32 secret bytes.
   * @returns The new keys.
   */
  static generate(randomBytes: RandomBytes): AccountKeys {
    return new AccountKeys(randomBytes(KEY_BYTES));
  }

  /**
   * Rebuilds the keys from a 32-byte Ed25519 secret seed.
   *
   * @param secret The seed (copied).
   * @returns The keys.
   * @throws {RangeError} If `secret` is not 32 bytes.
   */
  static fromSecret(secret: Uint8Array): AccountKeys {
    if (!(secret instanceof Uint8Array) || secret.length !== KEY_BYTES) {
      throw new RangeError(
        `Cannot load account key: expected ${KEY_BYTES} bytes`,
      );
    }
    return new AccountKeys(secret.slice());
  }

  /** A copy of the 32-byte secret seed, for the account archive. */
  exportSecret(): Uint8Array {
    return this.#secret.slice();
  }

  /**
   * Signs with the account key.
   *
   * @param message Bytes to sign.
   * @returns The 64-byte signature.
   */
  sign(message: Uint8Array): Uint8Array {
    return ed25519Sign(message, this.#secret);
  }
}
