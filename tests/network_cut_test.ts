/**
 * A device loses its network for 10 minutes while its daemon runs (the
 * network-cut scenario, on virtual time): its user must be told that its
 * own connectivity went and came back, must never be told that a contact
 * who stayed up went offline, and must learn what really changed meanwhile
 * (a crash, a clean leave, an arrival) soon after the return, once each.
 */
import assert from "node:assert/strict";
import { runNetworkCutScenario } from "../sim/scenarios/network_cut.ts";

const MINUTE = 60_000;
/** Crash detection's usual bound (record lifetime plus a check): 30 s p99. */
const USUAL_BOUND_MS = 30_000;

Deno.test("network cut of 10 minutes: connectivity events, no false offline, real changes told after the return", async () => {
  const report = await runNetworkCutScenario({ seed: 1, cutMs: 10 * MINUTE });
  const text = JSON.stringify(report);
  assert.equal(report.false_offline_events, 0, text);
  // Only the link drops of the first seconds (2 → 1, before the silence is
  // long enough to call ourselves offline) may be told during the cut.
  const duringCut = report.log.filter((entry) => {
    const at = Number(entry.split("@")[1]);
    return at < report.cut_ms;
  });
  assert.ok(duringCut.every((entry) => /:1@/.test(entry)), text);
  assert.equal(report.connectivity.length, 2, text);
  assert.match(report.connectivity[0], /^offline@/, text);
  assert.match(report.connectivity[1], /^online@/, text);
  assert.ok(report.offline_detect_ms! <= MINUTE, text);
  assert.ok(report.online_detect_ms! <= USUAL_BOUND_MS, text);
  assert.ok(report.crashed_reported_ms! <= USUAL_BOUND_MS, text);
  assert.ok(report.left_reported_ms! <= USUAL_BOUND_MS, text);
  assert.ok(report.came_online_reported_ms! <= USUAL_BOUND_MS, text);
  // No storm: the four real changes (B relinked, C crashed, D came, E left).
  assert.equal(report.notifications_after_return, 4, text);
});

Deno.test("network cut of 2 minutes, another seed: the same guarantees", async () => {
  const report = await runNetworkCutScenario({ seed: 4, cutMs: 2 * MINUTE });
  const text = JSON.stringify(report);
  assert.equal(report.false_offline_events, 0, text);
  assert.deepEqual(
    report.connectivity.map((entry) => entry.split("@")[0]),
    ["offline", "online"],
    text,
  );
  assert.ok(report.crashed_reported_ms! <= USUAL_BOUND_MS, text);
  assert.ok(report.came_online_reported_ms! <= USUAL_BOUND_MS, text);
  assert.ok(report.notifications_after_return <= 4, text);
});

Deno.test("network cut on stock storing nodes (silence rule on): no false offline, real changes told after the return", async () => {
  const report = await runNetworkCutScenario({
    seed: 2,
    cutMs: 2 * MINUTE,
    stockShare: 1,
  });
  const text = JSON.stringify(report);
  assert.equal(report.false_offline_events, 0, text);
  assert.deepEqual(
    report.connectivity.map((entry) => entry.split("@")[0]),
    ["offline", "online"],
    text,
  );
  // C's record outlives the cut on stock nodes: its silence, counted from
  // the return, tells its crash (the silence rule's 30 s plus a beat).
  assert.ok(report.crashed_reported_ms! <= 2 * USUAL_BOUND_MS, text);
  assert.ok(report.left_reported_ms! <= USUAL_BOUND_MS, text);
  assert.ok(report.came_online_reported_ms! <= USUAL_BOUND_MS, text);
  // Only real changes after the return: B back to 2, C and E to 0, D to 1
  // and then 2 (its link may come up after its DHT record is seen).
  const after = report.log.filter((entry) =>
    Number(entry.split("@")[1]) >= report.cut_ms
  ).map((entry) => entry.split("@")[0]);
  const real = new Set(["B:2", "C:0", "E:0", "D:1", "D:2"]);
  assert.ok(after.every((change) => real.has(change)), text);
  assert.equal(new Set(after).size, after.length, text);
  assert.ok(report.notifications_after_return <= 5, text);
});
