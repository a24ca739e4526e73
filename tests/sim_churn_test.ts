import assert from "node:assert/strict";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { type Rng, seededRng } from "../lib/rng.ts";
import {
  type DurationDistribution,
  exponential,
  meanDurationMs,
  medianDurationMs,
  pareto,
  sampleDuration,
  sampleResidualDuration,
  weibull,
} from "../sim/churn/distributions.ts";
import {
  type ChurnSpec,
  expectedOfflineFraction,
  formatChurnSpec,
  formatDuration,
  parseChurnSpec,
  parseDuration,
} from "../sim/churn/spec.ts";
import {
  type ChurnCallbacks,
  ChurnSchedule,
  type ChurnScheduleOptions,
  type LeaveKind,
} from "../sim/churn/schedule.ts";
import { Samples } from "../sim/metrics.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** Draws `count` values and summarizes them. */
function draws(count: number, draw: () => number): Samples {
  const samples = new Samples();
  for (let index = 0; index < count; index++) samples.add(draw());
  return samples;
}

function assertNear(
  actual: number,
  expected: number,
  relativeTolerance: number,
  what: string,
): void {
  assert.ok(
    Math.abs(actual - expected) <= relativeTolerance * Math.abs(expected),
    `${what}: ${actual} is not within ${
      relativeTolerance * 100
    }% of ${expected}`,
  );
}

const DISTRIBUTIONS: DurationDistribution[] = [
  { kind: "weibull", shape: 0.5, scaleMs: 30 * MINUTE_MS },
  { kind: "weibull", shape: 1, scaleMs: 10 * MINUTE_MS },
  { kind: "weibull", shape: 2.5, scaleMs: HOUR_MS },
  { kind: "pareto", alpha: 3, minimumMs: 5 * MINUTE_MS },
  { kind: "pareto", alpha: 4.5, minimumMs: MINUTE_MS },
  { kind: "exponential", meanMs: 20 * MINUTE_MS },
];

Deno.test("weibull(), pareto() and exponential() match their closed-form means and medians", () => {
  // Goal: the samplers draw from the documented distributions.
  // Method: 100,000 seeded draws each; the tolerances are several standard
  // errors wide (Weibull with shape 0.5 has a standard deviation 2.2 times its mean).
  for (const distribution of DISTRIBUTIONS) {
    const rng = seededRng(
      `${distribution.kind}-${JSON.stringify(distribution)}`,
    );
    const samples = draws(100_000, () => sampleDuration(rng, distribution));
    const name = JSON.stringify(distribution);
    assertNear(
      samples.summary().mean,
      meanDurationMs(distribution),
      0.03,
      `${name} mean`,
    );
    assertNear(
      samples.percentile(50),
      medianDurationMs(distribution),
      0.02,
      `${name} median`,
    );
  }
});

Deno.test("pareto() with a heavy tail matches its median and never goes below the minimum", () => {
  const rng = seededRng(11);
  const parameters = { alpha: 1.5, minimumMs: 5 * MINUTE_MS };
  const samples = draws(100_000, () => pareto(rng, parameters));
  assertNear(
    samples.percentile(50),
    5 * MINUTE_MS * Math.pow(2, 1 / 1.5),
    0.02,
    "median",
  );
  assert.ok(samples.summary().min >= 5 * MINUTE_MS);
});

Deno.test("weibull(), pareto() and exponential() equal sampleDuration() and repeat per seed", () => {
  assert.equal(
    weibull(seededRng(1), { shape: 0.7, scaleMs: 100 }),
    sampleDuration(seededRng(1), { kind: "weibull", shape: 0.7, scaleMs: 100 }),
  );
  assert.equal(
    exponential(seededRng(2), 100),
    sampleDuration(seededRng(2), { kind: "exponential", meanMs: 100 }),
  );
  assert.equal(
    pareto(seededRng(3), { alpha: 2, minimumMs: 5 }),
    pareto(seededRng(3), { alpha: 2, minimumMs: 5 }),
  );
});

