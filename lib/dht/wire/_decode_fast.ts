/**
 * The fast path of `decodeMessage`, private to `lib/dht/wire/`: requests
 * and replies read straight from the datagram's bytes into the message
 * objects, without the general decoder's msgpack item tree (an object per
 * item, a `Map` per map). It covers what every lookup and store exchanges
 * (ping, find, get, put, refresh, listen and update requests; replies with
 * `id`, `sa`, `n4`/`n6`, `token`, `values`, `vid`, `tr`; queries; plain,
 * signed and encrypted values) and gives up on anything else: errors,
 * value parts, legacy pushes, `fileds`, value sizes, duplicate keys, keys
 * that are not fixstr, unusual encodings (a blob sent as an array of
 * bytes, a 64-bit int that needs a bigint where a number is expected), and
 * every malformed datagram. The general decoder then decides, so the two
 * paths can only differ in speed: the fast one returns exactly what the
 * general one returns, field order included (`tests/wire_decode_fast_test.ts`
 * checks it on every captured OpenDHT packet and on mutated ones), or
 * nothing.
 *
 * @example A ping takes the fast path; an error does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../identity/info_hash.ts";
 * import { decodeMessageFast } from "./_decode_fast.ts";
 * import { encodeMessage } from "./encode.ts";
 *
 * const senderId = InfoHash.get("me");
 * const ping = encodeMessage({ kind: "request", method: "ping", tid: 7, network: 0, senderId });
 * assert.equal(decodeMessageFast(ping)?.kind, "request");
 * const error = encodeMessage({ kind: "error", tid: 7, network: 0, senderId, code: 401, message: "no" });
 * assert.equal(decodeMessageFast(error), undefined);
 * ```
 *
 * @module
 */
import { INFO_HASH_BYTES, InfoHash } from "../../identity/info_hash.ts";
import type {
  DhtMessage,
  DhtQuery,
  DhtRequest,
  DhtValue,
  WhereTerm,
} from "../messages.ts";
import {
  MAX_INT32,
  MAX_UINT16,
  MAX_UINT32,
  MAX_WIRE_DATAGRAM_BYTES,
  TEXT_DECODER,
} from "./_msgpack.ts";
import {
  buildReply,
  buildRequest,
  emptyBody,
  type MutableBody,
} from "./_message_build.ts";
import { decodeNodes4, decodeNodes6 } from "./addresses.ts";

/** Thrown inside this module to hand the datagram to the general decoder. */
class FallBack {}
const FALL_BACK = new FallBack();

function fallBack(): never {
  throw FALL_BACK;
}

/** Deepest container nesting the general reader accepts (`MAX_NESTING_DEPTH`). */
const MAX_DEPTH = 32;

/** Keys of one kind of map, by length: their bytes and their index (a bit of a "seen" mask). */
interface KeyTable {
  readonly names: readonly (readonly Uint8Array[])[];
  readonly indexes: readonly (readonly number[])[];
}

/** Longest key any table holds ("refresh"). */
const MAX_KEY_BYTES = 7;

function keyTable(keys: readonly string[]): KeyTable {
  const names: Uint8Array[][] = [];
  const indexes: number[][] = [];
  for (let length = 0; length <= MAX_KEY_BYTES; length++) {
    names.push([]);
    indexes.push([]);
  }
  keys.forEach((key, index) => {
    names[key.length].push(Uint8Array.from(key, (char) => char.charCodeAt(0)));
    indexes[key.length].push(index);
  });
  return { names, indexes };
}

// After "s": the keys of what the general decoder handles alone (errors,
// value parts, legacy pushes).
const TOP_KEYS = keyTable([
  "t",
  "y",
  "q",
  "a",
  "r",
  "v",
  "n",
  "s",
  "e",
  "p",
  "u",
]);
const [T, Y, Q, A, R, V, N, S] = [0, 1, 2, 3, 4, 5, 6, 7];

const BODY_KEYS = keyTable([
  "id",
  "h",
  "target",
  "q",
  "token",
  "vid",
  "n4",
  "n6",
  "sa",
  "c",
  "values",
  "w",
  "sid",
  "ve",
  "re",
  "exp",
  "tr",
  "fileds",
  "qr",
  "sp",
]);
const [
  B_ID,
  B_H,
  B_TARGET,
  B_Q,
  B_TOKEN,
  B_VID,
  B_N4,
  B_N6,
  B_SA,
  B_C,
  B_VALUES,
  B_W,
  B_SID,
  B_VE,
  B_RE,
  B_EXP,
  B_TR,
  B_FILEDS,
  B_QR,
  B_SP,
] = Array.from({ length: 20 }, (_, index) => index);

