/**
 * A small seeded run of both fuzzers (`deno task fuzz` runs longer ones):
 * hostile datagrams at a real DHT node and hostile streams at a real link
 * port, with valid pings interleaved. No error may escape either target,
 * and every valid ping must still be answered.
 */
import assert from "node:assert/strict";
import { fuzzDhtNode, loadDhtCorpus } from "./fuzz/dht_fuzzer.ts";
import { fuzzLinkPort } from "./fuzz/link_fuzzer.ts";
import { Mutator } from "./fuzz/_mutator.ts";
import { seededRng } from "../lib/rng.ts";

Deno.test("fuzz: the DHT node survives 3,000 hostile datagrams and still answers pings", async () => {
  const corpus = await loadDhtCorpus(
    new URL("./vectors/opendht/", import.meta.url),
  );
  assert.ok(corpus.requests.length > 0 && corpus.answers.length > 0);
  const report = fuzzDhtNode(corpus, {
    seed: "ci",
    packets: 3_000,
    pingEvery: 25,
  });
  assert.equal(report.packetsSent, 3_000);
  assert.deepEqual(report.crashes, []);
  assert.equal(report.crashCount, 0);
  assert.equal(report.notes.handlerErrors, 0);
  assert.equal(report.pingsSent, 120);
  assert.equal(report.pingsAnswered, report.pingsSent);
});

Deno.test("fuzz: the link port survives 150 hostile streams and still links a contact", async () => {
  const report = await fuzzLinkPort({
    seed: "ci",
    packets: 150,
    pingEvery: 15,
  });
  assert.equal(report.packetsSent, 150);
  assert.deepEqual(report.crashes, []);
  assert.equal(report.pingsSent, 10);
  assert.equal(report.pingsAnswered, report.pingsSent);
});

Deno.test("fuzz: the mutator replays from its seed and keeps packets bounded", () => {
  const seed = new TextEncoder().encode("a seed packet of some length");
  const run = (label: string) => {
    const mutator = new Mutator(seededRng(label));
    return Array.from({ length: 200 }, () => mutator.mutate(seed, [seed]));
  };
  const first = run("m");
  assert.deepEqual(run("m"), first);
  assert.notDeepEqual(run("n"), first);
  assert.ok(first.some((bytes) => bytes.length !== seed.length));
  assert.ok(first.every((bytes) => bytes.length <= 65_507));
});
