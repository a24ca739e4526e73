/**
 * Small presence and inbox simulations: protocol properties on virtual time,
 * ours against the Jami profile on the same seed, and exact replay.
 */
import assert from "node:assert/strict";
import { runPresenceScenario } from "../sim/scenarios/presence.ts";
import { runInboxScenario } from "../sim/scenarios/inbox.ts";
import { parseChurnSpec } from "../sim/churn/spec.ts";
import { renderReport } from "../sim/report.ts";
import { JAMI_PROFILE, OUR_PROFILE } from "../lib/presence/presence_profile.ts";

const CHURN = parseChurnSpec(
  "weibull:shape=0.5,scale=8m/pareto:alpha=1.5,min=3m",
);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const presence = (profile = OUR_PROFILE, seed = 3) =>
  runPresenceScenario({
    accounts: 24,
    infraNodes: 24,
    seed,
    durationMs: 15 * MINUTE,
    churn: CHURN,
    minContacts: 15,
    maxContacts: 23,
    profile,
  });

Deno.test("presence scenario: fast online, clean and crash detection, no false offline", async () => {
  const report = await presence();
  const text = JSON.stringify(report);
  assert.ok(report.online_detect_ms.count > 0, text);
  assert.ok(report.offline_graceful_ms.count > 0, text);
  assert.ok(report.offline_crash_ms.count > 0, text);
  assert.ok(report.online_detect_ms.p99 <= 1_500, text);
  assert.ok(report.offline_graceful_ms.p99 <= 2_000, text);
  // A crash is only noticed when the 24 s record lapses (plus a check).
  assert.ok(report.offline_crash_ms.p50 >= 5_000, text);
  assert.ok(report.offline_crash_ms.p99 <= 30_000, text);
  assert.equal(report.false_offline_events, 0, text);
  assert.deepEqual(report.missed, {
    online: 0,
    offline_graceful: 0,
    offline_crash: 0,
  }, text);
});

Deno.test("presence scenario with direct links, 250 nodes, LAN-like latency: status 2 and notes within 1 s, link loss within 10 s", async () => {
  const report = await runPresenceScenario({
    accounts: 30,
    infraNodes: 220,
    seed: 4,
    durationMs: 10 * MINUTE,
    churn: CHURN,
    minContacts: 10,
    maxContacts: 20,
    medianOneWayMs: 6,
    noteEveryMs: 10_000,
  });
  const text = JSON.stringify({ ...report, cdf: undefined });
  assert.ok(report.connected_detect_ms.count > 0, text);
  assert.ok(report.connected_detect_ms.p99 <= 1_000, text);
  // Each sample has its network floor (five one-way latencies); no link
  // comes up sooner, and on a LAN the floor is a small part of the delay.
  assert.equal(
    report.connected_floor_ms.count,
    report.connected_detect_ms.count,
  );
  assert.equal(
    report.connected_over_floor_ms.count,
    report.connected_detect_ms.count,
  );
  // Five one-way latencies at a 6 ms median: about 30 ms for most pairs.
  assert.ok(report.connected_floor_ms.p50 >= 10, text);
  assert.ok(report.connected_floor_ms.p50 <= 100, text);
  assert.ok(
    report.connected_floor_ms.p99 <= report.connected_detect_ms.p99,
    text,
  );
  assert.ok(report.connected_over_floor_ms.p50 >= 0, text);
  assert.ok(report.link_loss_detect_ms.count > 0, text);
  // Crashed hosts go silent: only the keepalive can tell (9.5 s).
  assert.ok(report.link_loss_detect_ms.p50 >= 4_000, text);
  assert.ok(report.link_loss_detect_ms.p99 <= 10_000, text);
  assert.ok(report.link_bytes_per_device_hour > 0, text);
  // Every few seconds a device publishes a new note; linked watchers get it.
  assert.ok(report.note_delivery_ms.count > 0, text);
  assert.ok(report.note_delivery_ms.p99 <= 1_000, text);
  assert.equal(report.false_offline_events, 0, text);
  assert.deepEqual(report.missed, {
    online: 0,
    offline_graceful: 0,
    offline_crash: 0,
  }, text);
});

Deno.test("presence scenario: the Jami profile sees leaves much later, for more bytes", async () => {
  const ours = await presence(OUR_PROFILE);
  const jami = await presence(JAMI_PROFILE);
  const text = JSON.stringify({ ours, jami });
  // Jami has no goodbye: a clean shutdown looks like a crash (10-minute TTL).
  const jamiSlowest = Math.max(
    jami.offline_graceful_ms.count > 0 ? jami.offline_graceful_ms.p50 : 0,
    jami.unseen_at_end.offline_graceful > 0 ? 10 * MINUTE : 0,
  );
  assert.ok(jamiSlowest > 30_000, text);
  assert.ok(
    ours.presence_bytes_per_device_hour < jami.presence_bytes_per_device_hour,
    text,
  );
  // No direct links in the Jami profile: its report says so instead of an
  // unexplained missing line.
  assert.equal(jami.connected_detect_ms.count, 0, text);
  assert.match(jami.cdfNotes?.connected_detect_ms ?? "", /no direct links/);
  assert.match(jami.cdfNotes?.note_delivery_ms ?? "", /no notes published/);
  assert.equal(ours.cdfNotes?.connected_detect_ms, undefined, text);
});

Deno.test("presence scenario: same seed, same report", async () => {
  const first = await presence(OUR_PROFILE, 5);
  const second = await presence(OUR_PROFILE, 5);
  assert.deepEqual(first, second);
  const other = await presence(OUR_PROFILE, 6);
  assert.notDeepEqual(first, other);
});

const inbox = (profile = OUR_PROFILE, seed = 2) =>
  runInboxScenario({
    requests: 6,
    infraNodes: 20,
    seed,
    maxOfflineMs: 2 * HOUR,
    spreadMs: 30 * MINUTE,
    tailMs: 5 * HOUR,
    senderAwayMs: [1 * HOUR, 3 * HOUR],
    profile,
  });

Deno.test("inbox scenario: every request reaches its offline target once, confirmations come back", async () => {
  const report = await inbox();
  const text = JSON.stringify(report);
  assert.equal(report.requests, 6);
  assert.equal(report.delivered_ratio, 1, text);
  assert.equal(report.duplicates_shown, 0, text);
  assert.ok(report.delivery_after_online_ms.p99 <= 5_000, text);
  assert.ok(report.confirmations_deliverable > 0, text);
  assert.equal(report.confirmations_delivered_ratio, 1, text);
  const html = renderReport("inbox", [{
    label: "ours",
    report: { ...report },
    cdf: report.cdf ?? {},
  }]);
  assert.match(html, /<svg[^>]*aria-label="CDF of delivery_after_online_ms"/);
});

Deno.test("inbox scenario: the Jami profile loses requests to targets whose record lapsed, and confirmations", async () => {
  // A seed whose draws send some requests after the record lapsed (with six
  // requests, some seeds send all of them within its 10 minutes).
  const jami = await inbox(JAMI_PROFILE, 5);
  const text = JSON.stringify(jami);
  // Requests go out 1 min to 1 h after the target left: once its 10-minute
  // record has lapsed, Jami has no device to send to (gap M3).
  assert.ok(jami.delivered_ratio < 1, text);
  assert.ok(jami.confirmations_deliverable > 0, text);
  assert.ok(jami.confirmations_delivered_ratio < 1, text);
});
