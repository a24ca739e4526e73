/**
 * The signed and encrypted OpenDHT value envelope with Jami's RSA keys
 * (`docs/jami.md`, spec §2): {@link signValue} and {@link verifyValue}
 * (RSASSA-PKCS1-v1_5 SHA-512 over `signedValueBody`), {@link encryptValue}
 * and {@link decryptValue} (`Value::encrypt`: RSA PKCS#1 v1.5 of a random
 * AES-256 key ‖ IV(12) ‖ AES-GCM ciphertext ‖ tag(16), no associated data).
 *
 * The values are the project's {@link DhtValue}: `packValue`/`unpackValue`
 * of `lib/dht/wire/values.ts` give the exact bytes OpenDHT puts on the wire.
 *
 * @example Sign, encrypt, decrypt, verify
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamiPrivateKey } from "./rsa_key.ts";
 * import { decryptValue, encryptValue, signValue, verifyValue } from "./value_crypto.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const [alice, bob] = await Promise.all([JamiPrivateKey.generate(2048), JamiPrivateKey.generate(2048)]);
 * const data = new TextEncoder().encode("hi");
 * const signed = await signValue(
 *   { id: 7n, type: 4, data, recipient: bob.publicKey.infoHash },
 *   alice,
 * );
 * const sealed = encryptValue(signed, bob.publicKey, rngBytes(seededRng(2)));
 * assert.ok(sealed.cypher !== undefined && sealed.cypher.length > 256 + 12 + 16);
 * const opened = await decryptValue(sealed, bob);
 * assert.deepEqual(opened.data, data);
 * const owner = await verifyValue(opened);
 * assert.ok(owner.infoHash.equals(alice.publicKey.infoHash));
 * ```
 *
 * @module
 */
import { aesGcmDecrypt, aesGcmEncrypt, concatBytes } from "../crypto.ts";
import type { DhtValue } from "../dht/messages.ts";
import { signedValueBody, unpackValue } from "../dht/wire/values.ts";
import type { RandomBytes } from "../rng.ts";
import { toBytes } from "./_msgpack.ts";
import {
  JamiDecryptError,
  JamiFormatError,
  JamiSignatureError,
} from "./errors.ts";
import { type JamiPrivateKey, JamiPublicKey } from "./rsa_key.ts";

/** Largest cypher accepted (OpenDHT's value size limit is 64 KiB). */
export const MAX_CYPHER_BYTES = 65_536;
/** AES key size of `PublicKey::encrypt` for RSA ≥ 2048 bits. */
const AES_KEY_BYTES = 32;
/** GCM nonce length. */
const IV_BYTES = 12;
/** GCM tag length. */
const TAG_BYTES = 16;

const EMPTY = new Uint8Array(0);
// msgpack fixstr headers of "body", "sig", "id", "dat".
const BODY_KEY = Uint8Array.from([0xa4, 0x62, 0x6f, 0x64, 0x79]);
const SIG_KEY = Uint8Array.from([0xa3, 0x73, 0x69, 0x67]);
const ID_KEY = Uint8Array.from([0xa2, 0x69, 0x64]);
const DAT_KEY = Uint8Array.from([0xa3, 0x64, 0x61, 0x74]);
const MAP2 = Uint8Array.of(0x82);

/**
 * Signs a value with `key` (`Value::sign`): sets `owner` to the key's SPKI
 * and `seq` (0 unless set), then signs the canonical body with SHA-512.
 *
 * @param value The value; `recipient` (if any) is part of the signed body.
 * @param key The signer (the account key for announcements, the device key
 * for trust requests).
 * @returns The signed value (no `cypher`).
 */
export async function signValue(
  value: DhtValue,
  key: JamiPrivateKey,
): Promise<DhtValue> {
  const { cypher: _cypher, signature: _signature, ...plain } = value;
  const unsigned: DhtValue = {
    ...plain,
    owner: key.publicKey.spki,
    seq: value.seq ?? 0,
  };
  const signature = await key.sign(signedValueBody(unsigned), "SHA-512");
  return { ...unsigned, signature };
}

/**
 * Verifies a signed value against its own `owner` key (`Value::checkSignature`).
 * The caller still checks that the owner is who it expects (for instance
 * `owner.infoHash` = the account id).
 *
 * @param value A signed, decrypted value.
 * @returns The owner key.
 * @throws {JamiSignatureError} If the value is unsigned or encrypted, the
 * owner is not an RSA key, or the signature does not verify.
 */
export async function verifyValue(value: DhtValue): Promise<JamiPublicKey> {
  if (value.cypher !== undefined) {
    throw new JamiSignatureError("value", "it is encrypted");
  }
  if (value.owner === undefined || value.signature === undefined) {
    throw new JamiSignatureError("value", "it is not signed");
  }
  let owner: JamiPublicKey;
  try {
    owner = await JamiPublicKey.fromSpki(value.owner);
  } catch (error) {
    if (!(error instanceof JamiFormatError)) throw error;
    throw new JamiSignatureError("value", "the owner is not an RSA key");
  }
  if (!await owner.verify(signedValueBody(value), value.signature, "SHA-512")) {
    throw new JamiSignatureError("value", "the signature is invalid");
  }
  return owner;
}

