/**
 * What travels in inboxes, inside a sealed box: trust requests,
 * confirmations, receipts and own-device sync.
 *
 * Every message has a 16-byte id and the sender's send time. A receipt names
 * the id it acknowledges; since the sealed box is signed by the sending
 * device, a receipt proves the receiving account got the message. The inbox
 * of a device is the DHT key `SHA-1("inbox:" + device id hex)` (the seed's
 * key); values there are type 4 (OpenDHT's "certificate trust request", 7
 * days), whose value id is derived from the message id and the recipient so
 * that a retry of the same box refreshes it instead of adding a copy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeInboxMessage, encodeInboxMessage } from "./inbox_message.ts";
 *
 * const id = new Uint8Array(16).fill(7);
 * const bytes = encodeInboxMessage({
 *   kind: "request", id, sentMs: 1_000, payload: new TextEncoder().encode("vCard"),
 * });
 * const message = decodeInboxMessage(bytes);
 * assert.equal(message.kind, "request");
 * ```
 *
 * @module
 */
import {
  decodeTuple,
  encodeTuple,
  readBytes,
  readInteger,
} from "../identity/_codec.ts";
import { sha1 } from "../crypto.ts";
import { MalformedRecordError } from "../identity/errors.ts";
import { InfoHash } from "../identity/info_hash.ts";

/** Bytes of a message id. */
export const MESSAGE_ID_BYTES = 16;
/** DHT value type of inbox values (OpenDHT's type 4: 7-day lifetime). */
export const INBOX_VALUE_TYPE = 4;
/** Lifetime of inbox values and of outbox entries: 7 days. */
export const INBOX_LIFETIME_MS = 7 * 24 * 3_600_000;
/** Purpose tag of inbox sealed boxes. */
export const INBOX_PURPOSE = "inbox";
/**
 * Largest trust-request payload: what fits in one 64 KiB DHT value after the
 * sealed box, the sender's certificate and the value's own fields.
 */
export const MAX_TRUST_REQUEST_PAYLOAD_BYTES = 64_000;

const TAG = "im1";
/** A message kind. */
export type InboxMessageKind = "request" | "confirm" | "receipt" | "sync";
const KINDS: readonly InboxMessageKind[] = [
  "request",
  "confirm",
  "receipt",
  "sync",
];

/** A decoded inbox message. */
export type InboxMessage =
  | {
    /** A trust request with its opaque payload (usually a vCard). */
    readonly kind: "request";
    readonly id: Uint8Array;
    readonly sentMs: number;
    readonly payload: Uint8Array;
  }
  | {
    /** "I accepted you" (answers a request, or a crossing request). */
    readonly kind: "confirm";
    readonly id: Uint8Array;
    readonly sentMs: number;
  }
  | {
    /** Acknowledges message `ackId`. */
    readonly kind: "receipt";
    readonly id: Uint8Array;
    readonly sentMs: number;
    readonly ackId: Uint8Array;
  }
  | {
    /** An own device's state snapshot. */
    readonly kind: "sync";
    readonly id: Uint8Array;
    readonly sentMs: number;
    readonly snapshot: Uint8Array;
  };

/**
 * Encodes a message.
 *
 * @param message Message.
 * @returns Bytes.
 */
export function encodeInboxMessage(message: InboxMessage): Uint8Array {
  let body: Uint8Array;
  switch (message.kind) {
    case "request":
      body = message.payload;
      break;
    case "confirm":
      body = new Uint8Array(0);
      break;
    case "receipt":
      body = message.ackId;
      break;
    case "sync":
      body = message.snapshot;
      break;
  }
  return encodeTuple([
    TAG,
    KINDS.indexOf(message.kind),
    message.id,
    message.sentMs,
    body,
  ]);
}

/**
 * Decodes an untrusted message.
 *
 * @param bytes Bytes.
 * @returns The message.
 * @throws {MalformedRecordError} If the bytes are not a message.
 */
export function decodeInboxMessage(bytes: Uint8Array): InboxMessage {
  const what = "inbox message";
  const fields = decodeTuple(bytes, what, TAG, 5);
  const kind = KINDS[readInteger(fields, 1, what)];
  if (kind === undefined) throw new MalformedRecordError(what, "unknown kind");
  const id = readBytes(fields, 2, what, MESSAGE_ID_BYTES);
  const sentMs = readInteger(fields, 3, what);
  const body = readBytes(fields, 4, what);
  switch (kind) {
    case "request":
      return { kind, id, sentMs, payload: body };
    case "confirm":
      if (body.length !== 0) {
        throw new MalformedRecordError(what, "confirm with a body");
      }
      return { kind, id, sentMs };
    case "receipt":
      if (body.length !== MESSAGE_ID_BYTES) {
        throw new MalformedRecordError(what, "bad receipt id");
      }
      return { kind, id, sentMs, ackId: body };
    case "sync":
      return { kind, id, sentMs, snapshot: body };
  }
}

/**
 * The inbox key of a device: `SHA-1("inbox:" + device id hex)`.
 *
 * @param deviceId Device (or mailbox) id.
 * @returns DHT key.
 */
export function inboxKey(deviceId: InfoHash): InfoHash {
  return InfoHash.get(`inbox:${deviceId.toString()}`);
}

/**
 * DHT value id of message `id` for `recipient`: stable across retries.
 *
 * @param id Message id.
 * @param recipient Recipient device id.
 * @returns Non-zero uint64.
 */
export function inboxValueId(id: Uint8Array, recipient: InfoHash): bigint {
  const digest = new Uint8Array(MESSAGE_ID_BYTES + 20);
  digest.set(id, 0);
  digest.set(recipient.bytes, MESSAGE_ID_BYTES);
  const hash = sha1(digest);
  let value = 0n;
  for (let i = 0; i < 8; i++) value = (value << 8n) | BigInt(hash[i]);
  return value === 0n ? 1n : value;
}
