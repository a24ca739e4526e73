/**
 * Churn: hosts leaving (crashing or closing cleanly) and joining again, with
 * heavy-tailed session and downtime durations as measured in deployed
 * peer-to-peer systems. Distributions, a parser for the `--churn` flag, and a
 * {@link ChurnSchedule} that drives the leaves and joins with clock timers.
 *
 * @module
 */

import type { Clock, Timer } from "../lib/clock.ts";
import { forkRng, type Rng } from "../lib/rng.ts";

/**
 * Parameters of a Weibull distribution.
 *
 * @example Sessions with a long tail
 * ```ts
 * import assert from "node:assert/strict";
 * import { weibull, type WeibullParameters } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
 *
 * const parameters: WeibullParameters = { shape: 0.5, scaleMs: 1_800_000 };
 * assert.ok(weibull(seededRng(1), parameters) >= 0);
 * ```
 */
export interface WeibullParameters {
  /** Shape `k`; below 1 the tail is heavier than exponential (0.3 to 0.6 fits measured P2P sessions). */
  readonly shape: number;
  /** Scale `λ` in milliseconds. */
  readonly scaleMs: number;
}

/**
 * Parameters of a Pareto (type I) distribution.
 *
 * @example Downtimes of at least five minutes
 * ```ts
 * import assert from "node:assert/strict";
 * import { pareto, type ParetoParameters } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
 *
 * const parameters: ParetoParameters = { alpha: 1.5, minimumMs: 300_000 };
 * assert.ok(pareto(seededRng(1), parameters) >= 300_000);
 * ```
 */
export interface ParetoParameters {
  /** Tail index `α`; the mean is finite only above 1, the variance only above 2. */
  readonly alpha: number;
  /** The smallest value, in milliseconds. */
  readonly minimumMs: number;
}

/**
 * A distribution of durations, as parsed by {@link parseChurnSpec}.
 *
 * @example Draw from any distribution
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DurationDistribution, sampleDuration } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
 *
 * const distribution: DurationDistribution = { kind: "exponential", meanMs: 60_000 };
 * assert.ok(sampleDuration(seededRng(1), distribution) >= 0);
 * ```
 */
export type DurationDistribution =
  | ({ readonly kind: "weibull" } & WeibullParameters)
  | ({ readonly kind: "pareto" } & ParetoParameters)
  | { readonly kind: "exponential"; readonly meanMs: number };

/**
 * How long hosts stay online (sessions) and offline (downtimes).
 *
 * @example Parse one
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ChurnSpec, parseChurnSpec } from "./churn.ts";
 *
 * const spec: ChurnSpec | undefined = parseChurnSpec("exponential:mean=1h/exponential:mean=10m");
 * assert.equal(spec?.session.kind, "exponential");
 * ```
 */
export interface ChurnSpec {
  /** Time from a join to the next leave. */
  readonly session: DurationDistribution;
  /** Time from a leave to the next join. */
  readonly downtime: DurationDistribution;
}

/**
 * How a host left: `"crash"` (no goodbye, state may be lost) or `"clean"`
 * (an orderly shutdown).
 *
 * @example Branch on the kind
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LeaveKind } from "./churn.ts";
 *
 * const kind: LeaveKind = "crash";
 * assert.notEqual(kind, "clean");
 * ```
 */
export type LeaveKind = "crash" | "clean";

/** Longest input quoted back in an error message. */
const MAX_QUOTED_LENGTH = 80;

/** Most attempts of the gamma sampler's rejection loop; each succeeds with probability above 0.95. */
const MAX_GAMMA_ATTEMPTS = 1_000;

/** Milliseconds per duration unit. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Units from the largest, for formatting. */
const UNITS_DESCENDING = ["d", "h", "m", "s", "ms"] as const;

const DURATION_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/;

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

function quote(text: string): string {
  return JSON.stringify(
    text.length > MAX_QUOTED_LENGTH
      ? `${text.slice(0, MAX_QUOTED_LENGTH)}…`
      : text,
  );
}

