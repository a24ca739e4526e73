/**
 * The summary of a simulation for people: one row per figure of the report,
 * one column per run (ours, and the baseline with `--compare`), values in
 * human units (ms, s, min, KB, MB, %), and the ratio of the two runs when
 * given. The runner prints it as text; `--report` shows it as an HTML table.
 * `--json` is not affected: it prints the report's plain numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTextTable, summaryTable } from "./summary_table.ts";
 *
 * const table = summaryTable([{
 *   label: "ours",
 *   report: { offline_graceful_ms: { count: 187, p50: 309, p95: 537, p99: 581 } },
 * }]);
 * assert.deepEqual(table.rows[0], [
 *   "offline_graceful_ms",
 *   "p50 309 ms, p95 537 ms, p99 581 ms (187 samples)",
 * ]);
 * assert.match(formatTextTable(table), /^metric +ours\n/);
 * ```
 *
 * @module
 */
import {
  formatBytes,
  formatCount,
  formatDurationMs,
  formatPercent,
} from "./units.ts";

/** One column of a {@link summaryTable}: a run's report. */
export interface SummaryColumn {
  /** Column title, e.g. the profile. */
  readonly label: string;
  /** The run's report (the `--json` object). */
  readonly report: Record<string, unknown>;
}

/** Header and rows of cells, all text. */
export interface SummaryTable {
  /** "metric", then one title per column (and "ratio" with ratios). */
  readonly header: readonly string[];
  /** One row per figure: its key, then one cell per column. */
  readonly rows: readonly (readonly string[])[];
}

const PERCENTILE = /^p\d+$/;

function missing(value: unknown): boolean {
  return value === null || value === undefined ||
    (typeof value === "number" && Number.isNaN(value));
}

/** A number under `key`, in the unit its name says. */
function formatNumber(key: string, value: number): string {
  if (key.endsWith("_ms") || key === "ms") return formatDurationMs(value);
  if (key.endsWith("_seconds")) return formatDurationMs(value * 1_000);
  if (key.endsWith("_mb")) return `${formatCount(value)} MB`;
  if (key.includes("bytes")) return formatBytes(value);
  if (key.endsWith("speedup")) return `${formatCount(value)}×`;
  if (key.endsWith("_ratio")) return formatPercent(value);
  return formatCount(value);
}

/** Fields of a nested object, in its parent's unit for min, max, mean and percentiles. */
function formatObject(key: string, value: Record<string, unknown>): string {
  const entries = Object.entries(value);
  const count = value.count;
  const rest = entries.filter(([field]) => field !== "count");
  if (typeof count === "number" && count === 0) return "no samples";
  const statistic = (field: string) =>
    PERCENTILE.test(field) || ["min", "max", "mean"].includes(field);
  const unitOf = (field: string) =>
    statistic(field) && key.endsWith("_ms") ? "ms" : field;
  const text = rest.map(([field, inner]) =>
    `${field} ${formatValue(unitOf(field), inner)}`
  ).join(", ");
  return typeof count === "number"
    ? `${text} (${formatCount(count)} samples)`
    : text;
}

/** A list: a range of two durations, or a series summed up by its lows. */
function formatArray(key: string, value: readonly unknown[]): string {
  if (
    key.endsWith("_ms_range") && value.length === 2 &&
    value.every((item) => typeof item === "number")
  ) {
    return `${formatDurationMs(value[0] as number)} to ${
      formatDurationMs(value[1] as number)
    }`;
  }
  const records = value.filter((item): item is Record<string, unknown> =>
    typeof item === "object" && item !== null
  );
  if (records.length === 0 || records.length !== value.length) {
    return value.map((item) => formatValue(key, item)).join(", ");
  }
  const fields = Object.keys(records[0]).filter((field) =>
    !field.startsWith("t_") &&
    records.every((record) => typeof record[field] === "number")
  );
  const lows = fields.map((field) =>
    `${field} ${
      formatValue(
        key.endsWith("_ms") ? "ms" : field,
        Math.min(...records.map((record) => record[field] as number)),
      )
    }`
  );
  return `${records.length} points; lowest: ${lows.join(", ")}`;
}

/**
 * One value of a report in human units, by the unit its key names: `_ms`
 * durations, `_seconds`, `_mb`, bytes, `_ratio` as a percentage, speedups;
 * objects field by field, lists summed up.
 *
 * @param key The figure's key in the report.
 * @param value Its value.
 * @returns The text; "none" for a missing or NaN value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatValue } from "./summary_table.ts";
 *
 * assert.equal(formatValue("presence_bytes_per_device_hour", 6_958_485), "6.96 MB");
 * assert.equal(formatValue("lookup_success_ratio", 0.998), "99.8 %");
 * assert.equal(formatValue("sim_seconds", 751), "12.5 min");
 * ```
 */
