/**
 * The silence rule (stock storing nodes push refreshes; a device whose
 * pushes stop for `quietOfflineMs` is offline) against an outage of our own:
 * silence is not counted while our node hears nothing back (`reachable`
 * false), and a re-check after the outage starts it afresh, so nobody is
 * shown offline for our own silence, while a device that really went quiet
 * still is afterwards. On virtual time.
 */
import assert from "node:assert/strict";
import { BuddyTracker } from "../lib/presence/buddy_tracker.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { announcementValue, ListenRecordingDht } from "./_presence_helpers.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const START_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("stock-outage"));
const account = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const certificate = DeviceCertificate.issue(account, laptop, {
  issuedMs: START_MS - 1_000,
});

/** A tracker with the 30 s silence rule, fed by pushes, whose own reachability the test sets. */
function setup(pause: boolean) {
  const clock = new ManualClock(START_MS);
  const dht = new ListenRecordingDht();
  const statuses: number[] = [];
  let reachable = true;
  const tracker = new BuddyTracker({
    dht,
    clock,
    accountId: account.id,
    expiryCheckMs: 1_500,
    quietOfflineMs: 30 * SECOND,
    reachable: pause ? () => reachable : undefined,
    onChange: (status) => statuses.push(status),
  });
  tracker.start();
  const value = announcementValue(laptop, certificate, 1, START_MS);
  dht.add(account.id.toString(), value);
  const refresh = () =>
    dht.listens[0].callback({ kind: "refreshed", ids: [value.id] });
  refresh(); // a stock storing node pushes refreshes
  return {
    clock,
    statuses,
    refresh,
    tracker,
    deliver: (delivered: typeof value) =>
      dht.listens[0].callback({ kind: "added", values: [delivered] }),
    value,
    setReachable: (value: boolean) => reachable = value,
  };
}

Deno.test("silence rule: our own outage is not the contact's silence (paused while unreachable, counted afresh after the re-check)", () => {
  const { clock, statuses, refresh, tracker, setReachable } = setup(true);
  clock.advance(10 * SECOND);
  refresh();
  // Our network goes: pushes stop; the monitor says silent soon after.
  clock.advance(5 * SECOND);
  setReachable(false);
  clock.advance(10 * MINUTE);
  assert.deepEqual(statuses, [1]);
  assert.equal(tracker.devices()[0].online, true);
  // Back: the re-check (whose lookup is slow here) restarts the count.
  setReachable(true);
  tracker.recheck();
  clock.advance(29 * SECOND);
  assert.deepEqual(statuses, [1]);
  refresh(); // the contact was up all along
  clock.advance(29 * SECOND);
  assert.deepEqual(statuses, [1]);
  // A real silence after the return is still judged.
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1, 0]);
  refresh();
  assert.deepEqual(statuses, [1, 0, 1]);
});

Deno.test("silence rule: a silence that began before our outage waits for the return, then counts from it", () => {
  const { clock, statuses, tracker, setReachable } = setup(true);
  // The contact crashed just now; our network goes 20 s later.
  clock.advance(20 * SECOND);
  setReachable(false);
  clock.advance(2 * MINUTE);
  assert.deepEqual(statuses, [1]);
  setReachable(true);
  tracker.recheck();
  clock.advance(29 * SECOND);
  assert.deepEqual(statuses, [1]);
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1, 0]);
});

Deno.test("silence rule: without a reachability source our outage reads as the contact's silence (what the pause prevents)", () => {
  const { clock, statuses } = setup(false);
  clock.advance(10 * MINUTE);
  assert.deepEqual(statuses, [1, 0]);
});

Deno.test("silence rule: a brief silence of our own (a reply late) only delays the judgment by a poll", () => {
  const { clock, statuses, setReachable } = setup(true);
  clock.advance(29 * SECOND);
  setReachable(false);
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1]);
  setReachable(true);
  clock.advance(5 * SECOND);
  assert.deepEqual(statuses, [1, 0]);
});

Deno.test("silence rule: a device gone quiet is not brought back by its old record handed out again (a moved listen), only by a refresh or a newer record", () => {
  const { clock, statuses, deliver, value, refresh } = setup(true);
  clock.advance(30 * SECOND);
  assert.deepEqual(statuses, [1, 0]);
  // A new storing node of the listen hands out what it stores: the record
  // the device went quiet on, kept 10 minutes by a stock node.
  deliver(value);
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1, 0]);
  // The device is back: a refresh push of its record.
  refresh();
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1, 0, 1]);
  clock.advance(30 * SECOND);
  assert.deepEqual(statuses, [1, 0, 1, 0]);
  // Or a newer record.
  deliver(announcementValue(laptop, certificate, 2, clock.now()));
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1, 0, 1, 0, 1]);
});
