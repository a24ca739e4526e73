/**
 * Recipients alone: real certificates, a peer-record map, and a tracker fed
 * by a fake DhtClient. Each test asserts exactly which devices a message
 * would be sealed to, and what the peer records hold after.
 */
import assert from "node:assert/strict";
import {
  messageRecipients,
  newestMailbox,
  rememberPeerDevice,
} from "../lib/trust/recipients.ts";
import {
  MAX_PEER_DEVICES,
  MAX_PEER_ENDPOINT_DEVICES,
  MAX_PEERS,
  type PeerRecord,
} from "../lib/contacts/account_state.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { RevocationList } from "../lib/identity/revocation_list.ts";
import { BuddyTracker } from "../lib/presence/buddy_tracker.ts";
import { DeviceAnnouncement } from "../lib/presence/device_announcement.ts";
import { ACCOUNT_RECORD_VALUE_TYPE } from "../lib/presence/presence_profile.ts";
import type { DhtClient, ListenEvent } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { mailboxCertificate } from "../lib/trust/mailbox.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const NOW_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("recipients"));
const bob = AccountKeys.generate(random);
const BOB = bob.id.toString();
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);
const tablet = DeviceKeys.generate(random);

function certify(device: DeviceKeys, issuedMs = NOW_MS - 1_000) {
  return DeviceCertificate.issue(bob, device, { issuedMs });
}
const ids = (certificates: readonly DeviceCertificate[]) =>
  certificates.map((certificate) => certificate.deviceId.toString());

/** A tracker of Bob's account hash; `push` feeds it values. */
function tracked(): { tracker: BuddyTracker; push(value: DhtValue): void } {
  let listener: ((event: ListenEvent) => void) | undefined;
  const dht = {
    listen(_key: unknown, callback: (event: ListenEvent) => void) {
      listener = callback;
      return { cancel() {}, relocate() {} };
    },
  } as unknown as DhtClient;
  const tracker = new BuddyTracker({
    dht,
    clock: new ManualClock(NOW_MS),
    accountId: bob.id,
    expiryCheckMs: 0,
    onChange() {},
  });
  tracker.start();
  return {
    tracker,
    push: (value) => listener!({ kind: "added", values: [value] }),
  };
}
function announcement(device: DeviceKeys, value: bigint): DhtValue {
  const signed = DeviceAnnouncement.create(device, certify(device), {
    seq: 1,
    nowMs: NOW_MS,
    lifetimeMs: 60_000,
  });
  return { id: value, type: 0x6a61, data: signed.bytes };
}

Deno.test("rememberPeerDevice() keeps one certificate per device, newest last, at most MAX_PEER_DEVICES", () => {
  const peers = new Map<string, PeerRecord>();
  rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS);
  rememberPeerDevice(peers, BOB, certify(phone), NOW_MS + 1);
  const renewed = certify(laptop, NOW_MS);
  rememberPeerDevice(peers, BOB, renewed, NOW_MS + 2);
  const peer = peers.get(BOB)!;
  assert.equal(peer.seenMs, NOW_MS + 2);
  assert.deepEqual(peer.devices, [certify(phone).bytes, renewed.bytes]);
  for (let i = 0; i < 20; i++) {
    const device = DeviceKeys.generate(random);
    rememberPeerDevice(peers, BOB, certify(device), NOW_MS + 3);
  }
  assert.equal(peer.devices.length, MAX_PEER_DEVICES);
});

Deno.test("rememberPeerDevice() forgets the peer heard of least recently when MAX_PEERS are known", () => {
  const peers = new Map<string, PeerRecord>();
  for (let i = 0; i < MAX_PEERS; i++) {
    const uri = i.toString(16).padStart(40, "0");
    peers.set(uri, { uri, devices: [], seenMs: NOW_MS - i });
  }
  rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS);
  assert.equal(peers.size, MAX_PEERS);
  assert.equal(
    peers.has((MAX_PEERS - 1).toString(16).padStart(40, "0")),
    false,
  );
  assert.ok(peers.has(BOB));
});

Deno.test("messageRecipients() takes tracked devices, then remembered ones, each device once and only if valid", () => {
  const { tracker, push } = tracked();
  push(announcement(laptop, 1n));
  const peer: PeerRecord = {
    uri: BOB,
    devices: [
      certify(laptop).bytes,
      certify(phone).bytes,
      // Expired long ago, and garbage: neither is a recipient.
      DeviceCertificate.issue(bob, tablet, {
        issuedMs: NOW_MS - 10 * 365 * 86_400_000,
        lifetimeMs: 1_000,
      }).bytes,
      new Uint8Array([1, 2, 3]),
    ],
    seenMs: NOW_MS,
  };
  const options = { tracker, peer, nowMs: NOW_MS, mailbox: false };
  assert.deepEqual(
    ids(messageRecipients(BOB, { ...options, onlineOnly: false })),
    [laptop.id.toString(), phone.id.toString()],
  );
  assert.deepEqual(
    ids(messageRecipients(BOB, { ...options, onlineOnly: true })),
    [laptop.id.toString()],
  );
  // A stranger's certificate in Bob's record is not Bob's device.
  const stranger = AccountKeys.generate(random);
  const foreign = DeviceCertificate.issue(stranger, tablet, {
    issuedMs: NOW_MS - 1_000,
  });
  assert.deepEqual(
    ids(messageRecipients(BOB, {
      peer: { ...peer, devices: [foreign.bytes] },
      nowMs: NOW_MS,
      onlineOnly: false,
      mailbox: false,
    })),
    [],
  );
});

