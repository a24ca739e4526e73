/**
 * `ProvenAddresses`: the addresses (IP and port) that showed us they
 * receive there, by sending back a write token we gave them (in a put,
 * refresh, listen, or a get carrying one). A token is bound to the address
 * it was given to, so a sender that forges its source address cannot show
 * one. Only proven addresses get large answers; the others get at most
 * {@link UNPROVEN_REPLY_FACTOR} times their request's bytes, so that the
 * node cannot be used to flood a forged address (UDP amplification).
 *
 * Bounded: at most {@link ProvenAddresses.capacity} addresses, each for
 * {@link PROVEN_LIFETIME_MS}; the least recently proven go first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProvenAddresses } from "./proven_addresses.ts";
 *
 * const proven = new ProvenAddresses(2);
 * const a = { host: "192.0.2.1", port: 4222 };
 * assert.equal(proven.has(a, 0), false);
 * proven.add(a, 0);
 * assert.equal(proven.has(a, 1_000), true);
 * assert.equal(proven.has({ host: "192.0.2.1", port: 4223 }, 1_000), false);
 * ```
 *
 * @module
 */
import { formatAddress, type PeerAddress } from "../transport.ts";

/**
 * Bytes a node sends in answer to one request from an unproven address, at
 * most, as a multiple of the request's bytes. A reply with closer nodes and
 * a token (what every Kademlia answer is, ~300 bytes for 8 IPv4 nodes) is
 * always below it for a well-formed request (at least ~62 bytes); values are
 * added only while they fit.
 */
export const UNPROVEN_REPLY_FACTOR = 8;

/** An address stays proven this long after its last token (tokens live 15–90 min). */
export const PROVEN_LIFETIME_MS = 15 * 60_000;

/**
 * Bytes of single-value answers (a `get` whose where names one value id:
 * OpenDHT's second pagination step) an unproven address may still get per
 * {@link UNPROVEN_ALLOWANCE_WINDOW_MS}. Stock OpenDHT requesters never send
 * a token with `get`; without this they could not fetch a value larger than
 * the factor allows (a 3 KB certificate) from our nodes. The price: a forged
 * source can make one node send that many bytes per window to one victim.
 */
export const UNPROVEN_ALLOWANCE_BYTES = 8 * 1_024;
/** The window of {@link UNPROVEN_ALLOWANCE_BYTES}: one minute. */
export const UNPROVEN_ALLOWANCE_WINDOW_MS = 60_000;
/** Allowance bytes one node sends in all per window, to all unproven addresses (~4 KiB/s). */
export const UNPROVEN_ALLOWANCE_TOTAL_BYTES = 256 * 1_024;

/** Addresses that returned one of our tokens, bounded; and the allowance of the others. */
export class ProvenAddresses {
  /**
   * Both maps are made on first use: most nodes of a large simulation are
   * never sent a token or asked for an allowance, and an empty Map costs
   * ~150 bytes.
   */
  #until: Map<string, number> | undefined;
  #spent: Map<string, { startMs: number; bytes: number }> | undefined;
  #total = { startMs: -Infinity, bytes: 0 };
  /** Most addresses remembered. */
  readonly capacity: number;

  /**
   * An empty set.
   *
   * @param capacity Most addresses remembered (the oldest are forgotten).
   */
  constructor(capacity = 4_096) {
    this.capacity = capacity;
  }

  /**
   * Notes that `address` returned a valid token at `nowMs`.
   *
   * @param address The sender's address (IP and port).
   * @param nowMs Current time.
   */
  add(address: PeerAddress, nowMs: number): void {
    const text = formatAddress(address);
    const until = this.#until ??= new Map();
    until.delete(text);
    if (until.size >= this.capacity) {
      const oldest = until.keys().next().value;
      if (oldest !== undefined) until.delete(oldest);
    }
    until.set(text, nowMs + PROVEN_LIFETIME_MS);
  }

  /**
   * Takes `bytes` from the allowance of unproven `address` (and of the
   * node), if both have that much left in their current window.
   *
   * @param address The requester's address.
   * @param bytes Bytes of the answer beyond what the factor allows.
   * @param nowMs Current time.
   * @returns Whether the answer may be sent whole.
   */
  spend(address: PeerAddress, bytes: number, nowMs: number): boolean {
    if (nowMs - this.#total.startMs >= UNPROVEN_ALLOWANCE_WINDOW_MS) {
      this.#total = { startMs: nowMs, bytes: 0 };
    }
    const text = formatAddress(address);
    const spent = this.#spent ??= new Map();
    let window = spent.get(text);
    if (
      window === undefined ||
      nowMs - window.startMs >= UNPROVEN_ALLOWANCE_WINDOW_MS
    ) {
      spent.delete(text);
      if (spent.size >= this.capacity) {
        const oldest = spent.keys().next().value;
        if (oldest !== undefined) spent.delete(oldest);
      }
      window = { startMs: nowMs, bytes: 0 };
      spent.set(text, window);
    }
    if (
      window.bytes + bytes > UNPROVEN_ALLOWANCE_BYTES ||
      this.#total.bytes + bytes > UNPROVEN_ALLOWANCE_TOTAL_BYTES
    ) return false;
    window.bytes += bytes;
    this.#total.bytes += bytes;
    return true;
  }

  /**
   * Whether `address` is proven at `nowMs`.
   *
   * @param address The sender's address.
   * @param nowMs Current time.
   * @returns True when it returned a token within {@link PROVEN_LIFETIME_MS}.
   */
  has(address: PeerAddress, nowMs: number): boolean {
    if (this.#until === undefined) return false;
    const text = formatAddress(address);
    const until = this.#until.get(text);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.#until.delete(text);
    return false;
  }
}
