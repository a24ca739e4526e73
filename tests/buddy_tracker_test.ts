/**
 * BuddyTracker alone: a scripted DHT (it records the listen callback and the
 * confirmation gets, and the test pushes values, expiries and get answers)
 * and a ManualClock. Each test asserts the exact status changes reported.
 */
import assert from "node:assert/strict";
import { BuddyTracker } from "../lib/presence/buddy_tracker.ts";
import {
  DEVICE_ANNOUNCEMENT_TYPE,
  DeviceAnnouncement,
} from "../lib/presence/device_announcement.ts";
import { SignedRecord } from "../lib/identity/signed_record.ts";
import { encodeTuple } from "../lib/identity/_codec.ts";
import { derivedValueId } from "../lib/presence/announcer.ts";
import {
  ACCOUNT_RECORD_VALUE_TYPE,
  ANNOUNCEMENT_VALUE_TYPE,
} from "../lib/presence/presence_profile.ts";
import type { DhtNode } from "../lib/dht/dht_node.ts";
import type { GetCallbacks, ListenEvent } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { RevocationList } from "../lib/identity/revocation_list.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";
import { mailboxCertificate } from "../lib/trust/mailbox.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const START_MS = 1_700_000_000_000;
const LIFETIME_MS = 30 * 60_000;
const EXPIRY_CHECK_MS = 1_500;
const random = rngBytes(seededRng("buddy-tracker"));

const account = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);
const stranger = AccountKeys.generate(random);
const strangerDevice = DeviceKeys.generate(random);

function certify(owner: AccountKeys, device: DeviceKeys): DeviceCertificate {
  return DeviceCertificate.issue(owner, device, { issuedMs: START_MS - 1_000 });
}
const laptopCertificate = certify(account, laptop);
const phoneCertificate = certify(account, phone);
const strangerCertificate = certify(stranger, strangerDevice);

/** A DHT that only records what the tracker asks of it. */
class ScriptedDht {
  listener?: (event: ListenEvent) => void;
  listenKey?: InfoHash;
  cancelled = 0;
  relocated = 0;
  readonly gets: GetCallbacks[] = [];

  listen(key: InfoHash, callback: (event: ListenEvent) => void) {
    this.listenKey = key;
    this.listener = callback;
    return {
      cancel: () => this.cancelled++,
      relocate: () => this.relocated++,
    };
  }

  get(_key: InfoHash, callbacks: GetCallbacks) {
    this.gets.push(callbacks);
    return { cancel: () => {} };
  }

  push(event: ListenEvent): void {
    assert.ok(this.listener, "tracker is not listening");
    this.listener(event);
  }

  add(...values: DhtValue[]): void {
    this.push({ kind: "added", values });
  }
}

interface Setup {
  clock: ManualClock;
  dht: ScriptedDht;
  tracker: BuddyTracker;
  changes: number[];
}

function setup(expiryCheckMs = EXPIRY_CHECK_MS): Setup {
  const clock = new ManualClock(START_MS);
  const dht = new ScriptedDht();
  const changes: number[] = [];
  const tracker = new BuddyTracker({
    dht: dht as unknown as DhtNode,
    clock,
    accountId: account.id,
    expiryCheckMs,
    onChange: (status) => changes.push(status),
  });
  tracker.start();
  return { clock, dht, tracker, changes };
}

function announcement(
  device: DeviceKeys,
  certificate: DeviceCertificate,
  options: {
    seq: number;
    nowMs?: number;
    goodbye?: boolean;
    note?: string;
    lifetimeMs?: number;
  },
): DhtValue {
  const signed = DeviceAnnouncement.create(device, certificate, {
    seq: options.seq,
    nowMs: options.nowMs ?? START_MS,
    lifetimeMs: options.lifetimeMs ?? LIFETIME_MS,
    goodbye: options.goodbye,
    note: options.note,
  });
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(options.seq));
  return {
    id: derivedValueId(device.id.bytes, seqBytes),
    type: ANNOUNCEMENT_VALUE_TYPE,
    data: signed.bytes,
  };
}

const laptopAt = (seq: number, extra: { goodbye?: boolean } = {}) =>
  announcement(laptop, laptopCertificate, { seq, ...extra });

Deno.test("BuddyTracker listens at the account hash and goes online with a valid announcement", () => {
  const { dht, tracker, changes } = setup();
  assert.ok(dht.listenKey?.equals(account.id));
  dht.add(laptopAt(1));
  assert.equal(tracker.status, 1);
  assert.deepEqual(changes, [1]);
  assert.equal(tracker.counters.rejected, 0);
  const [device] = tracker.devices();
  assert.ok(device.online);
  assert.ok(device.certificate.deviceId.equals(laptop.id));
});

