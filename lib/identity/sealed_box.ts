/**
 * Sealed boxes: a message encrypted to one device and signed by the sending
 * device, for trust requests, confirmations and receipts in DHT inboxes.
 *
 * Construction: a fresh X25519 key pair per box; HKDF-SHA-256 over the shared
 * secret (salt = ephemeral key ‖ recipient key) yields an AES-256-GCM key and
 * nonce; the header (recipient device id, purpose, ephemeral key) is the
 * associated data, so it cannot be altered. Inside, the sender's device
 * certificate and a signature by the sender's device key over (recipient,
 * purpose, message) tell the recipient who sent it, and stop the recipient
 * from re-sealing the signed message to someone else.
 *
 * @example Seal a trust request to a device and open it there
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "./account_keys.ts";
 * import { DeviceKeys } from "./device_keys.ts";
 * import { DeviceCertificate } from "./device_certificate.ts";
 * import { openSealedBox, sealBox } from "./sealed_box.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const random = rngBytes(seededRng(6));
 * const alice = AccountKeys.generate(random);
 * const aliceDevice = DeviceKeys.generate(random);
 * const aliceCertificate = DeviceCertificate.issue(alice, aliceDevice, { issuedMs: 0 });
 * const bob = AccountKeys.generate(random);
 * const bobDevice = DeviceKeys.generate(random);
 * const bobCertificate = DeviceCertificate.issue(bob, bobDevice, { issuedMs: 0 });
 *
 * const box = sealBox(new TextEncoder().encode("hi Bob"), {
 *   sender: { device: aliceDevice, certificate: aliceCertificate },
 *   recipient: bobCertificate,
 *   purpose: "trust-request",
 *   randomBytes: random,
 * });
 * const opened = openSealedBox(box, { device: bobDevice, purpose: "trust-request", nowMs: 1 });
 * assert.ok(opened.sender.accountId.equals(alice.id));
 * assert.equal(new TextDecoder().decode(opened.message), "hi Bob");
 * ```
 *
 * @module
 */
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Verify,
  hkdfSha256,
  KEY_BYTES,
  SIGNATURE_BYTES,
  utf8,
  x25519PublicKey,
  x25519Shared,
} from "../crypto.ts";
import { decodeTuple, encodeTuple, readBytes, readText } from "./_codec.ts";
import {
  BadSignatureError,
  SealedBoxTamperedError,
  WrongPurposeError,
  WrongRecipientError,
} from "./errors.ts";
import { INFO_HASH_BYTES, InfoHash } from "./info_hash.ts";
import { DeviceCertificate } from "./device_certificate.ts";
import type { DeviceKeys } from "./device_keys.ts";
import type { RevocationStatus } from "./revocation_list.ts";
import type { RandomBytes } from "../rng.ts";

/** Largest message a sealed box accepts (the value limit bounds it further). */
export const MAX_SEALED_MESSAGE_BYTES = 65_536;
/** Longest purpose tag, in characters (lowercase kebab-case, e.g. `"trust-request"`). */
export const MAX_PURPOSE_LENGTH = 32;

const OUTER_TAG = "sb1";
const INNER_TAG = "sbi1";
const KDF_INFO = utf8("jami-contacts/sealed-box/v1");
const AAD_DOMAIN = "jami-contacts/sealed-box-header/v1";
const SIGNING_DOMAIN = "jami-contacts/sealed-box-message/v1";
const PURPOSE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** Options of {@link sealBox}. */
export interface SealBoxOptions {
  /** The sending device's keys and certificate. */
  readonly sender: {
    readonly device: DeviceKeys;
    readonly certificate: DeviceCertificate;
  };
  /** The recipient device's certificate, verified by the caller. */
  readonly recipient: DeviceCertificate;
  /** What the box is for, e.g. `"trust-request"`; the recipient must expect the same. */
  readonly purpose: string;
  /** Source of the ephemeral key. */
  readonly randomBytes: RandomBytes;
}

/** Options of {@link openSealedBox}. */
export interface OpenSealedBoxOptions {
  /** The receiving device's keys. */
  readonly device: DeviceKeys;
  /** The purpose this inbox expects. */
  readonly purpose: string;
  /** Time of the check (sender certificate validity), epoch ms. */
  readonly nowMs: number;
  /** Looks up the current, verified revocation list of an account. */
  readonly revocationList?: (
    accountId: InfoHash,
  ) => RevocationStatus | undefined;
}

/** What {@link openSealedBox} learns. */
export interface OpenedSealedBox {
  /** The plaintext, authenticated as the sender's for this recipient and purpose. */
  readonly message: Uint8Array;
  /** The sender's verified device certificate (account id, device id, keys). */
  readonly sender: DeviceCertificate;
}

function validatePurpose(purpose: string): void {
  if (typeof purpose !== "string" || !PURPOSE_PATTERN.test(purpose)) {
    throw new TypeError(
      `Cannot use purpose "${purpose}": expected lowercase kebab-case of at most ${MAX_PURPOSE_LENGTH} characters`,
    );
  }
}

function deriveKeyAndNonce(
  shared: Uint8Array,
  ephemeralKey: Uint8Array,
  recipientKey: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const salt = new Uint8Array(KEY_BYTES * 2);
  salt.set(ephemeralKey, 0);
  salt.set(recipientKey, KEY_BYTES);
  const okm = hkdfSha256(shared, salt, KDF_INFO, 44);
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44) };
}

function header(
  recipient: Uint8Array,
  purpose: string,
  ephemeralKey: Uint8Array,
): Uint8Array {
  return encodeTuple([AAD_DOMAIN, recipient, purpose, ephemeralKey]);
}

function signedMessage(
  recipient: Uint8Array,
  purpose: string,
  message: Uint8Array,
): Uint8Array {
  return encodeTuple([SIGNING_DOMAIN, recipient, purpose, message]);
}

