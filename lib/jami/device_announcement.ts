/**
 * Jami's `DeviceAnnouncement` (spec §3): the presence record of one device,
 * a type-0 value at `InfoHash(accountId)` signed by the **account** key,
 * whose data is the msgpack map `{dev: bin(20) device SHA-1 id, pk: bin(DER
 * SPKI of the device key)}` in that order.
 *
 * @example Announce a device and read the announcement back
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJamiIdentity } from "./jami_identity.ts";
 * import { announcementValue, openJamiAnnouncement } from "./device_announcement.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const identity = await createJamiIdentity({ bits: 2048, now: 0, random: rngBytes(seededRng(5)) });
 * const value = await announcementValue(identity, 42n);
 * const announcement = await openJamiAnnouncement(value, identity.accountId);
 * assert.equal(announcement.deviceId, identity.deviceId);
 * ```
 *
 * @module
 */
import { bytesEqual, sha1 } from "../crypto.ts";
import type { DhtValue } from "../dht/messages.ts";
import { decodeMsgpack, mapEntries, toBytes, WireMap } from "./_msgpack.ts";
import { JamiFormatError, JamiSignatureError } from "./errors.ts";
import type { JamiIdentity } from "./jami_identity.ts";
import { MAX_SPKI_BYTES } from "./rsa_key.ts";
import { signValue, verifyValue } from "./value_crypto.ts";

/** Value type of announcements (`USER_DATA`, 10 minutes). */
export const DEVICE_ANNOUNCEMENT_TYPE = 0;

/** The data of a DeviceAnnouncement. */
export interface JamiAnnouncementData {
  /** The device SHA-1 id (20 bytes). */
  readonly dev: Uint8Array;
  /** The DER SPKI of the device key (jamid writes it, never reads it). */
  readonly pk: Uint8Array;
}

/** A verified announcement. */
export interface JamiAnnouncement extends JamiAnnouncementData {
  /** The account id (40 hex) that signed it. */
  readonly accountId: string;
  /** The device SHA-1 id as 40 hex. */
  readonly deviceId: string;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Packs `{dev, pk}`.
 *
 * @param announcement The device id and key.
 * @returns The msgpack bytes (a value's data).
 */
export function encodeJamiAnnouncement(
  announcement: JamiAnnouncementData,
): Uint8Array {
  return toBytes(
    new WireMap([["dev", announcement.dev], ["pk", announcement.pk]]),
  );
}

/**
 * Unpacks `{dev, pk}` (hostile input). Other keys are ignored; `pk` must
 * hash to `dev`.
 *
 * @param data A value's data.
 * @returns The fields.
 * @throws {JamiFormatError} If the data is not such a map.
 */
export function decodeJamiAnnouncement(
  data: Uint8Array,
): JamiAnnouncementData {
  const what = "device announcement";
  return decodeMsgpack(data, what, (item) => {
    let dev: Uint8Array | undefined;
    let pk: Uint8Array | undefined;
    for (const [key, value] of mapEntries(item, what)) {
      if (value.type !== "bin" && (key === "dev" || key === "pk")) {
        throw new JamiFormatError(what, `${key} is not bin`);
      }
      if (key === "dev" && value.type === "bin") dev = value.bytes.slice();
      if (key === "pk" && value.type === "bin") pk = value.bytes.slice();
    }
    if (dev?.length !== 20) throw new JamiFormatError(what, "bad dev");
    if (pk === undefined || pk.length > MAX_SPKI_BYTES) {
      throw new JamiFormatError(what, "bad pk");
    }
    if (!bytesEqual(sha1(pk), dev)) {
      throw new JamiFormatError(what, "dev is not SHA-1(pk)");
    }
    return { dev, pk };
  });
}

/**
 * The announcement value of the identity's device: type 0, signed by the
 * account key, to put at `InfoHash(accountId)`.
 *
 * @param identity The account and device.
 * @param valueId A random non-zero uint64 (jamid draws a new one per start).
 * @returns The signed value.
 */
export function announcementValue(
  identity: Pick<JamiIdentity, "accountKey" | "deviceKey">,
  valueId: bigint,
): Promise<DhtValue> {
  const device = identity.deviceKey.publicKey;
  return signValue({
    id: valueId,
    type: DEVICE_ANNOUNCEMENT_TYPE,
    data: encodeJamiAnnouncement({
      dev: device.infoHash.bytes,
      pk: device.spki,
    }),
  }, identity.accountKey);
}

/**
 * Verifies an announcement found at an account's key: type 0, signed, the
 * signature verifies, and the signer is that account (an announcement
 * signed by a device key or another account is refused).
 *
 * @param value The value.
 * @param accountId The account id (40 hex) whose key the value was found at.
 * @returns The announcement.
 * @throws {JamiSignatureError} If unsigned, forged or signed by another key.
 * @throws {JamiFormatError} If the type or the data is wrong.
 */
export async function openJamiAnnouncement(
  value: DhtValue,
  accountId: string,
): Promise<JamiAnnouncement> {
  if (value.type !== DEVICE_ANNOUNCEMENT_TYPE || value.cypher !== undefined) {
    throw new JamiFormatError("device announcement", "not a type-0 value");
  }
  const owner = await verifyValue(value);
  const signer = owner.infoHash.toString();
  if (signer !== accountId.toLowerCase()) {
    throw new JamiSignatureError(
      "device announcement",
      `signed by ${signer}, not by the account ${accountId}`,
    );
  }
  const data = decodeJamiAnnouncement(value.data);
  return { ...data, accountId: signer, deviceId: hex(data.dev) };
}
