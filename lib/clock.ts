/**
 * The time seam of the protocol core: a {@link Clock} reads the time and
 * schedules {@link Timer}s. The daemon uses `SystemClock`; tests and the
 * simulator use `ManualClock`, whose time only moves when told to.
 *
 * @module
 */

/**
 * A callback scheduled with {@link Clock.setTimer}; cancel it to keep it
 * from running.
 *
 * @example Cancel a timer before it fires
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./testing/manual_clock.ts";
 *
 * const clock = new ManualClock(0);
 * let fired = false;
 * const timer = clock.setTimer(10, () => fired = true);
 * assert.equal(timer.dueMs, 10);
 * timer.cancel();
 * timer.cancel(); // Idempotent.
 * clock.advance(20);
 * assert.equal(fired, false);
 * ```
 */
export interface Timer {
  /** Stops the callback from running; does nothing if it already ran or was cancelled. */
  cancel(): void;
  /** When the callback is due, in epoch milliseconds of the clock that scheduled it. */
  readonly dueMs: number;
}

/**
 * Time source for the whole protocol core: epoch milliseconds, virtual inside
 * the simulator. Time never goes backwards.
 *
 * @example Write code against the interface, drive it with a manual clock
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Clock } from "./clock.ts";
 * import { ManualClock } from "./testing/manual_clock.ts";
 *
 * function remindLater(clock: Clock, log: number[]): void {
 *   clock.setTimer(1_000, () => log.push(clock.now()));
 * }
 * const clock = new ManualClock(5_000);
 * const log: number[] = [];
 * remindLater(clock, log);
 * clock.advance(1_000);
 * assert.deepEqual(log, [6_000]);
 * ```
 */
export interface Clock {
  /**
   * Reads the current time.
   *
   * @returns Epoch milliseconds.
   */
  now(): number;
  /**
   * Schedules `callback` to run once, `delayMs` milliseconds from now.
   *
   * @param delayMs Milliseconds from now; negative values are treated as 0.
   * @param callback Runs once when the timer is due, unless cancelled.
   * @returns The timer, for cancelling it.
   * @throws {RangeError} If `delayMs` is NaN or infinite.
   */
  setTimer(delayMs: number, callback: () => void): Timer;
}

/**
 * Checks a timer delay the way every {@link Clock} must: NaN and infinite
 * delays are rejected, negative delays become 0.
 *
 * @param delayMs The delay passed to {@link Clock.setTimer}.
 * @returns The delay to use, at least 0.
 * @throws {RangeError} If `delayMs` is NaN or infinite.
 *
 * @example Negative delays are clamped, NaN is rejected
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeDelayMs } from "./clock.ts";
 *
 * assert.equal(normalizeDelayMs(-5), 0);
 * assert.equal(normalizeDelayMs(250), 250);
 * assert.throws(() => normalizeDelayMs(NaN), RangeError);
 * ```
 */
export function normalizeDelayMs(delayMs: number): number {
  if (typeof delayMs !== "number" || !Number.isFinite(delayMs)) {
    throw new RangeError(
      `Cannot set timer: delay ${String(delayMs)} ms is not a finite number`,
    );
  }
  return delayMs < 0 ? 0 : delayMs;
}
