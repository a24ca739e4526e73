/**
 * Issue 13 item 4, "listener exhaustion": a storing node keeps 256 listeners
 * per key; an attacker's listens (any node ids, any socket ids) filled them,
 * and a victim's listen was answered `{}` yet never registered, so the
 * victim heard nothing. Virtual time, seeded: exact replays.
 */
import assert from "node:assert/strict";
import { Testnet } from "../../lib/testing/testnet.ts";
import type { DhtNode } from "../../lib/dht/dht_node.ts";
import type { ListenEvent } from "../../lib/dht/dht_client.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { Attacker } from "./_attacker.ts";

const LISTENERS_PER_KEY = 256;

function closestNodes(net: Testnet, key: InfoHash, count: number): DhtNode[] {
  const ids = net.closestOnline(key, count).map(String);
  return ids.map((id) =>
    net.nodes.find((node) => node.id.toString() === id) as DhtNode
  );
}

/** `attacker` places `count` listens at `key` on each of `nodes`, each under a fresh node id. */
function listenFlood(
  net: Testnet,
  attacker: Attacker,
  nodes: readonly DhtNode[],
  key: InfoHash,
  count: number,
): number[] {
  for (const node of nodes) attacker.askToken(node);
  net.run(2_000);
  const tids: number[] = [];
  for (let i = 0; i < count; i++) {
    for (const node of nodes) {
      tids.push(
        attacker.send(node, {
          method: "listen",
          senderId: InfoHash.get(
            `sybil ${attacker.transport.localAddress.host} ${i}`,
          ),
          key,
          token: attacker.tokenOf(node),
          socketId: i + 1,
          version: 1,
        }).tid,
      );
    }
  }
  net.run(2_000);
  return tids;
}

/** A node far from `key` listens; then another far node puts; did the listener hear it? */
function victimHears(net: Testnet, key: InfoHash): boolean {
  const near = new Set(net.closestOnline(key, 8).map(String));
  const far = net.onlineIndexes().filter((i) =>
    !near.has(net.nodes[i].id.toString())
  );
  const events: ListenEvent[] = [];
  net.nodes[far[0]].listen(key, (event) => events.push(event));
  net.run(10_000);
  net.nodes[far[1]].put(key, {
    id: 42n,
    type: 0,
    data: new TextEncoder().encode("hello"),
  });
  net.run(10_000);
  return events.some((event) =>
    event.kind === "added" && event.values.some((v) => v.id === 42n)
  );
}

Deno.test("attack: 256+ listens from one host do not stop a victim's listen, and the excess is refused", () => {
  const net = Testnet.create({ nodes: 24, seed: "listener flood" });
  const key = InfoHash.get("victim presence");
  const attacker = new Attacker(net, "203.0.113.9");
  const tids = listenFlood(
    net,
    attacker,
    closestNodes(net, key, 4),
    key,
    LISTENERS_PER_KEY + 44,
  );
  // Refused listens are answered with an error, never `{}`.
  const refused = tids.filter((tid) => attacker.answers.get(tid) !== "ok");
  assert.ok(refused.length > 0);
  assert.ok(refused.every((tid) => attacker.answers.get(tid) === "e507"));
  assert.ok(victimHears(net, key), "the victim heard the put");
  net.stop();
});

Deno.test("attack: listens from 256 networks fill a key; the victim's refused listen moves on and still hears", () => {
  const net = Testnet.create({ nodes: 24, seed: "listener flood wide" });
  const key = InfoHash.get("victim presence 2");
  const nodes = closestNodes(net, key, 4);
  // One listen from each of 256 /24 networks: everyone has exactly one, so
  // a newcomer pushes nobody out and the four closest nodes refuse it.
  const attackers: Attacker[] = [];
  for (let n = 0; n < LISTENERS_PER_KEY; n++) {
    const attacker = new Attacker(net, `198.${18 + (n >> 8)}.${n & 255}.1`);
    for (const node of nodes) attacker.askToken(node);
    attackers.push(attacker);
  }
  net.run(2_000);
  const placed = attackers.flatMap((attacker) =>
    nodes.map((node) =>
      attacker.send(node, {
        method: "listen",
        senderId: InfoHash.get(`sybil ${attacker.transport.localAddress.host}`),
        key,
        token: attacker.tokenOf(node),
        socketId: 1,
        version: 1,
      }).tid
    ).map((tid) => [attacker, tid] as const)
  );
  net.run(2_000);
  assert.ok(
    placed.every(([attacker, tid]) => attacker.answers.get(tid) === "ok"),
  );
  assert.ok(victimHears(net, key), "the victim heard the put");
  net.stop();
});
