import assert from "node:assert/strict";
import { normalizeDelayMs } from "../lib/clock.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { SystemClock, systemClock } from "../lib/io/system_clock.ts";

Deno.test("ManualClock starts at the given time and defaults to a fixed epoch", () => {
  assert.equal(new ManualClock(0).now(), 0);
  assert.equal(new ManualClock().now(), 1_700_000_000_000);
  assert.throws(() => new ManualClock(NaN), RangeError);
});

Deno.test("ManualClock.advance() fires timers in due order and moves time to the window end", () => {
  const clock = new ManualClock(0);
  const log: Array<[string, number]> = [];
  clock.setTimer(30, () => log.push(["c", clock.now()]));
  clock.setTimer(10, () => log.push(["a", clock.now()]));
  clock.setTimer(20, () => log.push(["b", clock.now()]));
  clock.setTimer(41, () => log.push(["late", clock.now()]));
  assert.equal(clock.advance(40), 3);
  assert.deepEqual(log, [["a", 10], ["b", 20], ["c", 30]]);
  assert.equal(clock.now(), 40);
  assert.equal(clock.pendingCount, 1);
  assert.equal(clock.nextDueMs(), 41);
});

Deno.test("ManualClock.advance() fires equal due times in insertion order", () => {
  const clock = new ManualClock(0);
  const log: number[] = [];
  for (let index = 0; index < 50; index++) {
    clock.setTimer(index % 2 === 0 ? 5 : 7, () => log.push(index));
  }
  clock.advance(10);
  const evens = Array.from({ length: 25 }, (_, index) => index * 2);
  const odds = evens.map((even) => even + 1);
  assert.deepEqual(log, [...evens, ...odds]);
});

Deno.test("ManualClock.advance() fires a timer due exactly at the window end", () => {
  const clock = new ManualClock(100);
  let fired = false;
  clock.setTimer(50, () => fired = true);
  assert.equal(clock.advance(49), 0);
  assert.equal(fired, false);
  assert.equal(clock.advance(1), 1);
  assert.equal(fired, true);
});

Deno.test("ManualClock.advance() fires timers set by callbacks within the window", () => {
  const clock = new ManualClock(0);
  const log: Array<[string, number]> = [];
  clock.setTimer(10, () => {
    log.push(["outer", clock.now()]);
    clock.setTimer(0, () => log.push(["zero", clock.now()]));
    clock.setTimer(5, () => log.push(["inner", clock.now()]));
    clock.setTimer(100, () => log.push(["outside", clock.now()]));
  });
  clock.setTimer(10, () => log.push(["sibling", clock.now()]));
  assert.equal(clock.advance(20), 4);
  // The zero-delay timer was set after "sibling", so it fires after it at the same time.
  assert.deepEqual(log, [
    ["outer", 10],
    ["sibling", 10],
    ["zero", 10],
    ["inner", 15],
  ]);
  assert.equal(clock.pendingCount, 1);
  assert.equal(clock.nextDueMs(), 110);
});

Deno.test("ManualClock.advance() rejects negative and non-finite durations", () => {
  const clock = new ManualClock(0);
  for (const ms of [-1, NaN, Infinity]) {
    assert.throws(() => clock.advance(ms), RangeError, String(ms));
  }
  assert.equal(clock.now(), 0);
});

Deno.test("ManualClock.advance() stops at maxTimers and leaves time at the last fired timer", () => {
  const clock = new ManualClock(0);
  function tick(): void {
    clock.setTimer(0, tick);
  }
  tick();
  assert.throws(() => clock.advance(10, 1_000), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /^Cannot advance clock/);
    return true;
  });
  assert.equal(clock.now(), 0);
  assert.equal(clock.pendingCount, 1);
});

Deno.test("ManualClock.setTimer() clamps negative delays and rejects NaN and Infinity", () => {
  const clock = new ManualClock(1_000);
  assert.equal(clock.setTimer(-50, () => {}).dueMs, 1_000);
  assert.equal(clock.setTimer(0.5, () => {}).dueMs, 1_000.5);
  assert.throws(() => clock.setTimer(NaN, () => {}), RangeError);
  assert.throws(() => clock.setTimer(Infinity, () => {}), RangeError);
  assert.throws(() => clock.setTimer(-Infinity, () => {}), RangeError);
  assert.equal(clock.pendingCount, 2);
});

