/**
 * Inbox alone: what a received request or confirmation does to the account
 * state and what it asks of the account, for duplicates, the sender quota,
 * bans, older requests and the pending-request limit. Plain state, hand-made
 * messages, times given explicitly.
 */
import assert from "node:assert/strict";
import {
  forgetExpiredSeenIds,
  Inbox,
  rememberSeenId,
  SEEN_RETENTION_MS,
  SENDER_QUOTA_PER_HOUR,
} from "../lib/trust/inbox.ts";
import {
  type AccountState,
  emptyAccountState,
  MAX_PENDING_REQUESTS,
  MAX_SEEN_IDS,
} from "../lib/contacts/account_state.ts";
import type { InboxMessage } from "../lib/trust/inbox_message.ts";

const HOUR = 3_600_000;
const START_MS = 1_700_000_000_000;
const BOB = "b".repeat(40);
const CAROL = "c".repeat(40);

let nextId = 0;
function request(
  sentMs: number,
  payload = "hi",
): Extract<InboxMessage, { kind: "request" }> {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(12, ++nextId);
  return {
    kind: "request",
    id,
    sentMs,
    payload: new TextEncoder().encode(payload),
  };
}
function confirm(): Extract<InboxMessage, { kind: "confirm" }> {
  const { id } = request(0);
  return { kind: "confirm", id, sentMs: START_MS };
}

function setup(): { state: AccountState; inbox: Inbox } {
  const state = emptyAccountState();
  return { state, inbox: new Inbox(state) };
}

Deno.test("Inbox.receive() stores a new request, remembers its id and shows it once", () => {
  const { state, inbox } = setup();
  const message = request(START_MS - 5_000);
  const outcome = inbox.receive(BOB, message, START_MS);
  const stored = {
    from: BOB,
    id: message.id.toHex(),
    sentMs: START_MS - 5_000,
    receivedMs: START_MS,
    payload: message.payload,
  };
  assert.deepEqual(outcome, { kind: "newRequest", request: stored });
  assert.deepEqual(state.requests.get(BOB), stored);
  assert.equal(
    state.seen.get(message.id.toHex()),
    START_MS + SEEN_RETENTION_MS,
  );
  // The same message again (the sender missed our receipt).
  assert.deepEqual(inbox.receive(BOB, message, START_MS + 60_000), {
    kind: "dropped",
    reason: "duplicate",
  });
  assert.equal(state.requests.get(BOB)?.receivedMs, START_MS);
});

Deno.test(`Inbox.receive() drops a sender's messages over SENDER_QUOTA_PER_HOUR (${SENDER_QUOTA_PER_HOUR}) until its hour is over`, () => {
  const { state, inbox } = setup();
  const kinds: string[] = [];
  for (let i = 0; i < SENDER_QUOTA_PER_HOUR + 2; i++) {
    const outcome = inbox.receive(BOB, request(START_MS + i), START_MS + i);
    kinds.push(outcome.kind === "dropped" ? outcome.reason : outcome.kind);
  }
  assert.deepEqual(kinds, [
    ...Array(SENDER_QUOTA_PER_HOUR).fill("newRequest"),
    "quota",
    "quota",
  ]);
  // Dropped for the quota: not remembered, so a later copy is handled.
  assert.equal(state.seen.size, SENDER_QUOTA_PER_HOUR);
  // Another sender has its own window.
  assert.equal(
    inbox.receive(CAROL, request(START_MS), START_MS).kind,
    "newRequest",
  );
  // Heard again once the hour since the window opened is over.
  const late = request(START_MS + HOUR);
  assert.deepEqual(inbox.receive(BOB, late, START_MS + HOUR - 1), {
    kind: "dropped",
    reason: "quota",
  });
  assert.equal(inbox.receive(BOB, late, START_MS + HOUR).kind, "newRequest");
});

Deno.test("Inbox.receive() remembers a banned sender's message and drops it as banned, then as a duplicate", () => {
  const { state, inbox } = setup();
  state.contacts.remove(BOB, true, START_MS - 1_000);
  const message = request(START_MS);
  assert.deepEqual(inbox.receive(BOB, message, START_MS), {
    kind: "dropped",
    reason: "banned",
  });
  assert.equal(state.requests.size, 0);
  assert.ok(state.seen.has(message.id.toHex()));
  assert.deepEqual(inbox.receive(BOB, message, START_MS + 1), {
    kind: "dropped",
    reason: "duplicate",
  });
  assert.deepEqual(inbox.receive(BOB, confirm(), START_MS + 2), {
    kind: "dropped",
    reason: "banned",
  });
});

