/**
 * What the UDP transports share to open a socket: the check of the bind
 * options, and `Deno.listenDatagram` with its errors as the transports
 * throw them.
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
import { formatAddress, MAX_DATAGRAM_BYTES } from "../transport.ts";
import { AddressInUseError, UdpBindError } from "./udp_transport.ts";

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

/** `Deno.listenDatagram`, when this runtime exposes it (unstable net). */
export function listenDatagramFunction():
  | typeof Deno.listenDatagram
  | undefined {
  const deno = Deno as { listenDatagram?: typeof Deno.listenDatagram };
  return typeof deno.listenDatagram === "function"
    ? deno.listenDatagram
    : undefined;
}

/**
 * A UDP socket from `Deno.listenDatagram` bound to `host` and `port`.
 *
 * @throws {AddressInUseError} If another socket holds the address.
 * @throws {UdpBindError} If binding fails for another reason, or there is
 * no `Deno.listenDatagram` (no unstable net).
 */
export function listenUdp(host: string, port: number): Deno.DatagramConn {
  const listen = listenDatagramFunction();
  const address = formatAddress({ host, port });
  if (listen === undefined) {
    throw new UdpBindError(
      `Cannot bind UDP socket: binding "${address}" needs Deno.listenDatagram (unstable net)`,
      { host, port },
    );
  }
  try {
    return listen({ transport: "udp", hostname: host, port });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new AddressInUseError(
        `Cannot bind UDP socket: address "${address}" is in use`,
        { host, port, cause: error },
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    const code = error instanceof Error && "code" in error &&
        typeof error.code === "string"
      ? error.code
      : undefined;
    throw new UdpBindError(
      `Cannot bind UDP socket: binding "${address}" failed with "${reason}"`,
      { host, port, code, cause: error },
    );
  }
}