Deno.test("BuddyTracker rejects forged, foreign, expired, future-dated and malformed values without throwing", () => {
  const { dht, tracker, changes } = setup();
  const forged = laptopAt(1);
  const forgedData = forged.data.slice();
  forgedData[forgedData.length - 1] ^= 0xff;
  // Signed by the record's device, but certified by another account.
  const foreignCertificate = certify(stranger, laptop);
  const hostile: DhtValue[] = [
    { ...forged, data: forgedData },
    announcement(strangerDevice, strangerCertificate, { seq: 2 }),
    announcement(laptop, foreignCertificate, { seq: 3 }),
    // Signed by another device, carrying the laptop's certificate.
    {
      id: 10n,
      type: ANNOUNCEMENT_VALUE_TYPE,
      data: SignedRecord.sign(strangerDevice, {
        type: DEVICE_ANNOUNCEMENT_TYPE,
        seq: 10,
        createdMs: START_MS,
        expiresMs: START_MS + LIFETIME_MS,
        body: encodeTuple(["da1", laptopCertificate.bytes, 0, "", []]),
      }).bytes,
    },
    // Expired: signed an hour ago for one minute.
    announcement(laptop, laptopCertificate, {
      seq: 4,
      nowMs: START_MS - 3_600_000,
      lifetimeMs: 60_000,
    }),
    // Claims to be signed in an hour.
    announcement(laptop, laptopCertificate, {
      seq: 5,
      nowMs: START_MS + 3_600_000,
    }),
    { id: 6n, type: ANNOUNCEMENT_VALUE_TYPE, data: new Uint8Array([1, 2, 3]) },
    { id: 7n, type: 0, data: new Uint8Array(0) },
    // A revocation list signed by someone else.
    {
      id: 8n,
      type: ACCOUNT_RECORD_VALUE_TYPE,
      data: RevocationList.create(stranger, {
        seq: 1,
        revoked: [laptop.id],
        issuedMs: START_MS,
      }).bytes,
    },
  ];
  for (const value of hostile) dht.add(value);
  assert.equal(tracker.counters.rejected, hostile.length);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, []);
  assert.deepEqual(tracker.devices(), []);
  // The foreign revocation list did not take: the laptop still counts.
  dht.add(laptopAt(9));
  assert.equal(tracker.status, 1);
});

Deno.test("BuddyTracker drops a revoked device at once and refuses its later announcements", () => {
  const { dht, tracker, changes } = setup();
  dht.add(laptopAt(1), announcement(phone, phoneCertificate, { seq: 1 }));
  assert.equal(tracker.devices().filter((d) => d.online).length, 2);
  const revocation = RevocationList.create(account, {
    seq: 1,
    revoked: [laptop.id],
    issuedMs: START_MS,
  });
  dht.add({ id: 50n, type: ACCOUNT_RECORD_VALUE_TYPE, data: revocation.bytes });
  assert.deepEqual(
    tracker.devices().map((d) => d.certificate.deviceId.toString()),
    [phone.id.toString()],
  );
  assert.equal(tracker.status, 1);
  // A revoked device re-announcing is refused.
  dht.add(laptopAt(2));
  assert.equal(tracker.counters.rejected, 1);
  // Revoking the last online device takes the account offline.
  dht.add({
    id: 51n,
    type: ACCOUNT_RECORD_VALUE_TYPE,
    data: RevocationList.create(account, {
      seq: 2,
      revoked: [laptop.id, phone.id],
      issuedMs: START_MS,
    }).bytes,
  });
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
  assert.equal(tracker.revocationList?.revoked.length, 2);
});

Deno.test("BuddyTracker does not flap when an older record expires while a newer one lives", () => {
  const { clock, dht, tracker, changes } = setup();
  const first = laptopAt(1);
  dht.add(first);
  clock.advance(10 * 60_000);
  // The re-signed announcement arrives, then the old value expires.
  const second = announcement(laptop, laptopCertificate, {
    seq: 2,
    nowMs: clock.now(),
  });
  dht.add(second);
  dht.push({ kind: "expired", ids: [first.id] });
  assert.equal(tracker.status, 1);
  // The old record's signed validity ends too (at 30 min): still online.
  clock.advance(LIFETIME_MS - 60_000);
  assert.equal(tracker.status, 1);
  assert.deepEqual(changes, [1]);
  // Without a re-sign the newer one's validity ends (at 40 min): offline.
  clock.advance(60_000);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
});

Deno.test("BuddyTracker goes offline at once on a goodbye, and a replayed older record does not bring it back", () => {
  const { dht, tracker, changes } = setup();
  const hello = laptopAt(1);
  dht.add(hello);
  dht.add(laptopAt(2, { goodbye: true }));
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
  // The hello is replayed (as a new value, and as its old id).
  dht.add(hello);
  dht.add({ ...hello, id: 999n });
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
  assert.equal(tracker.devices()[0].online, false);
  // A genuinely newer announcement brings it back.
  dht.add(laptopAt(3));
  assert.equal(tracker.status, 1);
  assert.deepEqual(changes, [1, 0, 1]);
});