const VALUE_KEYS = keyTable(["id", "dat", "p"]);
const DAT_KEYS = keyTable(["body", "sig"]);
const VALUE_BODY_KEYS = keyTable([
  "seq",
  "owner",
  "to",
  "type",
  "data",
  "utype",
]);
const QUERY_KEYS = keyTable(["w", "s"]);
const WHERE_KEYS = keyTable(["f", "v"]);

/** The request methods (`q`). */
const METHODS = [
  "ping",
  "find",
  "get",
  "put",
  "refresh",
  "listen",
  "update",
] as const;
const METHOD_KEYS = keyTable(METHODS);

/** A read position in one datagram; every read checks the bytes left. */
class Cursor {
  readonly bytes: Uint8Array;
  at = 0;

  constructor(bytes: Uint8Array) {
    // A plain Uint8Array over the same bytes, so that `slice` copies into a
    // plain Uint8Array (a subclass such as node's Buffer would keep its
    // class, and its `slice` does not copy).
    this.bytes = bytes.constructor === Uint8Array
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The next byte, not consumed. */
  peek(): number {
    if (this.at >= this.bytes.length) fallBack();
    return this.bytes[this.at];
  }

  /** Consumes one byte. */
  byte(): number {
    if (this.at >= this.bytes.length) fallBack();
    return this.bytes[this.at++];
  }

  /** Consumes `count` bytes and returns where they start. */
  take(count: number): number {
    const at = this.at;
    if (count > this.bytes.length - at) fallBack();
    this.at = at + count;
    return at;
  }

  /** A big-endian unsigned integer of 1, 2 or 4 bytes. */
  uint(size: number): number {
    const b = this.bytes;
    const at = this.take(size);
    if (size === 1) return b[at];
    if (size === 2) return (b[at] << 8) | b[at + 1];
    return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) |
      b[at + 3]) >>>
      0;
  }
}

/** Entries of a map (fixmap, map16, map32); anything else falls back. */
function mapCount(c: Cursor): number {
  const head = c.byte();
  const count = head >= 0x80 && head <= 0x8f
    ? head & 0x0f
    : head === 0xde
    ? c.uint(2)
    : head === 0xdf
    ? c.uint(4)
    : fallBack();
  // Every item takes at least a byte: a larger count is a lie.
  if (count * 2 > c.bytes.length - c.at) fallBack();
  return count;
}

/** Items of an array (fixarray, array16, array32); anything else falls back. */
function arrayCount(c: Cursor): number {
  const head = c.byte();
  const count = head >= 0x90 && head <= 0x9f
    ? head & 0x0f
    : head === 0xdc
    ? c.uint(2)
    : head === 0xdd
    ? c.uint(4)
    : fallBack();
  if (count > c.bytes.length - c.at) fallBack();
  return count;
}

/** The index of the next key (a fixstr) in `table`, or -1 for a key not in it; other keys fall back. */
function keyIndex(c: Cursor, table: KeyTable): number {
  const head = c.byte();
  if (head < 0xa0 || head > 0xbf) fallBack();
  const length = head & 0x1f;
  const at = c.take(length);
  if (length > MAX_KEY_BYTES) return -1;
  const names = table.names[length];
  const b = c.bytes;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    let same = true;
    for (let j = 0; same && j < length; j++) same = b[at + j] === name[j];
    if (same) return table.indexes[length][i];
  }
  return -1;
}

/** Sets bit `index` of `seen`; a key seen twice falls back (the general decoder knows which one wins). */
function once(seen: number, index: number): number {
  const bit = 1 << index;
  if ((seen & bit) !== 0) fallBack();
  return seen | bit;
}

/** Any msgpack int that is a safe integer; anything else falls back. */
function int(c: Cursor): number {
  const head = c.byte();
  if (head <= 0x7f) return head;
  if (head >= 0xe0) return head - 0x100;
  switch (head) {
    case 0xcc:
      return c.uint(1);
    case 0xcd:
      return c.uint(2);
    case 0xce:
      return c.uint(4);
    case 0xd0:
      return (c.uint(1) << 24) >> 24;
    case 0xd1:
      return (c.uint(2) << 16) >> 16;
    case 0xd2:
      return c.uint(4) | 0;
    case 0xcf:
    case 0xd3: {
      const high = head === 0xcf ? c.uint(4) : c.uint(4) | 0;
      const low = c.uint(4);
      // Exact for |high| <= 2^21; the general reader keeps larger ones as bigints.
      if (high > 0x1f_ffff || high < -0x20_0000) fallBack();
      const value = high * 0x1_0000_0000 + low;
      return Number.isSafeInteger(value) ? value : fallBack();
    }
    default:
      return fallBack();
  }
}

