/**
 * BuddyTracker.pause()/resume(): while a link vouches for a contact's
 * device, its tracker stops listening, keeps the device online past its
 * record's signed expiry, and only polls; on resume it listens again and a
 * `get` tells what changed meanwhile. A scripted DHT (the test answers the
 * gets) and a ManualClock; each test asserts the exact status changes.
 */
import assert from "node:assert/strict";
import { BuddyTracker, PAUSED_POLL_MS } from "../lib/presence/buddy_tracker.ts";
import { DeviceAnnouncement } from "../lib/presence/device_announcement.ts";
import { derivedValueId } from "../lib/presence/announcer.ts";
import { ANNOUNCEMENT_VALUE_TYPE } from "../lib/presence/presence_profile.ts";
import type { DhtNode } from "../lib/dht/dht_node.ts";
import type { GetCallbacks, ListenEvent } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const START_MS = 1_700_000_000_000;
/** Signed validity of the test records: 9 minutes, as ours. */
const LIFETIME_MS = 9 * 60_000;
const random = rngBytes(seededRng("buddy-tracker-pause"));
const account = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);
const laptopCertificate = DeviceCertificate.issue(account, laptop, {
  issuedMs: START_MS - 1_000,
});
const phoneCertificate = DeviceCertificate.issue(account, phone, {
  issuedMs: START_MS - 1_000,
});

/** A DHT that records listens, cancels and gets; the test answers them. */
class ScriptedDht {
  listener?: (event: ListenEvent) => void;
  listens = 0;
  cancelled = 0;
  readonly gets: GetCallbacks[] = [];

  listen(_key: unknown, callback: (event: ListenEvent) => void) {
    this.listens++;
    this.listener = callback;
    return {
      cancel: () => {
        this.cancelled++;
        this.listener = undefined;
      },
      relocate: () => {},
    };
  }

  get(_key: unknown, callbacks: GetCallbacks) {
    this.gets.push(callbacks);
    return { cancel: () => {} };
  }

  add(...values: DhtValue[]): void {
    assert.ok(this.listener, "tracker is not listening");
    this.listener({ kind: "added", values });
  }
}

function record(
  device: DeviceKeys,
  certificate: DeviceCertificate,
  options: { seq: number; nowMs: number; goodbye?: boolean },
): DhtValue {
  const signed = DeviceAnnouncement.create(device, certificate, {
    ...options,
    lifetimeMs: LIFETIME_MS,
  });
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(options.seq));
  return {
    id: derivedValueId(device.id.bytes, seqBytes),
    type: ANNOUNCEMENT_VALUE_TYPE,
    data: signed.bytes,
  };
}

function setup() {
  const clock = new ManualClock(START_MS);
  const dht = new ScriptedDht();
  const changes: number[] = [];
  const tracker = new BuddyTracker({
    dht: dht as unknown as DhtNode,
    clock,
    accountId: account.id,
    expiryCheckMs: 1_500,
    onChange: (status) => changes.push(status),
  });
  tracker.start();
  const laptopAt = (seq: number, goodbye = false) =>
    record(laptop, laptopCertificate, { seq, nowMs: clock.now(), goodbye });
  return { clock, dht, tracker, changes, laptopAt };
}

Deno.test("BuddyTracker.pause() cancels the listen and keeps the device online past its record's signed expiry", () => {
  const { clock, dht, tracker, changes, laptopAt } = setup();
  dht.add(laptopAt(1));
  tracker.pause();
  assert.equal(tracker.paused, true);
  assert.deepEqual([dht.listens, dht.cancelled], [1, 1]);
  // Twice the signed validity: nothing is heard, nothing is judged.
  clock.advance(2 * LIFETIME_MS);
  assert.equal(tracker.status, 1);
  assert.equal(tracker.devices()[0].online, true);
  assert.deepEqual(changes, [1]);
  // A second pause changes nothing.
  tracker.pause();
  assert.deepEqual([dht.listens, dht.cancelled], [1, 1]);
});

Deno.test("BuddyTracker.resume() listens again and a get finding the goodbye reports offline", () => {
  const { clock, dht, tracker, changes, laptopAt } = setup();
  dht.add(laptopAt(1));
  tracker.pause();
  clock.advance(60_000);
  const goodbye = laptopAt(2, true);
  let done = 0;
  tracker.resume(() => done++);
  assert.equal(tracker.paused, false);
  assert.equal(dht.listens, 2);
  assert.equal(dht.gets.length, 1);
  assert.equal(done, 0, "done only once the get ended");
  dht.gets[0].onDone!([goodbye], undefined as never);
  assert.equal(done, 1);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
});

