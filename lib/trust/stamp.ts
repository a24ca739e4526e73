/**
 * Proof-of-work stamps on trust requests (issue 13, item 9): accounts are
 * free to mint, so a quota per sender account does not bound a flood of
 * requests from throwaway accounts. A request from a stranger (not an active
 * contact, not a target of our outbox) is handled only if it carries a stamp:
 * an 8-byte nonce such that
 * `SHA-256(tag ‖ to ‖ from ‖ request id ‖ sentMs ‖ nonce)` starts with at
 * least `bits` zero bits. The stamp is bound to the target account, the
 * sending account, the request id and its send time, so it cannot be reused
 * for another request or another target; the replay window bounds how long
 * one request (and its stamp) is accepted.
 *
 * Minting tries nonces 0, 1, 2, … in order (no randomness: the simulator
 * stays deterministic), about `2^bits` SHA-256 calls on average; checking is
 * one call. The required difficulty is a protocol default,
 * {@link DEFAULT_STAMP_BITS}, which every sender mints for; a receiver may
 * ask less (tests), and asking more would refuse every sender until the
 * difficulty is published (open: see `docs/security.md`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mintStamp, stampChallenge, verifyStamp } from "./stamp.ts";
 *
 * const challenge = stampChallenge({
 *   to: new Uint8Array(20).fill(1),
 *   from: new Uint8Array(20).fill(2),
 *   requestId: new Uint8Array(16).fill(3),
 *   sentMs: 1_000,
 * });
 * const stamp = mintStamp(challenge, 8);
 * assert.ok(verifyStamp(challenge, stamp, 8));
 * ```
 *
 * @module
 */
import { sha256, utf8 } from "../crypto.ts";

/** Difficulty every sender mints for, and receivers ask by default, in bits. */
export const DEFAULT_STAMP_BITS = 16;
/** Bytes of a stamp (a big-endian nonce). */
export const STAMP_BYTES = 8;
/** Highest difficulty minted (beyond, minting would not end in practice). */
export const MAX_STAMP_BITS = 32;

const TAG = utf8("jami-contacts/stamp/v1");

/** What a stamp is bound to. */
export interface StampSubject {
  /** Target account id (20 bytes). */
  readonly to: Uint8Array;
  /** Sending account id (20 bytes). */
  readonly from: Uint8Array;
  /** Request id (16 bytes). */
  readonly requestId: Uint8Array;
  /** The request's send time, epoch ms. */
  readonly sentMs: number;
}

/**
 * The bytes a stamp is minted over, with room for the nonce at the end.
 *
 * @param subject Target, sender, request id and send time.
 * @returns Tag, subject fields and {@link STAMP_BYTES} zero bytes.
 */
export function stampChallenge(subject: StampSubject): Uint8Array {
  const { to, from, requestId, sentMs } = subject;
  const bytes = new Uint8Array(
    TAG.length + to.length + from.length + requestId.length + 8 + STAMP_BYTES,
  );
  let offset = 0;
  for (const part of [TAG, to, from, requestId]) {
    bytes.set(part, offset);
    offset += part.length;
  }
  new DataView(bytes.buffer).setBigUint64(offset, BigInt(sentMs));
  return bytes;
}

/** Leading zero bits of a hash. */
function leadingZeroBits(hash: Uint8Array): number {
  let bits = 0;
  for (const byte of hash) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

function hashWith(challenge: Uint8Array, stamp: Uint8Array): Uint8Array {
  const bytes = challenge.slice();
  bytes.set(stamp, bytes.length - STAMP_BYTES);
  return sha256(bytes);
}

/**
 * Checks a stamp: one SHA-256.
 *
 * @param challenge From {@link stampChallenge}.
 * @param stamp The request's stamp (absent: not valid).
 * @param bits Difficulty asked.
 * @returns True if the stamp has at least `bits` leading zero bits.
 */
export function verifyStamp(
  challenge: Uint8Array,
  stamp: Uint8Array | undefined,
  bits: number,
): boolean {
  if (bits <= 0) return true;
  if (stamp === undefined || stamp.length !== STAMP_BYTES) return false;
  return leadingZeroBits(hashWith(challenge, stamp)) >= bits;
}

/**
 * Finds the first nonce (0, 1, 2, …) making a valid stamp.
 *
 * @param challenge From {@link stampChallenge}.
 * @param bits Difficulty, at most {@link MAX_STAMP_BITS}.
 * @returns The stamp ({@link STAMP_BYTES} bytes).
 * @throws {RangeError} If `bits` is over {@link MAX_STAMP_BITS}.
 */
export function mintStamp(challenge: Uint8Array, bits: number): Uint8Array {
  if (bits > MAX_STAMP_BITS) {
    throw new RangeError(`Cannot mint a stamp of ${bits} bits`);
  }
  const bytes = challenge.slice();
  const view = new DataView(bytes.buffer);
  const offset = bytes.length - STAMP_BYTES;
  for (let nonce = 0;; nonce++) {
    view.setUint32(offset, Math.floor(nonce / 2 ** 32));
    view.setUint32(offset + 4, nonce >>> 0);
    if (leadingZeroBits(sha256(bytes)) >= bits) {
      return bytes.slice(offset);
    }
  }
}
