/**
 * The `--churn` flag: a {@link ChurnSpec} names the session and downtime
 * distributions, written `<session>/<downtime>` or `none`. Parsing fails with
 * a `TypeError` that quotes the input and says what is wrong; durations
 * (`500ms`, `30s`, `10m`, `1.5h`, `7d`) are parsed here too, for every
 * duration flag of the simulator.
 *
 * @example Parse, inspect, write back
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedOfflineFraction, formatChurnSpec, parseChurnSpec } from "./spec.ts";
 *
 * const spec = parseChurnSpec("exponential:mean=1h/exponential:mean=20m");
 * assert.equal(expectedOfflineFraction(spec), 0.25);
 * assert.equal(formatChurnSpec(spec), "exponential:mean=1h/exponential:mean=20m");
 * assert.throws(() => parseChurnSpec("exponential:mean=1h"), TypeError, "<session>/<downtime>");
 * ```
 *
 * @module
 */

import { type DurationDistribution, meanDurationMs } from "./distributions.ts";

/**
 * How long hosts stay online (sessions) and offline (downtimes).
 */
export interface ChurnSpec {
  /** Time from a join to the next leave. */
  readonly session: DurationDistribution;
  /** Time from a leave to the next join. */
  readonly downtime: DurationDistribution;
}

/** Longest input quoted back in an error message. */
const MAX_QUOTED_LENGTH = 80;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Largest first, so that {@link formatDuration} picks the largest exact unit. */
const UNITS_DESCENDING = ["d", "h", "m", "s", "ms"] as const;

const DURATION_PATTERN = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$/;

const NUMBER_PATTERN = /^[0-9]+(?:\.[0-9]+)?$/;

/** The parameter names of each distribution, and whether each is a duration. */
const PARAMETERS: Readonly<
  Record<string, Readonly<Record<string, "number" | "duration">>>
> = {
  weibull: { shape: "number", scale: "duration" },
  pareto: { alpha: "number", min: "duration" },
  exponential: { mean: "duration" },
};

function quote(text: string): string {
  return JSON.stringify(
    text.length > MAX_QUOTED_LENGTH
      ? `${text.slice(0, MAX_QUOTED_LENGTH)}…`
      : text,
  );
}

/**
 * The long-run fraction of time a churning host spends offline, by the
 * renewal-reward theorem: `mean downtime / (mean session + mean downtime)`,
 * from the closed-form means of `meanDurationMs` (./distributions.ts). With
 * a `fraction` of hosts churning, the expected offline share of all hosts is
 * `fraction` times this value.
 *
 * @param spec The churn, or `undefined` for none.
 * @returns A fraction from 0 to 1: 0 without churn, 0 if only sessions have
 * an infinite mean, 1 if only downtimes do.
 * @throws {RangeError} If both means are infinite (no steady state).
 *
 * @example One hour online, twenty minutes offline
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedOfflineFraction, parseChurnSpec } from "./spec.ts";
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
 * import { parseDuration } from "./spec.ts";
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
 * import { formatDuration, parseDuration } from "./spec.ts";
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
 * import { parseChurnSpec } from "./spec.ts";
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
 * import { formatChurnSpec, parseChurnSpec } from "./spec.ts";
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
