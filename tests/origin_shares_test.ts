import assert from "node:assert/strict";
import {
  originOf,
  OriginShares,
  unmappedHost,
} from "../lib/dht/origin_shares.ts";
import { LISTENER_LIFETIME_MS, ValueStore } from "../lib/dht/value_store.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";

Deno.test("originOf() groups IPv4 by address and /24, IPv6 by /64 and /48", () => {
  assert.deepEqual(originOf("192.0.2.7"), {
    origin: "192.0.2.7",
    prefix: "192.0.2.0/24",
  });
  // Every spelling of one /64 is one origin.
  const a = originOf("2001:db8:1:2::1");
  assert.deepEqual(a, {
    origin: "2001:db8:1:2::/64",
    prefix: "2001:db8:1::/48",
  });
  assert.deepEqual(originOf("2001:0DB8:0001:0002:ffff:1:2:3"), a);
  assert.deepEqual(originOf("[2001:db8:1:2::9]"), a);
  assert.equal(originOf("2001:db8:1:3::1").prefix, a.prefix);
  assert.notEqual(originOf("2001:db8:1:3::1").origin, a.origin);
  assert.equal(originOf("::1").origin, "0:0:0:0::/64");
  assert.equal(originOf("host.example").origin, "host.example");
});

Deno.test("OriginShares.heavierThan() picks the heaviest prefix, then its heaviest origin", () => {
  const shares = new OriginShares();
  shares.add(originOf("192.0.2.1"), 5);
  shares.add(originOf("192.0.2.2"), 2);
  shares.add(originOf("198.51.100.1"), 4);
  // Another network: the heaviest prefix (7) gives, from its heaviest origin.
  assert.equal(
    shares.heavierThan(originOf("203.0.113.1"), 1)?.origin,
    "192.0.2.1",
  );
  // Inside the heaviest prefix: only an origin lighter than its heaviest.
  assert.equal(
    shares.heavierThan(originOf("192.0.2.2"), 1)?.origin,
    "192.0.2.1",
  );
  assert.equal(shares.heavierThan(originOf("192.0.2.1"), 1), undefined);
  // Not lighter than the heaviest prefix after adding: no.
  assert.equal(shares.heavierThan(originOf("198.51.100.9"), 3), undefined);
});

Deno.test("ValueStore: a full key makes room for a new origin from the heaviest one, never for the heaviest", () => {
  const store = new ValueStore({ maxValuesPerKey: 4 });
  const key = InfoHash.get("k");
  const value = (id: bigint) => ({ id, type: 0, data: new Uint8Array([1]) });
  for (let i = 1n; i <= 4n; i++) {
    assert.equal(
      store.store(key, value(i), 0, 0, "192.0.2.1").outcome,
      "stored",
    );
  }
  assert.equal(
    store.store(key, value(5n), 0, 0, "192.0.2.1").outcome,
    "rejected-quota",
  );
  const { outcome } = store.store(key, value(6n), 0, 0, "198.51.100.1");
  assert.equal(outcome, "stored");
  assert.deepEqual(store.get(key, 0).map((v) => v.id).sort(), [1n, 2n, 3n, 6n]);
  // Each newcomer network takes from the heaviest; then all hold one value
  // each, and nobody (not even another host of 203.0.113.0/24) pushes one out.
  store.store(key, value(7n), 0, 0, "203.0.113.1");
  store.store(key, value(8n), 0, 0, "100.64.0.1"); // another /24
  const ids = store.get(key, 0).map((v) => v.id);
  assert.ok(ids.includes(6n) && ids.includes(7n) && ids.includes(8n));
  assert.equal(
    store.store(key, value(9n), 0, 0, "203.0.113.9").outcome,
    "rejected-quota",
  );
});

Deno.test("ValueStore.listen() caps listeners per node id and per origin", () => {
  const store = new ValueStore({
    maxListenersPerNodePerKey: 2,
    maxListenersPerOriginPerKey: 3,
  });
  const key = InfoHash.get("k");
  const listener = (node: string, socketId: number) => ({
    nodeId: InfoHash.get(node),
    address: { host: "192.0.2.1", port: 1 },
    socketId,
  });
  const at = (node: string, sid: number, host = "192.0.2.1") =>
    store.listen(key, listener(node, sid), 0, host).accepted;
  assert.ok(at("a", 1) && at("a", 2));
  assert.ok(!at("a", 3)); // per node id
  assert.ok(at("b", 1));
  assert.ok(!at("c", 1)); // per origin
  assert.ok(at("c", 1, "198.51.100.1"));
  assert.ok(at("a", 1)); // renewals pass
});

Deno.test("originOf: an IPv4-mapped IPv6 sender counts as its IPv4 address, not as the shared ::ffff /64", () => {
  // Two IPv4 peers seen through a dual-stack socket must be two origins in two
  // /24s, as they would be on an IPv4 socket; before, both were "0:0:0:0::/64".
  const a = originOf("::ffff:192.0.2.7");
  const b = originOf("[::ffff:198.51.100.1]");
  assert.deepEqual(a, originOf("192.0.2.7"));
  assert.deepEqual(b, originOf("198.51.100.1"));
  assert.notEqual(a.origin, b.origin);
  assert.notEqual(a.prefix, b.prefix);
  assert.equal(unmappedHost("2001:db8::1"), "2001:db8::1");
});

Deno.test("ValueStore.listen(): a node's listeners that lapsed or moved origin no longer count against its per-key cap", () => {
  const store = new ValueStore({ maxListenersPerNodePerKey: 2 });
  const key = InfoHash.get("k");
  const at = (socketId: number, nowMs: number, host = "192.0.2.1") =>
    store.listen(
      key,
      {
        nodeId: InfoHash.get("a"),
        address: { host, port: 1 },
        socketId,
      },
      nowMs,
      host,
    ).accepted;
  assert.ok(at(1, 0) && at(2, 0));
  assert.ok(!at(3, 0));
  // Socket 2 comes back from another origin: dropped and added once.
  assert.ok(at(2, 0, "198.51.100.1"));
  assert.ok(!at(3, 0));
  // Both lapse; the expiry sweep frees the node's two places.
  const later = LISTENER_LIFETIME_MS + 1;
  store.expire(later);
  assert.equal(store.stats().listeners, 0);
  assert.ok(at(3, later) && at(4, later));
  assert.ok(!at(5, later));
});
