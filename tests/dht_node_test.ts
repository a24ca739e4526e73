/**
 * DhtNode in small simulated networks: every property is asserted on virtual
 * time, with seeded randomness, so the runs are exact replays.
 */
import assert from "node:assert/strict";
import { Testnet } from "../lib/testing/testnet.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { ListenEvent } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { RpcEngine } from "../lib/dht/rpc_engine.ts";
import { randomInt, rngBytes, seededRng } from "../lib/rng.ts";

const MINUTE = 60_000;

function value(id: bigint, text: string, type = 0): DhtValue {
  return { id, type, data: new TextEncoder().encode(text) };
}

function getAll(net: Testnet, from: number, key: InfoHash): DhtValue[] {
  let found: DhtValue[] | undefined;
  net.nodes[from].get(key, { onDone: (values) => found = [...values] });
  net.run(10_000);
  assert.ok(found !== undefined, "get did not finish within 10 s");
  return found;
}

function holders(net: Testnet, key: InfoHash): number[] {
  return net.onlineIndexes().filter((i) =>
    net.nodes[i].storedValues(key).length > 0
  );
}

Deno.test("DhtNode.findNode() finds the true closest node in a 200-node network", () => {
  const net = Testnet.create({ nodes: 200, seed: "lookup" });
  let found = 0;
  let finished = 0;
  const lookups = 100;
  for (let i = 0; i < lookups; i++) {
    const target = InfoHash.random(net.rng);
    const from = randomInt(net.rng, net.size);
    const truth = net.closestOnline(target, 1)[0];
    net.nodes[from].findNode(target, (result) => {
      finished += 1;
      const best = result.nodes[0]?.id;
      if (best?.equals(truth) || net.nodes[from].id.equals(truth)) found += 1;
    });
    net.run(100);
  }
  net.run(10_000);
  assert.equal(finished, lookups);
  assert.ok(found >= lookups * 0.95, `found ${found} of ${lookups}`);
  net.stop();
});

Deno.test("DhtNode.put() stores on the closest nodes and get() finds it from elsewhere", () => {
  const net = Testnet.create({ nodes: 100, seed: "put-get" });
  const key = InfoHash.get("put-get key");
  let acked = -1;
  net.nodes[3].put(key, value(7n, "hello"), { onDone: (n) => acked = n });
  net.run(10_000);
  assert.equal(acked, 8);
  // The holders are the 8 closest nodes other than the publisher.
  const expected = net.closestOnline(key, 9).filter((id) =>
    !id.equals(net.nodes[3].id)
  ).slice(0, 8).map(String).sort();
  assert.deepEqual(
    holders(net, key).map((i) => net.nodes[i].id.toString()).sort(),
    expected,
  );
  const values = getAll(net, 60, key);
  assert.deepEqual(values.map((v) => new TextDecoder().decode(v.data)), [
    "hello",
  ]);
  net.stop();
});

Deno.test("DhtNode.listen() is told of new, refreshed and expired values", () => {
  const net = Testnet.create({ nodes: 80, seed: "listen" });
  const key = InfoHash.get("listen key");
  const events: ListenEvent[] = [];
  net.nodes[10].listen(key, (event) => events.push(event));
  net.run(5_000);
  net.nodes[20].put(key, value(1n, "first"));
  net.run(5_000);
  // Its holders push refreshes (no type of theirs is quiet): it is audible
  // (once per listen node that holds it).
  const first = events.map((e) => e.kind);
  assert.deepEqual(first.filter((kind) => kind !== "audible"), ["added"]);
  assert.ok(first.includes("audible"), `events: ${first}`);
  // A permanent put of another value is refreshed before it expires.
  const permanent = net.nodes[21].put(key, value(2n, "second"), {
    permanent: true,
  });
  net.run(10 * MINUTE);
  const kinds = events.map((e) => e.kind);
  assert.ok(kinds.includes("refreshed"), `events: ${kinds}`);
  // Value 1 was a one-shot put: 10 minutes after it, it expired.
  const expired = events.filter((e) => e.kind === "expired").flatMap((e) =>
    e.kind === "expired" ? e.ids : []
  );
  assert.deepEqual(expired, [1n]);
  permanent.cancel();
  net.stop();
});

