/**
 * Error classes raised by the identity layer. Each names one outcome a caller
 * may want to catch; structural problems with bytes use {@link MalformedRecordError}
 * (a `SyntaxError`), everything cryptographic has its own class.
 *
 * @module
 */

/** Bytes that do not decode into the expected structure. */
export class MalformedRecordError extends SyntaxError {
  /** What was being decoded, e.g. `"device certificate"`. */
  readonly what: string;
  /**
   * Makes the error.
   *
   * @param what What was being decoded.
   * @param reason Why it failed.
   * @param options Standard error options (`cause`).
   */
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super(`Cannot decode ${what}: ${reason}`, options);
    this.name = "MalformedRecordError";
    this.what = what;
  }
}

/** A signature does not verify under the key it claims. */
export class BadSignatureError extends Error {
  /** What carried the signature, e.g. `"signed record"`. */
  readonly what: string;
  /**
   * Makes the error.
   *
   * @param what What carried the signature.
   */
  constructor(what: string) {
    super(`Cannot verify ${what}: the signature is invalid`);
    this.name = "BadSignatureError";
    this.what = what;
  }
}

/** A valid signature made by a key other than the one the record claims. */
export class SignerMismatchError extends Error {
  /** The InfoHash (40 hex) the caller expected. */
  readonly expected: string;
  /** The InfoHash (40 hex) of the key that actually signed. */
  readonly actual: string;
  /**
   * Makes the error.
   *
   * @param what What was verified.
   * @param expected Expected signer id (40 hex).
   * @param actual Actual signer id (40 hex).
   */
  constructor(what: string, expected: string, actual: string) {
    super(
      `Cannot accept ${what}: signed by "${actual}", expected "${expected}"`,
    );
    this.name = "SignerMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** A record or certificate is past its expiry time (or not yet valid). */
export class RecordExpiredError extends Error {
  /** The kind of record refused, e.g. `"device-certificate record"`. */
  readonly what: string;
  /** Expiry time, epoch milliseconds. */
  readonly expiresMs: number;
  /** The time of the check, epoch milliseconds. */
  readonly nowMs: number;
  /**
   * Makes the error.
   *
   * @param what What expired.
   * @param expiresMs Its expiry, epoch ms.
   * @param nowMs Time of the check, epoch ms.
   */
  constructor(what: string, expiresMs: number, nowMs: number) {
    super(
      `Cannot accept ${what}: expired at ${expiresMs}, now is ${nowMs}`,
    );
    this.name = "RecordExpiredError";
    this.what = what;
    this.expiresMs = expiresMs;
    this.nowMs = nowMs;
  }
}

/** A record claims to be created further in the future than the allowed clock skew. */
export class RecordFromFutureError extends Error {
  /** The kind of record refused, e.g. `"device-certificate record"`. */
  readonly what: string;
  /** Claimed creation time, epoch ms. */
  readonly createdMs: number;
  /** The time of the check, epoch ms. */
  readonly nowMs: number;
  /**
   * Makes the error.
   *
   * @param what What was checked.
   * @param createdMs Claimed creation time.
   * @param nowMs Time of the check.
   */
  constructor(what: string, createdMs: number, nowMs: number) {
    super(
      `Cannot accept ${what}: created at ${createdMs}, in the future of ${nowMs}`,
    );
    this.name = "RecordFromFutureError";
    this.what = what;
    this.createdMs = createdMs;
    this.nowMs = nowMs;
  }
}

/** A device certificate whose device is on the account's revocation list. */
export class DeviceRevokedError extends Error {
  /** The revoked device id (40 hex). */
  readonly deviceId: string;
  /**
   * Makes the error.
   *
   * @param deviceId The revoked device id.
   */
  constructor(deviceId: string) {
    super(`Cannot accept device "${deviceId}": it is revoked`);
    this.name = "DeviceRevokedError";
    this.deviceId = deviceId;
  }
}

/** A sealed box whose ciphertext or header was altered (authentication failed). */
export class SealedBoxTamperedError extends Error {
  /**
   * Makes the error.
   *
   * @param options Standard error options (`cause`).
   */
  constructor(options?: ErrorOptions) {
    super("Cannot open sealed box: authentication failed", options);
    this.name = "SealedBoxTamperedError";
  }
}

/** A sealed box addressed to another device. */
export class WrongRecipientError extends Error {
  /** The device the box is addressed to (40 hex). */
  readonly recipient: string;
  /** The device that tried to open it (40 hex). */
  readonly device: string;
  /**
   * Makes the error.
   *
   * @param recipient Addressed device id.
   * @param device Opening device id.
   */
  constructor(recipient: string, device: string) {
    super(
      `Cannot open sealed box: addressed to "${recipient}", not "${device}"`,
    );
    this.name = "WrongRecipientError";
    this.recipient = recipient;
    this.device = device;
  }
}

/** A sealed box sealed for another purpose than the one expected. */
export class WrongPurposeError extends Error {
  /** Purpose found in the box. */
  readonly purpose: string;
  /** Purpose the caller expected. */
  readonly expected: string;
  /**
   * Makes the error.
   *
   * @param purpose Purpose found.
   * @param expected Purpose expected.
   */
  constructor(purpose: string, expected: string) {
    super(
      `Cannot open sealed box: purpose is "${purpose}", expected "${expected}"`,
    );
    this.name = "WrongPurposeError";
    this.purpose = purpose;
    this.expected = expected;
  }
}

/** A URI that is not a Jami account id in any accepted spelling. */
export class InvalidUriError extends TypeError {
  /** The input as given (cut to 256 characters plus "…" when longer). */
  readonly input: string;
  /**
   * Makes the error.
   *
   * @param input The rejected input.
   */
  constructor(input: string) {
    super(`Cannot parse URI: "${input}" is not a 40-hex account id`);
    this.name = "InvalidUriError";
    this.input = input;
  }
}

/** An account archive that is intact but does not open with the given passphrase. */
export class WrongPassphraseError extends Error {
  /** Path of the archive. */
  readonly path: string;
  /**
   * Makes the error.
   *
   * @param path Path of the archive.
   */
  constructor(path: string) {
    super(`Cannot open account archive "${path}": wrong passphrase`);
    this.name = "WrongPassphraseError";
    this.path = path;
  }
}

/** An account archive that is truncated, altered or not an archive at all. */
export class ArchiveCorruptError extends Error {
  /** Path of the archive. */
  readonly path: string;
  /**
   * Makes the error.
   *
   * @param path Path of the archive.
   * @param reason What is wrong with it.
   * @param options Standard error options (`cause`).
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`Cannot open account archive "${path}": ${reason}`, options);
    this.name = "ArchiveCorruptError";
    this.path = path;
  }
}

/**
 * An account archive whose key-derivation cost (scrypt N, r, p) is outside
 * what this version reads: a damaged or hostile file, refused before any
 * memory is spent on it.
 */
export class ArchiveCostError extends ArchiveCorruptError {
  /** The file's log2(N). */
  readonly log2N: number;
  /**
   * Makes the error.
   *
   * @param path Path of the archive.
   * @param log2N The file's log2(N).
   * @param r The file's scrypt r.
   * @param p The file's scrypt p.
   * @param range The log2(N) accepted, inclusive.
   */
  constructor(
    path: string,
    log2N: number,
    r: number,
    p: number,
    range: readonly [number, number],
  ) {
    super(
      path,
      `key derivation cost out of range (log2 N = ${log2N}, r = ${r}, p = ${p}; accepted: log2 N ${
        range[0]
      }..${range[1]}, r = 8, p = 1)`,
    );
    this.name = "ArchiveCostError";
    this.log2N = log2N;
  }
}
