/**
 * Addresses on the OpenDHT wire (§7 of `docs/opendht-wire.md`): IPv4 and IPv6
 * text to bytes and back, the `n4`/`n6` node lists (id ‖ address ‖
 * big-endian port), and the `sa` seen address of replies. One bounded
 * cache lives here: decoded IPv4 addresses (shared read-only objects for
 * node lists).
 *
 * @module
 */
import { INFO_HASH_BYTES, InfoHash } from "../../identity/info_hash.ts";
import type { PeerAddress } from "../../transport.ts";
import type { NodeInfo } from "../messages.ts";
import { WireError } from "./errors.ts";
import { strictIpv4Number } from "../_ipv4_number.ts";
import { SlabCopier } from "../../io/_slab_copier.ts";

/** One IPv4 node entry in `n4`: id (20) ‖ IPv4 (4) ‖ port (2, big-endian). */
export const NODE4_ENTRY_BYTES = 26;

/** One IPv6 node entry in `n6`: id (20) ‖ IPv6 (16) ‖ port (2, big-endian). */
export const NODE6_ENTRY_BYTES = 38;

const IPV6_GROUP_PATTERN = /^[0-9a-fA-F]{1,4}$/;

/**
 * Where parsed IPv4 hosts are written: every reply carries its requester's
 * (`sa`), and a typed array of its own costs a microsecond. The bytes are
 * read at once (encoded, compared), never kept, so a slab is soon free.
 */
const IPV4_BYTES = new SlabCopier(16_384);

function parseIpv4(host: string): Uint8Array | undefined {
  const number = strictIpv4Number(host);
  if (number < 0) return undefined;
  const bytes = IPV4_BYTES.zeroed(4);
  putIpv4(bytes, 0, number);
  return bytes;
}

/** Writes the 32 bits of an IPv4 address at `out[at]`, big-endian. */
function putIpv4(out: Uint8Array, at: number, number: number): void {
  out[at] = number >>> 24;
  out[at + 1] = number >>> 16;
  out[at + 2] = number >>> 8;
  out[at + 3] = number;
}

function parseIpv6(host: string): Uint8Array | undefined {
  let text = host;
  let ipv4: Uint8Array | undefined;
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    ipv4 = parseIpv4(text.slice(lastColon + 1));
    if (lastColon < 0 || ipv4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] =>
    part === ""
      ? []
      : part.split(":").map((group) =>
        IPV6_GROUP_PATTERN.test(group) ? parseInt(group, 16) : NaN
      );
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  const count = head.length + tail.length;
  if ([...head, ...tail].some(Number.isNaN)) return undefined;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[2 * index] = group >> 8;
    bytes[2 * index + 1] = group & 0xff;
  });
  if (ipv4 !== undefined) bytes.set(ipv4, 12);
  return bytes;
}

