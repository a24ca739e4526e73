/**
 * `--report out.html`: a self-contained page (inline SVG, no scripts, no
 * network) with the CDF of each latency a scenario measured, one line per
 * profile, and the figures of every run as a table below.
 *
 * Each plot has axis titles with units, a legend with the sample count of
 * each line, and for a profile without a line the reason (from the run's
 * `notes`, e.g. "no direct links in the jami profile"). A latency that no
 * run measured gets one line of text instead of an empty plot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderReport } from "./report.ts";
 *
 * const html = renderReport("presence", [{
 *   label: "ours",
 *   report: { online_detect_ms: { p99: 900 } },
 *   cdf: { online_detect_ms: [{ value: 100, fraction: 0.5 }, { value: 900, fraction: 1 }] },
 * }]);
 * assert.ok(html.includes("<svg"));
 * ```
 *
 * @module
 */
import type { CdfPoint } from "./metrics.ts";
import { summaryTable } from "./summary_table.ts";

/** One run to draw. */
export interface ReportRun {
  /** Legend label, e.g. the profile. */
  readonly label: string;
  /** The run's `--json` object, shown in the table of figures. */
  readonly report: Record<string, unknown>;
  /** CDFs by metric name (values in ms). */
  readonly cdf: Record<string, readonly CdfPoint[]>;
  /** Why a CDF of this run is empty, by metric; shown in the legend. */
  readonly notes?: Record<string, string>;
}

/** Title and meaning of the latencies the scenarios measure. */
const METRICS: Record<string, { title: string; axis: string }> = {
  online_detect_ms: {
    title: "Online detection",
    axis: "device start → watcher sees status 1",
  },
  offline_graceful_ms: {
    title: "Clean-offline detection",
    axis: "clean shutdown → watcher sees status 0",
  },
  offline_crash_ms: {
    title: "Crash detection",
    axis: "crash → watcher sees status 0",
  },
  connected_detect_ms: {
    title: "Direct link up",
    axis: "device start → watcher sees status 2, direct link",
  },
  link_loss_detect_ms: {
    title: "Direct link loss",
    axis: "crash → linked watcher sees status below 2",
  },
  note_delivery_ms: {
    title: "Note delivery",
    axis: "note published → linked watcher notified",
  },
  delivery_after_online_ms: {
    title: "Trust request delivery",
    axis: "later of target back online and request sent → request shown",
  },
};

const COLORS = ["#1b6ac9", "#d1495b", "#2a9d5c", "#8f5bd6"];
const MISSING_COLOR = "#888";
const WIDTH = 680;
const PLOT_HEIGHT = 240;
const MARGIN = { left: 78, right: 40, top: 16 };
const LINE_HEIGHT = 16;
/** Characters of a legend line before it wraps (12 px text in WIDTH). */
const LEGEND_WRAP = 86;

/** Log-scale ticks for durations, far enough apart for their labels. */
const LOG_TICKS: readonly { ms: number; label: string }[] = [
  { ms: 1, label: "1 ms" },
  { ms: 10, label: "10 ms" },
  { ms: 100, label: "100 ms" },
  { ms: 1_000, label: "1 s" },
  { ms: 10_000, label: "10 s" },
  { ms: 60_000, label: "1 min" },
  { ms: 600_000, label: "10 min" },
  { ms: 3_600_000, label: "1 h" },
  { ms: 86_400_000, label: "1 d" },
  { ms: 604_800_000, label: "7 d" },
  { ms: 2_592_000_000, label: "30 d" },
];

/** Units of a linear axis, largest first, with the least maximum for each. */
const LINEAR_UNITS = [
  { name: "h", ms: 3_600_000, from: 7_200_000 },
  { name: "min", ms: 60_000, from: 120_000 },
  { name: "s", ms: 1_000, from: 2_000 },
  { name: "ms", ms: 1, from: 0 },
];

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A step of 1, 2, 2.5 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (raw <= step * power) return step * power;
  }
  return 10 * power;
}

/** Where values go on the x axis, its ticks and its title. */
interface XAxis {
  readonly toX: (valueMs: number) => number;
  readonly ticks: readonly { x: number; label: string }[];
  readonly title: string;
}

