/**
 * `HandshakeSlots`: the accepted handshakes a `ConnectionManager` lets run at
 * once. Each origin (IPv4 address, IPv6 /64) holds at most `perOrigin`;
 * strangers (a host no wanted device announced and no link came from) are
 * rate-limited per origin and minute and share `strangers` slots, while
 * known contact addresses get `reserved` slots of their own, so a flood of
 * strangers cannot keep contacts out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { HandshakeSlots } from "./_handshake_slots.ts";
 *
 * const slots = new HandshakeSlots(new ManualClock(0), {
 *   perOrigin: 1,
 *   perOriginPerMinute: 30,
 *   reserved: 1,
 *   strangers: 1,
 * });
 * const channel = {};
 * assert.ok(slots.claim(channel, "192.0.2.1", false));
 * assert.equal(slots.claim({}, "192.0.2.1", false), false); // per origin
 * slots.release(channel);
 * assert.ok(slots.claim({}, "192.0.2.1", false));
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { originOf } from "../dht/origin_shares.ts";

/** The window of {@link HandshakeLimits.perOriginPerMinute}. */
const RATE_WINDOW_MS = 60_000;
/** Origins whose handshake rate is tracked at once; beyond, untracked (the slot caps still hold). */
const MAX_RATE_ORIGINS = 4_096;

/** The bounds of {@link HandshakeSlots}. */
export interface HandshakeLimits {
  /** Accepted handshakes at once from one origin. */
  readonly perOrigin: number;
  /** Handshakes a stranger's origin may start a minute. */
  readonly perOriginPerMinute: number;
  /** Slots kept for known contact addresses. */
  readonly reserved: number;
  /** Slots strangers share. */
  readonly strangers: number;
}

/** One accepted handshake's claim on the slots. */
interface HandshakeSlot {
  readonly origin: string;
  readonly reserved: boolean;
}

/** Accepted handshakes by holder, bounded per origin and in all. */
export class HandshakeSlots {
  readonly #clock: Clock;
  readonly #limits: HandshakeLimits;
  /** Holder (a channel) → its slot. */
  readonly #slots = new Map<object, HandshakeSlot>();
  /** Accepted handshakes per origin. */
  readonly #byOrigin = new Map<string, number>();
  /** Handshakes accepted per origin in its current minute. */
  readonly #rates = new Map<string, { startMs: number; count: number }>();
  /** Slots strangers hold. */
  #strangers = 0;

  /**
   * @param clock For the per-minute windows.
   * @param limits The bounds.
   */
  constructor(clock: Clock, limits: HandshakeLimits) {
    this.#clock = clock;
    this.#limits = limits;
  }

  /**
   * Claims a slot for `holder`, a handshake accepted from `host`.
   *
   * @param holder What holds the slot until {@link HandshakeSlots.release}.
   * @param host The remote host (IPv4-mapped IPv6 already unmapped).
   * @param known Whether the host is a known contact address (not rate-limited; reserved slots first).
   * @returns Whether a slot was free.
   */
  claim(holder: object, host: string, known: boolean): boolean {
    const { origin } = originOf(host);
    const fromOrigin = this.#byOrigin.get(origin) ?? 0;
    if (fromOrigin >= this.#limits.perOrigin) return false;
    // Known contact addresses are not rate-limited (a household behind one
    // NAT may relink several devices at once); strangers are.
    const rate = known ? undefined : this.#rateOf(origin);
    if (rate !== undefined && rate.count >= this.#limits.perOriginPerMinute) {
      return false;
    }
    const reservedTaken = this.#slots.size - this.#strangers;
    let reserved: boolean;
    if (known && reservedTaken < this.#limits.reserved) {
      reserved = true;
    } else if (this.#strangers < this.#limits.strangers) {
      reserved = false;
    } else {
      return false;
    }
    this.#byOrigin.set(origin, fromOrigin + 1);
    if (rate !== undefined) rate.count += 1;
    if (!reserved) this.#strangers += 1;
    this.#slots.set(holder, { origin, reserved });
    return true;
  }

  /**
   * Frees `holder`'s slot, if it has one.
   *
   * @param holder What claimed it.
   */
  release(holder: object): void {
    const slot = this.#slots.get(holder);
    if (slot === undefined) return;
    this.#slots.delete(holder);
    const left = (this.#byOrigin.get(slot.origin) ?? 1) - 1;
    if (left > 0) this.#byOrigin.set(slot.origin, left);
    else this.#byOrigin.delete(slot.origin);
    if (!slot.reserved) this.#strangers -= 1;
  }

  /**
   * Hands `from`'s slot to `to` (the channel built on an accepted stream).
   *
   * @param from The holder that claimed it.
   * @param to The new holder.
   */
  move(from: object, to: object): void {
    const slot = this.#slots.get(from);
    if (slot === undefined) return;
    this.#slots.delete(from);
    this.#slots.set(to, slot);
  }

  /** Frees every slot and forgets the rates. */
  clear(): void {
    this.#slots.clear();
    this.#byOrigin.clear();
    this.#rates.clear();
    this.#strangers = 0;
  }

  /** The origin's handshake count this minute, or undefined if untracked (table full). */
  #rateOf(origin: string): { startMs: number; count: number } | undefined {
    const now = this.#clock.now();
    let rate = this.#rates.get(origin);
    if (rate !== undefined && now - rate.startMs >= RATE_WINDOW_MS) {
      this.#rates.delete(origin);
      rate = undefined;
    }
    if (rate !== undefined) return rate;
    if (this.#rates.size >= MAX_RATE_ORIGINS) {
      for (const [key, entry] of this.#rates) {
        if (now - entry.startMs >= RATE_WINDOW_MS) this.#rates.delete(key);
      }
      if (this.#rates.size >= MAX_RATE_ORIGINS) return undefined;
    }
    rate = { startMs: now, count: 0 };
    this.#rates.set(origin, rate);
    return rate;
  }
}