/** One draw from `rng`, checked against the `Math.random` contract. */
function unitDraw(rng: Rng, action: string): number {
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
 * import { exponential, weibull } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
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
 * import { pareto } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
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
 * import { exponential } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
 *
 * assert.equal(exponential(seededRng(1), 500), exponential(seededRng(1), 500));
 * ```
 */
export function exponential(rng: Rng, meanMs: number): number {
  checkPositive("draw exponential", "meanMs", meanMs);
  return -meanMs * Math.log1p(-unitDraw(rng, "draw exponential"));
}

/**
 * Draws from any {@link DurationDistribution}.
 *
 * @param rng The source of randomness; one draw.
 * @param distribution The distribution.
 * @returns Milliseconds, at least 0.
 * @throws {RangeError} If a parameter is not a positive finite number.
 *
 * @example Same as calling the distribution's own function
 * ```ts
 * import assert from "node:assert/strict";
 * import { pareto, sampleDuration } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
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
 * import { sampleResidualDuration } from "./churn.ts";
 * import { seededRng } from "../lib/rng.ts";
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
 * @param distribution The distribution.
 * @returns Milliseconds, possibly Infinity.
 *
 * @example Weibull with shape 0.5 has mean twice its scale
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanDurationMs } from "./churn.ts";
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
 * @param distribution The distribution.
 * @returns Milliseconds.
 *
 * @example The exponential median
 * ```ts
 * import assert from "node:assert/strict";
 * import { medianDurationMs } from "./churn.ts";
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

/**
 * The long-run fraction of time a churning host spends offline, by the
 * renewal-reward theorem: `mean downtime / (mean session + mean downtime)`,
 * from the closed-form means of {@link meanDurationMs}. With a `fraction` of
 * hosts churning, the expected offline share of all hosts is `fraction`
 * times this value.
 *
 * @param spec The churn, or `undefined` for none.
 * @returns A fraction from 0 to 1: 0 without churn, 0 if only sessions have
 * an infinite mean, 1 if only downtimes do.
 * @throws {RangeError} If both means are infinite (no steady state).
 *
 * @example One hour online, twenty minutes offline
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedOfflineFraction, parseChurnSpec } from "./churn.ts";
 *
 * const spec = parseChurnSpec("exponential:mean=1h/exponential:mean=20m");
 * assert.equal(expectedOfflineFraction(spec), 0.25);
 * assert.equal(expectedOfflineFraction(undefined), 0);
 * ```
 */
export function expectedOfflineFraction(spec: ChurnSpec | undefined): number {
  if (spec === undefined) return 0;
  const sessionMs = meanDurationMs(spec.session);
  const downtimeMs = meanDurationMs(spec.downtime);
  if (sessionMs === Infinity && downtimeMs === Infinity) {
    throw new RangeError(
      "Cannot compute offline fraction: sessions and downtimes both have an infinite mean",
    );
  }
  if (sessionMs === Infinity) return 0;
  if (downtimeMs === Infinity) return 1;
  return downtimeMs / (sessionMs + downtimeMs);
}

/**
 * Reads a duration: a non-negative decimal number and a unit, one of `ms`,
 * `s`, `m` (minutes), `h` and `d`, as in `"500ms"`, `"30s"`, `"1.5h"`, `"7d"`.
 *
 * @param text The duration text.
 * @returns Milliseconds.
 * @throws {TypeError} If the text is not a number followed by a unit; the
 * message quotes it.
 *
 * @example Units
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./churn.ts";
 *
 * assert.equal(parseDuration("500ms"), 500);
 * assert.equal(parseDuration("10m"), 600_000);
 * assert.equal(parseDuration("7d"), 604_800_000);
 * assert.throws(() => parseDuration("10 minutes"), TypeError);
 * ```
 */
export function parseDuration(text: string): number {
  const match = typeof text === "string" ? DURATION_PATTERN.exec(text) : null;
  if (match === null) {
    throw new TypeError(
      `Cannot parse duration: ${
        quote(String(text))
      } is not a number followed by ms, s, m, h or d`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]];
}

/**
 * Writes a duration in the largest unit that divides it exactly, so that
 * {@link parseDuration} reads it back.
 *
 * @param ms Milliseconds, finite and at least 0.
 * @returns The text, such as `"30m"`, or `"1500ms"`.
 * @throws {RangeError} If `ms` is negative or not finite.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDuration, parseDuration } from "./churn.ts";
 *
 * assert.equal(formatDuration(1_800_000), "30m");
 * assert.equal(formatDuration(1_500), "1500ms");
 * assert.equal(parseDuration(formatDuration(90_000)), 90_000);
 * ```
 */
export function formatDuration(ms: number): string {
  if (!(Number.isFinite(ms) && ms >= 0)) {
    throw new RangeError(
      `Cannot format duration: ${ms} ms is not a finite non-negative number`,
    );
  }
  for (const unit of UNITS_DESCENDING) {
    const count = ms / UNIT_MS[unit];
    if (Number.isInteger(count) && (count > 0 || unit === "ms")) {
      return `${count}${unit}`;
    }
  }
  return `${ms}ms`;
}

/** The parameter names of each distribution, and whether each is a duration. */
const PARAMETERS: Readonly<
  Record<string, Readonly<Record<string, "number" | "duration">>>
> = {
  weibull: { shape: "number", scale: "duration" },
  pareto: { alpha: "number", min: "duration" },
  exponential: { mean: "duration" },
};

const NUMBER_PATTERN = /^[0-9]+(?:\.[0-9]+)?$/;

