/**
 * The segment format of datagram streams (`datagram_streams.ts`): one
 * segment per datagram, a fixed 25-byte header and, on `DATA` only, 1 to
 * {@link MAX_SEGMENT_PAYLOAD_BYTES} bytes of payload.
 *
 * ```text
 * offset  size  field
 *      0     4  magic "RNGS"
 *      4     1  type: 1 SYN, 2 SYN-ACK, 3 DATA, 4 ACK, 5 FIN, 6 RST
 *      5     8  connection id, drawn by the connector from randomBytes
 *     13     4  sequence number (DATA, FIN), big-endian, wraps at 2^32
 *     17     4  cumulative ack: the next sequence number expected
 *     21     4  selective acks: bit i set = segment ack + 1 + i arrived
 *     25     n  payload (DATA only, 1 ≤ n ≤ 1,200)
 * ```
 *
 * @example Round trip of a DATA segment
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSegment, encodeSegment, SegmentType } from "./_datagram_stream_wire.ts";
 *
 * const segment = {
 *   type: SegmentType.DATA,
 *   id: new Uint8Array(8).fill(1),
 *   sequence: 7,
 *   ack: 3,
 *   selectiveAcks: 0b101,
 *   payload: new Uint8Array([1, 2, 3]),
 * };
 * assert.deepEqual(decodeSegment(encodeSegment(segment)), segment);
 * assert.equal(decodeSegment(new Uint8Array(3)), undefined);
 * ```
 *
 * @module
 */

/** `"RNGS"`, the first four bytes of every stream segment. */
export const STREAM_MAGIC: Uint8Array = new Uint8Array([
  0x52,
  0x4e,
  0x47,
  0x53,
]);

/**
 * Most payload bytes in one segment: with the 25-byte header, UDP's 8 and
 * IPv6's 40 it stays under IPv6's minimum MTU of 1,280 bytes, so no
 * fragmentation on any path.
 */
export const MAX_SEGMENT_PAYLOAD_BYTES = 1_200;

/** Bytes of the fixed header. */
export const SEGMENT_HEADER_BYTES = 25;

/** Bytes of a connection id. */
export const CONNECTION_ID_BYTES = 8;

/** Segment types on the wire. */
export const SegmentType = {
  /** Opens a stream (connector to listener); retransmitted until answered. */
  SYN: 1,
  /** Accepts a SYN; sent once per SYN received (never more bytes than the SYN). */
  SYN_ACK: 2,
  /** Payload bytes at a sequence number. */
  DATA: 3,
  /** Acknowledgement only. */
  ACK: 4,
  /** Closes the stream; takes a sequence number after the last DATA. */
  FIN: 5,
  /** Aborts the stream (the sender gave up or overflowed). */
  RST: 6,
} as const;

/** One of {@link SegmentType}'s values. */
export type SegmentTypeValue = typeof SegmentType[keyof typeof SegmentType];

/** A decoded segment. */
export interface Segment {
  /** What it is. */
  readonly type: SegmentTypeValue;
  /** The stream's connection id, {@link CONNECTION_ID_BYTES} bytes. */
  readonly id: Uint8Array;
  /** Sequence number of a DATA or FIN (0 otherwise). */
  readonly sequence: number;
  /** The next sequence number the sender expects from us. */
  readonly ack: number;
  /** Bit i: segment `ack + 1 + i` arrived out of order. */
  readonly selectiveAcks: number;
  /** DATA's bytes; empty for the other types. */
  readonly payload: Uint8Array;
}

const TYPE_OFFSET = 4;
const ID_OFFSET = 5;
const SEQUENCE_OFFSET = 13;
const ACK_OFFSET = 17;
const SELECTIVE_ACKS_OFFSET = 21;
const LAST_TYPE = SegmentType.RST;

/**
 * Writes a segment.
 *
 * @param segment The segment; its payload must fit {@link MAX_SEGMENT_PAYLOAD_BYTES}.
 * @returns The datagram.
 */
export function encodeSegment(segment: Segment): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES + segment.payload.length);
  const view = new DataView(bytes.buffer);
  bytes.set(STREAM_MAGIC, 0);
  bytes[TYPE_OFFSET] = segment.type;
  bytes.set(segment.id, ID_OFFSET);
  view.setUint32(SEQUENCE_OFFSET, segment.sequence >>> 0);
  view.setUint32(ACK_OFFSET, segment.ack >>> 0);
  view.setUint32(SELECTIVE_ACKS_OFFSET, segment.selectiveAcks >>> 0);
  bytes.set(segment.payload, SEGMENT_HEADER_BYTES);
  return bytes;
}

/**
 * Reads a segment; hostile input gives `undefined`, never an exception.
 * Rejected: a wrong magic, a short header, an unknown type, a payload on
 * anything but DATA, an empty or oversized DATA payload.
 *
 * @param bytes A datagram.
 * @returns The segment (its id and payload are copies), or `undefined`.
 */
export function decodeSegment(bytes: Uint8Array): Segment | undefined {
  if (bytes.length < SEGMENT_HEADER_BYTES || !isStreamDatagram(bytes)) {
    return undefined;
  }
  const type = bytes[TYPE_OFFSET];
  if (type < SegmentType.SYN || type > LAST_TYPE) return undefined;
  const payloadBytes = bytes.length - SEGMENT_HEADER_BYTES;
  if (type === SegmentType.DATA) {
    if (payloadBytes < 1 || payloadBytes > MAX_SEGMENT_PAYLOAD_BYTES) {
      return undefined;
    }
  } else if (payloadBytes !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    type: type as SegmentTypeValue,
    id: bytes.slice(ID_OFFSET, ID_OFFSET + CONNECTION_ID_BYTES),
    sequence: view.getUint32(SEQUENCE_OFFSET),
    ack: view.getUint32(ACK_OFFSET),
    selectiveAcks: view.getUint32(SELECTIVE_ACKS_OFFSET),
    payload: bytes.slice(SEGMENT_HEADER_BYTES),
  };
}

/**
 * Whether a datagram belongs to a stream (by its magic), so that a socket
 * shared with the DHT and hole punching can route it; a DHT message is a
 * msgpack map and never starts with `"R"`.
 *
 * @param bytes A datagram.
 * @returns Whether it starts with `"RNGS"`.
 */
export function isStreamDatagram(bytes: Uint8Array): boolean {
  return bytes.length >= STREAM_MAGIC.length &&
    bytes[0] === STREAM_MAGIC[0] && bytes[1] === STREAM_MAGIC[1] &&
    bytes[2] === STREAM_MAGIC[2] && bytes[3] === STREAM_MAGIC[3];
}

/**
 * How far `to` is ahead of `from` in the 32-bit sequence space.
 *
 * @param from A sequence number.
 * @param to Another.
 * @returns `(to - from) mod 2^32`.
 */
export function sequenceDistance(from: number, to: number): number {
  return (to - from) >>> 0;
}

/**
 * A connection id as lowercase hex, for table keys.
 *
 * @param id The id bytes.
 * @returns Its hex.
 */
export function idHex(id: Uint8Array): string {
  let text = "";
  for (const byte of id) text += byte.toString(16).padStart(2, "0");
  return text;
}
