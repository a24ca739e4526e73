/**
 * `DeviceAnnouncement`: the seed's `{dev, pk}` value, signed. A device says
 * "I am online" (or, on a clean shutdown, "goodbye") at its account hash.
 *
 * It is a {@link SignedRecord} of type `device-announcement` signed by the
 * **device** key, carrying the account's certificate for that device, so a
 * watcher checks two signatures: the device signed this announcement, and
 * the account it tracks certified the device. A record signed by anyone else,
 * or certifying a device of another account, is refused (Jami does not check
 * the signer: gap M7). The sequence number only grows (it is the signing time
 * or more), so a replayed older record loses against a newer one, and the
 * validity window bounds how long a replay can matter at all.
 *
 * @example Announce, then verify as a watcher would
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceAnnouncement } from "./device_announcement.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const random = rngBytes(seededRng(1));
 * const account = AccountKeys.generate(random);
 * const device = DeviceKeys.generate(random);
 * const certificate = DeviceCertificate.issue(account, device, { issuedMs: 0 });
 * const announcement = DeviceAnnouncement.create(device, certificate, {
 *   seq: 1_000, nowMs: 1_000, lifetimeMs: 60_000, note: "at my desk",
 * });
 * const received = DeviceAnnouncement.decode(announcement.bytes);
 * received.verify({ accountId: account.id, nowMs: 2_000 });
 * assert.equal(received.note, "at my desk");
 * assert.equal(received.goodbye, false);
 * ```
 *
 * @module
 */
import {
  decodeTuple,
  encodeTuple,
  readInteger,
  readText,
} from "../identity/_codec.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import {
  MalformedRecordError,
  SignerMismatchError,
} from "../identity/errors.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { RevocationStatus } from "../identity/revocation_list.ts";
import { SignedRecord } from "../identity/signed_record.ts";

/** Record type of an announcement. */
export const DEVICE_ANNOUNCEMENT_TYPE = "device-announcement";
/** Longest note (the seed's `lineStatus`), in UTF-16 units. */
export const MAX_NOTE_LENGTH = 256;
/** Most endpoints (direct-channel addresses) one announcement lists. */
export const MAX_ENDPOINTS = 4;
const MAX_ENDPOINT_LENGTH = 64;
const BODY_TAG = "da1";

/** Options of {@link DeviceAnnouncement.create}. */
export interface CreateAnnouncementOptions {
  /** Sequence number; must grow with every announcement of this device. */
  readonly seq: number;
  /** Signing time, epoch ms. */
  readonly nowMs: number;
  /** Validity from `nowMs`. */
  readonly lifetimeMs: number;
  /** True for the signed goodbye of a clean shutdown. @default {false} */
  readonly goodbye?: boolean;
  /**
   * Short status note, public to anyone who reads the account hash. Our
   * announcer leaves it empty (notes go to contacts over links); it is read
   * from peers that still fill it. @default {""}
   */
  readonly note?: string;
  /** Where the device accepts direct channels ("host:port"). @default {[]} */
  readonly endpoints?: readonly string[];
}

/** Options of {@link DeviceAnnouncement.verify}. */
export interface VerifyAnnouncementOptions {
  /** The account the device must belong to. */
  readonly accountId: InfoHash;
  /** Time of the check, epoch ms. */
  readonly nowMs: number;
  /** The account's revoked devices (a verified list, or the union of its lists), if known. */
  readonly revocationList?: RevocationStatus;
}

/** A device announcement; decoding checks structure only, call {@link DeviceAnnouncement.verify}. */
export class DeviceAnnouncement {
  /** The signed record. */
  readonly record: SignedRecord;
  /** The account's certificate for the announcing device. */
  readonly certificate: DeviceCertificate;
  /** True for a goodbye. */
  readonly goodbye: boolean;
  /** The status note ("" from our devices, which send it over links). */
  readonly note: string;
  /** Direct-channel endpoints. */
  readonly endpoints: readonly string[];

  private constructor(record: SignedRecord) {
    const what = "device announcement";
    const fields = decodeTuple(record.body, what, BODY_TAG, 5);
    const certificateBytes = fields[1];
    if (!(certificateBytes instanceof Uint8Array)) {
      throw new MalformedRecordError(what, "field 1 is not bytes");
    }
    this.certificate = DeviceCertificate.decode(certificateBytes);
    const state = readInteger(fields, 2, what);
    if (state > 1) throw new MalformedRecordError(what, "unknown state");
    this.goodbye = state === 1;
    this.note = readText(fields, 3, what, MAX_NOTE_LENGTH);
    const endpoints = fields[4];
    if (!Array.isArray(endpoints) || endpoints.length > MAX_ENDPOINTS) {
      throw new MalformedRecordError(what, "bad endpoint list");
    }
    this.endpoints = endpoints.map((_, index) =>
      readText(endpoints, index, what, MAX_ENDPOINT_LENGTH)
    );
    this.record = record;
  }

