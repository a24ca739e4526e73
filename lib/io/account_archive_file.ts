/**
 * Account archives on disk: {@link saveAccountArchive} encrypts an account's
 * and one device's secrets (see `lib/identity/account_archive.ts` for the
 * format) and writes them atomically with mode 0600;
 * {@link loadAccountArchive} reads and decrypts them, refusing anything that
 * is not a small regular file.
 *
 * @example Save and load
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { loadAccountArchive, saveAccountArchive } from "./account_archive_file.ts";
 * import { systemRandomBytes } from "./system_random.ts";
 *
 * const account = AccountKeys.generate(systemRandomBytes);
 * const device = DeviceKeys.generate(systemRandomBytes);
 * const certificate = DeviceCertificate.issue(account, device, { issuedMs: 0 });
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/account.jca`;
 * // A low scrypt cost keeps the example fast; keep the default in real use.
 * await saveAccountArchive(path, { account, device, certificate }, { passphrase: "correct horse", scryptLog2N: 10 });
 * const loaded = await loadAccountArchive(path, "correct horse");
 * assert.ok(loaded.account.id.equals(account.id));
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import {
  type AccountArchiveContents,
  decodeAccountArchive,
  encodeAccountArchive,
  MAX_ARCHIVE_BYTES,
} from "../identity/account_archive.ts";
import { ArchiveCorruptError } from "../identity/errors.ts";
import type { RandomBytes } from "../rng.ts";
import { writeFileAtomic } from "./atomic_file.ts";
import { systemRandomBytes } from "./system_random.ts";

/** Options of {@link saveAccountArchive}. */
export interface SaveAccountArchiveOptions {
  /** The passphrase (may be empty, which only obfuscates). */
  readonly passphrase: string;
  /** scrypt cost as log2(N), 10..18. @default {17} */
  readonly scryptLog2N?: number;
  /** Source of salt and nonce. @default {systemRandomBytes} */
  readonly randomBytes?: RandomBytes;
}

/**
 * Encrypts the account and device secrets with `passphrase` and writes them
 * atomically to `path` (mode 0600). The previous file, if any, is replaced
 * only once the new one is durable.
 *
 * @param path File path.
 * @param contents Keys and certificate.
 * @param options Passphrase and KDF cost.
 * @throws {RangeError} If the scrypt cost is out of range.
 * @throws {TypeError} If the certificate does not belong to these keys.
 */
export async function saveAccountArchive(
  path: string,
  contents: AccountArchiveContents,
  options: SaveAccountArchiveOptions,
): Promise<void> {
  const bytes = await encodeAccountArchive(contents, {
    passphrase: options.passphrase,
    scryptLog2N: options.scryptLog2N,
    randomBytes: options.randomBytes ?? systemRandomBytes,
  });
  await writeFileAtomic(path, bytes, { mode: 0o600 });
}

async function readArchiveFile(path: string): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) throw cause;
    throw new ArchiveCorruptError(path, "cannot be read", { cause });
  }
  try {
    const info = await file.stat();
    if (!info.isFile || info.size > MAX_ARCHIVE_BYTES) {
      throw new ArchiveCorruptError(
        path,
        `not a file of at most ${MAX_ARCHIVE_BYTES} bytes`,
      );
    }
    const bytes = new Uint8Array(info.size);
    let offset = 0;
    while (offset < bytes.length) {
      const read = await file.read(bytes.subarray(offset));
      if (read === null) break;
      offset += read;
    }
    return bytes.subarray(0, offset);
  } finally {
    file.close();
  }
}

/**
 * Loads and decrypts an account archive.
 *
 * @param path File path.
 * @param passphrase The passphrase it was saved with.
 * @returns The keys and certificate.
 * @throws {Deno.errors.NotFound} If there is no file at `path`.
 * @throws {ArchiveCorruptError} If the file is truncated, altered or not an archive.
 * @throws {ArchiveCostError} If its scrypt cost is out of range (refused before derivation).
 * @throws {WrongPassphraseError} If the file is intact but `passphrase` is wrong.
 */
export async function loadAccountArchive(
  path: string,
  passphrase: string,
): Promise<AccountArchiveContents> {
  return await decodeAccountArchive(
    await readArchiveFile(path),
    passphrase,
    path,
  );
}
