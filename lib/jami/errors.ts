/**
 * Error classes of the Jami codec (`lib/jami/`). Each names one outcome a
 * caller may want to catch; every decoder of this folder throws one of these
 * (never a bare `Error`, `RangeError` or a library's own exception) for input
 * it does not accept.
 *
 * @example Tell a malformed value from a forged one
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamiFormatError, JamiSignatureError } from "./errors.ts";
 *
 * const error: Error = new JamiFormatError("device announcement", "not a map");
 * assert.ok(error instanceof JamiFormatError);
 * assert.ok(!(error instanceof JamiSignatureError));
 * assert.equal(error.message, "Cannot decode device announcement: not a map");
 * ```
 *
 * @module
 */

/** Bytes (msgpack, DER, PEM, JSON) that do not decode into the expected structure. */
export class JamiFormatError extends Error {
  /** What was being decoded, e.g. `"certificate chain"`. */
  readonly what: string;
  /**
   * Makes the error, with the message `Cannot decode <what>: <detail>`.
   *
   * @param what What was being decoded.
   * @param detail Why it failed.
   * @param options Standard error options (`cause`).
   */
  constructor(what: string, detail: string, options?: ErrorOptions) {
    super(`Cannot decode ${what}: ${detail}`, options);
    this.name = "JamiFormatError";
    this.what = what;
  }
}

/** Why a certificate chain or a revocation list was rejected. */
export type JamiCertificateReason =
  | "too-long"
  | "too-short"
  | "bad-signature"
  | "not-a-ca"
  | "expired"
  | "not-yet-valid"
  | "self-signed"
  | "revoked"
  | "issuer-mismatch"
  | "bad-algorithm"
  | "wrong-key"
  | "wrong-sender";

/** A certificate chain or revocation list that parses but is not acceptable. */
export class JamiCertificateError extends Error {
  /** A stable code for the rejection, e.g. `"revoked"`. */
  readonly reason: JamiCertificateReason;
  /**
   * Makes the error, with the message `Cannot accept certificate: <detail>`.
   *
   * @param reason The stable code.
   * @param detail What was wrong, for logs.
   * @param options Standard error options (`cause`).
   */
  constructor(
    reason: JamiCertificateReason,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot accept certificate: ${detail}`, options);
    this.name = "JamiCertificateError";
    this.reason = reason;
  }
}

/** A value or record whose signature does not verify, or whose signer is not the expected one. */
export class JamiSignatureError extends Error {
  /** What carried the signature, e.g. `"device announcement"`. */
  readonly what: string;
  /**
   * Makes the error, with the message `Cannot verify <what>: <detail>`.
   *
   * @param what What carried the signature.
   * @param detail What was wrong.
   */
  constructor(what: string, detail: string) {
    super(`Cannot verify ${what}: ${detail}`);
    this.name = "JamiSignatureError";
    this.what = what;
  }
}

/** An encrypted value that this key cannot open (wrong recipient, bad padding, bad tag). */
export class JamiDecryptError extends Error {
  /**
   * Makes the error, with the message `Cannot decrypt value: <detail>`.
   *
   * @param detail What was wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(detail: string, options?: ErrorOptions) {
    super(`Cannot decrypt value: ${detail}`, options);
    this.name = "JamiDecryptError";
  }
}

/** An account archive that cannot be read: not gzip/JSON, missing keys, or a wrong password. */
export class JamiArchiveError extends Error {
  /**
   * Makes the error, with the message `Cannot read Jami archive: <detail>`.
   *
   * @param detail What was wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(detail: string, options?: ErrorOptions) {
    super(`Cannot read Jami archive: ${detail}`, options);
    this.name = "JamiArchiveError";
  }
}
