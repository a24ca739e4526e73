/**
 * The bind options every UDP transport checks before opening a socket.
 *
 * @example A port out of range
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBindOptions } from "./_bind_options.ts";
 *
 * assert.throws(() => checkBindOptions("127.0.0.1", 70_000, 1_200), RangeError);
 * ```
 *
 * @module
 */
import { MAX_DATAGRAM_BYTES } from "../transport.ts";

/**
 * Throws for a host that is not a non-empty string, a port out of 0–65535
 * or a size limit out of 1–{@link MAX_DATAGRAM_BYTES}.
 */
export function checkBindOptions(
  host: string,
  port: number,
  maxDatagramBytes: number,
): void {
  if (typeof host !== "string" || host === "") {
    throw new TypeError(
      `Cannot bind UDP socket: host "${
        String(host)
      }" is not a non-empty string`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot bind UDP socket: port ${port} is not an integer from 0 to 65535`,
    );
  }
  if (
    !Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 1 ||
    maxDatagramBytes > MAX_DATAGRAM_BYTES
  ) {
    throw new RangeError(
      `Cannot bind UDP socket: maxDatagramBytes ${maxDatagramBytes} is not an integer from 1 to ${MAX_DATAGRAM_BYTES}`,
    );
  }
}
