/**
 * IP addresses as text and as Linux `sockaddr_in` / `sockaddr_in6` bytes,
 * for {@link MmsgTransport}, which hands the kernel raw socket addresses.
 * Text is written as Rust (and so Deno's `Deno.NetAddr.hostname`) writes
 * it: dotted quads, and IPv6 in the RFC 5952 form (lower case, the first
 * longest run of two or more zero groups as `::`); an IPv4-mapped IPv6
 * address is named by its IPv4 address, as every UDP transport here does.
 *
 * @example A round trip through the kernel's bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSockaddr, SOCKADDR_BYTES, writeSockaddr } from "./_sockaddr.ts";
 *
 * const bytes = new Uint8Array(SOCKADDR_BYTES);
 * assert.equal(writeSockaddr(bytes, 0, "2001:db8:0:0:1::7", 4222, true), 28);
 * // Of two equal runs of zeros, the first is the one written "::".
 * assert.deepEqual(readSockaddr(bytes, 0), {
 *   host: "2001:db8::1:0:0:7",
 *   port: 4222,
 * });
 * ```
 *
 * @module
 */
import type { PeerAddress } from "../transport.ts";

/** Linux `AF_INET`. */
export const AF_INET = 2;
/** Linux `AF_INET6`. */
export const AF_INET6 = 10;
/** Bytes reserved per socket address: a `sockaddr_in6` (28) rounded up. */
export const SOCKADDR_BYTES = 32;
/** `sizeof(struct sockaddr_in)`. */
const SOCKADDR_IN_BYTES = 16;
/** `sizeof(struct sockaddr_in6)`. */
const SOCKADDR_IN6_BYTES = 28;

/** Longest IPv6 text: eight groups of four and seven colons, or the IPv4 tail form. */
const MAX_IPV6_TEXT = 45;

/**
 * The four bytes of a dotted-quad IPv4 address, or `undefined` for anything
 * else (no leading zeros, no other notation).
 */
export function parseIpv4(host: string): Uint8Array | undefined {
  if (host.length < 7 || host.length > 15) return undefined;
  const parts = host.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

/** The groups of one side of "::", or `undefined` if one is not 1–4 hex digits. */
function hexGroups(text: string, ipv4Tail: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (ipv4Tail && i === parts.length - 1 && part.includes(".")) {
      const ipv4 = parseIpv4(part);
      if (ipv4 === undefined) return undefined;
      groups.push((ipv4[0] << 8) | ipv4[1], (ipv4[2] << 8) | ipv4[3]);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

/**
 * The sixteen bytes of an IPv6 address in text (with "::" and an IPv4 tail
 * allowed; no brackets, no zone), or `undefined` for anything else.
 */
export function parseIpv6(host: string): Uint8Array | undefined {
  if (host.length < 2 || host.length > MAX_IPV6_TEXT) return undefined;
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const head = hexGroups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? hexGroups(halves[1], true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const groups = [...head, ...new Array(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[2 * i] = groups[i] >> 8;
    bytes[2 * i + 1] = groups[i] & 0xff;
  }
  return bytes;
}

/** Dotted-quad text of the four bytes at `at`. */
export function formatIpv4(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/** Whether the sixteen bytes at `at` are an IPv4-mapped address (::ffff:a.b.c.d). */
function isIpv4Mapped(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < 10; i++) if (bytes[at + i] !== 0) return false;
  return bytes[at + 10] === 0xff && bytes[at + 11] === 0xff;
}

/** RFC 5952 text of the sixteen bytes at `at` (not IPv4-mapped). */
export function formatIpv6(bytes: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) {
    groups.push((bytes[at + 2 * i] << 8) | bytes[at + 2 * i + 1]);
  }
  // The first longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((group) => group.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Writes `host` and `port` as a socket address at `at`: a `sockaddr_in` on
 * an IPv4 socket, a `sockaddr_in6` on an IPv6 one (an IPv4 host as its
 * IPv4-mapped address).
 *
 * @returns The address's length in bytes, or 0 if `host` is not an IP
 * address this socket can reach.
 */
export function writeSockaddr(
  target: Uint8Array,
  at: number,
  host: string,
  port: number,
  ipv6Socket: boolean,
): number {
  const ipv4 = parseIpv4(host);
  const ipv6 = ipv4 === undefined ? parseIpv6(host) : undefined;
  if (ipv4 === undefined && ipv6 === undefined) return 0;
  target.fill(0, at, at + SOCKADDR_BYTES);
  target[at + 2] = port >> 8;
  target[at + 3] = port & 0xff;
  if (!ipv6Socket) {
    const address = ipv4 ??
      (isIpv4Mapped(ipv6!, 0) ? ipv6!.subarray(12) : undefined);
    if (address === undefined) return 0;
    target[at] = AF_INET;
    target.set(address, at + 4);
    return SOCKADDR_IN_BYTES;
  }
  target[at] = AF_INET6;
  if (ipv4 !== undefined) {
    target[at + 18] = 0xff;
    target[at + 19] = 0xff;
    target.set(ipv4, at + 20);
  } else target.set(ipv6!, at + 8);
  return SOCKADDR_IN6_BYTES;
}

/**
 * The address the kernel wrote at `at` (family in host byte order, which is
 * little-endian on every Linux this runs on), or `undefined` for a family
 * other than IPv4 and IPv6.
 */
export function readSockaddr(
  bytes: Uint8Array,
  at: number,
): PeerAddress | undefined {
  const family = bytes[at] | (bytes[at + 1] << 8);
  const port = (bytes[at + 2] << 8) | bytes[at + 3];
  if (family === AF_INET) return { host: formatIpv4(bytes, at + 4), port };
  if (family !== AF_INET6) return undefined;
  return {
    host: isIpv4Mapped(bytes, at + 8)
      ? formatIpv4(bytes, at + 20)
      : formatIpv6(bytes, at + 8),
    port,
  };
}