/** An int in [`minimum`, `maximum`]. */
function intIn(c: Cursor, minimum: number, maximum: number): number {
  const value = int(c);
  return value >= minimum && value <= maximum ? value : fallBack();
}

/** Any non-negative int, as a bigint (value ids). */
function uint64(c: Cursor): bigint {
  if (c.peek() !== 0xcf) {
    const value = int(c);
    return value >= 0 ? BigInt(value) : fallBack();
  }
  c.at++;
  const high = c.uint(4);
  const low = c.uint(4);
  return high <= 0x1f_ffff
    ? BigInt(high * 0x1_0000_0000 + low)
    : (BigInt(high) << 32n) | BigInt(low);
}

/** The length of a bin or str, its bytes following at `c.at`; anything else falls back. */
function blobLength(c: Cursor): number {
  const head = c.byte();
  if (head >= 0xa0 && head <= 0xbf) return head & 0x1f;
  switch (head) {
    case 0xc4:
    case 0xd9:
      return c.uint(1);
    case 0xc5:
    case 0xda:
      return c.uint(2);
    case 0xc6:
    case 0xdb:
      return c.uint(4);
    default:
      return fallBack();
  }
}

/** A copy of `length` bytes at `at` (`slice` allocates faster than `new Uint8Array`). */
function copyAt(bytes: Uint8Array, at: number, length: number): Uint8Array {
  return bytes.slice(at, at + length);
}

/** A bin or str, copied (OpenDHT's `unpackBlob` without the array form). */
function blob(c: Cursor): Uint8Array {
  const length = blobLength(c);
  return copyAt(c.bytes, c.take(length), length);
}

/**
 * A bin or str as a view of the datagram, not a copy: for the token and the
 * seen address, which every reply carries and whoever keeps them copies
 * (a search its nodes' tokens); a typed array of their own cost about a
 * microsecond each, more than the rest of a ping reply's decoding.
 */
function blobView(c: Cursor): Uint8Array {
  const length = blobLength(c);
  const at = c.take(length);
  return c.bytes.subarray(at, at + length);
}

/** A str or bin as text, as msgpack-c reads a `std::string`. */
function text(c: Cursor): string {
  const length = blobLength(c);
  const at = c.take(length);
  const b = c.bytes;
  let result = "";
  for (let i = 0; i < length; i++) {
    const byte = b[at + i];
    // Not ASCII: UTF-8, decoded as the general decoder does.
    if (byte > 0x7f) return TEXT_DECODER.decode(b.subarray(at, at + length));
    result += String.fromCharCode(byte);
  }
  return result;
}

/** A 20-byte bin8 as an id. */
function infoHash(c: Cursor): InfoHash {
  if (c.byte() !== 0xc4 || c.byte() !== INFO_HASH_BYTES) fallBack();
  return InfoHash.fromBytesAt(c.bytes, c.take(INFO_HASH_BYTES));
}

/** OpenDHT's `unpackTid`: a uint32, or 4 bytes (bin8 or fixstr) read big-endian. */
function tid(c: Cursor): number {
  const head = c.peek();
  if (head === 0xa4 || (head === 0xc4 && c.bytes[c.at + 1] === 4)) {
    c.take(head === 0xa4 ? 1 : 2);
    return c.uint(4);
  }
  return intIn(c, 0, MAX_UINT32);
}

