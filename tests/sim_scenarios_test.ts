/**
 * The simulation scenarios at a few hundred nodes: protocol properties on
 * virtual time, exact replay for a seed, and the runner's command line.
 */
import assert from "node:assert/strict";
import { runLookupScenario } from "../sim/scenarios/lookup.ts";
import { runStorageScenario } from "../sim/scenarios/storage.ts";
import { parseChurnSpec } from "../sim/churn/spec.ts";

const CHURN = parseChurnSpec(
  "weibull:shape=0.5,scale=10m/pareto:alpha=1.5,min=2m",
);

Deno.test("lookup scenario: 300 nodes without churn find the true closest node", () => {
  const report = runLookupScenario({
    nodes: 300,
    seed: 1,
    durationMs: 60_000,
    lookups: 100,
  });
  assert.equal(report.lookups, 100);
  assert.ok(report.lookup_success_ratio >= 0.98, JSON.stringify(report));
  assert.ok(report.lookup_hops.p50 <= 4);
  assert.ok(report.lookup_ms.p50 > 0);
});

Deno.test("lookup scenario: lookups still succeed under churn", () => {
  const report = runLookupScenario({
    nodes: 300,
    seed: 2,
    durationMs: 20 * 60_000,
    lookups: 200,
    churn: CHURN,
  });
  assert.ok(report.churn_leaves > 20, `only ${report.churn_leaves} leaves`);
  assert.ok(report.online_ratio < 1);
  assert.ok(report.lookup_success_ratio >= 0.95, JSON.stringify(report));
});

Deno.test("lookup scenario: same seed, same report; another seed, another report", () => {
  const options = {
    nodes: 120,
    seed: 7,
    durationMs: 5 * 60_000,
    lookups: 50,
    churn: CHURN,
    lossProbability: 0.01,
  };
  const first = runLookupScenario(options);
  assert.deepEqual(runLookupScenario(options), first);
  assert.notDeepEqual(runLookupScenario({ ...options, seed: 8 }), first);
});

Deno.test("lookup scenario: a settle period runs after the build, before the measured part", () => {
  const options = { nodes: 60, seed: 3, durationMs: 60_000, lookups: 10 };
  const plain = runLookupScenario(options);
  assert.equal(plain.settle_seconds, undefined);
  const settling: number[] = [];
  const phases: string[] = [];
  const settled = runLookupScenario({
    ...options,
    settleMs: 5 * 60_000,
    onProgress: (update) => {
      if (phases.at(-1) !== update.phase) phases.push(update.phase);
      if (update.phase !== "settling") return;
      assert.equal(update.virtualTotalMs, 60_000 + 5 * 60_000);
      settling.push(update.virtualMs!);
    },
  });
  assert.equal(settled.settle_seconds, 300);
  assert.equal(settled.sim_seconds, plain.sim_seconds + 300);
  // The 60 s after the build, then the settle period, in progress order.
  assert.deepEqual(phases, ["building network", "settling", "running"]);
  assert.equal(settling.at(-1), 360_000);
  assert.ok(settling.every((ms, i) => i === 0 || ms >= settling[i - 1]));
});

Deno.test("lookup scenario: progress does not change the report", () => {
  const options = { nodes: 60, seed: 3, durationMs: 60_000, lookups: 10 };
  let updates = 0;
  const watched = runLookupScenario({
    ...options,
    onProgress: () => updates += 1,
  });
  assert.ok(updates > 0);
  assert.deepEqual(watched, runLookupScenario(options));
});

Deno.test("lookup scenario: the kademlia-dht baseline runs on the same network", () => {
  const report = runLookupScenario({
    nodes: 150,
    seed: 3,
    durationMs: 60_000,
    lookups: 50,
    implementation: "kademlia-dht",
  });
  assert.equal(report.impl, "kademlia-dht");
  assert.ok(report.lookup_success_ratio > 0.8, JSON.stringify(report));
});

