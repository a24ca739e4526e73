/**
 * The account archive format: an account's and one device's secrets,
 * encrypted with a passphrase (scrypt, then AES-256-GCM). This module only
 * turns contents into bytes and back; `lib/io/account_archive_file.ts` writes
 * them to disk atomically with mode 0600.
 *
 * File layout: a msgpack tuple `["jca1", log2N, r, p, salt, nonce, ciphertext]`
 * followed by the SHA-256 of those bytes. The checksum tells a damaged file
 * ({@link ArchiveCorruptError}) from a wrong passphrase
 * ({@link WrongPassphraseError}); the header is authenticated as associated
 * data, so nothing in it can be altered either. Loading never returns part of
 * an archive.
 *
 * @example Encode and decode
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "./account_keys.ts";
 * import { DeviceKeys } from "./device_keys.ts";
 * import { DeviceCertificate } from "./device_certificate.ts";
 * import { decodeAccountArchive, encodeAccountArchive } from "./account_archive.ts";
 * import { systemRandomBytes } from "../io/system_random.ts";
 *
 * const account = AccountKeys.generate(systemRandomBytes);
 * const device = DeviceKeys.generate(systemRandomBytes);
 * const certificate = DeviceCertificate.issue(account, device, { issuedMs: 0 });
 * // A low scrypt cost keeps the example fast; keep the default in real use.
 * const bytes = await encodeAccountArchive({ account, device, certificate }, {
 *   passphrase: "correct horse",
 *   scryptLog2N: 10,
 *   randomBytes: systemRandomBytes,
 * });
 * const loaded = await decodeAccountArchive(bytes, "correct horse");
 * assert.ok(loaded.account.id.equals(account.id));
 * ```
 *
 * @module
 */
import { scryptAsync } from "npm:@noble/hashes@^2.4.0/scrypt.js";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  bytesEqual,
  concatBytes,
  KEY_BYTES,
  sha256,
} from "../crypto.ts";
import { decodeTuple, encodeTuple, readBytes, readInteger } from "./_codec.ts";
import {
  ArchiveCorruptError,
  ArchiveCostError,
  WrongPassphraseError,
} from "./errors.ts";
import { AccountKeys } from "./account_keys.ts";
import { DeviceKeys } from "./device_keys.ts";
import { DeviceCertificate } from "./device_certificate.ts";
import type { RandomBytes } from "../rng.ts";

/**
 * Default scrypt cost of new archives: N = 2^17, r = 8, p = 1 (128 MiB, about
 * 1.8 s here). N is stored in each archive, so archives made with an older
 * default (2^15) still open.
 */
export const DEFAULT_SCRYPT_LOG2_N = 17;
/** The scrypt log2(N) an archive may carry, inclusive: outside it, refused unread (256 MiB at most). */
export const SCRYPT_LOG2_N_RANGE: readonly [number, number] = [10, 18];
/** Largest archive file accepted. */
export const MAX_ARCHIVE_BYTES = 65_536;

const FILE_TAG = "jca1";
const INNER_TAG = "jcai1";
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const CHECKSUM_BYTES = 32;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
// Bounds on KDF parameters read from a file, so a hostile file cannot make
// loading take minutes or gigabytes: at most N = 2^18 with r = 8 (256 MiB).
const LOG2_N_RANGE = SCRYPT_LOG2_N_RANGE;

/** What an archive holds. */
export interface AccountArchiveContents {
  /** The account's signing key pair: its public key's SHA-1 is the account id. */
  readonly account: AccountKeys;
  /** This device's keys. */
  readonly device: DeviceKeys;
  /** The account's certificate for this device. */
  readonly certificate: DeviceCertificate;
}

/** Options of {@link encodeAccountArchive}. */
export interface EncodeAccountArchiveOptions {
  /** The passphrase (may be empty, which only obfuscates). */
  readonly passphrase: string;
  /** scrypt cost as log2(N), 10..18. @default {17} */
  readonly scryptLog2N?: number;
  /** Source of salt and nonce: a cryptographic one (`systemRandomBytes`). */
  readonly randomBytes: RandomBytes;
}

async function deriveKey(
  passphrase: string,
  salt: Uint8Array,
  log2N: number,
  r: number,
  p: number,
): Promise<Uint8Array> {
  return await scryptAsync(passphrase.normalize("NFKC"), salt, {
    N: 2 ** log2N,
    r,
    p,
    dkLen: 32,
  });
}

function headerBytes(
  log2N: number,
  r: number,
  p: number,
  salt: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  return encodeTuple([FILE_TAG, log2N, r, p, salt, nonce]);
}

/**
 * Encrypts the account and device secrets with `passphrase` into archive
 * bytes (what `saveAccountArchive` writes to a file; a daemon keeps them in
 * its `Storage`).
 *
 * @param contents Keys and certificate.
 * @param options Passphrase and KDF cost.
 * @returns The archive bytes.
 * @throws {RangeError} If the scrypt cost is out of range.
 * @throws {TypeError} If the certificate does not belong to these keys.
 */
