/**
 * `ByteKinds`: the DHT bytes some hosts send and receive, split by message
 * kind (the report's `presence_bytes_by_kind`): a query counts under its
 * method (`update` pushes also by what they carry: `update re` refreshed ids,
 * `update exp` expiries, `update values`), a reply or error under its query's
 * method with ` reply` or ` error`, value parts as `part`, anything else
 * (undecodable) as `other`. It reads only the top level of each MessagePack
 * datagram, as a {@link DatagramObserver} of the simulated network.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteKinds } from "./byte_kinds.ts";
 * import { InfoHash } from "../lib/identity/info_hash.ts";
 * import { encodeMessage } from "../lib/dht/wire/encode.ts";
 *
 * const kinds = new ByteKinds(new Set([0]));
 * const header = { tid: 7, network: 0, userAgent: "RNG1" };
 * const ping = encodeMessage({
 *   kind: "request", method: "ping", senderId: InfoHash.get("a"), ...header,
 * });
 * const pong = encodeMessage({
 *   kind: "reply", senderId: InfoHash.get("b"), ...header,
 * });
 * kinds.observer("sent", 0, 1, ping);
 * kinds.observer("received", 1, 0, pong);
 * assert.deepEqual(kinds.bytes(), { ping: ping.length, "ping reply": pong.length });
 * ```
 *
 * @module
 */
import type { DatagramObserver } from "../lib/testing/simulated_network.ts";
import { PendingQueries } from "./_pending_queries.ts";

/** Queries remembered for their replies before starting afresh. */
const MAX_PENDING_QUERIES = 200_000;

// Payload bytes after the type byte of the fixed-size types (numbers, fixext).
const FIXED_PAYLOAD: Readonly<Record<number, number>> = {
  0xca: 4,
  0xcb: 8,
  0xcc: 1,
  0xcd: 2,
  0xce: 4,
  0xcf: 8,
  0xd0: 1,
  0xd1: 2,
  0xd2: 4,
  0xd3: 8,
  0xd4: 2,
  0xd5: 3,
  0xd6: 5,
  0xd7: 9,
  0xd8: 17,
};
// Width of the length field and extra header bytes (the ext type) of the
// length-prefixed types (bin, str, ext).
const SIZED: Readonly<Record<number, readonly [1 | 2 | 4, number]>> = {
  0xc4: [1, 0],
  0xc5: [2, 0],
  0xc6: [4, 0],
  0xd9: [1, 0],
  0xda: [2, 0],
  0xdb: [4, 0],
  0xc7: [1, 1],
  0xc8: [2, 1],
  0xc9: [4, 1],
};
// Width of the count field and items per count of array 16/32 and map 16/32.
const COUNTED: Readonly<Record<number, readonly [2 | 4, number]>> = {
  0xdc: [2, 1],
  0xdd: [4, 1],
  0xde: [2, 2],
  0xdf: [4, 2],
};

/** Big-endian unsigned integer of `width` bytes at `at`, or -1 past the end. */
function unsignedAt(bytes: Uint8Array, at: number, width: 1 | 2 | 4): number {
  if (at + width > bytes.length) return -1;
  let value = 0;
  for (let i = 0; i < width; i++) value = value * 256 + bytes[at + i];
  return value;
}

// The last header read by `readHeader`: its own bytes, the payload bytes
// after it and the items (map keys and values count apiece) that follow.
let headerSize = 0;
let headerPayload = 0;
let headerItems = 0;
/** Where the string found by the last `stringAt` ends. */
let stringEnd = 0;

/** Reads the msgpack header at `at` into the three above; false if malformed. */
function readHeader(bytes: Uint8Array, at: number): boolean {
  const b = bytes[at];
  if (b === undefined) return false;
  headerSize = 1;
  headerPayload = 0;
  headerItems = 0;
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
    return true;
  }
  if (b >= 0x80 && b <= 0x8f) headerItems = 2 * (b & 15);
  else if (b >= 0x90 && b <= 0x9f) headerItems = b & 15;
  else if (b >= 0xa0 && b <= 0xbf) headerPayload = b & 31;
  else if (FIXED_PAYLOAD[b] !== undefined) headerPayload = FIXED_PAYLOAD[b];
  else if (SIZED[b] !== undefined) {
    const [width, extra] = SIZED[b];
    const length = unsignedAt(bytes, at + 1, width);
    if (length < 0) return false;
    headerSize = 1 + width + extra;
    headerPayload = length;
  } else if (COUNTED[b] !== undefined) {
    const [width, factor] = COUNTED[b];
    const count = unsignedAt(bytes, at + 1, width);
    if (count < 0) return false;
    headerSize = 1 + width;
    headerItems = factor * count;
  } else return false;
  return true;
}