function parseDistribution(text: string, whole: string): DurationDistribution {
  const fail = (reason: string): TypeError =>
    new TypeError(
      `Cannot parse churn spec: ${quote(whole)} ${reason}`,
    );
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  const expected = Object.hasOwn(PARAMETERS, name)
    ? PARAMETERS[name]
    : undefined;
  if (expected === undefined) {
    throw fail(
      `names distribution ${quote(name)}, not weibull, pareto or exponential`,
    );
  }
  const values = new Map<string, number>();
  for (const pair of colon < 0 ? [] : text.slice(colon + 1).split(",")) {
    const equals = pair.indexOf("=");
    const key = pair.slice(0, equals);
    const valueText = pair.slice(equals + 1);
    if (equals < 0 || !Object.hasOwn(expected, key)) {
      throw fail(
        `has ${quote(pair)}, not one of ${
          Object.keys(expected).map((k) => `${k}=…`).join(", ")
        }`,
      );
    }
    if (values.has(key)) throw fail(`sets ${key} twice`);
    let value: number;
    if (expected[key] === "duration") {
      const match = DURATION_PATTERN.exec(valueText);
      if (match === null) {
        throw fail(
          `has ${key} ${quote(valueText)}, not a duration such as 30m`,
        );
      }
      value = Number(match[1]) * UNIT_MS[match[2]];
    } else {
      if (!NUMBER_PATTERN.test(valueText)) {
        throw fail(`has ${key} ${quote(valueText)}, not a number`);
      }
      value = Number(valueText);
    }
    if (!(value > 0)) throw fail(`has ${key} ${quote(valueText)}, not above 0`);
    values.set(key, value);
  }
  for (const key of Object.keys(expected)) {
    if (!values.has(key)) throw fail(`lacks ${key}= for ${name}`);
  }
  switch (name) {
    case "weibull":
      return {
        kind: "weibull",
        shape: values.get("shape")!,
        scaleMs: values.get("scale")!,
      };
    case "pareto":
      return {
        kind: "pareto",
        alpha: values.get("alpha")!,
        minimumMs: values.get("min")!,
      };
    default:
      return { kind: "exponential", meanMs: values.get("mean")! };
  }
}

/**
 * Reads a churn flag: `"none"`, or a session distribution and a downtime
 * distribution separated by `/`. A distribution is a name, a colon and
 * comma-separated parameters:
 *
 * - `weibull:shape=<number>,scale=<duration>`
 * - `pareto:alpha=<number>,min=<duration>`
 * - `exponential:mean=<duration>`
 *
 * Durations are as in {@link parseDuration}; parameters come in any order,
 * each exactly once, and must be above 0. Surrounding white space is ignored.
 *
 * @param text The flag, such as `"weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m"`.
 * @returns The spec, or `undefined` for `"none"`.
 * @throws {TypeError} If the text does not follow the grammar; the message
 * quotes it and says what is wrong.
 *
 * @example Heavy-tailed sessions, Pareto downtimes
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseChurnSpec } from "./churn.ts";
 *
 * assert.deepEqual(parseChurnSpec("weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m"), {
 *   session: { kind: "weibull", shape: 0.5, scaleMs: 1_800_000 },
 *   downtime: { kind: "pareto", alpha: 1.5, minimumMs: 300_000 },
 * });
 * assert.equal(parseChurnSpec("none"), undefined);
 * assert.throws(() => parseChurnSpec("weibull:shape=0.5"), TypeError);
 * ```
 */
