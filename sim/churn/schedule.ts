/**
 * The churn schedule: {@link ChurnSchedule} decides which hosts churn and
 * when each leaves (a crash or a clean leave) and comes back, with timers on
 * the simulation clock and draws from a seeded rng, so a seed replays the
 * same leaves and joins.
 *
 * @module
 */

import type { Clock, Timer } from "../../lib/clock.ts";
import { forkRng, type Rng } from "../../lib/rng.ts";
import {
  sampleDuration,
  sampleResidualDuration,
  unitDraw,
} from "./distributions.ts";
import type { ChurnSpec } from "./spec.ts";

/**
 * How a host left: `"crash"` (no goodbye, state may be lost) or `"clean"`
 * (an orderly shutdown). The share of crashes is
 * {@link ChurnScheduleOptions.crashProbability}.
 */
export type LeaveKind = "crash" | "clean";

/**
 * Collaborators and settings of a {@link ChurnSchedule}.
 */
export interface ChurnScheduleOptions {
  /** The simulation clock; every leave and join is one of its timers. */
  clock: Clock;
  /** The schedule's randomness; it forks its own streams from it. */
  rng: Rng;
  /** Hosts are the indexes 0 to `hostCount - 1`. */
  hostCount: number;
  /** Session and downtime distributions; `undefined` means no churn at all. */
  spec: ChurnSpec | undefined;
  /** Events are scheduled only up to this long after `start()`. */
  durationMs: number;
  /**
   * Probability that a leave is a crash rather than a clean leave.
   *
   * @default {0.5}
   */
  crashProbability?: number;
  /**
   * Share of the hosts that churn, chosen at random (exactly
   * `round(fraction · hostCount)` of them); the others stay online.
   *
   * @default {1}
   */
  fraction?: number;
}

/**
 * What a {@link ChurnSchedule} calls; the host's state has already changed,
 * and its next event is already scheduled, when a callback runs. The
 * {@link ChurnSchedule} example shows a pair that tracks who is online.
 */
export interface ChurnCallbacks {
  /**
   * A host goes offline.
   *
   * @param hostIndex From 0 to `hostCount - 1`.
   * @param kind A crash or a clean leave.
   */
  onLeave(hostIndex: number, kind: LeaveKind): void;
  /**
   * A host comes back online.
   *
   * @param hostIndex From 0 to `hostCount - 1`.
   */
  onJoin(hostIndex: number): void;
}

/**
 * Event counts of a {@link ChurnSchedule}, a plain object.
 */
export interface ChurnCounts {
  /** Times a host came back online since `start()`; starting online is not a join. */
  joins: number;
  /** Leaves so far, crashes and clean leaves together. */
  leaves: number;
  /** Leaves that were crashes. */
  crashes: number;
  /** Leaves that were clean. */
  cleanLeaves: number;
  /** Hosts online now, churning or not. */
  onlineHostCount: number;
}

/**
 * Drives churn with clock timers: every churning host alternates a session
 * (online) and a downtime (offline), each drawn from the spec, calling
 * `onLeave` and `onJoin` at the transitions. All hosts start online; the
 * first session of each churning host is drawn from the residual-life
 * distribution ({@link sampleResidualDuration}), so that leaves are spread
 * from the start as in a system long under way (the offline share then rises
 * from 0 towards `expectedOfflineFraction` of ./spec.ts over about one
 * downtime).
 * Nothing is scheduled beyond `durationMs` after `start()`; each host then
 * keeps its last state.
 *
 * Randomness: the constructor forks, in this order, `"churn-hosts"` (the
 * churning hosts, a partial Fisher–Yates shuffle, no draws when `fraction`
 * is 1), `"churn-durations"` and `"churn-kinds"` (one draw per leave). Each
 * host keeps one callback closure for its whole life; one timer is pending
 * per churning host.
 *
 * @example Three hosts, always alternating
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../../lib/testing/manual_clock.ts";
 * import { seededRng } from "../../lib/rng.ts";
 * import { ChurnSchedule } from "./schedule.ts";
 * import { parseChurnSpec } from "./spec.ts";
 *
 * const clock = new ManualClock(0);
 * const online = [true, true, true];
 * const schedule = new ChurnSchedule({
 *   clock,
 *   rng: seededRng(1),
 *   hostCount: 3,
 *   spec: parseChurnSpec("exponential:mean=1h/exponential:mean=10m"),
 *   durationMs: 86_400_000,
 * }, {
 *   onLeave(hostIndex) {
 *     assert.equal(online[hostIndex], true);
 *     online[hostIndex] = false;
 *   },
 *   onJoin(hostIndex) {
 *     assert.equal(online[hostIndex], false);
 *     online[hostIndex] = true;
 *   },
 * });
 * schedule.start();
 * clock.runUntilIdle();
 * const counts = schedule.counts();
 * assert.ok(counts.leaves > 20);
 * assert.equal(counts.leaves - counts.joins, 3 - counts.onlineHostCount);
 * ```
 */