export async function encodeAccountArchive(
  contents: AccountArchiveContents,
  options: EncodeAccountArchiveOptions,
): Promise<Uint8Array> {
  const log2N = options.scryptLog2N ?? DEFAULT_SCRYPT_LOG2_N;
  if (
    !Number.isInteger(log2N) || log2N < LOG2_N_RANGE[0] ||
    log2N > LOG2_N_RANGE[1]
  ) {
    throw new RangeError(
      `Cannot encode account archive: scryptLog2N must be ${LOG2_N_RANGE[0]}..${
        LOG2_N_RANGE[1]
      }, got ${log2N}`,
    );
  }
  if (typeof options.passphrase !== "string") {
    throw new TypeError(
      "Cannot encode account archive: passphrase is not text",
    );
  }
  const { account, device, certificate } = contents;
  if (
    !certificate.accountId.equals(account.id) ||
    !certificate.deviceId.equals(device.id)
  ) {
    throw new TypeError(
      "Cannot encode account archive: the certificate is not for these keys",
    );
  }
  const salt = options.randomBytes(SALT_BYTES);
  const nonce = options.randomBytes(NONCE_BYTES);
  const secrets = device.exportSecrets();
  const inner = encodeTuple([
    INNER_TAG,
    account.exportSecret(),
    secrets.signing,
    secrets.encryption,
    certificate.bytes,
  ]);
  const header = headerBytes(log2N, SCRYPT_R, SCRYPT_P, salt, nonce);
  const key = await deriveKey(
    options.passphrase,
    salt,
    log2N,
    SCRYPT_R,
    SCRYPT_P,
  );
  const ciphertext = aesGcmEncrypt(key, nonce, inner, header);
  const body = encodeTuple([
    FILE_TAG,
    log2N,
    SCRYPT_R,
    SCRYPT_P,
    salt,
    nonce,
    ciphertext,
  ]);
  return concatBytes(body, sha256(body));
}

/**
 * Decrypts archive bytes (from {@link encodeAccountArchive}).
 *
 * @param bytes Archive bytes (untrusted).
 * @param passphrase The passphrase it was made with.
 * @param path Name used in error messages.
 * @returns The keys and certificate.
 * @throws {ArchiveCorruptError} If the bytes are truncated, altered or not an archive.
 * @throws {ArchiveCostError} If the scrypt cost is beyond {@link SCRYPT_LOG2_N_RANGE} (nothing is derived).
 * @throws {WrongPassphraseError} If they are intact but `passphrase` is wrong.
 */
export async function decodeAccountArchive(
  bytes: Uint8Array,
  passphrase: string,
  path = "account archive",
): Promise<AccountArchiveContents> {
  if (bytes.length > MAX_ARCHIVE_BYTES) {
    throw new ArchiveCorruptError(path, "too large");
  }
  if (bytes.length <= CHECKSUM_BYTES) {
    throw new ArchiveCorruptError(path, "too short");
  }
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  const checksum = bytes.subarray(bytes.length - CHECKSUM_BYTES);
  if (!bytesEqual(sha256(body), checksum)) {
    throw new ArchiveCorruptError(path, "checksum mismatch");
  }
  let fields: unknown[];
  let log2N: number, r: number, p: number;
  let salt: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array;
  try {
    fields = decodeTuple(body, "account archive", FILE_TAG, 7);
    log2N = readInteger(fields, 1, "account archive");
    r = readInteger(fields, 2, "account archive");
    p = readInteger(fields, 3, "account archive");
    salt = readBytes(fields, 4, "account archive", SALT_BYTES);
    nonce = readBytes(fields, 5, "account archive", NONCE_BYTES);
    ciphertext = readBytes(fields, 6, "account archive");
  } catch (cause) {
    throw new ArchiveCorruptError(path, "unreadable header", { cause });
  }
  if (
    log2N < LOG2_N_RANGE[0] || log2N > LOG2_N_RANGE[1] || r !== SCRYPT_R ||
    p !== SCRYPT_P
  ) {
    throw new ArchiveCostError(path, log2N, r, p, LOG2_N_RANGE);
  }
  let key: Uint8Array;
  try {
    key = await deriveKey(passphrase, salt, log2N, r, p);
  } catch (cause) {
    throw new ArchiveCorruptError(path, "key derivation failed", { cause });
  }
  const inner = aesGcmDecrypt(
    key,
    nonce,
    ciphertext,
    headerBytes(log2N, r, p, salt, nonce),
  );
  if (inner === undefined) throw new WrongPassphraseError(path);
  try {
    const what = "account archive content";
    const secrets = decodeTuple(inner, what, INNER_TAG, 5);
    const account = AccountKeys.fromSecret(
      readBytes(secrets, 1, what, KEY_BYTES),
    );
    const device = DeviceKeys.fromSecrets({
      signing: readBytes(secrets, 2, what, KEY_BYTES),
      encryption: readBytes(secrets, 3, what, KEY_BYTES),
    });
    const certificate = DeviceCertificate.decode(readBytes(secrets, 4, what));
    if (
      !certificate.accountId.equals(account.id) ||
      !certificate.deviceId.equals(device.id)
    ) {
      throw new TypeError("certificate does not match the keys");
    }
    return { account, device, certificate };
  } catch (cause) {
    throw new ArchiveCorruptError(path, "inconsistent content", { cause });
  }
}
