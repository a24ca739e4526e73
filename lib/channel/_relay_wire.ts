/**
 * The control datagrams of a relay (`relay_server.ts`, `relay_join.ts`):
 * one fixed size, so that no answer is ever larger than what it answers.
 *
 * ```text
 * offset  size  field
 *      0     4  magic "RNGR"
 *      4     1  kind: 1 JOIN, 2 CHALLENGE, 3 PAIRED
 *      5    16  token (the candidate exchange's, sealed between the two devices)
 *     21    16  cookie (zero in a first JOIN; the relay's, echoed, after)
 * ```
 *
 * Anything else a paired address sends the relay is forwarded to its peer
 * as it is (the secure channel's stream segments, end-to-end encrypted).
 *
 * @example Round trip of a JOIN
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRelay, encodeRelay, RelayKind } from "./_relay_wire.ts";
 *
 * const join = { kind: RelayKind.JOIN, token: new Uint8Array(16).fill(1), cookie: new Uint8Array(16) };
 * assert.deepEqual(decodeRelay(encodeRelay(join)), join);
 * assert.equal(decodeRelay(new Uint8Array(3)), undefined);
 * ```
 *
 * @module
 */

const MAGIC = [0x52, 0x4e, 0x47, 0x52]; // "RNGR"
/** Bytes of a relay token. */
export const RELAY_TOKEN_BYTES = 16;
/** Bytes of a relay cookie. */
export const RELAY_COOKIE_BYTES = 16;
/** Bytes of every relay control datagram. */
export const RELAY_DATAGRAM_BYTES = MAGIC.length + 1 + RELAY_TOKEN_BYTES +
  RELAY_COOKIE_BYTES;

/** Kinds of relay control datagrams. */
export const RelayKind = {
  /** Client → relay: pair me with whoever joins with this token. */
  JOIN: 1,
  /** Relay → client: echo this cookie (proves the client's address). */
  CHALLENGE: 2,
  /** Relay → client: paired; send the peer's datagrams to the relay now. */
  PAIRED: 3,
} as const;

/** One relay control datagram. */
export interface RelayMessage {
  /** A {@link RelayKind}. */
  readonly kind: number;
  /** {@link RELAY_TOKEN_BYTES} bytes. */
  readonly token: Uint8Array;
  /** {@link RELAY_COOKIE_BYTES} bytes. */
  readonly cookie: Uint8Array;
}

/**
 * Whether a datagram starts with the relay magic.
 *
 * @param bytes A datagram.
 * @returns Whether it starts with `"RNGR"`.
 */
export function isRelayDatagram(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && bytes[0] === MAGIC[0] &&
    bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2] && bytes[3] === MAGIC[3];
}

/**
 * Encodes a control datagram.
 *
 * @param message Kind, token and cookie of the right lengths.
 * @returns {@link RELAY_DATAGRAM_BYTES} bytes.
 */
export function encodeRelay(message: RelayMessage): Uint8Array {
  const bytes = new Uint8Array(RELAY_DATAGRAM_BYTES);
  bytes.set(MAGIC, 0);
  bytes[MAGIC.length] = message.kind;
  bytes.set(message.token.subarray(0, RELAY_TOKEN_BYTES), MAGIC.length + 1);
  bytes.set(
    message.cookie.subarray(0, RELAY_COOKIE_BYTES),
    MAGIC.length + 1 + RELAY_TOKEN_BYTES,
  );
  return bytes;
}

/**
 * Decodes a control datagram, hostile input allowed.
 *
 * @param bytes A datagram.
 * @returns The message, or `undefined` if it is not a well-formed one.
 */
export function decodeRelay(bytes: Uint8Array): RelayMessage | undefined {
  if (bytes.length !== RELAY_DATAGRAM_BYTES || !isRelayDatagram(bytes)) {
    return undefined;
  }
  const kind = bytes[MAGIC.length];
  if (kind < RelayKind.JOIN || kind > RelayKind.PAIRED) return undefined;
  const at = MAGIC.length + 1;
  return {
    kind,
    token: bytes.slice(at, at + RELAY_TOKEN_BYTES),
    cookie: bytes.slice(
      at + RELAY_TOKEN_BYTES,
      at + RELAY_TOKEN_BYTES + RELAY_COOKIE_BYTES,
    ),
  };
}
