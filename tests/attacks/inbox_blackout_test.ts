/**
 * Issue 13 item 3, "inbox blackout": one source fills every value slot of a
 * key (1,024) on the nodes that store it, so a genuine put is refused there
 * (and was acknowledged anyway). Virtual time, seeded: exact replays.
 */
import assert from "node:assert/strict";
import { Testnet } from "../../lib/testing/testnet.ts";
import type { DhtNode } from "../../lib/dht/dht_node.ts";
import type { ListenEvent } from "../../lib/dht/dht_client.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { Attacker } from "./_attacker.ts";

const SLOTS = 1_024;

function value(id: bigint): DhtValue {
  return { id, type: 4, data: new TextEncoder().encode(`v${id}`) };
}

/** The 8 nodes that store `key`, and the indexes of all the others. */
function split(net: Testnet, key: InfoHash) {
  const closest = new Set(net.closestOnline(key, 8).map(String));
  const storers: DhtNode[] = [];
  const others: number[] = [];
  for (const i of net.onlineIndexes()) {
    if (closest.has(net.nodes[i].id.toString())) storers.push(net.nodes[i]);
    else others.push(i);
  }
  return { storers, others };
}

/** `attacker` puts `count` distinct values at `key` on every storer, under the per-IP rate limit. */
function flood(
  net: Testnet,
  attacker: Attacker,
  storers: readonly DhtNode[],
  key: InfoHash,
  count: number,
): number[] {
  for (const node of storers) attacker.askToken(node);
  net.run(2_000);
  const tids: number[] = [];
  for (let i = 0; i < count; i++) {
    for (const node of storers) {
      tids.push(
        attacker.send(node, {
          method: "put",
          // A fresh node id for every put: ids are free.
          senderId: InfoHash.get(`sybil ${i}`),
          key,
          values: [value(1_000_000n + BigInt(i))],
          token: attacker.tokenOf(node),
        }).tid,
      );
    }
    if (i % 900 === 899) net.run(1_100); // 1,024 requests/s per IP at most
  }
  net.run(2_000);
  return tids;
}

Deno.test("attack: one origin filling a key's slots does not keep a genuine put from being stored and heard", () => {
  const net = Testnet.create({ nodes: 24, seed: "inbox blackout" });
  const key = InfoHash.get("victim inbox");
  const { storers, others } = split(net, key);
  const attacker = new Attacker(net, "203.0.113.7");
  flood(net, attacker, storers, key, SLOTS + 50);
  // The flood took the slots (the store was open to it while nobody else wanted in).
  for (const node of storers) {
    assert.equal(node.storedValues(key).length, SLOTS);
  }
  const [listener, putter] = others;
  const events: ListenEvent[] = [];
  net.nodes[listener].listen(key, (event) => events.push(event));
  net.run(5_000);
  let acked = -1;
  net.nodes[putter].put(key, value(42n), { onDone: (n) => acked = n });
  net.run(10_000);
  const holders = net.onlineIndexes().filter((i) =>
    net.nodes[i].storedValues(key).some((v) => v.id === 42n)
  );
  assert.ok(holders.length >= 6, `stored on ${holders.length} nodes`);
  assert.equal(acked, holders.length, "acknowledged exactly where stored");
  assert.ok(
    events.some((event) =>
      event.kind === "added" && event.values.some((v) => v.id === 42n)
    ),
    "the listener heard the genuine value",
  );
  // The flooder, now over its share, is told no.
  const { tid } = attacker.send(storers[0], {
    method: "put",
    senderId: InfoHash.get("sybil again"),
    key,
    values: [value(7n)],
    token: attacker.tokenOf(storers[0]),
  });
  net.run(1_000);
  assert.equal(attacker.answers.get(tid), "e507");
  net.stop();
});

Deno.test("attack: a refused put gets an error reply and the putter does not count it", () => {
  const net = Testnet.create({ nodes: 24, seed: "refused put" });
  const key = InfoHash.get("refused key");
  const { storers, others } = split(net, key);
  const putter = others[0];
  // The flooder shares the putter's IP (one NAT): same origin, same share.
  const attacker = new Attacker(net, net.nodes[putter].address.host, 5_000);
  const tids = flood(net, attacker, storers, key, SLOTS + 10);
  const refused = tids.filter((tid) => attacker.answers.get(tid) !== "ok");
  assert.equal(refused.length, 10 * storers.length);
  assert.ok(refused.every((tid) => attacker.answers.get(tid) === "e507"));
  let acked = -1;
  net.nodes[putter].put(key, value(42n), { onDone: (n) => acked = n });
  net.run(10_000);
  const holders = net.onlineIndexes().filter((i) =>
    net.nodes[i].storedValues(key).some((v) => v.id === 42n)
  );
  assert.equal(acked, holders.length);
  assert.equal(acked, 0);
  net.stop();
});
