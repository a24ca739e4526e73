/**
 * `TokenKeeper`: write tokens bound to the requester's address, with
 * OpenDHT's shape and lifetime (`docs/opendht-wire.md` §12) but unforgeable: a token is
 * HMAC-SHA-256 of the requester's IP and port under a rotating 32-byte
 * secret drawn from a {@link RandomBytes} (the system's cryptographic
 * generator unless the simulator passes its seeded one). OpenDHT hashes an
 * 8-byte secret with SHA-256; tokens are opaque to everyone but their maker,
 * so only the length (32 bytes) matters on the wire.
 *
 * Tokens from the current or the previous secret are accepted, so a token
 * lives at least one rotation period (15–45 minutes, drawn at random).
 *
 * Why not the node's {@link Rng}: it is a simulation generator whose state a
 * peer can recover from what it sees (node id, transaction ids); the secret
 * would follow, and with it a token for any address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenKeeper } from "./token_keeper.ts";
 * import { seededRng } from "../rng.ts";
 *
 * // Secrets from the system's generator; the rng only draws rotation periods.
 * const keeper = new TokenKeeper(seededRng(1), 0);
 * const peer = { host: "10.0.0.7", port: 4222 };
 * const token = keeper.make(peer, 0);
 * assert.ok(keeper.check(token, peer, 60_000));
 * assert.ok(!keeper.check(token, { host: "10.0.0.7", port: 4223 }, 60_000));
 * ```
 *
 * @module
 */
import { ipv4Number } from "./_ipv4_number.ts";
import { IntPairTable } from "./_int_pair_table.ts";
import { bytesEqual, hmacSha256Keyed, utf8 } from "../crypto.ts";
import { systemRandomBytes } from "../io/system_random.ts";
import type { RandomBytes, Rng } from "../rng.ts";
import type { PeerAddress } from "../transport.ts";

/** Token length in bytes (OpenDHT TOKEN_SIZE). */
export const TOKEN_BYTES = 32;
/** Shortest secret rotation period: 15 minutes. */
export const TOKEN_ROTATION_MIN_MS = 15 * 60_000;
/** Longest secret rotation period: 45 minutes. */
export const TOKEN_ROTATION_MAX_MS = 45 * 60_000;

/** Bytes of a token secret: 256 bits, an HMAC-SHA-256 key of full strength. */
const SECRET_BYTES = 32;

const TOKEN_CACHE_MAX = 256;

/** HMAC-SHA-256 under one secret, into `out` when given. */
type Keyed = (input: Uint8Array, out?: Uint8Array) => Uint8Array;

/** The key of an address that is not IPv4 in a {@link TokenCache}. */
function otherKey(address: PeerAddress): string {
  return `${address.host} ${address.port}`;
}

/**
 * Tokens made under one secret, by address (host and port: several sockets
 * behind one address, a NAT or load generators on one machine, each keep
 * theirs). Compact, since every node of a simulation holds two: the tokens
 * sit in one buffer of `TOKEN_CACHE_MAX` slots, and an IPv4 address finds
 * its slot in an {@link IntPairTable} (address, port), instead of a map per
 * host and a buffer per token, or a map keyed by a 48-bit number (a heap
 * object per key, and a table rebuilt as it grew and at every emptying).
 * Bounded: a full cache is emptied.
 */
class TokenCache {
  /** Slot of each IPv4 address: (address, port). */
  readonly #ipv4 = new IntPairTable();
  /** Slot of any other address, by `host port`. */
  #others: Map<string, number> | undefined;
  /** Slots used. */
  #count = 0;
  /** The tokens, slot after slot; grown by doubling up to the bound. */
  #bytes = new Uint8Array(0);

  /**
   * The cached token (a view of the cache's buffer), or undefined.
   *
   * @param address The requester.
   * @param ipv4 Its host from {@link ipv4Number} (-1 if not IPv4).
   */
  get(address: PeerAddress, ipv4: number): Uint8Array | undefined {
    let slot: number | undefined;
    if (ipv4 === -1) {
      slot = this.#others?.get(otherKey(address));
    } else {
      const at = this.#ipv4.find(ipv4, address.port & 0xffff);
      if (at >= 0) slot = this.#ipv4.valueAt(at);
    }
    if (slot === undefined) return undefined;
    const at = slot * TOKEN_BYTES;
    return this.#bytes.subarray(at, at + TOKEN_BYTES);
  }

