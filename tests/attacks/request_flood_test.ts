/**
 * Issue 13 item 9, "free accounts defeat the per-sender quota": the quota
 * counted messages per sender account, and accounts are free. 256 requests
 * from throwaway accounts filled the pending list, so every later genuine
 * request was dropped; the quota table was wiped at 4,096 senders. Now a
 * stranger's request must carry a proof-of-work stamp bound to it; a full
 * pending list pushes out its oldest stranger's request; the quota table is
 * a bounded LRU (tests/inbox_test.ts).
 *
 * The flood is real sealed boxes from throwaway accounts, put at the
 * target's inbox key; genuine senders run a `TrustDelivery`.
 */
import assert from "node:assert/strict";
import { NOW_MS, QueuedDht, settle, side } from "./_trust_pair.ts";
import { rememberPeerDevice } from "../../lib/trust/recipients.ts";
import {
  emptyAccountState,
  MAX_PENDING_REQUESTS,
} from "../../lib/contacts/account_state.ts";
import { Inbox } from "../../lib/trust/inbox.ts";
import {
  encodeInboxMessage,
  INBOX_PURPOSE,
  INBOX_VALUE_TYPE,
  inboxKey,
  type InboxMessage,
  inboxValueId,
} from "../../lib/trust/inbox_message.ts";
import {
  DEFAULT_STAMP_BITS,
  mintStamp,
  STAMP_BYTES,
  stampChallenge,
} from "../../lib/trust/stamp.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { sealBox } from "../../lib/identity/sealed_box.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";

const FLOOD = MAX_PENDING_REQUESTS + 44;

Deno.test(`attack: ${FLOOD} throwaway accounts without a valid stamp cannot fill the pending list; genuine requests before and after are kept`, async () => {
  const dht = new QueuedDht();
  const clock = new ManualClock(NOW_MS);
  const alice = side("alice", dht, clock);
  const bob = side("bob", dht, clock);
  const carol = side("carol", dht, clock);
  const ask = async (from: typeof bob) => {
    rememberPeerDevice(from.state.peers, alice.uri, alice.certificate, NOW_MS);
    const entry = from.delivery.outbox.enqueue(
      "request",
      alice.uri,
      new Uint8Array([1]),
      clock.now(),
    );
    from.delivery.attempt(entry);
    dht.deliver();
    await settle();
    dht.queue.splice(0); // receipts
    return entry.id;
  };
  const bobs = await ask(bob);
  assert.equal(alice.state.requests.get(bob.uri)?.id, bobs);

  // The flood: each throwaway account seals one request to Alice, half
  // without a stamp, half with a stamp minted for another request.
  const random = rngBytes(seededRng("flood"));
  const to = Uint8Array.fromHex(alice.uri);
  const stolen = mintStamp(
    stampChallenge({
      to,
      from: Uint8Array.fromHex(bob.uri),
      requestId: Uint8Array.fromHex(bobs),
      sentMs: NOW_MS,
    }),
    DEFAULT_STAMP_BITS,
  );
  for (let i = 0; i < FLOOD; i++) {
    const account = AccountKeys.generate(random);
    const device = DeviceKeys.generate(random);
    const certificate = DeviceCertificate.issue(account, device, {
      issuedMs: NOW_MS - 1_000,
    });
    const id = random(16);
    const message: InboxMessage = i % 2 === 0
      ? { kind: "request", id, sentMs: clock.now(), to, payload: id }
      : {
        kind: "request",
        id,
        sentMs: clock.now(),
        to,
        payload: id,
        stamp: i % 4 === 1 ? stolen : random(STAMP_BYTES),
      };
    const box = sealBox(encodeInboxMessage(message), {
      sender: { device, certificate },
      recipient: alice.certificate,
      purpose: INBOX_PURPOSE,
      randomBytes: random,
    });
    dht.queue.push({
      key: inboxKey(alice.certificate.deviceId).toString(),
      value: {
        id: inboxValueId(id, alice.certificate.deviceId),
        type: INBOX_VALUE_TYPE,
        data: box,
      },
    });
  }
  const receiptsBefore = alice.counters.receiptsSent;
  dht.deliver();
  await settle();
  assert.equal(alice.counters.dropped.stamp, FLOOD);
  assert.equal(alice.counters.receiptsSent, receiptsBefore);
  assert.deepEqual([...alice.state.requests.keys()], [bob.uri]);
  assert.equal(alice.state.seen.size, 1);

  // A genuine request after the flood still gets in.
  clock.advance(60_000);
  const carols = await ask(carol);
  assert.equal(alice.state.requests.get(carol.uri)?.id, carols);
  assert.equal(alice.state.requests.get(bob.uri)?.id, bobs);
});

Deno.test("attack: with valid stamps, pushing a genuine request out of a full pending list takes one stamp per slot (cost measured)", () => {
  // The eviction order at a low difficulty (256 full stamps would take
  // minutes here), then the cost of one stamp at the default, logged.
  const bits = 4;
  const state = emptyAccountState();
  const inbox = new Inbox(state, undefined, bits);
  const to = new Uint8Array(20).fill(0xaa);
  const random = rngBytes(seededRng("stamped flood"));
  let minted = 0;
  const stamped = (from: string, sentMs: number) => {
    const id = random(16);
    minted++;
    return {
      kind: "request" as const,
      id,
      sentMs,
      to,
      payload: new Uint8Array(0),
      stamp: mintStamp(
        stampChallenge({
          to,
          from: Uint8Array.fromHex(from),
          requestId: id,
          sentMs,
        }),
        bits,
      ),
    };
  };
  const bob = "b".repeat(40);
  assert.equal(
    inbox.receive(bob, stamped(bob, NOW_MS), NOW_MS).kind,
    "newRequest",
  );
  minted = 0;
  let now = NOW_MS;
  while (state.requests.has(bob)) {
    const sender = random(20).toHex();
    now += 1_000;
    assert.equal(
      inbox.receive(sender, stamped(sender, now), now).kind,
      "newRequest",
    );
    assert.ok(minted <= MAX_PENDING_REQUESTS, "pushed out for fewer stamps");
  }
  assert.equal(minted, MAX_PENDING_REQUESTS);

  const samples = 4;
  let hashes = 0;
  const started = performance.now();
  for (let i = 0; i < samples; i++) {
    const stamp = mintStamp(
      stampChallenge({
        to,
        from: new Uint8Array(20).fill(i),
        requestId: new Uint8Array(16).fill(i),
        sentMs: NOW_MS,
      }),
      DEFAULT_STAMP_BITS,
    );
    hashes += Number(new DataView(stamp.buffer).getBigUint64(0)) + 1;
  }
  const meanMs = (performance.now() - started) / samples;
  console.log(
    `stamp at ${DEFAULT_STAMP_BITS} bits: mean ${
      Math.round(hashes / samples)
    }` +
      ` SHA-256 calls, ${meanMs.toFixed(0)} ms here (${samples} samples);` +
      ` pushing out one genuine request: ${minted} stamps, about` +
      ` ${(minted * meanMs / 1_000).toFixed(0)} s here`,
  );
});
