/**
 * The network seam: the protocol core sends and receives datagrams through
 * an injected {@link Transport}; `UdpTransport` is the real one, the
 * simulator provides its own.
 *
 * @module
 */

/**
 * Where a datagram comes from or goes to.
 *
 * @example An IPv4 peer
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress, type PeerAddress } from "./transport.ts";
 *
 * const peer: PeerAddress = { host: "192.0.2.7", port: 4222 };
 * assert.equal(formatAddress(peer), "192.0.2.7:4222");
 * ```
 */
export interface PeerAddress {
  /** An IPv4 address, an IPv6 address without brackets, or a host name. */
  readonly host: string;
  /** The UDP port the peer sends from and receives on. */
  readonly port: number;
}

/**
 * Receives one datagram: its bytes and its sender.
 *
 * @example Collect datagrams
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DatagramHandler, PeerAddress } from "./transport.ts";
 *
 * const received: Array<[Uint8Array, PeerAddress]> = [];
 * const handler: DatagramHandler = (bytes, from) => received.push([bytes, from]);
 * handler(new Uint8Array([1]), { host: "127.0.0.1", port: 9 });
 * assert.equal(received.length, 1);
 * ```
 */
export type DatagramHandler = (bytes: Uint8Array, from: PeerAddress) => void;

/**
 * Hands datagrams to the network; loss is normal, so `send` never throws for
 * it.
 *
 * @example A loopback transport for a test
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DatagramHandler, PeerAddress, Transport } from "./transport.ts";
 *
 * class LoopbackTransport implements Transport {
 *   readonly localAddress: PeerAddress = { host: "127.0.0.1", port: 1 };
 *   #handler: DatagramHandler | undefined;
 *   #closed = false;
 *   send(_to: PeerAddress, bytes: Uint8Array): void {
 *     if (!this.#closed) this.#handler?.(bytes.slice(), this.localAddress);
 *   }
 *   receive(handler: DatagramHandler): void {
 *     this.#handler = handler;
 *   }
 *   close(): Promise<void> {
 *     this.#closed = true;
 *     return Promise.resolve();
 *   }
 * }
 * const transport = new LoopbackTransport();
 * let received = 0;
 * transport.receive(() => received++);
 * transport.send(transport.localAddress, new Uint8Array([7]));
 * await transport.close();
 * transport.send(transport.localAddress, new Uint8Array([8]));
 * assert.equal(received, 1);
 * ```
 */
export interface Transport {
  /** The address peers reach this transport at. */
  readonly localAddress: PeerAddress;
  /**
   * Queues one datagram; failures are counted by the implementation, never thrown.
   *
   * @param to The peer's address.
   * @param bytes The payload; the transport copies it if it sends later.
   */
  send(to: PeerAddress, bytes: Uint8Array): void;
  /**
   * Sets the single handler for incoming datagrams, replacing any earlier one.
   *
   * @param handler Called once per datagram.
   */
  receive(handler: DatagramHandler): void;
  /**
   * Stops the transport; idempotent. Afterwards `send` does nothing and no
   * datagram is delivered.
   *
   * @returns Resolves once the underlying resources are released.
   */
  close(): Promise<void>;
}

/**
 * The largest UDP payload over IPv4: 65535 minus the 8-byte UDP header and
 * the 20-byte IPv4 header.
 *
 * @example Check a payload before sending
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_DATAGRAM_BYTES } from "./transport.ts";
 *
 * assert.ok(new Uint8Array(1200).length <= MAX_DATAGRAM_BYTES);
 * ```
 */
export const MAX_DATAGRAM_BYTES = 65507;

/** Longest input quoted back in an error message. */
const MAX_QUOTED_LENGTH = 80;

/** Longest address text accepted: a bracketed IPv6 address or a 253-character host name, plus a port. */
const MAX_ADDRESS_TEXT_LENGTH = 260;

const IPV4_PATTERN =
  /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const HOST_NAME_LABEL_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV6_GROUP_PATTERN = /^[0-9a-f]{1,4}$/;
const PORT_PATTERN = /^(?:0|[1-9][0-9]{0,4})$/;

function quote(text: string): string {
  return JSON.stringify(
    text.length > MAX_QUOTED_LENGTH
      ? `${text.slice(0, MAX_QUOTED_LENGTH)}…`
      : text,
  );
}

