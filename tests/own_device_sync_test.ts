/**
 * OwnDeviceSync alone: a ManualClock, an empty account state, real device
 * certificates, and a fake courier that records what is sealed and put.
 * Snapshots are real (`encodeSyncSnapshot`), and what goes out is read back
 * with `decodeInboxMessage` and `decodeSyncSnapshot`.
 */
import assert from "node:assert/strict";
import {
  OwnDeviceSync,
  SYNC_DELAY_MS,
} from "../lib/contacts/own_device_sync.ts";
import {
  type AccountState,
  emptyAccountState,
  type OutboxEntry,
} from "../lib/contacts/account_state.ts";
import type { DeviceSyncResult } from "../lib/contacts/device_sync.ts";
import {
  decodeSyncSnapshot,
  encodeSyncSnapshot,
} from "../lib/contacts/sync_snapshot.ts";
import {
  decodeInboxMessage,
  encodeInboxMessage,
  MESSAGE_ID_BYTES,
} from "../lib/trust/inbox_message.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const START_MS = 1_700_000_000_000;
const RETRY_INITIAL_MS = 30_000;
const random = rngBytes(seededRng("own-device-sync"));
const alice = AccountKeys.generate(random);
const ALICE = alice.id.toString();
const BOB = AccountKeys.generate(random).id.toString();
const CAROL = AccountKeys.generate(random).id.toString();
const DAVE = AccountKeys.generate(random).id.toString();

function certify(name: string): DeviceCertificate {
  return DeviceCertificate.issue(alice, DeviceKeys.generate(random), {
    issuedMs: START_MS - 1_000,
    name,
  });
}
const laptop = certify("laptop");
const phone = certify("phone");
const tablet = certify("tablet");
const desktop = certify("desktop");

interface Sealed {
  message: Uint8Array;
  to: string;
}
interface Put {
  to: string;
  id: Uint8Array;
  box: Uint8Array;
}

interface Setup {
  clock: ManualClock;
  state: AccountState;
  sync: OwnDeviceSync;
  sealed: Sealed[];
  puts: Put[];
  applied: DeviceSyncResult[];
  counters: { syncsSent: number; dropped: { malformed: number } };
  running: { value: boolean };
  devices: { online: boolean; certificate: DeviceCertificate }[];
}

/** The laptop's sync; its own devices are the laptop (itself) and `others`. */
function setup(
  others: { online: boolean; certificate: DeviceCertificate }[],
  startMs = START_MS,
): Setup {
  const clock = new ManualClock(startMs);
  const state = emptyAccountState();
  const sealed: Sealed[] = [];
  const puts: Put[] = [];
  const applied: DeviceSyncResult[] = [];
  const counters = { syncsSent: 0, dropped: { malformed: 0 } };
  const running = { value: true };
  const devices = [{ online: true, certificate: laptop }, ...others];
  const sync = new OwnDeviceSync({
    accountId: ALICE,
    deviceId: laptop.deviceId,
    clock,
    randomBytes: rngBytes(seededRng("message ids")),
    state,
    courier: {
      seal(message, recipient) {
        const to = recipient.deviceId.toString();
        sealed.push({ message, to });
        // A box the test can tell apart per recipient.
        return new Uint8Array([sealed.length, ...message]);
      },
      put(recipient, id, box) {
        puts.push({ to: recipient.deviceId.toString(), id, box });
      },
    },
    counters,
    retryInitialMs: RETRY_INITIAL_MS,
    isRunning: () => running.value,
    ownDevices: () => devices,
    apply: (result) => applied.push(result),
  });
  return {
    clock,
    state,
    sync,
    sealed,
    puts,
    applied,
    counters,
    running,
    devices,
  };
}

