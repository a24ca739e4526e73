/**
 * The device certificate on the DHT (spec §4): a type-8 value, id 1,
 * unsigned, whose data is the msgpack `bin` of the PEM chain (device,
 * account, CA), stored at SHA-1(device SPKI). jamid resolves a
 * DeviceAnnouncement's `dev`, and a trust request's sender, through it.
 *
 * @example Publish and read back a chain
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJamiIdentity } from "./jami_identity.ts";
 * import { certificateValue, parseCertificateValue } from "./certificate_value.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const identity = await createJamiIdentity({ bits: 2048, now: 0, random: rngBytes(seededRng(6)) });
 * const value = certificateValue(identity.deviceChain);
 * assert.equal(value.type, 8);
 * const chain = await parseCertificateValue(value, identity.deviceKey.publicKey.infoHash);
 * assert.equal(await chain.accountId(), identity.accountId);
 * ```
 *
 * @module
 */
import type { DhtValue } from "../dht/messages.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import { decodeMsgpack, toBytes } from "./_msgpack.ts";
import {
  JamiCertificateChain,
  MAX_CHAIN_PEM_BYTES,
} from "./certificate_chain.ts";
import { JamiCertificateError, JamiFormatError } from "./errors.ts";

/** Value type of certificates (`CERTIFICATE_TYPE`, 7 days). */
export const CERTIFICATE_TYPE = 8;
/** Value id OpenDHT's SecureDht uses for the certificate. */
export const CERTIFICATE_VALUE_ID = 1n;

/**
 * The type-8 value of a chain (leaf first), to put at its device's SHA-1 id.
 *
 * @param chain The device chain.
 * @returns The unsigned value.
 */
export function certificateValue(chain: JamiCertificateChain): DhtValue {
  return {
    id: CERTIFICATE_VALUE_ID,
    type: CERTIFICATE_TYPE,
    data: toBytes(new TextEncoder().encode(chain.toPem())),
  };
}

/**
 * Reads a certificate value found at `expectedKey`. It checks the format
 * and that the leaf's key id is the key (OpenDHT's store policy); it does
 * not validate the chain: call `chain.validate(now, crl)`.
 *
 * @param value The value.
 * @param expectedKey The DHT key it was found at (SHA-1 of the device SPKI).
 * @returns The chain.
 * @throws {JamiFormatError} If the value is not a type-8 PEM chain.
 * @throws {JamiCertificateError} With reason `"wrong-key"` if the leaf's key
 * id is not `expectedKey`.
 */
export async function parseCertificateValue(
  value: DhtValue,
  expectedKey: InfoHash,
): Promise<JamiCertificateChain> {
  const what = "certificate value";
  if (value.type !== CERTIFICATE_TYPE || value.cypher !== undefined) {
    throw new JamiFormatError(what, "not a type-8 value");
  }
  if (value.data.length > MAX_CHAIN_PEM_BYTES + 5) {
    throw new JamiFormatError(what, `${value.data.length} bytes`);
  }
  const pem = decodeMsgpack(value.data, what, (item) => {
    if (item.type !== "bin") throw new JamiFormatError(what, "data is not bin");
    return item.bytes;
  });
  const chain = await JamiCertificateChain.fromPem(pem);
  if (!chain.device.publicKey.infoHash.equals(expectedKey)) {
    throw new JamiCertificateError(
      "wrong-key",
      "the device key id is not the value's key",
    );
  }
  return chain;
}
