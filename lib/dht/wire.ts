/**
 * The OpenDHT 2.4.12 UDP wire codec: typed {@link DhtMessage}s to msgpack
 * datagrams and back. This is the only module that knows the wire key names.
 * Facts and section numbers: `opendht-wire.md`.
 *
 * Encoding reproduces OpenDHT's own bytes: its key order per message kind
 * (§8), minimal integers, `bin` for ids, tokens, addresses and value
 * payloads, `str` for keys and labels. Decoding follows OpenDHT's parser
 * (`src/parsed_message.h`): what it drops, {@link decodeMessage} rejects with
 * a {@link WireError}; what it accepts, we accept, with the same defaults
 * (an absent `h` or `target` reads as the zero id, an absent token as empty
 * bytes) so that a handler can answer as OpenDHT does (203, 401).
 *
 * @example Round trip of a ping
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { decodeMessage, encodeMessage } from "./wire.ts";
 *
 * const bytes = encodeMessage({
 *   kind: "request", method: "ping", tid: 7, network: 0,
 *   senderId: InfoHash.get("me"), userAgent: "RNG1",
 * });
 * const message = decodeMessage(bytes);
 * assert.equal(message.kind === "request" && message.method, "ping");
 * assert.deepEqual(encodeMessage(message), bytes);
 * ```
 *
 * @module
 */
import { INFO_HASH_BYTES, InfoHash } from "../identity/info_hash.ts";
import type { PeerAddress } from "../transport.ts";
import type {
  DhtError,
  DhtMessage,
  DhtQuery,
  DhtReply,
  DhtRequest,
  DhtValue,
  DhtValuePart,
  NodeInfo,
  WhereTerm,
} from "./messages.ts";

/** Largest datagram {@link decodeMessage} looks at; OpenDHT's receive buffer is 64 KiB. */
export const MAX_WIRE_DATAGRAM_BYTES = 65535;

/** The user agent OpenDHT 2.4.12 sends in `v`; callers pass it as `userAgent`. */
export const OPENDHT_USER_AGENT = "RNG1";

/** One IPv4 node entry in `n4`: id (20) ‖ IPv4 (4) ‖ port (2, big-endian). */
export const NODE4_ENTRY_BYTES = 26;

/** One IPv6 node entry in `n6`: id (20) ‖ IPv6 (16) ‖ port (2, big-endian). */
export const NODE6_ENTRY_BYTES = 38;

/** Deepest container nesting accepted; OpenDHT messages need 7, msgpack-c stops at 32. */
const MAX_NESTING_DEPTH = 32;

/** Largest uint32 (tids, socket ids, network ids). */
const MAX_UINT32 = 0xffff_ffff;
/** Largest uint16 (value types, sequence numbers, error codes, address families). */
const MAX_UINT16 = 0xffff;
/** Largest int32 (`ve`). */
const MAX_INT32 = 0x7fff_ffff;
/** Largest uint64 (value ids). */
const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder();

/** Why {@link decodeMessage} or {@link unpackValue} rejected bytes. */
export type WireErrorReason =
  | "bad-msgpack"
  | "too-large"
  | "not-a-map"
  | "bad-type"
  | "missing-key"
  | "bad-id"
  | "bad-hash"
  | "not-a-query"
  | "unknown-query"
  | "legacy"
  | "bad-nodes"
  | "bad-values"
  | "bad-fields"
  | "bad-query"
  | "bad-error"
  | "bad-part"
  | "bad-value"
  | "internal";

/**
 * Bytes that are not an OpenDHT message we accept. The receive path drops
 * such datagrams (and may count them by {@link WireError.reason}).
 *
 * @example Catch by reason
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage, WireError } from "./wire.ts";
 *
 * assert.throws(
 *   () => decodeMessage(new Uint8Array([0x90])), // an array, not a map
 *   (error) => error instanceof WireError && error.reason === "not-a-map",
 * );
 * ```
 */
