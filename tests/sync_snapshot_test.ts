/**
 * Sync snapshots: round trip, the size cap (payloads dropped first, then
 * the oldest items), and hostile bytes.
 */
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  decodeSyncSnapshot,
  encodeSyncSnapshot,
  MAX_SNAPSHOT_BYTES,
} from "../lib/contacts/sync_snapshot.ts";
import { emptyAccountState } from "../lib/contacts/account_state.ts";

const hex40 = (n: number) => n.toString(16).padStart(40, "0");
const hex32 = (n: number) => n.toString(16).padStart(32, "0");

Deno.test("encodeSyncSnapshot() and decodeSyncSnapshot() round-trip contacts, requests, outbox and seen ids", () => {
  const state = emptyAccountState();
  state.contacts.add(hex40(1), 1_000, true);
  state.contacts.remove(hex40(2), true, 2_000);
  state.requests.set(hex40(3), {
    from: hex40(3),
    id: hex32(1),
    sentMs: 5,
    receivedMs: 6,
    payload: new Uint8Array([1, 2]),
  });
  state.outbox.set(hex32(2), {
    id: hex32(2),
    kind: "confirm",
    to: hex40(1),
    payload: new Uint8Array(0),
    createdMs: 7,
    expiresMs: 8,
    attempts: 4,
    nextMs: 9,
    sentTo: [hex40(9)],
    delivered: false,
  });
  state.seen.set(hex32(3), { untilMs: 10, from: "", atMs: 1 });
  const snapshot = decodeSyncSnapshot(encodeSyncSnapshot(state, 99));
  assert.equal(snapshot.sentMs, 99);
  assert.deepEqual(
    snapshot.contacts.sort((x, y) => x.uri.localeCompare(y.uri)),
    state.contacts.all().sort((x, y) => x.uri.localeCompare(y.uri)),
  );
  assert.deepEqual(snapshot.requests, [...state.requests.values()]);
  // Retry bookkeeping is the receiving device's own business.
  assert.deepEqual(snapshot.outbox, [{
    ...state.outbox.get(hex32(2))!,
    attempts: 0,
    nextMs: 0,
    sentTo: [],
  }]);
  assert.deepEqual(snapshot.seen, [hex32(3)]);
});

Deno.test("encodeSyncSnapshot() fits MAX_SNAPSHOT_BYTES, dropping payloads first, then the oldest items", () => {
  const state = emptyAccountState();
  for (let i = 0; i < 200; i++) {
    state.requests.set(hex40(i), {
      from: hex40(i),
      id: hex32(i),
      sentMs: i,
      receivedMs: i,
      payload: new Uint8Array(1_000),
    });
  }
  const light = decodeSyncSnapshot(encodeSyncSnapshot(state, 1));
  assert.equal(light.requests.length, 200);
  assert.ok(light.requests.every((r) => r.payload.length === 0));
  for (let i = 0; i < 3_000; i++) state.contacts.add(hex40(10_000 + i), i + 1);
  const bytes = encodeSyncSnapshot(state, 1);
  assert.ok(bytes.length <= MAX_SNAPSHOT_BYTES, `${bytes.length} bytes`);
  const cut = decodeSyncSnapshot(bytes);
  assert.ok(cut.contacts.length < 3_000);
  // The newest contacts are the ones kept.
  const newest = Math.max(...cut.contacts.map((c) => c.addedMs));
  assert.equal(newest, 3_000);
});

Deno.test("decodeSyncSnapshot() throws TypeError for hostile bytes", () => {
  const cases = [
    encode(["ss2", 1, [], [], [], []]),
    encode(["ss1", -1, [], [], [], []]),
    encode(["ss1", 1, [["xyz", 1, 0, false, false]], [], [], []]),
    encode([
      "ss1",
      1,
      [],
      [[hex40(1), "short", 1, 1, new Uint8Array()]],
      [],
      [],
    ]),
    encode(["ss1", 1, [], [], [[
      hex32(1),
      "gift",
      hex40(1),
      new Uint8Array(),
      1,
      1,
      false,
    ]], []]),
    encode(["ss1", 1, [], [], [], ["nothex"]]),
    new Uint8Array(MAX_SNAPSHOT_BYTES + 1),
    // Not msgpack at all.
    new Uint8Array([0xc1]),
    new Uint8Array(0),
    new Uint8Array([0x92, 0x01]),
  ];
  for (const [index, bytes] of cases.entries()) {
    assert.throws(() => decodeSyncSnapshot(bytes), TypeError, `case ${index}`);
  }
});
