/**
 * The client side of a relay (`relay_server.ts`): joins it with the
 * candidate exchange's token from the shared DHT socket, answers its
 * challenge, and ends once the relay says it paired us with the contact
 * that joined with the same token. It has the shape of a {@link HolePunch}
 * and ends the same way: "punched" at the relay's address, with the
 * channel the relay gave us ({@link RelayJoin.channel}); `LinkSocket` then
 * gives the contact a virtual address that the link dials or accepts like a
 * punched one, its datagrams wrapped for that channel.
 *
 * A JOIN goes out every `intervalMs`, up to `attempts` rounds; a CHALLENGE
 * or PAIRED counts only from the relay's address and with our token. The
 * relay's cookie proves our address, whatever the token, so joins of one
 * socket share it through {@link RelayCookies}: a device that joins for
 * forty contacts at once costs the relay one challenge, not forty (the
 * relay answers at most 20 a second per origin).
 *
 * @example Joined alone: no peer, no pairing
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
 * const [a, r] = [network.attach(), network.attach()];
 * const relay = new RelayServer({ socket: r, clock, randomBytes: rngBytes(seededRng(2)) });
 * const join = new RelayJoin({ transport: a, clock }, { token: new Uint8Array(16), relay: r.localAddress });
 * a.receive((bytes, from) => join.handle(bytes, from));
 * join.start();
 * clock.advance(10_000);
 * assert.equal(join.result?.kind, "failed");
 * relay.close();
 * ```
 *
 * @module
 */

import type { Clock, Timer } from "../clock.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import type { HolePunchResult } from "./hole_punch.ts";
import {
  decodeRelay,
  encodeRelay,
  pairedChannel,
  RELAY_COOKIE_BYTES,
  RELAY_TOKEN_BYTES,
  RelayKind,
} from "./_relay_wire.ts";

/** Relays whose cookies are kept at most (a contact's set can name any address as its relay). */
const MAX_RELAY_COOKIES = 16;

/**
 * The latest cookie each relay gave one socket, shared by that socket's
 * joins (the cookie is bound to the address, not to a token). At most 16
 * relays are remembered, the least recently given first forgotten; a
 * stale cookie only costs one more challenge.
 */
export class RelayCookies {
  readonly #cookies = new Map<string, Uint8Array>();
  /** Relay → when one of our joins last asked it for a cookie. */
  readonly #askedMs = new Map<string, number>();

  /**
   * The cookie last given by a relay, or `undefined`.
   *
   * @param relay The relay's address, as `formatAddress` writes it.
   * @returns Its cookie.
   */
  get(relay: string): Uint8Array | undefined {
    return this.#cookies.get(relay);
  }

  /**
   * Keeps a relay's cookie.
   *
   * @param relay The relay's address, as `formatAddress` writes it.
   * @param cookie Its cookie.
   */
  set(relay: string, cookie: Uint8Array): void {
    this.#cookies.delete(relay);
    this.#cookies.set(relay, cookie);
    this.#askedMs.delete(relay);
    if (this.#cookies.size > MAX_RELAY_COOKIES) {
      this.#cookies.delete(this.#cookies.keys().next().value!);
    }
  }

  /**
   * Whether a join without a cookie may ask the relay for one now: one ask
   * per `intervalMs` for all the socket's joins (the others wait for its
   * answer), so that forty joins starting together cost one challenge.
   *
   * @param relay The relay's address, as `formatAddress` writes it.
   * @param nowMs Now.
   * @param intervalMs The joins' round.
   * @returns Whether to send the cookie-less JOIN (then it counts as the ask).
   */
  mayAsk(relay: string, nowMs: number, intervalMs: number): boolean {
    const last = this.#askedMs.get(relay);
    if (last !== undefined && nowMs - last < intervalMs) return false;
    this.#askedMs.delete(relay);
    this.#askedMs.set(relay, nowMs);
    if (this.#askedMs.size > MAX_RELAY_COOKIES) {
      this.#askedMs.delete(this.#askedMs.keys().next().value!);
    }
    return true;
  }
}

/** What a {@link RelayJoin} runs on. */
export interface RelayJoinComponents {
  /** The DHT socket (its NAT mapping towards the relay carries the link). */
  readonly transport: Pick<Transport, "send">;
  /** Times the JOIN rounds. */
  readonly clock: Clock;
  /** Cookies shared by the joins of this socket. @default {this join's own} */
  readonly cookies?: RelayCookies;
}

