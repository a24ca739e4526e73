/**
 * A Jami account's material on this device — its identity (account, CA and
 * device keys and certificates) and its archive — and how the daemon makes,
 * imports, exports, seals and opens it:
 * - {@link createJamiAccountMaterial}: a new account, as jamid's
 *   `ArchiveAccountManager::createAccount` (CA, account, device);
 * - {@link importJamiAccountMaterial}: a new device of an existing account
 *   from its `archive.gz` (jamid's, or ours);
 * - {@link exportJamiAccountMaterial}: the archive, for another device;
 * - {@link sealJamiAccountMaterial} / {@link openJamiAccountMaterial}: the
 *   at-rest form (`jami_identity_file.ts`) under
 *   {@link jamiIdentityKeyFor}.
 *
 * @module
 */
import type { RandomBytes } from "../rng.ts";
import { JamiCertificateChain } from "./certificate_chain.ts";
import {
  exportJamiArchive,
  importJamiArchive,
  type JamiArchive,
} from "./jami_archive.ts";
import { JamiRevocationList } from "./revocation_list.ts";
import {
  createJamiDevice,
  createJamiIdentity,
  type JamiIdentity,
} from "./jami_identity.ts";
import {
  openJamiIdentityFile,
  sealJamiIdentityFile,
  type SealJamiIdentityOptions,
} from "./jami_identity_file.ts";
import { JamiPrivateKey } from "./rsa_key.ts";
import { ArchiveCorruptError } from "../identity/errors.ts";

/** Storage key of a Jami account's sealed identity; group 1 is the account id. */
export const JAMI_IDENTITY_KEY: RegExp = /^jami-([0-9a-f]{40})\.identity$/;

/**
 * The storage key of a Jami account's sealed identity.
 *
 * @param accountId Jami account id, 40 hex.
 * @returns The key.
 */
export function jamiIdentityKeyFor(accountId: string): string {
  return `jami-${accountId}.identity`;
}

/** A Jami account on this device. */
export interface JamiAccountMaterial {
  /** Keys and certificates of the account and this device. */
  readonly identity: JamiIdentity;
  /** The account archive (what another device imports). */
  readonly archive: JamiArchive;
  /** The account's CRL (DER) from the archive, if it has one. */
  readonly revocationList?: Uint8Array;
}

/** Options of {@link createJamiAccountMaterial}. */
export interface CreateJamiAccountMaterialOptions {
  /** RSA size of the three keys. @default {4096} */
  readonly bits?: number;
  /** Told each generation step. */
  readonly onProgress?: (step: string) => void;
  /** Time of the certificates' validity, epoch ms. */
  readonly now: number;
  /** Source of serials (a cryptographic one). */
  readonly random: RandomBytes;
}

/**
 * A new Jami account with this device as its first device.
 *
 * @param options Key size, progress, time, randomness.
 * @returns The material.
 */
export async function createJamiAccountMaterial(
  options: CreateJamiAccountMaterialOptions,
): Promise<JamiAccountMaterial> {
  const identity = await createJamiIdentity({
    bits: options.bits,
    onProgress: options.onProgress,
    now: options.now,
    random: options.random,
  });
  const archive: JamiArchive = {
    accountKey: identity.accountKey,
    ...(identity.caKey ? { caKey: identity.caKey } : {}),
    accountChain: identity.accountChain,
    fields: {},
  };
  return { identity, archive };
}

/** Options of {@link importJamiAccountMaterial}. */
export interface ImportJamiAccountMaterialOptions {
  /** RSA size of this device's new key. @default {4096} */
  readonly bits?: number;
  /** Time of the device certificate's validity, epoch ms. */
  readonly now: number;
  /** Source of serials. */
  readonly random: RandomBytes;
  /** True for an account already here: no device is made for it. */
  readonly skip?: (accountId: string) => boolean;
}

