/**
 * UDP hole punching by simultaneous open: both devices send probes to each
 * other's candidate addresses at the same time, so each one's NAT opens the
 * permission the other's probes need (RFC 4787 endpoint-independent mapping;
 * it cannot work when both NATs map per destination, "symmetric").
 *
 * The candidates and a 16-byte token come from the candidate exchange,
 * sealed to the contact through the DHT (docs/links.md, "Links through
 * NATs"); a probe or ack that does not carry the token is ignored. A punch
 * only chooses the path: the authenticated channel handshake runs over it
 * afterwards, so a forged ack can at worst waste an attempt.
 *
 * Datagram format: `"RNGP"`, one byte kind (1 probe, 2 ack), the token.
 * Every `intervalMs`, a probe goes to every candidate, up to `attempts`
 * rounds; a probe received is answered with an ack to its source (the
 * peer's public address as our NAT sees it, even if it was not among the
 * candidates); the first probe or ack received ends the punch with its
 * source.
 *
 * @example Two hosts, no NAT in between
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../testing/simulated_network.ts";
 * import { HolePunch } from "./hole_punch.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const [a, b] = [network.attach(), network.attach()];
 * const token = new Uint8Array(16).fill(7);
 * const punchA = new HolePunch({ transport: a, clock }, { token, candidates: [b.localAddress] });
 * const punchB = new HolePunch({ transport: b, clock }, { token, candidates: [a.localAddress] });
 * a.receive((bytes, from) => punchA.handle(bytes, from));
 * b.receive((bytes, from) => punchB.handle(bytes, from));
 * punchA.start();
 * punchB.start();
 * clock.runUntilIdle();
 * assert.deepEqual(punchA.result, { kind: "punched", address: b.localAddress, atMs: punchA.result?.atMs });
 * ```
 *
 * @module
 */

import type { Clock, Timer } from "../clock.ts";
import type { PeerAddress, Transport } from "../transport.ts";

const MAGIC = [0x52, 0x4e, 0x47, 0x50]; // "RNGP"
const PROBE = 1;
const ACK = 2;
/** Bytes of the token the candidate exchange carries. */
export const PUNCH_TOKEN_BYTES = 16;
const DATAGRAM_BYTES = MAGIC.length + 1 + PUNCH_TOKEN_BYTES;
/** Most candidates probed: a hostile candidate list cannot make us spray. */
export const MAX_PUNCH_CANDIDATES = 8;

/** What a {@link HolePunch} runs on. */
export interface HolePunchComponents {
  /** The socket our DHT node uses, so that its NAT mapping is the one peers observed. */
  readonly transport: Pick<Transport, "send">;
  /** Times the probe rounds. */
  readonly clock: Clock;
}

/** Settings of a {@link HolePunch}. */
export interface HolePunchOptions {
  /** The secret from the sealed candidate exchange, {@link PUNCH_TOKEN_BYTES} bytes. */
  readonly token: Uint8Array;
  /** The peer's candidate addresses; the first {@link MAX_PUNCH_CANDIDATES} are probed. */
  readonly candidates: readonly PeerAddress[];
  /** Time between probe rounds. @default {200} */
  readonly intervalMs?: number;
  /** Probe rounds before giving up. @default {25} */
  readonly attempts?: number;
}

/** How a punch ended. */
export type HolePunchResult =
  | {
    readonly kind: "punched";
    readonly address: PeerAddress;
    readonly atMs: number;
  }
  | { readonly kind: "failed"; readonly atMs: number };

/** A token of the wrong length. */
export class HolePunchTokenError extends Error {
  /**
   * A bad token.
   *
   * @param length Its length.
   */
  constructor(length: number) {
    super(
      `Cannot punch: token has ${length} bytes, not ${PUNCH_TOKEN_BYTES}`,
    );
    this.name = "HolePunchTokenError";
  }
}

