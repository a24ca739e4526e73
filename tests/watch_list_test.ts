/**
 * WatchList alone: a fake DhtClient records every listen (the test pushes
 * signed announcements into it) and a ManualClock stands still. Each test
 * asserts the listens started and cancelled and the notifications a
 * subscriber would get.
 */
import assert from "node:assert/strict";
import {
  type BuddyPresence,
  dhtPresence,
  lineStatus,
  WatchList,
} from "../lib/presence/watch_list.ts";
import type { TrackedDevice } from "../lib/presence/buddy_tracker.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { announcementValue, ListenRecordingDht } from "./_presence_helpers.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const START_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("watch-list"));
const bob = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);
const BOB = bob.id.toString();
const CAROL = AccountKeys.generate(random).id.toString();

function certify(device: DeviceKeys): DeviceCertificate {
  return DeviceCertificate.issue(bob, device, { issuedMs: START_MS - 1_000 });
}
const certificates = new Map([[laptop, certify(laptop)], [
  phone,
  certify(phone),
]]);

function announcement(
  device: DeviceKeys,
  seq: number,
  options: { note?: string; goodbye?: boolean } = {},
): DhtValue {
  return announcementValue(
    device,
    certificates.get(device)!,
    seq,
    START_MS,
    options,
  );
}

interface Setup {
  dht: ListenRecordingDht;
  watches: WatchList;
  changes: string[];
  devices: { uri: string; online: boolean }[];
}

function setup(
  presenceOf?: (uri: string) => BuddyPresence | undefined,
): Setup {
  const dht = new ListenRecordingDht();
  const changes: string[] = [];
  const devices: { uri: string; online: boolean }[] = [];
  const watches = new WatchList({
    dht,
    clock: new ManualClock(START_MS),
    expiryCheckMs: 1_500,
    presenceOf: presenceOf === undefined
      ? undefined
      : (uri, tracker) => presenceOf(uri) ?? dhtPresence(tracker),
    onChange: (uri) => changes.push(uri),
    onDevice: (uri, device: TrackedDevice) =>
      devices.push({ uri, online: device.online }),
  });
  return { dht, watches, changes, devices };
}

Deno.test("WatchList runs one tracker per account while any reason holds", () => {
  const { dht, watches } = setup();
  watches.watch(BOB, "outbox");
  watches.watch(BOB, "subscription");
  watches.watch(CAROL, "self");
  assert.deepEqual(dht.listens.map((listen) => listen.key), [BOB, CAROL]);
  assert.ok(watches.isWatchedFor(BOB, "outbox"));
  watches.unwatch(BOB, "outbox");
  watches.unwatch(BOB, "self"); // never a reason: nothing changes
  assert.ok(watches.tracker(BOB) !== undefined);
  assert.equal(watches.isWatchedFor(BOB, "outbox"), false);
  assert.deepEqual(dht.cancelled, []);
  watches.unwatch(BOB, "subscription");
  assert.deepEqual(dht.cancelled, [BOB]);
  assert.equal(watches.tracker(BOB), undefined);
  // Watching again starts a new tracker.
  watches.watch(BOB, "outbox");
  assert.equal(dht.listens.length, 3);
  watches.clear();
  // In watch order: Carol, then Bob watched again.
  assert.deepEqual(dht.cancelled, [BOB, CAROL, BOB]);
  assert.equal(watches.tracker(CAROL), undefined);
});

Deno.test("WatchList passes tracker changes on with the account they concern", () => {
  const { dht, watches, changes, devices } = setup();
  watches.watch(BOB, "outbox");
  dht.add(BOB, announcement(laptop, 1));
  assert.deepEqual(devices, [{ uri: BOB, online: true }]);
  assert.deepEqual(changes, [BOB]);
  assert.equal(watches.tracker(BOB)?.status, 1);
});

Deno.test("WatchList.notification() tells a subscriber each new status and note once", () => {
  const { dht, watches } = setup();
  watches.watch(BOB, "outbox");
  dht.add(BOB, announcement(laptop, 1, { note: "hi" }));
  // Not subscribed: nothing to tell.
  assert.equal(watches.notification(BOB), undefined);
  watches.watch(BOB, "subscription");
  assert.deepEqual(watches.notification(BOB), { status: 1, note: "hi" });
  assert.equal(watches.notification(BOB), undefined);
  dht.add(BOB, announcement(laptop, 2, { note: "busy" }));
  assert.deepEqual(watches.notification(BOB), { status: 1, note: "busy" });
  dht.add(BOB, announcement(laptop, 3, { note: "busy", goodbye: true }));
  assert.deepEqual(watches.notification(BOB), { status: 0, note: "" });
  assert.equal(watches.notification(BOB), undefined);
  assert.equal(watches.notification(CAROL), undefined);
});

Deno.test("WatchList.replay() tells a new subscriber an online buddy at once, and records an offline one as told", () => {
  const { dht, watches } = setup();
  assert.equal(watches.replay(BOB), undefined);
  watches.watch(BOB, "subscription");
  assert.equal(watches.replay(BOB), undefined);
  // Offline was recorded: the first change is told, not a repeat of 0.
  assert.equal(watches.notification(BOB), undefined);
  dht.add(BOB, announcement(phone, 1, { note: "on the go" }));
  assert.deepEqual(watches.replay(BOB), { status: 1, note: "on the go" });
  // Told already; a second replay tells it again.
  assert.equal(watches.notification(BOB), undefined);
  assert.deepEqual(watches.replay(BOB), { status: 1, note: "on the go" });
});

Deno.test("WatchList tells the presence the account computes (a direct link makes status 2)", () => {
  let linked = false;
  const { dht, watches } = setup((uri) =>
    linked && uri === BOB ? { status: 2, note: "linked" } : undefined
  );
  watches.watch(BOB, "subscription");
  dht.add(BOB, announcement(laptop, 1));
  assert.deepEqual(watches.notification(BOB), { status: 1, note: "" });
  linked = true;
  assert.deepEqual(watches.notification(BOB), { status: 2, note: "linked" });
});

Deno.test("lineStatus() is the note of the online device with the highest sequence number", () => {
  const { dht, watches } = setup();
  watches.watch(BOB, "subscription");
  const tracker = watches.tracker(BOB)!;
  assert.equal(lineStatus(tracker), "");
  dht.add(
    BOB,
    announcement(laptop, 5, { note: "laptop" }),
    announcement(phone, 3, { note: "phone" }),
  );
  assert.equal(lineStatus(tracker), "laptop");
  dht.add(BOB, announcement(laptop, 6, { note: "gone", goodbye: true }));
  assert.equal(lineStatus(tracker), "phone");
  assert.deepEqual(dhtPresence(tracker), { status: 1, note: "phone" });
});
