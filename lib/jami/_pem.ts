/**
 * PEM blocks (RFC 7468) for the Jami codec: strict enough for hostile input
 * (bounded sizes and counts, base64 alphabet checked), lenient on line
 * lengths and line endings as GnuTLS is.
 *
 * @module
 */
import { JamiFormatError } from "./errors.ts";

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,40})-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** One decoded PEM block. */
export interface PemBlock {
  /** The label, e.g. `"CERTIFICATE"`. */
  readonly label: string;
  /** The DER bytes. */
  readonly der: Uint8Array;
}

/** Decodes standard base64 (no whitespace) or throws JamiFormatError. */
export function fromBase64(text: string, what: string): Uint8Array {
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new JamiFormatError(what, "invalid base64");
  }
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let raw = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    raw += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(raw);
}

/**
 * The PEM blocks of `text`, in order; text between blocks is ignored.
 *
 * @throws {JamiFormatError} If the text is over `maxBytes`, holds more than
 * `maxBlocks` blocks, or a block's base64 is invalid.
 */
export function decodePem(
  text: string,
  what: string,
  maxBytes: number,
  maxBlocks: number,
): PemBlock[] {
  if (text.length > maxBytes) {
    throw new JamiFormatError(
      what,
      `${text.length} characters exceed ${maxBytes}`,
    );
  }
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    if (blocks.length === maxBlocks) {
      throw new JamiFormatError(what, `more than ${maxBlocks} PEM blocks`);
    }
    const body = match[2].replace(/[\r\n\t ]/g, "");
    blocks.push({ label: match[1], der: fromBase64(body, what) });
  }
  return blocks;
}

/** One PEM block, 64-character lines, trailing newline (as GnuTLS writes it). */
export function encodePem(label: string, der: Uint8Array): string {
  const base64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) {
    lines.push(base64.slice(i, i + 64));
  }
  return `-----BEGIN ${label}-----\n${
    lines.join("\n")
  }\n-----END ${label}-----\n`;
}
