/**
 * Issue 13 item 2, "forged acceptance by replay": inbox values are public, so
 * anyone can capture a confirmation and put it again later. A confirmation
 * named no request and its send time was never checked; the seen-set
 * forgot ids after 8 days, or sooner when strangers' traffic filled its
 * 8,192 entries. Re-putting an old confirmation made a NEW request look
 * accepted while its target never saw it. Now a confirmation names the
 * request it answers, messages outside the replay window or sent before the
 * sender's removal are refused, and strangers cannot flush the seen-set.
 */
import assert from "node:assert/strict";
import { NOW_MS, QueuedDht, settle, type Side, side } from "./_trust_pair.ts";
import { rememberPeerDevice } from "../../lib/trust/recipients.ts";
import { Inbox, SENDER_QUOTA_PER_HOUR } from "../../lib/trust/inbox.ts";
import {
  emptyAccountState,
  MAX_SEEN_IDS,
} from "../../lib/contacts/account_state.ts";
import type { InboxMessage } from "../../lib/trust/inbox_message.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Scene {
  dht: QueuedDht;
  clock: ManualClock;
  alice: Side;
  bob: Side;
  /** Bob's confirmation of Alice's first request, as put on the DHT. */
  captured: {
    key: string;
    value: import("../../lib/dht/messages.ts").DhtValue;
  };
}

/**
 * Alice asks Bob, Bob accepts; the attacker keeps a copy of Bob's
 * confirmation box. Alice's first request is settled.
 */
async function acceptedOnce(): Promise<Scene> {
  const dht = new QueuedDht();
  const clock = new ManualClock(NOW_MS);
  const alice = side("alice", dht, clock);
  const bob = side("bob", dht, clock);
  rememberPeerDevice(alice.state.peers, bob.uri, bob.certificate, NOW_MS);
  rememberPeerDevice(bob.state.peers, alice.uri, alice.certificate, NOW_MS);
  alice.state.contacts.add(bob.uri, NOW_MS);
  const first = alice.delivery.outbox.enqueue(
    "request",
    bob.uri,
    new Uint8Array(0),
    NOW_MS,
  );
  alice.delivery.attempt(first);
  dht.deliver();
  await settle();
  assert.equal(bob.state.requests.get(alice.uri)?.id, first.id);
  dht.deliver(); // Bob's receipt
  await settle();
  // Bob accepts, as `Account.acceptTrustRequest` does.
  clock.advance(60_000);
  bob.state.requests.delete(alice.uri);
  bob.state.contacts.add(alice.uri, clock.now(), true);
  bob.delivery.outbox.enqueue(
    "confirm",
    alice.uri,
    Uint8Array.fromHex(first.id),
    clock.now(),
  );
  bob.delivery.sendConfirmations(alice.uri);
  assert.equal(dht.queue.length, 1);
  const captured = { ...dht.queue[0] };
  dht.deliver();
  await settle();
  assert.equal(alice.delivery.outbox.get(first.id), undefined);
  assert.deepEqual(
    alice.events.filter((event) => event.type === "trustRequestAccepted"),
    [{ type: "trustRequestAccepted", uri: bob.uri, requestId: first.id }],
  );
  dht.deliver(); // Alice's receipt
  await settle();
  alice.events.length = 0;
  return { dht, clock, alice, bob, captured };
}

/** Alice sends a new request that never reaches Bob. */
function lostRequest(scene: Scene): string {
  const { alice, bob, dht, clock } = scene;
  alice.state.contacts.add(bob.uri, clock.now());
  const entry = alice.delivery.outbox.enqueue(
    "request",
    bob.uri,
    new Uint8Array(0),
    clock.now(),
  );
  alice.delivery.attempt(entry);
  dht.queue.splice(0); // lost: Bob never sees it
  return entry.id;
}

/** The attacker re-puts the captured confirmation. */
async function replay(scene: Scene): Promise<void> {
  scene.dht.queue.push(scene.captured);
  scene.dht.deliver();
  await settle();
}

function assertStillPending(scene: Scene, requestId: string): void {
  const { alice, bob } = scene;
  assert.ok(
    alice.delivery.outbox.get(requestId) !== undefined,
    "the new request was settled by a replayed confirmation",
  );
  assert.deepEqual(
    alice.events.filter((event) => event.type === "trustRequestAccepted"),
    [],
  );
  assert.equal(bob.state.requests.size, 0);
}

