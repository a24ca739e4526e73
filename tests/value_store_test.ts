import assert from "node:assert/strict";
import { LISTENER_LIFETIME_MS, ValueStore } from "../lib/dht/value_store.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { ValueField } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";

const KEY = InfoHash.get("key");
const MINUTE = 60_000;
const LISTENER = {
  nodeId: InfoHash.get("listener"),
  address: { host: "10.0.0.9", port: 4222 },
  socketId: 5,
};

function value(id: bigint, data: number[], extra: Partial<DhtValue> = {}) {
  return { id, type: 0, data: new Uint8Array(data), ...extra };
}

Deno.test("ValueStore.store() keeps several values per key", () => {
  const store = new ValueStore();
  assert.equal(store.store(KEY, value(1n, [1]), 0, 0).outcome, "stored");
  assert.equal(store.store(KEY, value(2n, [2]), 0, 0).outcome, "stored");
  assert.deepEqual(store.get(KEY, 1).map((v) => v.id), [1n, 2n]);
});

Deno.test("ValueStore.store() expires a value at creation plus its type's lifetime", () => {
  const store = new ValueStore();
  store.store(KEY, value(1n, [1]), 0, 0); // type 0: 10 minutes
  store.store(KEY, value(2n, [2], { type: 5 }), 0, 0); // type 5: 1 minute
  assert.deepEqual(store.get(KEY, MINUTE - 1).map((v) => v.id), [1n, 2n]);
  assert.deepEqual(store.get(KEY, MINUTE).map((v) => v.id), [1n]);
  assert.deepEqual(store.get(KEY, 10 * MINUTE).map((v) => v.id), []);
});

Deno.test("ValueStore.store() counts lifetime from the earlier of the claimed creation and now", () => {
  const store = new ValueStore();
  // Claimed 9 minutes ago: 1 minute left.
  store.store(KEY, value(1n, [1]), 0, 9 * MINUTE);
  assert.equal(store.get(KEY, 10 * MINUTE - 1).length, 1);
  assert.equal(store.get(KEY, 10 * MINUTE).length, 0);
  // Claimed in the future: counted from now.
  store.store(KEY, value(2n, [2]), 100 * MINUTE, 20 * MINUTE);
  assert.equal(store.get(KEY, 30 * MINUTE - 1).length, 1);
  // Already expired: refused.
  assert.equal(
    store.store(KEY, value(3n, [3]), 0, 10 * MINUTE).outcome,
    "rejected-expired",
  );
});

Deno.test("ValueStore.store() treats the same id and content as a refresh from its creation time", () => {
  const store = new ValueStore();
  store.store(KEY, value(1n, [1]), 0, 0);
  // Re-put of the same creation: no extension (re-replication must not prolong).
  assert.equal(
    store.store(KEY, value(1n, [1]), 0, 5 * MINUTE).outcome,
    "refreshed",
  );
  assert.equal(store.get(KEY, 10 * MINUTE).length, 0);
  // Re-put created later: extends to its own creation plus the lifetime.
  store.store(KEY, value(2n, [2]), 0, 0);
  store.store(KEY, value(2n, [2]), 5 * MINUTE, 5 * MINUTE);
  assert.equal(store.get(KEY, 15 * MINUTE - 1).length, 1);
  assert.equal(store.get(KEY, 15 * MINUTE).length, 0);
});

Deno.test("ValueStore.store() refuses an unsigned edit and an older sequence, takes a newer one", () => {
  const store = new ValueStore();
  const owner = new Uint8Array(32).fill(7);
  store.store(KEY, value(1n, [1]), 0, 0);
  assert.equal(store.store(KEY, value(1n, [9]), 0, 0).outcome, "rejected-edit");
  store.store(
    KEY,
    value(2n, [1], { owner, seq: 5, signature: new Uint8Array(1) }),
    0,
    0,
  );
  assert.equal(
    store.store(
      KEY,
      value(2n, [2], { owner, seq: 4, signature: new Uint8Array(2) }),
      0,
      0,
    )
      .outcome,
    "rejected-edit",
  );
  assert.equal(
    store.store(
      KEY,
      value(2n, [3], { owner, seq: 6, signature: new Uint8Array(3) }),
      0,
      0,
    )
      .outcome,
    "replaced",
  );
  const other = new Uint8Array(32).fill(8);
  assert.equal(
    store.store(
      KEY,
      value(2n, [4], { owner: other, seq: 9, signature: new Uint8Array(4) }),
      0,
      0,
    )
      .outcome,
    "rejected-edit",
  );
  assert.deepEqual(
    store.get(KEY, 1).find((v) => v.id === 2n)?.data,
    new Uint8Array([3]),
  );
});

Deno.test("ValueStore.store() enforces per-key and total limits", () => {
  const store = new ValueStore({ maxValuesPerKey: 2, maxTotalBytes: 10 });
  assert.equal(store.store(KEY, value(1n, [1]), 0, 0).outcome, "stored");
  assert.equal(store.store(KEY, value(2n, [2]), 0, 0).outcome, "stored");
  assert.equal(
    store.store(KEY, value(3n, [3]), 0, 0).outcome,
    "rejected-quota",
  );
  const other = InfoHash.get("other");
  assert.equal(
    store.store(other, value(4n, new Array(9).fill(0)), 0, 0).outcome,
    "rejected-quota",
  );
  assert.equal(
    store.store(other, value(5n, new Array(8).fill(0)), 0, 0).outcome,
    "stored",
  );
  assert.equal(store.stats().bytes, 10);
  const big = new ValueStore();
  assert.equal(
    big.store(KEY, value(1n, new Array(65_537).fill(0)), 0, 0).outcome,
    "rejected-size",
  );
});