export function formatValue(key: string, value: unknown): string {
  if (missing(value)) return "none";
  if (typeof value === "number") return formatNumber(key, value);
  if (Array.isArray(value)) return formatArray(key, value);
  if (typeof value === "object") {
    return formatObject(key, value as Record<string, unknown>);
  }
  return String(value);
}

/** Ratio cells by row: a ratio key names its row, or its row and a percentile. */
function ratioCells(
  keys: readonly string[],
  ratios: Record<string, unknown>,
): Map<string, string> {
  const cells = new Map<string, string[]>();
  for (const [ratioKey, value] of Object.entries(ratios)) {
    let row = ratioKey;
    let label = "";
    const match = /^(.*)_(p\d+)$/.exec(ratioKey);
    if (!keys.includes(ratioKey) && match !== null && keys.includes(match[1])) {
      row = match[1];
      label = `${match[2]} `;
    }
    const text = typeof value === "number" && Number.isFinite(value)
      ? `${label}${value}×`
      : `${label}n/a`;
    cells.set(row, [...(cells.get(row) ?? []), text]);
  }
  return new Map([...cells].map(([row, texts]) => [row, texts.join(", ")]));
}

/**
 * The table of one or more runs, rows in the order of their keys.
 *
 * @param columns The runs, the first one first.
 * @param ratios First run over second by key (the runner's `ratio_vs_*`),
 * shown in a last column; a key `x_p99` goes to row `x`.
 * @returns Header and rows.
 */
export function summaryTable(
  columns: readonly SummaryColumn[],
  ratios?: Record<string, unknown>,
): SummaryTable {
  const keys: string[] = [];
  for (const column of columns) {
    for (const key of Object.keys(column.report)) {
      if (!keys.includes(key)) keys.push(key);
    }
  }
  const ratioByRow = ratios === undefined
    ? undefined
    : ratioCells(keys, ratios);
  const header = [
    "metric",
    ...columns.map((column) => column.label),
    ...(ratioByRow === undefined
      ? []
      : [`${columns[0]?.label ?? ""} / ${columns[1]?.label ?? ""}`]),
  ];
  const rows = keys.map((key) => [
    key,
    ...columns.map((column) =>
      key in column.report ? formatValue(key, column.report[key]) : ""
    ),
    ...(ratioByRow === undefined ? [] : [ratioByRow.get(key) ?? ""]),
  ]);
  return { header, rows };
}

/**
 * The columns and ratios of a runner report: with `--compare` it holds its
 * baseline run under `baseline` and the ratios under `ratio_vs_…`.
 *
 * @param report The `--json` object.
 * @returns The table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportTable } from "./summary_table.ts";
 *
 * const table = reportTable({
 *   profile: "ours",
 *   delivered_ratio: 1,
 *   baseline: { profile: "jami", delivered_ratio: 0.5 },
 *   ratio_vs_jami: { delivered_ratio: 2 },
 * });
 * assert.deepEqual(table.header, ["metric", "ours", "jami", "ours / jami"]);
 * assert.deepEqual(table.rows[1], ["delivered_ratio", "100 %", "50 %", "2×"]);
 * ```
 */
export function reportTable(report: Record<string, unknown>): SummaryTable {
  const labelOf = (run: Record<string, unknown>, fallback: string) =>
    String(run.profile ?? run.impl ?? fallback);
  const own: Record<string, unknown> = {};
  let baseline: Record<string, unknown> | undefined;
  let ratios: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(report)) {
    if (key === "baseline" && typeof value === "object" && value !== null) {
      baseline = value as Record<string, unknown>;
    } else if (
      key.startsWith("ratio_vs_") && typeof value === "object" &&
      value !== null
    ) {
      ratios = value as Record<string, unknown>;
    } else {
      own[key] = value;
    }
  }
  const columns: SummaryColumn[] = [{
    label: labelOf(report, "run"),
    report: own,
  }];
  if (baseline !== undefined) {
    columns.push({ label: labelOf(baseline, "baseline"), report: baseline });
  }
  return summaryTable(columns, baseline === undefined ? undefined : ratios);
}

/**
 * The table as aligned text columns.
 *
 * @param table Header and rows.
 * @returns Lines joined by "\n", no final line end.
 */
export function formatTextTable(table: SummaryTable): string {
  const lines = [table.header, ...table.rows];
  const widths = table.header.map((_, column) =>
    Math.max(...lines.map((line) => (line[column] ?? "").length))
  );
  return lines.map((line) =>
    line.map((cell, column) =>
      column === line.length - 1 ? cell : cell.padEnd(widths[column])
    ).join("  ").trimEnd()
  ).join("\n");
}
