/**
 * A requester whose address no storing node has seen yet (unproven: the
 * answers it gets are kept within 8× its request, `docs/security.md`) must
 * still get a large value (a 3.6 kB certificate, type 8) on its first get:
 * the storing nodes flag what they left out and the requester follows up
 * with the token of their answer. Virtual time, seeded.
 */
import assert from "node:assert/strict";
import { Testnet } from "../lib/testing/testnet.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { Attacker } from "./attacks/_attacker.ts";
import {
  ManualClock,
  seededRng,
  SimulatedNetwork,
} from "../lib/testing/mod.ts";

const CERTIFICATE: DhtValue = {
  id: 0x1234_5678_9abc_def0n,
  type: 8,
  data: new Uint8Array(3_600).map((_, i) => (i * 7) % 256),
};

function holdAtClosest(net: Testnet, key: InfoHash, count = 8): void {
  const putter = new Attacker(net, "192.0.2.60", 5_100);
  for (const id of net.closestOnline(key, count).map(String)) {
    const node = net.nodes.find((n) => n.id.toString() === id) as DhtNode;
    putter.askToken(node);
    net.run(1_000);
    putter.send(node, {
      method: "put",
      senderId: InfoHash.get("putter"),
      key,
      values: [CERTIFICATE],
      token: putter.tokenOf(node),
    });
    net.run(1_000);
    assert.equal(node.storedValues(key).length, 1);
  }
}

Deno.test("fresh requesters each get a 3.6 kB value on their first get", () => {
  const net = Testnet.create({ nodes: 16, seed: "unproven large get" });
  const key = InfoHash.get("device certificate");
  // One holder only: its answer must not be lost.
  holdAtClosest(net, key, 1);
  // Each answer comes in a header and 3 value parts, which the network's
  // jitter (0-2 ms) may reorder: a part ahead of its header must not be lost.
  for (let i = 0; i < 12; i++) {
    const fresh = net.nodes[net.addNode()];
    net.run(5_000);
    let found: readonly DhtValue[] | undefined;
    fresh.get(key, { onDone: (values) => found = values });
    net.run(20_000);
    assert.equal(found?.length, 1, `requester ${i}`);
    assert.deepEqual(found?.[0].data, CERTIFICATE.data);
  }
  net.stop();
});

Deno.test("a fresh requester gets a 3.6 kB value with a type where-filter", () => {
  const net = Testnet.create({ nodes: 16, seed: "unproven large get where" });
  const key = InfoHash.get("device certificate");
  holdAtClosest(net, key);
  const fresh = net.nodes[net.addNode()];
  net.run(5_000);
  let found: readonly DhtValue[] | undefined;
  fresh.get(key, { onDone: (values) => found = values }, {
    query: { select: [], where: [{ field: 2, value: 8 }] },
  });
  net.run(20_000);
  assert.equal(found?.length, 1);
  net.stop();
});

Deno.test("a value held by one node survives its parts overtaking their header (jitter)", () => {
  // No latency model: 0-2 ms of jitter per datagram reorders a burst often.
  const clock = new ManualClock(1_800_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng(7) });
  const make = (i: number, bootstrap: DhtNode[]) => {
    const node = new DhtNode({
      transport: network.attach(),
      clock,
      rng: seededRng(`jitter-${i}`),
    }, { bootstrap: bootstrap.map((n) => n.address) });
    node.start();
    return node;
  };
  const holder = make(0, []);
  const writer = make(1, [holder]);
  clock.advance(5_000);
  const key = InfoHash.get("jittered certificate");
  let stored = -1;
  writer.put(key, CERTIFICATE, { onDone: (n) => stored = n });
  clock.advance(5_000);
  assert.equal(stored, 1);
  writer.stop();
  const nodes = [holder, writer];
  for (let i = 0; i < 12; i++) {
    const fresh = make(2 + i, [holder]);
    nodes.push(fresh);
    clock.advance(2_000);
    let found: readonly DhtValue[] | undefined;
    fresh.get(key, { onDone: (values) => found = values });
    clock.advance(10_000);
    assert.equal(found?.length, 1, `requester ${i}`);
    // Gone again: the holder stays among the closest nodes of the key.
    fresh.stop();
  }
  for (const node of nodes) node.stop();
});
