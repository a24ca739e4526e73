/**
 * The `Signer` seam: anything holding an Ed25519 secret that can sign.
 *
 * @module
 */

/** An Ed25519 key that signs; implemented by account and device keys. */
export interface Signer {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /**
   * Signs `message` (RFC 8032 Ed25519).
   *
   * @param message Bytes to sign.
   * @returns The 64-byte signature.
   */
  sign(message: Uint8Array): Uint8Array;
}