/** End of the msgpack value at `at`, or -1 if malformed. */
function skip(bytes: Uint8Array, at: number): number {
  if (!readHeader(bytes, at)) return -1;
  const items = headerItems;
  let pos = at + headerSize + headerPayload;
  for (let i = 0; i < items && pos >= 0; i++) pos = skip(bytes, pos);
  return pos > bytes.length ? -1 : pos;
}

/**
 * Start of the contents of the msgpack string (fixstr, str 8/16/32) at `at`
 * (its end in `stringEnd`), or -1 if there is none or it overruns the bytes.
 */
function stringAt(bytes: Uint8Array, at: number): number {
  const b = bytes[at];
  const isString = (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
  if (!isString || !readHeader(bytes, at)) return -1;
  const start = at + headerSize;
  stringEnd = start + headerPayload;
  return stringEnd <= bytes.length ? start : -1;
}

const decoder = new TextDecoder();

/**
 * The index in `wanted` of the (ASCII) name that `bytes[start, end)` spells,
 * compared byte by byte, or -1: the same answer as decoding first, without a
 * string per key.
 */
function asciiIndex(
  bytes: Uint8Array,
  start: number,
  end: number,
  wanted: readonly string[],
): number {
  for (let w = 0; w < wanted.length; w++) {
    const name = wanted[w];
    if (name.length !== end - start) continue;
    let i = 0;
    while (i < name.length && bytes[start + i] === name.charCodeAt(i)) i++;
    if (i === name.length) return w;
  }
  return -1;
}

/**
 * Finds the wanted keys of the map at `at`: the value of `wanted[i]` starts
 * at `found[2i]` and ends at `found[2i + 1]` (-1 when absent; the last one
 * when a key repeats). False if `at` holds no map or anything in it is
 * malformed (a key that is not a string included).
 */
function mapKeys(
  bytes: Uint8Array,
  at: number,
  wanted: readonly string[],
  found: Int32Array,
): boolean {
  found.fill(-1);
  const b = bytes[at];
  if (!((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf)) return false;
  if (!readHeader(bytes, at)) return false;
  const pairs = headerItems / 2;
  let pos = at + headerSize;
  for (let i = 0; i < pairs; i++) {
    const keyStart = stringAt(bytes, pos);
    if (keyStart < 0) return false;
    const keyEnd = stringEnd;
    const end = skip(bytes, keyEnd);
    if (end < 0) return false;
    const index = asciiIndex(bytes, keyStart, keyEnd, wanted);
    if (index >= 0) {
      found[2 * index] = keyEnd;
      found[2 * index + 1] = end;
    }
    pos = end;
  }
  return true;
}

const TOP_KEYS = ["a", "q", "t", "y"];
const [A, Q, T, Y] = [0, 1, 2, 3];
const UPDATE_KEYS = ["exp", "re", "values"];
/** The names of update pushes by the keys they carry (bit i: UPDATE_KEYS[i]), sorted and joined as before. */
const UPDATE_NAMES = Array.from({ length: 8 }, (_, mask) => {
  const carried = UPDATE_KEYS.filter((_, i) => mask & (1 << i)).join("+");
  return carried === "" ? "update" : `update ${carried}`;
});
/** Methods named without decoding (any other name is decoded). */
const METHODS = [
  "ping",
  "find",
  "get",
  "put",
  "listen",
  "refresh",
  "update",
];
const topFound = new Int32Array(2 * TOP_KEYS.length);
const updateFound = new Int32Array(2 * UPDATE_KEYS.length);

/**
 * The transaction id's msgpack bytes as a key part: up to six bytes as a
 * number (tagged with the length, so that lengths differ), longer ones
 * spelled out, absent ones as "u".
 */
function tidKey(
  bytes: Uint8Array,
  start: number,
  end: number,
): string | number {
  if (start < 0) return "u";
  const length = end - start;
  if (length > 6) return `j${bytes.subarray(start, end).join(",")}`;
  let value = length;
  for (let i = start; i < end; i++) value = value * 256 + bytes[i];
  return value;
}

/** Bytes of the observed hosts' datagrams, by message kind. */
export class ByteKinds {
  readonly #hosts: ReadonlySet<number>;
  readonly #bytes = new Map<string, number>();
  /** Querier, queried and tid → the query's method. */
  readonly #pending = new PendingQueries();
  /** Method → its reply's (error's) kind, made once. */
  readonly #replyNames = new Map<string, string>();
  readonly #errorNames = new Map<string, string>();

  /**
   * Counts nothing yet.
   *
   * @param hosts Host indexes whose sent and received bytes count.
   */
  constructor(hosts: ReadonlySet<number>) {
    this.#hosts = hosts;
  }

  /** Pass to `SimulatedNetwork.observe`. */
  readonly observer: DatagramObserver = (direction, source, target, bytes) => {
    const counted = this.#hosts.has(direction === "sent" ? source : target!);
    if (target === undefined) {
      if (counted) this.#add("other", bytes.length);
      return;
    }
    // Traffic between two hosts that are not counted (the plain DHT nodes)
    // counts nowhere, now or as the query of a counted reply: not decoded.
    if (!counted && !this.#hosts.has(direction === "sent" ? target : source)) {
      return;
    }
    const kind = this.#kind(direction, source, target, bytes);
    if (counted) this.#add(kind, bytes.length);
  };

  /**
   * Bytes by kind so far, largest first.
   *
   * @returns Kind → bytes.
   */
  bytes(): Record<string, number> {
    return Object.fromEntries(
      [...this.#bytes].sort((a, b) => b[1] - a[1]),
    );
  }

  #add(kind: string, length: number): void {
    this.#bytes.set(kind, (this.#bytes.get(kind) ?? 0) + length);
  }

  #kind(
    direction: "sent" | "received",
    source: number,
    target: number,
    bytes: Uint8Array,
  ): string {
    if (!mapKeys(bytes, 0, TOP_KEYS, topFound)) return "other";
    const yStart = topFound[2 * Y] < 0 ? -1 : stringAt(bytes, topFound[2 * Y]);
    if (yStart < 0 || stringEnd !== yStart + 1) return "other";
    const y = bytes[yStart];
    if (y === 0x70 /* p */) return "part";
    const tid = tidKey(bytes, topFound[2 * T], topFound[2 * T + 1]);
    if (y === 0x71 /* q */) {
      const method = this.#method(bytes);
      if (direction === "sent") {
        if (this.#pending.size >= MAX_PENDING_QUERIES) this.#pending.clear();
        this.#pending.set(source, target, tid, method);
      }
      return method;
    }
    if (y === 0x72 /* r */ || y === 0x65 /* e */) {
      const method = this.#pending.get(
        target,
        source,
        tid,
        direction === "received",
      );
      const names = y === 0x72 ? this.#replyNames : this.#errorNames;
      const name = method ?? "unknown";
      let kind = names.get(name);
      if (kind === undefined) {
        kind = `${name} ${y === 0x72 ? "reply" : "error"}`;
        if (names.size < 64) names.set(name, kind);
      }
      return kind;
    }
    return "other";
  }

  /** A query's method (`topFound` filled), named by what it carries if an update. */
  #method(bytes: Uint8Array): string {
    const start = topFound[2 * Q] < 0 ? -1 : stringAt(bytes, topFound[2 * Q]);
    if (start < 0) return "other";
    const end = stringEnd;
    const known = asciiIndex(bytes, start, end, METHODS);
    const method = known >= 0
      ? METHODS[known]
      : decoder.decode(bytes.subarray(start, end));
    if (method !== "update" || topFound[2 * A] < 0) return method;
    if (!mapKeys(bytes, topFound[2 * A], UPDATE_KEYS, updateFound)) {
      return method;
    }
    let mask = 0;
    for (let i = 0; i < UPDATE_KEYS.length; i++) {
      if (updateFound[2 * i] >= 0) mask |= 1 << i;
    }
    return UPDATE_NAMES[mask];
  }
}