Deno.test("weibull(), pareto() and exponential() reject bad parameters and rngs", () => {
  const rng = seededRng(1);
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(() => weibull(rng, { shape: bad, scaleMs: 1 }), RangeError);
    assert.throws(() => weibull(rng, { shape: 1, scaleMs: bad }), RangeError);
    assert.throws(() => pareto(rng, { alpha: bad, minimumMs: 1 }), RangeError);
    assert.throws(() => pareto(rng, { alpha: 1, minimumMs: bad }), RangeError);
    assert.throws(() => exponential(rng, bad), RangeError);
  }
  assert.throws(() => exponential(() => 1, 1), RangeError, "outside [0, 1)");
});

Deno.test("meanDurationMs() and medianDurationMs() give the closed forms", () => {
  const scaleMs = 1_000;
  const close = (actual: number, expected: number): void =>
    assert.ok(Math.abs(actual - expected) < 1e-9 * expected, `${actual}`);
  close(meanDurationMs({ kind: "weibull", shape: 1, scaleMs }), 1_000);
  close(meanDurationMs({ kind: "weibull", shape: 0.5, scaleMs }), 2_000);
  close(
    meanDurationMs({ kind: "weibull", shape: 2, scaleMs }),
    1_000 * Math.sqrt(Math.PI) / 2,
  );
  close(meanDurationMs({ kind: "weibull", shape: 1 / 3, scaleMs }), 6_000);
  close(meanDurationMs({ kind: "pareto", alpha: 3, minimumMs: 10 }), 15);
  assert.equal(
    meanDurationMs({ kind: "pareto", alpha: 0.8, minimumMs: 10 }),
    Infinity,
  );
  close(
    medianDurationMs({ kind: "weibull", shape: 1, scaleMs }),
    1_000 * Math.LN2,
  );
  close(medianDurationMs({ kind: "pareto", alpha: 1, minimumMs: 10 }), 20);
});

Deno.test("sampleResidualDuration() has mean E[X²] / (2 E[X])", () => {
  // Goal: hosts start with the residual life of a session under way.
  // Method: compare 100,000 draws with the renewal-theory mean.
  const cases: Array<[DurationDistribution, number]> = [
    // Exponential: memoryless.
    [{ kind: "exponential", meanMs: 100 }, 100],
    // Weibull: E[X^n] = scale^n Γ(1 + n/shape); shape 0.5 gives 24 / (2 · 2) = 6 scales.
    [{ kind: "weibull", shape: 0.5, scaleMs: 100 }, 600],
    // Shape 2: Γ(2) / (2 Γ(1.5)) = 1 / √π scales (exercises the gamma boost below shape 1).
    [{ kind: "weibull", shape: 2, scaleMs: 100 }, 100 / Math.sqrt(Math.PI)],
    // Pareto: E[X²] = α m² / (α - 2), E[X] = α m / (α - 1); α = 4.5 gives 0.7 m.
    [{ kind: "pareto", alpha: 4.5, minimumMs: 100 }, 70],
  ];
  for (const [distribution, expectedMeanMs] of cases) {
    const rng = seededRng(JSON.stringify(distribution));
    const samples = draws(
      100_000,
      () => sampleResidualDuration(rng, distribution),
    );
    assertNear(
      samples.summary().mean,
      expectedMeanMs,
      0.03,
      JSON.stringify(distribution),
    );
    assert.ok(samples.summary().min >= 0);
  }
  // Pareto residual life falls below the minimum with probability (α - 1) / α.
  const rng = seededRng(5);
  let below = 0;
  for (let index = 0; index < 100_000; index++) {
    const draw = sampleResidualDuration(rng, {
      kind: "pareto",
      alpha: 2,
      minimumMs: 100,
    });
    if (draw < 100) below++;
  }
  assertNear(below / 100_000, 0.5, 0.02, "pareto below minimum");
  // α ≤ 1 has no steady state; the fallback still gives finite, positive draws.
  const heavy = sampleResidualDuration(seededRng(6), {
    kind: "pareto",
    alpha: 0.9,
    minimumMs: 100,
  });
  assert.ok(heavy >= 0 && Number.isFinite(heavy));
});

Deno.test("expectedOfflineFraction() is mean downtime over mean cycle", () => {
  const spec = parseChurnSpec(
    "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m",
  );
  // Sessions: 30 min · Γ(3) = 60 min; downtimes: 1.5 · 5 / 0.5 = 15 min.
  assert.ok(Math.abs(expectedOfflineFraction(spec) - 0.2) < 1e-12);
  assert.equal(expectedOfflineFraction(undefined), 0);
  assert.equal(
    expectedOfflineFraction(
      parseChurnSpec("pareto:alpha=1,min=1h/exponential:mean=1m"),
    ),
    0,
  );
  assert.equal(
    expectedOfflineFraction(
      parseChurnSpec("exponential:mean=1m/pareto:alpha=0.5,min=1h"),
    ),
    1,
  );
  assert.throws(
    () =>
      expectedOfflineFraction(
        parseChurnSpec("pareto:alpha=1,min=1h/pareto:alpha=1,min=1h"),
      ),
    RangeError,
  );
});

