/**
 * A Jami identity (`docs/jami.md`, spec §1.1): a self-signed "Jami CA"
 * certificate, the account certificate it issues (the account id is the
 * account key's SHA-1 key id), and a device certificate the account issues.
 * RSA-4096 keys by default, certificates sha384WithRSAEncryption, valid ten
 * years. {@link createJamiDevice} adds a device to an existing account (for
 * instance one imported from an archive).
 *
 * Key generation uses the platform's generator (Web Crypto); serials come
 * from the injected random source.
 *
 * @example A 2048-bit identity (tests; Jami uses 4096)
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJamiDevice, createJamiIdentity } from "./jami_identity.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const now = Date.UTC(2026, 0, 1);
 * const random = rngBytes(seededRng(4));
 * const steps: string[] = [];
 * const identity = await createJamiIdentity({ bits: 2048, now, random, onProgress: (s) => steps.push(s) });
 * assert.equal(identity.accountId, identity.accountKey.publicKey.infoHash.toString());
 * assert.equal(steps.length, 6);
 * const second = await createJamiDevice(identity, { bits: 2048, now, random });
 * assert.equal(second.accountId, identity.accountId);
 * assert.notEqual(second.deviceId, identity.deviceId);
 * await second.deviceChain.validate(now);
 * ```
 *
 * @module
 */
import { sha256 } from "../crypto.ts";
import type { RandomBytes } from "../rng.ts";
import { createJamiCertificate, JamiCertificate } from "./certificate.ts";
import { JamiCertificateChain } from "./certificate_chain.ts";
import { JamiPrivateKey, type JamiPublicKey } from "./rsa_key.ts";

/** Jami's key size. */
export const JAMI_KEY_BITS = 4096;

/** An account with one device: keys, certificates and ids. */
export interface JamiIdentity {
  /** The account private key (signs announcements, device certificates, CRLs). */
  readonly accountKey: JamiPrivateKey;
  /** Account certificate then CA certificate. */
  readonly accountChain: JamiCertificateChain;
  /** The CA private key (in the archive as `ringCaKey`), if known. */
  readonly caKey?: JamiPrivateKey;
  /** This device's private key (signs and decrypts trust requests). */
  readonly deviceKey: JamiPrivateKey;
  /** Device, account and CA certificates (published as the type-8 value). */
  readonly deviceChain: JamiCertificateChain;
  /** The Jami account id: SHA-1 of the account SPKI, 40 hex. */
  readonly accountId: string;
  /** The device SHA-1 id: SHA-1 of the device SPKI, 40 hex. */
  readonly deviceId: string;
}

/** Options of {@link createJamiIdentity}. */
export interface CreateJamiIdentityOptions {
  /** RSA size of the three keys; default {@link JAMI_KEY_BITS}. */
  readonly bits?: number;
  /** Called before each step: `ca-key`, `ca-certificate`, `account-key`, `account-certificate`, `device-key`, `device-certificate`. */
  readonly onProgress?: (step: string) => void;
  /** Start of validity, Unix milliseconds. */
  readonly now: number;
  /** Source of the certificate serials. */
  readonly random: RandomBytes;
}

/** Options of {@link createJamiDevice}. */
export interface CreateJamiDeviceOptions {
  /** RSA size of the device key; default {@link JAMI_KEY_BITS}. */
  readonly bits?: number;
  /** Start of validity, Unix milliseconds. */
  readonly now: number;
  /** Source of the serial; without it the serial is derived from the device key. */
  readonly random?: RandomBytes;
  /** Called before each step: `device-key`, `device-certificate`. */
  readonly onProgress?: (step: string) => void;
}

/** 8 serial bytes, positive (first byte < 0x80) and non-zero. */
function serialFor(key: JamiPublicKey, random?: RandomBytes): Uint8Array {
  const serial = random ? random(8).slice(0, 8) : sha256(key.spki).slice(0, 8);
  serial[0] &= 0x7f;
  if (serial[0] === 0) serial[0] = 1;
  return serial;
}

/**
 * Generates a CA, an account and a device, as `ArchiveAccountManager::createAccount`.
 *
 * @param options Key size, progress callback, time and randomness.
 * @returns The identity.
 */
export async function createJamiIdentity(
  options: CreateJamiIdentityOptions,
): Promise<JamiIdentity> {
  const bits = options.bits ?? JAMI_KEY_BITS;
  const progress = options.onProgress ?? (() => {});
  progress("ca-key");
  const caKey = await JamiPrivateKey.generate(bits);
  progress("ca-certificate");
  const ca = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami CA",
      subjectKey: caKey.publicKey,
      issuerKey: caKey,
      isCa: true,
      serial: serialFor(caKey.publicKey, options.random),
      now: options.now,
    }),
  );
  progress("account-key");
  const accountKey = await JamiPrivateKey.generate(bits);
  progress("account-certificate");
  const account = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami",
      subjectKey: accountKey.publicKey,
      issuerKey: caKey,
      issuer: ca,
      isCa: true,
      serial: serialFor(accountKey.publicKey, options.random),
      now: options.now,
    }),
  );
  const accountChain = JamiCertificateChain.fromCertificates([account, ca]);
  return createJamiDevice(
    { accountKey, accountChain, caKey },
    { bits, now: options.now, random: options.random, onProgress: progress },
  );
}

/**
 * Adds a device to an account: a new device key and a certificate issued by
 * the account key (no extensions, as jamid's from a CSR).
 *
 * @param account The account key and chain (and CA key, kept as is).
 * @param options Key size, time and randomness.
 * @returns The identity of the new device.
 * @throws {TypeError} If `account.accountChain` holds no certificate.
 */
export async function createJamiDevice(
  account: Pick<JamiIdentity, "accountKey" | "accountChain" | "caKey">,
  options: CreateJamiDeviceOptions,
): Promise<JamiIdentity> {
  const progress = options.onProgress ?? (() => {});
  const accountCert = account.accountChain.device;
  progress("device-key");
  const deviceKey = await JamiPrivateKey.generate(
    options.bits ?? JAMI_KEY_BITS,
  );
  progress("device-certificate");
  const device = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami device",
      subjectKey: deviceKey.publicKey,
      issuerKey: account.accountKey,
      issuer: accountCert,
      isCa: false,
      serial: serialFor(deviceKey.publicKey, options.random),
      now: options.now,
    }),
  );
  const deviceChain = JamiCertificateChain.fromCertificates([
    device,
    ...account.accountChain.certificates,
  ]);
  return {
    accountKey: account.accountKey,
    accountChain: account.accountChain,
    ...(account.caKey ? { caKey: account.caKey } : {}),
    deviceKey,
    deviceChain,
    accountId: account.accountKey.publicKey.infoHash.toString(),
    deviceId: deviceKey.publicKey.infoHash.toString(),
  };
}