/** Forgets the captured confirmation's id, as a flushed seen-set would. */
function forgetAllSeen(scene: Scene): void {
  scene.alice.state.seen.clear();
}

Deno.test("attack: a captured confirmation re-put after Alice removed Bob and asked again does not accept the new request", async () => {
  const scene = await acceptedOnce();
  const { alice, bob, clock } = scene;
  clock.advance(HOUR);
  alice.state.contacts.remove(bob.uri, false, clock.now());
  alice.delivery.outbox.dropAllTo(bob.uri);
  clock.advance(HOUR);
  const requestId = lostRequest(scene);
  // Even if the seen-set no longer held the confirmation's id.
  forgetAllSeen(scene);
  await replay(scene);
  assertStillPending(scene, requestId);
  assert.equal(alice.state.contacts.get(bob.uri)?.confirmed, false);
});

Deno.test("attack: a captured confirmation re-put when Alice asks an existing contact again names no new request", async () => {
  // Bob removed Alice on his side; Alice, who kept him, asks again.
  const scene = await acceptedOnce();
  const { bob, clock } = scene;
  clock.advance(HOUR);
  bob.state.contacts.remove(scene.alice.uri, false, clock.now());
  const requestId = lostRequest(scene);
  forgetAllSeen(scene);
  await replay(scene);
  assertStillPending(scene, requestId);
});

Deno.test("attack: a captured confirmation re-put after the seen-set's retention is outside the replay window", async () => {
  const scene = await acceptedOnce();
  const { alice, bob, clock } = scene;
  alice.state.contacts.remove(bob.uri, false, clock.now());
  alice.delivery.outbox.dropAllTo(bob.uri);
  // Long enough for the retry sweep to forget every seen id.
  for (let day = 0; day < 9; day++) clock.advance(DAY);
  alice.delivery.resume();
  clock.advance(0);
  assert.equal(alice.state.seen.size, 0);
  const requestId = lostRequest(scene);
  await replay(scene);
  assertStillPending(scene, requestId);
});

Deno.test("attack: throwaway accounts cannot flush the seen-set to replay a discarded request", () => {
  const state = emptyAccountState();
  // Stamps off: this is about the seen-set alone (stamps only raise the
  // flood's cost: tests/attacks/request_flood_test.ts).
  const inbox = new Inbox(state, undefined, 0);
  const bob = "b".repeat(40);
  const carol = "c".repeat(40);
  let counter = 0;
  const newId = () => {
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(12, ++counter);
    return id;
  };
  const request = (
    sentMs: number,
  ): Extract<InboxMessage, { kind: "request" }> => ({
    kind: "request",
    id: newId(),
    sentMs,
    payload: new Uint8Array([1]),
  });
  let now = NOW_MS;
  // Bob's request, discarded by Alice; Carol's, from a contact.
  const bobs = request(now - 1_000);
  assert.equal(inbox.receive(bob, bobs, now).kind, "newRequest");
  state.requests.delete(bob);
  state.contacts.add(carol, now - 10_000);
  const carols = request(now - 500);
  assert.equal(inbox.receive(carol, carols, now).kind, "contactRequest");
  // 400 throwaway accounts, each at its hourly quota, for 3 hours: requests
  // and confirmations naming nothing.
  const senders = Array.from(
    { length: 400 },
    (_, i) => (i + 1).toString(16).padStart(40, "0"),
  );
  let remembered = 0;
  for (let hour = 0; hour < 3; hour++) {
    now += HOUR;
    for (const sender of senders) {
      for (let n = 0; n < SENDER_QUOTA_PER_HOUR; n++) {
        const message: InboxMessage = n % 2 === 0
          ? request(now - 1_000 + n)
          : { kind: "confirm", id: newId(), sentMs: now - 1_000 + n };
        const outcome = inbox.receive(sender, message, now);
        if (outcome.kind !== "dropped") remembered++;
      }
    }
  }
  assert.ok(
    remembered > MAX_SEEN_IDS,
    `only ${remembered} messages taken: the flood did not fill the seen-set`,
  );
  // Alice discards the spam; the replay of Bob's discarded request is
  // refused, and Carol's id is kept.
  state.requests.clear();
  const outcome = inbox.receive(bob, bobs, now);
  assert.equal(outcome.kind, "dropped", JSON.stringify(outcome));
  assert.equal(state.requests.has(bob), false);
  assert.ok(state.seen.has(carols.id.toHex()));
});
