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