export class WireError extends SyntaxError {
  /** A stable code for the failure, e.g. `"bad-id"`. */
  readonly reason: WireErrorReason;
  /**
   * Makes the error.
   *
   * @param reason The stable code.
   * @param detail What was wrong, for logs.
   * @param options Standard error options (`cause`).
   */
  constructor(reason: WireErrorReason, detail: string, options?: ErrorOptions) {
    super(`Cannot decode message: ${detail}`, options);
    this.name = "WireError";
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------
// msgpack reader: a tagged tree, so that str/bin and int kinds stay visible.

type Item =
  | { readonly type: "int"; readonly value: number | bigint }
  | {
    readonly type: "str";
    readonly bytes: Uint8Array;
    /** The text, on interned ASCII strings only (keys, labels, user agents). */
    readonly text?: string;
  }
  | { readonly type: "bin"; readonly bytes: Uint8Array }
  | { readonly type: "array"; readonly items: readonly Item[] }
  | {
    readonly type: "map";
    readonly entries: readonly (readonly [Item, Item])[];
  }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "other" };

const NIL_ITEM: Item = { type: "other" };
// Short strings seen so far (keys, labels), in a direct-mapped table: a
// string takes the slot of its hash, replacing whatever was there.
const INTERNED_SLOTS = 1_024;
const INTERNED_STRINGS: (Item | undefined)[] = new Array(INTERNED_SLOTS).fill(
  undefined,
);

/** Reads one msgpack item; every length is checked against the bytes left before use. */
class MsgpackReader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** A view for the rare 64-bit integers; other reads index the bytes. */
  get #view(): DataView {
    const bytes = this.#bytes;
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #uint8(at: number): number {
    return this.#bytes[at];
  }

  #uint16(at: number): number {
    return (this.#bytes[at] << 8) | this.#bytes[at + 1];
  }

  #uint32(at: number): number {
    const b = this.#bytes;
    return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) |
      b[at + 3]) >>>
      0;
  }

  read(depth: number): Item {
    const byte = this.#advance(1);
    const head = this.#bytes[byte];
    if (head <= 0x7f) return { type: "int", value: head };
    if (head >= 0xe0) return { type: "int", value: head - 0x100 };
    if (head <= 0x8f) return this.#map(head & 0x0f, depth);
    if (head <= 0x9f) return this.#array(head & 0x0f, depth);
    if (head <= 0xbf) return this.#shortString(head & 0x1f);
    switch (head) {
      case 0xc0:
        return NIL_ITEM;
      case 0xc2:
      case 0xc3:
        return { type: "bool", value: head === 0xc3 };
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return { type: "bin", bytes: this.#take(this.#length(head - 0xc4)) };
      case 0xc7:
      case 0xc8:
      case 0xc9:
        this.#take(this.#length(head - 0xc7) + 1);
        return NIL_ITEM;
      case 0xca:
        this.#take(4);
        return NIL_ITEM;
      case 0xcb:
        this.#take(8);
        return NIL_ITEM;
      case 0xcc:
        return { type: "int", value: this.#uint8(this.#advance(1)) };
      case 0xcd:
        return { type: "int", value: this.#uint16(this.#advance(2)) };
      case 0xce:
        return { type: "int", value: this.#uint32(this.#advance(4)) };
      case 0xcf:
        return {
          type: "int",
          value: shrink(this.#view.getBigUint64(this.#advance(8))),
        };
      case 0xd0:
        return {
          type: "int",
          value: (this.#uint8(this.#advance(1)) << 24) >> 24,
        };
      case 0xd1:
        return {
          type: "int",
          value: (this.#uint16(this.#advance(2)) << 16) >> 16,
        };
      case 0xd2:
        return { type: "int", value: this.#uint32(this.#advance(4)) | 0 };
      case 0xd3:
        return {
          type: "int",
          value: shrink(this.#view.getBigInt64(this.#advance(8))),
        };
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        this.#take(1 + (1 << (head - 0xd4)));
        return NIL_ITEM;
      case 0xd9:
      case 0xda:
      case 0xdb:
        return { type: "str", bytes: this.#take(this.#length(head - 0xd9)) };
      case 0xdc:
      case 0xdd:
        return this.#array(this.#length(head - 0xdc + 1), depth);
      case 0xde:
      case 0xdf:
        return this.#map(this.#length(head - 0xde + 1), depth);
      default:
        throw new WireError("bad-msgpack", "byte 0xc1 is not msgpack");
    }
  }

  /** Reads a big-endian length of 1, 2 or 4 bytes (`sizeLog2` 0, 1, 2). */
  #length(sizeLog2: number): number {
    const size = 1 << sizeLog2;
    const at = this.#advance(size);
    if (size === 1) return this.#uint8(at);
    return size === 2 ? this.#uint16(at) : this.#uint32(at);
  }

  #advance(count: number): number {
    const at = this.#offset;
    if (count > this.#bytes.length - at) {
      throw new WireError("bad-msgpack", "truncated msgpack");
    }
    this.#offset = at + count;
    return at;
  }

  /**
   * A fixstr item. Keys and labels ("id", "token", "find", "RNG1"…) repeat in
   * every datagram, so short ones come from a small interning table instead
   * of a new typed array each time; interned items are shared and read-only.
   */
  #shortString(count: number): Item {
    if (count > 8) return { type: "str", bytes: this.#take(count) };
    const at = this.#advance(count);
    let high = 0;
    let low = count;
    for (let i = 0; i < count; i++) {
      const byte = this.#bytes[at + i];
      if (i < 4) high = (high << 8) | byte;
      else low = (low << 8) | byte;
    }
    const slot =
      (Math.imul(high, 0x9e37_79b1) ^ Math.imul(low, 0x85eb_ca6b)) >>>
      22;
    const cached = INTERNED_STRINGS[slot];
    if (cached !== undefined && cached.type === "str") {
      const bytes = cached.bytes;
      let same = bytes.length === count;
      for (let i = 0; same && i < count; i++) {
        same = bytes[i] === this.#bytes[at + i];
      }
      if (same) return cached;
    }
    const bytes = this.#bytes.slice(at, at + count);
    let text: string | undefined = "";
    for (const byte of bytes) {
      if (byte > 0x7f) {
        text = undefined;
        break;
      }
      text += String.fromCharCode(byte);
    }
    const item: Item = text === undefined
      ? { type: "str", bytes }
      : { type: "str", bytes, text };
    INTERNED_STRINGS[slot] = item;
    return item;
  }

  #take(count: number): Uint8Array {
    const at = this.#advance(count);
    return this.#bytes.subarray(at, at + count);
  }

  #array(count: number, depth: number): Item {
    // Every item takes at least one byte: a larger count is a lie, caught
    // before anything is allocated for it.
    this.#checkCount(count, depth);
    const items: Item[] = [];
    for (let index = 0; index < count; index++) {
      items.push(this.read(depth + 1));
    }
    return { type: "array", items };
  }

  #map(count: number, depth: number): Item {
    this.#checkCount(count * 2, depth);
    const entries: (readonly [Item, Item])[] = [];
    for (let index = 0; index < count; index++) {
      const key = this.read(depth + 1);
      entries.push([key, this.read(depth + 1)]);
    }
    return { type: "map", entries };
  }

  #checkCount(count: number, depth: number): void {
    if (depth >= MAX_NESTING_DEPTH) {
      throw new WireError(
        "bad-msgpack",
        `nesting deeper than ${MAX_NESTING_DEPTH}`,
      );
    }
    if (count > this.#bytes.length - this.#offset) {
      throw new WireError("bad-msgpack", "truncated msgpack");
    }
  }
}

/** A uint64/int64 as a number when exact, else as a bigint. */
function shrink(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) &&
      value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

/**
 * Parses one msgpack item. Trailing bytes are ignored, as msgpack-c's
 * `unpack` (used by OpenDHT) ignores them.
 */
function readItem(bytes: Uint8Array): Item {
  return new MsgpackReader(bytes).read(0);
}

// ---------------------------------------------------------------------------
// Item accessors: each throws WireError(reason) on a type OpenDHT rejects.

function isKey(item: Item, name: string): boolean {
  if (item.type !== "str") return false;
  if (item.text !== undefined) return item.text === name;
  if (item.bytes.length !== name.length) return false;
  for (let index = 0; index < name.length; index++) {
    if (item.bytes[index] !== name.charCodeAt(index)) return false;
  }
  return true;
}

/** The entries of a map with `str` keys, later duplicates winning (OpenDHT's key loop). */
function keyed(
  item: Item,
  reason: WireErrorReason,
  what: string,
): Map<string, Item> {
  if (item.type !== "map") throw new WireError(reason, `${what} is not a map`);
  const result = new Map<string, Item>();
  for (const [key, value] of item.entries) {
    // Every key we look for is short ASCII; longer keys cannot match.
    if (key.type === "str" && key.text !== undefined) {
      result.set(key.text, value); // Interned: ASCII, at most 8 bytes.
    } else if (key.type === "str" && key.bytes.length <= 8) {
      let name = "";
      for (const byte of key.bytes) name += String.fromCharCode(byte);
      result.set(name, value);
    }
  }
  return result;
}

/** The first value under `name` (OpenDHT's `findMapValue`), or undefined. */
function findMapValue(
  item: Item,
  name: string,
  reason: WireErrorReason,
): Item | undefined {
  if (item.type !== "map") {
    throw new WireError(reason, `"${name}" holder is not a map`);
  }
  return item.entries.find(([key]) => isKey(key, name))?.[1];
}

function asInteger(
  item: Item,
  minimum: number,
  maximum: number,
  reason: WireErrorReason,
  what: string,
): number {
  if (
    item.type !== "int" || typeof item.value !== "number" ||
    item.value < minimum || item.value > maximum
  ) {
    throw new WireError(
      reason,
      `${what} is not an integer in [${minimum}, ${maximum}]`,
    );
  }
  return item.value;
}

function asUint(
  item: Item,
  maximum: number,
  reason: WireErrorReason,
  what: string,
): number {
  return asInteger(item, 0, maximum, reason, what);
}

function asUint64(item: Item, reason: WireErrorReason, what: string): bigint {
  if (item.type !== "int" || item.value < 0) {
    throw new WireError(reason, `${what} is not a uint64`);
  }
  return BigInt(item.value);
}

/**
 * A copy of `bytes` in a fresh array (what `slice()` makes, but faster for
 * the short tokens and addresses read from every message).
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  const out = new Uint8Array(length);
  if (length > 64) out.set(bytes);
  else for (let i = 0; i < length; i++) out[i] = bytes[i];
  return out;
}

/** OpenDHT's `unpackBlob`: bin, str, or an array of uint8. */
function asBlob(item: Item, reason: WireErrorReason, what: string): Uint8Array {
  if (item.type === "bin" || item.type === "str") return copyOf(item.bytes);
  if (item.type === "array") {
    return Uint8Array.from(
      item.items,
      (byte) => asUint(byte, 0xff, reason, `${what} byte`),
    );
  }
  throw new WireError(reason, `${what} is not a blob`);
}

/** {@link asBlob} without a copy of bin and str bytes, for bytes read at once. */
function asBlobView(
  item: Item,
  reason: WireErrorReason,
  what: string,
): Uint8Array {
  if (item.type === "bin" || item.type === "str") return item.bytes;
  return asBlob(item, reason, what);
}

/** A `std::string` read by msgpack-c: str or bin. */
function asText(item: Item, reason: WireErrorReason, what: string): string {
  if (item.type === "str" && item.text !== undefined) return item.text;
  if (item.type === "str" || item.type === "bin") {
    return TEXT_DECODER.decode(item.bytes);
  }
  throw new WireError(reason, `${what} is not a string`);
}

function asInfoHash(
  item: Item,
  reason: WireErrorReason,
  what: string,
): InfoHash {
  if (item.type !== "bin" || item.bytes.length !== INFO_HASH_BYTES) {
    throw new WireError(reason, `${what} is not a 20-byte bin`);
  }
  return InfoHash.fromBytes(item.bytes);
}

function asArray(
  item: Item,
  reason: WireErrorReason,
  what: string,
): readonly Item[] {
  if (item.type !== "array") {
    throw new WireError(reason, `${what} is not an array`);
  }
  return item.items;
}

/** OpenDHT's `unpackTid`: a uint32, or 4 bytes (bin/str) read big-endian. */
function asTid(item: Item, what: string): number {
  if (item.type === "int") return asUint(item, MAX_UINT32, "bad-type", what);
  if ((item.type === "bin" || item.type === "str") && item.bytes.length === 4) {
    return new DataView(item.bytes.buffer, item.bytes.byteOffset, 4).getUint32(
      0,
    );
  }
  throw new WireError("bad-type", `${what} is neither a uint32 nor 4 bytes`);
}

// ---------------------------------------------------------------------------
// msgpack writer: minimal ints, str for text, bin for bytes.

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

/** Bytes of one slab that datagrams are encoded into. */
const SLAB_BYTES = 65_536;

/**
 * Appends msgpack to a growing buffer.
 *
 * Datagrams are written straight into a shared slab, one after the other
 * (encoding is synchronous), and handed out as views of it: a datagram costs
 * one small view object instead of a buffer of its own, and the slab is
 * freed once none of its datagrams is referenced any more. Bytes meant to be
 * kept (packed values, signed bodies) get a copy of their own instead.
 */
class MsgpackWriter {
  static #slab = new Uint8Array(SLAB_BYTES);
  static #slabView = new DataView(MsgpackWriter.#slab.buffer);
  static #slabUsed = 0;
  #bytes = MsgpackWriter.#slab;
  #view = MsgpackWriter.#slabView;
  #start = MsgpackWriter.#slabUsed;
  #length = this.#start;

  uint(value: number | bigint): void {
    if (
      typeof value === "number"
        ? !Number.isSafeInteger(value) || value < 0
        : typeof value !== "bigint" || value < 0n || value > MAX_UINT64
    ) {
      throw new RangeError(`Cannot encode message: ${value} is not a uint64`);
    }
    if (typeof value === "number" && value <= MAX_UINT32) {
      if (value < 0x80) this.#byte(value);
      else if (value <= 0xff) this.#byte(0xcc).#byte(value);
      else if (value <= 0xffff) {
        this.#byte(0xcd).#fixed(2).setUint16(this.#length - 2, value);
      } else this.#byte(0xce).#fixed(4).setUint32(this.#length - 4, value);
      return;
    }
    const big = BigInt(value);
    if (big <= MAX_UINT32) return this.uint(Number(big));
    this.#byte(0xcf).#fixed(8).setBigUint64(this.#length - 8, big);
  }

  /** Any int64; non-negative values use the uint forms, as msgpack-c does. */
  int(value: number | bigint): void {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new RangeError(`Cannot encode message: ${value} is not an integer`);
    }
    if (value >= 0) return this.uint(value);
    const big = BigInt(value);
    if (big >= -32n) this.#byte(Number(big) & 0xff);
    else if (big >= -0x80n) this.#byte(0xd0).#byte(Number(big) & 0xff);
    else if (big >= -0x8000n) {
      this.#byte(0xd1).#fixed(2).setInt16(this.#length - 2, Number(big));
    } else if (big >= -0x8000_0000n) {
      this.#byte(0xd2).#fixed(4).setInt32(this.#length - 4, Number(big));
    } else this.#byte(0xd3).#fixed(8).setBigInt64(this.#length - 8, big);
  }

  str(text: string): void {
    const length = text.length;
    if (length < 32 && isAscii(text)) {
      // Keys and labels: ASCII, written without an encoder allocation.
      this.#fixed(1 + length);
      const bytes = this.#bytes;
      const at = this.#length - length;
      bytes[at - 1] = 0xa0 | length;
      for (let i = 0; i < length; i++) bytes[at + i] = text.charCodeAt(i);
      return;
    }
    const bytes = TEXT_ENCODER.encode(text);
    if (bytes.length < 32) this.#byte(0xa0 | bytes.length);
    else this.#header(bytes.length, 0xd9, 0xda, 0xdb);
    this.#raw(bytes);
  }

  bin(bytes: Uint8Array): void {
    this.#header(bytes.length, 0xc4, 0xc5, 0xc6);
    this.#raw(bytes);
  }

  /**
   * A bin header for `length` bytes, then room for them: returns where they
   * go in {@link MsgpackWriter.buffer}, for the caller to fill at once.
   */
  binInPlace(length: number): number {
    this.#header(length, 0xc4, 0xc5, 0xc6);
    this.#fixed(length);
    return this.#length - length;
  }

  /** The buffer written to (valid until the next write). */
  get buffer(): Uint8Array {
    return this.#bytes;
  }

  /** An id as a 20-byte bin, copied straight from the InfoHash. */
  id(id: InfoHash): void {
    this.#fixed(2 + INFO_HASH_BYTES);
    const at = this.#length - 2 - INFO_HASH_BYTES;
    this.#bytes[at] = 0xc4;
    this.#bytes[at + 1] = INFO_HASH_BYTES;
    id.copyTo(this.#bytes, at + 2);
  }

  bool(value: boolean): void {
    this.#byte(value ? 0xc3 : 0xc2);
  }

  array(count: number): void {
    if (count < 16) this.#byte(0x90 | count);
    else this.#header(count, undefined, 0xdc, 0xdd);
  }

  map(count: number): void {
    if (count < 16) this.#byte(0x80 | count);
    else this.#header(count, undefined, 0xde, 0xdf);
  }

  /** The message as a view of the slab; the slab's next message follows it. */
  finishView(): Uint8Array {
    MsgpackWriter.#slabUsed = this.#length;
    return this.#bytes.subarray(this.#start, this.#length);
  }

  /** The message in a buffer of its own; the slab space is reused. */
  finishCopy(): Uint8Array {
    return this.#bytes.slice(this.#start, this.#length);
  }

  /** The smallest of the 8-bit (if any), 16-bit and 32-bit length headers. */
  #header(
    length: number,
    code8: number | undefined,
    code16: number,
    code32: number,
  ): void {
    if (code8 !== undefined && length <= 0xff) this.#byte(code8).#byte(length);
    else if (length <= 0xffff) {
      this.#byte(code16).#fixed(2).setUint16(this.#length - 2, length);
    } else this.#byte(code32).#fixed(4).setUint32(this.#length - 4, length);
  }

  #byte(value: number): this {
    this.#fixed(1);
    this.#bytes[this.#length - 1] = value;
    return this;
  }

  #raw(bytes: Uint8Array): void {
    this.#fixed(bytes.length);
    this.#bytes.set(bytes, this.#length - bytes.length);
  }

  /** Reserves `count` bytes at the end and returns the view to write them. */
  #fixed(count: number): DataView {
    if (this.#length + count > this.#bytes.length) {
      // A new slab, with this message so far at its start.
      const size = this.#length - this.#start;
      const grown = new Uint8Array(Math.max(SLAB_BYTES, 2 * (size + count)));
      grown.set(this.#bytes.subarray(this.#start, this.#length));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
      this.#start = 0;
      this.#length = size;
      MsgpackWriter.#slab = grown;
      MsgpackWriter.#slabView = this.#view;
      MsgpackWriter.#slabUsed = 0;
    }
    this.#length += count;
    return this.#view;
  }
}