Deno.test("DhtNode permanent put stays retrievable while its storing nodes crash", () => {
  const net = Testnet.create({ nodes: 150, seed: "permanent" });
  const key = InfoHash.get("permanent key");
  net.nodes[0].put(key, value(9n, "still here"), { permanent: true });
  net.run(10_000);
  // Crash the current holders, a few at a time, over 40 minutes (4 lifetimes).
  for (let round = 0; round < 8; round++) {
    const current = holders(net, key).filter((i) => i !== 0);
    for (const index of current.slice(0, 3)) net.crash(index);
    net.run(5 * MINUTE);
  }
  assert.ok(net.isOnline(0));
  const values = getAll(net, 100, key);
  assert.deepEqual(values.map((v) => v.id), [9n]);
  net.stop();
});

Deno.test("DhtNode: the first node of a network puts its permanent value on a joining node at once, not at its next retry", () => {
  const net = Testnet.create({
    nodes: 0,
    seed: "first node",
    medianOneWayMs: 10,
    settleMs: 0,
  });
  const first = net.addNode();
  const key = InfoHash.get("first node's announcement");
  // Alone: the put's lookup finds nobody, and the round is retried 1 s later.
  net.nodes[first].put(key, value(5n, "here"), { permanent: true });
  net.run(300);
  const joiner = net.addNode();
  // The joiner's requests make the first node ping it; its answer wakes the
  // put, 700 ms before the retry's timer would.
  net.run(600);
  assert.deepEqual(net.nodes[joiner].storedValues(key).map((v) => v.id), [
    5n,
  ]);
  net.stop();
});

Deno.test("DhtNode maintenance moves a value to new closest nodes after the old ones leave", () => {
  const net = Testnet.create({
    nodes: 120,
    seed: "maintenance",
    nodeConfig: { replicationMs: 2 * MINUTE, maintenanceMs: 30_000 },
  });
  const key = InfoHash.get("maintenance key");
  // Type 4 lives 7 days, so only replication can keep it reachable here.
  net.nodes[5].put(key, value(4n, "moved", 4));
  net.run(10_000);
  net.crash(5); // the publisher is gone: nobody re-puts it
  const original = holders(net, key);
  assert.ok(original.length >= 8, `${original.length} holders`);
  for (const index of original.slice(0, 5)) net.crash(index);
  net.run(5 * MINUTE); // the survivors replicate to the new closest nodes
  for (const index of original.slice(5)) net.crash(index);
  net.run(MINUTE);
  const values = getAll(net, 50, key);
  assert.deepEqual(values.map((v) => v.id), [4n]);
  const now = holders(net, key);
  assert.ok(now.length >= 4, `only ${now.length} holders`);
  net.stop();
});

Deno.test("DhtNode over a partition: a value is unreachable across it, then found after healing", () => {
  const net = Testnet.create({
    nodes: 100,
    seed: "partition",
    nodeConfig: { replicationMs: 2 * MINUTE, maintenanceMs: 30_000 },
  });
  const left = net.onlineIndexes().filter((i) => i % 2 === 0);
  const right = net.onlineIndexes().filter((i) => i % 2 === 1);
  net.network.partition([left, right]);
  const key = InfoHash.get("partition key");
  net.nodes[left[0]].put(key, value(5n, "left side", 4));
  net.run(30_000);
  assert.ok(holders(net, key).every((i) => i % 2 === 0));
  assert.deepEqual(getAll(net, right[0], key), []);
  net.network.heal();
  net.run(10 * MINUTE); // buckets refresh, replication reaches the right side
  assert.deepEqual(getAll(net, right[0], key).map((v) => v.id), [5n]);
  net.stop();
});

