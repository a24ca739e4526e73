/**
 * Jami-format accounts at the codec level (issue 15; `docs/jami.md`): RSA
 * keys, the signed and encrypted OpenDHT value envelope, X.509 chains and
 * CRLs, identities, archives, and the Jami values (DeviceAnnouncement,
 * certificate, TrustRequest). Pure functions: no DHT, no clock (time is
 * passed in as `now`), randomness injected.
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
export * from "./certificate.ts";
export * from "./certificate_chain.ts";
export * from "./revocation_list.ts";
export * from "./jami_identity.ts";
export * from "./device_announcement.ts";
export * from "./certificate_value.ts";
export * from "./trust_request.ts";
export * from "./jami_archive.ts";
