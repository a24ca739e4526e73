/**
 * One-way latency between simulated hosts: a {@link LatencyModel} interface
 * and {@link CoordinateLatency}, a seeded model built from network
 * coordinates.
 *
 * @module
 */

import type { Rng } from "../rng.ts";

/**
 * Gives the one-way propagation delay between two hosts, named by dense
 * integer indexes (0, 1, 2, …). The value for a pair must not change between
 * calls, so that round trips are consistent; per-packet jitter is added by the
 * network, not here.
 *
 * @example A constant model for a test
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LatencyModel } from "./latency.ts";
 *
 * const constant: LatencyModel = { oneWayMs: () => 10 };
 * assert.equal(constant.oneWayMs(0, 1), 10);
 * ```
 */
export interface LatencyModel {
  /**
   * The one-way delay from `source` to `target`.
   *
   * @param source The sending host's index.
   * @param target The receiving host's index.
   * @returns Milliseconds, finite and non-negative.
   */
  oneWayMs(source: number, target: number): number;
}

/**
 * Options for {@link CoordinateLatency}; every duration is one-way.
 *
 * @example Slower, wider-spread latencies
 * ```ts
 * import assert from "node:assert/strict";
 * import { CoordinateLatency, type CoordinateLatencyOptions } from "./latency.ts";
 * import { seededRng } from "../rng.ts";
 *
 * const options: CoordinateLatencyOptions = { medianOneWayMs: 80, spread: 0.9 };
 * const latency = new CoordinateLatency(seededRng(1), options);
 * assert.ok(latency.oneWayMs(0, 1) >= 1);
 * ```
 */
export interface CoordinateLatencyOptions {
  /**
   * Median one-way latency over random pairs of hosts, access links included.
   *
   * @default {50}
   */
  medianOneWayMs?: number;
  /**
   * Standard deviation of the natural logarithm of the core (distance) part
   * of the latency: 0.75 puts the 10th and 90th percentiles about 2.6 times
   * below and above the median.
   *
   * @default {0.75}
   */
  spread?: number;
  /**
   * Median of a host's access-link delay (its "height"), added once for each
   * end of every path.
   *
   * @default {2}
   */
  accessDelayMedianMs?: number;
  /**
   * Standard deviation of the natural logarithm of the access-link delays.
   *
   * @default {0.75}
   */
  accessDelaySpread?: number;
  /**
   * Smallest one-way latency returned.
   *
   * @default {1}
   */
  minOneWayMs?: number;
  /**
   * Largest one-way latency returned.
   *
   * @default {500}
   */
  maxOneWayMs?: number;
}

/**
 * Where a host sits in a {@link CoordinateLatency} model.
 *
 * @example Read a host's coordinates
 * ```ts
 * import assert from "node:assert/strict";
 * import { CoordinateLatency, type HostCoordinates } from "./latency.ts";
 * import { seededRng } from "../rng.ts";
 *
 * const where: HostCoordinates = new CoordinateLatency(seededRng(1)).hostCoordinates(0);
 * assert.ok(where.accessDelayMs > 0);
 * ```
 */
export interface HostCoordinates {
  /** First network coordinate, unitless, drawn from a standard normal distribution. */
  readonly x: number;
  /** Second network coordinate, unitless, drawn from a standard normal distribution. */
  readonly y: number;
  /** The access-link delay ("height") added at this end of every path, in milliseconds. */
  readonly accessDelayMs: number;
}

/** Most hosts a model describes: the number of host addresses in 10.0.0.0/8. */
const MAX_HOSTS = 0xff_ff_fe;

/** Hosts allocated before the first growth. */
const INITIAL_CAPACITY = 1024;

