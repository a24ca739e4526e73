/**
 * Presence with every device behind a NAT (simulator, virtual time): status 1
 * works through endpoint-independent NATs, clean offlines are all seen (the
 * NAT-period listen renewal keeps storing nodes' pushes passing), links
 * form over punched UDP only, status 2 comes within 2 s p99 of both sides
 * having seen each other online, and the NAT-spec grammar.
 */
import assert from "node:assert/strict";
import { runPresenceScenario } from "../sim/scenarios/presence.ts";
import { parseChurnSpec } from "../sim/churn/spec.ts";
import {
  formatNatSpec,
  NatSpecError,
  parseNatSpec,
  pickNatKind,
} from "../sim/nat_spec.ts";

const CHURN = parseChurnSpec(
  "weibull:shape=0.5,scale=3m/pareto:alpha=1.5,min=1m",
);

Deno.test("--nat grammar: shares, timeout, errors", () => {
  const spec = parseNatSpec("eim-prf:0.8,symmetric:0.1,timeout:2m");
  assert.deepEqual(spec, {
    shares: [{ kind: "eim-prf", share: 0.8 }, {
      kind: "symmetric",
      share: 0.1,
    }],
    timeoutMs: 120_000,
  });
  assert.equal(formatNatSpec(spec), "eim-prf:0.8,symmetric:0.1,timeout:120s");
  assert.equal(pickNatKind(spec, 0.79), "eim-prf");
  assert.equal(pickNatKind(spec, 0.95), undefined);
  assert.deepEqual(parseNatSpec("none").shares, []);
  for (
    const bad of [
      "eim-prf",
      "cone:0.5",
      "eim-prf:0.7,full-cone:0.7",
      "eim-prf:-1",
      "eim-prf:0.5,eim-prf:0.1",
      "timeout:soon",
      "eim-prf:",
    ]
  ) {
    assert.throws(() => parseNatSpec(bad), NatSpecError, bad);
  }
});

Deno.test("presence behind eim-prf NATs: status 1 and clean offlines as without NAT, links over punched UDP only", async () => {
  const report = await runPresenceScenario({
    accounts: 16,
    infraNodes: 16,
    seed: 2,
    durationMs: 5 * 60_000,
    churn: CHURN,
    minContacts: 8,
    maxContacts: 12,
    nat: parseNatSpec("eim-prf:1"),
  });
  const text = JSON.stringify({ ...report, cdf: undefined });
  assert.equal(report.nat?.behind, 16, text);
  assert.ok(report.nat!.filtered > 0, text);
  assert.ok(report.online_detect_ms.count > 0, text);
  assert.ok(report.offline_graceful_ms.count > 0, text);
  assert.equal(report.missed.offline_graceful, 0, text);
  assert.ok(report.offline_graceful_ms.p99 <= 2_000, text);
  // No TCP link forms between NATed devices; every link is a punched UDP one.
  assert.equal(report.links_opened.tcp, 0, text);
  assert.ok(report.links_opened.punched_udp > 0, text);
  assert.ok(report.connected_detect_ms.count > 0, text);
});

Deno.test("behind eim-prf NATs, status 2 comes within 2 s p99 of both sides having seen each other online", async () => {
  // Goal: issue 17's target for links through endpoint-independent NATs.
  // Method: the presence scenario with every device behind an eim-prf NAT
  // and churn, so devices keep starting while their contacts run; for each
  // (watcher, device that started) pair, from the later of the two sides'
  // first status 1 about the other to the watcher's status 2. Before the
  // faster candidate exchange this seed gave 2.47 s p99 (3.05 s p50 from
  // device start): a starting device dropped most of its contacts' early
  // offers, and every set waited for a whole lookup. With 39 samples the
  // p99 is the slowest pair: on other seeds one slow host (every DHT trip
  // 1.2-1.5 s) can still take it past 2 s (docs/links.md).
  const report = await runPresenceScenario({
    accounts: 16,
    infraNodes: 16,
    seed: "3",
    durationMs: 5 * 60_000,
    churn: CHURN,
    minContacts: 8,
    maxContacts: 12,
    nat: parseNatSpec("eim-prf:1"),
  });
  const text = JSON.stringify({ ...report, cdf: undefined });
  assert.equal(report.links_opened.tcp, 0, text);
  assert.ok(report.connected_after_seen_ms.count >= 30, text);
  assert.ok(report.connected_after_seen_ms.p99 <= 2_000, text);
  // From the device's start (its DHT join and presence included).
  assert.ok(report.connected_detect_ms.p50 <= 2_000, text);
});
