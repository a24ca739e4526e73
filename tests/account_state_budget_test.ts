/**
 * The account state's budgets fit its file: a state with every queue at its
 * limit, every field at its largest, encodes under
 * {@link MAX_STORAGE_VALUE_BYTES} (issue 18, item 1), and a store that would
 * overflow refuses the write with {@link StateFullError}, writing nothing.
 */
import assert from "node:assert/strict";
import {
  AccountStateStore,
  emptyAccountState,
  encodeAccountState,
  MAX_OUTBOX_ENTRIES,
  MAX_OUTBOX_PAYLOAD_BYTES,
  MAX_PEER_CERTIFICATE_BYTES,
  MAX_PEER_DEVICES,
  MAX_PEER_ENDPOINT_DEVICES,
  MAX_PEER_ENDPOINT_LENGTH,
  MAX_PEER_ENDPOINTS,
  MAX_PEERS,
  MAX_PENDING_PAYLOAD_BYTES,
  MAX_PENDING_REQUESTS,
  MAX_SEEN_IDS,
  MAX_SENT_TO_DEVICES,
  StateFullError,
} from "../lib/contacts/account_state.ts";
import { ContactList, MAX_CONTACTS } from "../lib/contacts/contact_list.ts";
import { MAX_RECORD_BODY_BYTES } from "../lib/identity/signed_record.ts";
import { MAX_STORAGE_VALUE_BYTES } from "../lib/storage.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";

const BIG = Number.MAX_SAFE_INTEGER;
const hex = (i: number, length: number) => i.toString(16).padStart(length, "f");

/** Splits `total` bytes over `count` payloads. */
function payloads(count: number, total: number): Uint8Array[] {
  return Array.from(
    { length: count },
    (_, i) =>
      new Uint8Array(
        Math.floor(total / count) + (i < total % count ? 1 : 0),
      ),
  );
}

function worstCaseState() {
  const state = {
    ...emptyAccountState(),
    contacts: new ContactList(
      Array.from({ length: MAX_CONTACTS }, (_, i) => ({
        uri: hex(i, 40),
        addedMs: BIG,
        removedMs: BIG,
        confirmed: false,
        banned: false,
      })),
    ),
  };
  payloads(MAX_PENDING_REQUESTS, MAX_PENDING_PAYLOAD_BYTES).forEach(
    (payload, i) =>
      state.requests.set(hex(i, 40), {
        from: hex(i, 40),
        id: hex(i, 32),
        sentMs: BIG,
        receivedMs: BIG,
        payload,
      }),
  );
  payloads(MAX_OUTBOX_ENTRIES, MAX_OUTBOX_PAYLOAD_BYTES).forEach(
    (payload, i) =>
      state.outbox.set(hex(i, 32), {
        id: hex(i, 32),
        kind: "request",
        to: hex(i, 40),
        payload,
        createdMs: BIG,
        expiresMs: BIG,
        attempts: BIG,
        nextMs: BIG,
        sentTo: Array.from(
          { length: MAX_SENT_TO_DEVICES },
          (_, j) => hex(j, 40),
        ),
        delivered: false,
      }),
  );
  for (let i = 0; i < MAX_SEEN_IDS; i++) {
    state.seen.set(hex(i, 32), { untilMs: BIG, from: hex(i, 40), atMs: BIG });
  }
  for (let i = 0; i < MAX_PEERS; i++) {
    state.peers.set(hex(i, 40), {
      uri: hex(i, 40),
      devices: Array.from(
        { length: MAX_PEER_DEVICES },
        () => new Uint8Array(MAX_PEER_CERTIFICATE_BYTES),
      ),
      mailbox: new Uint8Array(MAX_PEER_CERTIFICATE_BYTES),
      endpoints: new Map(
        Array.from({ length: MAX_PEER_ENDPOINT_DEVICES }, (_, j) => [
          hex(j, 40),
          Array.from(
            { length: MAX_PEER_ENDPOINTS },
            () => "x".repeat(MAX_PEER_ENDPOINT_LENGTH),
          ),
        ]),
      ),
      seenMs: BIG,
    });
  }
  state.announcementSeq = BIG;
  state.linkPort = 65_535;
  state.seenFloorMs = BIG;
  // The largest signed record a revocation list can be.
  state.revocationList = new Uint8Array(MAX_RECORD_BODY_BYTES + 512);
  return state;
}

Deno.test("the worst-case account state encodes under the storage limit", () => {
  const size = encodeAccountState(worstCaseState()).length;
  console.log(
    `worst-case state: ${size} bytes, limit ${MAX_STORAGE_VALUE_BYTES}`,
  );
  assert.ok(
    size <= MAX_STORAGE_VALUE_BYTES,
    `${size} > ${MAX_STORAGE_VALUE_BYTES}`,
  );
});

Deno.test("AccountStateStore.save() refuses a state over the limit with StateFullError and writes nothing", async () => {
  const storage = new MemoryStorage();
  const store = new AccountStateStore(
    storage,
    "a".repeat(40),
    worstCaseState(),
  );
  await store.save();
  const saved = await storage.get(AccountStateStore.keyFor("a".repeat(40)));
  // Past the budgets (as a bug or a state from elsewhere could be).
  for (let i = 0; i < 300; i++) {
    store.state.requests.set(hex(i, 40), {
      from: hex(i, 40),
      id: hex(i, 32),
      sentMs: 1,
      receivedMs: 1,
      payload: new Uint8Array(64_000),
    });
  }
  await assert.rejects(store.save(), StateFullError);
  assert.deepEqual(
    await storage.get(AccountStateStore.keyFor("a".repeat(40))),
    saved,
  );
  // Shrunk again, it saves.
  store.state.requests.clear();
  await store.save();
});