/** Skips one item at nesting `depth`, refusing what the general reader refuses. */
function skip(c: Cursor, depth: number): void {
  const head = c.byte();
  if (head <= 0x7f || head >= 0xe0) return;
  if (head <= 0x8f) return skipItems(c, 2 * (head & 0x0f), depth);
  if (head <= 0x9f) return skipItems(c, head & 0x0f, depth);
  if (head <= 0xbf) {
    c.take(head & 0x1f);
    return;
  }
  switch (head) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return;
    case 0xc4:
    case 0xd9:
      c.take(c.uint(1));
      return;
    case 0xc5:
    case 0xda:
      c.take(c.uint(2));
      return;
    case 0xc6:
    case 0xdb:
      c.take(c.uint(4));
      return;
    case 0xc7:
      c.take(c.uint(1) + 1);
      return;
    case 0xc8:
      c.take(c.uint(2) + 1);
      return;
    case 0xc9:
      c.take(c.uint(4) + 1);
      return;
    case 0xcc:
    case 0xd0:
      c.take(1);
      return;
    case 0xcd:
    case 0xd1:
      c.take(2);
      return;
    case 0xca:
    case 0xce:
    case 0xd2:
      c.take(4);
      return;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      c.take(8);
      return;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      c.take(1 + (1 << (head - 0xd4)));
      return;
    case 0xdc:
      return skipItems(c, c.uint(2), depth);
    case 0xdd:
      return skipItems(c, c.uint(4), depth);
    case 0xde:
      return skipItems(c, 2 * c.uint(2), depth);
    case 0xdf:
      return skipItems(c, 2 * c.uint(4), depth);
    default: // 0xc1
      return fallBack();
  }
}

function skipItems(c: Cursor, count: number, depth: number): void {
  if (depth >= MAX_DEPTH || count > c.bytes.length - c.at) fallBack();
  for (let i = 0; i < count; i++) skip(c, depth + 1);
}

/** A value's `body` (a map at depth 5). */
function valueContent(c: Cursor, value: Record<string, unknown>): void {
  let seen = 0;
  let seq: number | undefined;
  let owner: Uint8Array | undefined;
  let recipient: InfoHash | undefined;
  let type: number | undefined;
  let data: Uint8Array | undefined;
  let userType = "";
  for (let count = mapCount(c); count > 0; count--) {
    const index = keyIndex(c, VALUE_BODY_KEYS);
    if (index < 0) {
      skip(c, 6);
      continue;
    }
    seen = once(seen, index);
    if (index === 0) seq = intIn(c, 0, MAX_UINT16);
    else if (index === 1) owner = blob(c);
    else if (index === 2) recipient = infoHash(c);
    else if (index === 3) type = intIn(c, 0, MAX_UINT16);
    else if (index === 4) data = blob(c);
    else userType = text(c);
  }
  if (type === undefined || data === undefined) fallBack();
  value.type = type;
  value.data = data;
  if (userType !== "") value.userType = userType;
  if (owner !== undefined) {
    if (seq === undefined) fallBack();
    value.owner = owner;
    value.seq = seq;
    if (recipient !== undefined && !recipient.equals(InfoHash.ZERO)) {
      value.recipient = recipient;
    }
  }
}

/** A value's `dat` map (depth 4): `body`, then `sig` when signed. */
function valueDat(c: Cursor, value: Record<string, unknown>): void {
  let seen = 0;
  let bodyAt = -1;
  let signature: Uint8Array | undefined;
  for (let count = mapCount(c); count > 0; count--) {
    const index = keyIndex(c, DAT_KEYS);
    if (index < 0) {
      skip(c, 5);
      continue;
    }
    seen = once(seen, index);
    if (index === 0) {
      bodyAt = c.at;
      skip(c, 5);
    } else signature = blob(c);
  }
  if (bodyAt < 0) fallBack();
  // The body goes first in the value whatever its place in the map.
  const end = c.at;
  c.at = bodyAt;
  valueContent(c, value);
  c.at = end;
  if (value.owner !== undefined) {
    if (signature === undefined) fallBack();
    value.signature = signature;
  }
}

/** A placeholder that `valueContent` always replaces. */
const NO_DATA = new Uint8Array(0);

/** One value map (depth 3), with the fields in the order `decodeValue` gives them. */
function value(c: Cursor): DhtValue {
  const count = mapCount(c);
  if (count < 2) fallBack();
  let seen = 0;
  let id: bigint | undefined;
  let datAt = -1;
  let priority = 0;
  for (let left = count; left > 0; left--) {
    const index = keyIndex(c, VALUE_KEYS);
    if (index < 0) {
      skip(c, 4);
      continue;
    }
    seen = once(seen, index);
    if (index === 0) id = uint64(c);
    else if (index === 1) {
      datAt = c.at;
      skip(c, 4);
    } else priority = intIn(c, 0, MAX_UINT32);
  }
  if (id === undefined || datAt < 0) fallBack();
  const end = c.at;
  c.at = datAt;
  // Made with its three usual fields at once, so that they stay inside the
  // object (no separate property store): a stored value is kept for long.
  const result: Record<string, unknown> = { id, type: 0, data: NO_DATA };
  const head = c.peek();
  if (head === 0xc4 || head === 0xc5 || head === 0xc6) {
    result.data = new Uint8Array(0);
    result.cypher = blob(c);
  } else valueDat(c, result);
  c.at = end;
  if (priority !== 0) result.priority = priority;
  return result as unknown as DhtValue;
}

