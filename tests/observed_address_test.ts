import assert from "node:assert/strict";
import { ObservedAddress } from "../lib/dht/observed_address.ts";
import { DhtNode, type DhtNodeConfig } from "../lib/dht/dht_node.ts";
import { Testnet } from "../lib/testing/testnet.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { forkRng, rngBytes, seededRng } from "../lib/rng.ts";

Deno.test("ObservedAddress: one replier, however often it votes, is one vote", () => {
  const observed = new ObservedAddress();
  for (let k = 0; k < 50; k++) observed.vote("198.51.100.66", "192.0.2.66");
  assert.equal(observed.host, undefined);
});

Deno.test("ObservedAddress: three agreeing repliers win; two liars among them do not flip it", () => {
  const observed = new ObservedAddress();
  for (const replier of ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) {
    observed.vote(replier, "203.0.113.7");
  }
  assert.equal(observed.host, "203.0.113.7");
  observed.vote("198.51.100.8", "192.0.2.66");
  observed.vote("198.51.100.9", "192.0.2.66");
  assert.equal(observed.host, "203.0.113.7");
});

Deno.test("ObservedAddress: no majority, no address; a new address wins once recent repliers agree", () => {
  const observed = new ObservedAddress({ maxVoters: 6 });
  for (const n of [1, 2, 3]) observed.vote(`198.51.100.${n}`, "203.0.113.7");
  for (const n of [4, 5, 6]) observed.vote(`198.51.100.${n}`, "203.0.113.8");
  assert.equal(observed.host, undefined); // 3 against 3
  observed.vote("198.51.100.7", "203.0.113.8"); // the oldest voter leaves
  assert.equal(observed.host, "203.0.113.8");
});

Deno.test("ObservedAddress: rejects a quorum above the bound", () => {
  assert.throws(
    () => new ObservedAddress({ quorum: 5, maxVoters: 4 }),
    RangeError,
  );
});

