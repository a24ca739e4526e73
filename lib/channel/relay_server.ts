/**
 * A relay for two devices whose NATs cannot punch to each other (both
 * symmetric; `punchOutlook`): both join with the token of their candidate
 * exchange, the relay pairs the two addresses that joined with the same
 * token, then forwards every other datagram from one to the other as it is.
 * The secure channel runs end to end through it, so the relay sees only
 * ciphertext (and who talks to whom).
 *
 * - **Joining.** A JOIN without a valid cookie is answered with one
 *   CHALLENGE of the same size carrying a cookie (HMAC of the address, the
 *   token and the minute under a secret from `randomBytes`); only a JOIN
 *   that echoes it counts. So an address is paired only once it has shown
 *   it receives at that address: a spoofed JOIN in a victim's name gets the
 *   victim one datagram no larger than the spoofed one, and no pairing.
 * - **No amplification.** Before pairing, each datagram in is answered
 *   with at most one of the same size; after, each datagram in is forwarded
 *   once, to the peer that proved its address and asked for this token.
 * - **Bounds** (options): addresses waiting for their peer, per origin
 *   (IPv4 address, IPv6 /64) and in all; pairings per origin and in all;
 *   bytes a second forwarded per paired address (token bucket); a pairing
 *   idle for {@link RelayServerOptions.idleMs} or older than
 *   {@link RelayServerOptions.lifetimeMs} ends. What overflows is dropped
 *   and counted.
 *
 * @example Two clients pair, then a datagram crosses
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../testing/simulated_network.ts";
 * import { RelayServer } from "./relay_server.ts";
 * import { RelayJoin } from "./relay_join.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const [a, b, r] = [network.attach(), network.attach(), network.attach()];
 * const relay = new RelayServer({ socket: r, clock, randomBytes: rngBytes(seededRng(2)) });
 * const token = new Uint8Array(16).fill(9);
 * const joinA = new RelayJoin({ transport: a, clock }, { token, relay: r.localAddress });
 * const joinB = new RelayJoin({ transport: b, clock }, { token, relay: r.localAddress });
 * const got: number[] = [];
 * a.receive((bytes, from) => joinA.handle(bytes, from));
 * b.receive((bytes, from) => joinB.handle(bytes, from) || got.push(bytes[0]));
 * joinA.start();
 * joinB.start();
 * clock.advance(1_000);
 * assert.equal(joinA.result?.kind, "punched");
 * assert.equal(joinB.result?.kind, "punched");
 * a.send(r.localAddress, new Uint8Array([42]));
 * clock.advance(100);
 * assert.deepEqual(got, [42]);
 * relay.close();
 * ```
 *
 * @module
 */

import type { Clock, Timer } from "../clock.ts";
import { hmacSha256 } from "../crypto.ts";
import { originOf } from "../dht/origin_shares.ts";
import type { RandomBytes } from "../rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import {
  decodeRelay,
  encodeRelay,
  isRelayDatagram,
  RELAY_COOKIE_BYTES,
  RelayKind,
} from "./_relay_wire.ts";

/** What a {@link RelayServer} runs on. */
export interface RelayServerComponents {
  /** The relay's own UDP socket (its receive handler is taken over). */
  readonly socket: Transport;
  /** Times cookies, idle pairings and the rate buckets. */
  readonly clock: Clock;
  /** The cookie secret. */
  readonly randomBytes: RandomBytes;
}

/** Settings of a {@link RelayServer}. */
export interface RelayServerOptions {
  /** Addresses waiting for their peer, in all. @default {1_024} */
  readonly maxWaiting?: number;
  /**
   * Addresses waiting for their peer, per origin: a device coming online
   * joins for each contact it cannot punch to at once. @default {32}
   */
  readonly maxWaitingPerOrigin?: number;
  /** How long an address waits for its peer. @default {30_000} */
  readonly waitMs?: number;
  /** Pairings at once, in all. @default {1_024} */
  readonly maxPairings?: number;
  /** Pairings at once with an address of one origin (one device's contacts). @default {32} */
  readonly maxPairingsPerOrigin?: number;
  /** Bytes a second forwarded from one paired address (burst: one second's). @default {65_536} */
  readonly bytesPerSecond?: number;
  /** A pairing with no datagram this long ends. @default {60_000} */
  readonly idleMs?: number;
  /** A pairing ends this long after it began, however busy. @default {3_600_000} */
  readonly lifetimeMs?: number;
  /** Challenges a second to one origin (each the size of the JOIN it answers). @default {20} */
  readonly challengesPerOriginPerSecond?: number;
}

