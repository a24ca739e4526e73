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

/** Length of a msgpack header at `at` and the counts it announces. */
function header(
  bytes: Uint8Array,
  at: number,
): { size: number; payload: number; items: number } | undefined {
  const b = bytes[at];
  if (b === undefined) return undefined;
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
    return { size: 1, payload: 0, items: 0 };
  }
  if (b >= 0x80 && b <= 0x8f) {
    return { size: 1, payload: 0, items: 2 * (b & 15) };
  }
  if (b >= 0x90 && b <= 0x9f) return { size: 1, payload: 0, items: b & 15 };
  if (b >= 0xa0 && b <= 0xbf) return { size: 1, payload: b & 31, items: 0 };
  const fixed = FIXED_PAYLOAD[b];
  if (fixed !== undefined) return { size: 1, payload: fixed, items: 0 };
  const sized = SIZED[b];
  if (sized !== undefined) {
    const [width, extra] = sized;
    const length = unsignedAt(bytes, at + 1, width);
    return length < 0
      ? undefined
      : { size: 1 + width + extra, payload: length, items: 0 };
  }
  const counted = COUNTED[b];
  if (counted !== undefined) {
    const [width, factor] = counted;
    const count = unsignedAt(bytes, at + 1, width);
    return count < 0
      ? undefined
      : { size: 1 + width, payload: 0, items: factor * count };
  }
  return undefined;
}

/** End of the msgpack value at `at`, or -1 if malformed. */
function skip(bytes: Uint8Array, at: number): number {
  const head = header(bytes, at);
  if (head === undefined) return -1;
  let pos = at + head.size + head.payload;
  for (let i = 0; i < head.items && pos >= 0; i++) pos = skip(bytes, pos);
  return pos > bytes.length ? -1 : pos;
}

/** [start, end) of the msgpack string at `at`. */
function stringAt(
  bytes: Uint8Array,
  at: number,
): [number, number] | undefined {
  const b = bytes[at];
  const isString = (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
  const head = isString ? header(bytes, at) : undefined;
  if (head === undefined) return undefined;
  const start = at + head.size;
  return start + head.payload <= bytes.length
    ? [start, start + head.payload]
    : undefined;
}

const decoder = new TextDecoder();

/**
 * The wanted (ASCII) name that `bytes[start, end)` spells, compared byte by
 * byte: the same answer as decoding first, without a string per key.
 */
function asciiKey(
  bytes: Uint8Array,
  start: number,
  end: number,
  wanted: readonly string[],
): string | undefined {
  for (const name of wanted) {
    if (name.length !== end - start) continue;
    let i = 0;
    while (i < name.length && bytes[start + i] === name.charCodeAt(i)) i++;
    if (i === name.length) return name;
  }
  return undefined;
}

/** The wanted keys of the map at `at`, with their values' ranges. */
function dictKeys(
  bytes: Uint8Array,
  at: number,
  wanted: readonly string[],
): Map<string, [number, number]> | undefined {
  const b = bytes[at];
  if (!((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf)) {
    return undefined;
  }
  const head = header(bytes, at);
  if (head === undefined) return undefined;
  const found = new Map<string, [number, number]>();
  let pos = at + head.size;
  for (let i = 0; i < head.items / 2; i++) {
    const key = stringAt(bytes, pos);
    if (key === undefined) return undefined;
    const end = skip(bytes, key[1]);
    if (end < 0) return undefined;
    const name = asciiKey(bytes, key[0], key[1], wanted);
    if (name !== undefined) found.set(name, [key[1], end]);
    pos = end;
  }
  return found;
}

const TOP_KEYS = ["a", "q", "t", "y"];
const UPDATE_KEYS = ["re", "exp", "values"];

/** Bytes of the observed hosts' datagrams, by message kind. */
export class ByteKinds {
  readonly #hosts: ReadonlySet<number>;
  readonly #bytes = new Map<string, number>();
  /** "querier>queried:tid" → the query's method. */
  readonly #pending = new Map<string, string>();

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
    const top = dictKeys(bytes, 0, TOP_KEYS);
    const text = (name: string) => {
      const range = top?.get(name);
      const string = range && stringAt(bytes, range[0]);
      return string && decoder.decode(bytes.subarray(string[0], string[1]));
    };
    const y = text("y");
    const tRange = top?.get("t");
    const t = tRange && bytes.subarray(tRange[0], tRange[1]).join(",");
    if (y === "p") return "part";
    if (y === "q") {
      let method = text("q") ?? "other";
      if (method === "update") {
        const args = top?.get("a");
        const keys = args && dictKeys(bytes, args[0], UPDATE_KEYS);
        const carried = [...keys?.keys() ?? []].sort().join("+");
        if (carried !== "") method = `update ${carried}`;
      }
      if (direction === "sent") {
        if (this.#pending.size >= MAX_PENDING_QUERIES) this.#pending.clear();
        this.#pending.set(`${source}>${target}:${t}`, method);
      }
      return method;
    }
    if (y === "r" || y === "e") {
      const key = `${target}>${source}:${t}`;
      const method = this.#pending.get(key);
      if (direction === "received") this.#pending.delete(key);
      return `${method ?? "unknown"} ${y === "r" ? "reply" : "error"}`;
    }
    return "other";
  }
}