Deno.test("ValueStore.listen() pushes existing values, then new, refreshed and expired ones", () => {
  const store = new ValueStore();
  store.store(KEY, value(1n, [1]), 0, 0);
  const first = store.listen(KEY, LISTENER, 0);
  assert.ok(first.accepted);
  assert.deepEqual(first.notices.map((n) => n.values?.map((v) => v.id)), [[
    1n,
  ]]);
  // Renewal: no push again.
  assert.deepEqual(store.listen(KEY, LISTENER, 1).notices, []);
  const added = store.store(KEY, value(2n, [2]), 2, 2);
  assert.deepEqual(added.notices.map((n) => n.values?.map((v) => v.id)), [[
    2n,
  ]]);
  const refreshed = store.refresh(KEY, 1n, 3);
  assert.ok(refreshed.found);
  assert.deepEqual(refreshed.notices.map((n) => n.refreshed), [[1n]]);
  // Value 2 expires at 10 min + 2 ms; value 1 was refreshed to 10 min + 3 ms.
  store.listen(KEY, LISTENER, 5 * MINUTE); // keep the lease alive
  const expired = store.expire(10 * MINUTE + 2);
  assert.deepEqual(expired.notices.map((n) => n.expired), [[2n]]);
});

Deno.test("ValueStore.listen() filters pushes with the listener's where-clause", () => {
  const store = new ValueStore();
  store.listen(KEY, {
    ...LISTENER,
    query: { select: [], where: [{ field: ValueField.ValueType, value: 3 }] },
  }, 0);
  assert.deepEqual(store.store(KEY, value(1n, [1]), 0, 0).notices, []);
  assert.equal(
    store.store(KEY, value(2n, [2], { type: 3 }), 0, 0).notices.length,
    1,
  );
});

Deno.test("ValueStore.expire() forgets listeners 10 minutes after their last listen", () => {
  const store = new ValueStore();
  store.listen(KEY, LISTENER, 0);
  assert.equal(store.stats().listeners, 1);
  store.expire(LISTENER_LIFETIME_MS - 1);
  assert.equal(store.stats().listeners, 1);
  store.expire(LISTENER_LIFETIME_MS);
  assert.equal(store.stats().listeners, 0);
  assert.deepEqual(
    store.store(KEY, value(1n, [1]), 0, LISTENER_LIFETIME_MS).notices,
    [],
  );
});

Deno.test("ValueStore.listen() refuses listeners beyond the per-key limit", () => {
  const store = new ValueStore({ maxListenersPerKey: 1 });
  assert.ok(store.listen(KEY, LISTENER, 0).accepted);
  assert.ok(!store.listen(KEY, { ...LISTENER, socketId: 6 }, 0).accepted);
});

Deno.test("ValueStore.refresh() reports unknown keys and values as not found", () => {
  const store = new ValueStore();
  assert.equal(store.refresh(KEY, 1n, 0).found, false);
  store.store(KEY, value(1n, [1]), 0, 0);
  assert.equal(store.refresh(KEY, 2n, 0).found, false);
  assert.equal(store.refresh(KEY, 1n, 10 * MINUTE).found, false);
});

Deno.test("ValueStore.nextExpiryMs() follows stores and expiries, never late", () => {
  const store = new ValueStore();
  assert.equal(store.nextExpiryMs(), undefined);
  store.store(KEY, value(1n, [1]), 0, 0); // expires at 10 minutes
  assert.equal(store.nextExpiryMs(), 10 * MINUTE);
  store.store(KEY, value(2n, [2], { type: 5 }), 0, 0); // at 1 minute
  assert.equal(store.nextExpiryMs(), MINUTE);
  // A refresh moves value 2 to 1:30; the answer may stay early, never late.
  store.refresh(KEY, 2n, 30_000);
  const afterRefresh = store.nextExpiryMs() ?? Infinity;
  assert.ok(afterRefresh <= MINUTE + 30_000, `${afterRefresh}`);
  store.expire(afterRefresh);
  assert.equal(store.nextExpiryMs(), MINUTE + 30_000);
  store.expire(MINUTE + 30_000);
  assert.deepEqual(store.get(KEY, MINUTE + 30_000).map((v) => v.id), [1n]);
  assert.equal(store.nextExpiryMs(), 10 * MINUTE);
  store.expire(10 * MINUTE);
  assert.equal(store.nextExpiryMs(), undefined);
});

Deno.test("ValueStore: one origin cannot store more than its byte quota, and expiry gives it back", () => {
  const store = new ValueStore({ maxBytesPerOrigin: 3_000 });
  const key = InfoHash.get("inbox:victim");
  const value = (id: number) => ({
    id: BigInt(id),
    type: 0,
    data: new Uint8Array(1_000),
  });
  const outcomes = [1, 2, 3, 4].map((id) =>
    store.store(key, value(id), 0, 0, "192.0.2.7").outcome
  );
  assert.deepEqual(outcomes.slice(0, 2), ["stored", "stored"]);
  assert.equal(outcomes.at(-1), "rejected-quota");
  // Another origin is not affected.
  assert.equal(store.store(key, value(9), 0, 0, "192.0.2.8").outcome, "stored");
  const used = store.originBytes("192.0.2.7");
  assert.ok(used > 0 && used <= 3_000);
  store.expire(10 * 60_000);
  assert.equal(store.originBytes("192.0.2.7"), 0);
  assert.equal(
    store.store(key, value(5), 600_000, 600_000, "192.0.2.7").outcome,
    "stored",
  );
});