Deno.test("OwnDeviceSync.schedule() coalesces changes into one snapshot to the other online devices", () => {
  // A fractional start: times sent are whole milliseconds.
  const { clock, state, sync, sealed, puts, counters } = setup([
    { online: true, certificate: phone },
    { online: false, certificate: tablet },
    { online: true, certificate: desktop },
  ], START_MS + 0.25);
  state.contacts.add(BOB, Math.floor(clock.now()));
  sync.schedule();
  clock.advance(400);
  state.contacts.add(CAROL, Math.floor(clock.now()));
  sync.schedule();
  clock.advance(SYNC_DELAY_MS - 401);
  assert.equal(puts.length, 0);
  assert.equal(counters.syncsSent, 0);
  clock.advance(1);
  assert.equal(clock.pendingCount, 0);
  assert.equal(counters.syncsSent, 1);

  // One message, sealed to each other online device, never to itself.
  const others = [phone.deviceId.toString(), desktop.deviceId.toString()];
  assert.deepEqual(sealed.map((seal) => seal.to), others);
  assert.deepEqual(puts.map((put) => put.to), others);
  assert.deepEqual(sealed[0].message, sealed[1].message);
  // Each put carries the box sealed for that device, and one shared id.
  assert.deepEqual(puts[0].box, new Uint8Array([1, ...sealed[0].message]));
  assert.deepEqual(puts[1].box, new Uint8Array([2, ...sealed[1].message]));
  assert.equal(puts[0].id.length, MESSAGE_ID_BYTES);
  assert.deepEqual(puts[0].id, puts[1].id);

  const message = decodeInboxMessage(sealed[0].message);
  assert.equal(message.kind, "sync");
  if (message.kind !== "sync") return;
  assert.deepEqual(message.id, puts[0].id);
  assert.equal(message.sentMs, START_MS + SYNC_DELAY_MS);
  const snapshot = decodeSyncSnapshot(message.snapshot);
  assert.equal(snapshot.sentMs, START_MS + SYNC_DELAY_MS);
  // Both changes ride in the one snapshot.
  assert.deepEqual(
    snapshot.contacts.map((contact) => contact.uri).sort(),
    [BOB, CAROL].sort(),
  );

  // A later change starts a new round, with a new message id.
  state.contacts.add(DAVE, Math.floor(clock.now()));
  sync.schedule();
  clock.advance(SYNC_DELAY_MS);
  assert.equal(counters.syncsSent, 2);
  assert.equal(puts.length, 4);
  assert.notDeepEqual(puts[2].id, puts[0].id);
  const again = decodeInboxMessage(sealed[2].message);
  assert.equal(again.kind, "sync");
  if (again.kind !== "sync") return;
  assert.equal(decodeSyncSnapshot(again.snapshot).contacts.length, 3);
});

Deno.test("OwnDeviceSync.schedule() sends nothing when no other device is online", () => {
  const { clock, sync, sealed, puts, counters } = setup([
    { online: false, certificate: phone },
  ]);
  sync.schedule();
  clock.advance(SYNC_DELAY_MS);
  assert.equal(sealed.length, 0);
  assert.equal(puts.length, 0);
  assert.equal(counters.syncsSent, 0);
  assert.equal(clock.pendingCount, 0);
});

Deno.test("OwnDeviceSync.schedule() reads the devices when the timer fires", () => {
  const { clock, sync, puts, devices } = setup([]);
  sync.schedule();
  // The phone comes online before the timer fires.
  devices.push({ online: true, certificate: phone });
  clock.advance(SYNC_DELAY_MS);
  assert.deepEqual(puts.map((put) => put.to), [phone.deviceId.toString()]);
});

Deno.test("OwnDeviceSync sends nothing while the account is not running", () => {
  const { clock, sync, sealed, puts, counters, running } = setup([
    { online: true, certificate: phone },
  ]);
  running.value = false;
  sync.send([phone]);
  sync.schedule();
  assert.equal(clock.pendingCount, 0);
  clock.advance(SYNC_DELAY_MS);
  assert.equal(sealed.length, 0);
  assert.equal(puts.length, 0);
  assert.equal(counters.syncsSent, 0);

  // Stopped between the change and the timer: nothing goes out either.
  running.value = true;
  sync.schedule();
  running.value = false;
  clock.advance(SYNC_DELAY_MS);
  assert.equal(puts.length, 0);
  assert.equal(counters.syncsSent, 0);
});

Deno.test("OwnDeviceSync.send() sends the state now to the given devices and counts it", () => {
  const { clock, state, sync, sealed, puts, counters } = setup([]);
  state.contacts.add(BOB, START_MS);
  sync.send([phone, tablet]);
  assert.equal(clock.pendingCount, 0);
  assert.equal(counters.syncsSent, 1);
  assert.deepEqual(puts.map((put) => put.to), [
    phone.deviceId.toString(),
    tablet.deviceId.toString(),
  ]);
  const message = decodeInboxMessage(sealed[0].message);
  assert.equal(message.kind, "sync");
  if (message.kind !== "sync") return;
  assert.equal(message.sentMs, START_MS);
  assert.deepEqual(
    decodeSyncSnapshot(message.snapshot).contacts.map((contact) => contact.uri),
    [BOB],
  );
});

