/**
 * The control datagrams of a relay (`relay_server.ts`, `relay_join.ts`):
 * one fixed size, so that no answer is ever larger than what it answers.
 *
 * ```text
 * offset  size  field
 *      0     4  magic "RNGR"
 *      4     1  kind: 1 JOIN, 2 CHALLENGE, 3 PAIRED
 *      5    16  token (the candidate exchange's, sealed between the two devices)
 *     21    16  cookie (zero in a first JOIN; the relay's, echoed, after; in
 *               PAIRED, the side's channel, 4 bytes big-endian, then zeros)
 * ```
 *
 * Forwarded datagrams are `"RNGR"`, kind 4 (DATA), a 4-byte channel, then
 * the payload (a stream segment of the secure channel, end-to-end
 * encrypted): a client sends with its own channel, the relay forwards with
 * the peer's, so one socket (one address at the relay) can be paired with
 * many contacts.
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
  /** Relay → client: paired, on this channel. */
  PAIRED: 3,
  /** Both ways: a forwarded datagram on a channel. */
  DATA: 4,
} as const;

/** Bytes before a DATA datagram's payload. */
export const RELAY_DATA_HEADER_BYTES = MAGIC.length + 1 + 4;

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
 * Wraps a payload for a channel.
 *
 * @param channel The channel (a uint32).
 * @param payload The datagram to forward.
 * @returns `"RNGR"`, DATA, the channel, the payload.
 */
export function encodeRelayData(
  channel: number,
  payload: Uint8Array,
): Uint8Array {
  const bytes = new Uint8Array(RELAY_DATA_HEADER_BYTES + payload.length);
  bytes.set(MAGIC, 0);
  bytes[MAGIC.length] = RelayKind.DATA;
  new DataView(bytes.buffer).setUint32(MAGIC.length + 1, channel >>> 0);
  bytes.set(payload, RELAY_DATA_HEADER_BYTES);
  return bytes;
}

/**
 * Reads a DATA datagram, hostile input allowed.
 *
 * @param bytes A datagram.
 * @returns Its channel and payload (a view), or `undefined` if it is not one.
 */
export function decodeRelayData(
  bytes: Uint8Array,
): { channel: number; payload: Uint8Array } | undefined {
  if (
    bytes.length <= RELAY_DATA_HEADER_BYTES || !isRelayDatagram(bytes) ||
    bytes[MAGIC.length] !== RelayKind.DATA
  ) {
    return undefined;
  }
  const channel = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    .getUint32(MAGIC.length + 1);
  return { channel, payload: bytes.subarray(RELAY_DATA_HEADER_BYTES) };
}

/**
 * The channel a PAIRED carries in its cookie field.
 *
 * @param cookie The PAIRED's cookie field.
 * @returns The channel.
 */
export function pairedChannel(cookie: Uint8Array): number {
  return new DataView(cookie.buffer, cookie.byteOffset, cookie.length)
    .getUint32(0);
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
