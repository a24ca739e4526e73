/**
 * Virtual time for tests and the simulator: a {@link Clock} whose time only
 * moves when told to, firing due timers in a deterministic order.
 *
 * @module
 */

import { type Clock, normalizeDelayMs, type Timer } from "../clock.ts";

/** 2023-11-14T22:13:20Z: a fixed, plausible epoch so that tests never depend on the host's time. */
const DEFAULT_START_MS = 1_700_000_000_000;

/** Default bound on timers fired by one `advance()` or `advanceTo()` call, so a timer loop cannot hang a test. */
const DEFAULT_MAX_TIMERS_PER_ADVANCE = 10_000_000;

/** Default bound on timers fired by one `runUntilIdle()` call. */
const DEFAULT_MAX_TIMERS_UNTIL_IDLE = 1_000_000;

/** A timer in a {@link ManualClock}'s heap; live until fired or cancelled. */
class ManualTimer implements Timer {
  readonly dueMs: number;
  /** Insertion order, breaking ties between equal due times. */
  readonly sequence: number;
  #callback: (() => void) | undefined;
  #onCancel: ((timer: ManualTimer) => void) | undefined;

  constructor(
    dueMs: number,
    sequence: number,
    callback: () => void,
    onCancel: (timer: ManualTimer) => void,
  ) {
    this.dueMs = dueMs;
    this.sequence = sequence;
    this.#callback = callback;
    this.#onCancel = onCancel;
  }

  get isLive(): boolean {
    return this.#callback !== undefined;
  }

  cancel(): void {
    const onCancel = this.#onCancel;
    if (this.#callback === undefined || onCancel === undefined) return;
    this.#callback = undefined;
    this.#onCancel = undefined;
    onCancel(this);
  }

  /** Marks the timer fired and hands back its callback, once. */
  take(): () => void {
    const callback = this.#callback;
    if (callback === undefined) {
      throw new Error("Cannot fire timer: it is no longer live");
    }
    this.#callback = undefined;
    this.#onCancel = undefined;
    return callback;
  }
}

function checkMaxTimers(action: string, maxTimers: number): void {
  if (!Number.isSafeInteger(maxTimers) || maxTimers < 0) {
    throw new RangeError(
      `Cannot ${action}: maxTimers ${maxTimers} is not a non-negative integer`,
    );
  }
}

/**
 * A queue of events that a {@link ManualClock} fires among its timers, in the
 * same (due time, insertion) order, without a timer object per event: the
 * simulated network's datagrams in flight. Each event's insertion number
 * comes from {@link ManualClock.takeSequence}, so events and timers share one
 * order.
 */
export interface ClockEventSource {
  /** Events queued. */
  readonly size: number;
  /** Due time of the earliest event; read only while `size > 0`. */
  readonly headDueMs: number;
  /** Insertion number of the earliest event; read only while `size > 0`. */
  readonly headSequence: number;
  /** Removes the earliest event and runs it; called only while `size > 0`. */
  runHead(): void;
}

/**
 * A {@link Clock} in virtual time. Timers sit in a binary min-heap ordered by
 * due time, then by insertion, so equal due times fire in the order they were
 * set. Cancelled timers stay in the heap until they reach the top or until
 * they make up more than half of it, when the heap is rebuilt without them;
 * this keeps `setTimer` and `cancel` cheap with millions of timers.
 *
 * A callback that throws propagates out of `runNext`, `advance`, `advanceTo`
 * or `runUntilIdle`; the clock is then left at that timer's due time with the
 * timer consumed, and the later timers still pending.
 *
 * @example Drive timers in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "./manual_clock.ts";
 *
 * const clock = new ManualClock(0);
 * const log: string[] = [];
 * clock.setTimer(20, () => log.push("b"));
 * clock.setTimer(10, () => log.push("a"));
 * assert.equal(clock.advance(15), 1);
 * assert.deepEqual(log, ["a"]);
 * assert.equal(clock.now(), 15);
 * assert.equal(clock.runUntilIdle(), 1);
 * assert.equal(clock.now(), 20);
 * ```
 */
export class ManualClock implements Clock {
  #nowMs: number;
  #heap: ManualTimer[] = [];
  // Due time and sequence of the timer at each heap position, side by side
  // in typed arrays: comparisons read them without visiting the timers.
  #heapDue = new Float64Array(1_024);
  #heapSequence = new Float64Array(1_024);
  #cancelledInHeap = 0;
  #nextSequence = 0;
  /** Event queues fired with the timers; see {@link ClockEventSource}. */
  #sources: ClockEventSource[] = [];
  #onCancel = (timer: ManualTimer): void => this.#timerCancelled(timer);

