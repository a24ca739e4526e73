/**
 * `EmptySearchRetries`: what a permanent put or a listen does when its lookup
 * found no node at all (we are alone, or not bootstrapped yet). Waiting a full
 * refresh period would leave a fresh node silent for minutes, so the round is
 * tried again after 1 s, 2 s, 4 s… up to 30 s, or at once when a node first
 * answers us (a bootstrap node, or one that joined us: the first node of a
 * network has no bootstrap node), whichever comes first.
 *
 * @example A retry runs when a node answers, before its timer
 * ```ts
 * import assert from "node:assert/strict";
 * import { EmptySearchRetries, type RetryState } from "./empty_search_retries.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 *
 * const clock = new ManualClock(0);
 * const retries = new EmptySearchRetries(clock);
 * const state: RetryState = {};
 * let runs = 0;
 * retries.schedule(state, () => runs += 1);
 * assert.equal(state.emptyRetryMs, 2_000); // the delay after this one
 * retries.wake();
 * assert.equal(runs, 1);
 * clock.advance(1_000);
 * assert.equal(runs, 1); // its timer was cancelled
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";

/** Longest wait between two retries of a lookup that found nobody. */
const MAX_EMPTY_RETRY_MS = 30_000;

/** The retry state an operation keeps between rounds. */
export interface RetryState {
  /** The pending retry (or the operation's next round). */
  timer?: Timer;
  /** Delay before the next retry; unset once a lookup found nodes. */
  emptyRetryMs?: number;
}

/** Retries of operations whose lookup found no node. */
export class EmptySearchRetries {
  readonly #clock: Clock;
  /**
   * Retries waiting for the first node to be known, in scheduling order.
   * Made on first use: most nodes of a large simulation never wait, and an
   * empty Set costs ~150 bytes.
   */
  #waiting: Set<() => void> | undefined;

  /**
   * Retries timed by `clock`.
   *
   * @param clock Schedules the retries.
   */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Runs `retry` after the operation's next delay (1 s, then doubling up to
   * 30 s), or at the next {@link EmptySearchRetries.wake}, whichever comes
   * first. The retry's timer is kept in `state.timer`.
   *
   * @param state The operation's timer and delay, updated.
   * @param retry Starts the operation's round again.
   */
  schedule(state: RetryState, retry: () => void): void {
    const delay = state.emptyRetryMs ?? 1_000;
    state.emptyRetryMs = Math.min(MAX_EMPTY_RETRY_MS, delay * 2);
    const fire = () => {
      this.#waiting?.delete(fire);
      state.timer?.cancel();
      state.timer = undefined;
      retry();
    };
    state.timer = this.#clock.setTimer(delay, fire);
    // Or as soon as a node answers us.
    (this.#waiting ??= new Set()).add(fire);
  }

  /** The first nodes are known: runs every waiting retry now, oldest first. */
  wake(): void {
    if (this.#waiting === undefined || this.#waiting.size === 0) return;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const fire of waiting) fire();
  }

  /** Forgets the waiting retries (their timers are the operations' to cancel). */
  clear(): void {
    this.#waiting?.clear();
  }
}