Deno.test("storage scenario: values stay retrievable under churn and listeners hear puts", () => {
  const report = runStorageScenario({
    nodes: 200,
    seed: 4,
    durationMs: 20 * 60_000,
    values: 20,
    churn: CHURN,
  });
  assert.equal(report.retrievable_over_time.length, 10);
  assert.equal(report.retrievable_plain_ratio, 1, JSON.stringify(report));
  assert.ok(report.listen_delivered_ratio >= 0.9, JSON.stringify(report));
  assert.ok(report.listen_ms.p50 > 0 && report.listen_ms.p99 < 5_000);
});

async function runCli(args: string[]) {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "sim/main.ts", ...args],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  });
  const output = await command.output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("deno task sim: --help exits 0, bad flags and scenarios exit 2", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: deno task sim/);
  assert.equal((await runCli(["lookup", "--bogus"])).code, 2);
  assert.equal((await runCli(["nonsense"])).code, 2);
  const badNumber = await runCli(["lookup", "--nodes", "many"]);
  assert.equal(badNumber.code, 2);
  assert.match(badNumber.stderr, /--nodes/);
  assert.equal((await runCli(["lookup", "--churn", "weibull:oops"])).code, 2);
});

Deno.test("deno task sim --json: one JSON object, identical across runs but for host measurements", async () => {
  const args = [
    "lookup",
    "--nodes",
    "60",
    "--lookups",
    "20",
    "--duration",
    "1m",
    "--json",
  ];
  const first = await runCli(args);
  const second = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  const strip = (text: string) => {
    const {
      wall_seconds,
      speedup,
      rss_mb,
      build_wall_seconds,
      measured_speedup,
      ...rest
    } = JSON.parse(text);
    for (
      const measured of [
        wall_seconds,
        speedup,
        rss_mb,
        build_wall_seconds,
        measured_speedup,
      ]
    ) assert.equal(typeof measured, "number");
    return rest;
  };
  const report = strip(first.stdout);
  assert.deepEqual(strip(second.stdout), report);
  for (
    const field of [
      "scenario",
      "nodes",
      "seed",
      "lookups",
      "lookup_success_ratio",
      "lookup_hops",
      "lookup_ms",
      "sim_seconds",
    ]
  ) {
    assert.ok(field in report, `missing ${field}`);
  }
  // Progress on stderr, labelled, one plain line each (not a terminal).
  assert.match(
    first.stderr,
    /^\[lookup\/ours\] 3\/3 running done: .*lookups 20 of 20.* \| in /m,
  );
  assert.ok(!first.stderr.includes("\r"));
  // --quiet: no progress; without --json: a table in human units.
  const table = await runCli(
    args.filter((arg) => arg !== "--json").concat("--quiet"),
  );
  assert.equal(table.code, 0, table.stderr);
  assert.equal(table.stderr, "");
  assert.match(table.stdout, /^metric +ours$/m);
  assert.match(table.stdout, /^lookup_ms +p50 [\d.]+ m?s, p90 /m);
  assert.match(table.stdout, /^sim_seconds +[\d.]+ min$/m);
});

Deno.test("deno task sim presence --json: identical across runs with the native curves, links and SIP included", async () => {
  // sim/main.ts installs node:crypto's Ed25519 and X25519; every handshake,
  // SIP message and announcement must still replay byte for byte.
  const args = [
    "presence",
    "--accounts",
    "8",
    "--contacts",
    "3-5",
    "--duration",
    "1m",
    "--seed",
    "3",
    "--json",
    "--quiet",
  ];
  const first = await runCli(args);
  const second = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(second.code, 0, second.stderr);
  const strip = (text: string) => {
    const { wall_seconds, speedup, rss_mb, ...rest } = JSON.parse(text);
    for (const measured of [wall_seconds, speedup, rss_mb]) {
      assert.equal(typeof measured, "number");
    }
    return rest;
  };
  const report = strip(first.stdout);
  assert.deepEqual(strip(second.stdout), report);
  // Links came up, so handshakes and SIP ran.
  assert.ok(report.links_opened.tcp > 0, JSON.stringify(report));
  assert.ok(report.link_bytes_per_device_hour > 0, JSON.stringify(report));
});