export class ChurnSchedule {
  readonly #clock: Clock;
  readonly #spec: ChurnSpec | undefined;
  readonly #hostCount: number;
  readonly #durationMs: number;
  readonly #crashProbability: number;
  readonly #callbacks: ChurnCallbacks;
  readonly #durationRng: Rng;
  readonly #kindRng: Rng;
  /** 1 for hosts that churn. */
  readonly #churning: Uint8Array;
  /** 1 for hosts online. */
  readonly #online: Uint8Array;
  /** The pending timer of each churning host. */
  readonly #timers: (Timer | undefined)[];
  #endMs = 0;
  #started = false;
  #stopped = false;
  #joins = 0;
  #crashes = 0;
  #cleanLeaves = 0;
  #onlineHostCount: number;

  /**
   * Prepares a schedule; nothing happens until {@link ChurnSchedule.start}.
   *
   * @param options Which hosts churn, how and for how long; see {@link ChurnScheduleOptions}.
   * @param callbacks Called at each leave and join.
   * @throws {RangeError} If `hostCount` is not a non-negative integer,
   * `durationMs` not a non-negative number, or `crashProbability` or
   * `fraction` not from 0 to 1.
   *
   * @example Without a spec nobody churns
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../../lib/testing/manual_clock.ts";
   * import { seededRng } from "../../lib/rng.ts";
   * import { ChurnSchedule } from "./schedule.ts";
   *
   * const clock = new ManualClock(0);
   * const schedule = new ChurnSchedule(
   *   { clock, rng: seededRng(1), hostCount: 5, spec: undefined, durationMs: 1_000 },
   *   { onLeave() {}, onJoin() {} },
   * );
   * schedule.start();
   * assert.equal(clock.pendingCount, 0);
   * assert.equal(schedule.isChurning(0), false);
   * ```
   */
  constructor(options: ChurnScheduleOptions, callbacks: ChurnCallbacks) {
    const {
      clock,
      rng,
      hostCount,
      spec,
      durationMs,
      crashProbability = 0.5,
      fraction = 1,
    } = options;
    if (!Number.isSafeInteger(hostCount) || hostCount < 0) {
      throw new RangeError(
        `Cannot create churn schedule: hostCount ${hostCount} is not a non-negative integer`,
      );
    }
    if (!(durationMs >= 0)) {
      throw new RangeError(
        `Cannot create churn schedule: durationMs ${durationMs} is not a non-negative number`,
      );
    }
    for (
      const [name, value] of [
        ["crashProbability", crashProbability],
        ["fraction", fraction],
      ] as const
    ) {
      if (!(value >= 0 && value <= 1)) {
        throw new RangeError(
          `Cannot create churn schedule: ${name} ${value} is not from 0 to 1`,
        );
      }
    }
    const hostsRng = forkRng(rng, "churn-hosts");
    this.#durationRng = forkRng(rng, "churn-durations");
    this.#kindRng = forkRng(rng, "churn-kinds");
    this.#clock = clock;
    this.#spec = spec;
    this.#hostCount = hostCount;
    this.#durationMs = durationMs;
    this.#crashProbability = crashProbability;
    this.#callbacks = callbacks;
    this.#online = new Uint8Array(hostCount).fill(1);
    this.#onlineHostCount = hostCount;
    this.#timers = new Array(hostCount);
    this.#churning = spec === undefined
      ? new Uint8Array(hostCount)
      : chooseHosts(hostsRng, hostCount, Math.round(fraction * hostCount));
  }