/** One punch towards one peer; see the module documentation. */
export class HolePunch {
  readonly #transport: Pick<Transport, "send">;
  readonly #clock: Clock;
  readonly #probe: Uint8Array;
  readonly #ack: Uint8Array;
  readonly #candidates: readonly PeerAddress[];
  readonly #intervalMs: number;
  readonly #attempts: number;
  #round = 0;
  #timer: Timer | undefined;
  #result: HolePunchResult | undefined;
  #onResult: ((result: HolePunchResult) => void) | undefined;

  /**
   * A punch, not started.
   *
   * @param components Transport and clock.
   * @param options Token, candidates and pacing.
   * @throws {HolePunchTokenError} If the token is not 16 bytes.
   */
  constructor(components: HolePunchComponents, options: HolePunchOptions) {
    if (options.token.length !== PUNCH_TOKEN_BYTES) {
      throw new HolePunchTokenError(options.token.length);
    }
    this.#transport = components.transport;
    this.#clock = components.clock;
    this.#probe = datagram(PROBE, options.token);
    this.#ack = datagram(ACK, options.token);
    this.#candidates = options.candidates.slice(0, MAX_PUNCH_CANDIDATES);
    this.#intervalMs = Math.max(10, options.intervalMs ?? 200);
    this.#attempts = Math.max(1, Math.floor(options.attempts ?? 25));
  }

  /** How it ended, or `undefined` while running or not started. */
  get result(): HolePunchResult | undefined {
    return this.#result;
  }

  /**
   * Sets the single callback for the result, replacing any earlier one.
   *
   * @param handler Called once, when the punch succeeds or gives up.
   */
  onResult(handler: (result: HolePunchResult) => void): void {
    this.#onResult = handler;
  }

  /** Sends the first probe round and schedules the next; idempotent. */
  start(): void {
    if (this.#timer !== undefined || this.#result !== undefined) return;
    this.#tick();
  }

  /** Stops probing without a result. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /**
   * Looks at one datagram from the shared socket.
   *
   * @param bytes The datagram.
   * @param from Its source.
   * @returns Whether it was a punch datagram with our token (consumed).
   */
  handle(bytes: Uint8Array, from: PeerAddress): boolean {
    if (bytes.length !== DATAGRAM_BYTES) return false;
    const kind = bytes[MAGIC.length];
    const expected = kind === PROBE ? this.#probe : this.#ack;
    for (let i = 0; i < DATAGRAM_BYTES; i++) {
      if (i !== MAGIC.length && bytes[i] !== expected[i]) return false;
    }
    if (kind === PROBE) {
      this.#transport.send(from, this.#ack);
    } else if (kind !== ACK) {
      return false;
    }
    // A probe with our token proves the path both ways too: it came through
    // our NAT, and the peer's NAT lets our ack in, since the peer sent to
    // the address the ack leaves from. Behind a full cone facing a
    // symmetric NAT it is all we get (our probes go to a port the peer's
    // NAT never mapped for us, so no ack ever comes).
    this.#finish({ kind: "punched", address: from, atMs: this.#clock.now() });
    return true;
  }

  #tick(): void {
    if (this.#round >= this.#attempts) {
      this.#finish({ kind: "failed", atMs: this.#clock.now() });
      return;
    }
    this.#round++;
    for (const candidate of this.#candidates) {
      this.#transport.send(candidate, this.#probe);
    }
    this.#timer = this.#clock.setTimer(this.#intervalMs, () => this.#tick());
  }

  #finish(result: HolePunchResult): void {
    if (this.#result !== undefined) return;
    this.stop();
    this.#result = result;
    this.#onResult?.(result);
  }
}

/**
 * Whether a datagram is a punch probe or ack (by its magic), so that a
 * socket shared with the DHT can hand it to the punch; a DHT message is a
 * msgpack map and never starts with `"R"`.
 *
 * @param bytes A datagram.
 * @returns Whether it starts with `"RNGP"`.
 */
export function isPunchDatagram(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && bytes[0] === MAGIC[0] &&
    bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2] && bytes[3] === MAGIC[3];
}

function datagram(kind: number, token: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(DATAGRAM_BYTES);
  bytes.set(MAGIC, 0);
  bytes[MAGIC.length] = kind;
  bytes.set(token, MAGIC.length + 1);
  return bytes;
}
