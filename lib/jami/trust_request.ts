/**
 * Jami's TrustRequest (spec §5): a type-4 value (7 days) whose data is the
 * msgpack map `{service: "cx.ring", conversationId, payload: bin, confirm:
 * bool}` in that order, signed by the sender's **device** key, encrypted to
 * the recipient's device key, and put at the recipient's inbox key
 * SHA-1("inbox:" + device SHA-1 hex). `confirm: true` with an empty payload
 * accepts a request.
 *
 * @example Seal a request for a device and open it there
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamiPrivateKey } from "./rsa_key.ts";
 * import { openTrustRequest, sealTrustRequest } from "./trust_request.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const [alice, bob] = await Promise.all([JamiPrivateKey.generate(2048), JamiPrivateKey.generate(2048)]);
 * const request = { service: "cx.ring", conversationId: "", payload: new TextEncoder().encode("vCard"), confirm: false } as const;
 * const value = await sealTrustRequest(request, alice, bob.publicKey, 9n, rngBytes(seededRng(7)));
 * const opened = await openTrustRequest(value, bob);
 * assert.deepEqual(opened.request, request);
 * assert.ok(opened.senderDevice.infoHash.equals(alice.publicKey.infoHash));
 * ```
 *
 * @module
 */
import type { DhtValue } from "../dht/messages.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import { decodeMsgpack, mapEntries, toBytes, WireMap } from "./_msgpack.ts";
import type { JamiCertificateChain } from "./certificate_chain.ts";
import { JamiCertificateError, JamiFormatError } from "./errors.ts";
import type { JamiRevocationList } from "./revocation_list.ts";
import { type JamiPrivateKey, JamiPublicKey } from "./rsa_key.ts";
import { decryptValue, encryptValue, signValue } from "./value_crypto.ts";

/** Value type of trust requests (7 days). */
export const TRUST_REQUEST_TYPE = 4;
/** The only service jamid accepts. */
export const TRUST_REQUEST_SERVICE = "cx.ring";
/** Largest payload accepted (jamid clears payloads over 64000 bytes on re-send). */
export const MAX_TRUST_REQUEST_PAYLOAD_BYTES = 64_000;
/** Longest conversation id accepted (jamid's are 40 hex characters). */
export const MAX_CONVERSATION_ID_LENGTH = 128;

/** The content of a TrustRequest. */
export interface JamiTrustRequest {
  /** Always `"cx.ring"`. */
  readonly service: "cx.ring";
  /** The sender's 1:1 conversation id (40 hex), `""` for a legacy request. */
  readonly conversationId: string;
  /** What the client passed (a vCard); empty in a confirmation. */
  readonly payload: Uint8Array;
  /** False for a request, true for an acceptance. */
  readonly confirm: boolean;
}

/** An opened TrustRequest and the device key that signed it. */
export interface OpenedTrustRequest {
  /** The request. */
  readonly request: JamiTrustRequest;
  /** The sender's device key (resolve its certificate chain to learn its account). */
  readonly senderDevice: JamiPublicKey;
}

/**
 * Packs a request in jamid's field order.
 *
 * @param request The request.
 * @returns The msgpack bytes.
 */
export function encodeJamiTrustRequest(request: JamiTrustRequest): Uint8Array {
  return toBytes(
    new WireMap([
      ["service", request.service],
      ["conversationId", request.conversationId],
      ["payload", request.payload],
      ["confirm", request.confirm],
    ]),
  );
}

/**
 * Unpacks a request (hostile input). Keys may come in any order; unknown
 * keys (e.g. 2024+'s `invitedMs`) are ignored.
 *
 * @param data The decrypted value's data.
 * @returns The request.
 * @throws {JamiFormatError} If a field is missing, of the wrong type or too
 * large, or the service is not `"cx.ring"`.
 */
export function decodeJamiTrustRequest(data: Uint8Array): JamiTrustRequest {
  const what = "trust request";
  return decodeMsgpack(data, what, (item) => {
    let service: string | undefined;
    let conversationId: string | undefined;
    let payload: Uint8Array | undefined;
    let confirm: boolean | undefined;
    for (const [key, value] of mapEntries(item, what)) {
      if (key === "service" && value.type === "str") {
        service = new TextDecoder().decode(value.bytes);
      } else if (key === "conversationId" && value.type === "str") {
        if (value.bytes.length > MAX_CONVERSATION_ID_LENGTH) {
          throw new JamiFormatError(what, "conversationId too long");
        }
        conversationId = new TextDecoder().decode(value.bytes);
      } else if (key === "payload" && value.type === "bin") {
        if (value.bytes.length > MAX_TRUST_REQUEST_PAYLOAD_BYTES) {
          throw new JamiFormatError(what, "payload too large");
        }
        payload = value.bytes.slice();
      } else if (key === "confirm" && value.type === "bool") {
        confirm = value.value;
      } else if (
        key === "service" || key === "conversationId" || key === "payload" ||
        key === "confirm"
      ) {
        throw new JamiFormatError(what, `${key} has the wrong type`);
      }
    }
    if (service !== TRUST_REQUEST_SERVICE) {
      throw new JamiFormatError(what, "service is not cx.ring");
    }
    if (
      conversationId === undefined || payload === undefined ||
      confirm === undefined
    ) {
      throw new JamiFormatError(what, "a field is missing");
    }
    return { service: TRUST_REQUEST_SERVICE, conversationId, payload, confirm };
  });
}

