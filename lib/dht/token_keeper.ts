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

/** Bytes of a host as it goes into a token (4 bytes for IPv4, else UTF-8). */
function hostBytes(host: string): Uint8Array {
  // Dotted quads, four groups of 1 to 3 digits, parsed by hand (this runs
  // for every token made); each group is taken modulo 256, as a Uint8Array
  // stores it.
  const out = new Uint8Array(4);
  let group = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < host.length; i++) {
    const code = host.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39 && digits < 3) {
      value = value * 10 + code - 0x30;
      digits++;
    } else if (code === 0x2e && digits > 0 && group < 3) {
      out[group++] = value;
      value = 0;
      digits = 0;
    } else return utf8(host);
  }
  if (group !== 3 || digits === 0) return utf8(host);
  out[3] = value;
  return out;
}

/**
 * Tokens made under one secret, by host then port: several sockets behind
 * one address (a NAT, or load generators on one machine) each keep theirs.
 * Bounded: a full cache is emptied.
 */
class TokenCache {
  readonly #byHost = new Map<string, Map<number, Uint8Array>>();
  #size = 0;

  get(address: PeerAddress): Uint8Array | undefined {
    return this.#byHost.get(address.host)?.get(address.port);
  }

  set(address: PeerAddress, token: Uint8Array): void {
    if (this.#size >= TOKEN_CACHE_MAX) {
      this.#byHost.clear();
      this.#size = 0;
    }
    let ports = this.#byHost.get(address.host);
    if (ports === undefined) {
      ports = new Map();
      this.#byHost.set(address.host, ports);
    }
    ports.set(address.port, token);
    this.#size++;
  }
}

/** Makes and checks write tokens bound to a requester's address. */
export class TokenKeeper {
  readonly #rng: Rng;
  readonly #randomBytes: RandomBytes;
  /** HMAC-SHA-256 under the current secret (its key blocks hashed once). */
  #current: (input: Uint8Array) => Uint8Array;
  /** The same under the previous secret. */
  #previous: (input: Uint8Array) => Uint8Array;
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

  #secret(): (input: Uint8Array) => Uint8Array {
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
      this.#previousTokens = this.#currentTokens;
      this.#currentTokens = new TokenCache();
    }
  }

  // Tokens already computed under the current and previous secrets, by
  // address: every find/get reply carries one, and an HMAC-SHA-256 per reply
  // adds up.
  #currentTokens = new TokenCache();
  #previousTokens = new TokenCache();

  #cached(
    cache: TokenCache,
    secret: (input: Uint8Array) => Uint8Array,
    address: PeerAddress,
  ): Uint8Array {
    const cached = cache.get(address);
    if (cached !== undefined) return cached;
    const token = this.#token(secret, address);
    cache.set(address, token);
    return token;
  }

  #token(
    secret: (input: Uint8Array) => Uint8Array,
    address: PeerAddress,
  ): Uint8Array {
    const host = hostBytes(address.host);
    const input = new Uint8Array(host.length + 2);
    input.set(host, 0);
    input[input.length - 2] = (address.port >> 8) & 0xff;
    input[input.length - 1] = address.port & 0xff;
    return secret(input);
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
