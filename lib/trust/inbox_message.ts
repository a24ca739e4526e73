/**
 * What travels in inboxes, inside a sealed box: trust requests,
 * confirmations, receipts and own-device sync.
 *
 * Every message has a 16-byte id, the sender's send time and (format `im2`)
 * the target account id `to`: the sealed box names the sender, so each
 * message is bound to one (sender account, target account) pair. A receipt
 * names the id it acknowledges; since the sealed box is signed by the sending
 * device, a receipt proves the receiving account got the message. A
 * confirmation names the request it answers (`requestId`), so it settles that
 * request and no other (issue 13, item 2). A request may carry a
 * proof-of-work `stamp` (see `stamp.ts`). The older format `im1` (no `to`,
 * no `requestId`, no `stamp`) is still read; its confirmations answer no
 * request. The inbox
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

/** Tag of the current format. */
const TAG = "im2";
/** Tag of the first format (no target, no request id, no stamp). */
const TAG_V1 = "im1";
/** Bytes of an account id (`to`). */
const ACCOUNT_ID_BYTES = 20;
/** Largest stamp accepted (ours are 8 bytes). */
const MAX_STAMP_BYTES = 32;
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
    /** Message id (16 random bytes). */
    readonly id: Uint8Array;
    /** Sender's send time, epoch ms. */
    readonly sentMs: number;
    /** Target account id (20 bytes); absent in the `im1` format. */
    readonly to?: Uint8Array;

    readonly payload: Uint8Array;
    /** Proof-of-work stamp (see `stamp.ts`); absent if none. */
    readonly stamp?: Uint8Array;
  }
  | {
    /** "I accepted your request `requestId`" (absent in `im1`: answers none). */
    readonly kind: "confirm";
    /** Message id (16 random bytes). */
    readonly id: Uint8Array;
    /** Sender's send time, epoch ms. */
    readonly sentMs: number;
    /** Target account id (20 bytes); absent in the `im1` format. */
    readonly to?: Uint8Array;

    readonly requestId?: Uint8Array;
  }
  | {
    /** Acknowledges message `ackId`. */
    readonly kind: "receipt";
    /** Message id (16 random bytes). */
    readonly id: Uint8Array;
    /** Sender's send time, epoch ms. */
    readonly sentMs: number;
    /** Target account id (20 bytes); absent in the `im1` format. */
    readonly to?: Uint8Array;

    readonly ackId: Uint8Array;
  }
  | {
    /** An own device's state snapshot. */
    readonly kind: "sync";
    /** Message id (16 random bytes). */
    readonly id: Uint8Array;
    /** Sender's send time, epoch ms. */
    readonly sentMs: number;
    /** Target account id (20 bytes); absent in the `im1` format. */
    readonly to?: Uint8Array;

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
  let extra: Uint8Array = new Uint8Array(0);
  switch (message.kind) {
    case "request":
      body = message.payload;
      extra = message.stamp ?? extra;
      break;
    case "confirm":
      body = new Uint8Array(0);
      extra = message.requestId ?? extra;
      break;
    case "receipt":
      body = message.ackId;
      break;
    case "sync":
      body = message.snapshot;
      break;
  }
  const head = [KINDS.indexOf(message.kind), message.id, message.sentMs];
  if (message.to === undefined) {
    if (extra.length > 0) {
      throw new RangeError("An im1 inbox message has no request id or stamp");
    }
    return encodeTuple([TAG_V1, ...head, body]);
  }
  return encodeTuple([TAG, ...head, message.to, body, extra]);
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
  let fields: unknown[];
  let to: Uint8Array | undefined;
  let extra: Uint8Array = new Uint8Array(0);
  try {
    fields = decodeTuple(bytes, what, TAG, 7);
    to = readBytes(fields, 4, what, ACCOUNT_ID_BYTES);
    extra = readBytes(fields, 6, what);
    fields = [fields[0], fields[1], fields[2], fields[3], fields[5]];
  } catch (error) {
    if (!(error instanceof MalformedRecordError)) throw error;
    try {
      fields = decodeTuple(bytes, what, TAG_V1, 5);
    } catch {
      throw error;
    }
  }
  const kind = KINDS[readInteger(fields, 1, what)];
  if (kind === undefined) throw new MalformedRecordError(what, "unknown kind");
  const id = readBytes(fields, 2, what, MESSAGE_ID_BYTES);
  const sentMs = readInteger(fields, 3, what);
  const body = readBytes(fields, 4, what);
  const head = to === undefined ? { id, sentMs } : { id, sentMs, to };
  if (kind !== "request" && kind !== "confirm" && extra.length !== 0) {
    throw new MalformedRecordError(what, `${kind} with extra bytes`);
  }
  switch (kind) {
    case "request":
      if (extra.length > MAX_STAMP_BYTES) {
        throw new MalformedRecordError(what, "stamp too long");
      }
      return extra.length === 0
        ? { kind, ...head, payload: body }
        : { kind, ...head, payload: body, stamp: extra };
    case "confirm":
      if (body.length !== 0) {
        throw new MalformedRecordError(what, "confirm with a body");
      }
      if (extra.length === 0) return { kind, ...head };
      if (extra.length !== MESSAGE_ID_BYTES) {
        throw new MalformedRecordError(what, "bad request id");
      }
      return { kind, ...head, requestId: extra };
    case "receipt":
      if (body.length !== MESSAGE_ID_BYTES) {
        throw new MalformedRecordError(what, "bad receipt id");
      }
      return { kind, ...head, ackId: body };
    case "sync":
      return { kind, ...head, snapshot: body };
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