Deno.test("DhtNode survives hostile datagrams and keeps answering", () => {
  const net = Testnet.create({ nodes: 10, seed: "hostile" });
  const victim = net.nodes[0];
  const attacker = net.network.attach();
  const random = rngBytes(seededRng(99));
  for (let i = 0; i < 500; i++) {
    attacker.send(victim.address, random(1 + randomInt(net.rng, 200)));
  }
  // Also well-formed but wrong: a put with a bad token, a get without key.
  const attackerId = InfoHash.get("attacker");
  const replies: string[] = [];
  attacker.receive((bytes) => {
    const message = decodeMessage(bytes);
    replies.push(message.kind === "error" ? `e${message.code}` : message.kind);
  });
  attacker.send(
    victim.address,
    encodeMessage({
      kind: "request",
      method: "put",
      tid: 1,
      network: 0,
      senderId: attackerId,
      key: InfoHash.get("k"),
      values: [value(1n, "x")],
      token: new Uint8Array(32),
    }),
  );
  attacker.send(
    victim.address,
    encodeMessage({
      kind: "request",
      method: "refresh",
      tid: 2,
      network: 0,
      senderId: attackerId,
      key: InfoHash.get("k"),
      valueId: 1n,
      token: new Uint8Array(32),
    }),
  );
  attacker.send(
    victim.address,
    encodeMessage({
      kind: "request",
      method: "get",
      tid: 3,
      network: 0,
      senderId: attackerId,
      key: InfoHash.ZERO,
    }),
  );
  net.run(5_000);
  assert.deepEqual(replies.filter((r) => r.startsWith("e")).sort(), [
    "e203",
    "e401",
    "e401",
  ]);
  const counters = victim.stats().rpc;
  assert.ok(counters.droppedMalformed > 400);
  assert.equal(counters.handlerErrors, 0);
  assert.equal(victim.storedValues(InfoHash.get("k")).length, 0);
  // Still answers a legitimate lookup.
  let done = false;
  net.nodes[5].findNode(victim.id, () => done = true);
  net.run(5_000);
  assert.ok(done);
  net.stop();
});

Deno.test("Testnet replays exactly: same seed, same counters", () => {
  function run(): string {
    const net = Testnet.create({
      nodes: 60,
      seed: "replay",
      lossProbability: 0.02,
    });
    const key = InfoHash.get("replay key");
    net.nodes[1].put(key, value(1n, "x"), { permanent: true });
    net.run(3 * MINUTE);
    net.crash(7);
    net.run(MINUTE);
    const summary = JSON.stringify({
      network: net.network.stats(),
      nodes: net.nodes.map((node) => node.stats()),
    });
    net.stop();
    return summary;
  }
  assert.equal(run(), run());
});

Deno.test("DhtNode.put() refuses value id 0", () => {
  const net = Testnet.create({ nodes: 2, seed: "zero" });
  assert.throws(
    () => net.nodes[0].put(InfoHash.get("k"), value(0n, "x")),
    RangeError,
  );
  net.stop();
});

Deno.test("DhtNode.stop() cancels its timers", () => {
  const net = Testnet.create({ nodes: 5, seed: "stop" });
  net.stop();
  const before = net.clock.pendingCount;
  net.run(60 * MINUTE);
  assert.equal(net.clock.pendingCount, 0, `had ${before} pending`);
  assert.ok(net.nodes.every((node: DhtNode) => !node.running));
});

Deno.test("DhtNode answers hostile listen and put requests with OpenDHT's errors", () => {
  const net = Testnet.create({ nodes: 3, seed: "hostile-rpc" });
  const victim = net.nodes[0];
  const attacker = net.network.attach();
  const attackerId = InfoHash.get("attacker 2");
  const replies = new Map<number, string>();
  let token: Uint8Array | undefined;
  attacker.receive((bytes) => {
    const message = decodeMessage(bytes);
    if (message.kind === "reply" && message.token) token = message.token;
    if (message.kind === "reply" || message.kind === "error") {
      replies.set(
        message.tid,
        message.kind === "error" ? `e${message.code}` : "ok",
      );
    }
  });
  const send = (message: Parameters<typeof encodeMessage>[0]) =>
    attacker.send(victim.address, encodeMessage(message));
  const base = { kind: "request", network: 0, senderId: attackerId } as const;
  const key = InfoHash.get("hostile key");
  send({
    ...base,
    method: "listen",
    tid: 1,
    key,
    token: new Uint8Array(32),
    socketId: 9,
  });
  send({ ...base, method: "find", tid: 2, target: key });
  net.run(2_000);
  assert.ok(token !== undefined, "find reply carried no token");
  send({
    ...base,
    method: "put",
    tid: 3,
    key,
    token,
    values: [value(0n, "zero id")],
  });
  send({
    ...base,
    method: "listen",
    tid: 4,
    key: InfoHash.ZERO,
    token,
    socketId: 9,
  });
  send({
    ...base,
    method: "put",
    tid: 5,
    key,
    token,
    values: [value(6n, "fine")],
  });
  send({ ...base, method: "listen", tid: 6, key, token, socketId: 9 });
  net.run(2_000);
  assert.deepEqual(Object.fromEntries(replies), {
    1: "e401",
    2: "ok",
    3: "e203",
    4: "e203",
    5: "ok",
    6: "ok",
  });
  assert.deepEqual(victim.storedValues(key).map((v) => v.id), [6n]);
  net.stop();
});

