/**
 * AccountState encoding (round trip, hostile bytes) and AccountStateStore's
 * coalesced writes, driven through a storage whose writes the test releases
 * one at a time.
 */
import assert from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import {
  type AccountState,
  AccountStateStore,
  decodeAccountState,
  emptyAccountState,
  encodeAccountState,
  StateCorruptError,
} from "../lib/contacts/account_state.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import type { Storage } from "../lib/storage.ts";

const ALICE = "a".repeat(40);
const BOB = "b".repeat(40);
const CAROL = "c".repeat(40);
const ID1 = "1".repeat(32);
const ID2 = "2".repeat(32);

function sampleState(): AccountState {
  const state = emptyAccountState();
  state.contacts.add(BOB, 1_000, true);
  state.contacts.remove(CAROL, true, 2_000);
  state.requests.set(CAROL, {
    from: CAROL,
    id: ID1,
    sentMs: 3_000,
    receivedMs: 3_500,
    payload: new Uint8Array([1, 2, 3]),
  });
  state.outbox.set(ID2, {
    id: ID2,
    kind: "request",
    to: BOB,
    payload: new Uint8Array([9]),
    createdMs: 4_000,
    expiresMs: 5_000,
    attempts: 3,
    nextMs: 4_500,
    sentTo: ["d".repeat(40)],
    delivered: false,
  });
  state.seen.set(ID1, { untilMs: 9_000, from: BOB, atMs: 1_500 });
  state.seenFloorMs = 1_200;
  state.peers.set(BOB, {
    uri: BOB,
    devices: [new Uint8Array([7, 7])],
    mailbox: new Uint8Array([8]),
    seenMs: 6_000,
    endpoints: new Map([["e".repeat(40), ["10.0.0.7:4000", "[::1]:4000"]]]),
  });
  state.peers.set(CAROL, {
    uri: CAROL,
    devices: [new Uint8Array([6])],
    seenMs: 6_500,
  });
  state.announcementSeq = 42;
  state.linkPort = 4_222;
  return state;
}