function xAxis(values: readonly number[], meaning: string): XAxis {
  const left = MARGIN.left;
  const span = WIDTH - MARGIN.left - MARGIN.right;
  const max = Math.max(0, ...values);
  const positive = values.filter((value) => value > 0);
  const minPositive = positive.length > 0 ? Math.min(...positive) : 1;
  if (max >= 10_000 && max / Math.max(1, minPositive) >= 100) {
    const low = [...LOG_TICKS].reverse().find((t) => t.ms <= minPositive)?.ms ??
      LOG_TICKS[0].ms;
    const high = LOG_TICKS.find((t) => t.ms >= max)?.ms ?? max;
    const decades = Math.log10(high / low);
    const toX = (value: number) =>
      left + Math.log10(Math.max(low, value) / low) / decades * span;
    const ticks = LOG_TICKS.filter((t) => t.ms >= low && t.ms <= high).map((
      t,
    ) => ({ x: toX(t.ms), label: t.label }));
    return { toX, ticks, title: `${meaning} (log scale)` };
  }
  const unit = LINEAR_UNITS.find((u) => max >= u.from)!;
  const step = niceStep(max / unit.ms / 4);
  const top = Math.max(step, Math.ceil(max / unit.ms / step) * step);
  const toX = (value: number) => left + value / unit.ms / top * span;
  const ticks = [];
  for (let k = 0; k * step <= top + step / 1e6; k++) {
    const value = k * step;
    ticks.push({
      x: toX(value * unit.ms),
      label: Number(value.toFixed(3)).toLocaleString("en"),
    });
  }
  return { toX, ticks, title: `${meaning} (${unit.name})` };
}

/** Splits text into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** Sample count of a metric in a run's report, if it has one. */
function sampleCount(run: ReportRun, metric: string): number | undefined {
  const value = run.report[metric];
  if (typeof value !== "object" || value === null) return undefined;
  const count = (value as { count?: unknown }).count;
  return typeof count === "number" ? count : undefined;
}

function missingNote(run: ReportRun, metric: string): string {
  return run.notes?.[metric] ?? "nothing measured in this run";
}

function chart(metric: string, runs: readonly ReportRun[]): string {
  const meaning = METRICS[metric]?.axis ?? metric;
  const series = runs.map((run) => run.cdf[metric] ?? []);
  const axis = xAxis(series.flat().map((point) => point.value), meaning);
  const bottom = MARGIN.top + PLOT_HEIGHT;
  const y = (fraction: number) => bottom - fraction * PLOT_HEIGHT;
  const right = WIDTH - MARGIN.right;
  // Legend entries: one or more lines each.
  const legend = runs.map((run, index) => {
    const present = series[index].length > 0;
    const count = sampleCount(run, metric);
    const text = present
      ? `${run.label}${
        count === undefined ? "" : ` (${count.toLocaleString("en")} samples)`
      }`
      : `${run.label}: no line, ${missingNote(run, metric)}`;
    return {
      present,
      color: present ? COLORS[index % COLORS.length] : MISSING_COLOR,
      lines: wrap(text, LEGEND_WRAP),
    };
  });
  const legendTop = bottom + 56;
  const legendLines = legend.reduce((sum, item) => sum + item.lines.length, 0);
  const height = legendTop + legendLines * LINE_HEIGHT + 4;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="CDF of ${
      escape(metric)
    }" font-family="system-ui,sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
  ];
  for (const tick of axis.ticks) {
    parts.push(
      `<line x1="${tick.x.toFixed(1)}" y1="${MARGIN.top}" x2="${
        tick.x.toFixed(1)
      }" y2="${bottom}" stroke="#e4e4e4"/>`,
      `<text x="${tick.x.toFixed(1)}" y="${
        bottom + 16
      }" font-size="11" text-anchor="middle">${escape(tick.label)}</text>`,
    );
  }
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y(fraction)}" x2="${right}" y2="${
        y(fraction)
      }" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 6}" y="${
        y(fraction) + 4
      }" font-size="11" text-anchor="end">${fraction * 100} %</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${
      right - MARGIN.left
    }" height="${PLOT_HEIGHT}" fill="none" stroke="#999"/>`,
    `<text class="axis-title" x="${(MARGIN.left + right) / 2}" y="${
      bottom + 36
    }" font-size="12" text-anchor="middle">${escape(axis.title)}</text>`,
    `<text class="axis-title" transform="translate(18 ${
      MARGIN.top + PLOT_HEIGHT / 2
    }) rotate(-90)" font-size="12" text-anchor="middle">share of samples at most x (%)</text>`,
  );
  series.forEach((points, index) => {
    if (points.length === 0) return;
    const path = points.map((p, i) =>
      `${i === 0 ? "M" : "L"}${axis.toX(p.value).toFixed(1)},${
        y(p.fraction).toFixed(1)
      }`
    ).join(" ");
    parts.push(
      `<path d="${path}" fill="none" stroke="${
        COLORS[index % COLORS.length]
      }" stroke-width="2"/>`,
    );
  });
  let lineTop = legendTop;
  parts.push(`<g class="legend" font-size="12">`);
  for (const item of legend) {
    const middle = lineTop - 4;
    parts.push(
      `<line x1="${MARGIN.left}" y1="${middle}" x2="${
        MARGIN.left + 24
      }" y2="${middle}" stroke="${item.color}" stroke-width="2"${
        item.present ? "" : ` stroke-dasharray="3 3"`
      }/>`,
    );
    for (const line of item.lines) {
      parts.push(
        `<text x="${MARGIN.left + 32}" y="${lineTop}" fill="${
          item.present ? "#222" : "#555"
        }">${escape(line)}</text>`,
      );
      lineTop += LINE_HEIGHT;
    }
  }
  parts.push("</g></svg>");
  return parts.join("");
}