Deno.test("parseDuration() reads every unit", () => {
  const cases: Array<[string, number]> = [
    ["0ms", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["1.5s", 1_500],
    ["10m", 600_000],
    ["1h", 3_600_000],
    ["2.5h", 9_000_000],
    ["7d", 604_800_000],
  ];
  for (const [text, expected] of cases) {
    assert.equal(parseDuration(text), expected, text);
  }
});

Deno.test("parseDuration() rejects bad text with a TypeError quoting it", () => {
  for (
    const text of [
      "",
      "10",
      "m",
      "-5m",
      "5 m",
      " 5m",
      "5M",
      "5min",
      "1e3ms",
      ".5h",
      "5.m",
      "1h30m",
      "Infinityms",
    ]
  ) {
    assert.throws(
      () => parseDuration(text),
      TypeError,
      JSON.stringify(text),
    );
  }
  assert.throws(() => parseDuration(5 as unknown as string), TypeError);
});

Deno.test("formatDuration() picks the largest exact unit and round-trips", () => {
  const cases: Array<[number, string]> = [
    [0, "0ms"],
    [1, "1ms"],
    [1_500, "1500ms"],
    [90_000, "90s"],
    [1_800_000, "30m"],
    [5_400_000, "90m"],
    [86_400_000, "1d"],
    [0.5, "0.5ms"],
  ];
  for (const [ms, expected] of cases) {
    assert.equal(formatDuration(ms), expected);
    assert.equal(parseDuration(expected), ms);
  }
  assert.throws(() => formatDuration(-1), RangeError);
  assert.throws(() => formatDuration(Infinity), RangeError);
});

Deno.test("parseChurnSpec() reads the flag grammar", () => {
  const cases: Array<[string, ChurnSpec | undefined]> = [
    ["none", undefined],
    [" none\n", undefined],
    [
      "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m",
      {
        session: { kind: "weibull", shape: 0.5, scaleMs: 1_800_000 },
        downtime: { kind: "pareto", alpha: 1.5, minimumMs: 300_000 },
      },
    ],
    [
      "exponential:mean=2h/weibull:scale=10s,shape=2",
      {
        session: { kind: "exponential", meanMs: 7_200_000 },
        downtime: { kind: "weibull", shape: 2, scaleMs: 10_000 },
      },
    ],
    [
      "pareto:min=500ms,alpha=3/exponential:mean=1d",
      {
        session: { kind: "pareto", alpha: 3, minimumMs: 500 },
        downtime: { kind: "exponential", meanMs: 86_400_000 },
      },
    ],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseChurnSpec(text), expected, text);
  }
});

Deno.test("parseChurnSpec() rejects bad text with a TypeError quoting it", () => {
  const cases: Array<[string, string]> = [
    ["", 'not "none"'],
    ["None", 'not "none"'],
    ["weibull:shape=0.5,scale=30m", 'not "none"'],
    ["a/b/c", 'not "none"'],
    ["gamma:k=1/exponential:mean=1m", 'distribution "gamma"'],
    ["weibull:shape=0.5/exponential:mean=1m", "lacks scale="],
    ["weibull/exponential:mean=1m", "lacks shape="],
    ["weibull:shape=0.5,scale=30/exponential:mean=1m", "not a duration"],
    ["weibull:shape=x,scale=30m/exponential:mean=1m", "not a number"],
    ["weibull:shape=0,scale=30m/exponential:mean=1m", "not above 0"],
    ["weibull:shape=1,scale=0s/exponential:mean=1m", "not above 0"],
    ["weibull:shape=1,shape=2,scale=1m/exponential:mean=1m", "twice"],
    ["weibull:shape=1,scale=1m,mean=1m/exponential:mean=1m", '"mean=1m"'],
    ["weibull:shape=1,scale=1m,/exponential:mean=1m", '""'],
    ["exponential:mean/exponential:mean=1m", '"mean"'],
    ["exponential:mean=1m/toString:x=1", 'distribution "toString"'],
    ["exponential:mean=1m/exponential:constructor=1", '"constructor=1"'],
  ];
  for (const [text, fragment] of cases) {
    assert.throws(() => parseChurnSpec(text), TypeError, fragment);
    assert.throws(() => parseChurnSpec(text), TypeError, JSON.stringify(text));
  }
});