Deno.test("a DHT node behind a NAT learns its NAT's public address from replies (sa)", () => {
  const net = Testnet.create({ nodes: 20, seed: 3 });
  const transport = net.network.attach();
  const box = net.network.putBehindNat(transport.hostIndex, {
    kind: "eim-prf",
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
  assert.equal(node.observedHost, undefined);
  node.start();
  net.clock.advance(30_000);
  assert.equal(node.observedHost, box.publicHost);
  assert.notEqual(node.observedHost, node.address.host);
  node.stop();
  net.stop();
});

/** A node behind a port-restricted NAT on `net`, bootstrapped from its first 3 nodes (not started). */
function natedNode(
  net: Testnet,
  seed: string,
  config: DhtNodeConfig,
): DhtNode {
  const transport = net.network.attach();
  net.network.putBehindNat(transport.hostIndex, {
    kind: "eim-prf",
    rng: seededRng("nat"),
  });
  const rng = seededRng(seed);
  return new DhtNode(
    {
      transport,
      clock: net.clock,
      rng,
      randomBytes: rngBytes(forkRng(rng, "bytes")),
    },
    {
      bootstrap: net.transports.slice(0, 3).map((t) => t.localAddress),
      ...config,
    },
  );
}

/** A NATed node listens on a key; 90 s later (3 NAT timeouts) a value is put there. */
function lateValueReachesNatedListener(natListenRenewMs?: number): number {
  const net = Testnet.create({ nodes: 30, seed: 4 });
  const listener = natedNode(net, "listener", {
    listenRenewMs: 300_000,
    natListenRenewMs,
  });
  listener.start();
  net.clock.advance(10_000);
  const key = InfoHash.get("watched");
  let received = 0;
  listener.listen(key, (event) => {
    if (event.kind === "added") received += event.values.length;
  });
  net.clock.advance(90_000);
  net.nodes[5].put(key, { id: 7n, type: 0, data: new Uint8Array([1]) });
  net.clock.advance(10_000);
  listener.stop();
  net.stop();
  return received;
}

Deno.test("behind a NAT, listens are renewed often enough for pushes to get through", () => {
  assert.equal(lateValueReachesNatedListener(), 1);
  // Control: renewing only every 5 minutes, the NAT forgets the storing
  // nodes and drops their pushes.
  assert.equal(lateValueReachesNatedListener(300_000), 0);
});

Deno.test("ObservedAddress.vote() elects what a recount of the kept votes elects, through evictions and changed votes", () => {
  // Method: a reference that keeps the votes alone and recounts them all
  // for every vote (a majority of at least the quorum), fed the same seeded
  // votes: few repliers and few hosts, so votes change and hosts tie.
  const rng = seededRng("observed address recount");
  for (const [quorum, maxVoters] of [[1, 1], [2, 3], [3, 16], [5, 8]]) {
    const tracker = new ObservedAddress({ quorum, maxVoters });
    const votes = new Map<string, string>();
    for (let round = 0; round < 2_000; round++) {
      // IPv4 repliers (kept as numbers) and IPv6 ones (kept as text).
      const n = Math.floor(rng() * 24);
      const replier = n % 3 === 0 ? `2001:db8::${n}` : `10.0.0.${n}`;
      const seen = `192.0.2.${Math.floor(rng() * 3)}`;
      votes.delete(replier);
      votes.set(replier, seen);
      if (votes.size > maxVoters) votes.delete(votes.keys().next().value!);
      const counts = new Map<string, number>();
      for (const host of votes.values()) {
        counts.set(host, (counts.get(host) ?? 0) + 1);
      }
      const expected = [...counts].find(([, count]) =>
        count >= quorum && count * 2 > votes.size
      )?.[0];
      const before = tracker.host;
      assert.equal(tracker.vote(replier, seen), expected !== before);
      assert.equal(tracker.host, expected, `round ${round}`);
    }
  }
});

/**
 * A node behind a port-restricted NAT joins a 30-node DHT and runs 10
 * minutes of lookups; returns how many public nodes hold it in their
 * routing tables at the end.
 */
function tablesHoldingNatedNode(clientBehindNat?: boolean): number {
  const net = Testnet.create({ nodes: 30, seed: 9 });
  const node = natedNode(net, "nated", { clientBehindNat });
  node.start();
  for (let minute = 0; minute < 10; minute++) {
    node.get(InfoHash.get(`key ${minute}`), {});
    net.clock.advance(60_000);
  }
  assert.ok(node.behindNat && node.observedHost !== undefined);
  const holding =
    net.nodes.filter((other) => other.routingTable.get(node.id) !== undefined)
      .length;
  node.stop();
  net.stop();
  return holding;
}

Deno.test("behind a NAT, a node is a client: no public node keeps it in its routing table to hand out", () => {
  // Its first requests (before 3 repliers told it its address) put it in a
  // few tables; its later ones, marked `s: true`, take it out again.
  assert.equal(tablesHoldingNatedNode(), 0);
  // Control: without client mode, public nodes hand it out to lookups
  // that cannot reach it.
  assert.ok(tablesHoldingNatedNode(false) > 0);
});

Deno.test("ObservedAddress names what a full count of the recent votes names, after every vote", () => {
  // The reference: each replier's latest vote, the maxVoters most recent
  // voters, and the host with a strict majority and the quorum, by count.
  for (const [quorum, maxVoters] of [[3, 16], [1, 4], [2, 5], [5, 9]]) {
    const rng = seededRng(`votes ${quorum}/${maxVoters}`);
    const observed = new ObservedAddress({ quorum, maxVoters });
    let order: string[] = [];
    const latest = new Map<string, string>();
    for (let k = 0; k < 3_000; k++) {
      // Few repliers and few hosts, so that majorities form and break.
      const replier = `198.51.100.${Math.floor(rng() * (maxVoters + 4))}`;
      const seen = `203.0.113.${Math.floor(rng() * 3)}`;
      const before = observed.host;
      const changed = observed.vote(replier, seen);
      order = [...order.filter((r) => r !== replier), replier].slice(
        -maxVoters,
      );
      latest.set(replier, seen);
      const counts = new Map<string, number>();
      for (const r of order) {
        counts.set(latest.get(r)!, (counts.get(latest.get(r)!) ?? 0) + 1);
      }
      let expected: string | undefined;
      for (const [host, count] of counts) {
        if (count >= quorum && 2 * count > order.length) expected = host;
      }
      assert.equal(observed.host, expected, `vote ${k}`);
      assert.equal(changed, expected !== before, `vote ${k}`);
    }
  }
});
