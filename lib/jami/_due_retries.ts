/**
 * Retries kept by key, each due at a time, fired by one timer armed for the
 * earliest: what the Jami inbox (certificates not found yet) and the Jami
 * buddy watch (devices whose certificate is missing) both need.
 *
 * @example Two retries, fired in time order
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { DueRetries } from "./_due_retries.ts";
 *
 * const clock = new ManualClock(0);
 * const fired: string[] = [];
 * const retries = new DueRetries<string, { dueMs: number }>(clock, (key) => fired.push(key));
 * retries.set("b", { dueMs: 200 });
 * retries.set("a", { dueMs: 100 });
 * clock.advance(150);
 * assert.deepEqual(fired, ["a"]);
 * clock.advance(100);
 * assert.deepEqual(fired, ["a", "b"]);
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";

/** Keyed retries with due times; see the module documentation. */
export class DueRetries<K, R extends { readonly dueMs: number }> {
  readonly #clock: Clock;
  readonly #fire: (key: K, retry: R) => void;
  readonly #retries = new Map<K, R>();
  #timer?: Timer;

  /**
   * @param clock Times the retries.
   * @param fire Called with each retry when it is due (already removed).
   */
  constructor(clock: Clock, fire: (key: K, retry: R) => void) {
    this.#clock = clock;
    this.#fire = fire;
  }

  /** Retries waiting. */
  get size(): number {
    return this.#retries.size;
  }

  /**
   * @param key A key.
   * @returns Whether a retry waits under `key`.
   */
  has(key: K): boolean {
    return this.#retries.has(key);
  }

  /**
   * Schedules (or replaces) the retry under `key`.
   *
   * @param key Its key.
   * @param retry When it is due, and what the caller needs then.
   */
  set(key: K, retry: R): void {
    this.#retries.set(key, retry);
    this.#arm();
  }

  /** Drops every retry and the timer. */
  clear(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#retries.clear();
  }

  #arm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    let due = Infinity;
    for (const retry of this.#retries.values()) {
      due = Math.min(due, retry.dueMs);
    }
    if (due === Infinity) return;
    const clock = this.#clock;
    this.#timer = clock.setTimer(Math.max(0, due - clock.now()), () => {
      this.#timer = undefined;
      const now = clock.now();
      for (const [key, retry] of this.#retries) {
        if (retry.dueMs > now) continue;
        this.#retries.delete(key);
        this.#fire(key, retry);
      }
      this.#arm();
    });
  }
}