/**
 * What the encoders build, written by JS type: numbers and bigints as ints,
 * strings as str, bytes as bin, arrays as arrays, {@link WireMap} as a map.
 */
type Wire =
  | number
  | bigint
  | string
  | boolean
  | Uint8Array
  | InfoHash
  | readonly Wire[]
  | WireMap;

/** A msgpack map whose entries keep their order (and may repeat a key). */
class WireMap {
  readonly entries: readonly (readonly [string | number, Wire])[];
  /** Keeps the entries whose value is not undefined, in order. */
  constructor(
    entries: readonly (readonly [string | number, Wire | undefined])[],
  ) {
    this.entries = entries.filter(
      (entry): entry is readonly [string | number, Wire] =>
        entry[1] !== undefined,
    );
  }
}

function write(writer: MsgpackWriter, value: Wire): void {
  if (typeof value === "number" || typeof value === "bigint") writer.int(value);
  else if (typeof value === "string") writer.str(value);
  else if (typeof value === "boolean") writer.bool(value);
  else if (value instanceof Uint8Array) writer.bin(value);
  else if (value instanceof InfoHash) writer.id(value);
  else if (value instanceof WireMap) {
    writer.map(value.entries.length);
    for (const [key, entry] of value.entries) {
      write(writer, key);
      write(writer, entry);
    }
  } else {
    writer.array(value.length);
    for (const item of value) write(writer, item);
  }
}

/** Encodes `value` into its own buffer. */
function toBytes(value: Wire): Uint8Array {
  const writer = new MsgpackWriter();
  write(writer, value);
  return writer.finishCopy();
}

/** Encodes a datagram: a view of the writer's slab (see {@link MsgpackWriter}). */
function toDatagram(value: Wire): Uint8Array {
  const writer = new MsgpackWriter();
  write(writer, value);
  return writer.finishView();
}

// ---------------------------------------------------------------------------
// Encoding argument checks: these are our own bugs, hence TypeError/RangeError.

function checkUint(value: number, maximum: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > maximum) {
    throw new RangeError(
      `Cannot encode message: ${what} ${value} is not an integer in [0, ${maximum}]`,
    );
  }
  return value;
}

function checkUint64(value: bigint, what: string): bigint {
  if (typeof value !== "bigint" || value < 0n || value > MAX_UINT64) {
    throw new RangeError(
      `Cannot encode message: ${what} ${value} is not a uint64`,
    );
  }
  return value;
}

// ---------------------------------------------------------------------------
// Values (§9).

/** `Value::msgpack_pack_to_sign`: `to` only when non-zero, `utype` only when non-empty. */
function bodyWire(value: DhtValue): WireMap {
  const signed = value.owner !== undefined;
  const recipient = signed && value.recipient !== undefined &&
      !value.recipient.equals(InfoHash.ZERO)
    ? value.recipient.bytes
    : undefined;
  return new WireMap([
    ["seq", signed ? checkUint(value.seq ?? 0, MAX_UINT16, "seq") : undefined],
    ["owner", value.owner],
    ["to", recipient],
    ["type", checkUint(value.type, MAX_UINT16, "value type")],
    ["data", value.data],
    ["utype", value.userType === "" ? undefined : value.userType],
  ]);
}

/** `Value::msgpack_pack`: `{id, dat, [p]}`, `p` only when non-zero. */
function valueWire(value: DhtValue): WireMap {
  const dat = value.cypher ?? new WireMap([
    ["body", bodyWire(value)],
    ["sig", value.owner === undefined ? undefined : value.signature],
  ]);
  return new WireMap([
    ["id", checkUint64(value.id, "value id")],
    ["dat", dat],
    [
      "p",
      value.priority
        ? checkUint(value.priority, MAX_UINT32, "priority")
        : undefined,
    ],
  ]);
}

/**
 * Packs one value as OpenDHT does (`Value::msgpack_pack`): `{id, dat, [p]}`,
 * `dat` being the ciphertext (bin) or `{body, [sig]}`. Fragmentation (§14)
 * cuts these bytes into pieces.
 *
 * @param value The value.
 * @returns Its msgpack bytes.
 * @throws {RangeError} If the id, type, seq or priority is out of range.
 * @example Pack and unpack
 * ```ts
 * import assert from "node:assert/strict";
 * import { packValue, unpackValue } from "./wire.ts";
 *
 * const value = { id: 2n ** 60n, type: 0, data: new TextEncoder().encode("hi"), userType: "text/plain" };
 * const bytes = packValue(value);
 * assert.equal(bytes[0], 0x82);
 * assert.deepEqual(unpackValue(bytes), value);
 * ```
 */
export function packValue(value: DhtValue): Uint8Array {
  return toBytes(valueWire(value));
}

/**
 * The bytes an OpenDHT signature covers (§9.3, `Value::getToSign`): the
 * body map packed canonically as `seq, owner, [to], type, data, [utype]`
 * (`type, data, [utype]` when unsigned). `to` is left out when absent or
 * zero, `utype` when empty, as OpenDHT does.
 *
 * @param value A plain or signed value.
 * @returns The bytes to verify with the owner's key (RSA PKCS#1 v1.5, SHA-512).
 * @throws {TypeError} If the value is encrypted (its body is inside the cypher).
 * @example The unsigned body
 * ```ts
 * import assert from "node:assert/strict";
 * import { signedValueBody } from "./wire.ts";
 *
 * const body = signedValueBody({ id: 1n, type: 3, data: new Uint8Array([9]) });
 * // {type: 3, data: bin(09)}
 * assert.deepEqual(body, Uint8Array.from([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x03, 0xa4, 0x64, 0x61, 0x74, 0x61, 0xc4, 0x01, 0x09]));
 * ```
 */
