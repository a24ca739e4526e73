/**
 * Distributions of session and downtime lengths, drawn from a seeded
 * {@link Rng}: Weibull and Pareto for the heavy tails measured in deployed
 * peer-to-peer systems, exponential for comparison. Each draw consumes the
 * rng in a fixed order, so a seed replays the same durations.
 *
 * @example Heavy-tailed sessions: the mean is far above the median
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   type DurationDistribution,
 *   meanDurationMs,
 *   medianDurationMs,
 *   sampleDuration,
 * } from "./distributions.ts";
 * import { seededRng } from "../../lib/rng.ts";
 *
 * const session: DurationDistribution = { kind: "weibull", shape: 0.5, scaleMs: 1_800_000 };
 * assert.ok(meanDurationMs(session) > 4 * medianDurationMs(session));
 * assert.equal(sampleDuration(seededRng(1), session), sampleDuration(seededRng(1), session));
 * ```
 *
 * @module
 */

import type { Rng } from "../../lib/rng.ts";

/**
 * Parameters of a Weibull distribution.
 */
export interface WeibullParameters {
  /** Shape `k`; below 1 the tail is heavier than exponential (0.3 to 0.6 fits measured P2P sessions). */
  readonly shape: number;
  /** Scale `λ` in milliseconds: about 63 % of draws fall below it, whatever the shape. */
  readonly scaleMs: number;
}

/**
 * Parameters of a Pareto (type I) distribution.
 */
export interface ParetoParameters {
  /** Tail index `α`; the mean is finite only above 1, the variance only above 2. */
  readonly alpha: number;
  /** The smallest value, in milliseconds; every draw is at least this. */
  readonly minimumMs: number;
}

/**
 * A distribution of durations, as parsed by `parseChurnSpec` (./spec.ts).
 */
export type DurationDistribution =
  | ({ readonly kind: "weibull" } & WeibullParameters)
  | ({ readonly kind: "pareto" } & ParetoParameters)
  | { readonly kind: "exponential"; readonly meanMs: number };

/** Most attempts of the gamma sampler's rejection loop; each succeeds with probability above 0.95. */
const MAX_GAMMA_ATTEMPTS = 1_000;

// Lanczos approximation of the gamma function, g = 7, n = 9 (relative error
// about 1e-15), from Numerical Recipes / Godfrey's coefficients.
const LANCZOS_G = 7;
const LANCZOS_COEFFICIENTS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
] as const;

/**
 * One draw from `rng`, checked against the `Math.random` contract so that a
 * broken rng fails loudly instead of yielding NaN or infinite durations.
 *
 * @param rng The source of randomness; exactly one draw.
 * @param action What the draw is for, quoted in the error as `Cannot <action>`.
 * @returns The draw, in [0, 1).
 * @throws {RangeError} If the rng returns anything outside [0, 1).
 *
 * @example A broken rng
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitDraw } from "./distributions.ts";
 *
 * assert.equal(unitDraw(() => 0.25, "flip a coin"), 0.25);
 * assert.throws(() => unitDraw(() => 1, "flip a coin"), RangeError, "outside [0, 1)");
 * ```
 */
export function unitDraw(rng: Rng, action: string): number {
  const value = rng();
  if (!(value >= 0 && value < 1)) {
    throw new RangeError(
      `Cannot ${action}: rng returned ${value}, outside [0, 1)`,
    );
  }
  return value;
}

function checkPositive(action: string, name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(
      `Cannot ${action}: ${name} ${value} is not a positive finite number`,
    );
  }
}

/** The gamma function, for positive arguments. */
function gammaFunction(x: number): number {
  if (x < 0.5) {
    // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
    return Math.PI / (Math.sin(Math.PI * x) * gammaFunction(1 - x));
  }
  const shifted = x - 1;
  let sum = LANCZOS_COEFFICIENTS[0];
  for (let index = 1; index < LANCZOS_G + 2; index++) {
    sum += LANCZOS_COEFFICIENTS[index] / (shifted + index);
  }
  const t = shifted + LANCZOS_G + 0.5;
  return Math.sqrt(2 * Math.PI) * Math.pow(t, shifted + 0.5) * Math.exp(-t) *
    sum;
}