Deno.test("Inbox.receive() acknowledges a request older than the one held without showing it; a newer one replaces it", () => {
  const { state, inbox } = setup();
  const held = request(START_MS, "second");
  inbox.receive(BOB, held, START_MS + 1_000);
  const older = request(START_MS - 60_000, "first");
  assert.deepEqual(inbox.receive(BOB, older, START_MS + 2_000), {
    kind: "olderRequest",
  });
  assert.equal(state.requests.get(BOB)?.id, held.id.toHex());
  assert.ok(state.seen.has(older.id.toHex()));
  const newer = request(START_MS + 60_000, "third");
  const outcome = inbox.receive(BOB, newer, START_MS + 3_000);
  assert.equal(outcome.kind, "newRequest");
  assert.equal(state.requests.get(BOB)?.id, newer.id.toHex());
  assert.equal(state.requests.size, 1);
});

Deno.test("Inbox.receive() drops a new sender's request beyond MAX_PENDING_REQUESTS, not a held sender's newer one", () => {
  const { state, inbox } = setup();
  for (let i = 0; i < MAX_PENDING_REQUESTS; i++) {
    const from = i.toString(16).padStart(40, "0");
    state.requests.set(from, {
      from,
      id: i.toString(16).padStart(32, "0"),
      sentMs: START_MS,
      receivedMs: START_MS,
      payload: new Uint8Array(0),
    });
  }
  const refused = request(START_MS);
  assert.deepEqual(inbox.receive(BOB, refused, START_MS), {
    kind: "dropped",
    reason: "quota",
  });
  assert.equal(state.seen.has(refused.id.toHex()), false);
  const from = "0".repeat(40);
  assert.equal(
    inbox.receive(from, request(START_MS + 1), START_MS).kind,
    "newRequest",
  );
  assert.equal(state.requests.size, MAX_PENDING_REQUESTS);
});

Deno.test("Inbox.receive() answers a contact's request with a confirmation, once confirmed", () => {
  const { state, inbox } = setup();
  state.contacts.add(BOB, START_MS - 1_000);
  assert.deepEqual(inbox.receive(BOB, request(START_MS), START_MS), {
    kind: "contactRequest",
    confirmed: true,
  });
  assert.equal(state.contacts.get(BOB)?.confirmed, true);
  assert.equal(state.requests.size, 0);
  assert.deepEqual(inbox.receive(BOB, request(START_MS), START_MS), {
    kind: "contactRequest",
    confirmed: false,
  });
});

Deno.test("Inbox.receive() takes a confirmation: confirms an active contact and settles our requests; a stranger's only remembered", () => {
  const { state, inbox } = setup();
  state.contacts.add(BOB, START_MS - 1_000);
  assert.deepEqual(inbox.receive(BOB, confirm(), START_MS), {
    kind: "confirmation",
    confirmed: true,
    settle: true,
  });
  assert.deepEqual(inbox.receive(BOB, confirm(), START_MS), {
    kind: "confirmation",
    confirmed: false,
    settle: true,
  });
  const stranger = confirm();
  assert.deepEqual(inbox.receive(CAROL, stranger, START_MS), {
    kind: "confirmation",
    confirmed: false,
    settle: false,
  });
  assert.equal(state.contacts.get(CAROL), undefined);
  assert.ok(state.seen.has(stranger.id.toHex()));
});

Deno.test("rememberSeenId() forgets the id nearest its end of retention when full; forgetExpiredSeenIds() drops the ended ones", () => {
  const seen = new Map<string, number>();
  for (let i = 0; i < MAX_SEEN_IDS; i++) {
    // The first id is remembered last, so it ends last.
    rememberSeenId(seen, i.toString(16).padStart(32, "0"), START_MS - i);
  }
  rememberSeenId(seen, "f".repeat(32), START_MS + 1);
  assert.equal(seen.size, MAX_SEEN_IDS);
  const last = (MAX_SEEN_IDS - 1).toString(16).padStart(32, "0");
  assert.equal(seen.has(last), false);
  assert.equal(seen.get("f".repeat(32)), START_MS + 1 + SEEN_RETENTION_MS);
  const endMs = START_MS - 100 + SEEN_RETENTION_MS;
  assert.equal(forgetExpiredSeenIds(seen, endMs), true);
  // Ids remembered at START_MS - 100 or earlier are gone.
  assert.equal(seen.size, 100 + 1);
  assert.equal(forgetExpiredSeenIds(seen, endMs), false);
});