export function parseChurnSpec(text: string): ChurnSpec | undefined {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot parse churn spec: ${quote(String(text))} is not a string`,
    );
  }
  const trimmed = text.trim();
  if (trimmed === "none") return undefined;
  const parts = trimmed.split("/");
  if (parts.length !== 2) {
    throw new TypeError(
      `Cannot parse churn spec: ${
        quote(text)
      } is not "none" nor <session>/<downtime>`,
    );
  }
  return {
    session: parseDistribution(parts[0], text),
    downtime: parseDistribution(parts[1], text),
  };
}

/** Writes one distribution in the grammar of {@link parseChurnSpec}. */
function formatDistribution(distribution: DurationDistribution): string {
  switch (distribution.kind) {
    case "weibull":
      return `weibull:shape=${distribution.shape},scale=${
        formatDuration(distribution.scaleMs)
      }`;
    case "pareto":
      return `pareto:alpha=${distribution.alpha},min=${
        formatDuration(distribution.minimumMs)
      }`;
    case "exponential":
      return `exponential:mean=${formatDuration(distribution.meanMs)}`;
  }
}

/**
 * Writes a churn spec in the grammar of {@link parseChurnSpec}, for logs and
 * for reproducing a run.
 *
 * @param spec The spec, or `undefined` for none.
 * @returns The text; `parseChurnSpec` reads it back to an equal spec.
 * @throws {RangeError} If a duration is negative or not finite.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatChurnSpec, parseChurnSpec } from "./churn.ts";
 *
 * const text = "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m";
 * assert.equal(formatChurnSpec(parseChurnSpec(text)), text);
 * assert.equal(formatChurnSpec(undefined), "none");
 * ```
 */
export function formatChurnSpec(spec: ChurnSpec | undefined): string {
  if (spec === undefined) return "none";
  return `${formatDistribution(spec.session)}/${
    formatDistribution(spec.downtime)
  }`;
}

/**
 * Collaborators and settings of a {@link ChurnSchedule}.
 *
 * @example One host in ten churns for a day
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { type ChurnScheduleOptions, parseChurnSpec } from "./churn.ts";
 *
 * const options: ChurnScheduleOptions = {
 *   clock: new ManualClock(0),
 *   rng: seededRng(1),
 *   hostCount: 1_000,
 *   spec: parseChurnSpec("exponential:mean=1h/exponential:mean=10m"),
 *   durationMs: 86_400_000,
 *   fraction: 0.1,
 * };
 * assert.equal(options.fraction, 0.1);
 * ```
 */
export interface ChurnScheduleOptions {
  /** Time; every leave and join is one of its timers. */
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
 * What a {@link ChurnSchedule} calls; the host's state has already changed
 * when a callback runs.
 *
 * @example Log the events
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ChurnCallbacks } from "./churn.ts";
 *
 * const log: string[] = [];
 * const callbacks: ChurnCallbacks = {
 *   onLeave: (hostIndex, kind) => log.push(`${hostIndex} ${kind}`),
 *   onJoin: (hostIndex) => log.push(`${hostIndex} join`),
 * };
 * callbacks.onJoin(3);
 * assert.deepEqual(log, ["3 join"]);
 * ```
 */
export interface ChurnCallbacks {
  /**
   * A host goes offline.
   *
   * @param hostIndex The host.
   * @param kind A crash or a clean leave.
   */
  onLeave(hostIndex: number, kind: LeaveKind): void;
  /**
   * A host comes back online.
   *
   * @param hostIndex The host.
   */
  onJoin(hostIndex: number): void;
}

/**
 * Event counts of a {@link ChurnSchedule}, a plain object.
 *
 * @example Leaves split into crashes and clean leaves
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ChurnCounts } from "./churn.ts";
 *
 * const counts: ChurnCounts = { joins: 1, leaves: 3, crashes: 2, cleanLeaves: 1, onlineHostCount: 8 };
 * assert.equal(counts.crashes + counts.cleanLeaves, counts.leaves);
 * ```
 */
export interface ChurnCounts {
  /** Joins so far. */
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
 * from 0 towards {@link expectedOfflineFraction} over about one downtime).
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
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { ChurnSchedule, parseChurnSpec } from "./churn.ts";
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
   * @param options The clock, the rng, the hosts, the spec and the settings.
   * @param callbacks Called at each leave and join.
   * @throws {RangeError} If `hostCount` is not a non-negative integer,
   * `durationMs` not a non-negative number, or `crashProbability` or
   * `fraction` not from 0 to 1.
   *
   * @example Without a spec nobody churns
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../lib/testing/manual_clock.ts";
   * import { seededRng } from "../lib/rng.ts";
   * import { ChurnSchedule } from "./churn.ts";
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
   * import { ManualClock } from "../lib/testing/manual_clock.ts";
   * import { seededRng } from "../lib/rng.ts";
   * import { ChurnSchedule, parseChurnSpec } from "./churn.ts";
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
   * import { ManualClock } from "../lib/testing/manual_clock.ts";
   * import { seededRng } from "../lib/rng.ts";
   * import { ChurnSchedule, parseChurnSpec } from "./churn.ts";
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
   * @param hostIndex The host.
   * @returns `true` until its first leave, then alternately.
   * @throws {RangeError} If the index is not from 0 to `hostCount - 1`.
   *
   * @example Everyone starts online
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../lib/testing/manual_clock.ts";
   * import { seededRng } from "../lib/rng.ts";
   * import { ChurnSchedule } from "./churn.ts";
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
   * @param hostIndex The host.
   * @returns `true` if it was chosen to churn.
   * @throws {RangeError} If the index is not from 0 to `hostCount - 1`.
   *
   * @example Half the hosts churn
   * ```ts
   * import assert from "node:assert/strict";
   * import { ManualClock } from "../lib/testing/manual_clock.ts";
   * import { seededRng } from "../lib/rng.ts";
   * import { ChurnSchedule, parseChurnSpec } from "./churn.ts";
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
   * import { ManualClock } from "../lib/testing/manual_clock.ts";
   * import { seededRng } from "../lib/rng.ts";
   * import { ChurnSchedule } from "./churn.ts";
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