Deno.test("normalizeDelayMs() names the bad delay in its message", () => {
  assert.throws(() => normalizeDelayMs(NaN), {
    name: "RangeError",
    message: "Cannot set timer: delay NaN ms is not a finite number",
  });
});

Deno.test("Timer.cancel() prevents firing and is idempotent, also after firing", () => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  const cancelled = clock.setTimer(10, () => log.push("cancelled"));
  const kept = clock.setTimer(10, () => log.push("kept"));
  cancelled.cancel();
  cancelled.cancel();
  assert.equal(clock.pendingCount, 1);
  assert.equal(clock.advance(10), 1);
  assert.deepEqual(log, ["kept"]);
  kept.cancel();
  assert.equal(clock.pendingCount, 0);
  assert.equal(clock.runUntilIdle(), 0);
});

Deno.test("Timer.cancel() from a callback stops a timer due at the same time", () => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  clock.setTimer(10, () => {
    log.push("first");
    second.cancel();
  });
  const second = clock.setTimer(10, () => log.push("second"));
  assert.equal(clock.advance(10), 1);
  assert.deepEqual(log, ["first"]);
});

Deno.test("ManualClock.nextDueMs() skips cancelled timers", () => {
  const clock = new ManualClock(0);
  assert.equal(clock.nextDueMs(), undefined);
  const early = clock.setTimer(5, () => {});
  clock.setTimer(9, () => {});
  early.cancel();
  assert.equal(clock.nextDueMs(), 9);
});

Deno.test("ManualClock.runNext() jumps to the earliest timer and fires only it", () => {
  const clock = new ManualClock(0);
  const log: number[] = [];
  clock.setTimer(300, () => log.push(300));
  clock.setTimer(200, () => log.push(200));
  assert.equal(clock.runNext(), true);
  assert.equal(clock.now(), 200);
  assert.deepEqual(log, [200]);
  assert.equal(clock.runNext(), true);
  assert.equal(clock.runNext(), false);
  assert.equal(clock.now(), 300);
});

Deno.test("ManualClock.runNext(untilMs) fires the earliest timer or queued event only if it is due by then", () => {
  const clock = new ManualClock(0);
  const log: string[] = [];
  clock.setTimer(300, () => log.push("timer 300"));
  let queued = true;
  const event = { dueMs: 200, sequence: clock.takeSequence() };
  clock.addEventSource({
    get size() {
      return queued ? 1 : 0;
    },
    headDueMs: event.dueMs,
    headSequence: event.sequence,
    runHead() {
      queued = false;
      log.push("event 200");
    },
  });
  assert.equal(clock.runNext(199), false);
  assert.equal(clock.now(), 0);
  assert.equal(clock.runNext(200), true);
  assert.equal(clock.runNext(299), false);
  assert.equal(clock.now(), 200);
  assert.equal(clock.runNext(300), true);
  assert.equal(clock.runNext(Infinity), false);
  assert.deepEqual(log, ["event 200", "timer 300"]);
  assert.equal(clock.now(), 300);
});

Deno.test("ManualClock.advanceTo() fires due timers and refuses to go backwards", () => {
  const clock = new ManualClock(1_000);
  let fired = 0;
  clock.setTimer(500, () => fired++);
  assert.equal(clock.advanceTo(1_500), 1);
  assert.equal(fired, 1);
  assert.equal(clock.advanceTo(1_500), 0);
  assert.throws(() => clock.advanceTo(1_499), {
    name: "RangeError",
    message: "Cannot advance clock to 1499: time is already 1500",
  });
  assert.throws(() => clock.advanceTo(NaN), RangeError);
  assert.equal(clock.now(), 1_500);
});

Deno.test("ManualClock.runUntilIdle() drains chained timers and counts them", () => {
  const clock = new ManualClock(0);
  let remaining = 5;
  function step(): void {
    if (--remaining > 0) clock.setTimer(100, step);
  }
  clock.setTimer(100, step);
  assert.equal(clock.runUntilIdle(), 5);
  assert.equal(clock.now(), 500);
  assert.equal(clock.pendingCount, 0);
});

