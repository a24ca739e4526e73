/**
 * The simulator's progress lines: phase, labelled counts, virtual time,
 * elapsed wall time and ETA, throttled by an injected wall clock, on a
 * terminal (one line rewritten in place) or in a log (plain lines).
 */
import assert from "node:assert/strict";
import {
  estimateRemainingMs,
  formatProgressLine,
  phaseFraction,
  ProgressReporter,
  type ProgressUpdate,
} from "../sim/progress.ts";

const running = (virtualMs: number): ProgressUpdate => ({
  phase: "running",
  phaseIndex: 5,
  phaseCount: 5,
  virtualMs,
  virtualTotalMs: 600_000,
  counts: [
    { label: "devices online", value: 71, total: 100 },
    { label: "detections: online", value: 74 },
    { label: "crash", value: 425 },
  ],
});

function reporter(terminal: boolean, columns?: number) {
  const clock = { ms: 1_000_000 };
  const written: string[] = [];
  const progress = new ProgressReporter({
    label: "presence/ours",
    terminal,
    columns,
    now: () => clock.ms,
    write: (text) => written.push(text),
  });
  return { clock, written, progress };
}

Deno.test("progress: the phase's share comes from virtual time, else from the first count with a total", () => {
  assert.equal(phaseFraction(running(150_000)), 0.25);
  assert.equal(
    phaseFraction({
      phase: "adding contacts",
      phaseIndex: 3,
      phaseCount: 5,
      counts: [{ label: "seen", value: 9 }, {
        label: "contacts",
        value: 30,
        total: 120,
      }],
    }),
    0.25,
  );
  assert.equal(
    phaseFraction({ phase: "x", phaseIndex: 1, phaseCount: 1 }),
    undefined,
  );
  // Never above 1, and an empty phase is done.
  assert.equal(phaseFraction({ ...running(0), virtualMs: 700_000 }), 1);
  assert.equal(phaseFraction({ ...running(0), virtualTotalMs: 0 }), 1);
});

Deno.test("progress: the ETA is the phase's pace so far applied to what is left", () => {
  assert.equal(estimateRemainingMs(0.25, 10_000), 30_000);
  assert.equal(estimateRemainingMs(0.5, 42_000), 42_000);
  assert.equal(estimateRemainingMs(1, 42_000), 0);
  assert.equal(estimateRemainingMs(0, 10_000), undefined);
  assert.equal(estimateRemainingMs(0.5, 0), undefined);
});

Deno.test("progress: a line names the phase, labels every count and gives virtual time, elapsed and ETA", () => {
  const line = formatProgressLine("presence/ours", running(150_000), {
    elapsedMs: 200_000,
    phaseElapsedMs: 60_000,
  });
  assert.equal(
    line,
    "[presence/ours] 5/5 running: virtual 2.5 min of 10 min (25 %), " +
      "devices online 71 of 100, detections: online 74, crash 425 | " +
      "elapsed 3.33 min, ETA 3 min",
  );
  const done = formatProgressLine("presence/ours", running(600_000), {
    elapsedMs: 400_000,
    phaseElapsedMs: 240_000,
  }, true);
  assert.equal(
    done,
    "[presence/ours] 5/5 running done: virtual 10 min of 10 min, " +
      "devices online 71 of 100, detections: online 74, crash 425 | in 4 min",
  );
  // Nothing done yet: no ETA to give.
  assert.match(
    formatProgressLine("x", running(0), { elapsedMs: 5, phaseElapsedMs: 5 }),
    /ETA \?$/,
  );
});

Deno.test("progress: not on a terminal, plain lines, at most one per 10 s, and every phase change at once", () => {
  const { clock, written, progress } = reporter(false);
  progress.update(running(0));
  clock.ms += 5_000;
  progress.update(running(60_000)); // too soon: not shown
  clock.ms += 5_000;
  progress.update(running(120_000));
  assert.equal(written.length, 2);
  assert.match(written[1], /virtual 2 min of 10 min \(20 %\).*ETA 40 s\n$/);
  clock.ms += 1_000;
  progress.update({
    phase: "writing",
    phaseIndex: 6,
    phaseCount: 6,
    counts: [{ label: "files", value: 0, total: 2 }],
  });
  assert.equal(written.length, 4);
  assert.match(
    written[2],
    /^\[presence\/ours\] 5\/5 running done: .* in 11 s\n$/,
  );
  assert.match(written[3], /^\[presence\/ours\] 6\/6 writing: files 0 of 2/);
  progress.finish();
  assert.match(written[4], /6\/6 writing done: files 0 of 2 \| in 0 ms\n$/);
  for (const text of written) {
    assert.ok(!text.includes("\r"), JSON.stringify(text));
    assert.ok(text.endsWith("\n"));
    assert.equal(text.indexOf("\n"), text.length - 1);
  }
});

Deno.test("progress: on a terminal, one line rewritten at most once a second, cut to the width", () => {
  const { clock, written, progress } = reporter(true, 60);
  progress.update(running(0));
  clock.ms += 400;
  progress.update(running(1_000)); // too soon
  clock.ms += 600;
  progress.update(running(2_000));
  assert.equal(written.length, 2);
  for (const text of written) {
    assert.ok(text.startsWith("\r"));
    assert.ok(text.endsWith("\x1b[K"), JSON.stringify(text));
    assert.ok(text.length - "\r\x1b[K".length < 60);
    // The counts are cut, the wall time kept.
    assert.match(
      text,
      /^\r\[presence\/ours\] 5\/5 running: .*… \| elapsed .*, ETA /,
    );
  }
  // A message goes below the line; the phase's end stays on screen.
  progress.message("report written");
  assert.deepEqual(written.slice(2), ["\n", "report written\n"]);
  progress.finish();
  assert.ok(written[4].startsWith("\r"));
  assert.ok(written[4].endsWith("\x1b[K\n"));
  assert.ok(written[4].includes("done"));
});