Deno.test("BuddyTracker.resume() after a crash: the record still stored keeps status 1 until it lapses", () => {
  const { clock, dht, tracker, changes, laptopAt } = setup();
  const hello = laptopAt(1);
  dht.add(hello);
  tracker.pause();
  clock.advance(10_000);
  tracker.resume();
  dht.gets[0].onDone!([hello], undefined as never);
  assert.equal(tracker.status, 1);
  // The storing nodes' expiry, confirmed by the usual check.
  dht.listener!({ kind: "expired", ids: [hello.id] });
  clock.advance(1_500);
  assert.equal(dht.gets.length, 2);
  dht.gets[1].onDone!([], undefined as never);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
});

Deno.test("BuddyTracker.resume() after a pause longer than the signed validity: a newer record keeps it online, none takes it offline", () => {
  const { clock, dht, tracker, changes, laptopAt } = setup();
  dht.add(laptopAt(1));
  tracker.pause();
  clock.advance(LIFETIME_MS + 60_000);
  // Re-signed meanwhile (unheard): the get finds the new record.
  tracker.resume();
  dht.gets[0].onDone!([laptopAt(2)], undefined as never);
  assert.equal(tracker.status, 1);
  assert.deepEqual(changes, [1]);
  tracker.pause();
  clock.advance(LIFETIME_MS + 60_000);
  // Gone from the DHT (the device crashed long ago and the link just saw it).
  tracker.resume();
  dht.gets[1].onDone!([], undefined as never);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
});

Deno.test("BuddyTracker polls every PAUSED_POLL_MS while paused and reports a device it did not know", () => {
  const { clock, dht, tracker, laptopAt } = setup();
  const devices: string[] = [];
  const watched = new BuddyTracker({
    dht: dht as unknown as DhtNode,
    clock,
    accountId: account.id,
    expiryCheckMs: 1_500,
    onChange: () => {},
    onDevice: (device) =>
      devices.push(`${device.certificate.deviceId}:${device.online}`),
  });
  tracker.stop();
  watched.start();
  dht.add(laptopAt(1));
  watched.pause();
  clock.advance(PAUSED_POLL_MS - 1);
  assert.equal(dht.gets.length, 0);
  clock.advance(1);
  assert.equal(dht.gets.length, 1);
  const phoneRecord = record(phone, phoneCertificate, {
    seq: 1,
    nowMs: clock.now(),
  });
  dht.gets[0].onDone!([phoneRecord], undefined as never);
  assert.deepEqual(devices, [`${laptop.id}:true`, `${phone.id}:true`]);
  assert.equal(watched.devices().length, 2);
  // Still paused (the subscriber decides), and the next poll is armed.
  assert.equal(watched.paused, true);
  clock.advance(PAUSED_POLL_MS);
  assert.equal(dht.gets.length, 2);
  // stop() ends the pause and its poll.
  watched.stop();
  clock.advance(2 * PAUSED_POLL_MS);
  assert.equal(dht.gets.length, 2);
  assert.equal(watched.paused, false);
});

Deno.test("BuddyTracker.pause() with the silence rule: waits until the device was heard quietOfflineMs ago, and never comes while refreshes are pushed", () => {
  const clock = new ManualClock(START_MS);
  const dht = new ScriptedDht();
  const tracker = new BuddyTracker({
    dht: dht as unknown as DhtNode,
    clock,
    accountId: account.id,
    expiryCheckMs: 1_500,
    quietOfflineMs: 30_000,
    onChange: () => {},
  });
  tracker.start();
  const hello = record(laptop, laptopCertificate, {
    seq: 1,
    nowMs: clock.now(),
  });
  dht.add(hello);
  // Asked at once: our storing nodes push no refreshes, but that is only
  // known after a silence as long as the rule's.
  tracker.pause();
  clock.advance(30_000 - 1);
  assert.deepEqual([tracker.paused, dht.cancelled], [false, 0]);
  clock.advance(1);
  assert.deepEqual([tracker.paused, dht.cancelled], [true, 1]);
  tracker.resume();
  dht.gets[0].onDone!([hello], undefined as never);
  // A stock storing node pushes the record's refreshes: heartbeats the
  // silence rule needs, so the listen stays.
  dht.listener!({ kind: "refreshed", ids: [hello.id] });
  tracker.pause();
  clock.advance(10 * 60_000);
  assert.deepEqual([tracker.paused, dht.cancelled], [false, 1]);
});