/** Settings of a {@link RelayJoin}. */
export interface RelayJoinOptions {
  /** The candidate exchange's token, 16 bytes, the same on both sides. */
  readonly token: Uint8Array;
  /** The relay's address. */
  readonly relay: PeerAddress;
  /** Time between JOIN rounds. @default {200} */
  readonly intervalMs?: number;
  /** JOIN rounds before giving up. @default {25} */
  readonly attempts?: number;
}

/** A token of the wrong length. */
export class RelayTokenError extends Error {
  /**
   * A bad token.
   *
   * @param length Its length.
   */
  constructor(length: number) {
    super(
      `Cannot join relay: token has ${length} bytes, not ${RELAY_TOKEN_BYTES}`,
    );
    this.name = "RelayTokenError";
  }
}

/** One join of one relay; see the module documentation. */
export class RelayJoin {
  readonly #transport: Pick<Transport, "send">;
  readonly #clock: Clock;
  readonly #token: Uint8Array;
  readonly #relay: PeerAddress;
  readonly #relayKey: string;
  readonly #intervalMs: number;
  readonly #attempts: number;
  readonly #cookies: RelayCookies;
  #round = 0;
  #channel: number | undefined;
  #timer: Timer | undefined;
  #result: HolePunchResult | undefined;
  #onResult: ((result: HolePunchResult) => void) | undefined;

  /**
   * A join, not started.
   *
   * @param components Transport and clock.
   * @param options Token, relay and pacing.
   * @throws {RelayTokenError} If the token is not 16 bytes.
   */
  constructor(components: RelayJoinComponents, options: RelayJoinOptions) {
    if (options.token.length !== RELAY_TOKEN_BYTES) {
      throw new RelayTokenError(options.token.length);
    }
    this.#transport = components.transport;
    this.#clock = components.clock;
    this.#cookies = components.cookies ?? new RelayCookies();
    this.#token = options.token;
    this.#relay = options.relay;
    this.#relayKey = formatAddress(options.relay);
    this.#intervalMs = Math.max(10, options.intervalMs ?? 200);
    this.#attempts = Math.max(1, Math.floor(options.attempts ?? 25));
  }

  /** Our channel at the relay, once paired (what we send with, what the peer's datagrams come with). */
  get channel(): number | undefined {
    return this.#channel;
  }

  /** How it ended, or `undefined` while running or not started. */
  get result(): HolePunchResult | undefined {
    return this.#result;
  }

  /**
   * Sets the single callback for the result, replacing any earlier one.
   *
   * @param handler Called once, when paired or after the last round.
   */
  onResult(handler: (result: HolePunchResult) => void): void {
    this.#onResult = handler;
  }

  /** Sends the first JOIN and schedules the next; idempotent. */
  start(): void {
    if (this.#timer !== undefined || this.#result !== undefined) return;
    this.#tick();
  }

  /** Stops joining without a result. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /**
   * Looks at one datagram from the shared socket.
   *
   * @param bytes The datagram.
   * @param from Its source.
   * @returns Whether it was the relay's answer to this join (consumed).
   */
  handle(bytes: Uint8Array, from: PeerAddress): boolean {
    const message = decodeRelay(bytes);
    if (
      message === undefined || formatAddress(from) !== this.#relayKey ||
      !sameBytes(message.token, this.#token)
    ) {
      return false;
    }
    if (this.#result !== undefined) return true;
    if (message.kind === RelayKind.CHALLENGE) {
      this.#cookies.set(this.#relayKey, message.cookie);
      this.#send();
    } else if (message.kind === RelayKind.PAIRED) {
      this.#channel = pairedChannel(message.cookie);
      this.#finish({
        kind: "punched",
        address: this.#relay,
        atMs: this.#clock.now(),
      });
    }
    return true;
  }

  #send(): void {
    const cookie = this.#cookies.get(this.#relayKey);
    if (
      cookie === undefined &&
      !this.#cookies.mayAsk(this.#relayKey, this.#clock.now(), this.#intervalMs)
    ) {
      return; // another join of this socket is asking; its answer serves us
    }
    this.#transport.send(
      this.#relay,
      encodeRelay({
        kind: RelayKind.JOIN,
        token: this.#token,
        cookie: cookie ?? NO_COOKIE,
      }),
    );
  }

  #tick(): void {
    if (this.#round >= this.#attempts) {
      this.#finish({ kind: "failed", atMs: this.#clock.now() });
      return;
    }
    this.#round++;
    this.#send();
    this.#timer = this.#clock.setTimer(this.#intervalMs, () => this.#tick());
  }

  #finish(result: HolePunchResult): void {
    if (this.#result !== undefined) return;
    this.stop();
    this.#result = result;
    this.#onResult?.(result);
  }
}

const NO_COOKIE = new Uint8Array(RELAY_COOKIE_BYTES);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