/** Counters of a {@link RelayServer}. */
export interface RelayServerCounters {
  /** Challenges sent (one per JOIN without a valid cookie). */
  challenges: number;
  /** Pairings made. */
  paired: number;
  /** Datagrams forwarded. */
  forwarded: number;
  /** Bytes forwarded. */
  forwardedBytes: number;
  /** Datagrams dropped: from an address not paired, malformed. */
  droppedUnpaired: number;
  /** Datagrams dropped: over a paired address's byte rate. */
  droppedRate: number;
  /** JOINs dropped: waiting or pairing tables full (per origin or in all). */
  droppedFull: number;
}

interface Waiting {
  readonly address: PeerAddress;
  readonly origin: string;
  readonly sinceMs: number;
}

interface Side {
  readonly address: PeerAddress;
  readonly origin: string;
  readonly token: string;
  peer?: Side;
  readonly startMs: number;
  lastMs: number;
  tokens: number;
  refillMs: number;
}

const MINUTE_MS = 60_000;
/** Origins whose challenge rate is tracked at once. */
const MAX_CHALLENGED = 4_096;
const SWEEP_MS = 10_000;

/** The relay; see the module documentation. */
export class RelayServer {
  /** Running totals, for tests and the simulator. */
  readonly counters: RelayServerCounters = {
    challenges: 0,
    paired: 0,
    forwarded: 0,
    forwardedBytes: 0,
    droppedUnpaired: 0,
    droppedRate: 0,
    droppedFull: 0,
  };
  readonly #socket: Transport;
  readonly #clock: Clock;
  readonly #secret: Uint8Array;
  readonly #o: Required<RelayServerOptions>;
  /** Token hex → the address waiting with it. */
  readonly #waiting = new Map<string, Waiting>();
  /** Address key → its side of a pairing. */
  readonly #sides = new Map<string, Side>();
  readonly #waitingPerOrigin = new Map<string, number>();
  readonly #pairedPerOrigin = new Map<string, number>();
  #sweep: Timer | undefined;
  #closed = false;
  /** Origin → challenges sent to it in the current second. */
  readonly #challenged = new Map<string, { startMs: number; count: number }>();