  /**
   * Schedules the first leave of every churning host.
   *
   * @throws {Error} If the schedule was started before.
   *
   * @example Start once
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../../lib/testing/manual_clock.ts";
   * import { seededRng } from "../../lib/rng.ts";
   * import { ChurnSchedule } from "./schedule.ts";
   * import { parseChurnSpec } from "./spec.ts";
   *
   * const clock = new ManualClock(0);
   * const schedule = new ChurnSchedule({
   *   clock,
   *   rng: seededRng(1),
   *   hostCount: 4,
   *   spec: parseChurnSpec("exponential:mean=1h/exponential:mean=10m"),
   *   durationMs: 3_600_000,
   * }, { onLeave() {}, onJoin() {} });
   * schedule.start();
   * assert.equal(clock.pendingCount <= 4, true);
   * assert.throws(() => schedule.start(), Error);
   * ```
   */
  start(): void {
    if (this.#started) {
      throw new Error("Cannot start churn schedule: it was started before");
    }
    this.#started = true;
    this.#endMs = this.#clock.now() + this.#durationMs;
    const spec = this.#spec;
    if (spec === undefined) return;
    for (let hostIndex = 0; hostIndex < this.#hostCount; hostIndex++) {
      if (this.#churning[hostIndex] === 0) continue;
      // One closure per host, reused for each of its events.
      const transition = (): void => this.#transition(hostIndex, transition);
      const sessionMs = sampleResidualDuration(
        this.#durationRng,
        spec.session,
      );
      this.#schedule(hostIndex, sessionMs, transition);
    }
  }

  /**
   * Cancels every pending leave and join; hosts keep their current state.
   * Idempotent.
   *
   * @example Stop early
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../../lib/testing/manual_clock.ts";
   * import { seededRng } from "../../lib/rng.ts";
   * import { ChurnSchedule } from "./schedule.ts";
   * import { parseChurnSpec } from "./spec.ts";
   *
   * const clock = new ManualClock(0);
   * const schedule = new ChurnSchedule({
   *   clock,
   *   rng: seededRng(1),
   *   hostCount: 10,
   *   spec: parseChurnSpec("exponential:mean=1h/exponential:mean=10m"),
   *   durationMs: 86_400_000,
   * }, { onLeave() {}, onJoin() {} });
   * schedule.start();
   * schedule.stop();
   * assert.equal(clock.pendingCount, 0);
   * ```
   */
  stop(): void {
    this.#stopped = true;
    for (let hostIndex = 0; hostIndex < this.#hostCount; hostIndex++) {
      this.#timers[hostIndex]?.cancel();
      this.#timers[hostIndex] = undefined;
    }
  }

  /**
   * Whether a host is online in the schedule.
   *
   * @param hostIndex From 0 to `hostCount - 1`.
   * @returns `true` until its first leave, then alternately.
   * @throws {RangeError} If the index is not from 0 to `hostCount - 1`.
   *
   * @example Everyone starts online
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../../lib/testing/manual_clock.ts";
   * import { seededRng } from "../../lib/rng.ts";
   * import { ChurnSchedule } from "./schedule.ts";
   *
   * const schedule = new ChurnSchedule(
   *   { clock: new ManualClock(0), rng: seededRng(1), hostCount: 2, spec: undefined, durationMs: 0 },
   *   { onLeave() {}, onJoin() {} },
   * );
   * assert.equal(schedule.isOnline(1), true);
   * assert.throws(() => schedule.isOnline(2), RangeError);
   * ```
   */
  isOnline(hostIndex: number): boolean {
    this.#checkHost("read host state", hostIndex);
    return this.#online[hostIndex] === 1;
  }

  /**
   * Whether a host is one of those that churn.
   *
   * @param hostIndex From 0 to `hostCount - 1`.
   * @returns `true` if it was chosen to churn.
   * @throws {RangeError} If the index is not from 0 to `hostCount - 1`.
   *
   * @example Half the hosts churn
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../../lib/testing/manual_clock.ts";
   * import { seededRng } from "../../lib/rng.ts";
   * import { ChurnSchedule } from "./schedule.ts";
   * import { parseChurnSpec } from "./spec.ts";
   *
   * const schedule = new ChurnSchedule({
   *   clock: new ManualClock(0),
   *   rng: seededRng(1),
   *   hostCount: 10,
   *   spec: parseChurnSpec("exponential:mean=1h/exponential:mean=10m"),
   *   durationMs: 0,
   *   fraction: 0.5,
   * }, { onLeave() {}, onJoin() {} });
   * let churning = 0;
   * for (let index = 0; index < 10; index++) churning += Number(schedule.isChurning(index));
   * assert.equal(churning, 5);
   * ```
   */
  isChurning(hostIndex: number): boolean {
    this.#checkHost("read host state", hostIndex);
    return this.#churning[hostIndex] === 1;
  }

  /**
   * Event counts so far.
   *
   * @returns A fresh plain object.
   *
   * @example Nothing before start
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../../lib/testing/manual_clock.ts";
   * import { seededRng } from "../../lib/rng.ts";
   * import { ChurnSchedule } from "./schedule.ts";
   *
   * const schedule = new ChurnSchedule(
   *   { clock: new ManualClock(0), rng: seededRng(1), hostCount: 2, spec: undefined, durationMs: 0 },
   *   { onLeave() {}, onJoin() {} },
   * );
   * assert.deepEqual(schedule.counts(), {
   *   joins: 0, leaves: 0, crashes: 0, cleanLeaves: 0, onlineHostCount: 2,
   * });
   * ```
   */
  counts(): ChurnCounts {
    return {
      joins: this.#joins,
      leaves: this.#crashes + this.#cleanLeaves,
      crashes: this.#crashes,
      cleanLeaves: this.#cleanLeaves,
      onlineHostCount: this.#onlineHostCount,
    };
  }

  #checkHost(action: string, hostIndex: number): void {
    if (
      !Number.isInteger(hostIndex) || hostIndex < 0 ||
      hostIndex >= this.#hostCount
    ) {
      throw new RangeError(
        `Cannot ${action}: host index ${hostIndex} is not from 0 to ${
          this.#hostCount - 1
        }`,
      );
    }
  }

