/**
 * Measurements of a simulation: {@link Samples} collects numbers (lookup
 * latencies, hop counts, …) and reports percentiles, summaries and CDFs,
 * optionally in bounded memory by deterministic reservoir sampling. Nothing
 * here reads the operating system, so results depend on the seed alone.
 *
 * @module
 */

import type { Rng } from "../lib/rng.ts";

/**
 * Settings of a {@link Samples}.
 *
 * @example Keep at most 10,000 values
 * ```ts
 * import assert from "node:assert/strict";
 * import { Samples, type SamplesOptions } from "./metrics.ts";
 * import { seededRng } from "../lib/rng.ts";
 *
 * const options: SamplesOptions = { maxSamples: 10_000, rng: seededRng(1) };
 * assert.equal(new Samples(options).count, 0);
 * ```
 */
export interface SamplesOptions {
  /**
   * Most values kept for percentiles; beyond it, a uniform random subset of
   * this size is kept (reservoir sampling). Count, min, max and mean always
   * cover every value.
   *
   * @default {Infinity}
   */
  maxSamples?: number;
  /**
   * The randomness of the reservoir: one draw per value added beyond
   * `maxSamples`. Required when `maxSamples` is finite.
   *
   * @default {undefined}
   */
  rng?: Rng;
}

/**
 * A summary of a {@link Samples}, a plain object. Percentiles are
 * nearest-rank. When empty, `count` is 0 and every other field is NaN
 * (which `JSON.stringify` writes as `null`).
 *
 * @example Read a summary
 * ```ts
 * import assert from "node:assert/strict";
 * import { Samples, type SampleSummary } from "./metrics.ts";
 *
 * const samples = new Samples();
 * samples.add(4);
 * const summary: SampleSummary = samples.summary();
 * assert.equal(summary.p99, 4);
 * ```
 */
export interface SampleSummary {
  /** Values added, including those the reservoir did not keep. */
  count: number;
  /** Smallest value added. */
  min: number;
  /** Largest value added. */
  max: number;
  /** Arithmetic mean of every value added. */
  mean: number;
  /** 50th percentile. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 95th percentile. */
  p95: number;
  /** 99th percentile. */
  p99: number;
}

/**
 * One point of a cumulative distribution: `fraction` of the kept values are
 * at most `value` (at least that fraction, with ties).
 *
 * @example A point
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CdfPoint } from "./metrics.ts";
 *
 * const point: CdfPoint = { value: 120, fraction: 0.9 };
 * assert.equal(point.fraction, 0.9);
 * ```
 */
export interface CdfPoint {
  /** One of the kept values. */
  value: number;
  /** Share of the kept values at most `value`, from 0 to 1. */
  fraction: number;
}

/** Values allocated before the first growth. */
const INITIAL_CAPACITY = 64;

/**
 * A collection of numbers with percentiles by the nearest-rank method: the
 * `p`-th percentile of `n` sorted values is the value of rank
 * `max(1, ceil(p / 100 · n))`, always one of the values (no interpolation).
 * The 0th percentile is the minimum and the 100th the maximum.
 *
 * Values live in a growing `Float64Array`, in insertion order; a sorted copy
 * is made when a percentile is asked for and kept until the next change. With `maxSamples`, the kept values are a reservoir (Vitter's
 * algorithm R): the `i`-th value (from 0) beyond the first `maxSamples`
 * replaces a random kept value with probability `maxSamples / (i + 1)`, using
 * one draw of the given rng, so the same seed keeps the same values.
 *
 * Empty: `percentile` and the fields of `summary` other than `count` are NaN,
 * and `cdf` returns an empty array.
 *
 * @example Percentiles of 1 to 100
 * ```ts
 * import assert from "node:assert/strict";
 * import { Samples } from "./metrics.ts";
 *
 * const samples = new Samples();
 * for (let value = 1; value <= 100; value++) samples.add(value);
 * assert.equal(samples.percentile(50), 50);
 * assert.equal(samples.percentile(90), 90);
 * assert.equal(samples.percentile(0), 1);
 * assert.equal(samples.summary().mean, 50.5);
 * ```
 */
export class Samples {
  readonly #maxSamples: number;
  readonly #rng: Rng | undefined;
  #values = new Float64Array(INITIAL_CAPACITY);
  #kept = 0;
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;
  /** A sorted copy of the kept values, dropped whenever they change. */
  #sorted: Float64Array | undefined;

  /**
   * Creates an empty collection.
   *
   * @param options The memory bound and its rng.
   * @throws {RangeError} If `maxSamples` is not a positive integer or Infinity.
   * @throws {TypeError} If `maxSamples` is finite and no `rng` is given.
   *
   * @example A bound needs an rng
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   *
   * assert.throws(() => new Samples({ maxSamples: 100 }), TypeError);
   * assert.throws(() => new Samples({ maxSamples: 0 }), RangeError);
   * ```
   */
  constructor(options: SamplesOptions = {}) {
    const { maxSamples = Infinity, rng } = options;
    if (
      maxSamples !== Infinity &&
      !(Number.isSafeInteger(maxSamples) && maxSamples > 0)
    ) {
      throw new RangeError(
        `Cannot create samples: maxSamples ${maxSamples} is not a positive integer or Infinity`,
      );
    }
    if (maxSamples !== Infinity && rng === undefined) {
      throw new TypeError(
        `Cannot create samples: maxSamples ${maxSamples} needs an rng for reservoir sampling`,
      );
    }
    this.#maxSamples = maxSamples;
    this.#rng = rng;
  }