export function signedValueBody(value: DhtValue): Uint8Array {
  if (value.cypher !== undefined) {
    throw new TypeError("Cannot build signed body: the value is encrypted");
  }
  return toBytes(bodyWire(value));
}

/**
 * The size OpenDHT charges a value against limits (`Value::size`):
 * len(data) + len(cypher) + len(sig) + len(utype).
 *
 * @param value The value.
 * @returns Bytes.
 * @example A plain value
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueStorageSize } from "./wire.ts";
 *
 * assert.equal(valueStorageSize({ id: 1n, type: 0, data: new Uint8Array(5), userType: "text/plain" }), 15);
 * ```
 */
export function valueStorageSize(value: DhtValue): number {
  return value.data.length + (value.cypher?.length ?? 0) +
    (value.signature?.length ?? 0) +
    TEXT_ENCODER.encode(value.userType ?? "").length;
}

/** `Value::msgpack_unpack`; normalises p = 0, utype = "" and a zero `to` to absent. */
function decodeValue(item: Item): DhtValue {
  if (item.type !== "map" || item.entries.length < 2) {
    throw new WireError(
      "bad-value",
      "a value is not a map of 2 or more entries",
    );
  }
  const idItem = findMapValue(item, "id", "bad-value");
  const datItem = findMapValue(item, "dat", "bad-value");
  if (idItem === undefined || datItem === undefined) {
    throw new WireError("bad-value", "a value lacks id or dat");
  }
  const id = asUint64(idItem, "bad-value", "value id");
  const priorityItem = findMapValue(item, "p", "bad-value");
  const priority = priorityItem === undefined
    ? 0
    : asUint(priorityItem, MAX_UINT32, "bad-value", "value priority");
  const withPriority = priority === 0 ? {} : { priority };
  if (datItem.type === "bin") {
    return {
      id,
      type: 0,
      data: new Uint8Array(0),
      cypher: datItem.bytes.slice(),
      ...withPriority,
    };
  }
  return { id, ...decodeDat(datItem), ...withPriority };
}

type ValueContent = Omit<DhtValue, "id" | "priority">;

function decodeDat(dat: Item): ValueContent {
  const body = findMapValue(dat, "body", "bad-value");
  if (body === undefined) {
    throw new WireError("bad-value", "a value lacks body");
  }
  const data = findMapValue(body, "data", "bad-value");
  const type = findMapValue(body, "type", "bad-value");
  if (data === undefined || type === undefined) {
    throw new WireError("bad-value", "a value body lacks data or type");
  }
  const utypeItem = findMapValue(body, "utype", "bad-value");
  const userType = utypeItem === undefined
    ? ""
    : asText(utypeItem, "bad-value", "utype");
  const plain: ValueContent = {
    type: asUint(type, MAX_UINT16, "bad-value", "value type"),
    data: asBlob(data, "bad-value", "value data"),
    ...(userType === "" ? {} : { userType }),
  };
  const owner = findMapValue(body, "owner", "bad-value");
  if (owner === undefined) return plain;
  const seq = findMapValue(body, "seq", "bad-value");
  const signature = findMapValue(dat, "sig", "bad-value");
  if (seq === undefined || signature === undefined) {
    throw new WireError("bad-value", "a signed value lacks seq or sig");
  }
  const to = findMapValue(body, "to", "bad-value");
  const recipient = to === undefined
    ? undefined
    : asInfoHash(to, "bad-value", "to");
  return {
    ...plain,
    owner: asBlob(owner, "bad-value", "owner"),
    seq: asUint(seq, MAX_UINT16, "bad-value", "seq"),
    ...(recipient === undefined || recipient.equals(InfoHash.ZERO)
      ? {}
      : { recipient }),
    signature: asBlob(signature, "bad-value", "sig"),
  };
}

/**
 * Unpacks one value packed by {@link packValue} or by OpenDHT (for instance
 * reassembled from value parts).
 *
 * @param bytes The msgpack bytes of one value map.
 * @returns The value.
 * @throws {WireError} With reason `"bad-value"`, `"bad-msgpack"` or `"too-large"`.
 * @example A malformed value
 * ```ts
 * import assert from "node:assert/strict";
 * import { unpackValue, WireError } from "./wire.ts";
 *
 * assert.throws(() => unpackValue(new Uint8Array([0x80])), WireError);
 * ```
 */
export function unpackValue(bytes: Uint8Array): DhtValue {
  return guarded(bytes, (item) => decodeValue(item));
}

// ---------------------------------------------------------------------------
// Node info (§7) and addresses.

const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6_GROUP_PATTERN = /^[0-9a-fA-F]{1,4}$/;

// Parsed hosts, since the same few addresses are encoded again and again;
// bounded, and the cached arrays are only ever read.
const IPV4_CACHE = new Map<string, Uint8Array | undefined>();
const IPV4_CACHE_MAX = 65_536;

function parseIpv4(host: string): Uint8Array | undefined {
  const cached = IPV4_CACHE.get(host);
  if (cached !== undefined || IPV4_CACHE.has(host)) return cached;
  const match = IPV4_PATTERN.exec(host);
  let parsed: Uint8Array | undefined;
  if (match !== null) {
    const bytes = match.slice(1).map(Number);
    parsed = bytes.every((byte) => byte <= 255)
      ? Uint8Array.from(bytes)
      : undefined;
  }
  if (IPV4_CACHE.size >= IPV4_CACHE_MAX) IPV4_CACHE.clear();
  IPV4_CACHE.set(host, parsed);
  return parsed;
}

function parseIpv6(host: string): Uint8Array | undefined {
  let text = host;
  let ipv4: Uint8Array | undefined;
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    ipv4 = parseIpv4(text.slice(lastColon + 1));
    if (lastColon < 0 || ipv4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").map((group) =>
        IPV6_GROUP_PATTERN.test(group) ? parseInt(group, 16) : NaN
      );
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  const count = head.length + tail.length;
  if ([...head, ...tail].some(Number.isNaN)) return undefined;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[2 * index] = group >> 8;
    bytes[2 * index + 1] = group & 0xff;
  });
  if (ipv4 !== undefined) bytes.set(ipv4, 12);
  return bytes;
}

