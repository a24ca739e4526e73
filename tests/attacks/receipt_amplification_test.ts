/**
 * Issue 13 item 8, "receipt amplification": inbox values are public on the
 * DHT, so anyone can copy a sealed box and re-put it. Every copy was a
 * duplicate answered with a receipt (sealed to the sending device and to its
 * mailbox, after a DHT lookup of the mailbox) before any quota: 50 re-puts
 * of one 431-byte box made the target send 50 receipts. Now a duplicate is
 * acknowledged again at most once per message id per interval, and a
 * genuine retry after the sender's first retry delay still gets a receipt.
 *
 * Unit level: two accounts' deliveries over a fake DHT that queues every
 * put until the test hands it to the listeners, a ManualClock and seeded
 * RNGs.
 */
import assert from "node:assert/strict";
import { emptyAccountState } from "../../lib/contacts/account_state.ts";
import { rememberPeerDevice } from "../../lib/trust/recipients.ts";
import {
  DUPLICATE_RECEIPT_INTERVAL_MS,
  Inbox,
  MAX_DUPLICATE_RECEIPTS,
  MAX_DUPLICATE_RECEIPTS_PER_SENDER,
} from "../../lib/trust/inbox.ts";
import { OUR_PROFILE } from "../../lib/presence/presence_profile.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { NOW_MS, QueuedDht, settle, side } from "./_trust_pair.ts";

const REPUTS = 50;

Deno.test(`attack: ${REPUTS} re-puts of one public inbox box cost the target at most 2 receipts; a genuine retry still gets one`, async () => {
  const dht = new QueuedDht();
  const clock = new ManualClock(NOW_MS);
  const alice = side("alice", dht, clock);
  const bob = side("bob", dht, clock);
  rememberPeerDevice(alice.state.peers, bob.uri, bob.certificate, NOW_MS);

  // One genuine request, shown and acknowledged; the receipt is lost.
  const entry = alice.delivery.outbox.enqueue(
    "request",
    bob.uri,
    new Uint8Array(0),
    NOW_MS,
  );
  alice.delivery.attempt(entry);
  const [box] = dht.queue;
  assert.equal(dht.deliver(), 1);
  await settle();
  assert.equal(bob.state.requests.get(alice.uri)?.id, entry.id);
  assert.equal(bob.counters.receiptsSent, 1);
  dht.queue.splice(0);

  // The attacker copies the public value and re-puts it, in a burst.
  const before = {
    receipts: bob.counters.receiptsSent,
    boxes: bob.counters.boxesPut,
    gets: dht.gets,
  };
  for (let i = 0; i < REPUTS; i++) dht.queue.push(box);
  dht.deliver();
  await settle();
  assert.equal(bob.counters.dropped.duplicate, REPUTS);
  const receipts = bob.counters.receiptsSent - before.receipts;
  const boxes = bob.counters.boxesPut - before.boxes;
  const gets = dht.gets - before.gets;
  // At most one more receipt (one box: no mailbox known; one lookup).
  assert.ok(receipts <= 1, `${receipts} receipts for ${REPUTS} re-puts`);
  assert.ok(boxes <= 2, `${boxes} boxes for ${REPUTS} re-puts`);
  assert.ok(gets <= 1, `${gets} mailbox lookups for ${REPUTS} re-puts`);
  assert.equal(dht.queue.length, boxes);
  dht.queue.splice(0); // lost as well

  // Re-puts spread over time: one receipt per interval at most.
  for (let i = 0; i < REPUTS; i++) {
    clock.advance(100);
    dht.queue.push(box);
    dht.deliver();
  }
  await settle();
  assert.ok(
    bob.counters.receiptsSent - before.receipts <= 2,
    `${bob.counters.receiptsSent - before.receipts} receipts`,
  );
  dht.queue.splice(0);

  // Alice's genuine retry, after her first retry delay, is acknowledged.
  clock.advance(OUR_PROFILE.retryInitialMs);
  const receiptsBeforeRetry = bob.counters.receiptsSent;
  alice.delivery.attempt(entry);
  assert.equal(alice.counters.messagesSent, 2);
  assert.equal(dht.deliver(), 1);
  await settle();
  assert.equal(bob.counters.receiptsSent, receiptsBeforeRetry + 1);
  dht.deliver();
  await settle();
  assert.equal(entry.delivered, true);
});

Deno.test("attack: duplicate receipts are bounded per sender and in all, never by evicting a live entry", () => {
  const inbox = new Inbox(emptyAccountState());
  const id = (sender: number, n: number) =>
    `${sender.toString(16).padStart(8, "0")}${
      n.toString(16).padStart(24, "0")
    }`;
  const sender = (n: number) => n.toString(16).padStart(40, "0");
  // One sender cycling through many of its ids: at most the per-sender cap.
  let granted = 0;
  for (let n = 0; n < 100; n++) {
    if (inbox.mayAcknowledgeDuplicate(sender(0), id(0, n), NOW_MS)) granted++;
  }
  assert.equal(granted, MAX_DUPLICATE_RECEIPTS_PER_SENDER);
  // Many senders: at most the total cap within one interval.
  for (let s = 1; s < 400; s++) {
    for (let n = 0; n < MAX_DUPLICATE_RECEIPTS_PER_SENDER; n++) {
      if (inbox.mayAcknowledgeDuplicate(sender(s), id(s, n), NOW_MS)) {
        granted++;
      }
    }
  }
  assert.equal(granted, MAX_DUPLICATE_RECEIPTS);
  assert.equal(
    inbox.mayAcknowledgeDuplicate(sender(0), id(0, 0), NOW_MS),
    false,
  );
  // After the interval, ended entries make room again.
  const later = NOW_MS + DUPLICATE_RECEIPT_INTERVAL_MS;
  assert.equal(inbox.mayAcknowledgeDuplicate(sender(0), id(0, 0), later), true);
  assert.equal(
    inbox.mayAcknowledgeDuplicate(sender(0), id(0, 99), later),
    true,
  );
});