/**
 * Reads an archive and makes a new device of its account (a new key, its
 * certificate issued by the account key).
 *
 * @param bytes The archive (`archive.gz`).
 * @param password Its password, if any.
 * @param options Key size, time, randomness, and which accounts to skip.
 * @returns The account id, and the material unless skipped.
 * @throws {JamiArchiveError} If the archive is damaged or the password wrong.
 */
export async function importJamiAccountMaterial(
  bytes: Uint8Array,
  password: string | undefined,
  options: ImportJamiAccountMaterialOptions,
): Promise<{ accountId: string; material?: JamiAccountMaterial }> {
  const archive = await importJamiArchive(bytes, password);
  const accountId = archive.accountKey.publicKey.infoHash.toString();
  if (options.skip?.(accountId)) return { accountId };
  const identity = await createJamiDevice(archive, {
    bits: options.bits,
    now: options.now,
    random: options.random,
  });
  return {
    accountId,
    material: {
      identity,
      archive,
      revocationList: archive.revocationList?.der,
    },
  };
}

/**
 * The account's archive in jamid's format.
 *
 * @param material The account's material.
 * @param password Encrypts the archive when given.
 * @param revocationList The account's newest CRL (DER), written as `ringAccountCRL`.
 * @returns The archive bytes.
 */
export function exportJamiAccountMaterial(
  material: JamiAccountMaterial,
  password?: string,
  revocationList?: Uint8Array,
): Promise<Uint8Array> {
  const archive = revocationList === undefined
    ? material.archive
    : {
      ...material.archive,
      revocationList: JamiRevocationList.fromDer(revocationList),
    };
  return exportJamiArchive(archive, password);
}

/**
 * The at-rest bytes: archive (no password), device key, device chain,
 * sealed with the daemon's passphrase.
 *
 * @param material The account's material.
 * @param options Passphrase, KDF cost, randomness.
 * @returns The file bytes.
 */
export async function sealJamiAccountMaterial(
  material: JamiAccountMaterial,
  options: SealJamiIdentityOptions,
): Promise<Uint8Array> {
  return await sealJamiIdentityFile({
    archive: await exportJamiArchive(material.archive),
    deviceKey: material.identity.deviceKey.pkcs8(),
    deviceChain: material.identity.deviceChain.toPem(),
  }, options);
}

/**
 * Opens at-rest bytes back into material.
 *
 * @param bytes From {@link sealJamiAccountMaterial}.
 * @param passphrase The daemon's passphrase.
 * @param path Name used in error messages.
 * @returns The material.
 * @throws {WrongPassphraseError} If the passphrase does not open it.
 * @throws {ArchiveCorruptError} If it is damaged or inconsistent.
 */
export async function openJamiAccountMaterial(
  bytes: Uint8Array,
  passphrase: string,
  path = "Jami identity",
): Promise<JamiAccountMaterial> {
  const contents = await openJamiIdentityFile(bytes, passphrase, path);
  let archive: JamiArchive;
  let deviceKey: JamiPrivateKey;
  let deviceChain: JamiCertificateChain;
  try {
    archive = await importJamiArchive(contents.archive);
    deviceKey = await JamiPrivateKey.fromPkcs8(contents.deviceKey);
    deviceChain = await JamiCertificateChain.fromPem(contents.deviceChain);
  } catch (cause) {
    throw new ArchiveCorruptError(path, "unreadable keys", { cause });
  }
  const accountId = archive.accountKey.publicKey.infoHash.toString();
  const deviceId = deviceKey.publicKey.infoHash.toString();
  if (
    (await deviceChain.deviceId()) !== deviceId ||
    (await deviceChain.accountId().catch(() => "")) !== accountId
  ) {
    throw new ArchiveCorruptError(path, "device chain does not match keys");
  }
  const identity: JamiIdentity = {
    accountKey: archive.accountKey,
    accountChain: archive.accountChain,
    ...(archive.caKey ? { caKey: archive.caKey } : {}),
    deviceKey,
    deviceChain,
    accountId,
    deviceId,
  };
  return { identity, archive, revocationList: archive.revocationList?.der };
}
