/**
 * The `--report` page and the printed table: axis titles with units,
 * readable labels, a legend that says why a profile has no line, no empty
 * plot, figures as a table in human units.
 */
import assert from "node:assert/strict";
import { renderReport, type ReportRun } from "../sim/report.ts";
import {
  formatTextTable,
  formatValue,
  reportTable,
} from "../sim/summary_table.ts";

const cdf = (values: number[]) =>
  values.map((value, i) => ({ value, fraction: i / (values.length - 1) }));

const RUNS: ReportRun[] = [{
  label: "ours",
  report: {
    profile: "ours",
    online_detect_ms: { count: 3, p50: 400, p95: 900, p99: 900 },
    connected_detect_ms: { count: 3, p50: 500, p95: 950, p99: 950 },
    note_delivery_ms: { count: 0, p50: NaN, p95: NaN, p99: NaN },
    offline_crash_ms: { count: 3, p50: 14_000, p95: 24_000, p99: 24_000 },
    presence_bytes_per_device_hour: 6_958_485,
  },
  cdf: {
    online_detect_ms: cdf([100, 400, 900]),
    connected_detect_ms: cdf([120, 500, 950]),
    note_delivery_ms: [],
    offline_crash_ms: cdf([50, 14_000, 24_000]),
  },
  notes: { note_delivery_ms: "no notes published (set --note-every)" },
}, {
  label: "jami",
  report: {
    profile: "jami",
    online_detect_ms: { count: 3, p50: 2_000, p95: 5_000, p99: 5_000 },
    connected_detect_ms: { count: 0, p50: NaN, p95: NaN, p99: NaN },
    note_delivery_ms: { count: 0, p50: NaN, p95: NaN, p99: NaN },
    presence_bytes_per_device_hour: 20_000_000,
  },
  cdf: {
    online_detect_ms: cdf([1_000, 2_000, 5_000]),
    connected_detect_ms: [],
    note_delivery_ms: [],
  },
  notes: {
    connected_detect_ms: "no direct links in the jami profile",
    note_delivery_ms: "no notes published (set --note-every)",
  },
}];

/** The `<svg>…</svg>` of a metric, or undefined. */
function svgOf(html: string, metric: string): string | undefined {
  const start = html.indexOf(`<svg`, html.indexOf(`<code>${metric}</code>`));
  const own = html.indexOf(`aria-label="CDF of ${metric}"`);
  if (own === -1) return undefined;
  assert.ok(start !== -1 && start < own);
  return html.slice(start, html.indexOf("</svg>", own) + 6);
}

/** Text elements of an svg: position, anchor and text. */
function texts(svg: string) {
  return [...svg.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
    attributes: m[1],
    x: Number(/ x="([\d.]+)"/.exec(m[1])?.[1]),
    y: Number(/ y="([\d.]+)"/.exec(m[1])?.[1]),
    text: m[2],
  }));
}

Deno.test("report: each plot has axis titles with units", () => {
  const html = renderReport("presence", RUNS);
  const linear = svgOf(html, "online_detect_ms")!;
  const titles = texts(linear).filter((t) =>
    t.attributes.includes("axis-title")
  );
  assert.equal(titles.length, 2);
  // Values up to 5 s: a linear axis in seconds.
  assert.match(titles[0].text, /device start .* \(s\)$/);
  assert.match(titles[1].text, /share of samples .*\(%\)/);
  // From 50 ms to 24 s: a log axis, ticks with their unit.
  const log = svgOf(html, "offline_crash_ms")!;
  assert.ok(
    texts(log).some((t) =>
      t.attributes.includes("axis-title") &&
      t.text.endsWith("(log scale)")
    ),
  );
  assert.ok(texts(log).some((t) => t.text === "100 ms"));
  assert.ok(texts(log).some((t) => t.text === "10 s"));
});

Deno.test("report: tick labels neither overlap nor leave the picture", () => {
  // Delays from 300 ms to 2 days: a log axis over many units.
  const wide: ReportRun = {
    label: "jami",
    report: {},
    cdf: { delivery_after_online_ms: cdf([300, 20_000, 3_600_000, 2e8]) },
  };
  const html = renderReport("presence", RUNS) +
    renderReport("inbox", [wide]);
  for (
    const metric of [
      "online_detect_ms",
      "offline_crash_ms",
      "delivery_after_online_ms",
    ]
  ) {
    const svg = svgOf(html, metric)!;
    const width = Number(/width="(\d+)"/.exec(svg)![1]);
    const labels = texts(svg).filter((t) => !t.attributes.includes("class"));
    const yLabels = labels.filter((t) => t.text.endsWith(" %"));
    assert.equal(yLabels.length, 5);
    const ys = yLabels.map((t) => t.y).sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) {
      assert.ok(ys[i] - ys[i - 1] >= 14, `${metric}: ${ys}`);
    }
    // x tick labels: 11 px text, about 7 px a character at most.
    const xLabels = labels.filter((label) =>
      label.attributes.includes(`text-anchor="middle"`)
    ).sort((a, b) => a.x - b.x);
    assert.ok(xLabels.length >= 4, metric);
    xLabels.forEach((label, i) => {
      const half = label.text.length * 7 / 2;
      assert.ok(label.x - half >= 0, `${metric}: ${label.text}`);
      assert.ok(label.x + half <= width, `${metric}: ${label.text}`);
      const next = xLabels[i + 1];
      if (next === undefined) return;
      const gap = next.x - label.x -
        (label.text.length + next.text.length) * 7 / 2;
      assert.ok(gap >= 4, `${metric}: ${label.text} / ${next.text}`);
    });
  }
});

