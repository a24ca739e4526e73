/**
 * Jami account archives (`archive.gz`, spec §1.3): a JSON object with the
 * account key (`ringAccountKey`, base64 of the PKCS#8 PEM), the account and
 * CA certificates (`ringAccountCert`, base64 of the PEM pair), the CA key
 * (`ringCaKey`), optionally the CRL (`ringAccountCRL`, base64 DER), the
 * Ethereum key (`ethKey`) and account settings, contacts and conversations,
 * which are kept as they are.
 *
 * - Without a password: gzip of the JSON.
 * - With a password (`fileutils::writeArchive`, OpenDHT `aesEncrypt(data,
 *   password)`): salt(16) ‖ IV(12) ‖ AES-256-GCM(zlib(JSON)) ‖ tag(16), no
 *   associated data, key = SHA-256(argon2i(t = 16, m = 64 MiB, p = 1,
 *   32 bytes, password, salt)). The key derivation takes seconds.
 *
 * @example Export and import without a password
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJamiIdentity } from "./jami_identity.ts";
 * import { exportJamiArchive, importJamiArchive } from "./jami_archive.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const identity = await createJamiIdentity({ bits: 2048, now: 0, random: rngBytes(seededRng(10)) });
 * const bytes = await exportJamiArchive({ ...identity, fields: { "Account.alias": "Alice" } });
 * assert.deepEqual([bytes[0], bytes[1]], [0x1f, 0x8b]); // gzip
 * const archive = await importJamiArchive(bytes);
 * assert.equal(archive.accountId, identity.accountId);
 * assert.equal(archive.fields["Account.alias"], "Alice");
 * ```
 *
 * @module
 */
import { argon2iAsync } from "npm:@noble/hashes@^2.4.0/argon2.js";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  bytesEqual,
  concatBytes,
  sha256,
  utf8,
} from "../crypto.ts";
import { systemRandomBytes } from "../io/system_random.ts";
import type { RandomBytes } from "../rng.ts";
import { compress, decompress } from "./_compression.ts";
import { fromBase64, toBase64 } from "./_pem.ts";
import { JamiCertificateChain } from "./certificate_chain.ts";
import { JamiArchiveError } from "./errors.ts";
import { JamiRevocationList } from "./revocation_list.ts";
import { JamiPrivateKey } from "./rsa_key.ts";

/** Largest archive file accepted. */
export const MAX_ARCHIVE_BYTES = 16 * 1024 * 1024;
/** Largest decompressed archive JSON accepted. */
export const MAX_ARCHIVE_JSON_BYTES = 16 * 1024 * 1024;
/** argon2i parameters of OpenDHT's `stretchKey`. */
export const ARCHIVE_ARGON2 = { t: 16, m: 64 * 1024, p: 1, dkLen: 32 } as const;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const EMPTY = new Uint8Array(0);
/** The JSON fields this module reads and writes itself. */
const KEY_FIELDS = [
  "ringAccountKey",
  "ringAccountCert",
  "ringCaKey",
  "ringAccountCRL",
  "ethKey",
];

