/**
 * Issue 13 item 6, "presence freeze": a device's signed announcement is
 * public at its account hash, so anyone can re-put it. The tracker kept 256
 * values per contact keyed by value id; 256 copies of one record (and older
 * ones) under other ids filled them, so the device's next announcement was
 * refused (its note froze), and when the copies expired the device looked
 * offline while it was announcing. A scripted DhtClient and a ManualClock:
 * exact replays.
 */
import assert from "node:assert/strict";
import { BuddyTracker } from "../../lib/presence/buddy_tracker.ts";
import { DeviceAnnouncement } from "../../lib/presence/device_announcement.ts";
import { derivedValueId } from "../../lib/presence/announcer.ts";
import { ANNOUNCEMENT_VALUE_TYPE } from "../../lib/presence/presence_profile.ts";
import type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
} from "../../lib/dht/dht_client.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";

const START_MS = 1_700_000_000_000;
const LIFETIME_MS = 30 * 60_000;
const COPIES = 300;
const random = rngBytes(seededRng("presence-freeze"));

const account = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);
const certificate = (device: DeviceKeys) =>
  DeviceCertificate.issue(account, device, { issuedMs: START_MS - 1_000 });
const laptopCertificate = certificate(laptop);
const phoneCertificate = certificate(phone);

/** Records the listen; the test pushes events and answers gets. */
class FakeDht {
  listener?: (event: ListenEvent) => void;
  readonly gets: GetCallbacks[] = [];
  listen(_key: unknown, callback: (event: ListenEvent) => void) {
    this.listener = callback;
    return { cancel() {}, relocate() {} };
  }
  get(_key: unknown, callbacks: GetCallbacks) {
    this.gets.push(callbacks);
    return { cancel() {} };
  }
  add(...values: DhtValue[]): void {
    this.listener!({ kind: "added", values });
  }
  expire(ids: readonly bigint[]): void {
    this.listener!({ kind: "expired", ids });
  }
  /** Answers the gets not answered yet with `values`. */
  answer(values: DhtValue[]): void {
    for (const get of this.gets.splice(0)) {
      get.onDone!(values, undefined as never);
    }
  }
}

/** The id PresenceAnnouncer puts announcement `seq` of `device` under. */
function announcementValueId(device: DeviceKeys["id"], seq: number): bigint {
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
  return derivedValueId(device.bytes, seqBytes);
}

/** The device's own value for announcement `seq` (as PresenceAnnouncer puts it). */
function genuine(
  device: DeviceKeys,
  cert: DeviceCertificate,
  seq: number,
  note: string,
  nowMs: number,
): DhtValue {
  return {
    id: announcementValueId(device.id, seq),
    type: ANNOUNCEMENT_VALUE_TYPE,
    data: DeviceAnnouncement.create(device, cert, {
      seq,
      nowMs,
      lifetimeMs: LIFETIME_MS,
      note,
    }).bytes,
  };
}

/** `count` copies of `value` under fresh value ids. */
let nextId = 1n << 60n;
function copies(value: DhtValue, count: number): DhtValue[] {
  return Array.from({ length: count }, () => ({ ...value, id: nextId++ }));
}

function setup(expiryCheckMs: number) {
  const clock = new ManualClock(START_MS);
  const dht = new FakeDht();
  const changes: number[] = [];
  const tracker = new BuddyTracker({
    dht: dht as unknown as DhtClient,
    clock,
    accountId: account.id,
    expiryCheckMs,
    onChange: (status) => changes.push(status),
  });
  tracker.start();
  const laptopState = () =>
    tracker.devices().find((d) => d.certificate.deviceId.equals(laptop.id));
  return { clock, dht, tracker, changes, laptopState };
}

for (const expiryCheckMs of [1_500, 0]) {
  Deno.test(`presence freeze: copies of a device's records under ${COPIES}+ ids neither freeze its note nor take it offline (expiryCheckMs ${expiryCheckMs})`, () => {
    const { clock, dht, tracker, changes, laptopState } = setup(expiryCheckMs);
    // Older records the attacker recorded, then the current one (note "a").
    const old = [1, 2, 3].map((seq) =>
      genuine(laptop, laptopCertificate, seq, "old", START_MS)
    );
    const a = genuine(laptop, laptopCertificate, 10, "a", START_MS);
    dht.add(a);
    assert.equal(laptopState()?.announcement.note, "a");

    // The attacker re-puts them all under fresh ids.
    const flood = [...copies(a, COPIES), ...old.flatMap((v) => copies(v, 40))];
    for (const value of flood) dht.add(value);
    assert.equal(tracker.status, 1);

    // The device re-announces with note "b"; another device comes online.
    clock.advance(60_000);
    const b = genuine(laptop, laptopCertificate, 11, "b", clock.now());
    dht.add(b);
    dht.add(genuine(phone, phoneCertificate, 1, "phone", clock.now()));
    assert.equal(laptopState()?.announcement.note, "b", "note frozen");
    assert.equal(laptopState()?.online, true);
    assert.equal(tracker.devices().length, 2, "another device was shut out");

    // The device's previous value expires (it was replaced), then every copy.
    dht.expire([a.id]);
    clock.advance(24_000);
    dht.expire(flood.map((v) => v.id));
    clock.advance(10_000);
    dht.answer([b]);
    assert.equal(laptopState()?.online, true, "offline while announcing");
    assert.equal(laptopState()?.announcement.note, "b");
    assert.equal(tracker.status, 1);
    assert.deepEqual(changes, [1]);

    // Its genuine value expiring still takes it offline (the phone too).
    dht.expire([b.id, announcementValueId(phone.id, 1)]);
    clock.advance(10_000);
    dht.answer([]);
    assert.equal(laptopState()?.online, false);
    assert.equal(tracker.status, 0);
  });
}

Deno.test("presence freeze: a copy heard before the device's own value does not stand in for it", () => {
  const { clock, dht, tracker, changes, laptopState } = setup(0);
  const a = genuine(laptop, laptopCertificate, 10, "a", START_MS);
  // The attacker relays the record faster than the storing nodes push it.
  const [early] = copies(a, 1);
  dht.add(early);
  dht.add(a);
  clock.advance(24_000);
  // The attacker stops refreshing its copy; expiries are trusted as reported.
  dht.expire([early.id]);
  assert.equal(laptopState()?.online, true);
  assert.equal(tracker.status, 1);
  dht.expire([a.id]);
  assert.equal(tracker.status, 0);
  assert.deepEqual(changes, [1, 0]);
});

Deno.test("presence freeze: if only a copy was heard, its expiry is checked by record, not by id", () => {
  const { clock, dht, tracker, changes, laptopState } = setup(1_500);
  const a = genuine(laptop, laptopCertificate, 10, "a", START_MS);
  const [copy] = copies(a, 1);
  dht.add(copy);
  dht.expire([copy.id]);
  clock.advance(1_500);
  assert.equal(dht.gets.length, 1);
  // The confirmation get finds the record under the device's own id.
  dht.answer([a]);
  assert.equal(laptopState()?.online, true);
  assert.equal(tracker.status, 1);
  assert.deepEqual(changes, [1]);
});
