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
  type OutboxEntry,
} from "../lib/contacts/account_state.ts";
import { OWN_SENDER, type SeenEntry } from "../lib/trust/seen_ids.ts";
import { mintStamp, stampChallenge } from "../lib/trust/stamp.ts";
import {
  MAX_CLOCK_SKEW_MS,
  REPLAY_WINDOW_MS,
} from "../lib/trust/replay_window.ts";
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
function confirm(
  requestId?: Uint8Array,
): Extract<InboxMessage, { kind: "confirm" }> {
  const { id } = request(0);
  return requestId === undefined
    ? { kind: "confirm", id, sentMs: START_MS }
    : { kind: "confirm", id, sentMs: START_MS, requestId };
}
function outboxRequest(id: string, to: string): OutboxEntry {
  return {
    id,
    kind: "request",
    to,
    payload: new Uint8Array(0),
    createdMs: START_MS - 500,
    expiresMs: START_MS + HOUR,
    attempts: 1,
    nextMs: START_MS,
    sentTo: [],
    delivered: false,
  };
}
const known = () => true;

function setup(): { state: AccountState; inbox: Inbox } {
  const state = emptyAccountState();
  // Stamps are tested on their own below.
  return { state, inbox: new Inbox(state, undefined, 0) };
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
    state.seen.get(message.id.toHex())?.untilMs,
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

Deno.test("Inbox.receive() makes room beyond MAX_PENDING_REQUESTS by pushing out the oldest stranger's request; a held sender's newer one replaces its own", () => {
  const { state, inbox } = setup();
  for (let i = 0; i < MAX_PENDING_REQUESTS; i++) {
    const from = i.toString(16).padStart(40, "0");
    state.requests.set(from, {
      from,
      id: i.toString(16).padStart(32, "0"),
      sentMs: START_MS,
      receivedMs: START_MS - MAX_PENDING_REQUESTS + i,
      payload: new Uint8Array(0),
    });
  }
  // The oldest is from a removed contact: a stranger's goes first.
  const removed = "0".repeat(40);
  state.contacts.add(removed, START_MS - HOUR);
  state.contacts.remove(removed, false, START_MS - HOUR + 1);
  const incoming = request(START_MS);
  assert.equal(inbox.receive(BOB, incoming, START_MS).kind, "newRequest");
  assert.equal(state.requests.size, MAX_PENDING_REQUESTS);
  assert.ok(state.requests.has(removed));
  assert.equal(state.requests.has("1".padStart(40, "0")), false);
  const held = "2".padStart(40, "0");
  assert.equal(
    inbox.receive(held, request(START_MS + 1), START_MS).kind,
    "newRequest",
  );
  assert.equal(state.requests.size, MAX_PENDING_REQUESTS);
  assert.ok(state.requests.has(BOB));
});

Deno.test("Inbox.receive() drops a stranger's request without a valid stamp before spending anything; a contact's needs none", () => {
  const state = emptyAccountState();
  const bits = 8;
  const inbox = new Inbox(state, undefined, bits);
  const to = new Uint8Array(20).fill(0xaa);
  const stamped = (
    message: Extract<InboxMessage, { kind: "request" }>,
    from: string,
  ) => ({
    ...message,
    to,
    stamp: mintStamp(
      stampChallenge({
        to,
        from: Uint8Array.fromHex(from),
        requestId: message.id,
        sentMs: message.sentMs,
      }),
      bits,
    ),
  });
  const bare = { ...request(START_MS), to };
  assert.deepEqual(inbox.receive(BOB, bare, START_MS), {
    kind: "dropped",
    reason: "stamp",
  });
  // A stamp for another sender, or another request, is no stamp.
  const forCarol = stamped(request(START_MS), CAROL);
  assert.equal(inbox.receive(BOB, forCarol, START_MS).kind, "dropped");
  const other = stamped(request(START_MS), BOB);
  const moved = { ...other, id: request(START_MS).id };
  assert.equal(inbox.receive(BOB, moved, START_MS).kind, "dropped");
  assert.equal(state.seen.size, 0);
  assert.equal(state.requests.size, 0);
  assert.equal(inbox.receive(BOB, other, START_MS).kind, "newRequest");
  // An active contact's request needs none.
  state.contacts.add(CAROL, START_MS);
  assert.equal(
    inbox.receive(CAROL, { ...request(START_MS), to }, START_MS).kind,
    "contactRequest",
  );
});

Deno.test("Inbox.allowSender() is a bounded LRU: a busy sender's window is not wiped by many others", () => {
  const inbox = new Inbox(emptyAccountState(), undefined, 0);
  for (let n = 0; n < SENDER_QUOTA_PER_HOUR; n++) {
    assert.ok(inbox.allowSender(BOB, START_MS));
  }
  // 5,000 others (more than the 4,096 windows), with Bob kept recently used.
  for (let i = 0; i < 5_000; i++) {
    inbox.allowSender(i.toString(16).padStart(40, "0"), START_MS);
    if (i % 1_000 === 0) assert.equal(inbox.allowSender(BOB, START_MS), false);
  }
  assert.equal(inbox.allowSender(BOB, START_MS), false);
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

Deno.test("Inbox.receive() takes a confirmation: it settles the one request of ours it names; one naming nothing, or from a stranger, is stale", () => {
  const { state, inbox } = setup();
  state.contacts.add(BOB, START_MS - 1_000);
  const ours = request(START_MS - 500).id;
  state.outbox.set(ours.toHex(), outboxRequest(ours.toHex(), BOB));
  // Naming no request of ours, while unconfirmed: stale, not remembered.
  const none = confirm();
  assert.deepEqual(inbox.receive(BOB, none, START_MS), {
    kind: "dropped",
    reason: "stale",
  });
  assert.equal(state.seen.has(none.id.toHex()), false);
  assert.equal(state.contacts.get(BOB)?.confirmed, false);
  // Naming ours: settles it.
  assert.deepEqual(inbox.receive(BOB, confirm(ours), START_MS), {
    kind: "confirmation",
    confirmed: true,
    settled: ours.toHex(),
  });
  // Once confirmed, another copy (another device of ours settled it) is taken.
  assert.deepEqual(inbox.receive(BOB, confirm(), START_MS), {
    kind: "confirmation",
    confirmed: false,
  });
  // A stranger's confirmation is stale, even naming our request.
  const stranger = confirm(ours);
  assert.deepEqual(inbox.receive(CAROL, stranger, START_MS), {
    kind: "dropped",
    reason: "stale",
  });
  assert.equal(state.contacts.get(CAROL), undefined);
  assert.equal(state.seen.has(stranger.id.toHex()), false);
});

Deno.test("Inbox.receive() refuses messages outside the replay window or sent before the sender's removal", () => {
  const { state, inbox } = setup();
  const stale = { kind: "dropped", reason: "stale" };
  assert.deepEqual(
    inbox.receive(BOB, request(START_MS - REPLAY_WINDOW_MS - 1), START_MS),
    stale,
  );
  assert.deepEqual(
    inbox.receive(BOB, request(START_MS + MAX_CLOCK_SKEW_MS + 1), START_MS),
    stale,
  );
  state.contacts.add(BOB, START_MS - 10_000);
  state.contacts.remove(BOB, false, START_MS - 5_000);
  assert.deepEqual(
    inbox.receive(BOB, request(START_MS - 5_001), START_MS),
    stale,
  );
  assert.equal(
    inbox.receive(BOB, request(START_MS - 5_000), START_MS).kind,
    "newRequest",
  );
});

Deno.test("rememberSeenId() forgets the id nearest its end of retention when full of known senders; forgetExpiredSeenIds() drops the ended ones", () => {
  const state = { seen: new Map<string, SeenEntry>(), seenFloorMs: 0 };
  for (let i = 0; i < MAX_SEEN_IDS; i++) {
    // The first id is remembered last, so it ends last.
    const id = i.toString(16).padStart(32, "0");
    rememberSeenId(state, id, OWN_SENDER, START_MS - i, START_MS - i, known);
  }
  const { seen } = state;
  rememberSeenId(
    state,
    "f".repeat(32),
    OWN_SENDER,
    START_MS,
    START_MS + 1,
    known,
  );
  assert.equal(seen.size, MAX_SEEN_IDS);
  const last = (MAX_SEEN_IDS - 1).toString(16).padStart(32, "0");
  assert.equal(seen.has(last), false);
  assert.equal(
    seen.get("f".repeat(32))?.untilMs,
    START_MS + 1 + SEEN_RETENTION_MS,
  );
  assert.equal(state.seenFloorMs, 0);
  const endMs = START_MS - 100 + SEEN_RETENTION_MS;
  assert.equal(forgetExpiredSeenIds(seen, endMs), true);
  // Ids remembered at START_MS - 100 or earlier are gone.
  assert.equal(seen.size, 100 + 1);
  assert.equal(forgetExpiredSeenIds(seen, endMs), false);
});

Deno.test("rememberSeenId() pushes out strangers' ids only, oldest first, raising the floor; refuses a stranger when only known ids are held", () => {
  const state = { seen: new Map<string, SeenEntry>(), seenFloorMs: 0 };
  const hex = (i: number) => i.toString(16).padStart(32, "0");
  const sender = (i: number) => i.toString(16).padStart(40, "0");
  const isKnown = (from: string) => from === BOB;
  rememberSeenId(state, hex(0), BOB, START_MS - 50, START_MS, isKnown);
  for (let i = 1; i < MAX_SEEN_IDS; i++) {
    const atMs = START_MS - 10_000 + i;
    assert.ok(
      rememberSeenId(state, hex(i), sender(i), atMs, START_MS, isKnown),
    );
  }
  // Full: a stranger's newcomer pushes out the oldest stranger's id.
  assert.ok(
    rememberSeenId(state, "f".repeat(32), CAROL, START_MS, START_MS, isKnown),
  );
  assert.equal(state.seen.has(hex(1)), false);
  assert.ok(state.seen.has(hex(0)));
  assert.equal(state.seenFloorMs, START_MS - 10_000 + 1);
  // Only known ids: a stranger is refused, nothing changes.
  const onlyKnown = { seen: new Map<string, SeenEntry>(), seenFloorMs: 0 };
  for (let i = 0; i < MAX_SEEN_IDS; i++) {
    rememberSeenId(onlyKnown, hex(i), OWN_SENDER, START_MS, START_MS, isKnown);
  }
  assert.equal(
    rememberSeenId(
      onlyKnown,
      "f".repeat(32),
      CAROL,
      START_MS,
      START_MS,
      isKnown,
    ),
    false,
  );
  assert.equal(onlyKnown.seen.size, MAX_SEEN_IDS);
  assert.ok(onlyKnown.seen.has(hex(0)));
});
