/**
 * mergeSyncSnapshot() alone: a hand-built snapshot from "the laptop" merged
 * into "the phone"'s state; each test asserts the events, the bans, the
 * outbox changes handed back and what the state holds after. (The swarm
 * version, two real devices, is device_sync_test.ts.)
 */
import assert from "node:assert/strict";
import {
  type MergeSyncOptions,
  mergeSyncSnapshot,
} from "../lib/contacts/device_sync.ts";
import {
  type AccountState,
  emptyAccountState,
  MAX_OUTBOX_ENTRIES,
  type OutboxEntry,
  type PendingRequest,
} from "../lib/contacts/account_state.ts";
import type { Contact } from "../lib/contacts/contact_list.ts";
import type { SyncSnapshot } from "../lib/contacts/sync_snapshot.ts";
import { INBOX_LIFETIME_MS } from "../lib/trust/inbox_message.ts";
import { SEEN_RETENTION_MS } from "../lib/trust/inbox.ts";

const NOW_MS = 1_700_000_000_000;
const SELF = "a".repeat(40);
const BOB = "b".repeat(40);
const CAROL = "c".repeat(40);
const OPTIONS: MergeSyncOptions = {
  accountId: SELF,
  nowMs: NOW_MS,
  retryInitialMs: 30_000,
};

function snapshot(parts: Partial<SyncSnapshot>): SyncSnapshot {
  return {
    sentMs: NOW_MS - 1_000,
    contacts: [],
    requests: [],
    outbox: [],
    seen: [],
    ...parts,
  };
}
function contact(uri: string, fields: Partial<Contact>): Contact {
  return {
    uri,
    addedMs: 0,
    removedMs: 0,
    confirmed: false,
    banned: false,
    ...fields,
  };
}
function pending(from: string, id: string): PendingRequest {
  return {
    from,
    id,
    sentMs: NOW_MS - 60_000,
    receivedMs: NOW_MS - 50_000,
    payload: new Uint8Array([1]),
  };
}
function entry(
  id: string,
  to: string,
  createdMs = NOW_MS - 10_000,
): OutboxEntry {
  return {
    id,
    kind: "request",
    to,
    payload: new Uint8Array(0),
    createdMs,
    expiresMs: createdMs + INBOX_LIFETIME_MS,
    attempts: 0,
    nextMs: 0,
    sentTo: [],
    delivered: false,
  };
}
const id = (n: number) => n.toString(16).padStart(32, "0");

Deno.test("mergeSyncSnapshot() reports contacts added, confirmed, removed and banned, and never adds the account itself", () => {
  const phone = emptyAccountState();
  phone.contacts.add(CAROL, NOW_MS - 90_000);
  phone.requests.set(BOB, pending(BOB, id(1)));
  const result = mergeSyncSnapshot(
    phone,
    snapshot({
      contacts: [
        contact(SELF, { addedMs: NOW_MS - 5_000 }),
        contact(BOB, { addedMs: NOW_MS - 5_000, confirmed: true }),
        contact(CAROL, {
          addedMs: NOW_MS - 90_000,
          removedMs: NOW_MS - 4_000,
          banned: true,
        }),
      ],
    }),
    OPTIONS,
  );
  assert.deepEqual(result.events, [
    { type: "contactAdded", uri: BOB, confirmed: true },
    { type: "contactRemoved", uri: CAROL, banned: true },
  ]);
  assert.deepEqual(result.banned, [CAROL]);
  assert.equal(phone.contacts.get(SELF), undefined);
  // Bob is a contact now: his pending request is settled.
  assert.equal(phone.requests.size, 0);
  assert.equal(result.discarded, false);
  // Nothing new the second time.
  const again = mergeSyncSnapshot(
    phone,
    snapshot({ contacts: phone.contacts.all() }),
    OPTIONS,
  );
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.banned, []);
});

