/**
 * TrustDelivery alone: two accounts' deliveries over a fake DhtClient that
 * keeps every put until the test hands it to the listeners at that key, a
 * ManualClock and a seeded RNG. Each test follows one message end to end:
 * sealed, put, opened, decided, persisted, shown, acknowledged.
 */
import assert from "node:assert/strict";
import { rememberPeerDevice } from "../lib/trust/recipients.ts";
import { INBOX_VALUE_TYPE, inboxKey } from "../lib/trust/inbox_message.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { NOW_MS, QueuedDht, settle, side } from "./attacks/_trust_pair.ts";

/** Alice knows Bob's device (as if she had seen it announced). */
function pair() {
  const dht = new QueuedDht();
  const clock = new ManualClock(NOW_MS);
  const alice = side("alice", dht, clock);
  const bob = side("bob", dht, clock);
  rememberPeerDevice(alice.state.peers, bob.uri, bob.certificate, NOW_MS);
  return { dht, clock, alice, bob };
}

Deno.test("TrustDelivery: a request is shown once persisted, and its receipt marks it delivered", async () => {
  const { dht, alice, bob } = pair();
  const entry = alice.delivery.outbox.enqueue(
    "request",
    bob.uri,
    new TextEncoder().encode("hi"),
    NOW_MS,
  );
  alice.delivery.attempt(entry);
  assert.equal(alice.counters.messagesSent, 1);
  assert.equal(dht.deliver(), 1);
  // Stored, not shown yet: shown after the save.
  assert.equal(bob.state.requests.get(alice.uri)?.id, entry.id);
  assert.deepEqual(bob.events, []);
  await settle();
  assert.deepEqual(bob.events, [{
    type: "incomingTrustRequest",
    from: alice.uri,
    payload: new TextEncoder().encode("hi"),
    receiveTime: NOW_MS,
  }]);
  // The receipt went to Alice's device; no mailbox known, so one lookup.
  assert.equal(bob.counters.receiptsSent, 1);
  assert.equal(dht.gets, 1);
  assert.equal(dht.deliver(), 1);
  await settle();
  assert.equal(entry.delivered, true);
  assert.deepEqual(alice.events, [{
    type: "trustRequestDelivered",
    uri: bob.uri,
    requestId: entry.id,
  }]);
  // Delivered: no more sends.
  alice.delivery.attempt(entry);
  assert.equal(alice.counters.messagesSent, 1);
});

Deno.test("TrustDelivery: a redelivered request is dropped as a duplicate and acknowledged again at once", async () => {
  const { dht, alice, bob } = pair();
  const entry = alice.delivery.outbox.enqueue(
    "request",
    bob.uri,
    new Uint8Array(0),
    NOW_MS,
  );
  alice.delivery.attempt(entry);
  const [box] = dht.queue;
  dht.deliver();
  await settle();
  dht.queue.splice(0);
  dht.queue.push(box);
  dht.deliver();
  assert.equal(bob.counters.dropped.duplicate, 1);
  assert.equal(bob.counters.receiptsSent, 2);
  assert.equal(dht.queue.length, 1);
  await settle();
  assert.equal(bob.events.length, 1);
});

Deno.test("TrustDelivery: a box that does not open is counted as malformed, and nothing is sent back", () => {
  const { dht, bob } = pair();
  dht.put(inboxKey(bob.device.id), {
    id: 1n,
    type: INBOX_VALUE_TYPE,
    data: new Uint8Array([0x93, 1, 2, 3]),
  });
  dht.deliver();
  assert.equal(bob.counters.dropped.malformed, 1);
  assert.equal(dht.queue.length, 0);
});

Deno.test("TrustDelivery: a confirmation naming our request settles it, reported as accepted", async () => {
  const { dht, alice, bob } = pair();
  alice.state.contacts.add(bob.uri, NOW_MS);
  const request = alice.delivery.outbox.enqueue(
    "request",
    bob.uri,
    new Uint8Array(0),
    NOW_MS,
  );
  // Bob accepts: his confirmation goes to Alice's device.
  rememberPeerDevice(bob.state.peers, alice.uri, alice.certificate, NOW_MS);
  bob.state.contacts.add(alice.uri, NOW_MS, true);
  bob.delivery.outbox.enqueue(
    "confirm",
    alice.uri,
    Uint8Array.fromHex(request.id),
    NOW_MS,
  );
  bob.delivery.sendConfirmations(alice.uri);
  assert.equal(dht.deliver(), 1);
  await settle();
  assert.equal(alice.delivery.outbox.get(request.id), undefined);
  assert.deepEqual(alice.events, [
    { type: "contactAdded", uri: bob.uri, confirmed: true },
    { type: "trustRequestAccepted", uri: bob.uri, requestId: request.id },
  ]);
  // Alice's receipt reaches Bob: his confirmation is done.
  dht.deliver();
  await settle();
  assert.equal(bob.delivery.outbox.size, 0);
  assert.deepEqual(bob.events, [{
    type: "confirmationDelivered",
    uri: alice.uri,
  }]);
});

Deno.test("TrustDelivery.resume() sweeps the outbox on the retry timer until a receipt stops it", async () => {
  const { dht, clock, alice, bob } = pair();
  alice.delivery.outbox.enqueue("request", bob.uri, new Uint8Array(0), NOW_MS);
  alice.delivery.resume();
  clock.advance(0);
  assert.equal(alice.counters.messagesSent, 1);
  clock.advance(30_000);
  clock.advance(60_000);
  assert.equal(alice.counters.messagesSent, 3);
  // The same sealed box each time.
  const boxes = new Set(dht.queue.map(({ value }) => value.data.toHex()));
  assert.equal(boxes.size, 1);
  dht.deliver(); // three copies: one shown, two duplicates
  await settle();
  assert.equal(bob.counters.dropped.duplicate, 2);
  dht.deliver(); // three receipts: the first settles the entry
  await settle();
  clock.advance(60 * 60_000);
  assert.equal(alice.counters.messagesSent, 3);
  alice.delivery.stopRetries();
});