/** RFC 5952 text, with `::ffff:a.b.c.d` for IPv4-mapped addresses (as Deno prints them). */
function formatIpv6(bytes: Uint8Array): string {
  if (
    bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff
  ) {
    return `::ffff:${bytes.subarray(12).join(".")}`;
  }
  const groups = Array.from(
    { length: 8 },
    (_, index) => (bytes[2 * index] << 8) | bytes[2 * index + 1],
  );
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${
    hex.slice(bestStart + bestLength).join(":")
  }`;
}

function addressBytes(host: string, family: 4 | 6, action: string): Uint8Array {
  const bytes = family === 4 ? parseIpv4(host) : parseIpv6(host);
  if (bytes === undefined) {
    throw new TypeError(
      `Cannot ${action}: "${host}" is not an IPv${family} address`,
    );
  }
  return bytes;
}

function encodeNodes(nodes: readonly NodeInfo[], family: 4 | 6): Uint8Array {
  const addressLength = family === 4 ? 4 : 16;
  const entryLength = INFO_HASH_BYTES + addressLength + 2;
  const out = new Uint8Array(nodes.length * entryLength);
  nodes.forEach((node, index) => {
    const at = index * entryLength;
    node.id.copyTo(out, at);
    out.set(
      addressBytes(node.address.host, family, `encode n${family}`),
      at + INFO_HASH_BYTES,
    );
    const port = node.address.port;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new RangeError(
        `Cannot encode n${family}: port ${port} is not in [0, 65535]`,
      );
    }
    out[at + entryLength - 2] = port >> 8;
    out[at + entryLength - 1] = port & 0xff;
  });
  return out;
}

// Decoded IPv4 addresses: node lists repeat the same addresses, and sharing
// one read-only object each saves building a host string per entry. Keyed by
// a 30-bit hash of address and port (a small integer key); each entry
// remembers both, and a clash replaces the entry. Bounded: a full cache is
// emptied.
interface Address4Entry {
  readonly ip: number;
  readonly port: number;
  readonly address: PeerAddress;
}
const ADDRESS4_CACHE = new Map<number, Address4Entry>();
const ADDRESS4_CACHE_MAX = 262_144;

function decodeAddress4(bytes: Uint8Array, at: number): PeerAddress {
  const port = (bytes[at + 4] << 8) | bytes[at + 5];
  const ip = (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3];
  const key = (ip ^ Math.imul(port, 0x9e37_79b1)) & 0x3fff_ffff;
  const entry = ADDRESS4_CACHE.get(key);
  if (entry !== undefined && entry.ip === ip && entry.port === port) {
    return entry.address;
  }
  const address: PeerAddress = Object.freeze({
    host: `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`,
    port,
  });
  if (ADDRESS4_CACHE.size >= ADDRESS4_CACHE_MAX) ADDRESS4_CACHE.clear();
  ADDRESS4_CACHE.set(key, { ip, port, address });
  return address;
}

function decodeNodes(bytes: Uint8Array, family: 4 | 6): NodeInfo[] {
  const addressLength = family === 4 ? 4 : 16;
  const entryLength = INFO_HASH_BYTES + addressLength + 2;
  if (bytes.length % entryLength !== 0) {
    throw new WireError(
      "bad-nodes",
      `n${family} length ${bytes.length} is not a multiple of ${entryLength}`,
    );
  }
  const nodes: NodeInfo[] = [];
  if (family === 4) {
    for (let at = 0; at < bytes.length; at += entryLength) {
      nodes.push({
        id: InfoHash.fromBytesAt(bytes, at),
        address: decodeAddress4(bytes, at + INFO_HASH_BYTES),
      });
    }
    return nodes;
  }
  for (let at = 0; at < bytes.length; at += entryLength) {
    const address = bytes.subarray(
      at + INFO_HASH_BYTES,
      at + INFO_HASH_BYTES + addressLength,
    );
    nodes.push({
      id: InfoHash.fromBytesAt(bytes, at),
      address: {
        host: formatIpv6(address),
        port: (bytes[at + entryLength - 2] << 8) | bytes[at + entryLength - 1],
      },
    });
  }
  return nodes;
}

/**
 * Packs IPv4 nodes as an `n4` blob: 26 bytes each (id ‖ IPv4 ‖ big-endian port).
 *
 * @param nodes Nodes whose hosts are dotted IPv4 addresses.
 * @returns The blob.
 * @throws {TypeError} If a host is not an IPv4 address.
 * @throws {RangeError} If a port is not in [0, 65535].
 * @example One node
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { decodeNodes4, encodeNodes4 } from "./wire.ts";
 *
 * const nodes = [{ id: InfoHash.get("a"), address: { host: "127.0.0.1", port: 4222 } }];
 * const blob = encodeNodes4(nodes);
 * assert.equal(blob.length, 26);
 * assert.deepEqual(decodeNodes4(blob)[0].address, { host: "127.0.0.1", port: 4222 });
 * ```
 */
export function encodeNodes4(nodes: readonly NodeInfo[]): Uint8Array {
  return encodeNodes(nodes, 4);
}

/**
 * Unpacks an `n4` blob.
 *
 * @param bytes A multiple of 26 bytes.
 * @returns The nodes, hosts in dotted form.
 * @throws {WireError} With reason `"bad-nodes"` if the length is not a multiple of 26.
 * @example A bad length
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNodes4, WireError } from "./wire.ts";
 *
 * assert.throws(() => decodeNodes4(new Uint8Array(25)), WireError);
 * assert.deepEqual(decodeNodes4(new Uint8Array(0)), []);
 * ```
 */
export function decodeNodes4(bytes: Uint8Array): NodeInfo[] {
  return decodeNodes(bytes, 4);
}

/**
 * Packs IPv6 nodes as an `n6` blob: 38 bytes each (id ‖ IPv6 ‖ big-endian port).
 *
 * @param nodes Nodes whose hosts are IPv6 addresses (no brackets, no zone).
 * @returns The blob.
 * @throws {TypeError} If a host is not an IPv6 address.
 * @throws {RangeError} If a port is not in [0, 65535].
 * @example One node
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { decodeNodes6, encodeNodes6 } from "./wire.ts";
 *
 * const nodes = [{ id: InfoHash.get("a"), address: { host: "2001:db8::1", port: 4222 } }];
 * const blob = encodeNodes6(nodes);
 * assert.equal(blob.length, 38);
 * assert.deepEqual(decodeNodes6(blob)[0].address, { host: "2001:db8::1", port: 4222 });
 * ```
 */
export function encodeNodes6(nodes: readonly NodeInfo[]): Uint8Array {
  return encodeNodes(nodes, 6);
}

/**
 * Unpacks an `n6` blob.
 *
 * @param bytes A multiple of 38 bytes.
 * @returns The nodes, hosts in RFC 5952 form.
 * @throws {WireError} With reason `"bad-nodes"` if the length is not a multiple of 38.
 * @example A bad length
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNodes6, WireError } from "./wire.ts";
 *
 * assert.throws(() => decodeNodes6(new Uint8Array(26)), WireError);
 * ```
 */
export function decodeNodes6(bytes: Uint8Array): NodeInfo[] {
  return decodeNodes(bytes, 6);
}

/**
 * The `sa` blob of a reply: the requester's IP as seen by us, without port.
 *
 * @param address The requester's address (IPv4 or IPv6 host).
 * @returns 4 bytes for IPv4, 16 for IPv6.
 * @throws {TypeError} If the host is not an IP address.
 * @example IPv4 and IPv6
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSeenAddress } from "./wire.ts";
 *
 * assert.deepEqual(encodeSeenAddress({ host: "127.0.0.1", port: 9 }), Uint8Array.from([127, 0, 0, 1]));
 * assert.equal(encodeSeenAddress({ host: "::1", port: 9 }).length, 16);
 * ```
 */
export function encodeSeenAddress(address: PeerAddress): Uint8Array {
  const host = address.host;
  return (host.includes(":")
    ? addressBytes(host, 6, "encode seen address")
    : addressBytes(host, 4, "encode seen address")).slice();
}

/**
 * {@link encodeSeenAddress} for the RPC engine, which encodes the reply at
 * once: the bytes may be shared (read them, never change them), and a host
 * that is not an IP address gives undefined instead of an error.
 *
 * @param address The requester's address.
 * @returns Its 4 or 16 bytes, or undefined.
 */
export function seenAddressBytes(address: PeerAddress): Uint8Array | undefined {
  const host = address.host;
  return host.includes(":") ? parseIpv6(host) : parseIpv4(host);
}

/**
 * Reads an `sa` blob back as host text, to learn our public address.
 *
 * @param bytes 4 or 16 bytes.
 * @returns The host, or undefined for another length (OpenDHT ignores those).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSeenAddress } from "./wire.ts";
 *
 * assert.equal(decodeSeenAddress(Uint8Array.from([192, 0, 2, 1])), "192.0.2.1");
 * assert.equal(decodeSeenAddress(new Uint8Array(3)), undefined);
 * ```
 */
export function decodeSeenAddress(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return bytes.join(".");
  return bytes.length === 16 ? formatIpv6(bytes) : undefined;
}

// ---------------------------------------------------------------------------
// Encoding messages (§8).

function queryWire(query: DhtQuery | undefined): WireMap | undefined {
  if (query === undefined) return undefined;
  const where = query.where.map((term) =>
    new WireMap([
      ["f", checkUint(term.field, 0xff, "where field")],
      ["v", term.value],
    ])
  );
  const select = query.select.map((field) =>
    checkUint(field, MAX_UINT16, "select field")
  );
  return new WireMap([["s", select], ["w", where]]);
}

/** `values` as OpenDHT packs it: inline value maps, or the sizes of fragmented values. */
function valuesWire(
  values: readonly DhtValue[] | undefined,
  sizes: readonly number[] | undefined,
): Wire | undefined {
  if (sizes === undefined) return values?.map(valueWire);
  if (values !== undefined && values.length > 0) {
    throw new TypeError(
      "Cannot encode message: both values and valueSizes are set",
    );
  }
  return sizes.map((size) => checkUint(size, MAX_UINT32, "value size"));
}

function requestBodyWire(request: DhtRequest): WireMap {
  const id = ["id", request.senderId] as const;
  switch (request.method) {
    case "ping":
      return new WireMap([id]);
    case "find":
      return new WireMap([id, ["target", request.target], [
        "w",
        wantWire(request.want),
      ]]);
    case "get":
      return new WireMap([
        id,
        ["h", request.key],
        ["q", queryWire(request.query)],
        ["w", wantWire(request.want)],
      ]);
    case "put":
      return new WireMap([
        id,
        ["h", request.key],
        ["values", valuesWire(request.values, request.valueSizes)],
        ["c", request.createdSeconds],
        ["token", request.token],
      ]);
    case "refresh":
      return new WireMap([
        id,
        ["h", request.key],
        ["vid", checkUint64(request.valueId, "vid")],
        ["token", request.token],
      ]);
    case "listen":
      return new WireMap([
        id,
        ["ve", request.version],
        ["h", request.key],
        ["token", request.token],
        ["sid", checkUint(request.socketId, MAX_UINT32, "sid")],
        ["q", queryWire(request.query)],
      ]);
    case "update":
      return new WireMap([
        id,
        ["ve", request.version],
        ["h", request.key],
        ["sid", checkUint(request.socketId, MAX_UINT32, "sid")],
        ["values", valuesWire(request.values, request.valueSizes)],
        ["c", request.createdSeconds],
        ["token", request.token],
        ["re", request.refreshed],
        ["exp", request.expired],
      ]);
  }
}

function wantWire(want: readonly number[] | undefined): Wire | undefined {
  return want?.map((family) => checkUint(family, MAX_UINT16, "want"));
}

/** `v`, `n`, `s`: the trailer of a node's messages (`n` only when ≠ 0, `s` only when set). */
function trailerEntries(
  message: DhtRequest | DhtReply | DhtError,
): (readonly [string, Wire | undefined])[] {
  return [
    ["v", message.userAgent],
    [
      "n",
      message.network === 0
        ? undefined
        : checkUint(message.network, MAX_UINT32, "network"),
    ],
    ["s", message.isClient],
  ];
}

function requestWire(request: DhtRequest): WireMap {
  const body = ["a", requestBodyWire(request)] as const;
  const method = ["q", request.method] as const;
  const tid = ["t", checkUint(request.tid, MAX_UINT32, "tid")] as const;
  const kind = ["y", "q"] as const;
  // Refresh and expire pushes (tellListenerRefreshed/Expired) pack
  // `a, y, v, [n], [s], q, t`; every other request packs `a, q, t, y, v, …`.
  const isIdPush = request.method === "update" &&
    request.values === undefined &&
    request.valueSizes === undefined;
  return new WireMap(
    isIdPush
      ? [body, kind, ...trailerEntries(request), method, tid]
      : [body, method, tid, kind, ...trailerEntries(request)],
  );
}

function replyWire(reply: DhtReply): WireMap {
  const fields = reply.fields && new WireMap([
    [
      "f",
      reply.fields.fields.map((field) => checkUint(field, MAX_UINT16, "field")),
    ],
    ["v", reply.fields.values.map(fieldValueWire)],
  ]);
  const body = new WireMap([
    ["id", reply.senderId],
    [
      "vid",
      reply.valueId === undefined
        ? undefined
        : checkUint64(reply.valueId, "vid"),
    ],
    ["sa", reply.seenAddress],
    ["n4", reply.nodes4 && encodeNodes4(reply.nodes4)],
    ["n6", reply.nodes6 && encodeNodes6(reply.nodes6)],
    ["token", reply.token],
    ["values", valuesWire(reply.values, reply.valueSizes)],
    ["fileds", fields],
  ]);
  return new WireMap([
    ["r", body],
    ["t", checkUint(reply.tid, MAX_UINT32, "tid")],
    ["y", "r"],
    ...trailerEntries(reply),
  ]);
}

// Direct writers for the messages of every lookup (ping and find requests,
// replies without values): the same bytes, checks and key order as
// requestWire and replyWire, without building a WireMap tree first.

function writeTrailer(
  writer: MsgpackWriter,
  message: DhtRequest | DhtReply,
): void {
  if (message.userAgent !== undefined) {
    writer.str("v");
    writer.str(message.userAgent);
  }
  if (message.network !== 0) {
    writer.str("n");
    writer.int(checkUint(message.network, MAX_UINT32, "network"));
  }
  if (message.isClient !== undefined) {
    writer.str("s");
    writer.bool(message.isClient);
  }
}

function trailerCount(message: DhtRequest | DhtReply): number {
  return (message.userAgent === undefined ? 0 : 1) +
    (message.network === 0 ? 0 : 1) + (message.isClient === undefined ? 0 : 1);
}

function writePingOrFind(
  writer: MsgpackWriter,
  request: Extract<DhtRequest, { method: "ping" | "find" }>,
): void {
  writer.map(4 + trailerCount(request));
  writer.str("a");
  if (request.method === "ping") {
    writer.map(1);
    writer.str("id");
    writer.id(request.senderId);
  } else {
    const want = request.want;
    writer.map(want === undefined ? 2 : 3);
    writer.str("id");
    writer.id(request.senderId);
    writer.str("target");
    writer.id(request.target);
    if (want !== undefined) {
      writer.str("w");
      writer.array(want.length);
      for (const family of want) {
        writer.int(checkUint(family, MAX_UINT16, "want"));
      }
    }
  }
  writer.str("q");
  writer.str(request.method);
  writer.str("t");
  writer.int(checkUint(request.tid, MAX_UINT32, "tid"));
  writer.str("y");
  writer.str("q");
  writeTrailer(writer, request);
}

function writeNodes(
  writer: MsgpackWriter,
  nodes: readonly NodeInfo[],
  family: 4 | 6,
): void {
  const addressLength = family === 4 ? 4 : 16;
  const entryLength = INFO_HASH_BYTES + addressLength + 2;
  let at = writer.binInPlace(nodes.length * entryLength);
  const out = writer.buffer;
  for (const node of nodes) {
    node.id.copyTo(out, at);
    const address = addressBytes(
      node.address.host,
      family,
      `encode n${family}`,
    );
    for (let i = 0; i < addressLength; i++) {
      out[at + INFO_HASH_BYTES + i] = address[i];
    }
    const port = node.address.port;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new RangeError(
        `Cannot encode n${family}: port ${port} is not in [0, 65535]`,
      );
    }
    out[at + entryLength - 2] = port >> 8;
    out[at + entryLength - 1] = port & 0xff;
    at += entryLength;
  }
}