Deno.test("DhtNode passes its request rate limits to the RPC engine", () => {
  // 3,000 pings in one virtual instant from one address: the default limit
  // (1,024 per second per IP) answers only the first 1,024; with no limit
  // every ping is answered.
  for (
    const [config, answered] of [[{}, 1_024], [{
      requestsPerSecondPerIp: Infinity,
      requestsPerSecond: Infinity,
    }, 3_000]] as const
  ) {
    const net = Testnet.create({ nodes: 1, seed: "rate", nodeConfig: config });
    const pinger = net.network.attach();
    let replies = 0;
    pinger.receive((bytes) => {
      if (decodeMessage(bytes).kind === "reply") replies += 1;
    });
    for (let tid = 1; tid <= 3_000; tid++) {
      pinger.send(
        net.nodes[0].address,
        encodeMessage({
          kind: "request",
          method: "ping",
          tid,
          network: 0,
          senderId: InfoHash.get("pinger"),
        }),
      );
    }
    net.run(5_000);
    assert.equal(replies, answered);
    assert.equal(
      net.nodes[0].stats().rpc.droppedRateLimited,
      3_000 - answered,
    );
    net.stop();
  }
});

Deno.test("DhtNode storage maintenance copies a value only to nodes that lack it", () => {
  // OpenDHT takes an identical put as a refresh (the copy lives a whole
  // lifetime longer, listeners hear "refreshed"), so replication asks each
  // closest node which ids it holds and puts only the missing values. Here
  // nobody leaves: 25 minutes of maintenance must not refresh anything, and
  // the value stays on at least as many nodes.
  const net = Testnet.create({ nodes: 60, seed: "replicate-missing" });
  const key = InfoHash.get("replicated key");
  const events: ListenEvent[] = [];
  net.nodes[7].listen(key, (event) => events.push(event));
  net.run(5_000);
  // Type 4 lives 7 days: nothing expires during the test.
  net.nodes[3].put(key, value(11n, "stay", 4));
  net.run(10_000);
  const before = holders(net, key).length;
  assert.ok(before >= 8, `${before} holders`);
  net.run(25 * MINUTE);
  // Added (and audible: its holders push refreshes), never refreshed.
  assert.deepEqual(
    events.map((event) => event.kind).filter((kind) => kind !== "audible"),
    ["added"],
  );
  assert.ok(holders(net, key).length >= before);
  net.stop();
});

Deno.test("DhtNode storage maintenance backs off on a quiet key and resumes when its holders change", () => {
  const net = Testnet.create({ nodes: 60, seed: "replicate-backoff" });
  const key = InfoHash.get("backoff key");
  let probes = 0;
  const original = RpcEngine.prototype.request;
  RpcEngine.prototype.request = function (to, expectedId, body, callbacks) {
    if (body.method === "get" && body.key.equals(key)) probes += 1;
    return original.call(this, to, expectedId, body, callbacks);
  };
  try {
    net.run(5_000);
    net.nodes[3].put(key, value(21n, "quiet", 4)); // 7 days
    net.run(40 * MINUTE);
    const early = probes;
    net.run(20 * MINUTE);
    probes = 0;
    net.run(40 * MINUTE);
    const late = probes;
    assert.ok(early > 0, "no probe at all");
    assert.ok(late * 2 <= early, `probes: ${early} early, ${late} late`);
    // The holders change: the survivors notice and copy it again.
    net.crash(3);
    const first = holders(net, key);
    for (const index of first.slice(0, 5)) net.crash(index);
    // Crashed holders leave the survivors' routing tables when they stop
    // answering (within about 10 minutes); then the closest set has changed.
    net.run(15 * MINUTE);
    for (const index of first.slice(5)) net.crash(index);
    net.run(MINUTE);
    assert.deepEqual(getAll(net, 50, key).map((v) => v.id), [21n]);
  } finally {
    RpcEngine.prototype.request = original;
    net.stop();
  }
});

