/**
 * The at-rest form of a Jami account on this device: the account archive
 * (Jami's own `archive.gz` bytes: account key, CA key, account certificate,
 * CRL), this device's private key (PKCS#8) and its certificate chain (PEM),
 * sealed with the daemon's passphrase as our own archives are (scrypt, then
 * AES-256-GCM over the JSON, the header as associated data). The daemon
 * keeps it in its `Storage` under `jami-<account id>.identity`.
 *
 * @example Seal and open
 * ```ts
 * import assert from "node:assert/strict";
 * import { openJamiIdentityFile, sealJamiIdentityFile } from "./jami_identity_file.ts";
 *
 * const contents = { archive: new Uint8Array([1, 2]), deviceKey: new Uint8Array([3]), deviceChain: "PEM" };
 * const randomBytes = (n: number) => crypto.getRandomValues(new Uint8Array(n));
 * const sealed = await sealJamiIdentityFile(contents, { passphrase: "pw", scryptLog2N: 10, randomBytes });
 * assert.deepEqual(await openJamiIdentityFile(sealed, "pw"), contents);
 * ```
 *
 * @module
 */
import { scryptAsync } from "npm:@noble/hashes@^2.4.0/scrypt.js";
import { aesGcmDecrypt, aesGcmEncrypt, concatBytes } from "../crypto.ts";
import {
  ArchiveCorruptError,
  WrongPassphraseError,
} from "../identity/errors.ts";
import type { RandomBytes } from "../rng.ts";

/** What the file holds. */
export interface JamiIdentityFileContents {
  /** The account archive as Jami writes it (`archive.gz`, no password). */
  readonly archive: Uint8Array;
  /** This device's private key, PKCS#8 DER. */
  readonly deviceKey: Uint8Array;
  /** This device's certificate chain (device, account, CA), PEM. */
  readonly deviceChain: string;
}

/** Options of {@link sealJamiIdentityFile}. */
export interface SealJamiIdentityOptions {
  /** The daemon's passphrase (may be empty, which only obfuscates). */
  readonly passphrase: string;
  /** scrypt cost as log2(N), 10..18. @default {17} */
  readonly scryptLog2N?: number;
  /** Source of salt and nonce (a cryptographic one). */
  readonly randomBytes: RandomBytes;
}

const MAGIC = new TextEncoder().encode("jji1");
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const HEADER_BYTES = MAGIC.length + 1 + SALT_BYTES + NONCE_BYTES;
/** Largest file accepted (three RSA-4096 keys and certificates fit in 32 KiB). */
export const MAX_JAMI_IDENTITY_FILE_BYTES = 512 * 1024;

function deriveKey(
  passphrase: string,
  salt: Uint8Array,
  log2N: number,
): Promise<Uint8Array> {
  return scryptAsync(passphrase.normalize("NFKC"), salt, {
    N: 2 ** log2N,
    r: 8,
    p: 1,
    dkLen: 32,
  });
}

/**
 * Seals a Jami identity with a passphrase.
 *
 * @param contents Archive, device key and chain.
 * @param options Passphrase, KDF cost, randomness.
 * @returns The file bytes.
 * @throws {RangeError} If the scrypt cost is outside 10..18.
 */
export async function sealJamiIdentityFile(
  contents: JamiIdentityFileContents,
  options: SealJamiIdentityOptions,
): Promise<Uint8Array> {
  const log2N = options.scryptLog2N ?? 17;
  if (!Number.isInteger(log2N) || log2N < 10 || log2N > 18) {
    throw new RangeError(
      `Cannot seal Jami identity: scryptLog2N must be 10..18, got ${log2N}`,
    );
  }
  const salt = options.randomBytes(SALT_BYTES);
  const nonce = options.randomBytes(NONCE_BYTES);
  const header = concatBytes(MAGIC, new Uint8Array([log2N]), salt, nonce);
  const inner = new TextEncoder().encode(JSON.stringify({
    archive: contents.archive.toBase64(),
    deviceKey: contents.deviceKey.toBase64(),
    deviceChain: contents.deviceChain,
  }));
  const key = await deriveKey(options.passphrase, salt, log2N);
  return concatBytes(header, aesGcmEncrypt(key, nonce, inner, header));
}

/**
 * Opens a sealed Jami identity (untrusted bytes).
 *
 * @param bytes File bytes from {@link sealJamiIdentityFile}.
 * @param passphrase The passphrase.
 * @param path Name used in error messages.
 * @returns Archive, device key and chain.
 * @throws {ArchiveCorruptError} If the bytes are not such a file.
 * @throws {WrongPassphraseError} If they do not open with `passphrase` (or were altered).
 */
export async function openJamiIdentityFile(
  bytes: Uint8Array,
  passphrase: string,
  path = "Jami identity",
): Promise<JamiIdentityFileContents> {
  if (bytes.length > MAX_JAMI_IDENTITY_FILE_BYTES) {
    throw new ArchiveCorruptError(path, "too large");
  }
  if (
    bytes.length < HEADER_BYTES + 16 ||
    !MAGIC.every((byte, i) => bytes[i] === byte)
  ) {
    throw new ArchiveCorruptError(path, "not a Jami identity file");
  }
  const log2N = bytes[MAGIC.length];
  if (log2N < 10 || log2N > 18) {
    throw new ArchiveCorruptError(path, `scrypt cost 2^${log2N} out of range`);
  }
  const header = bytes.subarray(0, HEADER_BYTES);
  const salt = header.subarray(MAGIC.length + 1, MAGIC.length + 1 + SALT_BYTES);
  const nonce = header.subarray(MAGIC.length + 1 + SALT_BYTES);
  const key = await deriveKey(passphrase, salt, log2N);
  const inner = aesGcmDecrypt(key, nonce, bytes.subarray(HEADER_BYTES), header);
  if (inner === undefined) throw new WrongPassphraseError(path);
  try {
    const json = JSON.parse(new TextDecoder().decode(inner));
    if (
      typeof json.archive !== "string" || typeof json.deviceKey !== "string" ||
      typeof json.deviceChain !== "string"
    ) throw new SyntaxError("missing fields");
    return {
      archive: Uint8Array.fromBase64(json.archive),
      deviceKey: Uint8Array.fromBase64(json.deviceKey),
      deviceChain: json.deviceChain,
    };
  } catch (cause) {
    throw new ArchiveCorruptError(path, "unreadable contents", { cause });
  }
}