function writePlainReply(writer: MsgpackWriter, reply: DhtReply): void {
  const valueId = reply.valueId === undefined
    ? undefined
    : checkUint64(reply.valueId, "vid");
  writer.map(3 + trailerCount(reply));
  writer.str("r");
  writer.map(
    1 + (valueId === undefined ? 0 : 1) +
      (reply.seenAddress === undefined ? 0 : 1) +
      (reply.nodes4 === undefined ? 0 : 1) +
      (reply.nodes6 === undefined ? 0 : 1) +
      (reply.token === undefined ? 0 : 1),
  );
  writer.str("id");
  writer.id(reply.senderId);
  if (valueId !== undefined) {
    writer.str("vid");
    writer.int(valueId);
  }
  if (reply.seenAddress !== undefined) {
    writer.str("sa");
    writer.bin(reply.seenAddress);
  }
  if (reply.nodes4 !== undefined) {
    writer.str("n4");
    writeNodes(writer, reply.nodes4, 4);
  }
  if (reply.nodes6 !== undefined) {
    writer.str("n6");
    writeNodes(writer, reply.nodes6, 6);
  }
  if (reply.token !== undefined) {
    writer.str("token");
    writer.bin(reply.token);
  }
  writer.str("t");
  writer.int(checkUint(reply.tid, MAX_UINT32, "tid"));
  writer.str("y");
  writer.str("r");
  writeTrailer(writer, reply);
}

function fieldValueWire(value: unknown): Wire {
  if (
    typeof value === "number" || typeof value === "bigint" ||
    typeof value === "string" || value instanceof Uint8Array
  ) {
    return value;
  }
  throw new TypeError(
    `Cannot encode message: field value of type ${typeof value}`,
  );
}

function errorWire(error: DhtError): WireMap {
  return new WireMap([
    ["e", [checkUint(error.code, MAX_UINT16, "error code"), error.message]],
    ["r", error.senderId && new WireMap([["id", error.senderId]])],
    ["t", checkUint(error.tid, MAX_UINT32, "tid")],
    ["y", "e"],
    ...trailerEntries(error),
  ]);
}

function valuePartWire(part: DhtValuePart): WireMap {
  const pieces = part.parts.map((piece) =>
    [
      checkUint(piece.index, MAX_UINT32, "part index"),
      new WireMap([
        ["o", checkUint(piece.offset, Number.MAX_SAFE_INTEGER, "part offset")],
        ["d", piece.data],
      ]),
    ] as const
  );
  // sendValueParts packs `n` first, and no user agent.
  return new WireMap([
    [
      "n",
      part.network === 0
        ? undefined
        : checkUint(part.network, MAX_UINT32, "network"),
    ],
    ["y", "p"],
    ["t", checkUint(part.tid, MAX_UINT32, "tid")],
    ["p", new WireMap(pieces)],
  ]);
}

/**
 * Encodes a message with OpenDHT 2.4.12's key order for its kind (§8), so
 * that re-encoding a decoded OpenDHT datagram gives back its exact bytes.
 * `v` is written from `userAgent` when set (OpenDHT 2.4.12 sends
 * {@link OPENDHT_USER_AGENT}), `n` only when `network` ≠ 0, `s` when
 * `isClient` is set. Values are written inline; fragmenting large value
 * sets is `value_parts.ts`'s job.
 *
 * The payload is a view of a larger shared buffer that later datagrams are
 * written after, never over: send it or keep it, but copy it before
 * changing it, and read its `byteOffset` before its `buffer`.
 *
 * @param message The message.
 * @returns The datagram payload.
 * @throws {RangeError} If a tid, id, size or other number is out of range.
 * @throws {TypeError} If an address is not an IP address, or a message sets
 * both `values` and `valueSizes`.
 * @example A put acknowledgement
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { decodeMessage, encodeMessage } from "./wire.ts";
 *
 * const bytes = encodeMessage({
 *   kind: "reply", tid: 1, network: 0, userAgent: "RNG1",
 *   senderId: InfoHash.get("node"), valueId: 2n ** 63n,
 *   seenAddress: Uint8Array.from([127, 0, 0, 1]),
 * });
 * const reply = decodeMessage(bytes);
 * assert.equal(reply.kind === "reply" && reply.valueId, 2n ** 63n);
 * ```
 */
export function encodeMessage(message: DhtMessage): Uint8Array {
  switch (message.kind) {
    case "request":
      if (message.method === "ping" || message.method === "find") {
        const writer = new MsgpackWriter();
        writePingOrFind(writer, message);
        return writer.finishView();
      }
      return toDatagram(requestWire(message));
    case "reply":
      if (
        message.values === undefined && message.valueSizes === undefined &&
        message.fields === undefined
      ) {
        const writer = new MsgpackWriter();
        writePlainReply(writer, message);
        return writer.finishView();
      }
      return toDatagram(replyWire(message));
    case "error":
      return toDatagram(errorWire(message));
    case "value-part":
      return toDatagram(valuePartWire(message));
    default:
      throw new TypeError(
        `Cannot encode message: unknown kind ${
          JSON.stringify((message as { kind?: unknown }).kind)
        }`,
      );
  }
}

// ---------------------------------------------------------------------------
// Decoding messages (§3, §4, §5).

