/**
 * The msgpack layer of the OpenDHT wire codec, private to `lib/dht/wire/`:
 * a reader that parses bytes into a tagged {@link Item} tree (str and bin,
 * int kinds stay visible; short strings are interned), a writer that
 * appends minimal msgpack to a shared slab, the {@link Wire} trees the
 * encoders build, and the integer ranges both sides check against.
 *
 * @module
 */
import { INFO_HASH_BYTES, InfoHash } from "../../identity/info_hash.ts";
import { WireError } from "./errors.ts";

/** Largest input `decodeMessage` and `unpackValue` look at; OpenDHT's receive buffer is 64 KiB. */
export const MAX_WIRE_DATAGRAM_BYTES = 65535;

/** Deepest container nesting accepted; OpenDHT messages need 7, msgpack-c stops at 32. */
const MAX_NESTING_DEPTH = 32;

/** Largest uint32 (tids, socket ids, network ids). */
export const MAX_UINT32 = 0xffff_ffff;
/** Largest uint16 (value types, sequence numbers, error codes, address families). */
export const MAX_UINT16 = 0xffff;
/** Largest int32 (`ve`). */
export const MAX_INT32 = 0x7fff_ffff;
/** Largest uint64 (value ids). */
export const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

/** Shared UTF-8 encoder (stateless). */
export const TEXT_ENCODER = new TextEncoder();
/** Shared UTF-8 decoder (stateless: never used in streaming mode). */
export const TEXT_DECODER = new TextDecoder();

// ---------------------------------------------------------------------------
// msgpack reader: a tagged tree, so that str/bin and int kinds stay visible.

/** One parsed msgpack item; ext, float and nil all read as `other`. */
export type Item =
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

/** Runs a decoder on parsed bytes; any non-WireError is our bug, reported as reason "internal". */
export function guarded<T>(bytes: Uint8Array, decode: (item: Item) => T): T {
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
export class MsgpackWriter {
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

  /** Bytes that already are msgpack (one whole item), copied as they are. */
  packed(bytes: Uint8Array): void {
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
export type Wire =
  | number
  | bigint
  | string
  | boolean
  | Uint8Array
  | InfoHash
  | PackedWire
  | readonly Wire[]
  | WireMap;

/** One item already packed (a stored value's bytes), written as it is. */
export class PackedWire {
  /** The item's msgpack bytes. */
  readonly bytes: Uint8Array;
  /** Wraps `bytes`, which must hold exactly one msgpack item. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/** A msgpack map whose entries keep their order (and may repeat a key). */
export class WireMap {
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

/** Writes `value` (any {@link Wire} tree) to `writer`. */
export function writeWire(writer: MsgpackWriter, value: Wire): void {
  write(writer, value);
}

function write(writer: MsgpackWriter, value: Wire): void {
  if (typeof value === "number" || typeof value === "bigint") writer.int(value);
  else if (typeof value === "string") writer.str(value);
  else if (typeof value === "boolean") writer.bool(value);
  else if (value instanceof Uint8Array) writer.bin(value);
  else if (value instanceof InfoHash) writer.id(value);
  else if (value instanceof PackedWire) writer.packed(value.bytes);
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
export function toBytes(value: Wire): Uint8Array {
  const writer = new MsgpackWriter();
  write(writer, value);
  return writer.finishCopy();
}

/** Encodes a datagram: a view of the writer's slab (see {@link MsgpackWriter}). */
export function toDatagram(value: Wire): Uint8Array {
  const writer = new MsgpackWriter();
  write(writer, value);
  return writer.finishView();
}

// ---------------------------------------------------------------------------
// Encoding argument checks: these are our own bugs, hence TypeError/RangeError.

/** `value` if it is an integer in [0, `maximum`], else a RangeError naming `what`. */
export function checkUint(
  value: number,
  maximum: number,
  what: string,
): number {
  if (!Number.isInteger(value) || value < 0 || value > maximum) {
    throw new RangeError(
      `Cannot encode message: ${what} ${value} is not an integer in [0, ${maximum}]`,
    );
  }
  return value;
}

/** `value` if it is a bigint in [0, 2^64 - 1], else a RangeError naming `what`. */
export function checkUint64(value: bigint, what: string): bigint {
  if (typeof value !== "bigint" || value < 0n || value > MAX_UINT64) {
    throw new RangeError(
      `Cannot encode message: ${what} ${value} is not a uint64`,
    );
  }
  return value;
}
