/**
 * A minimal DER reader and writer for what the Jami codec needs raw:
 * certificate TBS bytes, signature values, serial numbers as INTEGER bytes
 * (half of Jami's serials are negative), and CRLs. Every length is checked
 * against the bytes left; every failure is a {@link JamiFormatError}.
 *
 * @module
 */
import { concatBytes } from "../crypto.ts";
import { JamiFormatError } from "./errors.ts";

/** DER tags used here. */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
} as const;

/** One TLV: its tag, its whole encoding and its content (views of the input). */
export interface Tlv {
  readonly tag: number;
  readonly whole: Uint8Array;
  readonly content: Uint8Array;
}

/** Reads the TLV at `offset` of `bytes`; returns it and the offset after it. */
export function readTlv(
  bytes: Uint8Array,
  offset: number,
  what: string,
): [Tlv, number] {
  if (offset + 2 > bytes.length) {
    throw new JamiFormatError(what, "truncated DER");
  }
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) {
    throw new JamiFormatError(what, "multi-byte DER tag");
  }
  let length = bytes[offset + 1];
  let header = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3) {
      throw new JamiFormatError(what, "unsupported DER length");
    }
    if (offset + 2 + count > bytes.length) {
      throw new JamiFormatError(what, "truncated DER length");
    }
    length = 0;
    for (let i = 0; i < count; i++) {
      length = length * 256 + bytes[offset + 2 + i];
    }
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new JamiFormatError(what, "truncated DER");
  return [{
    tag,
    whole: bytes.subarray(offset, end),
    content: bytes.subarray(offset + header, end),
  }, end];
}

/** Reads exactly one TLV spanning `bytes`. */
export function readOne(bytes: Uint8Array, what: string): Tlv {
  const [tlv, end] = readTlv(bytes, 0, what);
  if (end !== bytes.length) {
    throw new JamiFormatError(what, "trailing bytes after DER");
  }
  return tlv;
}

/** The TLVs inside a constructed TLV's content (at most `max`). */
export function children(tlv: Tlv, what: string, max = 64): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < tlv.content.length) {
    if (out.length === max) {
      throw new JamiFormatError(what, `more than ${max} DER elements`);
    }
    const [child, next] = readTlv(tlv.content, offset, what);
    out.push(child);
    offset = next;
  }
  return out;
}

/** Checks a TLV's tag. */
export function expectTag(
  tlv: Tlv | undefined,
  tag: number,
  what: string,
): Tlv {
  if (tlv === undefined || tlv.tag !== tag) {
    throw new JamiFormatError(
      what,
      `expected DER tag 0x${tag.toString(16)}, got ${
        tlv === undefined ? "nothing" : "0x" + tlv.tag.toString(16)
      }`,
    );
  }
  return tlv;
}

/** Dotted text of an OBJECT IDENTIFIER's content. */
export function oidText(content: Uint8Array): string {
  if (content.length === 0 || content.length > 32) return "";
  const parts: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80
    ? [Math.floor(first / 40), first % 40]
    : [2, first - 80];
  return [...head, ...parts].join(".");
}

/** Unix milliseconds of a UTCTime or GeneralizedTime TLV (`...Z` forms only, as DER requires). */
export function readTime(tlv: Tlv, what: string): number {
  const text = new TextDecoder().decode(tlv.content);
  let match: RegExpMatchArray | null;
  let year: number;
  if (tlv.tag === TAG.UTC_TIME) {
    match = text.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/);
    if (match === null) throw new JamiFormatError(what, "bad UTCTime");
    const yy = Number(match[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (tlv.tag === TAG.GENERALIZED_TIME) {
    match = text.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/);
    if (match === null) throw new JamiFormatError(what, "bad GeneralizedTime");
    year = Number(match[1]);
  } else {
    throw new JamiFormatError(what, "expected a time");
  }
  const [month, day, hour, minute, second] = match.slice(2).map(Number);
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

// ---------------------------------------------------------------------------
// Writer

/** One DER TLV of `tag` around `content` parts. */
export function der(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concatBytes(...content);
  const length = body.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else if (length < 0x100) header = [tag, 0x81, length];
  else if (length < 0x10000) header = [tag, 0x82, length >> 8, length & 0xff];
  else header = [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
  return concatBytes(Uint8Array.from(header), body);
}

/** An OBJECT IDENTIFIER TLV from dotted text. */
export function derOid(dotted: string): Uint8Array {
  const parts = dotted.split(".").map(Number);
  const values = [parts[0] * 40 + parts[1], ...parts.slice(2)];
  const bytes: number[] = [];
  for (const value of values) {
    const groups: number[] = [value & 0x7f];
    for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | 0x80);
    }
    bytes.push(...groups);
  }
  return der(TAG.OID, Uint8Array.from(bytes));
}

/** A time TLV: UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280). */
export function derTime(unixMs: number): Uint8Array {
  const date = new Date(unixMs);
  const pad = (n: number) => String(n).padStart(2, "0");
  const rest = pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) +
    pad(date.getUTCHours()) + pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) + "Z";
  const year = date.getUTCFullYear();
  if (year < 2050) {
    return der(
      TAG.UTC_TIME,
      new TextEncoder().encode(pad(year % 100) + rest),
    );
  }
  return der(
    TAG.GENERALIZED_TIME,
    new TextEncoder().encode(String(year).padStart(4, "0") + rest),
  );
}

/** A non-negative INTEGER TLV of a safe integer or bigint. */
export function derUint(value: number | bigint): Uint8Array {
  let v = BigInt(value);
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  if (bytes[0] & 0x80) bytes.unshift(0);
  return der(TAG.INTEGER, Uint8Array.from(bytes));
}
