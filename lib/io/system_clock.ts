/**
 * The real clock, for the daemon only: the protocol core gets it injected as
 * a {@link Clock} and never reads the time by itself.
 *
 * @module
 */

import { type Clock, normalizeDelayMs, type Timer } from "../clock.ts";

/**
 * The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days);
 * longer delays fire at once, so we chain timers instead.
 */
const MAX_HOST_TIMEOUT_MS = 2 ** 31 - 1;

/** A timer backed by `setTimeout`, re-armed in steps for very long delays. */
class SystemTimer implements Timer {
  readonly dueMs: number;
  #handle: ReturnType<typeof setTimeout> | undefined;
  #callback: (() => void) | undefined;

  constructor(dueMs: number, callback: () => void) {
    this.dueMs = dueMs;
    this.#callback = callback;
    this.#arm();
  }

  cancel(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#callback = undefined;
  }

  #arm(): void {
    const remainingMs = Math.max(0, this.dueMs - Date.now());
    this.#handle = setTimeout(
      () => this.#onTimeout(),
      Math.min(remainingMs, MAX_HOST_TIMEOUT_MS),
    );
  }

  #onTimeout(): void {
    this.#handle = undefined;
    const callback = this.#callback;
    if (callback === undefined) return;
    if (Date.now() < this.dueMs) {
      // Either a delay longer than setTimeout allows, or a host timer that fired early.
      this.#arm();
      return;
    }
    this.#callback = undefined;
    callback();
  }
}

/**
 * A {@link Clock} on the host's wall clock (`Date.now`) and timers
 * (`setTimeout`). Pending timers keep the process alive until they fire or
 * are cancelled.
 *
 * @example Schedule and cancel a real timer
 * ```ts
 * import assert from "node:assert/strict";
 * import { SystemClock } from "./system_clock.ts";
 *
 * const clock = new SystemClock();
 * const before = clock.now();
 * const timer = clock.setTimer(60_000, () => {});
 * assert.ok(timer.dueMs >= before + 60_000);
 * timer.cancel();
 * ```
 */
export class SystemClock implements Clock {
  /**
   * Reads the host's wall clock.
   *
   * @returns Epoch milliseconds from `Date.now()`.
   *
   * @example Read the time
   * ```ts
   * import assert from "node:assert/strict";
   * import { systemClock } from "./system_clock.ts";
   *
   * assert.ok(systemClock.now() > 1_600_000_000_000);
   * ```
   */
  now(): number {
    return Date.now();
  }

  /**
   * Schedules `callback` on the host's timers.
   *
   * @param delayMs Milliseconds from now; negative values are treated as 0.
   * @param callback Runs once when the timer is due, unless cancelled.
   * @returns The timer; cancelling it clears the host timer.
   * @throws {RangeError} If `delayMs` is NaN or infinite.
   *
   * @example Wait for a short timer
   * ```ts
   * import assert from "node:assert/strict";
   * import { systemClock } from "./system_clock.ts";
   *
   * const firedAtMs = await new Promise<number>((resolve) => {
   *   systemClock.setTimer(1, () => resolve(systemClock.now()));
   * });
   * assert.ok(firedAtMs > 0);
   * ```
   */
  setTimer(delayMs: number, callback: () => void): Timer {
    const dueMs = Date.now() + normalizeDelayMs(delayMs);
    return new SystemTimer(dueMs, callback);
  }
}

/**
 * The shared {@link SystemClock}; it holds no state, so one is enough.
 *
 * @example Pass the real clock to code that takes a Clock
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Clock } from "../clock.ts";
 * import { systemClock } from "./system_clock.ts";
 *
 * const clock: Clock = systemClock;
 * assert.equal(typeof clock.now(), "number");
 * ```
 */
export const systemClock: SystemClock = new SystemClock();
