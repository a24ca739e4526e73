import assert from "node:assert/strict";
import { seededRng } from "../lib/rng.ts";
import { Samples } from "../sim/metrics.ts";

function samplesOf(values: readonly number[]): Samples {
  const samples = new Samples();
  for (const value of values) samples.add(value);
  return samples;
}

Deno.test("Samples.percentile() follows the nearest-rank method", () => {
  // Worked examples of the nearest-rank method,
  // https://en.wikipedia.org/wiki/Percentile#The_nearest-rank_method
  const five = samplesOf([35, 20, 15, 50, 40]);
  const fiveCases: Array<[number, number]> = [
    [0, 15],
    [5, 15],
    [20, 15],
    [30, 20],
    [40, 20],
    [50, 35],
    [100, 50],
  ];
  for (const [p, expected] of fiveCases) {
    assert.equal(five.percentile(p), expected, `p${p}`);
  }
  const ten = samplesOf([3, 6, 7, 8, 8, 10, 13, 15, 16, 20]);
  const tenCases: Array<[number, number]> = [
    [25, 7],
    [50, 8],
    [75, 15],
    [100, 20],
  ];
  for (const [p, expected] of tenCases) {
    assert.equal(ten.percentile(p), expected, `p${p}`);
  }
});

Deno.test("Samples.percentile() handles one value, duplicates and negatives", () => {
  const one = samplesOf([7]);
  for (const p of [0, 1, 50, 99, 100]) assert.equal(one.percentile(p), 7);
  const mixed = samplesOf([-5, 0, 0, 0, 5]);
  assert.equal(mixed.percentile(10), -5);
  assert.equal(mixed.percentile(50), 0);
  assert.equal(mixed.percentile(90), 5);
});

Deno.test("Samples.summary() reports exact count, min, max, mean and percentiles", () => {
  const samples = samplesOf(Array.from({ length: 1_000 }, (_, i) => 1_000 - i));
  assert.deepEqual(samples.summary(), {
    count: 1_000,
    min: 1,
    max: 1_000,
    mean: 500.5,
    p50: 500,
    p90: 900,
    p95: 950,
    p99: 990,
  });
});

Deno.test("Samples when empty gives NaN, an empty cdf, and nulls in JSON", () => {
  const empty = new Samples();
  assert.equal(empty.count, 0);
  assert.ok(Number.isNaN(empty.percentile(50)));
  const summary = empty.summary();
  assert.equal(summary.count, 0);
  for (
    const key of ["min", "max", "mean", "p50", "p90", "p95", "p99"] as const
  ) {
    assert.ok(Number.isNaN(summary[key]), key);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(summary)), {
    count: 0,
    min: null,
    max: null,
    mean: null,
    p50: null,
    p90: null,
    p95: null,
    p99: null,
  });
  assert.deepEqual(empty.cdf(10), []);
});

Deno.test("Samples.cdf() spans min to max at evenly spaced fractions", () => {
  const samples = samplesOf([4, 1, 3, 2]);
  assert.deepEqual(samples.cdf(3), [
    { value: 1, fraction: 0 },
    { value: 2, fraction: 0.5 },
    { value: 4, fraction: 1 },
  ]);
  const points = samplesOf(Array.from({ length: 500 }, (_, i) => i * i)).cdf(
    50,
  );
  assert.equal(points.length, 50);
  for (let index = 1; index < points.length; index++) {
    assert.ok(points[index].value >= points[index - 1].value);
    assert.ok(points[index].fraction > points[index - 1].fraction);
  }
});

Deno.test("Samples sees values added after a percentile was asked for", () => {
  const samples = samplesOf([1, 2, 3]);
  assert.equal(samples.percentile(100), 3);
  samples.add(10);
  assert.equal(samples.percentile(100), 10);
  assert.equal(samples.summary().max, 10);
});

Deno.test("Samples with maxSamples keeps a bounded reservoir and exact totals", () => {
  const samples = new Samples({ maxSamples: 1_000, rng: seededRng(1) });
  for (let value = 0; value < 100_000; value++) samples.add(value);
  assert.equal(samples.keptCount, 1_000);
  const summary = samples.summary();
  assert.equal(summary.count, 100_000);
  assert.equal(summary.min, 0);
  assert.equal(summary.max, 99_999);
  assert.equal(summary.mean, 49_999.5);
  // A uniform subset: its median is near the true one.
  assert.ok(Math.abs(summary.p50 - 50_000) < 5_000, `p50 ${summary.p50}`);
  assert.ok(Math.abs(summary.p90 - 90_000) < 3_000, `p90 ${summary.p90}`);
});

Deno.test("Samples reservoir is deterministic for a seed, whenever percentiles are read", () => {
  function fill(seed: number, peek: boolean): number[] {
    const samples = new Samples({ maxSamples: 100, rng: seededRng(seed) });
    for (let value = 0; value < 10_000; value++) {
      samples.add(value);
      if (peek && value % 997 === 0) samples.percentile(50);
    }
    return samples.cdf(101).map((point) => point.value);
  }
  const reference = fill(3, false);
  assert.deepEqual(fill(3, false), reference);
  assert.deepEqual(fill(3, true), reference);
  assert.notDeepEqual(fill(4, false), reference);
});

Deno.test("Samples below maxSamples keeps every value without drawing", () => {
  let draws = 0;
  const rng = (): number => {
    draws++;
    return 0.5;
  };
  const samples = new Samples({ maxSamples: 100, rng });
  for (let value = 0; value < 100; value++) samples.add(value);
  assert.equal(draws, 0);
  assert.equal(samples.keptCount, 100);
  samples.add(100);
  assert.equal(draws, 1);
});

Deno.test("Samples rejects invalid input", () => {
  const samples = new Samples();
  for (const value of [NaN, Infinity, -Infinity]) {
    assert.throws(() => samples.add(value), RangeError, String(value));
  }
  samples.add(1);
  for (const p of [-1, 100.5, NaN]) {
    assert.throws(() => samples.percentile(p), RangeError, String(p));
  }
  for (const points of [0, 1, 2.5, NaN]) {
    assert.throws(() => samples.cdf(points), RangeError);
  }
  for (const maxSamples of [0, -1, 1.5, NaN]) {
    assert.throws(
      () => new Samples({ maxSamples, rng: seededRng(1) }),
      RangeError,
    );
  }
  assert.throws(() => new Samples({ maxSamples: 10 }), TypeError, "rng");
  const broken = new Samples({ maxSamples: 1, rng: () => 1 });
  broken.add(1);
  assert.throws(() => broken.add(2), RangeError, "outside [0, 1)");
});