  /**
   * Creates a clock standing still at `startMs`.
   *
   * @param startMs Initial time in epoch milliseconds.
   * @throws {RangeError} If `startMs` is not a finite number.
   *
   * @example Start at the epoch
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * assert.equal(new ManualClock(0).now(), 0);
   * assert.equal(new ManualClock().now(), 1_700_000_000_000);
   * ```
   */
  constructor(startMs: number = DEFAULT_START_MS) {
    if (!Number.isFinite(startMs)) {
      throw new RangeError(
        `Cannot create manual clock: start ${startMs} ms is not a finite number`,
      );
    }
    this.#nowMs = startMs;
  }

  /**
   * Reads the virtual time.
   *
   * @returns Epoch milliseconds; changes only through `runNext`, `advance`,
   * `advanceTo` and `runUntilIdle`.
   *
   * @example Time stands still until advanced
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(100);
   * assert.equal(clock.now(), 100);
   * clock.advance(5);
   * assert.equal(clock.now(), 105);
   * ```
   */
  now(): number {
    return this.#nowMs;
  }

  /**
   * Schedules `callback` at `now() + delayMs` in virtual time.
   *
   * @param delayMs Milliseconds from now; negative values are treated as 0.
   * @param callback Runs once when the clock reaches the due time, unless cancelled.
   * @returns The timer, for cancelling it.
   * @throws {RangeError} If `delayMs` is NaN or infinite.
   *
   * @example A negative delay fires at the current time
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(50);
   * const timer = clock.setTimer(-10, () => {});
   * assert.equal(timer.dueMs, 50);
   * assert.throws(() => clock.setTimer(Infinity, () => {}), RangeError);
   * ```
   */
  setTimer(delayMs: number, callback: () => void): Timer {
    const dueMs = this.#nowMs + normalizeDelayMs(delayMs);
    const timer = new ManualTimer(
      dueMs,
      this.#nextSequence++,
      callback,
      this.#onCancel,
    );
    const index = this.#heap.length;
    if (index >= this.#heapDue.length) this.#growKeys(2 * index);
    this.#heap.push(timer);
    this.#heapDue[index] = dueMs;
    this.#heapSequence[index] = timer.sequence;
    this.#siftUp(index);
    return timer;
  }

  /**
   * Takes the next insertion number, as a timer set now would get: an event
   * of a {@link ClockEventSource} queued with it fires after every timer set
   * before and before every timer set after, among those due at the same time.
   *
   * @returns The insertion number.
   */
  takeSequence(): number {
    return this.#nextSequence++;
  }

  /**
   * Fires the events of `source` among the timers, by due time, then by
   * insertion number. Its events count in `pendingCount` and `nextDueMs`.
   *
   * @param source The queue.
   *
   * @example A queue of one event
   * ```ts
   * import assert from "node:assert/strict";
   * import { type ClockEventSource, ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * const log: string[] = [];
   * clock.setTimer(10, () => log.push("timer"));
   * const event = { dueMs: 10, sequence: clock.takeSequence() };
   * let queued = true;
   * const source: ClockEventSource = {
   *   get size() {
   *     return queued ? 1 : 0;
   *   },
   *   headDueMs: event.dueMs,
   *   headSequence: event.sequence,
   *   runHead() {
   *     queued = false;
   *     log.push("event");
   *   },
   * };
   * clock.addEventSource(source);
   * assert.equal(clock.pendingCount, 2);
   * assert.equal(clock.runUntilIdle(), 2);
   * assert.deepEqual(log, ["timer", "event"]);
   * ```
   */
  addEventSource(source: ClockEventSource): void {
    this.#sources.push(source);
  }

  /**
   * Finds when the earliest live timer is due.
   *
   * @returns Its due time in epoch milliseconds, or `undefined` if no timer is pending.
   *
   * @example Skip idle time to the next wake-up
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * assert.equal(clock.nextDueMs(), undefined);
   * clock.setTimer(30, () => {});
   * assert.equal(clock.nextDueMs(), 30);
   * ```
   */
  nextDueMs(): number | undefined {
    const timer = this.#peekLive();
    const source = this.#earliestSource(timer);
    return source !== undefined ? source.headDueMs : timer?.dueMs;
  }

  /**
   * The number of live timers: set, not yet fired and not cancelled.
   *
   * @returns The count.
   *
   * @example Cancelled timers are not counted
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * clock.setTimer(1, () => {});
   * clock.setTimer(2, () => {}).cancel();
   * assert.equal(clock.pendingCount, 1);
   * ```
   */
  get pendingCount(): number {
    let count = this.#heap.length - this.#cancelledInHeap;
    for (const source of this.#sources) count += source.size;
    return count;
  }

  /**
   * Moves time to the earliest live timer and fires it, if it is due by
   * `untilMs` (the same as {@link ManualClock.nextDueMs} then a fire, with
   * one look at the queues instead of two: a simulation's loop).
   *
   * @param untilMs Latest due time to fire; later timers stay pending.
   * @returns `true` if a timer fired, `false` if none was pending by then.
   *
   * @example Step one timer at a time
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * clock.setTimer(40, () => {});
   * assert.equal(clock.runNext(39), false);
   * assert.equal(clock.now(), 0);
   * assert.equal(clock.runNext(), true);
   * assert.equal(clock.now(), 40);
   * assert.equal(clock.runNext(), false);
   * ```
   */
  runNext(untilMs: number = Infinity): boolean {
    const timer = this.#peekLive();
    const source = this.#earliestSource(timer);
    if (source !== undefined) {
      if (source.headDueMs > untilMs) return false;
      this.#fireSource(source);
    } else if (timer !== undefined) {
      if (timer.dueMs > untilMs) return false;
      this.#fire(timer);
    } else return false;
    return true;
  }

  /**
   * Moves time forward by `ms`, firing in order every timer due up to the new
   * time, including timers that those callbacks set within the window.
   *
   * @param ms Milliseconds to move forward.
   * @param maxTimers Most timers to fire before giving up.
   * @returns The number of timers fired.
   * @throws {RangeError} If `ms` is negative, NaN or infinite, or if more than
   * `maxTimers` timers are due in the window (time then stays at the last fired timer).
   *
   * @example Timers set by callbacks fire within the same window
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * const firedAtMs: number[] = [];
   * clock.setTimer(10, () => {
   *   firedAtMs.push(clock.now());
   *   clock.setTimer(10, () => firedAtMs.push(clock.now()));
   * });
   * assert.equal(clock.advance(25), 2);
   * assert.deepEqual(firedAtMs, [10, 20]);
   * assert.equal(clock.now(), 25);
   * ```
   */
  advance(
    ms: number,
    maxTimers: number = DEFAULT_MAX_TIMERS_PER_ADVANCE,
  ): number {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(
        `Cannot advance clock: ${ms} ms is not a finite non-negative number`,
      );
    }
    return this.#fireUntil("advance clock", this.#nowMs + ms, maxTimers);
  }

  /**
   * Moves time forward to `tMs`, firing in order every timer due up to it.
   *
   * @param tMs The new time in epoch milliseconds; at least `now()`.
   * @param maxTimers Most timers to fire before giving up.
   * @returns The number of timers fired.
   * @throws {RangeError} If `tMs` is before `now()` or not finite, or if more
   * than `maxTimers` timers are due (time then stays at the last fired timer).
   *
   * @example Time never goes backwards
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * clock.setTimer(5, () => {});
   * assert.equal(clock.advanceTo(100), 1);
   * assert.throws(() => clock.advanceTo(99), RangeError);
   * ```
   */
  advanceTo(
    tMs: number,
    maxTimers: number = DEFAULT_MAX_TIMERS_PER_ADVANCE,
  ): number {
    if (!Number.isFinite(tMs) || tMs < this.#nowMs) {
      throw new RangeError(
        `Cannot advance clock to ${tMs}: time is already ${this.#nowMs}`,
      );
    }
    return this.#fireUntil("advance clock", tMs, maxTimers);
  }

  /**
   * Fires timers in order, moving time along, until none is pending.
   *
   * @param maxTimers Most timers to fire before giving up.
   * @returns The number of timers fired.
   * @throws {RangeError} If timers are still pending after `maxTimers` fired,
   * as when a callback always sets a new timer.
   *
   * @example A self-rescheduling timer hits the bound
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "./manual_clock.ts";
   *
   * const clock = new ManualClock(0);
   * function tick(): void {
   *   clock.setTimer(1_000, tick);
   * }
   * tick();
   * assert.throws(() => clock.runUntilIdle(100), RangeError);
   * assert.equal(clock.now(), 100_000);
   * ```
   */
  runUntilIdle(maxTimers: number = DEFAULT_MAX_TIMERS_UNTIL_IDLE): number {
    checkMaxTimers("run clock until idle", maxTimers);
    let fired = 0;
    for (;;) {
      const timer = this.#peekLive();
      const source = this.#earliestSource(timer);
      if (timer === undefined && source === undefined) return fired;
      if (fired >= maxTimers) {
        throw new RangeError(
          `Cannot run clock until idle: ${this.pendingCount} timers still pending after firing ${fired}`,
        );
      }
      if (source !== undefined) this.#fireSource(source);
      else this.#fire(timer!);
      fired++;
    }
  }

  #fireUntil(action: string, targetMs: number, maxTimers: number): number {
    checkMaxTimers(action, maxTimers);
    let fired = 0;
    for (;;) {
      const timer = this.#peekLive();
      const source = this.#earliestSource(timer);
      const dueMs = source !== undefined
        ? source.headDueMs
        : timer !== undefined
        ? timer.dueMs
        : Infinity;
      if (dueMs > targetMs) break;
      if (fired >= maxTimers) {
        throw new RangeError(
          `Cannot ${action} to ${targetMs}: more than ${maxTimers} timers due, stopped at ${this.#nowMs}`,
        );
      }
      if (source !== undefined) this.#fireSource(source);
      else this.#fire(timer!);
      fired++;
    }
    this.#nowMs = targetMs;
    return fired;
  }