/** Every body key OpenDHT parses, whatever the message kind; a bad one drops the message. */
interface ParsedBody {
  readonly senderId: InfoHash;
  readonly key?: InfoHash;
  readonly target?: InfoHash;
  readonly query?: DhtQuery;
  readonly token?: Uint8Array;
  readonly valueId?: bigint;
  readonly nodes4?: NodeInfo[];
  readonly nodes6?: NodeInfo[];
  readonly seenAddress?: Uint8Array;
  readonly createdSeconds?: number;
  readonly values?: DhtValue[];
  readonly valueSizes?: number[];
  readonly fields?: { readonly fields: number[]; readonly values: unknown[] };
  readonly want?: number[];
  readonly socketId?: number;
  readonly version?: number;
  readonly refreshed?: bigint[];
  readonly expired?: bigint[];
}

function parseIds(value: Item, name: string): bigint[] {
  return asArray(value, "bad-type", name).map((id) =>
    asUint64(id, "bad-type", `${name} id`)
  );
}

function parseWant(value: Item): number[] {
  return asArray(value, "bad-type", "w")
    .filter((family) =>
      family.type === "int" && family.value >= 0 && family.value <= MAX_UINT16
    )
    .map((family) => Number((family as { value: number }).value));
}

function parseSeenAddress(value: Item): Uint8Array | undefined {
  if (value.type !== "bin") throw new WireError("bad-type", "sa is not a bin");
  // OpenDHT ignores an `sa` of another length.
  return value.bytes.length === 4 || value.bytes.length === 16
    ? copyOf(value.bytes)
    : undefined;
}

// One pass over the body map with a switch: this runs for every datagram, so
// it avoids a closure per key (later duplicates win, as in OpenDHT's loop).
function parseBody(item: Item, what: string): ParsedBody {
  const body = keyed(item, "bad-type", what);
  const idItem = body.get("id");
  if (idItem === undefined) throw new WireError("bad-id", "no sender id");
  const senderId = asInfoHash(idItem, "bad-id", "sender id");
  if (senderId.equals(InfoHash.ZERO)) {
    throw new WireError("bad-id", "zero sender id");
  }
  // Every field present from the start, in one order: one object shape for
  // all messages, so the code reading it stays monomorphic.
  const parsed: { -readonly [K in keyof ParsedBody]: ParsedBody[K] } = {
    senderId,
    key: undefined,
    target: undefined,
    query: undefined,
    token: undefined,
    valueId: undefined,
    nodes4: undefined,
    nodes6: undefined,
    seenAddress: undefined,
    createdSeconds: undefined,
    values: undefined,
    valueSizes: undefined,
    fields: undefined,
    want: undefined,
    socketId: undefined,
    version: undefined,
    refreshed: undefined,
    expired: undefined,
  };
  let fileds: Item | undefined;
  for (const [key, value] of body) {
    switch (key) {
      case "h":
        parsed.key = asInfoHash(value, "bad-hash", "h");
        break;
      case "target":
        parsed.target = asInfoHash(value, "bad-hash", "target");
        break;
      case "q":
        parsed.query = parseQuery(value);
        break;
      case "token":
        parsed.token = asBlob(value, "bad-type", "token");
        break;
      case "vid":
        parsed.valueId = asUint64(value, "bad-type", "vid");
        break;
      case "n4":
        parsed.nodes4 = decodeNodes4(asBlobView(value, "bad-nodes", "n4"));
        break;
      case "n6":
        parsed.nodes6 = decodeNodes6(asBlobView(value, "bad-nodes", "n6"));
        break;
      case "sa":
        parsed.seenAddress = parseSeenAddress(value);
        break;
      case "c":
        parsed.createdSeconds = asInteger(
          value,
          Number.MIN_SAFE_INTEGER,
          Number.MAX_SAFE_INTEGER,
          "bad-type",
          "c",
        );
        break;
      case "values": {
        const values = parseValues(value);
        parsed.values = values.values;
        parsed.valueSizes = values.sizes;
        break;
      }
      case "fileds":
        fileds = value;
        break;
      case "w":
        parsed.want = parseWant(value);
        break;
      case "sid":
        parsed.socketId = asTid(value, "sid");
        break;
      case "ve":
        parsed.version = asInteger(
          value,
          -MAX_INT32 - 1,
          MAX_INT32,
          "bad-type",
          "ve",
        );
        break;
      case "re":
        parsed.refreshed = parseIds(value, "re");
        break;
      case "exp":
        parsed.expired = parseIds(value, "exp");
        break;
    }
  }
  // OpenDHT reads `fileds` only when there is no `values`.
  if (
    fileds !== undefined && parsed.values === undefined &&
    parsed.valueSizes === undefined
  ) {
    parsed.fields = parseFields(fileds);
  }
  return parsed;
}

/** `values`: value maps (malformed ones skipped), or uint sizes of fragmented values. */
function parseValues(item: Item): { values?: DhtValue[]; sizes?: number[] } {
  const entries = asArray(item, "bad-values", "values");
  const sizes = entries.filter((entry) =>
    entry.type === "int" && entry.value >= 0
  );
  if (sizes.length === 0) {
    const values: DhtValue[] = [];
    for (const entry of entries) {
      try {
        values.push(decodeValue(entry));
      } catch (error) {
        // A malformed value is skipped, the rest is processed (OpenDHT does the same).
        if (!(error instanceof WireError)) throw error;
      }
    }
    return { values };
  }
  // OpenDHT indexes value parts by position in this array; never sent mixed
  // (§14 all-or-nothing), so a mix is refused rather than half-interpreted.
  if (sizes.length !== entries.length) {
    throw new WireError("bad-values", "values mixes sizes and value maps");
  }
  // Sizes above 64 KiB are ignored by the receiver anyway; above uint32
  // they cannot be real, and refusing them keeps every decoded message
  // encodable.
  return {
    sizes: entries.map((size) =>
      asUint(size, MAX_UINT32, "bad-values", "value size")
    ),
  };
}

function parseQuery(item: Item): DhtQuery {
  const where = findMapValue(item, "w", "bad-query");
  const select = findMapValue(item, "s", "bad-query");
  if (where === undefined || select === undefined) {
    throw new WireError("bad-query", "query lacks s or w");
  }
  return {
    select: asArray(select, "bad-query", "select").map((field) =>
      asUint(field, MAX_UINT16, "bad-query", "select field")
    ),
    where: asArray(where, "bad-query", "where").map(parseWhereTerm),
  };
}

function parseWhereTerm(item: Item): WhereTerm {
  const fieldItem = findMapValue(item, "f", "bad-query");
  const value = findMapValue(item, "v", "bad-query");
  if (fieldItem === undefined || value === undefined) {
    throw new WireError("bad-query", "where term lacks f or v");
  }
  const field = asUint(fieldItem, MAX_UINT32, "bad-query", "where field");
  switch (field) {
    case 1: // Id
      return { field, value: asUint64(value, "bad-query", "where id") };
    case 2: { // ValueType
      const type = asUint64(value, "bad-query", "where type");
      return {
        field,
        value: type <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(type) : type,
      };
    }
    case 3: // OwnerPk
      return {
        field,
        value: asInfoHash(value, "bad-query", "where owner").bytes,
      };
    case 5: // UserType
      return { field, value: asBlob(value, "bad-query", "where user type") };
    default:
      // Includes SeqNum (4): OpenDHT 2.4.12 cannot unpack it either.
      throw new WireError("bad-query", `where on field ${field}`);
  }
}

/** `fileds: {f, v}`; `v` is flattened, |f| entries per value in ascending field order. */
function parseFields(item: Item): { fields: number[]; values: unknown[] } {
  const fieldsItem = findMapValue(item, "f", "bad-fields");
  if (fieldsItem === undefined) {
    throw new WireError("bad-fields", "fileds lacks f");
  }
  const fields = asArray(fieldsItem, "bad-fields", "f").map((field) =>
    asUint(field, MAX_UINT16, "bad-fields", "field")
  );
  const valuesItem = findMapValue(item, "v", "bad-fields");
  if (valuesItem === undefined) return { fields, values: [] };
  const order = [...new Set(fields)].sort((a, b) => a - b);
  const entries = asArray(valuesItem, "bad-fields", "fileds values");
  if (order.length === 0 && entries.length > 0) {
    throw new WireError("bad-fields", "fileds has values but no fields");
  }
  const values = entries.map((entry, index): unknown => {
    if (entry.type === "int") {
      return order[index % order.length] === 1
        ? asUint64(entry, "bad-fields", "id")
        : entry.value;
    }
    if (entry.type === "str") return TEXT_DECODER.decode(entry.bytes);
    if (entry.type === "bin") return entry.bytes.slice();
    throw new WireError(
      "bad-fields",
      "a field value is not an int, str or bin",
    );
  });
  return { fields, values };
}

/** Top-level keys read for every message, as OpenDHT's first loop does. */
interface Header {
  readonly tid: number;
  readonly network: number;
  readonly userAgent?: string;
  readonly isClient?: boolean;
  readonly method?: string;
}

function parseHeader(top: Map<string, Item>): Header {
  const tid = top.get("t");
  const userAgent = top.get("v");
  const network = top.get("n");
  const isClient = top.get("s");
  const method = top.get("q");
  if (isClient !== undefined && isClient.type !== "bool") {
    throw new WireError("bad-type", "s is not a boolean");
  }
  return {
    // A message without `t` has tid 0 in OpenDHT (and gets answered with it).
    tid: tid === undefined ? 0 : asTid(tid, "t"),
    network: network === undefined
      ? 0
      : asUint(network, MAX_UINT32, "bad-type", "n"),
    ...(userAgent === undefined
      ? {}
      : { userAgent: asText(userAgent, "bad-type", "v") }),
    ...(isClient?.type === "bool" ? { isClient: isClient.value } : {}),
    ...(method === undefined
      ? {}
      : { method: asText(method, "bad-type", "q") }),
  };
}

