/**
 * `--report out.html`: a self-contained page (inline SVG, no scripts, no
 * network) with the CDF of each latency a scenario measured, one line per
 * profile, and the JSON figures below.
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

/** One run to draw. */
export interface ReportRun {
  /** Legend label, e.g. the profile. */
  readonly label: string;
  /** The run's `--json` object, shown pretty-printed under its label. */
  readonly report: Record<string, unknown>;
  /** CDFs by metric name. */
  readonly cdf: Record<string, readonly CdfPoint[]>;
}

const COLORS = ["#1b6ac9", "#d1495b", "#2a9d5c", "#8f5bd6"];
const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { left: 60, right: 20, top: 20, bottom: 45 };

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

function chart(metric: string, runs: readonly ReportRun[]): string {
  const series = runs.map((run) => run.cdf[metric] ?? []);
  const max = niceMax(
    Math.max(0, ...series.flatMap((points) => points.map((p) => p.value))),
  );
  const log = max >= 10_000;
  const minLog = 1;
  const x = (value: number) => {
    const span = WIDTH - MARGIN.left - MARGIN.right;
    if (!log) return MARGIN.left + value / max * span;
    const v = Math.max(minLog, value);
    return MARGIN.left +
      Math.log10(v / minLog) / Math.log10(max / minLog) * span;
  };
  const y = (fraction: number) =>
    HEIGHT - MARGIN.bottom - fraction * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const ticks = log
    ? Array.from(
      { length: Math.round(Math.log10(max)) + 1 },
      (_, i) => 10 ** i,
    )
    : [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="CDF of ${
      escape(metric)
    }">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
  ];
  for (const tick of ticks) {
    parts.push(
      `<line x1="${x(tick)}" y1="${MARGIN.top}" x2="${x(tick)}" y2="${
        y(0)
      }" stroke="#eee"/>`,
      `<text x="${x(tick)}" y="${
        y(0) + 16
      }" font-size="11" text-anchor="middle">${
        tick.toLocaleString("en")
      }</text>`,
    );
  }
  for (const fraction of [0, 0.5, 0.9, 0.99, 1]) {
    parts.push(
      `<line x1="${MARGIN.left}" y1="${y(fraction)}" x2="${
        WIDTH - MARGIN.right
      }" y2="${y(fraction)}" stroke="#eee"/>`,
      `<text x="${MARGIN.left - 6}" y="${
        y(fraction) + 4
      }" font-size="11" text-anchor="end">${fraction}</text>`,
    );
  }
  parts.push(
    `<text x="${(WIDTH + MARGIN.left) / 2}" y="${
      HEIGHT - 8
    }" font-size="12" text-anchor="middle">${escape(metric)}${
      log ? " (log scale)" : ""
    }</text>`,
  );
  series.forEach((points, index) => {
    if (points.length === 0) return;
    const color = COLORS[index % COLORS.length];
    const path = points.map((p, i) =>
      `${i === 0 ? "M" : "L"}${x(p.value).toFixed(1)},${
        y(p.fraction).toFixed(1)
      }`
    ).join(" ");
    parts.push(
      `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`,
      `<text x="${MARGIN.left + 10}" y="${
        MARGIN.top + 14 + index * 16
      }" font-size="12" fill="${color}">${escape(runs[index].label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
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
  const metrics = [...new Set(runs.flatMap((run) => Object.keys(run.cdf)))];
  const sections = metrics.map((metric) =>
    `<section><h2>${escape(metric)}</h2>${chart(metric, runs)}</section>`
  );
  const figures = runs.map((run) =>
    `<h3>${escape(run.label)}</h3><pre>${
      escape(JSON.stringify(run.report, null, 2))
    }</pre>`
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escape(scenario)} simulation report</title>
<style>body{font-family:system-ui,sans-serif;max-width:720px;margin:2em auto;color:#222}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}</style>
</head><body>
<h1>${escape(scenario)}: simulation report</h1>
<p>Cumulative distributions of virtual-time latencies; each line is one profile on the same seed.</p>
${sections.join("\n")}
<h2>Figures</h2>
${figures.join("\n")}
</body></html>
`;
}
