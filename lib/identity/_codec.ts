/**
 * Canonical msgpack encoding for everything we sign, and a hostile-input
 * decoder with hard limits.
 *
 * Signed structures are msgpack arrays (tuples) of byte strings, text and
 * safe integers, so a given value has exactly one encoding: field order is
 * fixed and the encoder always picks the shortest integer form.
 *
 * @module
 */
import { Decoder, Encoder } from "npm:@msgpack/msgpack@^3.1.3";
import { MalformedRecordError } from "./errors.ts";
import { bytesEqual } from "../crypto.ts";

const encoder = new Encoder({
  ignoreUndefined: false,
  forceIntegerToFloat: false,
});

// Limits well above anything we produce (values are at most 64 KiB) but low
// enough that hostile input cannot make the decoder allocate much.
const decoder = new Decoder({
  maxStrLength: 65_536,
  maxBinLength: 1_048_576,
  maxArrayLength: 4_096,
  maxMapLength: 256,
  maxExtLength: 0,
});

/** Canonical msgpack bytes of a tuple. */
export function encodeTuple(fields: readonly unknown[]): Uint8Array {
  return encoder.encode(fields);
}

/** Decodes `bytes` into a tuple with a given tag in position 0. */
export function decodeTuple(
  bytes: Uint8Array,
  what: string,
  tag: string,
  length: number,
): unknown[] {
  if (!(bytes instanceof Uint8Array)) {
    throw new MalformedRecordError(what, "input is not a Uint8Array");
  }
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (cause) {
    throw new MalformedRecordError(what, "invalid msgpack", { cause });
  }
  if (!Array.isArray(value) || value.length !== length) {
    throw new MalformedRecordError(what, `expected a ${length}-field array`);
  }
  if (value[0] !== tag) {
    throw new MalformedRecordError(what, `expected tag "${tag}"`);
  }
  // Only the canonical encoding is accepted: otherwise one signed value could
  // travel as many different byte strings (wider ints, floats, longer length
  // prefixes), defeating byte-level deduplication.
  let canonical: Uint8Array;
  try {
    canonical = encoder.encode(value);
  } catch (cause) {
    throw new MalformedRecordError(what, "cannot be re-encoded", { cause });
  }
  if (!bytesEqual(canonical, bytes)) {
    throw new MalformedRecordError(what, "not in canonical encoding");
  }
  return value;
}

/** Reads field `index` as a byte string of `length` bytes (any length if omitted). */
export function readBytes(
  fields: unknown[],
  index: number,
  what: string,
  length?: number,
): Uint8Array {
  const value = fields[index];
  if (!(value instanceof Uint8Array)) {
    throw new MalformedRecordError(what, `field ${index} is not bytes`);
  }
  if (length !== undefined && value.length !== length) {
    throw new MalformedRecordError(
      what,
      `field ${index} has ${value.length} bytes, expected ${length}`,
    );
  }
  // Copy so that callers never alias the decoder's buffer.
  return value.slice();
}

/** Reads field `index` as a safe non-negative integer. */
export function readInteger(
  fields: unknown[],
  index: number,
  what: string,
): number {
  const value = fields[index];
  if (
    typeof value !== "number" || !Number.isSafeInteger(value) || value < 0
  ) {
    throw new MalformedRecordError(
      what,
      `field ${index} is not a non-negative integer`,
    );
  }
  return value;
}

/** Reads field `index` as text of at most `maxLength` UTF-16 units. */
export function readText(
  fields: unknown[],
  index: number,
  what: string,
  maxLength: number,
): string {
  const value = fields[index];
  if (typeof value !== "string" || value.length > maxLength) {
    throw new MalformedRecordError(
      what,
      `field ${index} is not text of at most ${maxLength} characters`,
    );
  }
  return value;
}
