/**
 * ConnectivityMonitor alone, on a manual clock: when silence means offline,
 * and what ends it.
 */
import assert from "node:assert/strict";
import {
  ConnectivityMonitor,
  connectivitySilenceMs,
} from "../lib/dht/connectivity_monitor.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";

const A = { host: "192.0.2.1", port: 4222 };
const B = { host: "192.0.2.2", port: 4222 };

function monitor(clock: ManualClock, seen: string[]) {
  return new ConnectivityMonitor({
    clock,
    silenceMs: 10_000,
    onChange: (state, atMs) => seen.push(`${state}@${atMs}`),
  });
}

Deno.test("connectivitySilenceMs() is twice a request's whole life", () => {
  assert.equal(connectivitySilenceMs(), 11_500);
  assert.equal(
    connectivitySilenceMs({
      attempts: 2,
      firstRetryMs: 500,
      retryJitterMs: 0,
      expireAfterLastMs: 1_000,
    }),
    3_000,
  );
});

Deno.test("ConnectivityMonitor goes offline after silence following requests to two nodes", () => {
  const clock = new ManualClock(0);
  const seen: string[] = [];
  const m = monitor(clock, seen);
  m.sent(A);
  clock.advance(5_000);
  m.sent(B);
  clock.advance(9_999);
  assert.equal(m.state, "online");
  clock.advance(1);
  assert.equal(m.state, "offline");
  assert.deepEqual(seen, ["offline@15000"]);
  clock.advance(60_000);
  m.heard();
  assert.deepEqual(seen, ["offline@15000", "online@75000"]);
});

Deno.test("ConnectivityMonitor: one silent node, or requests to one address, are not enough", () => {
  const clock = new ManualClock(0);
  const seen: string[] = [];
  const m = monitor(clock, seen);
  for (let i = 0; i < 5; i++) {
    m.sent(A);
    clock.advance(20_000);
  }
  assert.equal(m.state, "online");
  assert.deepEqual(seen, []);
});

Deno.test("ConnectivityMonitor: any datagram heard restarts the count", () => {
  const clock = new ManualClock(0);
  const seen: string[] = [];
  const m = monitor(clock, seen);
  m.sent(A);
  m.sent(B);
  clock.advance(9_000);
  m.heard();
  clock.advance(9_000);
  m.sent(A);
  clock.advance(9_000);
  assert.equal(m.state, "online");
  m.sent(B);
  clock.advance(10_000);
  assert.equal(m.state, "offline");
  assert.deepEqual(seen, ["offline@37000"]);
  m.stop();
});

Deno.test("ConnectivityMonitor rejects a silence that is not positive", () => {
  assert.throws(
    () => new ConnectivityMonitor({ clock: new ManualClock(0), silenceMs: 0 }),
    RangeError,
  );
});

Deno.test("ConnectivityMonitor.silent: from the second unanswered destination until a datagram is heard", () => {
  const clock = new ManualClock(0);
  const m = monitor(clock, []);
  m.sent(A);
  assert.equal(m.silent, false);
  m.sent(B);
  assert.equal(m.silent, true);
  clock.advance(10_000);
  assert.equal(m.state, "offline");
  assert.equal(m.silent, true);
  m.heard();
  assert.equal(m.silent, false);
});
