/**
 * The persisted state of a Jami account: a round trip keeps every field,
 * hostile or damaged bytes are a `StateCorruptError` (with the previous
 * generation used when the storage keeps one), never a crash.
 */
import assert from "node:assert/strict";
import { StateCorruptError } from "../../lib/contacts/account_state.ts";
import {
  decodeJamiAccountState,
  emptyJamiAccountState,
  encodeJamiAccountState,
  JamiAccountStateStore,
} from "../../lib/jami/jami_account_state.ts";
import { MemoryStorage } from "../../lib/testing/memory_storage.ts";
import { FileStorage } from "../../lib/io/file_storage.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);

function sample() {
  const state = emptyJamiAccountState();
  state.contacts.add(B, 1_000, true);
  state.conversations.set(B, "c".repeat(40));
  state.requests.set(A, {
    from: A,
    receivedMs: 2_000,
    payload: new Uint8Array([1, 2, 3]),
    conversationId: "",
  });
  state.outbox.set("0".repeat(32), {
    id: "0".repeat(32),
    kind: "confirm",
    to: B,
    conversationId: "c".repeat(40),
    payload: new Uint8Array(),
    createdMs: 3_000,
    expiresMs: 4_000,
    sentTo: [A],
    attempts: 2,
    nextMs: 3_500,
    windowStartMs: 3_000,
    windowPuts: 1,
  });
  state.subscriptions.add(B);
  state.revocationList = new Uint8Array([0x30, 0x00]);
  return state;
}

Deno.test("encodeJamiAccountState() round-trips every field", () => {
  const state = sample();
  const back = decodeJamiAccountState(encodeJamiAccountState(state));
  assert.deepEqual(back.contacts.all(), state.contacts.all());
  assert.deepEqual(back.conversations, state.conversations);
  assert.deepEqual(back.requests, state.requests);
  assert.deepEqual(back.outbox, state.outbox);
  assert.deepEqual(back.subscriptions, state.subscriptions);
  assert.deepEqual(back.revocationList, state.revocationList);
});

Deno.test("decodeJamiAccountState() rejects hostile bytes with SyntaxError", () => {
  const good = JSON.parse(
    new TextDecoder().decode(encodeJamiAccountState(sample())),
  );
  const bad = [
    "not json",
    JSON.stringify({ ...good, v: 2 }),
    JSON.stringify({ ...good, contacts: [{ uri: "x" }] }),
    JSON.stringify({
      ...good,
      requests: [{ ...good.requests[0], payload: 5 }],
    }),
    JSON.stringify({ ...good, outbox: [{ ...good.outbox[0], kind: "other" }] }),
    JSON.stringify({
      ...good,
      outbox: [{ ...good.outbox[0], sentTo: new Array(33).fill(A) }],
    }),
    JSON.stringify({ ...good, conversations: [[B, "\n"]] }),
    JSON.stringify({
      ...good,
      requests: [{ ...good.requests[0], payload: "A".repeat(90_000) }],
    }),
  ];
  for (const text of bad) {
    assert.throws(
      () => decodeJamiAccountState(new TextEncoder().encode(text)),
      SyntaxError,
      text.slice(0, 60),
    );
  }
});

Deno.test("JamiAccountStateStore.load() falls back to the previous generation, else throws StateCorruptError", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // FileStorage keeps the previous generation of each key.
    const storage = await FileStorage.open(dir);
    const store = new JamiAccountStateStore(storage, A, sample());
    await store.save();
    await storage.set(JamiAccountStateStore.keyFor(A), new Uint8Array([1, 2]));
    const loaded = await JamiAccountStateStore.load(storage, A);
    assert.ok(loaded?.state.contacts.isActive(B));
    await storage.set(JamiAccountStateStore.keyFor(A), new Uint8Array([3]));
    await assert.rejects(
      JamiAccountStateStore.load(storage, A),
      StateCorruptError,
    );
    assert.equal(await JamiAccountStateStore.load(storage, B), undefined);
    // Without previous generations, damage is an error at once.
    const memory = new MemoryStorage();
    await memory.set(JamiAccountStateStore.keyFor(A), new Uint8Array([1]));
    await assert.rejects(
      JamiAccountStateStore.load(memory, A),
      StateCorruptError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
