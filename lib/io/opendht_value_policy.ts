/**
 * `openDhtValuePolicy`: the storage policies OpenDHT's `SecureDht` applies
 * to values other nodes put, for a node that stores Jami values (interop
 * spec §6):
 * - types 0, 1, 3, 4 and 5 (`default_types.cpp`, `securedht.cpp`): a value
 *   that is signed (has an owner) must carry a valid RSASSA-PKCS1-v1_5
 *   SHA-512 signature by that owner over its canonical body; unsigned and
 *   encrypted values pass (storing nodes cannot read an encrypted one);
 * - type 8 (certificate): the key must be SHA-1 of the SubjectPublicKeyInfo
 *   of the first certificate of the PEM data.
 * Lifetimes (type 0: 10 min, 4 and 8: 7 days) are the value store's
 * (`lib/dht/value_type.ts`).
 *
 * The check is synchronous (the store path is): it uses `node:crypto`, so
 * it lives in `lib/io/`. An RSA-4096 verification costs a fraction of a
 * millisecond; the node's per-IP request limit bounds how many a peer can
 * make it do.
 *
 * @example Unsigned values pass, a forged signature does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { openDhtValuePolicy } from "./opendht_value_policy.ts";
 *
 * const key = InfoHash.get("k");
 * assert.equal(openDhtValuePolicy(key, { id: 1n, type: 0, data: new Uint8Array([1]) }), true);
 * const forged = { id: 2n, type: 0, data: new Uint8Array(), owner: new Uint8Array(10), signature: new Uint8Array(4) };
 * assert.equal(openDhtValuePolicy(key, forged), false);
 * ```
 *
 * @module
 */
import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { bytesEqual, sha1 } from "../crypto.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { DhtValue } from "../dht/messages.ts";
import { signedValueBody } from "../dht/wire/values.ts";

/** Types whose signed values must verify (OpenDHT's `signedValueStorePolicy` types). */
export const SIGNATURE_CHECKED_TYPES: ReadonlySet<number> = new Set([
  0,
  1,
  3,
  4,
  5,
]);
/** The certificate type: stored only at SHA-1 of its key. */
export const CERTIFICATE_VALUE_TYPE = 8;
/** Largest owner key parsed (an RSA-8192 SPKI is about 1.1 KB). */
const MAX_OWNER_BYTES = 1_100;

function unwrapBin(data: Uint8Array): Uint8Array {
  const size = data[0] === 0xc4 ? 1 : data[0] === 0xc5 ? 2 : data[0] === 0xc6
    ? 4
    : 0;
  if (size === 0 || data.length < 1 + size) return data;
  return data.subarray(1 + size);
}

function signatureValid(value: DhtValue): boolean {
  const owner = value.owner!;
  const signature = value.signature;
  if (signature === undefined || owner.length > MAX_OWNER_BYTES) return false;
  try {
    const key = createPublicKey({
      key: Buffer.from(owner),
      format: "der",
      type: "spki",
    });
    if (key.asymmetricKeyType !== "rsa") return false;
    return verify(
      "sha512",
      signedValueBody(value),
      key,
      Buffer.from(signature),
    );
  } catch {
    return false;
  }
}

function certificateKeyValid(key: InfoHash, value: DhtValue): boolean {
  try {
    const text = new TextDecoder().decode(unwrapBin(value.data));
    const start = text.indexOf("-----BEGIN CERTIFICATE-----");
    const endMarker = "-----END CERTIFICATE-----";
    const end = text.indexOf(endMarker, start);
    if (start < 0 || end < 0) return false;
    const certificate = new X509Certificate(
      text.slice(start, end + endMarker.length),
    );
    const spki = certificate.publicKey.export({ type: "spki", format: "der" });
    return bytesEqual(sha1(new Uint8Array(spki)), key.bytes);
  } catch {
    return false;
  }
}

/**
 * Whether a storing node should accept `value` at `key` (see the module doc).
 *
 * @param key Where the value is put.
 * @param value The value (hostile).
 * @returns False to refuse it.
 */
export function openDhtValuePolicy(key: InfoHash, value: DhtValue): boolean {
  if (value.cypher !== undefined) return true;
  if (value.type === CERTIFICATE_VALUE_TYPE && value.owner === undefined) {
    return certificateKeyValid(key, value);
  }
  if (value.owner !== undefined && SIGNATURE_CHECKED_TYPES.has(value.type)) {
    return signatureValid(value);
  }
  return true;
}