/** A storage whose `set` waits until the test releases it. */
class GatedStorage implements Storage {
  readonly inner = new MemoryStorage();
  readonly waiting: (() => void)[] = [];
  get(key: string) {
    return this.inner.get(key);
  }
  async set(key: string, value: Uint8Array) {
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    await this.inner.set(key, value);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  keys() {
    return this.inner.keys();
  }
  /** Lets the oldest blocked write go on. */
  release(): void {
    const next = this.waiting.shift();
    assert.ok(next, "no write is waiting");
    next();
  }
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("encodeAccountState() and decodeAccountState() round-trip every field", () => {
  const state = sampleState();
  const decoded = decodeAccountState(encodeAccountState(state));
  assert.deepEqual(decoded.contacts.all(), state.contacts.all());
  assert.deepEqual(decoded.requests, state.requests);
  assert.deepEqual(decoded.outbox, state.outbox);
  assert.deepEqual(decoded.seen, state.seen);
  assert.equal(decoded.seenFloorMs, 1_200);
  assert.deepEqual(decoded.peers, state.peers);
  assert.equal(decoded.announcementSeq, 42);
  assert.equal(decoded.linkPort, 4_222);
  // No port: the nine fields of before, read back without one.
  const portless = sampleState();
  delete portless.linkPort;
  const nine = decode(encodeAccountState(portless)) as unknown[];
  assert.equal(nine.length, 9);
  assert.equal(decodeAccountState(encode(nine)).linkPort, undefined);
});

Deno.test("decodeAccountState() throws TypeError for hostile bytes", () => {
  const good = encodeAccountState(sampleState());
  const flipped = good.slice();
  flipped[0] ^= 0xff;
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    good.subarray(0, good.length - 3),
    flipped,
    encode(["as2", [], [], [], [], [], 0]),
    encode(["as1", [], [], [], [], [], -1]),
    encode(["as1", [["not hex", 1, 0, false, false]], [], [], [], [], 0]),
    encode(["as1", [[BOB, 1.5, 0, false, false]], [], [], [], [], 0]),
    encode([
      "as1",
      [],
      [[BOB, "short", 1, 1, new Uint8Array()]],
      [],
      [],
      [],
      0,
    ]),
    encode([
      "as1",
      [],
      [],
      [[ID1, "bogus", BOB, new Uint8Array(), 0, 0, 0, 0, [], false]],
      [],
      [],
      0,
    ]),
    encode("as1"),
  ];
  // Remembered endpoints: a bad device id, too many devices or endpoints,
  // an endpoint too long, empty, with a space or not text.
  const peerWith = (endpoints: unknown) => {
    const raw = decode(good) as unknown[];
    (raw[5] as unknown[][])[0] = [BOB, [], null, 1, endpoints];
    return encode(raw);
  };
  const device = "e".repeat(40);
  // The link port: 0, past 65,535, not an integer, or an eleventh field.
  const withTop = (index: number, value: unknown) => {
    const raw = decode(good) as unknown[];
    raw[index] = value;
    return encode(raw);
  };
  cases.push(
    withTop(9, 0),
    withTop(9, 65_536),
    withTop(9, 80.5),
    withTop(9, "4222"),
    withTop(10, 1),
  );
  cases.push(
    peerWith([["nothex", ["h:1"]]]),
    peerWith([[device, ["h:1"]], ["f".repeat(40), ["h:1"]], [
      "1".repeat(40),
      [],
    ]]),
    peerWith([[device, ["a:1", "b:1", "c:1", "d:1", "e:1"]]]),
    peerWith([[device, ["x".repeat(65)]]]),
    peerWith([[device, [""]]]),
    peerWith([[device, ["a b:1"]]]),
    peerWith([[device, [7]]]),
    peerWith([[device]]),
    peerWith("not a list"),
  );
  for (const [index, bytes] of cases.entries()) {
    assert.throws(() => decodeAccountState(bytes), TypeError, `case ${index}`);
  }
});

Deno.test("AccountStateStore.load() throws StateCorruptError with the cause, and undefined when nothing is stored", async () => {
  const storage = new MemoryStorage();
  assert.equal(await AccountStateStore.load(storage, ALICE), undefined);
  await storage.set(
    AccountStateStore.keyFor(ALICE),
    new TextEncoder().encode("garbage"),
  );
  const caught = await AccountStateStore.load(storage, ALICE).then(
    () => assert.fail("loaded corrupt state"),
    (error: unknown) => error,
  );
  assert.ok(caught instanceof StateCorruptError);
  assert.ok(caught.cause instanceof TypeError);
  assert.match(
    caught.message,
    /^Cannot load account state "account-a+\.state"/,
  );
});

Deno.test("AccountStateStore.save() then load() gives the same state", async () => {
  const storage = new MemoryStorage();
  const store = new AccountStateStore(storage, ALICE, sampleState());
  await store.save();
  const loaded = await AccountStateStore.load(storage, ALICE);
  assert.ok(loaded);
  assert.deepEqual(
    encodeAccountState(loaded.state),
    encodeAccountState(store.state),
  );
  await store.remove();
  assert.deepEqual(await storage.keys(), []);
});

Deno.test("AccountStateStore coalesces saves into one write per write in flight", async () => {
  const storage = new GatedStorage();
  const store = new AccountStateStore(storage, ALICE, emptyAccountState());
  // Ten saves before the write starts: one write.
  store.state.contacts.add(BOB, 1);
  const first = Array.from({ length: 10 }, () => store.save());
  await settle();
  assert.equal(storage.waiting.length, 1);
  // Changes made while that write is in flight join the next write.
  store.state.contacts.add(CAROL, 2);
  const second = Array.from({ length: 10 }, () => store.save());
  await settle();
  assert.equal(storage.waiting.length, 1, "the second write waits its turn");
  let firstDone = false;
  let secondDone = false;
  Promise.all(first).then(() => firstDone = true);
  Promise.all(second).then(() => secondDone = true);
  storage.release();
  await settle();
  assert.equal(firstDone, true);
  assert.equal(secondDone, false, "resolved before its changes were durable");
  assert.equal(store.writes, 1);
  // The first write did not include Carol; the second does.
  const afterFirst = await AccountStateStore.load(storage, ALICE);
  assert.equal(afterFirst?.state.contacts.isActive(CAROL), false);
  assert.equal(storage.waiting.length, 1);
  storage.release();
  await settle();
  assert.equal(secondDone, true);
  assert.equal(store.writes, 2);
  const afterSecond = await AccountStateStore.load(storage, ALICE);
  assert.equal(afterSecond?.state.contacts.isActive(CAROL), true);
  assert.equal(storage.waiting.length, 0);
});

Deno.test("AccountStateStore.save() recovers after a failed write", async () => {
  let fail = true;
  const inner = new MemoryStorage();
  const storage: Storage = {
    get: (key) => inner.get(key),
    set: (key, value) =>
      fail ? Promise.reject(new Error("disk full")) : inner.set(key, value),
    delete: (key) => inner.delete(key),
    keys: () => inner.keys(),
  };
  const store = new AccountStateStore(storage, ALICE, emptyAccountState());
  store.state.contacts.add(BOB, 1);
  await assert.rejects(() => store.save(), /disk full/);
  fail = false;
  await store.save();
  assert.equal(store.writes, 1);
  const loaded = await AccountStateStore.load(storage, ALICE);
  assert.equal(loaded?.state.contacts.isActive(BOB), true);
});

Deno.test("decodeAccountState() reads the older state: 8 fields, seen ids without sender", () => {
  const old = encode([
    "as1",
    [],
    [],
    [],
    [[ID1, 9_000]],
    [],
    3,
    null,
  ]);
  const state = decodeAccountState(old);
  assert.deepEqual(state.seen.get(ID1), { untilMs: 9_000, from: "", atMs: 0 });
  assert.equal(state.seenFloorMs, 0);
  assert.equal(state.announcementSeq, 3);
});