Deno.test("report: the legend names each line and says why a profile has none", () => {
  const html = renderReport("presence", RUNS);
  const linked = svgOf(html, "connected_detect_ms")!;
  const legend = texts(linked).map((t) => t.text).join(" ");
  assert.match(legend, /ours \(3 samples\)/);
  assert.match(legend, /jami: no line, no direct links in the jami profile/);
  // Both profiles have a line: both named, no note.
  const online = texts(svgOf(html, "online_detect_ms")!).map((t) => t.text);
  assert.ok(online.includes("ours (3 samples)"));
  assert.ok(online.includes("jami (3 samples)"));
  assert.ok(!online.some((text) => text.includes("no line")));
});

Deno.test("report: a latency nobody measured gets a sentence, not an empty plot", () => {
  const html = renderReport("presence", RUNS);
  assert.equal(svgOf(html, "note_delivery_ms"), undefined);
  assert.match(
    html,
    /<code>note_delivery_ms<\/code><\/h2><p class="empty">No data, so no plot\. ours: no notes published \(set --note-every\); jami: no notes/,
  );
  // Every plot drawn has at least one line.
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 3);
  for (const svg of svgs) assert.match(svg, /<path d="M/);
});

Deno.test("report: the figures are an HTML table in human units, not JSON", () => {
  const html = renderReport("presence", RUNS);
  assert.ok(!html.includes("<pre>"));
  const table = /<table class="figures">([\s\S]*?)<\/table>/.exec(html)?.[1];
  assert.ok(table !== undefined);
  assert.match(table, /<th>metric<\/th><th>ours<\/th><th>jami<\/th>/);
  assert.match(
    table,
    /<code>presence_bytes_per_device_hour<\/code><\/th><td>6\.96 MB<\/td><td>20 MB<\/td>/,
  );
  assert.match(
    table,
    /<td>p50 400 ms, p95 900 ms, p99 900 ms \(3 samples\)<\/td>/,
  );
  assert.match(table, /<td>no samples<\/td>/);
});

Deno.test("table: human units by key; --compare puts the runs side by side with their ratios", () => {
  assert.equal(formatValue("wall_seconds", 83.51), "1.39 min");
  assert.equal(formatValue("rss_mb", 801), "801 MB");
  assert.equal(formatValue("bytes_per_request", 4_271_730), "4.27 MB");
  assert.equal(formatValue("link_bytes_per_device_hour", 8_761), "8.76 KB");
  assert.equal(formatValue("speedup", 9), "9×");
  assert.equal(
    formatValue("lookup_ms", { p50: 453.205, p99: 1_321.695 }),
    "p50 453 ms, p99 1.32 s",
  );
  assert.equal(formatValue("lookup_hops", { p50: 2, p99: 4 }), "p50 2, p99 4");
  assert.equal(
    formatValue("offline_ms_range", [60_000, 86_400_000]),
    "1 min to 24 h",
  );
  assert.equal(
    formatValue("online_detect_ms", { count: 0, p50: null }),
    "no samples",
  );
  const table = reportTable({
    impl: "ours",
    lookup_ms: { p50: 400, p90: 800 },
    messages_per_lookup: 54,
    lookup_hops: { p50: 2 },
    baseline: {
      impl: "kademlia-dht",
      lookup_ms: { p50: 800, p90: 1_600 },
      messages_per_lookup: 27,
      lookup_hops: { p50: 0 },
    },
    ratio_vs_baseline: {
      lookup_ms_p50: 0.5,
      lookup_ms_p90: 0.5,
      messages_per_lookup: 2,
      lookup_hops_p50: NaN,
    },
  });
  assert.deepEqual(table.header, [
    "metric",
    "ours",
    "kademlia-dht",
    "ours / kademlia-dht",
  ]);
  assert.deepEqual(table.rows[1], [
    "lookup_ms",
    "p50 400 ms, p90 800 ms",
    "p50 800 ms, p90 1.6 s",
    "p50 0.5×, p90 0.5×",
  ]);
  assert.deepEqual(table.rows[2], ["messages_per_lookup", "54", "27", "2×"]);
  // A ratio over nothing (NaN, null in JSON) is not a number to print.
  assert.deepEqual(table.rows[3], ["lookup_hops", "p50 2", "p50 0", "p50 n/a"]);
  const text = formatTextTable(table).split("\n");
  assert.equal(text.length, 5);
  // Aligned columns: the second column starts at the same place everywhere.
  const column = text[0].indexOf("ours");
  assert.ok(
    text.slice(1).every((line) =>
      line[column - 1] === " " && line[column] !== " "
    ),
  );
});