Deno.test("mergeSyncSnapshot() adopts the other device's pending requests unless handled, known or banned here", () => {
  const phone = emptyAccountState();
  phone.seen.set(id(2), { untilMs: NOW_MS + 1_000, from: "", atMs: NOW_MS });
  phone.contacts.remove(CAROL, true, NOW_MS - 1_000);
  const dave = "d".repeat(40);
  const result = mergeSyncSnapshot(
    phone,
    snapshot({
      requests: [
        pending(BOB, id(1)),
        pending(dave, id(2)),
        pending(CAROL, id(3)),
      ],
    }),
    OPTIONS,
  );
  assert.deepEqual(result.events, [{
    type: "incomingTrustRequest",
    from: BOB,
    payload: new Uint8Array([1]),
    receiveTime: NOW_MS - 50_000,
  }]);
  assert.deepEqual([...phone.requests.keys()], [BOB]);
  assert.equal(phone.seen.get(id(1))?.untilMs, NOW_MS + SEEN_RETENTION_MS);
});

Deno.test("mergeSyncSnapshot() discards a request the other device handled and no longer holds", () => {
  const phone = emptyAccountState();
  phone.requests.set(BOB, pending(BOB, id(1)));
  phone.requests.set(CAROL, pending(CAROL, id(2)));
  const result = mergeSyncSnapshot(
    phone,
    snapshot({ requests: [pending(CAROL, id(2))], seen: [id(1), id(2)] }),
    OPTIONS,
  );
  assert.equal(result.discarded, true);
  assert.deepEqual(result.events, []);
  assert.deepEqual([...phone.requests.keys()], [CAROL]);
});

Deno.test("mergeSyncSnapshot() remembers the handled ids and settles our outbox entries among them", () => {
  const phone = emptyAccountState();
  phone.outbox.set(id(7), entry(id(7), BOB));
  phone.outbox.set(id(8), entry(id(8), CAROL));
  const result = mergeSyncSnapshot(
    phone,
    snapshot({ seen: [id(7), id(9), id(7)] }),
    OPTIONS,
  );
  assert.deepEqual(result.settled, [id(7)]);
  // The outbox itself is the caller's to change.
  assert.equal(phone.outbox.size, 2);
  assert.deepEqual([...phone.seen.keys()], [id(7), id(9)]);
});

Deno.test("mergeSyncSnapshot() adopts the other device's outbox entries, due after retryInitialMs, unless known, handled or expired", () => {
  const phone = emptyAccountState();
  phone.outbox.set(id(1), entry(id(1), BOB));
  phone.seen.set(id(2), { untilMs: NOW_MS + 1_000, from: "", atMs: NOW_MS });
  const fresh = entry(id(3), CAROL);
  const expired = entry(id(4), CAROL, NOW_MS - INBOX_LIFETIME_MS);
  const result = mergeSyncSnapshot(
    phone,
    snapshot({
      outbox: [entry(id(1), BOB), entry(id(2), BOB), expired, fresh, fresh],
    }),
    OPTIONS,
  );
  assert.deepEqual(result.adopted, [fresh]);
  assert.equal(fresh.nextMs, NOW_MS + 30_000);
  assert.equal(phone.outbox.size, 1);
});

Deno.test("mergeSyncSnapshot() adopts no more outbox entries than fit, counting the settled ones as gone", () => {
  const phone: AccountState = emptyAccountState();
  for (let i = 0; i < MAX_OUTBOX_ENTRIES; i++) {
    phone.outbox.set(id(i), entry(id(i), BOB));
  }
  const offered = [entry(id(5_000), CAROL), entry(id(5_001), CAROL)];
  const full = mergeSyncSnapshot(
    phone,
    snapshot({ outbox: offered }),
    OPTIONS,
  );
  assert.deepEqual(full.adopted, []);
  const settledOne = mergeSyncSnapshot(
    phone,
    snapshot({ outbox: offered, seen: [id(0)] }),
    OPTIONS,
  );
  assert.deepEqual(settledOne.settled, [id(0)]);
  assert.deepEqual(settledOne.adopted.map((adopted) => adopted.id), [
    id(5_000),
  ]);
});
