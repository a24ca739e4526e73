/**
 * Jami-format accounts at the codec level (issue 15; `docs/jami.md`): RSA
 * keys, the signed and encrypted OpenDHT value envelope, X.509 chains and
 * CRLs, identities, archives, and the Jami values (DeviceAnnouncement,
 * certificate, TrustRequest). Pure functions: no DHT, no clock (time is
 * passed in as `now`, Unix milliseconds), randomness injected.
 *
 * Differences from the interface agreed in the brief (`jami_api.md`):
 * - `JamiPublicKey.encrypt(data, random)` takes the padding's random source;
 *   `verify(data, sig, hash = "SHA-512")`; new sync `infoHash` getter
 *   (= `await id()`), `bits`, `blockBytes`; `JamiPrivateKey.fromPem`/`toPem`.
 * - `decryptValue` throws `JamiSignatureError` (not `JamiDecryptError`) when
 *   the inner signature is invalid.
 * - `JamiCertificateChain.fromPem` is async; `validate(now, crl?)` ignores a
 *   CRL that no issuer of the chain signed. For an account chain
 *   (`[account, CA]`) the `device` getter is the account certificate.
 * - `JamiRevocationList.verify(key)` resolves to a boolean;
 *   `JamiRevocationList.create(accountKey, accountCert: JamiCertificate,
 *   serials, now)` (pass `identity.accountChain.device`).
 * - `createJamiDevice(account, {bits?, now, random?, onProgress?})` takes
 *   `{accountKey, accountChain, caKey?}`, so an imported archive works too.
 * - `importJamiArchive` resolves to `ImportedJamiArchive` (`JamiArchive` +
 *   `accountId`); `JamiArchive` = `{accountKey, caKey?, accountChain,
 *   revocationList?, ethKey?, fields}`; `exportJamiArchive(archive,
 *   password?, random = systemRandomBytes)`.
 * - `parseCertificateValue` checks the key but does not validate the chain
 *   (call `validate`); added `openJamiAnnouncement(value, accountId)` and
 *   `trustRequestAccountId(senderDevice, chain, now, crl?)`.
 *
 * @example Verify a value signed by a Jami key
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamiPrivateKey, signValue, verifyValue } from "./mod.ts";
 *
 * const key = await JamiPrivateKey.generate(2048);
 * const value = await signValue({ id: 1n, type: 0, data: new Uint8Array([1]) }, key);
 * assert.ok((await verifyValue(value)).infoHash.equals(key.publicKey.infoHash));
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./rsa_key.ts";
export * from "./value_crypto.ts";
export {
  createJamiCertificate,
  JAMI_CERTIFICATE_VALIDITY_MS,
  JamiCertificate,
  type JamiCertificateOptions,
  jamiName,
  MAX_CERTIFICATE_BYTES,
  OID_UID,
  RSA_SIGNATURE_OIDS,
} from "./certificate.ts";
export * from "./certificate_chain.ts";
export * from "./revocation_list.ts";
export * from "./jami_identity.ts";
export * from "./device_announcement.ts";
export * from "./certificate_value.ts";
export * from "./trust_request.ts";
export * from "./jami_archive.ts";
export type { DhtValue } from "../dht/messages.ts";
export { InfoHash } from "../identity/info_hash.ts";
export type { RandomBytes } from "../rng.ts";