/** The content of an archive. */
export interface JamiArchive {
  /** The account private key. */
  readonly accountKey: JamiPrivateKey;
  /** The CA private key, if the archive has one. */
  readonly caKey?: JamiPrivateKey;
  /** Account certificate, then CA certificate. */
  readonly accountChain: JamiCertificateChain;
  /** The account's revocation list, if any. */
  readonly revocationList?: JamiRevocationList;
  /** The 32-byte secp256k1 secret (`ethKey`), if any. */
  readonly ethKey?: Uint8Array;
  /** Every other JSON field (settings, contacts, conversations), kept for export. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** An imported archive, with the account id. */
export interface ImportedJamiArchive extends JamiArchive {
  /** SHA-1 of the account SPKI, 40 hex. */
  readonly accountId: string;
}

/**
 * The archive key of a password and salt (OpenDHT `stretchKey`).
 *
 * @param password The password (UTF-8).
 * @param salt 16 bytes.
 * @returns 32 bytes.
 */
export async function archiveKey(
  password: string,
  salt: Uint8Array,
): Promise<Uint8Array> {
  return sha256(await argon2iAsync(utf8(password), salt, ARCHIVE_ARGON2));
}

function text(value: unknown, name: string): string {
  if (typeof value !== "string") {
    throw new JamiArchiveError(`${name} is not a string`);
  }
  return new TextDecoder().decode(fromBase64(value, name));
}

async function parseJson(json: Uint8Array): Promise<ImportedJamiArchive> {
  let object: unknown;
  try {
    object = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (error) {
    throw new JamiArchiveError("not JSON", { cause: error });
  }
  if (typeof object !== "object" || object === null || Array.isArray(object)) {
    throw new JamiArchiveError("not a JSON object");
  }
  const record = object as Record<string, unknown>;
  const accountKey = await JamiPrivateKey.fromPem(
    text(record.ringAccountKey, "ringAccountKey"),
  );
  const accountChain = await JamiCertificateChain.fromPem(
    text(record.ringAccountCert, "ringAccountCert"),
  );
  if (
    !bytesEqual(accountChain.device.publicKey.spki, accountKey.publicKey.spki)
  ) {
    throw new JamiArchiveError(
      "the account key does not match the account certificate",
    );
  }
  const caKey = record.ringCaKey === undefined
    ? undefined
    : await JamiPrivateKey.fromPem(text(record.ringCaKey, "ringCaKey"));
  let revocationList: JamiRevocationList | undefined;
  if (record.ringAccountCRL !== undefined) {
    if (typeof record.ringAccountCRL !== "string") {
      throw new JamiArchiveError("ringAccountCRL is not a string");
    }
    revocationList = JamiRevocationList.fromDer(
      fromBase64(record.ringAccountCRL, "ringAccountCRL"),
    );
  }
  let ethKey: Uint8Array | undefined;
  if (record.ethKey !== undefined) {
    if (typeof record.ethKey !== "string") {
      throw new JamiArchiveError("ethKey is not a string");
    }
    ethKey = fromBase64(record.ethKey, "ethKey");
  }
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    if (!KEY_FIELDS.includes(name)) fields[name] = value;
  }
  return {
    accountKey,
    ...(caKey ? { caKey } : {}),
    accountChain,
    ...(revocationList ? { revocationList } : {}),
    ...(ethKey ? { ethKey } : {}),
    fields,
    accountId: accountKey.publicKey.infoHash.toString(),
  };
}

async function decryptArchive(
  bytes: Uint8Array,
  password: string,
): Promise<Uint8Array> {
  if (bytes.length <= SALT_BYTES + IV_BYTES + TAG_BYTES) {
    throw new JamiArchiveError("too short for a password archive");
  }
  const key = await archiveKey(password, bytes.subarray(0, SALT_BYTES));
  const rest = bytes.subarray(SALT_BYTES);
  const zlib = aesGcmDecrypt(
    key,
    rest.subarray(0, IV_BYTES),
    rest.subarray(IV_BYTES),
    EMPTY,
  );
  if (zlib === undefined) {
    throw new JamiArchiveError("wrong password or not a password archive");
  }
  const json = await decompress(zlib, "deflate", MAX_ARCHIVE_JSON_BYTES);
  if (json === undefined) throw new JamiArchiveError("bad zlib data");
  return json;
}

/**
 * Reads an archive (hostile input: bounded sizes, typed errors).
 *
 * @param bytes The file's bytes.
 * @param password The password; absent or empty for a gzip archive.
 * @returns The archive and its account id.
 * @throws {JamiArchiveError} If the bytes are not an archive, the password
 * is wrong, or a key or certificate is invalid.
 */
export async function importJamiArchive(
  bytes: Uint8Array,
  password?: string,
): Promise<ImportedJamiArchive> {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_ARCHIVE_BYTES) {
    throw new JamiArchiveError("not an archive of bounded size");
  }
  try {
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
    let json = gzip
      ? await decompress(bytes, "gzip", MAX_ARCHIVE_JSON_BYTES)
      : undefined;
    if (json === undefined) {
      if (!password) {
        throw new JamiArchiveError(
          gzip
            ? "bad gzip data"
            : "not gzip: a password archive needs its password",
        );
      }
      json = await decryptArchive(bytes, password);
    }
    return await parseJson(json);
  } catch (error) {
    if (error instanceof JamiArchiveError) throw error;
    throw new JamiArchiveError(
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
}

/**
 * Writes an archive as jamid does: JSON with sorted keys (jsoncpp), gzip;
 * with a password, zlib then AES-GCM under the argon2i-derived key.
 *
 * @param archive The keys, chain and fields to write.
 * @param password The password; absent or empty for a gzip archive.
 * @param random Source of the salt and IV (the system's by default).
 * @returns The file's bytes.
 */
export async function exportJamiArchive(
  archive: JamiArchive,
  password?: string,
  random: RandomBytes = systemRandomBytes,
): Promise<Uint8Array> {
  const record: Record<string, unknown> = { ...archive.fields };
  record.ringAccountKey = toBase64(utf8(archive.accountKey.toPem()));
  record.ringAccountCert = toBase64(utf8(archive.accountChain.toPem()));
  if (archive.caKey) record.ringCaKey = toBase64(utf8(archive.caKey.toPem()));
  if (archive.revocationList) {
    record.ringAccountCRL = toBase64(archive.revocationList.der);
  }
  if (archive.ethKey) record.ethKey = toBase64(archive.ethKey);
  const sorted = Object.fromEntries(
    Object.keys(record).sort().map((name) => [name, record[name]]),
  );
  const json = utf8(JSON.stringify(sorted));
  if (!password) return compress(json, "gzip");
  const salt = random(SALT_BYTES);
  const iv = random(IV_BYTES);
  const key = await archiveKey(password, salt);
  return concatBytes(
    salt,
    iv,
    aesGcmEncrypt(key, iv, await compress(json, "deflate"), EMPTY),
  );
}