  /**
   * Signs an announcement for `device`.
   *
   * @param device The device's keys (signer).
   * @param certificate The account's certificate for this device.
   * @param options Sequence, time, lifetime, goodbye, note, endpoints.
   * @returns The announcement.
   * @throws {TypeError} If the certificate is for another device.
   * @throws {RangeError} If the note or endpoints are too long.
   */
  static create(
    device: DeviceKeys,
    certificate: DeviceCertificate,
    options: CreateAnnouncementOptions,
  ): DeviceAnnouncement {
    if (!certificate.deviceId.equals(device.id)) {
      throw new TypeError(
        "Cannot create announcement: the certificate is for another device",
      );
    }
    const note = options.note ?? "";
    if (note.length > MAX_NOTE_LENGTH) {
      throw new RangeError(
        `Cannot create announcement: note is over ${MAX_NOTE_LENGTH} characters`,
      );
    }
    const endpoints = options.endpoints ?? [];
    if (
      endpoints.length > MAX_ENDPOINTS ||
      endpoints.some((endpoint) => endpoint.length > MAX_ENDPOINT_LENGTH)
    ) {
      throw new RangeError(
        `Cannot create announcement: at most ${MAX_ENDPOINTS} endpoints of ${MAX_ENDPOINT_LENGTH} characters`,
      );
    }
    const record = SignedRecord.sign(device, {
      type: DEVICE_ANNOUNCEMENT_TYPE,
      seq: options.seq,
      createdMs: options.nowMs,
      expiresMs: options.nowMs + options.lifetimeMs,
      body: encodeTuple([
        BODY_TAG,
        certificate.bytes,
        options.goodbye ? 1 : 0,
        note,
        [...endpoints],
      ]),
    });
    return new DeviceAnnouncement(record);
  }

  /**
   * Reads an announcement out of a decoded record (structure only).
   *
   * @param record A record of type {@link DEVICE_ANNOUNCEMENT_TYPE}.
   * @returns The announcement.
   * @throws {MalformedRecordError} If the body is not an announcement.
   */
  static fromRecord(record: SignedRecord): DeviceAnnouncement {
    if (record.type !== DEVICE_ANNOUNCEMENT_TYPE) {
      throw new MalformedRecordError(
        "device announcement",
        `record type is "${record.type}"`,
      );
    }
    return new DeviceAnnouncement(record);
  }

  /**
   * Decodes an announcement from untrusted bytes (structure only).
   *
   * @param bytes Encoded record.
   * @returns The announcement, not yet verified.
   * @throws {MalformedRecordError} If the bytes are not an announcement.
   */
  static decode(bytes: Uint8Array): DeviceAnnouncement {
    return DeviceAnnouncement.fromRecord(SignedRecord.decode(bytes));
  }

  /** The announcing device's id. */
  get deviceId(): InfoHash {
    return this.certificate.deviceId;
  }

  /** Sequence number. */
  get seq(): number {
    return this.record.seq;
  }

  /** End of validity, epoch ms. */
  get expiresMs(): number {
    return this.record.expiresMs;
  }

  /** The encoded record. */
  get bytes(): Uint8Array {
    return this.record.bytes;
  }

  /**
   * Checks the device's signature, that the record's signer is the
   * certified device, that `accountId` certified it, validity windows and
   * revocation.
   *
   * @param options Tracked account, time, revocation list.
   * @throws {BadSignatureError} If a signature does not verify.
   * @throws {SignerMismatchError} If the signer is not the certified device, or another account certified it.
   * @throws {RecordExpiredError} If the announcement or certificate expired.
   * @throws {RecordFromFutureError} If it claims to be signed in the future.
   * @throws {DeviceRevokedError} If the device is revoked.
   */
  verify(options: VerifyAnnouncementOptions): void {
    if (!this.record.signerId.equals(this.certificate.deviceId)) {
      throw new SignerMismatchError(
        "device announcement",
        this.certificate.deviceId.toString(),
        this.record.signerId.toString(),
      );
    }
    this.certificate.verify({
      accountId: options.accountId,
      nowMs: options.nowMs,
      revocationList: options.revocationList,
    });
    this.record.verify({
      type: DEVICE_ANNOUNCEMENT_TYPE,
      signer: this.certificate.deviceId,
      nowMs: options.nowMs,
    });
  }
}