/** msgpack `{body: <canonical body>, sig: bin}` of a signed value. */
function signedDat(value: DhtValue): Uint8Array {
  return concatBytes(
    MAP2,
    BODY_KEY,
    signedValueBody(value),
    SIG_KEY,
    toBytes(value.signature ?? EMPTY),
  );
}

/**
 * Encrypts a signed value to `to` (`Value::encrypt`). The value must have
 * been signed with `recipient` = `to.infoHash`, as OpenDHT does.
 *
 * @param signed A value from {@link signValue}.
 * @param to The recipient's public key (a device key for trust requests).
 * @param random Source of the AES key, the IV and the RSA padding.
 * @returns `{id, cypher}` (with the value's priority), ready for `packValue`.
 * @throws {TypeError} If the value is not signed for `to`.
 */
export function encryptValue(
  signed: DhtValue,
  to: JamiPublicKey,
  random: RandomBytes,
): DhtValue {
  if (signed.owner === undefined || signed.signature === undefined) {
    throw new TypeError("Cannot encrypt value: it is not signed");
  }
  if (signed.recipient === undefined || !signed.recipient.equals(to.infoHash)) {
    throw new TypeError("Cannot encrypt value: it is not signed for `to`");
  }
  const plain = signedDat(signed);
  let cypher: Uint8Array;
  if (plain.length <= to.blockBytes - 11) {
    cypher = to.encrypt(plain, random);
  } else {
    const key = random(AES_KEY_BYTES);
    const iv = random(IV_BYTES);
    cypher = concatBytes(
      to.encrypt(key, random),
      iv,
      aesGcmEncrypt(key, iv, plain, EMPTY),
    );
  }
  return {
    id: signed.id,
    type: 0,
    data: EMPTY,
    cypher,
    ...(signed.priority ? { priority: signed.priority } : {}),
  };
}

function innerValue(id: bigint, plain: Uint8Array): DhtValue {
  const wrapped = concatBytes(
    MAP2,
    ID_KEY,
    toBytes(id),
    DAT_KEY,
    plain,
  );
  try {
    return unpackValue(wrapped);
  } catch (error) {
    throw new JamiDecryptError("the plaintext is not a signed value", {
      cause: error,
    });
  }
}

/**
 * Decrypts a value with our key (`Value::decrypt`), then checks like
 * OpenDHT that it is signed, addressed to us, and that the signature
 * verifies.
 *
 * @param value An encrypted value (`cypher` set).
 * @param key Our private key (the device key for the inbox).
 * @returns The inner signed value, with the outer id and priority.
 * @throws {JamiDecryptError} If the value is not encrypted, too large, not
 * for this key, or does not decrypt.
 * @throws {JamiSignatureError} If the inner signature does not verify.
 */
export async function decryptValue(
  value: DhtValue,
  key: JamiPrivateKey,
): Promise<DhtValue> {
  const cypher = value.cypher;
  if (cypher === undefined) throw new JamiDecryptError("it is not encrypted");
  if (cypher.length > MAX_CYPHER_BYTES) {
    throw new JamiDecryptError(`${cypher.length} bytes of cypher`);
  }
  const k = key.publicKey.blockBytes;
  if (cypher.length < k) {
    throw new JamiDecryptError("cypher shorter than one RSA block");
  }
  const block = key.decrypt(cypher.subarray(0, k));
  let plain = block;
  if (cypher.length > k) {
    if (block.length !== 16 && block.length !== 24 && block.length !== 32) {
      throw new JamiDecryptError(`AES key of ${block.length} bytes`);
    }
    const rest = cypher.subarray(k);
    if (rest.length <= IV_BYTES + TAG_BYTES) {
      throw new JamiDecryptError("AES part too short");
    }
    const opened = aesGcmDecrypt(
      block,
      rest.subarray(0, IV_BYTES),
      rest.subarray(IV_BYTES),
      EMPTY,
    );
    if (opened === undefined) {
      throw new JamiDecryptError("AES-GCM authentication failed");
    }
    plain = opened;
  }
  const inner = innerValue(value.id, plain);
  if (inner.owner === undefined || inner.signature === undefined) {
    throw new JamiDecryptError("the plaintext is not signed");
  }
  if (
    inner.recipient === undefined ||
    !inner.recipient.equals(key.publicKey.infoHash)
  ) {
    throw new JamiDecryptError("recipient mismatch");
  }
  await verifyValue(inner);
  return value.priority ? { ...inner, priority: value.priority } : inner;
}
