/**
 * `DeviceCertificate`: the account key's statement that a device belongs to
 * the account, with the device's signing and encryption keys, a name, and a
 * validity window. It travels in every announcement and sealed box.
 *
 * @example Issue and verify
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "./account_keys.ts";
 * import { DeviceKeys } from "./device_keys.ts";
 * import { DeviceCertificate } from "./device_certificate.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const random = rngBytes(seededRng(4));
 * const account = AccountKeys.generate(random);
 * const device = DeviceKeys.generate(random);
 * const certificate = DeviceCertificate.issue(account, device, { name: "laptop", issuedMs: 0 });
 * const received = DeviceCertificate.decode(certificate.bytes);
 * received.verify({ accountId: account.id, nowMs: 1_000 });
 * assert.ok(received.deviceId.equals(device.id));
 * ```
 *
 * @module
 */
import { decodeTuple, encodeTuple, readBytes, readText } from "./_codec.ts";
import { KEY_BYTES } from "../crypto.ts";
import {
  DeviceRevokedError,
  MalformedRecordError,
  SignerMismatchError,
} from "./errors.ts";
import { InfoHash } from "./info_hash.ts";
import { type SignatureVerifier, SignedRecord } from "./signed_record.ts";
import type { AccountKeys } from "./account_keys.ts";
import type { DeviceKeys } from "./device_keys.ts";
import type { RevocationStatus } from "./revocation_list.ts";

/** Record type of a device certificate. */
export const DEVICE_CERTIFICATE_TYPE = "device-certificate";
/** Default validity of a device certificate: 2 years. */
export const DEFAULT_CERTIFICATE_LIFETIME_MS = 2 * 365 * 24 * 3_600_000;
/** Longest device name, in characters. */
export const MAX_DEVICE_NAME_LENGTH = 64;

const BODY_TAG = "dcb1";

/** Options of {@link DeviceCertificate.issue}. */
export interface IssueDeviceCertificateOptions {
  /** Human-readable device name. @default {""} */
  readonly name?: string;
  /** Issue time, epoch ms. */
  readonly issuedMs: number;
  /** Validity from issue time. @default {2 years} */
  readonly lifetimeMs?: number;
}

/** Options of {@link DeviceCertificate.verify}. */
export interface VerifyDeviceCertificateOptions {
  /** The account the device must belong to; omitted means the certificate's own. */
  readonly accountId?: InfoHash;
  /** Time of the check, epoch ms. */
  readonly nowMs: number;
  /** The account's revoked devices: its verified list, or the union of its lists ({@link RevokedDevices}). */
  readonly revocationList?: RevocationStatus;
  /** The Ed25519 check (tests count calls). @default {ed25519Verify} */
  readonly verifySignature?: SignatureVerifier;
}

/** A device certificate; decoding checks structure only, call {@link DeviceCertificate.verify}. */
export class DeviceCertificate {
  /** The signed record carrying the certificate. */
  readonly record: SignedRecord;
  /** Account id: SHA-1 of the issuing account key. */
  readonly accountId: InfoHash;
  /** The issuing account's Ed25519 key. */
  readonly accountPublicKey: Uint8Array;
  /** Device id: SHA-1 of the device signing key. */
  readonly deviceId: InfoHash;
  /** The device's Ed25519 signing key. */
  readonly devicePublicKey: Uint8Array;
  /** The device's X25519 encryption key. */
  readonly encryptionKey: Uint8Array;
  /** Name the owner gave the device, shown to the account's other devices; signed, not unique. */
  readonly name: string;

  private constructor(record: SignedRecord) {
    const what = "device certificate";
    const fields = decodeTuple(record.body, what, BODY_TAG, 4);
    this.record = record;
    this.accountPublicKey = record.signerKey;
    this.accountId = record.signerId;
    this.devicePublicKey = readBytes(fields, 1, what, KEY_BYTES);
    this.encryptionKey = readBytes(fields, 2, what, KEY_BYTES);
    this.name = readText(fields, 3, what, MAX_DEVICE_NAME_LENGTH);
    this.deviceId = InfoHash.get(this.devicePublicKey);
  }