/** A standard normal draw (Box–Muller, cosine half; two draws). */
function normalDraw(rng: Rng): number {
  const u = 1 - unitDraw(rng, "draw normal"); // In (0, 1].
  const v = unitDraw(rng, "draw normal");
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A Gamma(shape, 1) draw: Marsaglia and Tsang's method ("A simple method for
 * generating gamma variables", 2000), boosted by `U^(1/shape)` below shape 1.
 */
function gammaDraw(rng: Rng, shape: number): number {
  if (shape < 1) {
    const u = 1 - unitDraw(rng, "draw gamma"); // In (0, 1].
    return gammaDraw(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (let attempt = 0; attempt < MAX_GAMMA_ATTEMPTS; attempt++) {
    const x = normalDraw(rng);
    const root = 1 + c * x;
    if (root <= 0) continue;
    const v = root * root * root;
    const u = 1 - unitDraw(rng, "draw gamma");
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
  // Unreachable in practice (each attempt succeeds with probability > 0.95);
  // the mean keeps the result sensible should an rng misbehave.
  return shape;
}

/**
 * Draws from a Weibull distribution by inversion: `scale · (-ln(1 - u))^(1/shape)`.
 * Mean `scale · Γ(1 + 1/shape)`, median `scale · (ln 2)^(1/shape)`.
 *
 * @param rng The source of randomness; one draw.
 * @param parameters Shape and scale.
 * @returns Milliseconds, at least 0.
 * @throws {RangeError} If a parameter is not a positive finite number.
 *
 * @example Shape 1 is exponential
 * ```ts
 * import assert from "node:assert/strict";
 * import { exponential, weibull } from "./distributions.ts";
 * import { seededRng } from "../../lib/rng.ts";
 *
 * const fromWeibull = weibull(seededRng(4), { shape: 1, scaleMs: 1_000 });
 * assert.ok(Math.abs(fromWeibull - exponential(seededRng(4), 1_000)) < 1e-9);
 * ```
 */
export function weibull(rng: Rng, parameters: WeibullParameters): number {
  const { shape, scaleMs } = parameters;
  checkPositive("draw weibull", "shape", shape);
  checkPositive("draw weibull", "scaleMs", scaleMs);
  const u = unitDraw(rng, "draw weibull");
  return scaleMs * Math.pow(-Math.log1p(-u), 1 / shape);
}

/**
 * Draws from a Pareto (type I) distribution by inversion:
 * `minimum · (1 - u)^(-1/alpha)`. Median `minimum · 2^(1/alpha)`; mean
 * `alpha · minimum / (alpha - 1)` for `alpha > 1`, infinite otherwise.
 *
 * @param rng The source of randomness; one draw.
 * @param parameters Tail index and minimum.
 * @returns Milliseconds, at least `minimumMs`; very large for small `alpha`.
 * @throws {RangeError} If a parameter is not a positive finite number.
 *
 * @example Never below the minimum
 * ```ts
 * import assert from "node:assert/strict";
 * import { pareto } from "./distributions.ts";
 * import { seededRng } from "../../lib/rng.ts";
 *
 * const rng = seededRng(5);
 * for (let index = 0; index < 100; index++) {
 *   assert.ok(pareto(rng, { alpha: 1.5, minimumMs: 60_000 }) >= 60_000);
 * }
 * ```
 */
export function pareto(rng: Rng, parameters: ParetoParameters): number {
  const { alpha, minimumMs } = parameters;
  checkPositive("draw pareto", "alpha", alpha);
  checkPositive("draw pareto", "minimumMs", minimumMs);
  const u = unitDraw(rng, "draw pareto");
  return minimumMs * Math.pow(1 - u, -1 / alpha);
}

/**
 * Draws from an exponential distribution by inversion: `-mean · ln(1 - u)`.
 * Median `mean · ln 2`.
 *
 * @param rng The source of randomness; one draw.
 * @param meanMs The mean in milliseconds.
 * @returns Milliseconds, at least 0.
 * @throws {RangeError} If `meanMs` is not a positive finite number.
 *
 * @example Seeded draws repeat
 * ```ts
 * import assert from "node:assert/strict";
 * import { exponential } from "./distributions.ts";
 * import { seededRng } from "../../lib/rng.ts";
 *
 * assert.equal(exponential(seededRng(1), 500), exponential(seededRng(1), 500));
 * ```
 */
export function exponential(rng: Rng, meanMs: number): number {
  checkPositive("draw exponential", "meanMs", meanMs);
  return -meanMs * Math.log1p(-unitDraw(rng, "draw exponential"));
}

/**
 * Draws from any {@link DurationDistribution}, with the same single draw as
 * the distribution's own function.
 *
 * @param rng The source of randomness; one draw.
 * @param distribution What to draw from.
 * @returns Milliseconds, at least 0.
 * @throws {RangeError} If a parameter is not a positive finite number.
 *
 * @example Same as calling the distribution's own function
 * ```ts
 * import assert from "node:assert/strict";
 * import { pareto, sampleDuration } from "./distributions.ts";
 * import { seededRng } from "../../lib/rng.ts";
 *
 * const parameters = { alpha: 2, minimumMs: 10 };
 * assert.equal(
 *   sampleDuration(seededRng(1), { kind: "pareto", ...parameters }),
 *   pareto(seededRng(1), parameters),
 * );
 * ```
 */
export function sampleDuration(
  rng: Rng,
  distribution: DurationDistribution,
): number {
  switch (distribution.kind) {
    case "weibull":
      return weibull(rng, distribution);
    case "pareto":
      return pareto(rng, distribution);
    case "exponential":
      return exponential(rng, distribution.meanMs);
  }
}

/**
 * Draws the residual life of a duration seen at a random moment: the time
 * left until the end of a session that is under way, in steady state. Its
 * density is `(1 - F(x)) / mean` (the equilibrium distribution of renewal
 * theory); starting hosts with it puts their leaves where a long-running
 * system would have them.
 *
 * - Exponential: the same distribution (memoryless).
 * - Weibull: `scale · G^(1/shape)` with `G` drawn from Gamma(1/shape, 1),
 *   since the tail of the equilibrium distribution is the regularized upper
 *   incomplete gamma function `Q(1/shape, (x/scale)^shape)`.
 * - Pareto with `alpha > 1`: below the minimum with probability
 *   `(alpha - 1) / alpha`, uniformly; above it with tail
 *   `(minimum / x)^(alpha - 1) / alpha`, by inversion.
 * - Pareto with `alpha ≤ 1` has no finite mean and no steady state; the draw
 *   is then a uniform point of an ordinary draw, `u · X`.
 *
 * @param rng The source of randomness; a few draws (varying for Weibull).
 * @param distribution The distribution of whole durations.
 * @returns Milliseconds, at least 0; its mean is `E[X²] / (2 E[X])`.
 * @throws {RangeError} If a parameter is not a positive finite number.
 *
 * @example Exponential residual life has the same mean
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleResidualDuration } from "./distributions.ts";
 * import { seededRng } from "../../lib/rng.ts";
 *
 * const rng = seededRng(1);
 * let total = 0;
 * for (let index = 0; index < 10_000; index++) {
 *   total += sampleResidualDuration(rng, { kind: "exponential", meanMs: 100 });
 * }
 * assert.ok(Math.abs(total / 10_000 - 100) < 5);
 * ```
 */
export function sampleResidualDuration(
  rng: Rng,
  distribution: DurationDistribution,
): number {
  switch (distribution.kind) {
    case "exponential":
      return exponential(rng, distribution.meanMs);
    case "weibull": {
      const { shape, scaleMs } = distribution;
      checkPositive("draw residual weibull", "shape", shape);
      checkPositive("draw residual weibull", "scaleMs", scaleMs);
      return scaleMs * Math.pow(gammaDraw(rng, 1 / shape), 1 / shape);
    }
    case "pareto": {
      const { alpha, minimumMs } = distribution;
      checkPositive("draw residual pareto", "alpha", alpha);
      checkPositive("draw residual pareto", "minimumMs", minimumMs);
      if (alpha <= 1) {
        const u = unitDraw(rng, "draw residual pareto");
        return u * pareto(rng, distribution);
      }
      const u = unitDraw(rng, "draw residual pareto");
      const belowMinimum = (alpha - 1) / alpha;
      if (u < belowMinimum) return u * alpha * minimumMs / (alpha - 1);
      return minimumMs * Math.pow(alpha * (1 - u), -1 / (alpha - 1));
    }
  }
}

/**
 * The mean of a distribution, in closed form: Weibull `scale · Γ(1 + 1/shape)`
 * (Lanczos approximation, relative error about 1e-15), Pareto
 * `alpha · minimum / (alpha - 1)` (Infinity for `alpha ≤ 1`), exponential its mean.
 *
 * @param distribution The distribution; no draws.
 * @returns Milliseconds, possibly Infinity.
 *
 * @example Weibull with shape 0.5 has mean twice its scale
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanDurationMs } from "./distributions.ts";
 *
 * const mean = meanDurationMs({ kind: "weibull", shape: 0.5, scaleMs: 1_000 });
 * assert.ok(Math.abs(mean - 2_000) < 1e-6);
 * assert.equal(meanDurationMs({ kind: "pareto", alpha: 1, minimumMs: 1 }), Infinity);
 * ```
 */
export function meanDurationMs(distribution: DurationDistribution): number {
  switch (distribution.kind) {
    case "weibull":
      return distribution.scaleMs * gammaFunction(1 + 1 / distribution.shape);
    case "pareto":
      return distribution.alpha > 1
        ? distribution.alpha * distribution.minimumMs / (distribution.alpha - 1)
        : Infinity;
    case "exponential":
      return distribution.meanMs;
  }
}

/**
 * The median of a distribution, in closed form: Weibull
 * `scale · (ln 2)^(1/shape)`, Pareto `minimum · 2^(1/alpha)`, exponential
 * `mean · ln 2`.
 *
 * @param distribution The distribution; no draws.
 * @returns Milliseconds.
 *
 * @example The exponential median
 * ```ts
 * import assert from "node:assert/strict";
 * import { medianDurationMs } from "./distributions.ts";
 *
 * assert.equal(medianDurationMs({ kind: "exponential", meanMs: 1 }), Math.LN2);
 * ```
 */
export function medianDurationMs(distribution: DurationDistribution): number {
  switch (distribution.kind) {
    case "weibull":
      return distribution.scaleMs *
        Math.pow(Math.LN2, 1 / distribution.shape);
    case "pareto":
      return distribution.minimumMs * Math.pow(2, 1 / distribution.alpha);
    case "exponential":
      return distribution.meanMs * Math.LN2;
  }
}
