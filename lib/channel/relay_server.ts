/**
 * A relay for two devices whose NATs cannot punch to each other (both
 * symmetric; `punchOutlook`): both join with the token of their candidate
 * exchange, the relay pairs the two addresses that joined with the same
 * token and gives each side a channel, then forwards each DATA datagram
 * from one side's address and channel to the other's (`_relay_wire.ts`),
 * so one socket can be paired with many contacts.
 * The secure channel runs end to end through it, so the relay sees only
 * ciphertext (and who talks to whom).
 *
 * - **Joining.** A JOIN without a valid cookie is answered with one
 *   CHALLENGE of the same size carrying a cookie (HMAC of the address and
 *   the minute under a secret from `randomBytes`); only a JOIN that echoes
 *   it counts. So an address is paired only once it has shown it receives
 *   at that address: a spoofed JOIN in a victim's name gets the victim one
 *   datagram no larger than the spoofed one, and no pairing. The cookie
 *   proves the address, not a token: a device that joins for many contacts
 *   at once (one token each) needs one challenge, not one per contact
 *   (`RelayCookies` keeps it on the client side).
 * - **No amplification.** Before pairing, each datagram in is answered
 *   with at most one of the same size; after, each DATA in is forwarded
 *   once, at the same size, to the peer that proved its address and asked
 *   for this token.
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
 * import { decodeRelayData, encodeRelayData } from "./_relay_wire.ts";
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
 * b.receive((bytes, from) =>
 *   joinB.handle(bytes, from) || got.push(decodeRelayData(bytes)!.payload[0])
 * );
 * joinA.start();
 * joinB.start();
 * clock.advance(1_000);
 * assert.equal(joinA.result?.kind, "punched");
 * assert.equal(joinB.result?.kind, "punched");
 * a.send(r.localAddress, encodeRelayData(joinA.channel!, new Uint8Array([42])));
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
  decodeRelayData,
  encodeRelay,
  encodeRelayData,
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
  /** Addresses waiting for their peer, in all. @default {4_096} */
  readonly maxWaiting?: number;
  /**
   * Addresses waiting for their peer, per origin: a device coming online
   * joins for each contact it cannot punch to at once. @default {128}
   */
  readonly maxWaitingPerOrigin?: number;
  /** How long an address waits for its peer. @default {30_000} */
  readonly waitMs?: number;
  /** Pairings at once, in all. @default {4_096} */
  readonly maxPairings?: number;
  /**
   * Pairings at once with an address of one origin (one device's contacts,
   * or the devices behind one NAT). @default {128}
   */
  readonly maxPairingsPerOrigin?: number;
  /** Bytes a second forwarded from one paired address (burst: one second's). @default {65_536} */
  readonly bytesPerSecond?: number;
  /**
   * A pairing with no datagram this long ends: a link sends a keepalive
   * after 7 s of silence and is dead after 9.5 s, so a pairing idle this
   * long carries no live link (a crashed device's pairings would otherwise
   * hold its origin's share). @default {20_000}
   */
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
  /** JOINs without a valid cookie left unanswered: over the origin's challenge rate. */
  droppedChallenges: number;
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
  /** Its channel: what it sends with, and what its peer's datagrams come with. */
  readonly channel: number;
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
    droppedChallenges: 0,
  };
  readonly #socket: Transport;
  readonly #clock: Clock;
  readonly #secret: Uint8Array;
  readonly #o: Required<RelayServerOptions>;
  /** Token hex → the address waiting with it. */
  readonly #waiting = new Map<string, Waiting>();
  /** Address key and channel → its side of a pairing. */
  readonly #sides = new Map<string, Side>();
  /** Address key and token → its side (a JOIN again gets its PAIRED again). */
  readonly #byToken = new Map<string, Side>();
  /** The next channel handed out (any order will do: a channel counts only from its address). */
  #nextChannel: number;
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
    const start = components.randomBytes(4);
    this.#nextChannel = new DataView(start.buffer, start.byteOffset, 4)
      .getUint32(0);
    this.#o = {
      maxWaiting: options.maxWaiting ?? 4_096,
      maxWaitingPerOrigin: options.maxWaitingPerOrigin ?? 128,
      waitMs: options.waitMs ?? 30_000,
      maxPairings: options.maxPairings ?? 4_096,
      maxPairingsPerOrigin: options.maxPairingsPerOrigin ?? 128,
      bytesPerSecond: options.bytesPerSecond ?? 65_536,
      idleMs: options.idleMs ?? 20_000,
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
    this.#byToken.clear();
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
    const data = decodeRelayData(bytes);
    if (data === undefined) {
      this.#onControl(bytes, from, key, nowMs);
      return;
    }
    const side = this.#live(this.#sides.get(`${key}/${data.channel}`), nowMs);
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
    this.counters.forwardedBytes += data.payload.length;
    // The same size as what came in: the header's channel is the peer's.
    this.#socket.send(
      side.peer.address,
      encodeRelayData(side.peer.channel, data.payload),
    );
  }

  #onControl(
    bytes: Uint8Array,
    from: PeerAddress,
    key: string,
    nowMs: number,
  ): void {
    const message = isRelayDatagram(bytes) ? decodeRelay(bytes) : undefined;
    if (message === undefined || message.kind !== RelayKind.JOIN) {
      this.counters.droppedUnpaired += 1;
      return;
    }
    const token = hex(message.token);
    if (!this.#cookieValid(message.cookie, key, nowMs)) {
      if (!this.#mayChallenge(originOf(from.host).origin, nowMs)) {
        this.counters.droppedChallenges += 1;
        return;
      }
      this.counters.challenges += 1;
      const cookie = this.#cookie(key, Math.floor(nowMs / MINUTE_MS));
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
    const paired = (side: Side) =>
      encodeRelay({
        kind: RelayKind.PAIRED,
        token: message.token,
        cookie: channelCookie(side.channel),
      });
    const side = this.#live(this.#byToken.get(`${key}|${token}`), nowMs);
    if (side !== undefined) {
      // Already paired (its PAIRED was lost, or it asks again).
      this.#socket.send(from, paired(side));
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
    const second = this.#pair(token, waiting, { address: from, origin }, nowMs);
    if (second !== undefined) this.#socket.send(from, paired(second));
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

  /** Pairs two proven addresses; returns the second's side, or `undefined` if over a bound. */
  #pair(
    token: string,
    first: Waiting,
    second: { address: PeerAddress; origin: string },
    nowMs: number,
  ): Side | undefined {
    const max = this.#o.maxPairingsPerOrigin;
    const firstCount = this.#pairedPerOrigin.get(first.origin) ?? 0;
    const secondCount = this.#pairedPerOrigin.get(second.origin) ?? 0;
    if (
      this.pairings >= this.#o.maxPairings || firstCount >= max ||
      secondCount + (first.origin === second.origin ? 1 : 0) >= max
    ) {
      this.counters.droppedFull += 1;
      return undefined;
    }
    this.#unwait(token, first);
    const make = (address: PeerAddress, origin: string): Side => ({
      address,
      origin,
      token,
      channel: this.#nextChannel = (this.#nextChannel + 1) >>> 0,
      startMs: nowMs,
      lastMs: nowMs,
      tokens: this.#o.bytesPerSecond,
      refillMs: nowMs,
    });
    const a = make(first.address, first.origin);
    const b = make(second.address, second.origin);
    a.peer = b;
    b.peer = a;
    for (const side of [a, b]) {
      const key = formatAddress(side.address);
      this.#sides.set(`${key}/${side.channel}`, side);
      this.#byToken.set(`${key}|${token}`, side);
    }
    for (const origin of [a.origin, b.origin]) {
      this.#pairedPerOrigin.set(
        origin,
        (this.#pairedPerOrigin.get(origin) ?? 0) + 1,
      );
    }
    this.counters.paired += 1;
    this.#scheduleSweep();
    return b;
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
      const key = formatAddress(end.address);
      if (this.#sides.get(`${key}/${end.channel}`) !== end) continue;
      this.#sides.delete(`${key}/${end.channel}`);
      this.#byToken.delete(`${key}|${end.token}`);
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

  #cookie(key: string, minute: number): Uint8Array {
    const data = new TextEncoder().encode(`${key}|${minute}`);
    return hmacSha256(this.#secret, data).slice(0, RELAY_COOKIE_BYTES);
  }

  /** A cookie of this minute or the one before, for this address. */
  #cookieValid(cookie: Uint8Array, key: string, nowMs: number): boolean {
    const minute = Math.floor(nowMs / MINUTE_MS);
    return equal(cookie, this.#cookie(key, minute)) ||
      equal(cookie, this.#cookie(key, minute - 1));
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

function channelCookie(channel: number): Uint8Array {
  const cookie = new Uint8Array(RELAY_COOKIE_BYTES);
  new DataView(cookie.buffer).setUint32(0, channel >>> 0);
  return cookie;
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