  /** Sets the host's next timer, unless it would fall after the end. */
  #schedule(hostIndex: number, delayMs: number, transition: () => void): void {
    if (this.#stopped || this.#clock.now() + delayMs > this.#endMs) {
      this.#timers[hostIndex] = undefined;
      return;
    }
    this.#timers[hostIndex] = this.#clock.setTimer(delayMs, transition);
  }

  /** Flips the host's state, schedules its next event, then tells the callbacks. */
  #transition(hostIndex: number, transition: () => void): void {
    const spec = this.#spec!;
    if (this.#online[hostIndex] === 1) {
      const kind: LeaveKind =
        unitDraw(this.#kindRng, "draw leave kind") < this.#crashProbability
          ? "crash"
          : "clean";
      this.#online[hostIndex] = 0;
      this.#onlineHostCount--;
      if (kind === "crash") this.#crashes++;
      else this.#cleanLeaves++;
      const downtimeMs = sampleDuration(this.#durationRng, spec.downtime);
      this.#schedule(hostIndex, downtimeMs, transition);
      this.#callbacks.onLeave(hostIndex, kind);
    } else {
      this.#online[hostIndex] = 1;
      this.#onlineHostCount++;
      this.#joins++;
      const sessionMs = sampleDuration(this.#durationRng, spec.session);
      this.#schedule(hostIndex, sessionMs, transition);
      this.#callbacks.onJoin(hostIndex);
    }
  }
}

/**
 * Marks `count` of `hostCount` hosts, chosen by a partial Fisher–Yates
 * shuffle; all of them, without draws, when `count` is `hostCount`.
 */
function chooseHosts(rng: Rng, hostCount: number, count: number): Uint8Array {
  const chosen = new Uint8Array(hostCount);
  if (count >= hostCount) return chosen.fill(1);
  const order = new Int32Array(hostCount);
  for (let index = 0; index < hostCount; index++) order[index] = index;
  for (let index = 0; index < count; index++) {
    const other = index +
      Math.floor(unitDraw(rng, "choose churning hosts") * (hostCount - index));
    const picked = order[other];
    order[other] = order[index];
    order[index] = picked;
    chosen[picked] = 1;
  }
  return chosen;
}
