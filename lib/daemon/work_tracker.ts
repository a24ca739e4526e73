/**
 * `WorkTracker`: counts asynchronous work in flight (state writes), so a
 * driver of virtual time can let it finish before moving the clock on. One
 * tracker may be shared by many daemons.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkTracker } from "./work_tracker.ts";
 *
 * const work = new WorkTracker();
 * let done = false;
 * work.track(Promise.resolve().then(() => done = true));
 * assert.equal(work.size, 1);
 * await work.whenIdle();
 * assert.ok(done);
 * assert.equal(work.size, 0);
 * ```
 *
 * @module
 */

/** Tracks promises until they settle. */
export class WorkTracker {
  readonly #pending = new Set<Promise<unknown>>();

  /** Work in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Tracks `work` until it settles.
   *
   * @param work A promise.
   * @returns The same promise.
   */
  track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    const done = () => this.#pending.delete(work);
    work.then(done, done);
    return work;
  }

  /** Resolves once nothing is in flight (including work started meanwhile). */
  async whenIdle(): Promise<void> {
    while (this.#pending.size > 0) {
      await Promise.allSettled([...this.#pending]);
    }
  }
}