Deno.test("formatChurnSpec() writes what parseChurnSpec() reads", () => {
  for (
    const text of [
      "none",
      "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m",
      "exponential:mean=90s/weibull:shape=2,scale=1d",
      "pareto:alpha=3,min=1500ms/exponential:mean=1h",
    ]
  ) {
    assert.equal(formatChurnSpec(parseChurnSpec(text)), text);
  }
});

const DEFAULT_SPEC = parseChurnSpec(
  "weibull:shape=0.5,scale=30m/pareto:alpha=1.5,min=5m",
);

interface ChurnEvent {
  atMs: number;
  hostIndex: number;
  event: "join" | LeaveKind;
}

/** Runs a schedule to the end and returns its clock, schedule and event log. */
function runSchedule(
  options: Partial<ChurnScheduleOptions> & { hostCount: number },
  callbacks: Partial<ChurnCallbacks> = {},
): { clock: ManualClock; schedule: ChurnSchedule; events: ChurnEvent[] } {
  const clock = new ManualClock(0);
  const events: ChurnEvent[] = [];
  const schedule = new ChurnSchedule({
    clock,
    rng: seededRng(1),
    spec: DEFAULT_SPEC,
    durationMs: 24 * HOUR_MS,
    ...options,
  }, {
    onLeave(hostIndex, kind) {
      events.push({ atMs: clock.now(), hostIndex, event: kind });
      callbacks.onLeave?.(hostIndex, kind);
    },
    onJoin(hostIndex) {
      events.push({ atMs: clock.now(), hostIndex, event: "join" });
      callbacks.onJoin?.(hostIndex);
    },
  });
  schedule.start();
  clock.runUntilIdle(10_000_000);
  return { clock, schedule, events };
}

Deno.test("ChurnSchedule alternates leave and join per host, starting online", () => {
  const { schedule, events } = runSchedule({ hostCount: 200 });
  const online = new Array(200).fill(true);
  for (const { hostIndex, event } of events) {
    assert.equal(online[hostIndex], event !== "join", `host ${hostIndex}`);
    online[hostIndex] = event === "join";
  }
  for (let hostIndex = 0; hostIndex < 200; hostIndex++) {
    assert.equal(schedule.isOnline(hostIndex), online[hostIndex]);
  }
  const counts = schedule.counts();
  assert.ok(counts.leaves > 1_000, `leaves ${counts.leaves}`);
  assert.equal(counts.leaves, counts.crashes + counts.cleanLeaves);
  assert.equal(counts.joins, events.filter((e) => e.event === "join").length);
  assert.equal(
    counts.onlineHostCount,
    online.filter((isOnline) => isOnline).length,
  );
  assert.equal(counts.onlineHostCount, 200 - (counts.leaves - counts.joins));
  assert.ok(events.every((event) => event.atMs <= 24 * HOUR_MS));
});

Deno.test("ChurnSchedule keeps the offline share near expectedOfflineFraction()", () => {
  // Goal: the long-run share of offline hosts matches renewal theory.
  // Method: 5,000 hosts for 48 h; average the offline share every 10 min
  // after a 12 h warm-up (hosts all start online).
  const hostCount = 5_000;
  const clock = new ManualClock(0);
  let offline = 0;
  const schedule = new ChurnSchedule({
    clock,
    rng: seededRng(42),
    hostCount,
    spec: DEFAULT_SPEC,
    durationMs: 48 * HOUR_MS,
  }, {
    onLeave: () => offline++,
    onJoin: () => offline--,
  });
  schedule.start();
  const shares = new Samples();
  for (
    let atMs = 10 * MINUTE_MS;
    atMs <= 48 * HOUR_MS;
    atMs += 10 * MINUTE_MS
  ) {
    clock.advanceTo(atMs);
    assert.equal(offline, hostCount - schedule.counts().onlineHostCount);
    if (atMs >= 12 * HOUR_MS) shares.add(offline / hostCount);
  }
  const expected = expectedOfflineFraction(DEFAULT_SPEC);
  const mean = shares.summary().mean;
  assert.ok(Math.abs(mean - expected) < 0.03, `offline share ${mean}`);
});

