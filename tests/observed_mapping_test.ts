import assert from "node:assert/strict";
import { ObservedMapping } from "../lib/dht/observed_mapping.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { Testnet } from "../lib/testing/testnet.ts";
import type { NatKind } from "../lib/testing/nat_box.ts";
import { forkRng, rngBytes, seededRng } from "../lib/rng.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";

Deno.test("ObservedMapping: one replier, however often it votes, is one vote", () => {
  const mapping = new ObservedMapping();
  for (let k = 0; k < 50; k++) mapping.vote("198.51.100.66", 1_000 + k);
  assert.equal(mapping.mapping, undefined);
});

Deno.test("ObservedMapping: a majority on one port is independent; two liars do not make it dependent", () => {
  const mapping = new ObservedMapping();
  for (const n of [1, 2, 3]) mapping.vote(`198.51.100.${n}`, 4_222);
  assert.equal(mapping.mapping, "independent");
  assert.equal(mapping.port, 4_222);
  mapping.vote("192.0.2.8", 1_111);
  mapping.vote("192.0.2.9", 2_222);
  assert.equal(mapping.mapping, "independent");
  assert.equal(mapping.port, 4_222);
});

Deno.test("ObservedMapping: a moved mapping (old port, new port) is not a symmetric NAT", () => {
  const mapping = new ObservedMapping({ maxVoters: 6 });
  for (const n of [1, 2, 3]) mapping.vote(`198.51.100.${n}`, 4_222);
  for (const n of [4, 5, 6]) mapping.vote(`198.51.100.${n}`, 50_000);
  assert.equal(mapping.mapping, undefined); // 3 against 3
  mapping.vote("198.51.100.7", 50_000); // the oldest voter leaves
  assert.equal(mapping.mapping, "independent");
  assert.equal(mapping.port, 50_000);
});

Deno.test("ObservedMapping.vote() gives what a recount of the kept votes gives, through evictions and changed votes", () => {
  // Method: a reference that keeps each replier's latest port, the
  // maxVoters most recent voters, and recounts them all for every vote;
  // few repliers and few ports, so that both verdicts form and break.
  for (
    const [quorum, maxVoters, portCount] of [[3, 16, 3], [1, 1, 2], [2, 5, 6], [
      3,
      8,
      12,
    ]]
  ) {
    const rng = seededRng(`mapping recount ${quorum}/${maxVoters}`);
    const tracker = new ObservedMapping({ quorum, maxVoters });
    const votes = new Map<string, number>();
    const verdicts = new Set<string>();
    for (let round = 0; round < 3_000; round++) {
      // IPv4 repliers (kept as numbers) and IPv6 ones (kept as text).
      const n = Math.floor(rng() * (maxVoters + 4));
      const replier = n % 3 === 0 ? `2001:db8::${n}` : `10.0.0.${n}`;
      // Phases of mostly one port and phases of many, so that both
      // verdicts form and break.
      const phaseOfOnePort = Math.floor(round / 300) % 2 === 0;
      const port = phaseOfOnePort && rng() < 0.8
        ? 40_000
        : 40_001 + Math.floor(rng() * portCount);
      votes.delete(replier);
      votes.set(replier, port);
      if (votes.size > maxVoters) votes.delete(votes.keys().next().value!);
      const counts = new Map<number, number>();
      for (const seen of votes.values()) {
        counts.set(seen, (counts.get(seen) ?? 0) + 1);
      }
      const winner = [...counts].find(([, count]) =>
        count >= quorum && count * 2 > votes.size
      )?.[0];
      const alone = [...counts.values()].filter((count) => count === 1).length;
      const expected = winner !== undefined
        ? "independent"
        : counts.size >= quorum && alone * 2 > votes.size
        ? "dependent"
        : undefined;
      const before = [tracker.mapping, tracker.port];
      const changed = tracker.vote(replier, port);
      assert.equal(tracker.mapping, expected, `round ${round}`);
      assert.equal(tracker.port, winner, `round ${round}`);
      assert.equal(
        changed,
        before[0] !== expected || before[1] !== winner,
        `round ${round}`,
      );
      verdicts.add(String(expected));
    }
    // The votes went through every verdict, so each branch was compared.
    if (maxVoters > 1) {
      assert.equal(
        verdicts.size,
        3,
        `${quorum}/${maxVoters}: ${[...verdicts]}`,
      );
    }
  }
});

Deno.test("ObservedMapping: rejects a quorum above the bound", () => {
  assert.throws(
    () => new ObservedMapping({ quorum: 5, maxVoters: 4 }),
    RangeError,
  );
});

Deno.test("a reply's sp survives the wire; another type or 0 is ignored", () => {
  const reply = {
    kind: "reply" as const,
    tid: 7,
    network: 0,
    senderId: InfoHash.get("replier"),
    seenAddress: Uint8Array.from([203, 0, 113, 7]),
    seenPort: 40_000,
  };
  const decoded = decodeMessage(encodeMessage(reply).slice());
  assert.ok(decoded.kind === "reply");
  assert.equal(decoded.seenPort, 40_000);
  // `sp: 0` and `sp: "x"`, hand-built (a hostile replier).
  for (const bad of [0xa1, 0x00]) {
    const bytes = encodeMessage({ ...reply, seenPort: 1 }).slice();
    const at = findSp(bytes);
    const patched = bad === 0x00
      ? [...bytes.slice(0, at + 3), 0x00, ...bytes.slice(at + 4)]
      : [...bytes.slice(0, at + 3), 0xa1, 0x78, ...bytes.slice(at + 4)];
    const hostile = decodeMessage(Uint8Array.from(patched));
    assert.ok(hostile.kind === "reply");
    assert.equal(hostile.seenPort, undefined);
  }
});

/** Index of the fixstr "sp" key. */
function findSp(bytes: Uint8Array): number {
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xa2 && bytes[i + 1] === 0x73 && bytes[i + 2] === 0x70) {
      return i;
    }
  }
  throw new Error("no sp");
}

/** A DHT node behind `kind`, 30 s after start, among `stockShare` stock nodes. */
function learnedBehind(kind: NatKind, stockShare = 0) {
  const net = Testnet.create({ nodes: 20, seed: 3, stockShare });
  const transport = net.network.attach();
  const box = net.network.putBehindNat(transport.hostIndex, {
    kind,
    rng: seededRng("nat"),
  });
  const rng = seededRng("device");
  const node = new DhtNode(
    {
      transport,
      clock: net.clock,
      rng,
      randomBytes: rngBytes(forkRng(rng, "bytes")),
    },
    { bootstrap: net.transports.slice(0, 3).map((t) => t.localAddress) },
  );
  node.start();
  net.clock.advance(30_000);
  const learned = {
    mapping: node.observedMapping,
    port: node.observedPort,
    publicPort: box.outbound(net.clock.now(), "198.51.100.99:1"),
  };
  node.stop();
  net.stop();
  return learned;
}

Deno.test("a DHT node learns its NAT's mapping from our nodes' sp: symmetric is dependent, eim-prf independent at its public port", () => {
  assert.deepEqual(learnedBehind("symmetric").mapping, "dependent");
  const home = learnedBehind("eim-prf");
  assert.equal(home.mapping, "independent");
  assert.equal(home.port, home.publicPort);
  const cone = learnedBehind("full-cone");
  assert.equal(cone.mapping, "independent");
});

Deno.test("among stock OpenDHT nodes only (no sp), the mapping stays unknown", () => {
  assert.equal(learnedBehind("symmetric", 1).mapping, undefined);
});