Deno.test("BuddyTracker: a goodbye still stored neither keeps a later announcement online nor lets records older than it back", () => {
  const { clock, dht, tracker, changes } = setup(0);
  const hello = laptopAt(1);
  const goodbye = laptopAt(2, { goodbye: true });
  dht.add(hello, goodbye);
  // The device comes back; storing nodes still keep its goodbye.
  const back = laptopAt(3);
  dht.add(back);
  assert.equal(tracker.status, 1);
  // A replay of the record before the goodbye is ignored.
  dht.add({ ...hello, id: 999n });
  // It crashes: its announcement expires, the goodbye is still stored.
  dht.push({ kind: "expired", ids: [back.id] });
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
  // Nothing shows it online past the newest record's signed expiry.
  dht.add(back);
  assert.equal(tracker.status, 1);
  clock.advance(LIFETIME_MS);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0, 1, 0]);
});

Deno.test("BuddyTracker stays online while any device is online", () => {
  // Expiries believed as reported: the confirmation get is tested below.
  const { dht, tracker, changes } = setup(0);
  const phoneHello = announcement(phone, phoneCertificate, { seq: 1 });
  dht.add(laptopAt(1), phoneHello);
  dht.add(laptopAt(2, { goodbye: true }));
  assert.equal(tracker.status, 1);
  dht.push({ kind: "expired", ids: [phoneHello.id] });
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
});

Deno.test("BuddyTracker confirms a partial expiry with a get before believing it", () => {
  const { clock, dht, tracker, changes } = setup();
  const hello = laptopAt(1);
  dht.add(hello);
  dht.push({ kind: "expiring", ids: [hello.id] });
  assert.equal(dht.gets.length, 0, "no get before the check delay");
  clock.advance(EXPIRY_CHECK_MS);
  assert.equal(dht.gets.length, 1);
  assert.equal(tracker.counters.expiryChecks, 1);
  // Still stored somewhere: stays online.
  dht.gets[0].onDone!([hello], undefined as never);
  assert.equal(tracker.status, 1);
  // Next time it is gone everywhere: offline.
  dht.push({ kind: "expiring", ids: [hello.id] });
  clock.advance(EXPIRY_CHECK_MS);
  assert.equal(dht.gets.length, 2);
  dht.gets[1].onDone!([], undefined as never);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
  // Expiring ids of values it does not track start no check.
  dht.push({ kind: "expiring", ids: [12345n] });
  clock.advance(EXPIRY_CHECK_MS * 2);
  assert.equal(dht.gets.length, 2);
});

Deno.test("BuddyTracker with expiryCheckMs 0 ignores partial expiries and trusts expired", () => {
  const { clock, dht, tracker } = setup(0);
  const hello = laptopAt(1);
  dht.add(hello);
  dht.push({ kind: "expiring", ids: [hello.id] });
  clock.advance(60_000);
  assert.equal(dht.gets.length, 0);
  assert.equal(tracker.status, 1);
  dht.push({ kind: "expired", ids: [hello.id] });
  assert.equal(tracker.status, 0);
});

Deno.test("BuddyTracker keeps the newest mailbox certificate of its account only", () => {
  const { dht, tracker } = setup();
  const older = mailboxCertificate(account, START_MS - 10_000);
  const newer = mailboxCertificate(account, START_MS - 5_000);
  const value = (id: bigint, certificate: DeviceCertificate): DhtValue => ({
    id,
    type: ACCOUNT_RECORD_VALUE_TYPE,
    data: certificate.bytes,
  });
  dht.add(value(1n, newer), value(2n, older));
  assert.equal(tracker.mailbox?.issuedMs, newer.issuedMs);
  dht.add(value(3n, mailboxCertificate(stranger, START_MS)));
  assert.equal(tracker.mailbox?.issuedMs, newer.issuedMs);
  assert.equal(tracker.counters.rejected, 1);
  assert.equal(tracker.status, 0);
});

Deno.test("BuddyTracker.stop() cancels the listen and resets the status silently", () => {
  const { dht, tracker, changes } = setup();
  dht.add(laptopAt(1));
  tracker.stop();
  assert.equal(dht.cancelled, 1);
  assert.equal(tracker.status, 0);
  assert.deepEqual(tracker.devices(), []);
  assert.deepEqual(changes, [1]);
});

Deno.test("BuddyTracker.offer() feeds a value found by a get", () => {
  const { tracker, changes } = setup();
  tracker.offer(laptopAt(1));
  assert.equal(tracker.status, 1);
  tracker.offer({ id: 3n, type: 0, data: new Uint8Array([0xc1]) });
  assert.equal(tracker.counters.rejected, 1);
  assert.deepEqual(changes, [1]);
});
