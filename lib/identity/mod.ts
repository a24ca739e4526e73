/**
 * Identity, published as the `@jami-contacts/dht-contacts/identity` entry
 * point: 20-byte ids ({@link InfoHash}, SHA-1 as in OpenDHT), account and
 * device keys (Ed25519, X25519), device certificates signed by the account,
 * revocation lists, the signed record every published value is wrapped in,
 * sealed boxes (a message encrypted to one device and signed by the sending
 * device), `jami:` URIs and the passphrase-encrypted account archive codec.
 *
 * It is pure code: no clock, socket, file or platform crypto; randomness
 * comes in as a {@link RandomBytes} source and time as `nowMs` arguments.
 * Importing this entry alone does not load the DHT, SIP or the daemon.
 *
 * @example A device announces itself; a contact verifies the announcement
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   AccountKeys, DeviceCertificate, DeviceKeys, InfoHash, parseUri,
 *   SignedRecord,
 * } from "./mod.ts";
 * import { rngBytes, seededRng } from "../rng.ts"; // systemRandomBytes in real use
 *
 * const nowMs = 1_700_000_000_000;
 * const random = rngBytes(seededRng("example"));
 * const account = AccountKeys.generate(random);
 * const device = DeviceKeys.generate(random);
 * const certificate = DeviceCertificate.issue(account, device, {
 *   name: "phone", issuedMs: nowMs,
 * });
 * // The device signs its announcement; the body carries its certificate.
 * const announcement = SignedRecord.sign(device, {
 *   type: "device-announcement", seq: 1, createdMs: nowMs,
 *   expiresMs: nowMs + 60_000, body: certificate.bytes,
 * });
 *
 * // A contact knows only the URI. It checks that the record is signed by a
 * // device that this very account certified.
 * const accountId = parseUri(`jami:${account.id}`);
 * const received = SignedRecord.decode(announcement.bytes);
 * const carried = DeviceCertificate.decode(received.body);
 * carried.verify({ accountId, nowMs });
 * received.verify({ signer: carried.deviceId, nowMs });
 * assert.ok(carried.deviceId.equals(device.id));
 * assert.equal(InfoHash.get(account.publicKey).toString(), accountId.toString());
 * ```
 *
 * @example A trust request sealed to a device's inbox and opened there
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   AccountKeys, DeviceCertificate, DeviceKeys, InfoHash, openSealedBox,
 *   sealBox,
 * } from "./mod.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const nowMs = 1_700_000_000_000;
 * const random = rngBytes(seededRng("seal"));
 * const makeDevice = (name: string) => {
 *   const account = AccountKeys.generate(random);
 *   const device = DeviceKeys.generate(random);
 *   const certificate = DeviceCertificate.issue(account, device, { name, issuedMs: nowMs });
 *   return { account, device, certificate };
 * };
 * const alice = makeDevice("alice-laptop");
 * const bob = makeDevice("bob-phone");
 * const box = sealBox(new TextEncoder().encode("hello"), {
 *   sender: { device: alice.device, certificate: alice.certificate },
 *   recipient: bob.certificate, // from Bob's verified announcement
 *   purpose: "trust-request",
 *   randomBytes: random,
 * });
 * const inbox = InfoHash.get("inbox:" + bob.certificate.deviceId); // where it is put
 * assert.equal(inbox.toString().length, 40);
 *
 * // On Bob's device:
 * const { message, sender } = openSealedBox(box, {
 *   device: bob.device, purpose: "trust-request", nowMs,
 *   revocationList: () => undefined, // the sender account's latest list, when known
 * });
 * assert.ok(sender.accountId.equals(alice.account.id));
 * assert.equal(new TextDecoder().decode(message), "hello");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export { INFO_HASH_BITS, INFO_HASH_BYTES, InfoHash } from "./info_hash.ts";
export type { Signer } from "./signer.ts";
export { AccountKeys } from "./account_keys.ts";
export { DeviceKeys, type DeviceSecrets } from "./device_keys.ts";
export {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  MAX_RECORD_BODY_BYTES,
  MAX_RECORD_TYPE_LENGTH,
  type SignatureVerifier,
  SignedRecord,
  type SignedRecordFields,
  type VerifyRecordOptions,
} from "./signed_record.ts";
export {
  DEFAULT_CERTIFICATE_LIFETIME_MS,
  DEVICE_CERTIFICATE_TYPE,
  DeviceCertificate,
  type IssueDeviceCertificateOptions,
  MAX_DEVICE_NAME_LENGTH,
  type VerifyDeviceCertificateOptions,
} from "./device_certificate.ts";
export {
  type CreateRevocationListOptions,
  DEFAULT_REVOCATION_LIFETIME_MS,
  MAX_REVOKED_DEVICES,
  REVOCATION_LIST_TYPE,
  REVOCATION_RENEW_BEFORE_MS,
  RevocationList,
  type RevocationStatus,
} from "./revocation_list.ts";
export {
  MAX_UNION_REVOKED_DEVICES,
  RevokedDevices,
} from "./revoked_devices.ts";
export {
  MAX_PURPOSE_LENGTH,
  MAX_SEALED_MESSAGE_BYTES,
  type OpenedSealedBox,
  openSealedBox,
  type OpenSealedBoxOptions,
  peekSealedBox,
  sealBox,
  type SealBoxOptions,
} from "./sealed_box.ts";
export { formatUri, parseUri } from "./uri.ts";
export {
  type AccountArchiveContents,
  DEFAULT_SCRYPT_LOG2_N,
  type EncodeAccountArchiveOptions,
  MAX_ARCHIVE_BYTES,
} from "./account_archive.ts";
export {
  decodeAccountArchive,
  encodeAccountArchive,
} from "./account_archive.ts";
export type { RandomBytes } from "../rng.ts";