/** `values` (an array at depth 2) of value maps; sizes of fragmented values fall back. */
function values(c: Cursor): DhtValue[] {
  const result: DhtValue[] = [];
  for (let count = arrayCount(c); count > 0; count--) result.push(value(c));
  return result;
}

/** `w` of a find or get: the ints in [0, 65535], others dropped. */
function want(c: Cursor): number[] {
  const result: number[] = [];
  for (let count = arrayCount(c); count > 0; count--) {
    const family = int(c);
    if (family >= 0 && family <= MAX_UINT16) result.push(family);
  }
  return result;
}

/** `re` and `exp` of an update: value ids. */
function ids(c: Cursor): bigint[] {
  const result: bigint[] = [];
  for (let count = arrayCount(c); count > 0; count--) result.push(uint64(c));
  return result;
}

/** One where term (a map at depth 4): its field decides how `v` reads. */
function whereTerm(c: Cursor): WhereTerm {
  let seen = 0;
  let field = -1;
  let valueAt = -1;
  for (let count = mapCount(c); count > 0; count--) {
    const index = keyIndex(c, WHERE_KEYS);
    if (index < 0) {
      skip(c, 5);
      continue;
    }
    seen = once(seen, index);
    if (index === 0) field = intIn(c, 0, MAX_UINT32);
    else {
      valueAt = c.at;
      skip(c, 5);
    }
  }
  if (field < 0 || valueAt < 0) fallBack();
  const end = c.at;
  c.at = valueAt;
  let term: WhereTerm;
  switch (field) {
    case 1: // Id
      term = { field, value: uint64(c) };
      break;
    case 2: { // ValueType
      const type = uint64(c);
      term = {
        field,
        value: type <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(type) : type,
      };
      break;
    }
    case 3: // OwnerPk
      term = { field, value: infoHash(c).bytes };
      break;
    case 5: // UserType
      term = { field, value: blob(c) };
      break;
    default:
      return fallBack();
  }
  c.at = end;
  return term;
}

/** `q` of a get or listen (a map at depth 2): `s` and `w`, both required. */
function query(c: Cursor): DhtQuery {
  let seen = 0;
  let selectAt = -1;
  let whereAt = -1;
  for (let count = mapCount(c); count > 0; count--) {
    const index = keyIndex(c, QUERY_KEYS);
    if (index < 0) {
      skip(c, 3);
      continue;
    }
    seen = once(seen, index);
    if (index === 0) whereAt = c.at;
    else selectAt = c.at;
    skip(c, 3);
  }
  if (selectAt < 0 || whereAt < 0) fallBack();
  const end = c.at;
  c.at = selectAt;
  const select: number[] = [];
  for (let count = arrayCount(c); count > 0; count--) {
    select.push(intIn(c, 0, MAX_UINT16));
  }
  c.at = whereAt;
  const where: WhereTerm[] = [];
  for (let count = arrayCount(c); count > 0; count--) where.push(whereTerm(c));
  c.at = end;
  return { select, where };
}

/** A node list blob: a bin or str whose length is a multiple of `entry`. */
function nodesAt(c: Cursor, entry: number): Uint8Array {
  const length = blobLength(c);
  if (length % entry !== 0) fallBack();
  const at = c.take(length);
  return c.bytes.subarray(at, at + length);
}