  /**
   * The number of values added, including those the reservoir did not keep.
   *
   * @returns The count.
   *
   * @example Count every value
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   *
   * const samples = new Samples();
   * samples.add(1);
   * samples.add(1);
   * assert.equal(samples.count, 2);
   * ```
   */
  get count(): number {
    return this.#count;
  }

  /**
   * The number of values kept for percentiles: `min(count, maxSamples)`.
   *
   * @returns The count.
   *
   * @example The reservoir stays bounded
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   * import { seededRng } from "../lib/rng.ts";
   *
   * const samples = new Samples({ maxSamples: 10, rng: seededRng(1) });
   * for (let value = 0; value < 1_000; value++) samples.add(value);
   * assert.equal(samples.keptCount, 10);
   * assert.equal(samples.count, 1_000);
   * ```
   */
  get keptCount(): number {
    return this.#kept;
  }

  /**
   * Adds a value.
   *
   * @param value A finite number.
   * @throws {RangeError} If `value` is NaN or infinite.
   *
   * @example Reject NaN
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   *
   * assert.throws(() => new Samples().add(NaN), RangeError);
   * ```
   */
  add(value: number): void {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Cannot add sample: ${value} is not finite`);
    }
    const index = this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
    if (this.#kept < this.#maxSamples) {
      if (this.#kept === this.#values.length) this.#grow();
      this.#values[this.#kept++] = value;
      this.#sorted = undefined;
      return;
    }
    const draw = this.#rng!();
    if (!(draw >= 0 && draw < 1)) {
      throw new RangeError(
        `Cannot add sample: rng returned ${draw}, outside [0, 1)`,
      );
    }
    const slot = Math.floor(draw * (index + 1));
    if (slot < this.#kept) {
      this.#values[slot] = value;
      this.#sorted = undefined;
    }
  }

  /**
   * The `p`-th percentile by nearest rank, over the kept values.
   *
   * @param p From 0 to 100.
   * @returns One of the kept values, or NaN if there is none.
   * @throws {RangeError} If `p` is not from 0 to 100.
   *
   * @example Nearest rank never interpolates
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   *
   * const samples = new Samples();
   * for (const value of [15, 20, 35, 40, 50]) samples.add(value);
   * assert.equal(samples.percentile(30), 20);
   * assert.equal(samples.percentile(40), 20);
   * assert.equal(samples.percentile(50), 35);
   * assert.equal(samples.percentile(100), 50);
   * assert.ok(Number.isNaN(new Samples().percentile(50)));
   * ```
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) {
      throw new RangeError(
        `Cannot compute percentile: ${p} is not from 0 to 100`,
      );
    }
    const kept = this.#kept;
    if (kept === 0) return NaN;
    const rank = Math.max(1, Math.ceil(p / 100 * kept));
    return this.#sortedValues()[rank - 1];
  }

  /**
   * Count, minimum, maximum, mean and the usual percentiles.
   *
   * @returns A fresh plain object; NaN fields when empty.
   *
   * @example Summarize
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   *
   * const samples = new Samples();
   * for (const value of [3, 1, 2]) samples.add(value);
   * assert.deepEqual(samples.summary(), {
   *   count: 3, min: 1, max: 3, mean: 2, p50: 2, p90: 3, p95: 3, p99: 3,
   * });
   * assert.ok(Number.isNaN(new Samples().summary().mean));
   * ```
   */
  summary(): SampleSummary {
    const count = this.#count;
    if (count === 0) {
      return {
        count: 0,
        min: NaN,
        max: NaN,
        mean: NaN,
        p50: NaN,
        p90: NaN,
        p95: NaN,
        p99: NaN,
      };
    }
    return {
      count,
      min: this.#min,
      max: this.#max,
      mean: this.#sum / count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p95: this.percentile(95),
      p99: this.percentile(99),
    };
  }

  /**
   * Points of the cumulative distribution for a plot, at evenly spaced
   * fractions `i / (points - 1)` for `i` from 0 to `points - 1`, each with
   * the nearest-rank percentile at that fraction: the first point is the
   * minimum at fraction 0, the last the maximum at fraction 1.
   *
   * @param points How many points, at least 2.
   * @returns The points in increasing order, or an empty array when empty.
   * @throws {RangeError} If `points` is not an integer of at least 2.
   *
   * @example Five points over 1 to 100
   * ```ts
   * import assert from "node:assert/strict";
   * import { Samples } from "./metrics.ts";
   *
   * const samples = new Samples();
   * for (let value = 1; value <= 100; value++) samples.add(value);
   * assert.deepEqual(samples.cdf(5).map((point) => point.value), [1, 25, 50, 75, 100]);
   * ```
   */
  cdf(points: number): CdfPoint[] {
    if (!Number.isSafeInteger(points) || points < 2) {
      throw new RangeError(
        `Cannot compute cdf: ${points} points is not an integer of at least 2`,
      );
    }
    if (this.#kept === 0) return [];
    const result: CdfPoint[] = [];
    for (let index = 0; index < points; index++) {
      const fraction = index / (points - 1);
      result.push({ value: this.percentile(100 * fraction), fraction });
    }
    return result;
  }

  /**
   * The kept values in increasing order. A copy, so that the reservoir keeps
   * insertion order and its replacements do not depend on when percentiles
   * were asked for.
   */
  #sortedValues(): Float64Array {
    if (this.#sorted === undefined) {
      // Typed arrays sort numerically.
      this.#sorted = this.#values.slice(0, this.#kept).sort();
    }
    return this.#sorted;
  }

  #grow(): void {
    const capacity = Math.min(this.#values.length * 2, this.#maxSamples);
    const grown = new Float64Array(capacity);
    grown.set(this.#values);
    this.#values = grown;
  }
}