/** RFC 5952 text, with `::ffff:a.b.c.d` for IPv4-mapped addresses (as Deno prints them). */
function formatIpv6(bytes: Uint8Array): string {
  if (
    bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff
  ) {
    return `::ffff:${bytes.subarray(12).join(".")}`;
  }
  const groups = Array.from(
    { length: 8 },
    (_, index) => (bytes[2 * index] << 8) | bytes[2 * index + 1],
  );
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${
    hex.slice(bestStart + bestLength).join(":")
  }`;
}

/**
 * Writes the 4 or 16 bytes of an IP host at `out[at]`, for the node list
 * writers (here and in encode.ts). An IPv4 host is read straight into
 * `out`: a find answer writes eight, and a cache of parsed hosts thrashed
 * once a simulation had more hosts than it held.
 *
 * @throws {TypeError} `Cannot <action>: …` if `host` is not an address of `family`.
 */
export function writeAddress(
  out: Uint8Array,
  at: number,
  host: string,
  family: 4 | 6,
  action: string,
): void {
  if (family === 4) {
    const number = strictIpv4Number(host);
    if (number >= 0) {
      putIpv4(out, at, number);
      return;
    }
  } else {
    const bytes = parseIpv6(host);
    if (bytes !== undefined) {
      out.set(bytes, at);
      return;
    }
  }
  throw new TypeError(
    `Cannot ${action}: "${host}" is not an IPv${family} address`,
  );
}

/** The 4 or 16 bytes of an IP host, or the writers' error. */
function addressBytes(
  host: string,
  family: 4 | 6,
  action: string,
): Uint8Array {
  const out = new Uint8Array(family === 4 ? 4 : 16);
  writeAddress(out, 0, host, family, action);
  return out;
}

/**
 * Bytes of one `n4` or `n6` entry: the id, the address, the port.
 *
 * @param family 4 or 6.
 * @returns 26 for `n4`, 38 for `n6`.
 */
export function nodeEntryBytes(family: 4 | 6): number {
  return INFO_HASH_BYTES + (family === 4 ? 4 : 16) + 2;
}

function encodeNodes(nodes: readonly NodeInfo[], family: 4 | 6): Uint8Array {
  const out = new Uint8Array(nodes.length * nodeEntryBytes(family));
  writeNodeEntries(out, 0, nodes, family);
  return out;
}

/**
 * Writes `nodes` as `n4` or `n6` entries (id, address, port) at `out[at]`,
 * for {@link encodeNodes4}, {@link encodeNodes6} and the message encoder. A
 * node's own reading of its IPv4 host (`NodeInfo.ipv4`, which routing nodes
 * carry) is taken when it is an integer from 0 to 2^32 - 1: no string to load
 * and parse per entry, and a find answer writes eight.
 *
 * @throws {TypeError} `Cannot encode n4|n6: …` for a host not of `family`.
 * @throws {RangeError} `Cannot encode n4|n6: port …` for a port outside 0..65535.
 */
export function writeNodeEntries(
  out: Uint8Array,
  at: number,
  nodes: readonly NodeInfo[],
  family: 4 | 6,
): void {
  const entryLength = nodeEntryBytes(family);
  for (const node of nodes) {
    node.id.copyTo(out, at);
    const ipv4 = node.ipv4;
    // (`>>> 0` keeps an integer from 0 to 2^32 - 1 as it is, and only that.)
    if (family === 4 && ipv4 !== undefined && ipv4 >>> 0 === ipv4) {
      putIpv4(out, at + INFO_HASH_BYTES, ipv4);
    } else {
      writeAddress(
        out,
        at + INFO_HASH_BYTES,
        node.address.host,
        family,
        `encode n${family}`,
      );
    }
    const port = node.address.port;
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new RangeError(
        `Cannot encode n${family}: port ${port} is not in [0, 65535]`,
      );
    }
    out[at + entryLength - 2] = port >> 8;
    out[at + entryLength - 1] = port & 0xff;
    at += entryLength;
  }
}

// Decoded IPv4 addresses: node lists repeat the same addresses, and sharing
// one read-only object each saves building a host string per entry. Keyed by
// a 30-bit hash of address and port (a small integer key); each entry
// remembers both, and a clash replaces the entry. Bounded: a full cache is
// emptied.
interface Address4Entry {
  readonly ip: number;
  readonly port: number;
  readonly address: PeerAddress;
}
const ADDRESS4_CACHE = new Map<number, Address4Entry>();
const ADDRESS4_CACHE_MAX = 262_144;

function decodeAddress4(bytes: Uint8Array, at: number): PeerAddress {
  const port = (bytes[at + 4] << 8) | bytes[at + 5];
  const ip = (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3];
  const key = (ip ^ Math.imul(port, 0x9e37_79b1)) & 0x3fff_ffff;
  const entry = ADDRESS4_CACHE.get(key);
  if (entry !== undefined && entry.ip === ip && entry.port === port) {
    return entry.address;
  }
  const address: PeerAddress = Object.freeze({
    host: `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`,
    port,
  });
  if (ADDRESS4_CACHE.size >= ADDRESS4_CACHE_MAX) ADDRESS4_CACHE.clear();
  ADDRESS4_CACHE.set(key, { ip, port, address });
  return address;
}

function decodeNodes(bytes: Uint8Array, family: 4 | 6): NodeInfo[] {
  const addressLength = family === 4 ? 4 : 16;
  const entryLength = INFO_HASH_BYTES + addressLength + 2;
  if (bytes.length % entryLength !== 0) {
    throw new WireError(
      "bad-nodes",
      `n${family} length ${bytes.length} is not a multiple of ${entryLength}`,
    );
  }
  const nodes: NodeInfo[] = [];
  if (family === 4) {
    for (let at = 0; at < bytes.length; at += entryLength) {
      nodes.push({
        id: InfoHash.fromBytesAt(bytes, at),
        address: decodeAddress4(bytes, at + INFO_HASH_BYTES),
      });
    }
    return nodes;
  }
  for (let at = 0; at < bytes.length; at += entryLength) {
    const address = bytes.subarray(
      at + INFO_HASH_BYTES,
      at + INFO_HASH_BYTES + addressLength,
    );
    nodes.push({
      id: InfoHash.fromBytesAt(bytes, at),
      address: {
        host: formatIpv6(address),
        port: (bytes[at + entryLength - 2] << 8) | bytes[at + entryLength - 1],
      },
    });
  }
  return nodes;
}

/**
 * Packs IPv4 nodes as an `n4` blob: 26 bytes each (id ‖ IPv4 ‖ big-endian port).
 *
 * @param nodes Nodes whose hosts are dotted IPv4 addresses.
 * @returns The blob.
 * @throws {TypeError} If a host is not an IPv4 address.
 * @throws {RangeError} If a port is not in [0, 65535].
 * @example One node
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../identity/info_hash.ts";
 * import { decodeNodes4, encodeNodes4 } from "./addresses.ts";
 *
 * const nodes = [{ id: InfoHash.get("a"), address: { host: "127.0.0.1", port: 4222 } }];
 * const blob = encodeNodes4(nodes);
 * assert.equal(blob.length, 26);
 * assert.deepEqual(decodeNodes4(blob)[0].address, { host: "127.0.0.1", port: 4222 });
 * ```
 */
export function encodeNodes4(nodes: readonly NodeInfo[]): Uint8Array {
  return encodeNodes(nodes, 4);
}

/**
 * Unpacks an `n4` blob.
 *
 * @param bytes A multiple of 26 bytes.
 * @returns The nodes, hosts in dotted form.
 * @throws {WireError} With reason `"bad-nodes"` if the length is not a multiple of 26.
 * @example A bad length
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNodes4 } from "./addresses.ts";
 * import { WireError } from "./errors.ts";
 *
 * assert.throws(() => decodeNodes4(new Uint8Array(25)), WireError);
 * assert.deepEqual(decodeNodes4(new Uint8Array(0)), []);
 * ```
 */
export function decodeNodes4(bytes: Uint8Array): NodeInfo[] {
  return decodeNodes(bytes, 4);
}

/**
 * Packs IPv6 nodes as an `n6` blob: 38 bytes each (id ‖ IPv6 ‖ big-endian port).
 *
 * @param nodes Nodes whose hosts are IPv6 addresses (no brackets, no zone).
 * @returns The blob.
 * @throws {TypeError} If a host is not an IPv6 address.
 * @throws {RangeError} If a port is not in [0, 65535].
 * @example One node
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../identity/info_hash.ts";
 * import { decodeNodes6, encodeNodes6 } from "./addresses.ts";
 *
 * const nodes = [{ id: InfoHash.get("a"), address: { host: "2001:db8::1", port: 4222 } }];
 * const blob = encodeNodes6(nodes);
 * assert.equal(blob.length, 38);
 * assert.deepEqual(decodeNodes6(blob)[0].address, { host: "2001:db8::1", port: 4222 });
 * ```
 */
export function encodeNodes6(nodes: readonly NodeInfo[]): Uint8Array {
  return encodeNodes(nodes, 6);
}

/**
 * Unpacks an `n6` blob.
 *
 * @param bytes A multiple of 38 bytes.
 * @returns The nodes, hosts in RFC 5952 form.
 * @throws {WireError} With reason `"bad-nodes"` if the length is not a multiple of 38.
 * @example A bad length
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNodes6 } from "./addresses.ts";
 * import { WireError } from "./errors.ts";
 *
 * assert.throws(() => decodeNodes6(new Uint8Array(26)), WireError);
 * ```
 */
export function decodeNodes6(bytes: Uint8Array): NodeInfo[] {
  return decodeNodes(bytes, 6);
}

/**
 * The `sa` blob of a reply: the requester's IP as seen by us, without port.
 *
 * @param address The requester's address (IPv4 or IPv6 host).
 * @returns 4 bytes for IPv4, 16 for IPv6.
 * @throws {TypeError} If the host is not an IP address.
 * @example IPv4 and IPv6
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSeenAddress } from "./addresses.ts";
 *
 * assert.deepEqual(encodeSeenAddress({ host: "127.0.0.1", port: 9 }), Uint8Array.from([127, 0, 0, 1]));
 * assert.equal(encodeSeenAddress({ host: "::1", port: 9 }).length, 16);
 * ```
 */
export function encodeSeenAddress(address: PeerAddress): Uint8Array {
  const host = address.host;
  return (host.includes(":")
    ? addressBytes(host, 6, "encode seen address")
    : addressBytes(host, 4, "encode seen address"));
}

/**
 * {@link encodeSeenAddress} for the RPC engine, which encodes the reply at
 * once: a host that is not an IP address gives undefined instead of an
 * error.
 *
 * @param address The requester's address.
 * @returns Its 4 or 16 bytes, or undefined.
 */
export function seenAddressBytes(address: PeerAddress): Uint8Array | undefined {
  const host = address.host;
  return host.includes(":") ? parseIpv6(host) : parseIpv4(host);
}

/**
 * Reads an `sa` blob back as host text, to learn our public address.
 *
 * @param bytes 4 or 16 bytes.
 * @returns The host, or undefined for another length (OpenDHT ignores those).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSeenAddress } from "./addresses.ts";
 *
 * assert.equal(decodeSeenAddress(Uint8Array.from([192, 0, 2, 1])), "192.0.2.1");
 * assert.equal(decodeSeenAddress(new Uint8Array(3)), undefined);
 * ```
 */
export function decodeSeenAddress(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) {
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  return bytes.length === 16 ? formatIpv6(bytes) : undefined;
}
