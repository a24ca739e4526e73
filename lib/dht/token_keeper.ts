/**
 * `TokenKeeper`: write tokens as OpenDHT makes them (spec §12): SHA-256 of a
 * rotating 8-byte secret, the requester's IP and its port. Tokens from the
 * current or the previous secret are accepted, so a token lives at least one
 * rotation period (15–45 minutes, drawn at random).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenKeeper } from "./token_keeper.ts";
 * import { seededRng } from "../rng.ts";
 *
 * const keeper = new TokenKeeper(seededRng(1), 0);
 * const peer = { host: "10.0.0.7", port: 4222 };
 * const token = keeper.make(peer, 0);
 * assert.ok(keeper.check(token, peer, 60_000));
 * assert.ok(!keeper.check(token, { host: "10.0.0.7", port: 4223 }, 60_000));
 * ```
 *
 * @module
 */
import { bytesEqual, sha256, utf8 } from "../crypto.ts";
import type { Rng } from "../rng.ts";
import type { PeerAddress } from "../transport.ts";

/** Token length in bytes (OpenDHT TOKEN_SIZE). */
export const TOKEN_BYTES = 32;
/** Shortest secret rotation period: 15 minutes. */
export const TOKEN_ROTATION_MIN_MS = 15 * 60_000;
/** Longest secret rotation period: 45 minutes. */
export const TOKEN_ROTATION_MAX_MS = 45 * 60_000;

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

/** A token cached for a host, and the port it was made for. */
interface CachedToken {
  readonly port: number;
  readonly token: Uint8Array;
}

/** Makes and checks write tokens bound to a requester's address. */
export class TokenKeeper {
  readonly #rng: Rng;
  #current: Uint8Array;
  #previous: Uint8Array;
  #rotateAtMs: number;

  /**
   * A keeper with fresh secrets.
   *
   * @param rng Random source for secrets and rotation periods.
   * @param nowMs Current time.
   */
  constructor(rng: Rng, nowMs: number) {
    this.#rng = rng;
    this.#current = this.#secret();
    this.#previous = this.#secret();
    this.#rotateAtMs = nowMs + this.#period();
  }

  #secret(): Uint8Array {
    const secret = new Uint8Array(8);
    for (let i = 0; i < secret.length; i++) {
      secret[i] = Math.floor(this.#rng() * 256);
    }
    return secret;
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
      this.#currentTokens = new Map();
    }
  }

  // Tokens already computed under the current and previous secrets, by
  // address: every find/get reply carries one, and a SHA-256 per reply adds
  // up. Bounded: a full cache is emptied.
  #currentTokens = new Map<string, CachedToken>();
  #previousTokens = new Map<string, CachedToken>();

  #cached(
    cache: Map<string, CachedToken>,
    secret: Uint8Array,
    address: PeerAddress,
  ): Uint8Array {
    // Keyed by host, the port checked (no key string to build per call).
    const entry = cache.get(address.host);
    if (entry !== undefined && entry.port === address.port) return entry.token;
    const token = this.#token(secret, address);
    if (entry === undefined && cache.size >= TOKEN_CACHE_MAX) cache.clear();
    cache.set(address.host, { port: address.port, token });
    return token;
  }

  #token(secret: Uint8Array, address: PeerAddress): Uint8Array {
    const host = hostBytes(address.host);
    const input = new Uint8Array(secret.length + host.length + 2);
    input.set(secret, 0);
    input.set(host, secret.length);
    input[input.length - 2] = (address.port >> 8) & 0xff;
    input[input.length - 1] = address.port & 0xff;
    return sha256(input);
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
    const token = this.#cached(this.#currentTokens, this.#current, address);
    const copy = new Uint8Array(token.length);
    for (let i = 0; i < token.length; i++) copy[i] = token[i];
    return copy;
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