// Coefficients of Acklam's rational approximation of the standard normal
// quantile (relative error below 1.2e-9), from
// https://web.archive.org/web/20151030215612/http://home.online.no/~pjacklam/notes/invnorm/
const ACKLAM_A = [
  -3.969683028665376e+01,
  2.209460984245205e+02,
  -2.759285104469687e+02,
  1.383577518672690e+02,
  -3.066479806614716e+01,
  2.506628277459239e+00,
] as const;
const ACKLAM_B = [
  -5.447609879822406e+01,
  1.615858368580409e+02,
  -1.556989798598866e+02,
  6.680131188771972e+01,
  -1.328068155288572e+01,
] as const;
const ACKLAM_C = [
  -7.784894002430293e-03,
  -3.223964580411365e-01,
  -2.400758277161838e+00,
  -2.549732539343734e+00,
  4.374664141464968e+00,
  2.938163982698783e+00,
] as const;
const ACKLAM_D = [
  7.784695709041462e-03,
  3.224671290700398e-01,
  2.445134137142996e+00,
  3.754408661907416e+00,
] as const;
/** Below this probability Acklam's tail formula applies. */
const ACKLAM_TAIL = 0.02425;

/** The tail part of Acklam's approximation, for `q = sqrt(-2 ln p)`; negative. */
function acklamTail(q: number): number {
  // Indexed reads rather than destructuring: this runs once per datagram.
  const c = ACKLAM_C;
  const d = ACKLAM_D;
  return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q +
    c[5]) /
    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
}

/**
 * The standard normal quantile of `lower`, where `upper = 1 - lower` is
 * passed separately so that upper-tail probabilities keep full precision.
 * Gives -Infinity for `lower = 0` and Infinity for `upper = 0`.
 */
function normalQuantile(lower: number, upper: number): number {
  // The tail formula gives Infinity / Infinity at the ends, so name them.
  if (lower <= 0) return -Infinity;
  if (upper <= 0) return Infinity;
  if (lower < ACKLAM_TAIL) return acklamTail(Math.sqrt(-2 * Math.log(lower)));
  if (upper < ACKLAM_TAIL) return -acklamTail(Math.sqrt(-2 * Math.log(upper)));
  const a = ACKLAM_A;
  const b = ACKLAM_B;
  const q = lower - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r +
    a[5]) *
    q /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** A standard normal draw by inversion: one draw of `rng`, 0 nudged into the open interval. */
function normalDraw(rng: Rng): number {
  const value = rng();
  if (!(value >= 0 && value < 1)) {
    throw new RangeError(
      `Cannot place host: rng returned ${value}, outside [0, 1)`,
    );
  }
  const lower = value > 0 ? value : Number.MIN_VALUE;
  return normalQuantile(lower, 1 - lower);
}

function checkPositive(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(
      `Cannot create latency model: ${name} ${value} is not a positive finite number`,
    );
  }
}

/**
 * A seeded latency model from network coordinates, in the spirit of Vivaldi
 * (coordinates plus a "height" per host). Each host gets two coordinates
 * drawn from a standard normal distribution and an access-link delay drawn
 * from a log-normal distribution. The one-way latency of a pair is
 *
 * `clamp(core(d) + access[source] + access[target], minOneWayMs, maxOneWayMs)`
 *
 * where `d` is the Euclidean distance between the two hosts' coordinates and
 * `core` is the increasing function that maps the distance distribution of
 * random pairs onto a log-normal distribution: for two independent standard
 * normal points `d²/4` is exponential with mean 1, so `1 - exp(-d²/4)` is
 * uniform and its normal quantile `z` gives `core = m · exp(spread · z)`.
 * The core median `m` is `medianOneWayMs` minus twice the mean access delay,
 * so that the median of the whole latency lands near `medianOneWayMs`.
 *
 * The latency of a pair never changes and is symmetric; nearby hosts are
 * close to each other and to the same third hosts. With the defaults, over
 * random pairs, the 10th, 50th and 90th percentiles are about 22, 50 and
 * 125 ms.
 *
 * Hosts are placed lazily, in index order, from the rng given to the
 * constructor (three draws a host), so the model grows with the network and
 * the same seed places every host the same way whatever the query order.
 * Coordinates live in `Float64Array`s.
 *
 * @example Stable, symmetric latencies
 * ```ts
 * import assert from "node:assert/strict";
 * import { CoordinateLatency } from "./latency.ts";
 * import { seededRng } from "../rng.ts";
 *
 * const latency = new CoordinateLatency(seededRng(7));
 * const oneWay = latency.oneWayMs(3, 8);
 * assert.equal(latency.oneWayMs(3, 8), oneWay);
 * assert.equal(latency.oneWayMs(8, 3), oneWay);
 * assert.ok(oneWay >= 1 && oneWay <= 500);
 * assert.equal(new CoordinateLatency(seededRng(7)).oneWayMs(3, 8), oneWay);
 * ```
 */