Deno.test("OwnDeviceSync.receive() merges the snapshot and hands the result to apply", () => {
  const { clock, state, sync, applied, counters } = setup([]);
  clock.advance(5_000);
  // The phone's state: a contact, a ban, itself (skipped) and an outbox entry.
  const other = emptyAccountState();
  other.contacts.add(BOB, START_MS, true);
  other.contacts.remove(CAROL, true, START_MS);
  other.contacts.add(ALICE, START_MS);
  const entry: OutboxEntry = {
    id: "ab".repeat(16),
    kind: "request",
    to: DAVE,
    payload: new Uint8Array([1, 2, 3]),
    createdMs: START_MS,
    expiresMs: START_MS + 3_600_000,
    attempts: 1,
    nextMs: START_MS + 1_000,
    sentTo: [],
    delivered: false,
  };
  other.outbox.set(entry.id, entry);
  sync.receive(encodeSyncSnapshot(other, START_MS + 1_000));

  assert.equal(applied.length, 1);
  const [result] = applied;
  assert.deepEqual(result.events, [
    { type: "contactAdded", uri: BOB, confirmed: true },
    { type: "contactRemoved", uri: CAROL, banned: true },
  ]);
  assert.deepEqual(result.banned, [CAROL]);
  assert.deepEqual(result.settled, []);
  assert.equal(result.discarded, false);
  // Adopted with this device's time and the profile's first retry delay.
  assert.equal(result.adopted.length, 1);
  assert.equal(result.adopted[0].id, entry.id);
  assert.equal(result.adopted[0].to, DAVE);
  assert.equal(result.adopted[0].nextMs, START_MS + 5_000 + RETRY_INITIAL_MS);
  // The merge landed in this device's state; its outbox is the caller's.
  assert.ok(state.contacts.isActive(BOB));
  assert.ok(state.contacts.isBanned(CAROL));
  assert.equal(state.contacts.get(ALICE), undefined);
  assert.equal(state.outbox.size, 0);
  assert.equal(counters.dropped.malformed, 0);
});

Deno.test("OwnDeviceSync.receive() counts malformed bytes and applies nothing", () => {
  const { state, sync, applied, counters } = setup([]);
  sync.receive(new Uint8Array([1, 2, 3]));
  assert.equal(counters.dropped.malformed, 1);
  // A well-formed inbox message is not a snapshot either.
  sync.receive(
    encodeInboxMessage({
      kind: "confirm",
      id: new Uint8Array(MESSAGE_ID_BYTES),
      sentMs: START_MS,
    }),
  );
  assert.equal(counters.dropped.malformed, 2);
  assert.equal(applied.length, 0);
  assert.deepEqual(state.contacts.all(), []);
  // A good one after that still goes through.
  const other = emptyAccountState();
  other.contacts.add(BOB, START_MS);
  sync.receive(encodeSyncSnapshot(other, START_MS));
  assert.equal(applied.length, 1);
  assert.equal(counters.dropped.malformed, 2);
});

Deno.test("OwnDeviceSync.stop() cancels a pending snapshot", () => {
  const { clock, sync, puts, counters } = setup([
    { online: true, certificate: phone },
  ]);
  sync.schedule();
  assert.equal(clock.pendingCount, 1);
  sync.stop();
  assert.equal(clock.pendingCount, 0);
  clock.advance(10 * SYNC_DELAY_MS);
  assert.equal(puts.length, 0);
  assert.equal(counters.syncsSent, 0);
  // Stopping with nothing pending is harmless.
  sync.stop();
});

Deno.test("OwnDeviceSync.schedule() sends again after a stop and a restart", () => {
  const { clock, sync, puts } = setup([
    { online: true, certificate: phone },
  ]);
  sync.schedule();
  sync.stop();
  // The account starts again: a change must still reach the other device.
  sync.schedule();
  clock.advance(SYNC_DELAY_MS);
  assert.equal(puts.length, 1);
});