Deno.test("ManualClock.runUntilIdle() throws RangeError when the bound is hit", () => {
  const clock = new ManualClock(0);
  function forever(): void {
    clock.setTimer(1, forever);
  }
  forever();
  assert.throws(() => clock.runUntilIdle(10), {
    name: "RangeError",
    message:
      "Cannot run clock until idle: 1 timers still pending after firing 10",
  });
  assert.equal(clock.now(), 10);
  // Exactly maxTimers timers with nothing left is not an error.
  const bounded = new ManualClock(0);
  for (let index = 0; index < 3; index++) bounded.setTimer(index, () => {});
  assert.equal(bounded.runUntilIdle(3), 3);
});

Deno.test("ManualClock leaves time at the failing timer when a callback throws", () => {
  const clock = new ManualClock(0);
  const log: number[] = [];
  clock.setTimer(10, () => {
    throw new Error("boom");
  });
  clock.setTimer(20, () => log.push(clock.now()));
  assert.throws(() => clock.advance(30), { message: "boom" });
  assert.equal(clock.now(), 10);
  assert.equal(clock.pendingCount, 1);
  assert.equal(clock.advance(20), 1);
  assert.deepEqual(log, [20]);
});

Deno.test("ManualClock handles 100k timers in due order, with half cancelled", () => {
  // Goal: the heap orders many timers and compaction keeps order and counts.
  // Method: pseudo-random due times from a fixed LCG, cancel every other timer.
  const clock = new ManualClock(0);
  const count = 100_000;
  const fired: Array<[number, number]> = [];
  const timers = [];
  let state = 12345;
  for (let index = 0; index < count; index++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const delayMs = state % 10_000;
    timers.push(clock.setTimer(delayMs, () => fired.push([delayMs, index])));
  }
  for (let index = 0; index < count; index += 2) timers[index].cancel();
  assert.equal(clock.pendingCount, count / 2);
  assert.equal(clock.advance(10_000), count / 2);
  assert.equal(fired.length, count / 2);
  for (let index = 1; index < fired.length; index++) {
    const [previousDue, previousIndex] = fired[index - 1];
    const [due, order] = fired[index];
    assert.ok(
      previousDue < due || (previousDue === due && previousIndex < order),
      `timer ${order} fired out of order`,
    );
  }
  assert.ok(fired.every(([, index]) => index % 2 === 1));
  assert.equal(clock.pendingCount, 0);
});

Deno.test("ManualClock compacts when most timers are cancelled", () => {
  const clock = new ManualClock(0);
  const timers = Array.from(
    { length: 1_000 },
    (_, index) => clock.setTimer(index, () => {}),
  );
  for (const timer of timers.slice(0, 999)) timer.cancel();
  assert.equal(clock.pendingCount, 1);
  assert.equal(clock.nextDueMs(), 999);
  assert.equal(clock.runUntilIdle(), 1);
});

Deno.test("SystemClock.setTimer() fires after the delay and cancel() stops it", async () => {
  const clock = new SystemClock();
  const cancelled = clock.setTimer(5, () => {
    throw new Error("cancelled timer fired");
  });
  cancelled.cancel();
  cancelled.cancel();
  const started = clock.now();
  const firedAt = await new Promise<number>((resolve) => {
    clock.setTimer(20, () => resolve(clock.now()));
  });
  assert.ok(firedAt - started >= 19, `fired after ${firedAt - started} ms`);
  assert.throws(() => systemClock.setTimer(NaN, () => {}), RangeError);
});

Deno.test("SystemClock.setTimer() accepts delays beyond the setTimeout limit", () => {
  // setTimeout fires at once for delays over 2^31 - 1 ms; the timer must not.
  let fired = false;
  const timer = systemClock.setTimer(40 * 24 * 3600 * 1000, () => fired = true);
  assert.ok(timer.dueMs > systemClock.now() + 39 * 24 * 3600 * 1000);
  timer.cancel();
  assert.equal(fired, false);
});
