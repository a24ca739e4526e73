/**
 * Issue 13 item 5, "UDP amplification": a 66-byte `get` for a key holding
 * many values made a node send thousands of datagrams (megabytes) to the
 * request's source address, which the sender may have forged. Virtual time,
 * seeded: exact replays.
 */
import assert from "node:assert/strict";
import { Testnet } from "../../lib/testing/testnet.ts";
import type { DhtNode } from "../../lib/dht/dht_node.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { UNPROVEN_REPLY_FACTOR } from "../../lib/dht/proven_addresses.ts";
import { Attacker } from "./_attacker.ts";

const VALUES = 1_000;

function value(id: bigint): DhtValue {
  return { id, type: 0, data: new Uint8Array(1_000).fill(Number(id % 251n)) };
}

let putters = 0;

function fill(net: Testnet, node: DhtNode, key: InfoHash): void {
  const putter = new Attacker(net, "192.0.2.50", 5_000 + putters++);
  putter.askToken(node);
  net.run(1_000);
  for (let i = 0; i < VALUES; i++) {
    putter.send(node, {
      method: "put",
      senderId: InfoHash.get("putter"),
      key,
      values: [value(BigInt(i + 1))],
      token: putter.tokenOf(node),
    });
  }
  net.run(1_000);
  assert.equal(node.storedValues(key).length, VALUES);
}

Deno.test("attack: a small get from an unproven address gets at most a small multiple of its bytes back", () => {
  const net = Testnet.create({ nodes: 12, seed: "amplification" });
  const key = InfoHash.get("amplified key");
  const node = net.nodes[0];
  fill(net, node, key);
  // The "victim" address: whoever the forged source names. It never showed a token.
  const victim = new Attacker(net, "198.51.100.77");
  const { bytes } = victim.send(node, {
    method: "get",
    senderId: InfoHash.get("spoofer"),
    key,
  });
  net.run(5_000);
  const got = victim.received.get(`${node.address.host}:${node.address.port}`);
  assert.ok(got !== undefined, "the node answered");
  assert.ok(
    got.bytes <= UNPROVEN_REPLY_FACTOR * bytes,
    `${got.bytes} bytes in ${got.datagrams} datagrams for a ${bytes}-byte get`,
  );
  // (The reply, and the pings that check a new node: none carries values.)
  // Same with a select (OpenDHT's first pagination step) and a where.
  const select = victim.send(node, {
    method: "get",
    senderId: InfoHash.get("spoofer"),
    key,
    query: { select: [1], where: [] },
  });
  net.run(5_000);
  const total = victim.received.get(
    `${node.address.host}:${node.address.port}`,
  );
  assert.ok(
    total !== undefined &&
      total.bytes - got.bytes <= UNPROVEN_REPLY_FACTOR * select.bytes,
  );
  net.stop();
});

Deno.test("attack: amplification limits leave honest gets whole (token-bearing follow-up)", () => {
  const net = Testnet.create({ nodes: 12, seed: "amplification honest" });
  const key = InfoHash.get("amplified key 2");
  // Values at every node close to the key, so that any get finds them.
  for (const id of net.closestOnline(key, 12).map(String)) {
    const node = net.nodes.find((n) => n.id.toString() === id) as DhtNode;
    fill(net, node, key);
  }
  let found: readonly DhtValue[] | undefined;
  net.nodes[5].get(key, { onDone: (values) => found = values });
  net.run(20_000);
  assert.equal(found?.length, VALUES);
  net.stop();
});