  /** Removes `timer` (the live top of the heap), moves time to it and runs its callback. */
  #fire(timer: ManualTimer): void {
    this.#popTop();
    // Due times are never in the past, but keep time monotonic regardless.
    if (timer.dueMs > this.#nowMs) this.#nowMs = timer.dueMs;
    timer.take()();
  }

  /**
   * The event source whose head comes before `timer` (and before the heads
   * of the other sources), or `undefined` if `timer` comes first or nothing
   * is queued.
   */
  #earliestSource(
    timer: ManualTimer | undefined,
  ): ClockEventSource | undefined {
    const sources = this.#sources;
    let best: ClockEventSource | undefined;
    let bestDue = timer === undefined ? Infinity : timer.dueMs;
    let bestSequence = timer === undefined ? Infinity : timer.sequence;
    for (let index = 0; index < sources.length; index++) {
      const source = sources[index];
      if (source.size === 0) continue;
      const due = source.headDueMs;
      if (
        due < bestDue ||
        (due === bestDue && source.headSequence < bestSequence)
      ) {
        best = source;
        bestDue = due;
        bestSequence = source.headSequence;
      }
    }
    return best;
  }

  /** Moves time to the head event of `source` and runs it. */
  #fireSource(source: ClockEventSource): void {
    const dueMs = source.headDueMs;
    if (dueMs > this.#nowMs) this.#nowMs = dueMs;
    source.runHead();
  }

