/**
 * The periodic `get` of the inbox keys (issue 13, item 3, defence in depth):
 * a value no listener heard is still found, on the injected clock, within
 * one jittered poll interval; a value already taken is skipped by later
 * polls; stopping ends the polls. Virtual time, fake DHT whose listeners
 * never hear anything.
 */
import assert from "node:assert/strict";
import { NOW_MS, QueuedDht, settle, side } from "./attacks/_trust_pair.ts";
import type { GetCallbacks } from "../lib/dht/dht_client.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";
import { rememberPeerDevice } from "../lib/trust/recipients.ts";
import {
  INBOX_POLL_JITTER,
  INBOX_POLL_MS,
} from "../lib/trust/trust_delivery.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";

/** Puts are stored, never pushed to listeners; `get` returns them. */
class DeafDht extends QueuedDht {
  override get(key: InfoHash, callbacks: GetCallbacks) {
    this.gets += 1;
    const values = this.queue.filter((put) => put.key === key.toString())
      .map((put) => put.value);
    callbacks.onValues?.(values);
    callbacks.onDone?.(values, { nodes: [] } as never);
    return { cancel() {} };
  }
}

Deno.test("TrustDelivery polls its inbox: a request no listener heard is found within one jittered interval, and taken once", async () => {
  const dht = new DeafDht();
  const clock = new ManualClock(NOW_MS);
  const alice = side("alice", dht, clock);
  const bob = side("bob", dht, clock);
  rememberPeerDevice(bob.state.peers, alice.uri, alice.certificate, NOW_MS);
  const entry = bob.delivery.outbox.enqueue(
    "request",
    alice.uri,
    new Uint8Array([1]),
    NOW_MS,
  );
  bob.delivery.attempt(entry);
  assert.equal(dht.queue.length, 1);
  // Not before the shortest interval.
  clock.advance(Math.floor(INBOX_POLL_MS * (1 - INBOX_POLL_JITTER)) - 1);
  await settle();
  assert.equal(alice.state.requests.size, 0);
  // By the longest one it is found, shown and acknowledged.
  clock.advance(Math.ceil(INBOX_POLL_MS * 2 * INBOX_POLL_JITTER) + 1);
  await settle();
  assert.equal(alice.state.requests.get(bob.uri)?.id, entry.id);
  assert.equal(alice.counters.receiptsSent, 1);
  // Later polls see it again and skip it: no duplicate, no receipt.
  for (let i = 0; i < 3; i++) {
    clock.advance(INBOX_POLL_MS * (1 + INBOX_POLL_JITTER));
    await settle();
  }
  assert.equal(alice.counters.receiptsSent, 1);
  assert.equal(alice.counters.dropped.duplicate, 0);
  // Stopped: no more polls.
  alice.delivery.stopListening();
  bob.delivery.stopListening();
  const gets = dht.gets;
  clock.advance(10 * INBOX_POLL_MS);
  await settle();
  assert.equal(dht.gets, gets);
});