/**
 * A device's inbox key: SHA-1 of `"inbox:"` + its SHA-1 id in lowercase hex.
 *
 * @param deviceSha1Hex The device SHA-1 id (40 hex).
 * @returns The DHT key trust requests for that device are put at.
 * @throws {RangeError} If the id is not 40 hex characters.
 */
export function inboxKey(deviceSha1Hex: string): Promise<InfoHash> {
  if (!/^[0-9a-fA-F]{40}$/.test(deviceSha1Hex)) {
    return Promise.reject(
      new RangeError(`Cannot make inbox key: "${deviceSha1Hex}" is not 40 hex`),
    );
  }
  return Promise.resolve(
    InfoHash.get("inbox:" + deviceSha1Hex.toLowerCase()),
  );
}

/**
 * Signs a request with our device key and encrypts it to the recipient
 * device (`putEncrypted` of jamid's `sendTrustRequest`).
 *
 * @param request The request.
 * @param senderDevice Our device key.
 * @param to The recipient device's public key (from its certificate value).
 * @param valueId A random non-zero uint64.
 * @param random Source of the AES key, IV and RSA padding.
 * @returns The encrypted value, to put at `inboxKey(to.infoHash)`.
 */
export async function sealTrustRequest(
  request: JamiTrustRequest,
  senderDevice: JamiPrivateKey,
  to: JamiPublicKey,
  valueId: bigint,
  random: RandomBytes,
): Promise<DhtValue> {
  const signed = await signValue({
    id: valueId,
    type: TRUST_REQUEST_TYPE,
    data: encodeJamiTrustRequest(request),
    recipient: to.infoHash,
  }, senderDevice);
  return encryptValue(signed, to, random);
}

/**
 * Decrypts a value from our inbox and checks it as jamid does: addressed to
 * our device key, signature valid, type 4, service `"cx.ring"`. The caller
 * then resolves `senderDevice` to its certificate chain and checks it with
 * {@link trustRequestAccountId}.
 *
 * @param value The encrypted value.
 * @param ourDevice Our device key.
 * @returns The request and the signing device key.
 * @throws {JamiDecryptError} If it is not for us or does not decrypt.
 * @throws {JamiSignatureError} If the inner signature is invalid.
 * @throws {JamiFormatError} If it is not a type-4 TrustRequest.
 */
export async function openTrustRequest(
  value: DhtValue,
  ourDevice: JamiPrivateKey,
): Promise<OpenedTrustRequest> {
  const inner = await decryptValue(value, ourDevice);
  if (inner.type !== TRUST_REQUEST_TYPE) {
    throw new JamiFormatError("trust request", `value type ${inner.type}`);
  }
  const request = decodeJamiTrustRequest(inner.data);
  return { request, senderDevice: await JamiPublicKey.fromSpki(inner.owner!) };
}

/**
 * The sender's account id once its chain checks out (`onPeerMessage`): the
 * chain's device must be the key that signed the request, and the chain
 * must validate at `now` (not self-signed, signatures, CA flags, validity,
 * CRL).
 *
 * @param senderDevice From {@link openTrustRequest}.
 * @param chain The chain of the certificate value at `senderDevice.infoHash`.
 * @param now Unix milliseconds.
 * @param crl The sender account's revocation list, if any.
 * @returns The sender's account id (40 hex).
 * @throws {JamiCertificateError} With reason `"wrong-sender"` if the chain
 * is another device's, or the reason of the failed chain check.
 */
export async function trustRequestAccountId(
  senderDevice: JamiPublicKey,
  chain: JamiCertificateChain,
  now: number,
  crl?: JamiRevocationList,
): Promise<string> {
  if (!chain.device.publicKey.infoHash.equals(senderDevice.infoHash)) {
    throw new JamiCertificateError(
      "wrong-sender",
      "the request was not signed by the chain's device",
    );
  }
  await chain.validate(now, crl);
  return chain.accountId();
}
