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
 * or PAIRED counts only from the relay's address and with our token.
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

/** What a {@link RelayJoin} runs on. */
export interface RelayJoinComponents {
  /** The DHT socket (its NAT mapping towards the relay carries the link). */
  readonly transport: Pick<Transport, "send">;
  /** Times the JOIN rounds. */
  readonly clock: Clock;
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
  #cookie: Uint8Array = new Uint8Array(RELAY_COOKIE_BYTES);
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
      this.#cookie = message.cookie;
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
    this.#transport.send(
      this.#relay,
      encodeRelay({
        kind: RelayKind.JOIN,
        token: this.#token,
        cookie: this.#cookie,
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

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