  /**
   * A relay on `components.socket`, serving at once.
   *
   * @param components Socket, clock, randomness.
   * @param options Bounds.
   */
  constructor(
    components: RelayServerComponents,
    options: RelayServerOptions = {},
  ) {
    this.#socket = components.socket;
    this.#clock = components.clock;
    this.#secret = components.randomBytes(32);
    this.#o = {
      maxWaiting: options.maxWaiting ?? 1_024,
      maxWaitingPerOrigin: options.maxWaitingPerOrigin ?? 32,
      waitMs: options.waitMs ?? 30_000,
      maxPairings: options.maxPairings ?? 1_024,
      maxPairingsPerOrigin: options.maxPairingsPerOrigin ?? 32,
      bytesPerSecond: options.bytesPerSecond ?? 65_536,
      idleMs: options.idleMs ?? 60_000,
      lifetimeMs: options.lifetimeMs ?? 3_600_000,
      challengesPerOriginPerSecond: options.challengesPerOriginPerSecond ?? 20,
    };
    this.#socket.receive((bytes, from) => this.handle(bytes, from));
  }

  /** Pairings live now. */
  get pairings(): number {
    return this.#sides.size / 2;
  }

  /** Stops serving (the socket stays open; close it apart). */
  close(): void {
    this.#closed = true;
    this.#sweep?.cancel();
    this.#sweep = undefined;
    this.#waiting.clear();
    this.#sides.clear();
    this.#waitingPerOrigin.clear();
    this.#pairedPerOrigin.clear();
    this.#challenged.clear();
  }

  /**
   * Handles one datagram that arrived at the relay's socket.
   *
   * @param bytes The datagram.
   * @param from Its source.
   */
  handle(bytes: Uint8Array, from: PeerAddress): void {
    if (this.#closed) return;
    const nowMs = this.#clock.now();
    const key = formatAddress(from);
    const side = this.#live(this.#sides.get(key), nowMs);
    if (isRelayDatagram(bytes)) {
      this.#onControl(bytes, from, key, side, nowMs);
      return;
    }
    if (side?.peer === undefined) {
      this.counters.droppedUnpaired += 1;
      return;
    }
    if (!this.#spend(side, bytes.length, nowMs)) {
      this.counters.droppedRate += 1;
      return;
    }
    side.lastMs = nowMs;
    side.peer.lastMs = nowMs;
    this.counters.forwarded += 1;
    this.counters.forwardedBytes += bytes.length;
    this.#socket.send(side.peer.address, bytes);
  }

  #onControl(
    bytes: Uint8Array,
    from: PeerAddress,
    key: string,
    side: Side | undefined,
    nowMs: number,
  ): void {
    const message = decodeRelay(bytes);
    if (message === undefined || message.kind !== RelayKind.JOIN) {
      this.counters.droppedUnpaired += 1;
      return;
    }
    const token = hex(message.token);
    if (!this.#cookieValid(message.cookie, key, token, nowMs)) {
      if (!this.#mayChallenge(originOf(from.host).origin, nowMs)) {
        this.counters.droppedFull += 1;
        return;
      }
      this.counters.challenges += 1;
      const cookie = this.#cookie(key, token, Math.floor(nowMs / MINUTE_MS));
      this.#socket.send(
        from,
        encodeRelay({
          kind: RelayKind.CHALLENGE,
          token: message.token,
          cookie,
        }),
      );
      return;
    }
    const paired = encodeRelay({
      kind: RelayKind.PAIRED,
      token: message.token,
      cookie: message.cookie,
    });
    if (side !== undefined) {
      // Already paired (its PAIRED was lost, or it asks again): say so if
      // it is the same token; another token from a paired address is not
      // taken.
      if (side.token === token) this.#socket.send(from, paired);
      return;
    }
    const origin = originOf(from.host).origin;
    const waiting = this.#waiting.get(token);
    if (waiting === undefined || nowMs - waiting.sinceMs >= this.#o.waitMs) {
      if (waiting !== undefined) this.#unwait(token, waiting);
      this.#wait(token, { address: from, origin, sinceMs: nowMs });
      return;
    }
    if (formatAddress(waiting.address) === key) return;
    if (!this.#pair(token, waiting, { address: from, origin }, nowMs)) return;
    this.#socket.send(from, paired);
  }

  #wait(token: string, waiting: Waiting): void {
    const count = this.#waitingPerOrigin.get(waiting.origin) ?? 0;
    if (
      this.#waiting.size >= this.#o.maxWaiting ||
      count >= this.#o.maxWaitingPerOrigin
    ) {
      this.counters.droppedFull += 1;
      return;
    }
    this.#waiting.set(token, waiting);
    this.#waitingPerOrigin.set(waiting.origin, count + 1);
    this.#scheduleSweep();
  }

  #unwait(token: string, waiting: Waiting): void {
    this.#waiting.delete(token);
    decrement(this.#waitingPerOrigin, waiting.origin);
  }

  #pair(
    token: string,
    first: Waiting,
    second: { address: PeerAddress; origin: string },
    nowMs: number,
  ): boolean {
    const max = this.#o.maxPairingsPerOrigin;
    const firstCount = this.#pairedPerOrigin.get(first.origin) ?? 0;
    const secondCount = this.#pairedPerOrigin.get(second.origin) ?? 0;
    if (
      this.pairings >= this.#o.maxPairings || firstCount >= max ||
      secondCount + (first.origin === second.origin ? 1 : 0) >= max
    ) {
      this.counters.droppedFull += 1;
      return false;
    }
    this.#unwait(token, first);
    const make = (address: PeerAddress, origin: string): Side => ({
      address,
      origin,
      token,
      startMs: nowMs,
      lastMs: nowMs,
      tokens: this.#o.bytesPerSecond,
      refillMs: nowMs,
    });
    const a = make(first.address, first.origin);
    const b = make(second.address, second.origin);
    a.peer = b;
    b.peer = a;
    this.#sides.set(formatAddress(a.address), a);
    this.#sides.set(formatAddress(b.address), b);
    for (const origin of [a.origin, b.origin]) {
      this.#pairedPerOrigin.set(
        origin,
        (this.#pairedPerOrigin.get(origin) ?? 0) + 1,
      );
    }
    this.counters.paired += 1;
    this.#scheduleSweep();
    return true;
  }

  /** The side, unless its pairing has ended (then it is removed). */
  #live(side: Side | undefined, nowMs: number): Side | undefined {
    if (side === undefined) return undefined;
    if (
      nowMs - side.lastMs < this.#o.idleMs &&
      nowMs - side.startMs < this.#o.lifetimeMs
    ) {
      return side;
    }
    this.#unpair(side);
    return undefined;
  }

  #unpair(side: Side): void {
    for (const end of [side, side.peer]) {
      if (end === undefined) continue;
      if (this.#sides.get(formatAddress(end.address)) !== end) continue;
      this.#sides.delete(formatAddress(end.address));
      decrement(this.#pairedPerOrigin, end.origin);
    }
  }

  /**
   * Counts a challenge to an origin: at most
   * {@link RelayServerOptions.challengesPerOriginPerSecond}, so that JOINs
   * spoofed in a victim's name cannot make the relay a steady reflector.
   */
  #mayChallenge(origin: string, nowMs: number): boolean {
    let window = this.#challenged.get(origin);
    if (window === undefined || nowMs - window.startMs >= 1_000) {
      if (window === undefined && this.#challenged.size >= MAX_CHALLENGED) {
        // Windows of past seconds go first; if all are current, refuse.
        for (const [known, past] of this.#challenged) {
          if (nowMs - past.startMs >= 1_000) this.#challenged.delete(known);
        }
        if (this.#challenged.size >= MAX_CHALLENGED) return false;
      }
      window = { startMs: nowMs, count: 0 };
      this.#challenged.set(origin, window);
    }
    if (window.count >= this.#o.challengesPerOriginPerSecond) return false;
    window.count += 1;
    return true;
  }

  /** Token bucket of one paired address. */
  #spend(side: Side, bytes: number, nowMs: number): boolean {
    const rate = this.#o.bytesPerSecond;
    side.tokens = Math.min(
      rate,
      side.tokens + (nowMs - side.refillMs) * rate / 1_000,
    );
    side.refillMs = nowMs;
    if (side.tokens < bytes) return false;
    side.tokens -= bytes;
    return true;
  }

  #cookie(key: string, token: string, minute: number): Uint8Array {
    const data = new TextEncoder().encode(`${key}|${token}|${minute}`);
    return hmacSha256(this.#secret, data).slice(0, RELAY_COOKIE_BYTES);
  }

  /** A cookie of this minute or the one before, for this address and token. */
  #cookieValid(
    cookie: Uint8Array,
    key: string,
    token: string,
    nowMs: number,
  ): boolean {
    const minute = Math.floor(nowMs / MINUTE_MS);
    return equal(cookie, this.#cookie(key, token, minute)) ||
      equal(cookie, this.#cookie(key, token, minute - 1));
  }

  /** Sweeps ended waits and pairings every 10 s while there are any. */
  #scheduleSweep(): void {
    if (this.#sweep !== undefined || this.#closed) return;
    this.#sweep = this.#clock.setTimer(SWEEP_MS, () => {
      this.#sweep = undefined;
      const nowMs = this.#clock.now();
      for (const [token, waiting] of [...this.#waiting]) {
        if (nowMs - waiting.sinceMs >= this.#o.waitMs) {
          this.#unwait(token, waiting);
        }
      }
      for (const side of [...this.#sides.values()]) this.#live(side, nowMs);
      if (this.#waiting.size > 0 || this.#sides.size > 0) this.#scheduleSweep();
    });
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count <= 0) counts.delete(key);
  else counts.set(key, count);
}

/** Constant-time comparison of two cookies. */
function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}