Deno.test("messageRecipients() leaves out a device the tracked revocation list revokes", () => {
  const { tracker, push } = tracked();
  const list = RevocationList.create(bob, {
    seq: 1,
    revoked: [phone.id],
    issuedMs: NOW_MS - 500,
  });
  push({ id: 9n, type: ACCOUNT_RECORD_VALUE_TYPE, data: list.bytes });
  const peer: PeerRecord = {
    uri: BOB,
    devices: [certify(phone).bytes, certify(laptop).bytes],
    seenMs: NOW_MS,
  };
  assert.deepEqual(
    ids(messageRecipients(BOB, {
      tracker,
      peer,
      nowMs: NOW_MS,
      onlineOnly: false,
      mailbox: false,
    })),
    [laptop.id.toString()],
  );
});

Deno.test("messageRecipients() adds the mailbox: the tracker's (remembered in the peer record), else the remembered one", () => {
  const { tracker, push } = tracked();
  const mailbox = mailboxCertificate(bob, NOW_MS - 1_000);
  const peer: PeerRecord = { uri: BOB, devices: [], seenMs: NOW_MS };
  const options = { peer, nowMs: NOW_MS, onlineOnly: false, mailbox: true };
  assert.deepEqual(messageRecipients(BOB, { ...options, tracker }), []);
  push({ id: 7n, type: ACCOUNT_RECORD_VALUE_TYPE, data: mailbox.bytes });
  assert.deepEqual(ids(messageRecipients(BOB, { ...options, tracker })), [
    mailbox.deviceId.toString(),
  ]);
  assert.deepEqual(peer.mailbox, mailbox.bytes);
  // Not watched any more: the remembered mailbox still counts.
  assert.deepEqual(ids(messageRecipients(BOB, options)), [
    mailbox.deviceId.toString(),
  ]);
  // A remembered device certificate is not taken for a mailbox.
  peer.mailbox = certify(laptop).bytes;
  assert.deepEqual(messageRecipients(BOB, options), []);
  // Mailboxes off: none.
  assert.deepEqual(
    messageRecipients(BOB, { ...options, tracker, mailbox: false }),
    [],
  );
});

Deno.test("newestMailbox() picks the newest valid mailbox certificate of the account among the values", () => {
  const older = mailboxCertificate(bob, NOW_MS - 5_000);
  const newer = mailboxCertificate(bob, NOW_MS - 1_000);
  const foreign = mailboxCertificate(AccountKeys.generate(random), NOW_MS);
  const values: DhtValue[] = [older, foreign, certify(laptop), newer].map((
    certificate,
    i,
  ) => ({ id: BigInt(i + 1), type: 0, data: certificate.bytes }));
  values.push({ id: 9n, type: 0, data: new Uint8Array([0xc1]) });
  assert.deepEqual(newestMailbox(values, bob.id, NOW_MS)?.bytes, newer.bytes);
  assert.equal(newestMailbox(values.slice(1, 3), bob.id, NOW_MS), undefined);
});

Deno.test("rememberPeerDevice() keeps the endpoints of the last MAX_PEER_ENDPOINT_DEVICES devices that announced any, and says when they changed", () => {
  const peers = new Map<string, PeerRecord>();
  const hex = (device: DeviceKeys) => device.id.toString();
  assert.equal(rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS), false);
  assert.equal(
    rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS, ["10.0.0.1:4000"]),
    true,
  );
  // The same again, or an offline sighting (no endpoints): nothing to save.
  assert.equal(
    rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS, ["10.0.0.1:4000"]),
    false,
  );
  assert.equal(rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS), false);
  assert.equal(
    rememberPeerDevice(peers, BOB, certify(laptop), NOW_MS, ["10.0.0.2:4000"]),
    true,
  );
  // Only the first MAX_PEER_ENDPOINTS are looked at; hostile ones are dropped.
  rememberPeerDevice(peers, BOB, certify(phone), NOW_MS, [
    "a b:1",
    "x".repeat(65),
    "",
    "p:1",
    "q:1",
    "r:1",
    "s:1",
  ]);
  const peer = peers.get(BOB)!;
  assert.deepEqual(peer.endpoints?.get(hex(phone)), ["p:1"]);
  // Nothing valid: the device's endpoints are forgotten.
  rememberPeerDevice(peers, BOB, certify(phone), NOW_MS, [""]);
  assert.equal(peer.endpoints?.has(hex(phone)), false);
  rememberPeerDevice(peers, BOB, certify(phone), NOW_MS, ["p:1", "q:1"]);
  const tablet = DeviceKeys.generate(random);
  rememberPeerDevice(peers, BOB, certify(tablet), NOW_MS, ["t:1"]);
  assert.deepEqual([...peer.endpoints!.keys()], [hex(phone), hex(tablet)]);
  assert.equal(peer.endpoints!.size, MAX_PEER_ENDPOINT_DEVICES);
  assert.deepEqual(peer.endpoints!.get(hex(phone)), ["p:1", "q:1"]);
});