export class CoordinateLatency implements LatencyModel {
  readonly #rng: Rng;
  readonly #coreMedianMs: number;
  readonly #spread: number;
  readonly #accessDelayMedianMs: number;
  readonly #accessDelaySpread: number;
  readonly #minOneWayMs: number;
  readonly #maxOneWayMs: number;
  /** Host count placed so far. */
  #placed = 0;
  /** x and y of host `i` at `2i` and `2i + 1`. */
  #coordinates = new Float64Array(2 * INITIAL_CAPACITY);
  #accessDelaysMs = new Float64Array(INITIAL_CAPACITY);

  /**
   * Creates a model; hosts are placed on first use.
   *
   * @param rng The source of every placement; give it a stream of its own
   * (such as `forkRng(rng, "latency")`).
   * @param options Median, spread and bounds.
   * @throws {RangeError} If an option is not a positive finite number (the
   * spreads may be 0), if `minOneWayMs` exceeds `maxOneWayMs`, or if the
   * median leaves no room for the access delays.
   *
   * @example Defaults
   * ```ts
   * import assert from "node:assert/strict";
   * import { CoordinateLatency } from "./latency.ts";
   * import { seededRng } from "../rng.ts";
   *
   * assert.throws(() => new CoordinateLatency(seededRng(1), { medianOneWayMs: -1 }), RangeError);
   * assert.equal(new CoordinateLatency(seededRng(1)).placedHostCount, 0);
   * ```
   */
  constructor(rng: Rng, options: CoordinateLatencyOptions = {}) {
    const {
      medianOneWayMs = 50,
      spread = 0.75,
      accessDelayMedianMs = 2,
      accessDelaySpread = 0.75,
      minOneWayMs = 1,
      maxOneWayMs = 500,
    } = options;
    checkPositive("medianOneWayMs", medianOneWayMs);
    checkPositive("accessDelayMedianMs", accessDelayMedianMs);
    checkPositive("minOneWayMs", minOneWayMs);
    checkPositive("maxOneWayMs", maxOneWayMs);
    for (
      const [name, value] of [["spread", spread], [
        "accessDelaySpread",
        accessDelaySpread,
      ]] as const
    ) {
      if (!(Number.isFinite(value) && value >= 0)) {
        throw new RangeError(
          `Cannot create latency model: ${name} ${value} is not a non-negative finite number`,
        );
      }
    }
    if (minOneWayMs > maxOneWayMs) {
      throw new RangeError(
        `Cannot create latency model: minOneWayMs ${minOneWayMs} exceeds maxOneWayMs ${maxOneWayMs}`,
      );
    }
    const accessDelayMeanMs = accessDelayMedianMs *
      Math.exp(accessDelaySpread * accessDelaySpread / 2);
    const coreMedianMs = medianOneWayMs - 2 * accessDelayMeanMs;
    if (!(coreMedianMs > 0)) {
      throw new RangeError(
        `Cannot create latency model: medianOneWayMs ${medianOneWayMs} is not above twice the mean access delay ${accessDelayMeanMs}`,
      );
    }
    this.#rng = rng;
    this.#coreMedianMs = coreMedianMs;
    this.#spread = spread;
    this.#accessDelayMedianMs = accessDelayMedianMs;
    this.#accessDelaySpread = accessDelaySpread;
    this.#minOneWayMs = minOneWayMs;
    this.#maxOneWayMs = maxOneWayMs;
  }

  /**
   * The number of hosts placed so far: one more than the highest index seen.
   *
   * @returns The count.
   *
   * @example Hosts are placed on first use
   * ```ts
   * import assert from "node:assert/strict";
   * import { CoordinateLatency } from "./latency.ts";
   * import { seededRng } from "../rng.ts";
   *
   * const latency = new CoordinateLatency(seededRng(1));
   * latency.oneWayMs(0, 9);
   * assert.equal(latency.placedHostCount, 10);
   * ```
   */
  get placedHostCount(): number {
    return this.#placed;
  }

