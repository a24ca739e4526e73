/**
 * Contact URIs: Jami accepts `jami:`, `ring:` and `sips:` prefixes, leading
 * slashes, and any hex case; all name a 40-hex account id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseUri, formatUri } from "./uri.ts";
 *
 * const id = parseUri("jami:BF5F1E21D3EB2C1246946AA49D5DCF3E5B9CB1B9");
 * assert.equal(id.toString(), "bf5f1e21d3eb2c1246946aa49d5dcf3e5b9cb1b9");
 * assert.equal(formatUri(id), "jami:bf5f1e21d3eb2c1246946aa49d5dcf3e5b9cb1b9");
 * ```
 *
 * @module
 */
import { InvalidUriError } from "./errors.ts";
import { InfoHash } from "./info_hash.ts";

const SCHEMES = ["jami:", "ring:", "sips:"];
const ID_PATTERN = /^[0-9a-fA-F]{40}$/;
// Longest input we look at; anything longer is not a URI we accept.
const MAX_URI_LENGTH = 256;

/**
 * Parses a contact URI into the account id it names.
 *
 * Accepted: an optional `jami:`, `ring:` or `sips:` scheme (any case), any
 * number of leading slashes, then exactly 40 hex digits; for `sips:` an
 * `@host` suffix is ignored, as Jami does for SIP URIs.
 *
 * @param input The URI as typed or received, e.g. `jami:` and 40 hex digits.
 * @returns The account id.
 * @throws {InvalidUriError} If `input` is not an accepted spelling of an account id.
 */
export function parseUri(input: string): InfoHash {
  if (typeof input !== "string") throw new InvalidUriError(String(input));
  if (input.length > MAX_URI_LENGTH) {
    throw new InvalidUriError(input.slice(0, MAX_URI_LENGTH) + "…");
  }
  let rest = input.trim();
  const lower = rest.toLowerCase();
  const scheme = SCHEMES.find((prefix) => lower.startsWith(prefix));
  if (scheme !== undefined) rest = rest.slice(scheme.length);
  while (rest.startsWith("/")) rest = rest.slice(1);
  if (scheme === "sips:") {
    const at = rest.indexOf("@");
    if (at !== -1) rest = rest.slice(0, at);
  }
  if (!ID_PATTERN.test(rest)) throw new InvalidUriError(input);
  return InfoHash.fromHex(rest);
}

/**
 * The canonical URI of an account id: `jami:` and 40 lowercase hex.
 *
 * @param id Account id.
 * @returns The URI.
 */
export function formatUri(id: InfoHash): string {
  return `jami:${id.toString()}`;
}