  /**
   * The account certifies one of its devices.
   *
   * @param account Account keys (signer).
   * @param device The device's keys (only public parts are used).
   * @param options Name, issue time, lifetime.
   * @returns The certificate.
   * @throws {RangeError} If the name is too long or times are invalid.
   */
  static issue(
    account: AccountKeys,
    device: DeviceKeys,
    options: IssueDeviceCertificateOptions,
  ): DeviceCertificate {
    const name = options.name ?? "";
    if (typeof name !== "string" || name.length > MAX_DEVICE_NAME_LENGTH) {
      throw new RangeError(
        `Cannot issue certificate: name longer than ${MAX_DEVICE_NAME_LENGTH} characters`,
      );
    }
    const lifetimeMs = options.lifetimeMs ?? DEFAULT_CERTIFICATE_LIFETIME_MS;
    const record = SignedRecord.sign(account, {
      type: DEVICE_CERTIFICATE_TYPE,
      seq: 0,
      createdMs: options.issuedMs,
      expiresMs: options.issuedMs + lifetimeMs,
      body: encodeTuple([
        BODY_TAG,
        device.publicKey,
        device.encryptionKey,
        name,
      ]),
    });
    return new DeviceCertificate(record);
  }

  /**
   * Decodes a certificate from untrusted bytes (structure only).
   *
   * @param bytes Encoded certificate.
   * @returns The certificate, not yet verified.
   * @throws {MalformedRecordError} If the bytes are not a certificate.
   */
  static decode(bytes: Uint8Array): DeviceCertificate {
    const record = SignedRecord.decode(bytes);
    if (record.type !== DEVICE_CERTIFICATE_TYPE) {
      throw new MalformedRecordError(
        "device certificate",
        `record type is "${record.type}"`,
      );
    }
    return new DeviceCertificate(record);
  }

  /** Issue time, epoch ms. */
  get issuedMs(): number {
    return this.record.createdMs;
  }

  /** Expiry time, epoch ms. */
  get expiresMs(): number {
    return this.record.expiresMs;
  }

  /** The signed record's bytes, as published in the DHT and checked by {@link DeviceCertificate.decode}. */
  get bytes(): Uint8Array {
    return this.record.bytes;
  }

  /**
   * Checks that the certificate is signed by the account whose SHA-1 is
   * `accountId`, is within its validity window, and that the device is not
   * on the revocation list. The cheap checks (account id, revocation) come
   * before the Ed25519 verification.
   *
   * @param options Expected account, time, revocation list.
   * @throws {BadSignatureError} If the account signature does not verify.
   * @throws {SignerMismatchError} If another account signed it, or the revocation list is another account's.
   * @throws {RecordExpiredError} If the certificate has expired.
   * @throws {RecordFromFutureError} If it claims to be issued in the future.
   * @throws {DeviceRevokedError} If the device is revoked.
   */
  verify(options: VerifyDeviceCertificateOptions): void {
    // Cheap checks first (account id, revocation), then the signature.
    const expected = options.accountId ?? this.accountId;
    if (!expected.equals(this.accountId)) {
      throw new SignerMismatchError(
        "device-certificate record",
        expected.toString(),
        this.accountId.toString(),
      );
    }
    const list = options.revocationList;
    if (list !== undefined) {
      if (!list.accountId.equals(this.accountId)) {
        throw new SignerMismatchError(
          "revocation list",
          this.accountId.toString(),
          list.accountId.toString(),
        );
      }
      if (list.isRevoked(this.deviceId)) {
        throw new DeviceRevokedError(this.deviceId.toString());
      }
    }
    this.record.verify({
      type: DEVICE_CERTIFICATE_TYPE,
      signer: expected,
      nowMs: options.nowMs,
      verifySignature: options.verifySignature,
    });
  }
}