  /**
   * The one-way latency from `source` to `target`; the same both ways.
   *
   * @param source The sending host's index.
   * @param target The receiving host's index.
   * @returns Milliseconds, from `minOneWayMs` to `maxOneWayMs`.
   * @throws {RangeError} If an index is not an integer from 0 to 16,777,213.
   *
   * @example A host to itself pays only its access delay, twice
   * ```ts
   * import assert from "node:assert/strict";
   * import { CoordinateLatency } from "./latency.ts";
   * import { seededRng } from "../rng.ts";
   *
   * const latency = new CoordinateLatency(seededRng(2));
   * const self = latency.oneWayMs(4, 4);
   * assert.equal(self, Math.max(1, 2 * latency.hostCoordinates(4).accessDelayMs));
   * ```
   */
  oneWayMs(source: number, target: number): number {
    const highest = source > target ? source : target;
    if (highest >= this.#placed || !(source >= 0 && target >= 0)) {
      this.#place(source, target);
    }
    const coordinates = this.#coordinates;
    const dx = coordinates[2 * source] - coordinates[2 * target];
    const dy = coordinates[2 * source + 1] - coordinates[2 * target + 1];
    // For random pairs, (dx² + dy²) / 4 is exponential with mean 1.
    const halfSquared = (dx * dx + dy * dy) / 4;
    const z = normalQuantile(-Math.expm1(-halfSquared), Math.exp(-halfSquared));
    // Adding the two access delays first keeps the sum exactly symmetric.
    const oneWayMs = this.#coreMedianMs * Math.exp(this.#spread * z) +
      (this.#accessDelaysMs[source] + this.#accessDelaysMs[target]);
    if (oneWayMs < this.#minOneWayMs) return this.#minOneWayMs;
    return oneWayMs > this.#maxOneWayMs ? this.#maxOneWayMs : oneWayMs;
  }

  /**
   * Where host `index` sits, placing it (and every lower index) first if needed.
   *
   * @param index The host's index.
   * @returns Its coordinates and access delay.
   * @throws {RangeError} If `index` is not an integer from 0 to 16,777,213.
   *
   * @example Nearby hosts have low latency
   * ```ts
   * import assert from "node:assert/strict";
   * import { CoordinateLatency } from "./latency.ts";
   * import { seededRng } from "../rng.ts";
   *
   * const latency = new CoordinateLatency(seededRng(3));
   * const { x, y } = latency.hostCoordinates(0);
   * assert.ok(Number.isFinite(x) && Number.isFinite(y));
   * ```
   */
  hostCoordinates(index: number): HostCoordinates {
    this.#place(index, index);
    return {
      x: this.#coordinates[2 * index],
      y: this.#coordinates[2 * index + 1],
      accessDelayMs: this.#accessDelaysMs[index],
    };
  }

  /** Checks both indexes, then places every host up to the higher one. */
  #place(source: number, target: number): void {
    for (const index of [source, target]) {
      if (!Number.isInteger(index) || index < 0 || index >= MAX_HOSTS) {
        throw new RangeError(
          `Cannot compute latency: host index ${index} is not an integer from 0 to ${
            MAX_HOSTS - 1
          }`,
        );
      }
    }
    const highest = Math.max(source, target);
    if (highest < this.#placed) return;
    this.#grow(highest + 1);
    const rng = this.#rng;
    for (let index = this.#placed; index <= highest; index++) {
      this.#coordinates[2 * index] = normalDraw(rng);
      this.#coordinates[2 * index + 1] = normalDraw(rng);
      this.#accessDelaysMs[index] = this.#accessDelayMedianMs *
        Math.exp(this.#accessDelaySpread * normalDraw(rng));
    }
    this.#placed = highest + 1;
  }

  #grow(hostCount: number): void {
    let capacity = this.#accessDelaysMs.length;
    if (hostCount <= capacity) return;
    while (capacity < hostCount) capacity *= 2;
    const coordinates = new Float64Array(2 * capacity);
    coordinates.set(this.#coordinates);
    this.#coordinates = coordinates;
    const accessDelaysMs = new Float64Array(capacity);
    accessDelaysMs.set(this.#accessDelaysMs);
    this.#accessDelaysMs = accessDelaysMs;
  }
}
