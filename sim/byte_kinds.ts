/**
 * `ByteKinds`: the DHT bytes some hosts send and receive, split by message
 * kind (the report's `presence_bytes_by_kind`): a query counts under its
 * method (`update` pushes also by what they carry: `update re` refreshed ids,
 * `update exp` expiries, `update values`), a reply or error under its query's
 * method with ` reply` or ` error`, value parts as `part`, anything else
 * (undecodable) as `other`. It reads only the top level of each bencoded
 * datagram, as a {@link DatagramObserver} of the simulated network.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteKinds } from "./byte_kinds.ts";
 * const text = (s: string) => new TextEncoder().encode(s);
 * const kinds = new ByteKinds(new Set([0]));
 * const query = text("d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:xy1:y1:qe");
 * const reply = text("d1:rd2:id20:bbbbbbbbbbbbbbbbbbbbe1:t2:xy1:y1:re");
 * kinds.observer("sent", 0, 1, query);
 * kinds.observer("received", 1, 0, reply);
 * assert.deepEqual(kinds.bytes(), { ping: query.length, "ping reply": reply.length });
 * ```
 *
 * @module
 */
import type { DatagramObserver } from "../lib/testing/simulated_network.ts";

/** Queries remembered for their replies before starting afresh. */
const MAX_PENDING_QUERIES = 200_000;

const D = 0x64; // d
const E = 0x65; // e
const I = 0x69; // i
const L = 0x6c; // l
const COLON = 0x3a;

/** End of the bencoded value at `at`, or -1 if malformed. */
function skip(bytes: Uint8Array, at: number): number {
  const first = bytes[at];
  if (first === I) {
    const end = bytes.indexOf(E, at);
    return end < 0 ? -1 : end + 1;
  }
  if (first === L || first === D) {
    let pos = at + 1;
    while (pos > 0 && pos < bytes.length && bytes[pos] !== E) {
      pos = skip(bytes, pos);
    }
    return pos > 0 && pos < bytes.length ? pos + 1 : -1;
  }
  const range = stringAt(bytes, at);
  return range === undefined ? -1 : range[1];
}

/** [start, end) of the bencoded string at `at`. */
function stringAt(
  bytes: Uint8Array,
  at: number,
): [number, number] | undefined {
  let length = 0;
  let pos = at;
  while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) {
    length = length * 10 + bytes[pos] - 0x30;
    pos++;
    if (pos - at > 7) return undefined;
  }
  if (pos === at || bytes[pos] !== COLON) return undefined;
  const start = pos + 1;
  return start + length <= bytes.length ? [start, start + length] : undefined;
}

const decoder = new TextDecoder();

/** The keys of the dict at `at` (its values skipped), or undefined. */
function dictKeys(
  bytes: Uint8Array,
  at: number,
  wanted: ReadonlySet<string>,
): Map<string, [number, number]> | undefined {
  if (bytes[at] !== D) return undefined;
  const found = new Map<string, [number, number]>();
  let pos = at + 1;
  while (pos < bytes.length && bytes[pos] !== E) {
    const key = stringAt(bytes, pos);
    if (key === undefined) return undefined;
    const end = skip(bytes, key[1]);
    if (end < 0) return undefined;
    const name = decoder.decode(bytes.subarray(key[0], key[1]));
    if (wanted.has(name)) found.set(name, [key[1], end]);
    pos = end;
  }
  return found;
}

const TOP_KEYS = new Set(["a", "q", "t", "y"]);
const UPDATE_KEYS = new Set(["re", "exp", "values"]);

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
    const t = text("t");
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