function section(metric: string, runs: readonly ReportRun[]): string {
  const title = METRICS[metric]?.title ?? metric;
  const heading = `<h2>${escape(title)} <code>${escape(metric)}</code></h2>`;
  if (runs.some((run) => (run.cdf[metric] ?? []).length > 0)) {
    return `<section>${heading}${chart(metric, runs)}</section>`;
  }
  const reasons = runs.map((run) =>
    `${escape(run.label)}: ${escape(missingNote(run, metric))}`
  ).join("; ");
  return `<section>${heading}<p class="empty">No data, so no plot. ${reasons}.</p></section>`;
}

function figuresTable(runs: readonly ReportRun[]): string {
  const table = summaryTable(
    runs.map((run) => ({ label: run.label, report: run.report })),
  );
  const head = table.header.map((cell) => `<th>${escape(cell)}</th>`).join(
    "",
  );
  const rows = table.rows.map((row) =>
    `<tr>${
      row.map((cell, index) =>
        index === 0
          ? `<th scope="row"><code>${escape(cell)}</code></th>`
          : `<td>${escape(cell)}</td>`
      ).join("")
    }</tr>`
  );
  return `<table class="figures"><thead><tr>${head}</tr></thead><tbody>\n${
    rows.join("\n")
  }\n</tbody></table>`;
}

/**
 * Renders the report page.
 *
 * @param scenario Scenario name.
 * @param runs One or more runs (profiles) of it.
 * @returns HTML text.
 */
export function renderReport(
  scenario: string,
  runs: readonly ReportRun[],
): string {
  const found = new Set(runs.flatMap((run) => Object.keys(run.cdf)));
  const known = Object.keys(METRICS).filter((metric) => found.has(metric));
  const metrics = [
    ...known,
    ...[...found].filter((metric) => !known.includes(metric)),
  ];
  const sections = metrics.map((metric) => section(metric, runs));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escape(scenario)} simulation report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}
h2 code{font-size:0.7em;color:#666;font-weight:normal}
p.empty{color:#555;font-style:italic}
table.figures{border-collapse:collapse;font-size:13px;width:100%}
table.figures th,table.figures td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.figures thead th{border-bottom:2px solid #999}
</style>
</head><body>
<h1>${escape(scenario)}: simulation report</h1>
<p>Each plot is a cumulative distribution of a latency in virtual time: a point (x, y) means that y % of the samples took at most x. Each line is one profile, run on the same seed.</p>
${sections.join("\n")}
<h2>Figures</h2>
<p>In human units; <code>--json</code> gives the exact numbers.</p>
${figuresTable(runs)}
</body></html>
`;
}