function isIpv6(host: string): boolean {
  const halves = host.split("::");
  if (halves.length > 2) return false;
  const groups = halves.map((half) => half === "" ? [] : half.split(":"));
  const all = groups.flat();
  let groupCount = all.length;
  const last = groups[groups.length - 1].at(-1);
  // An embedded IPv4 address may close the address, as in "::ffff:192.0.2.1".
  if (last !== undefined && last.includes(".")) {
    if (!IPV4_PATTERN.test(last)) return false;
    all.pop();
    groupCount++;
  }
  if (!all.every((group) => IPV6_GROUP_PATTERN.test(group))) return false;
  return halves.length === 2 ? groupCount < 8 : groupCount === 8;
}

function isHostName(host: string): boolean {
  if (host.length > 253) return false;
  // All-numeric dotted text is a malformed IPv4 address, not a name.
  if (/^[0-9.]+$/.test(host)) return false;
  return host.split(".").every((label) => HOST_NAME_LABEL_PATTERN.test(label));
}

function checkPort(action: string, port: number, minimum: number): void {
  if (!Number.isInteger(port) || port < minimum || port > 65535) {
    throw new RangeError(
      `Cannot ${action}: port ${port} is not an integer from ${minimum} to 65535`,
    );
  }
}

/**
 * Writes an address as text: `host:port`, with brackets around IPv6 hosts.
 * Port 0 is accepted, since it names "any free port" when binding.
 *
 * @param address An IPv4 or IPv6 address, or a host name, with its port.
 * @returns The text, which {@link parseAddress} reads back for ports 1 to 65535.
 * @throws {TypeError} If the host is empty.
 * @throws {RangeError} If the port is not an integer from 0 to 65535.
 *
 * @example IPv4 and IPv6
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./transport.ts";
 *
 * assert.equal(formatAddress({ host: "1.2.3.4", port: 5 }), "1.2.3.4:5");
 * assert.equal(formatAddress({ host: "::1", port: 5 }), "[::1]:5");
 * ```
 */
export function formatAddress(address: PeerAddress): string {
  if (typeof address.host !== "string" || address.host === "") {
    throw new TypeError(
      `Cannot format address: host ${
        quote(String(address.host))
      } is not a non-empty string`,
    );
  }
  checkPort("format address", address.port, 0);
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * Reads `host:port` text: a dotted IPv4 address, a bracketed IPv6 address
 * (without zone) or a DNS host name, then a port from 1 to 65535 without
 * leading zeros. Port 0 is rejected: it only makes sense when binding, which
 * takes a number. Host names and IPv6 addresses are lower-cased, so
 * `formatAddress(parseAddress(text))` equals `text` for lower-case input.
 *
 * @param text The address text, such as `"192.0.2.1:4222"` or `"[2001:db8::1]:4222"`.
 * @returns The address.
 * @throws {TypeError} If the text is not a valid address; the message quotes it.
 *
 * @example Parse, then format back
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress, parseAddress } from "./transport.ts";
 *
 * assert.deepEqual(parseAddress("[::1]:4222"), { host: "::1", port: 4222 });
 * assert.equal(formatAddress(parseAddress("bootstrap.example.org:4222")), "bootstrap.example.org:4222");
 * assert.throws(() => parseAddress("1.2.3.4:0"), TypeError);
 * ```
 */
export function parseAddress(text: string): PeerAddress {
  const fail = (reason: string): TypeError =>
    new TypeError(`Cannot parse address: ${quote(String(text))} ${reason}`);
  if (typeof text !== "string" || text.length > MAX_ADDRESS_TEXT_LENGTH) {
    throw fail("is not an address string");
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) throw fail("has no port");
  const portText = text.slice(colon + 1);
  let host = text.slice(0, colon).toLowerCase();
  if (!PORT_PATTERN.test(portText)) throw fail("has an invalid port");
  const port = Number(portText);
  if (port < 1 || port > 65535) throw fail("has a port outside 1 to 65535");
  if (host.startsWith("[") && host.endsWith("]")) {
    host = host.slice(1, -1);
    if (!isIpv6(host)) throw fail("has an invalid IPv6 address");
  } else if (host.includes(":")) {
    throw fail("has an IPv6 address without brackets");
  } else if (!IPV4_PATTERN.test(host) && !isHostName(host)) {
    throw fail("has an invalid host");
  }
  return { host, port };
}