/** The body (`a` or `r`, a map at depth 1), parsed as the general decoder's `parseBody`. */
function body(c: Cursor): MutableBody {
  const parsed = emptyBody(InfoHash.ZERO);
  let seen = 0;
  for (let count = mapCount(c); count > 0; count--) {
    const index = keyIndex(c, BODY_KEYS);
    if (index < 0) {
      skip(c, 2);
      continue;
    }
    seen = once(seen, index);
    switch (index) {
      case B_ID:
        parsed.senderId = infoHash(c);
        break;
      case B_H:
        parsed.key = infoHash(c);
        break;
      case B_TARGET:
        parsed.target = infoHash(c);
        break;
      case B_Q:
        parsed.query = query(c);
        break;
      case B_TOKEN:
        parsed.token = blobView(c);
        break;
      case B_VID:
        parsed.valueId = uint64(c);
        break;
      case B_N4:
        parsed.nodes4 = decodeNodes4(nodesAt(c, 26));
        break;
      case B_N6:
        parsed.nodes6 = decodeNodes6(nodesAt(c, 38));
        break;
      case B_SA: {
        const head = c.peek();
        if (head !== 0xc4 && head !== 0xc5 && head !== 0xc6) fallBack();
        const address = blobView(c);
        // OpenDHT ignores an `sa` of another length.
        parsed.seenAddress = address.length === 4 || address.length === 16
          ? address
          : undefined;
        break;
      }
      case B_C:
        parsed.createdSeconds = int(c);
        break;
      case B_VALUES:
        parsed.values = values(c);
        break;
      case B_W:
        parsed.want = want(c);
        break;
      case B_SID:
        parsed.socketId = tid(c);
        break;
      case B_VE:
        parsed.version = intIn(c, -MAX_INT32 - 1, MAX_INT32);
        break;
      case B_RE:
        parsed.refreshed = ids(c);
        break;
      case B_EXP:
        parsed.expired = ids(c);
        break;
      case B_TR:
        // Our extension: anything but `true` means no.
        if (c.peek() === 0xc3) {
          c.at++;
          parsed.truncated = true;
        } else skip(c, 2);
        break;
      case B_FILEDS:
      case B_QR:
        // Rare (listen replies of our nodes): the general decoder reads it.
        return fallBack();
      case B_SP: {
        // Our extension: anything but a port is ignored.
        const head = c.peek();
        if (head <= 0x7f || head === 0xcc || head === 0xcd) {
          const port = int(c);
          if (port >= 1) parsed.seenPort = port;
        } else skip(c, 2);
        break;
      }
    }
  }
  if ((seen & (1 << B_ID)) === 0 || parsed.senderId.equals(InfoHash.ZERO)) {
    fallBack();
  }
  return parsed;
}

/** `y`: true for the fixstr "q"; anything else is skipped and reported. */
function isQuery(c: Cursor): boolean {
  if (c.peek() === 0xa1 && c.bytes[c.at + 1] === 0x71) {
    c.take(2);
    return true;
  }
  skip(c, 1);
  return false;
}

function message(c: Cursor): DhtMessage {
  let seen = 0;
  let tidValue = 0;
  let network = 0;
  let userAgent: string | undefined;
  let isClient: boolean | undefined;
  let method: DhtRequest["method"] | undefined;
  let queryKind = true;
  let parsed: MutableBody | undefined;
  for (let count = mapCount(c); count > 0; count--) {
    const index = keyIndex(c, TOP_KEYS);
    if (index < 0) {
      skip(c, 1);
      continue;
    }
    if (index > S) fallBack();
    seen = once(seen, index);
    switch (index) {
      case T:
        tidValue = tid(c);
        break;
      case Y:
        queryKind = isQuery(c);
        break;
      case Q:
        // Any text is a valid `q` in a reply; a request needs a known method.
        if (c.peek() < 0xa0 || c.peek() > 0xbf) fallBack();
        method = METHODS[keyIndex(c, METHOD_KEYS)];
        break;
      case A:
      case R:
        parsed = body(c);
        break;
      case V:
        userAgent = text(c);
        break;
      case N:
        network = intIn(c, 0, MAX_UINT32);
        break;
      case S: {
        const head = c.byte();
        if (head !== 0xc2 && head !== 0xc3) fallBack();
        isClient = head === 0xc3;
        break;
      }
    }
  }
  // `a` and `r` together: the general decoder knows which one it reads.
  if (
    parsed === undefined || (seen & (1 << A)) !== 0 && (seen & (1 << R)) !== 0
  ) {
    return fallBack();
  }
  const header = { tid: tidValue, network, userAgent, isClient, method };
  if ((seen & (1 << R)) !== 0) return buildReply(header, parsed);
  if (!queryKind || method === undefined) fallBack();
  return buildRequest(header, parsed, method);
}

/**
 * Decodes a request or reply straight from `bytes`, or gives up.
 *
 * @param bytes One datagram.
 * @returns What `decodeMessage`'s general path returns for these bytes, or
 * undefined where the fast path does not apply (including every datagram
 * the general path refuses).
 */
export function decodeMessageFast(bytes: Uint8Array): DhtMessage | undefined {
  if (
    !(bytes instanceof Uint8Array) || bytes.length > MAX_WIRE_DATAGRAM_BYTES
  ) {
    return undefined;
  }
  try {
    return message(new Cursor(bytes));
  } catch (error) {
    if (error === FALL_BACK) return undefined;
    throw error;
  }
}