  /**
   * The slot for `address`'s token (not yet cached): a view of the buffer,
   * to be filled by the caller at once.
   */
  add(address: PeerAddress, ipv4: number): Uint8Array {
    if (this.#count >= TOKEN_CACHE_MAX) this.clear();
    const slot = this.#count++;
    const at = slot * TOKEN_BYTES;
    if (at + TOKEN_BYTES > this.#bytes.length) {
      const grown = new Uint8Array(
        Math.min(TOKEN_CACHE_MAX, Math.max(8, (slot + 1) * 2)) * TOKEN_BYTES,
      );
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    if (ipv4 === -1) {
      (this.#others ??= new Map()).set(otherKey(address), slot);
    } else this.#ipv4.insert(ipv4, address.port & 0xffff, slot);
    return this.#bytes.subarray(at, at + TOKEN_BYTES);
  }

  /** Forgets every token, keeping the buffers for the next ones. */
  clear(): void {
    this.#ipv4.clear();
    this.#others?.clear();
    this.#count = 0;
  }
}

/** Makes and checks write tokens bound to a requester's address. */
export class TokenKeeper {
  readonly #rng: Rng;
  readonly #randomBytes: RandomBytes;
  /** HMAC-SHA-256 under the current secret (its key blocks hashed once). */
  #current: Keyed;
  /** The same under the previous secret. */
  #previous: Keyed;
  #rotateAtMs: number;

  /**
   * A keeper with fresh secrets.
   *
   * @param rng Random source for rotation periods (not secret).
   * @param nowMs Current time.
   * @param randomBytes Source of the secrets: a cryptographic one; only the
   * simulator passes a seeded one. Defaults to `systemRandomBytes`.
   */
  constructor(
    rng: Rng,
    nowMs: number,
    randomBytes: RandomBytes = systemRandomBytes,
  ) {
    this.#rng = rng;
    this.#randomBytes = randomBytes;
    this.#current = this.#secret();
    this.#previous = this.#secret();
    this.#rotateAtMs = nowMs + this.#period();
  }

  #secret(): Keyed {
    return hmacSha256Keyed(this.#randomBytes(SECRET_BYTES));
  }

  #period(): number {
    return TOKEN_ROTATION_MIN_MS +
      Math.floor(this.#rng() * (TOKEN_ROTATION_MAX_MS - TOKEN_ROTATION_MIN_MS));
  }

  #rotate(nowMs: number): void {
    while (nowMs >= this.#rotateAtMs) {
      this.#previous = this.#current;
      this.#current = this.#secret();
      this.#rotateAtMs += this.#period();
      // The cache of the secret that goes is emptied and serves the new
      // one: a fresh cache per rotation grew its buffers again, in every
      // node of a simulation, every few minutes.
      const emptied = this.#previousTokens;
      emptied.clear();
      this.#previousTokens = this.#currentTokens;
      this.#currentTokens = emptied;
    }
  }

  // Tokens already computed under the current and previous secrets, by
  // address: every find/get reply carries one, and an HMAC-SHA-256 per reply
  // adds up.
  #currentTokens = new TokenCache();
  #previousTokens = new TokenCache();

  #cached(
    cache: TokenCache,
    secret: Keyed,
    address: PeerAddress,
  ): Uint8Array {
    const ipv4 = ipv4Number(address.host);
    const known = cache.get(address, ipv4);
    if (known !== undefined) return known;
    // Made straight into the cache's slot (no bytes of their own).
    return secret(this.#input(address, ipv4), cache.add(address, ipv4));
  }

  /** An IPv4 token's input, written anew for each token made. */
  readonly #ipv4Input = new Uint8Array(6);

  /** The host's bytes (4 for IPv4, else its UTF-8), then the port's two. */
  #input(address: PeerAddress, ipv4: number): Uint8Array {
    const host = ipv4 === -1 ? utf8(address.host) : undefined;
    const hostLength = host === undefined ? 4 : host.length;
    const input = host === undefined
      ? this.#ipv4Input
      : new Uint8Array(hostLength + 2);
    if (host === undefined) {
      input[0] = ipv4 >>> 24;
      input[1] = (ipv4 >>> 16) & 0xff;
      input[2] = (ipv4 >>> 8) & 0xff;
      input[3] = ipv4 & 0xff;
    } else input.set(host, 0);
    input[hostLength] = (address.port >> 8) & 0xff;
    input[hostLength + 1] = address.port & 0xff;
    return input;
  }

  /**
   * A token for `address`.
   *
   * @param address Requester address.
   * @param nowMs Current time.
   * @returns 32 bytes.
   */
  make(address: PeerAddress, nowMs: number): Uint8Array {
    this.#rotate(nowMs);
    return this.#cached(this.#currentTokens, this.#current, address).slice();
  }

  /**
   * {@link TokenKeeper.make} without the copy, for an answer encoded at once
   * (find and get replies): the bytes are the keeper's own, so read them
   * and never change or keep them.
   *
   * @param address Requester address.
   * @param nowMs Current time.
   * @returns 32 bytes, shared.
   */
  makeShared(address: PeerAddress, nowMs: number): Uint8Array {
    this.#rotate(nowMs);
    return this.#cached(this.#currentTokens, this.#current, address);
  }

  /**
   * Whether `token` was made for `address` under the current or previous secret.
   *
   * @param token Token received.
   * @param address Sender address.
   * @param nowMs Current time.
   * @returns True if valid.
   */
  check(token: Uint8Array, address: PeerAddress, nowMs: number): boolean {
    this.#rotate(nowMs);
    if (!(token instanceof Uint8Array) || token.length !== TOKEN_BYTES) {
      return false;
    }
    return bytesEqual(
      token,
      this.#cached(this.#currentTokens, this.#current, address),
    ) ||
      bytesEqual(
        token,
        this.#cached(this.#previousTokens, this.#previous, address),
      );
  }
}