  /** Drops cancelled timers off the top of the heap and returns the live top, if any. */
  #peekLive(): ManualTimer | undefined {
    const heap = this.#heap;
    while (heap.length > 0) {
      const top = heap[0];
      if (top.isLive) return top;
      this.#popTop();
      this.#cancelledInHeap--;
    }
    return undefined;
  }

  #timerCancelled(_timer: ManualTimer): void {
    this.#cancelledInHeap++;
    if (this.#cancelledInHeap * 2 > this.#heap.length) this.#compact();
  }

  /** Rebuilds the heap without cancelled timers, in linear time. */
  #compact(): void {
    this.#heap = this.#heap.filter((timer) => timer.isLive);
    this.#cancelledInHeap = 0;
    const heap = this.#heap;
    for (let index = 0; index < heap.length; index++) {
      this.#heapDue[index] = heap[index].dueMs;
      this.#heapSequence[index] = heap[index].sequence;
    }
    for (let index = (heap.length >> 1) - 1; index >= 0; index--) {
      this.#siftDown(index);
    }
  }

  #growKeys(capacity: number): void {
    const due = new Float64Array(capacity);
    due.set(this.#heapDue);
    this.#heapDue = due;
    const sequence = new Float64Array(capacity);
    sequence.set(this.#heapSequence);
    this.#heapSequence = sequence;
  }

  #popTop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    const size = heap.length;
    if (last === undefined || size === 0) return;
    heap[0] = last;
    this.#heapDue[0] = this.#heapDue[size];
    this.#heapSequence[0] = this.#heapSequence[size];
    this.#siftDown(0);
  }

  #siftUp(start: number): void {
    const heap = this.#heap;
    const due = this.#heapDue;
    const sequence = this.#heapSequence;
    const timer = heap[start];
    const timerDue = due[start];
    const timerSequence = sequence[start];
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parentDue = due[parentIndex];
      // Stop unless the timer fires before its parent.
      if (
        timerDue > parentDue ||
        (timerDue === parentDue && timerSequence > sequence[parentIndex])
      ) break;
      heap[index] = heap[parentIndex];
      due[index] = parentDue;
      sequence[index] = sequence[parentIndex];
      index = parentIndex;
    }
    heap[index] = timer;
    due[index] = timerDue;
    sequence[index] = timerSequence;
  }

  #siftDown(start: number): void {
    const heap = this.#heap;
    const due = this.#heapDue;
    const sequence = this.#heapSequence;
    const length = heap.length;
    const timer = heap[start];
    const timerDue = due[start];
    const timerSequence = sequence[start];
    let index = start;
    for (;;) {
      const leftIndex = 2 * index + 1;
      if (leftIndex >= length) break;
      const rightIndex = leftIndex + 1;
      let childIndex = leftIndex;
      if (rightIndex < length) {
        const rightDue = due[rightIndex];
        const leftDue = due[leftIndex];
        if (
          rightDue < leftDue ||
          (rightDue === leftDue && sequence[rightIndex] < sequence[leftIndex])
        ) childIndex = rightIndex;
      }
      const childDue = due[childIndex];
      // Stop unless the child fires before the timer.
      if (
        childDue > timerDue ||
        (childDue === timerDue && sequence[childIndex] > timerSequence)
      ) break;
      heap[index] = heap[childIndex];
      due[index] = childDue;
      sequence[index] = sequence[childIndex];
      index = childIndex;
    }
    heap[index] = timer;
    due[index] = timerDue;
    sequence[index] = timerSequence;
  }
}