Deno.test("ChurnSchedule with fraction churns exactly that share of hosts", () => {
  const { schedule, events } = runSchedule({ hostCount: 1_000, fraction: 0.3 });
  const churning = new Set<number>();
  for (let hostIndex = 0; hostIndex < 1_000; hostIndex++) {
    if (schedule.isChurning(hostIndex)) churning.add(hostIndex);
  }
  assert.equal(churning.size, 300);
  assert.ok(events.length > 0);
  assert.ok(events.every((event) => churning.has(event.hostIndex)));
  // Not simply the first indexes.
  assert.ok([...churning].some((hostIndex) => hostIndex >= 300));

  const none = runSchedule({ hostCount: 100, fraction: 0 });
  assert.equal(none.events.length, 0);
  assert.equal(none.schedule.counts().onlineHostCount, 100);
});

Deno.test("ChurnSchedule splits leaves into crashes and clean leaves by crashProbability", () => {
  const kinds = (
    crashProbability: number,
  ): { crashes: number; cleanLeaves: number } =>
    runSchedule({ hostCount: 100, crashProbability }).schedule.counts();
  assert.equal(kinds(0).crashes, 0);
  assert.equal(kinds(1).cleanLeaves, 0);
  const half = kinds(0.5);
  const share = half.crashes / (half.crashes + half.cleanLeaves);
  assert.ok(share > 0.45 && share < 0.55, `crash share ${share}`);
});

Deno.test("ChurnSchedule with the same seed produces the same events", () => {
  const log = (rng: Rng): string =>
    JSON.stringify(runSchedule({ hostCount: 300, rng, fraction: 0.5 }).events);
  const reference = log(seededRng(7));
  assert.equal(log(seededRng(7)), reference);
  assert.notEqual(log(seededRng(8)), reference);
});

Deno.test("ChurnSchedule without a spec schedules nothing", () => {
  const { clock, schedule, events } = runSchedule({
    hostCount: 10,
    spec: undefined,
  });
  assert.equal(events.length, 0);
  assert.equal(clock.now(), 0);
  assert.equal(schedule.isChurning(3), false);
  assert.equal(schedule.isOnline(3), true);
});

Deno.test("ChurnSchedule.stop() cancels pending events, also from a callback", () => {
  const clock = new ManualClock(0);
  let events = 0;
  const schedule: ChurnSchedule = new ChurnSchedule({
    clock,
    rng: seededRng(1),
    hostCount: 50,
    spec: DEFAULT_SPEC,
    durationMs: 24 * HOUR_MS,
  }, {
    onLeave() {
      if (++events === 10) schedule.stop();
    },
    onJoin() {
      if (++events === 10) schedule.stop();
    },
  });
  schedule.start();
  clock.runUntilIdle();
  assert.equal(events, 10);
  assert.equal(clock.pendingCount, 0);
  schedule.stop(); // Idempotent.
  assert.throws(() => schedule.start(), Error, "started before");
});

Deno.test("ChurnSchedule rejects bad options and host indexes", () => {
  const clock = new ManualClock(0);
  const callbacks: ChurnCallbacks = { onLeave() {}, onJoin() {} };
  const base: ChurnScheduleOptions = {
    clock,
    rng: seededRng(1),
    hostCount: 10,
    spec: DEFAULT_SPEC,
    durationMs: HOUR_MS,
  };
  for (
    const bad of [
      { hostCount: -1 },
      { hostCount: 1.5 },
      { durationMs: -1 },
      { durationMs: NaN },
      { crashProbability: 1.1 },
      { crashProbability: -0.1 },
      { fraction: 2 },
      { fraction: NaN },
    ]
  ) {
    assert.throws(
      () => new ChurnSchedule({ ...base, ...bad }, callbacks),
      RangeError,
      JSON.stringify(bad),
    );
  }
  const schedule = new ChurnSchedule(base, callbacks);
  for (const index of [-1, 10, 0.5]) {
    assert.throws(() => schedule.isOnline(index), RangeError);
    assert.throws(() => schedule.isChurning(index), RangeError);
  }
});
