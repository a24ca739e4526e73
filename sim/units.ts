/**
 * Human units for what the simulator prints to people: durations in ms, s,
 * min, h or d and byte counts in B, KB, MB or GB, with three significant
 * digits. Only for display (the printed table, progress lines, the HTML
 * report); `--json` keeps plain numbers.
 *
 * @module
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Three significant digits, no trailing zeros: 1.23, 12.3, 123, 1230. */
function significant(value: number): string {
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, 2 - magnitude);
  return String(Number(value.toFixed(decimals)));
}

/**
 * A duration with a unit chosen by its size: under 1 s in ms, then s, min,
 * h and d (from 48 h).
 *
 * @param ms Milliseconds; NaN gives "none".
 * @returns For example "453 ms", "1.32 s", "4.2 min", "3 d".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDurationMs } from "./units.ts";
 *
 * assert.equal(formatDurationMs(453.2), "453 ms");
 * assert.equal(formatDurationMs(14_248), "14.2 s");
 * assert.equal(formatDurationMs(252_000), "4.2 min");
 * assert.equal(formatDurationMs(3 * 86_400_000), "3 d");
 * ```
 */
export function formatDurationMs(ms: number): string {
  if (Number.isNaN(ms)) return "none";
  const size = Math.abs(ms);
  if (size < SECOND) return `${significant(ms)} ms`;
  if (size < MINUTE) return `${significant(ms / SECOND)} s`;
  if (size < HOUR) return `${significant(ms / MINUTE)} min`;
  if (size < 2 * DAY) return `${significant(ms / HOUR)} h`;
  return `${significant(ms / DAY)} d`;
}

/**
 * A byte count in B, KB, MB or GB (powers of 1,000).
 *
 * @param bytes Bytes; NaN gives "none".
 * @returns For example "512 B", "4.27 MB".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./units.ts";
 *
 * assert.equal(formatBytes(512), "512 B");
 * assert.equal(formatBytes(4_271_730), "4.27 MB");
 * ```
 */
export function formatBytes(bytes: number): string {
  if (Number.isNaN(bytes)) return "none";
  const size = Math.abs(bytes);
  if (size < 1_000) return `${significant(bytes)} B`;
  if (size < 1e6) return `${significant(bytes / 1e3)} KB`;
  if (size < 1e9) return `${significant(bytes / 1e6)} MB`;
  return `${significant(bytes / 1e9)} GB`;
}

/**
 * A count with thousands separators, and at most three decimals.
 *
 * @param value A number; NaN gives "none".
 * @returns For example "1,234" or "45.1".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount } from "./units.ts";
 *
 * assert.equal(formatCount(6_958_485), "6,958,485");
 * assert.equal(formatCount(45.1), "45.1");
 * ```
 */
export function formatCount(value: number): string {
  if (Number.isNaN(value)) return "none";
  return COUNT_FORMAT.format(value);
}

// One formatter for every count: `toLocaleString` builds a new one per call,
// which cost 0.7 % of a presence run's samples in its progress lines.
const COUNT_FORMAT = new Intl.NumberFormat("en", { maximumFractionDigits: 3 });

/**
 * A share from 0 to 1 as a percentage.
 *
 * @param ratio From 0 to 1; NaN gives "none".
 * @returns For example "99.8 %".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPercent } from "./units.ts";
 *
 * assert.equal(formatPercent(0.998), "99.8 %");
 * assert.equal(formatPercent(1), "100 %");
 * ```
 */
export function formatPercent(ratio: number): string {
  if (Number.isNaN(ratio)) return "none";
  return `${Number((ratio * 100).toFixed(2))} %`;
}