Deno.test("DhtNode in client mode gets and puts, but no node keeps it in its routing table", () => {
  const net = Testnet.create({ nodes: 20, seed: "client-mode" });
  const client = new DhtNode(
    {
      transport: net.network.attach(),
      clock: net.clock,
      rng: seededRng("client"),
    },
    { client: true, bootstrap: [net.transports[0].localAddress] },
  );
  client.start();
  net.run(10_000);
  const key = InfoHash.get("client key");
  let stored = -1;
  client.put(key, value(7n, "from a client"), {
    onDone: (count) => stored = count,
  });
  net.run(10_000);
  assert.ok(stored > 0, `stored on ${stored} nodes`);
  assert.deepEqual(getAll(net, 5, key).map((v) => v.id), [7n]);
  let found: DhtValue[] = [];
  client.get(key, { onDone: (values) => found = [...values] });
  net.run(10_000);
  assert.deepEqual(found.map((v) => v.id), [7n]);
  // The client knows the network; the network does not know the client.
  assert.ok(client.routingTable.size > 0);
  assert.deepEqual(
    net.nodes.filter((node) => node.routingTable.get(client.id)).length,
    0,
  );
  client.stop();
  net.stop();
});

Deno.test("DhtNode.put() after prepare() starts no lookup: it goes to the nodes found ahead, the same holders", () => {
  // Goal: a put at a prepared key goes straight to the nodes the earlier
  // lookup found (no search of its own) and lands where a
  // plain put would; a put at another key, or after PREPARED_PUT_MS, still
  // looks up.
  const net = Testnet.create({ nodes: 100, seed: "prepare" });
  const key = InfoHash.get("prepared key");
  const node = net.nodes[3];
  node.prepare(key);
  net.run(5_000);
  const before = node.stats();
  let acked = -1;
  node.put(key, value(7n, "hello"), { onDone: (n) => acked = n });
  net.run(5_000);
  assert.equal(acked, 8);
  assert.equal(node.stats().searches, before.searches);
  const expected = net.closestOnline(key, 9).filter((id) => !id.equals(node.id))
    .slice(0, 8).map(String).sort();
  assert.deepEqual(
    holders(net, key).map((i) => net.nodes[i].id.toString()).sort(),
    expected,
  );
  const other = node.stats().searches;
  node.put(InfoHash.get("other key"), value(8n, "x"));
  assert.equal(node.stats().searches, other + 1);
  net.run(20_000);
  const late = node.stats().searches;
  node.put(key, value(9n, "late"));
  assert.equal(node.stats().searches, late + 1);
  net.run(5_000);
  net.stop();
});

Deno.test("DhtNode.put() right after prepare() follows the running lookup", () => {
  // The put comes while the prepared lookup still runs: it is sent to the
  // closest nodes as they become known, with no lookup of its own.
  const net = Testnet.create({ nodes: 100, seed: "prepare-running" });
  const key = InfoHash.get("prepared key");
  const node = net.nodes[5];
  const before = node.stats().searches;
  node.prepare(key);
  node.prepare(key); // prepared already: not looked up twice
  let acked = -1;
  node.put(key, value(7n, "hello"), { onDone: (n) => acked = n });
  net.run(5_000);
  assert.equal(node.stats().searches, before + 1);
  assert.ok(acked >= 8, `acked ${acked}`);
  const expected = net.closestOnline(key, 9).filter((id) => !id.equals(node.id))
    .slice(0, 8).map(String);
  const held = new Set(
    holders(net, key).map((i) => net.nodes[i].id.toString()),
  );
  for (const id of expected) assert.ok(held.has(id), `${id} holds it`);
  net.stop();
});
