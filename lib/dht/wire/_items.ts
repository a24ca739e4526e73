/**
 * Typed reads of parsed msgpack {@link Item}s, private to `lib/dht/wire/`,
 * following OpenDHT's own unpacking rules (`unpackBlob`, `unpackTid`,
 * `findMapValue`, msgpack-c's conversions): each accessor returns the
 * value or throws a {@link WireError} with the caller's reason on a type
 * OpenDHT rejects.
 *
 * @module
 */
import { INFO_HASH_BYTES, InfoHash } from "../../identity/info_hash.ts";
import { type Item, MAX_UINT32, TEXT_DECODER } from "./_msgpack.ts";
import { WireError, type WireErrorReason } from "./errors.ts";

/** Whether `item` is the str `name` (bytes compared when it is not interned). */
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
export function keyed(
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
export function findMapValue(
  item: Item,
  name: string,
  reason: WireErrorReason,
): Item | undefined {
  if (item.type !== "map") {
    throw new WireError(reason, `"${name}" holder is not a map`);
  }
  return item.entries.find(([key]) => isKey(key, name))?.[1];
}

/** A safe integer in [`minimum`, `maximum`]; a bigint never fits. */
export function asInteger(
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

/** A non-negative safe integer up to `maximum`. */
export function asUint(
  item: Item,
  maximum: number,
  reason: WireErrorReason,
  what: string,
): number {
  return asInteger(item, 0, maximum, reason, what);
}

/** Any non-negative int, as a bigint. */
export function asUint64(
  item: Item,
  reason: WireErrorReason,
  what: string,
): bigint {
  if (item.type !== "int" || item.value < 0) {
    throw new WireError(reason, `${what} is not a uint64`);
  }
  return BigInt(item.value);
}

/**
 * A copy of `bytes` in a fresh array (what `slice()` makes, but faster for
 * the short tokens and addresses read from every message).
 */
export function copyOf(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  const out = new Uint8Array(length);
  if (length > 64) out.set(bytes);
  else for (let i = 0; i < length; i++) out[i] = bytes[i];
  return out;
}

/** OpenDHT's `unpackBlob`: bin, str, or an array of uint8. */
export function asBlob(
  item: Item,
  reason: WireErrorReason,
  what: string,
): Uint8Array {
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
export function asBlobView(
  item: Item,
  reason: WireErrorReason,
  what: string,
): Uint8Array {
  if (item.type === "bin" || item.type === "str") return item.bytes;
  return asBlob(item, reason, what);
}

/** A `std::string` read by msgpack-c: str or bin. */
export function asText(
  item: Item,
  reason: WireErrorReason,
  what: string,
): string {
  if (item.type === "str" && item.text !== undefined) return item.text;
  if (item.type === "str" || item.type === "bin") {
    return TEXT_DECODER.decode(item.bytes);
  }
  throw new WireError(reason, `${what} is not a string`);
}

/** A 20-byte bin as an id. */
export function asInfoHash(
  item: Item,
  reason: WireErrorReason,
  what: string,
): InfoHash {
  if (item.type !== "bin" || item.bytes.length !== INFO_HASH_BYTES) {
    throw new WireError(reason, `${what} is not a 20-byte bin`);
  }
  return InfoHash.fromBytes(item.bytes);
}

/** The items of an array. */
export function asArray(
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
export function asTid(item: Item, what: string): number {
  if (item.type === "int") return asUint(item, MAX_UINT32, "bad-type", what);
  if ((item.type === "bin" || item.type === "str") && item.bytes.length === 4) {
    return new DataView(item.bytes.buffer, item.bytes.byteOffset, 4).getUint32(
      0,
    );
  }
  throw new WireError("bad-type", `${what} is neither a uint32 nor 4 bytes`);
}