/**
 * Seals `message` to the recipient device.
 *
 * @param message Plaintext, at most {@link MAX_SEALED_MESSAGE_BYTES}.
 * @param options Sender, recipient, purpose, randomness.
 * @returns The sealed box bytes.
 * @throws {TypeError} For a bad purpose or a message that is not bytes.
 * @throws {RangeError} For an oversized message.
 */
export function sealBox(
  message: Uint8Array,
  options: SealBoxOptions,
): Uint8Array {
  validatePurpose(options.purpose);
  if (!(message instanceof Uint8Array)) {
    throw new TypeError("Cannot seal: message is not a Uint8Array");
  }
  if (message.length > MAX_SEALED_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot seal: message has ${message.length} bytes, limit is ${MAX_SEALED_MESSAGE_BYTES}`,
    );
  }
  const recipient = options.recipient.deviceId.bytes;
  const signature = options.sender.device.sign(
    signedMessage(recipient, options.purpose, message),
  );
  const inner = encodeTuple([
    INNER_TAG,
    options.sender.certificate.bytes,
    message,
    signature,
  ]);
  // A low-order recipient key would give an all-zero secret; draw again is
  // pointless (the key is the problem), so refuse.
  const ephemeralSecret = options.randomBytes(KEY_BYTES);
  const ephemeralKey = x25519PublicKey(ephemeralSecret);
  const recipientKey = options.recipient.encryptionKey;
  const shared = x25519Shared(ephemeralSecret, recipientKey);
  if (shared === undefined) {
    throw new RangeError("Cannot seal: recipient encryption key is invalid");
  }
  const { key, nonce } = deriveKeyAndNonce(shared, ephemeralKey, recipientKey);
  const ciphertext = aesGcmEncrypt(
    key,
    nonce,
    inner,
    header(recipient, options.purpose, ephemeralKey),
  );
  return encodeTuple([
    OUTER_TAG,
    recipient,
    options.purpose,
    ephemeralKey,
    ciphertext,
  ]);
}

/**
 * Reads only the header of a sealed box: who it is for and why. Cheap; use
 * it to drop boxes for other devices before decrypting.
 *
 * @param bytes Sealed box bytes.
 * @returns Recipient device id and purpose.
 * @throws {MalformedRecordError} If the bytes are not a sealed box.
 */
export function peekSealedBox(
  bytes: Uint8Array,
): { readonly recipient: InfoHash; readonly purpose: string } {
  const what = "sealed box";
  const fields = decodeTuple(bytes, what, OUTER_TAG, 5);
  return {
    recipient: InfoHash.fromBytes(readBytes(fields, 1, what, INFO_HASH_BYTES)),
    purpose: readText(fields, 2, what, MAX_PURPOSE_LENGTH),
  };
}

/**
 * Opens a sealed box addressed to `options.device`, and verifies who sent it.
 *
 * @param bytes Sealed box bytes (untrusted).
 * @param options Receiving device, expected purpose, time, revocation lookup.
 * @returns The message and the sender's verified certificate.
 * @throws {MalformedRecordError} If the bytes are not a sealed box.
 * @throws {WrongRecipientError} If the box is addressed to another device.
 * @throws {WrongPurposeError} If the box was sealed for another purpose.
 * @throws {SealedBoxTamperedError} If the header or ciphertext was altered.
 * @throws {BadSignatureError} If the sender's signature does not verify.
 * @throws {SignerMismatchError} If the sender certificate is not signed by its account.
 * @throws {RecordExpiredError} If the sender certificate has expired.
 * @throws {DeviceRevokedError} If the sender device is revoked.
 */
export function openSealedBox(
  bytes: Uint8Array,
  options: OpenSealedBoxOptions,
): OpenedSealedBox {
  const what = "sealed box";
  const fields = decodeTuple(bytes, what, OUTER_TAG, 5);
  const recipient = readBytes(fields, 1, what, INFO_HASH_BYTES);
  const purpose = readText(fields, 2, what, MAX_PURPOSE_LENGTH);
  const ephemeralKey = readBytes(fields, 3, what, KEY_BYTES);
  const ciphertext = readBytes(fields, 4, what);
  const recipientId = InfoHash.fromBytes(recipient);
  if (!recipientId.equals(options.device.id)) {
    throw new WrongRecipientError(
      recipientId.toString(),
      options.device.id.toString(),
    );
  }
  if (purpose !== options.purpose) {
    throw new WrongPurposeError(purpose, options.purpose);
  }
  const shared = options.device.agree(ephemeralKey);
  if (shared === undefined) throw new SealedBoxTamperedError();
  const { key, nonce } = deriveKeyAndNonce(
    shared,
    ephemeralKey,
    options.device.encryptionKey,
  );
  const inner = aesGcmDecrypt(
    key,
    nonce,
    ciphertext,
    header(recipient, purpose, ephemeralKey),
  );
  if (inner === undefined) throw new SealedBoxTamperedError();
  const innerFields = decodeTuple(inner, "sealed box content", INNER_TAG, 4);
  const sender = DeviceCertificate.decode(
    readBytes(innerFields, 1, "sealed box content"),
  );
  const message = readBytes(innerFields, 2, "sealed box content");
  const signature = readBytes(
    innerFields,
    3,
    "sealed box content",
    SIGNATURE_BYTES,
  );
  sender.verify({
    nowMs: options.nowMs,
    revocationList: options.revocationList?.(sender.accountId),
  });
  if (
    !ed25519Verify(
      signature,
      signedMessage(recipient, purpose, message),
      sender.devicePublicKey,
    )
  ) {
    throw new BadSignatureError("sealed box message");
  }
  return { message, sender };
}