function base(
  header: Header,
): { tid: number; network: number; userAgent?: string; isClient?: boolean } {
  return {
    tid: header.tid,
    network: header.network,
    ...(header.userAgent === undefined ? {} : { userAgent: header.userAgent }),
    ...(header.isClient === undefined ? {} : { isClient: header.isClient }),
  };
}

/** Copies the defined entries only, so decoded messages have no `undefined` members. */
function defined<T extends object>(record: T): T {
  const out: Record<string, unknown> = {};
  for (const key in record) {
    const value = record[key];
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}

function decodeValuePart(top: Map<string, Item>, header: Header): DhtValuePart {
  const map = top.get("p")!;
  if (map.type !== "map") throw new WireError("bad-part", "p is not a map");
  const parts: { index: number; offset: number; data: Uint8Array }[] = [];
  for (const [indexItem, piece] of map.entries) {
    const index = asUint(indexItem, MAX_UINT32, "bad-part", "part index");
    const offset = findMapValue(piece, "o", "bad-part");
    const data = findMapValue(piece, "d", "bad-part");
    if (offset === undefined || data === undefined) continue;
    parts.push({
      index,
      offset: asUint(
        offset,
        Number.MAX_SAFE_INTEGER,
        "bad-part",
        "part offset",
      ),
      data: asBlob(data, "bad-part", "part data"),
    });
  }
  return {
    kind: "value-part",
    tid: header.tid,
    network: header.network,
    parts,
  };
}

function decodeError(top: Map<string, Item>, header: Header): DhtError {
  const codes = asArray(top.get("e")!, "bad-error", "e");
  if (codes.length === 0) throw new WireError("bad-error", "e is empty");
  const code = asUint(codes[0], MAX_UINT16, "bad-error", "error code");
  // OpenDHT reads only the code; a message that is not text reads as "".
  const text = codes[1];
  const message = text?.type === "str" || text?.type === "bin"
    ? TEXT_DECODER.decode(text.bytes)
    : "";
  const bodyItem = top.get("a") ?? top.get("r");
  if (bodyItem === undefined) {
    throw new WireError("bad-id", "error without r.id");
  }
  const body = parseBody(bodyItem, "r");
  return {
    kind: "error",
    ...base(header),
    senderId: body.senderId,
    code,
    message,
  };
}

function decodeReply(top: Map<string, Item>, header: Header): DhtReply {
  const body = parseBody(top.get("a") ?? top.get("r")!, "r");
  // The defined fields only, in this order (what `defined` would keep, built
  // directly: every reply of every lookup goes through here).
  const reply: Record<string, unknown> = {
    kind: "reply",
    tid: header.tid,
    network: header.network,
  };
  if (header.userAgent !== undefined) reply.userAgent = header.userAgent;
  if (header.isClient !== undefined) reply.isClient = header.isClient;
  reply.senderId = body.senderId;
  if (body.seenAddress !== undefined) reply.seenAddress = body.seenAddress;
  if (body.nodes4 !== undefined) reply.nodes4 = body.nodes4;
  if (body.nodes6 !== undefined) reply.nodes6 = body.nodes6;
  if (body.token !== undefined) reply.token = body.token;
  if (body.values !== undefined) reply.values = body.values;
  if (body.valueSizes !== undefined) reply.valueSizes = body.valueSizes;
  if (body.fields !== undefined) reply.fields = body.fields;
  if (body.valueId !== undefined) reply.valueId = body.valueId;
  return reply as unknown as DhtReply;
}

const REQUEST_METHODS = new Set([
  "ping",
  "find",
  "get",
  "put",
  "refresh",
  "listen",
  "update",
]);

/**
 * A ping or find request built directly, with the fields (and field order)
 * that the general path of {@link decodeRequest} would give it.
 */
function pingOrFind(
  header: Header,
  body: ParsedBody,
  method: "ping" | "find",
): DhtRequest {
  const request: Record<string, unknown> = {
    kind: "request",
    tid: header.tid,
    network: header.network,
  };
  if (header.userAgent !== undefined) request.userAgent = header.userAgent;
  if (header.isClient !== undefined) request.isClient = header.isClient;
  request.senderId = body.senderId;
  request.method = method;
  if (method === "find") {
    request.target = body.target ?? InfoHash.ZERO;
    if (body.want !== undefined) request.want = body.want;
  }
  return request as unknown as DhtRequest;
}

function decodeRequest(top: Map<string, Item>, header: Header): DhtRequest {
  const kind = top.get("y");
  if (kind !== undefined && asText(kind, "not-a-query", "y") !== "q") {
    throw new WireError("not-a-query", 'y is not "q"');
  }
  const method = header.method;
  if (method === undefined || !REQUEST_METHODS.has(method)) {
    throw new WireError(
      "unknown-query",
      `unknown query ${JSON.stringify(method ?? null)}`,
    );
  }
  const bodyItem = top.get("a");
  if (bodyItem === undefined) {
    throw new WireError("missing-key", "request without a");
  }
  const body = parseBody(bodyItem, "a");
  // The requests of every lookup first, before anything the others need.
  if (method === "ping" || method === "find") {
    return pingOrFind(header, body, method);
  }
  const common = {
    kind: "request" as const,
    ...base(header),
    senderId: body.senderId,
  };
  // Absent h/target read as the zero id and an absent token as empty, as in
  // OpenDHT, whose handlers then answer 203 or 401.
  const key = body.key ?? InfoHash.ZERO;
  const token = body.token ?? new Uint8Array(0);
  switch (method as DhtRequest["method"]) {
    case "ping":
    case "find":
      return pingOrFind(header, body, method as "ping" | "find");
    case "get":
      return defined({
        ...common,
        method: "get",
        key,
        query: body.query,
        want: body.want,
      });
    case "put":
      return defined({
        ...common,
        method: "put",
        key,
        values: body.values ?? [],
        valueSizes: body.valueSizes,
        createdSeconds: body.createdSeconds,
        token,
      });
    case "refresh":
      return {
        ...common,
        method: "refresh",
        key,
        valueId: body.valueId ?? 0n,
        token,
      };
    case "listen":
      return defined({
        ...common,
        method: "listen",
        key,
        token,
        socketId: body.socketId ?? 0,
        version: body.version,
        query: body.query,
      });
    case "update":
      return defined({
        ...common,
        method: "update",
        socketId: body.socketId ?? 0,
        key: body.key,
        token: body.token,
        version: body.version,
        values: body.values,
        valueSizes: body.valueSizes,
        createdSeconds: body.createdSeconds,
        refreshed: body.refreshed,
        expired: body.expired,
      });
  }
}

/** Runs a decoder on parsed bytes; any non-WireError is our bug, reported as reason "internal". */
function guarded<T>(bytes: Uint8Array, decode: (item: Item) => T): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new WireError("bad-msgpack", "input is not a Uint8Array");
  }
  if (bytes.length > MAX_WIRE_DATAGRAM_BYTES) {
    throw new WireError(
      "too-large",
      `${bytes.length} bytes exceed ${MAX_WIRE_DATAGRAM_BYTES}`,
    );
  }
  try {
    return decode(readItem(bytes));
  } catch (error) {
    if (error instanceof WireError) throw error;
    throw new WireError("internal", String(error), { cause: error });
  }
}

/**
 * Decodes one datagram, classifying it as OpenDHT does (§4): `e` → error,
 * `r` → reply, `p` → value part, `u` → legacy push (refused), else a
 * request named by `q`. Keys are found by name; unknown keys are ignored; a
 * malformed value inside `values` is skipped. Network filtering is left to
 * the caller (`network` is returned, 0 when absent).
 *
 * @param bytes The datagram payload (at most 65535 bytes).
 * @returns The typed message.
 * @throws {WireError} For anything OpenDHT would drop, plus: a missing or
 * zero sender id (`"bad-id"`, which OpenDHT drops after parsing), a legacy
 * `u` push (`"legacy"`; we only speak `ve: 1`), a `values` array mixing
 * sizes and values or announcing a size above 2^32 - 1 (`"bad-values"`).
 * Never throws anything else.
 * @example A find answer with one node
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { decodeMessage, encodeMessage } from "./wire.ts";
 *
 * const node = { id: InfoHash.get("peer"), address: { host: "127.0.0.1", port: 43942 } };
 * const bytes = encodeMessage({
 *   kind: "reply", tid: 9, network: 0, userAgent: "RNG1", senderId: InfoHash.get("me"),
 *   seenAddress: Uint8Array.from([127, 0, 0, 1]), nodes4: [node], token: new Uint8Array(32),
 * });
 * const reply = decodeMessage(bytes);
 * assert.ok(reply.kind === "reply");
 * assert.equal(reply.nodes4?.[0].id.toString(), node.id.toString());
 * assert.equal(reply.nodes4?.[0].address.port, 43942);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): DhtMessage {
  return guarded(bytes, (item) => {
    const top = keyed(item, "not-a-map", "message");
    const header = parseHeader(top);
    if (top.has("e")) return decodeError(top, header);
    if (top.has("r")) return decodeReply(top, header);
    if (top.has("p")) return decodeValuePart(top, header);
    if (top.has("u")) {
      throw new WireError("legacy", "legacy (version 0) listener push");
    }
    return decodeRequest(top, header);
  });
}
