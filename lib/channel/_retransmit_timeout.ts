/**
 * The retransmission timeout of one datagram stream, as RFC 6298 computes
 * it: a smoothed round-trip time and its variation from samples of segments
 * sent once (Karn's rule is the caller's), `RTO = SRTT + 4 · RTTVAR`
 * clamped to `[minMs, maxMs]`, doubled on each timeout (back-off) until the
 * next sample.
 *
 * @example A first sample, a timeout, a second sample
 * ```ts
 * import assert from "node:assert/strict";
 * import { RetransmitTimeout } from "./_retransmit_timeout.ts";
 *
 * const rto = new RetransmitTimeout({ initialMs: 500, minMs: 200, maxMs: 4_000 });
 * assert.equal(rto.currentMs, 500);
 * rto.sample(100); // SRTT 100, RTTVAR 50: 100 + 200 = 300
 * assert.equal(rto.currentMs, 300);
 * rto.backOff();
 * assert.equal(rto.currentMs, 600);
 * rto.sample(100); // SRTT 100, RTTVAR 37.5: 100 + 150 = 250
 * assert.equal(rto.currentMs, 250);
 * ```
 *
 * @module
 */

/** Bounds of a {@link RetransmitTimeout}. */
export interface RetransmitTimeoutOptions {
  /** Before any sample (RFC 6298 says 1 s; SIP's Timer A starts at 500 ms). */
  readonly initialMs: number;
  /** Floor (RFC 6298 says 1 s; Linux uses 200 ms). */
  readonly minMs: number;
  /** Ceiling of the computed and backed-off value. */
  readonly maxMs: number;
}

/** One stream's RTO; see the module documentation. */
export class RetransmitTimeout {
  readonly #options: RetransmitTimeoutOptions;
  #smoothedMs: number | undefined;
  #variationMs = 0;
  #currentMs: number;

  /**
   * An estimator with no sample yet.
   *
   * @param options Initial value and bounds.
   */
  constructor(options: RetransmitTimeoutOptions) {
    this.#options = options;
    this.#currentMs = this.#clamp(options.initialMs);
  }

  /** The timeout to arm now, in milliseconds. */
  get currentMs(): number {
    return this.#currentMs;
  }

  /** The smoothed round-trip time, or `undefined` before the first sample. */
  get smoothedMs(): number | undefined {
    return this.#smoothedMs;
  }

  /**
   * Takes one round-trip measurement (of a segment sent only once).
   *
   * @param roundTripMs The time from its sending to its acknowledgement.
   */
  sample(roundTripMs: number): void {
    const r = Math.max(0, roundTripMs);
    if (this.#smoothedMs === undefined) {
      this.#smoothedMs = r;
      this.#variationMs = r / 2;
    } else {
      this.#variationMs = 0.75 * this.#variationMs +
        0.25 * Math.abs(this.#smoothedMs - r);
      this.#smoothedMs = 0.875 * this.#smoothedMs + 0.125 * r;
    }
    this.#currentMs = this.#clamp(this.#smoothedMs + 4 * this.#variationMs);
  }

  /** Doubles the timeout after it expired (up to the ceiling). */
  backOff(): void {
    this.#currentMs = this.#clamp(this.#currentMs * 2);
  }

  #clamp(ms: number): number {
    return Math.min(this.#options.maxMs, Math.max(this.#options.minMs, ms));
  }
}
