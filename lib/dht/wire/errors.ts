/**
 * How the OpenDHT wire codec refuses bytes: {@link WireError} and its stable
 * {@link WireErrorReason} codes. Every decoder of `lib/dht/wire/` throws
 * this error, and only this error, for input it does not accept.
 *
 * @module
 */

/** Why `decodeMessage` (decode.ts) or `unpackValue` (values.ts) rejected bytes. */
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
 * import { decodeMessage } from "./decode.ts";
 * import { WireError } from "./errors.ts";
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
   * Makes the error, with the message `Cannot decode message: <detail>`.
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
