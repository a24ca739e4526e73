/**
 * DeviceAnnouncement: what a watcher accepts. Every refusal is checked with
 * its error class, on announcements built by hand (seeded keys, fixed times).
 */
import assert from "node:assert/strict";
import {
  DEVICE_ANNOUNCEMENT_TYPE,
  DeviceAnnouncement,
  MAX_ENDPOINTS,
  MAX_NOTE_LENGTH,
} from "../lib/presence/device_announcement.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { RevocationList } from "../lib/identity/revocation_list.ts";
import { SignedRecord } from "../lib/identity/signed_record.ts";
import { encodeTuple } from "../lib/identity/_codec.ts";
import {
  BadSignatureError,
  DeviceRevokedError,
  MalformedRecordError,
  RecordExpiredError,
  RecordFromFutureError,
  SignerMismatchError,
} from "../lib/identity/errors.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const NOW_MS = 1_700_000_000_000;
const LIFETIME_MS = 60_000;
const random = rngBytes(seededRng("device-announcement"));

const account = AccountKeys.generate(random);
const device = DeviceKeys.generate(random);
const certificate = DeviceCertificate.issue(account, device, {
  issuedMs: NOW_MS - 1_000,
});
const otherAccount = AccountKeys.generate(random);
const otherDevice = DeviceKeys.generate(random);
const otherCertificate = DeviceCertificate.issue(otherAccount, otherDevice, {
  issuedMs: NOW_MS - 1_000,
});

function announce(
  options: { seq?: number; nowMs?: number; goodbye?: boolean } = {},
): DeviceAnnouncement {
  return DeviceAnnouncement.create(device, certificate, {
    seq: options.seq ?? NOW_MS,
    nowMs: options.nowMs ?? NOW_MS,
    lifetimeMs: LIFETIME_MS,
    goodbye: options.goodbye,
    note: "lunch",
    endpoints: ["10.0.0.1:4222"],
  });
}

/** Decodes `bytes` as a watcher would and verifies for `account` at `nowMs`. */
function check(bytes: Uint8Array, nowMs = NOW_MS + 1_000): void {
  DeviceAnnouncement.decode(bytes).verify({ accountId: account.id, nowMs });
}

Deno.test("DeviceAnnouncement round-trips its fields and verifies for its account", () => {
  const sent = announce({ seq: NOW_MS + 5 });
  const received = DeviceAnnouncement.decode(sent.bytes);
  received.verify({ accountId: account.id, nowMs: NOW_MS + 1 });
  assert.equal(received.note, "lunch");
  assert.deepEqual(received.endpoints, ["10.0.0.1:4222"]);
  assert.equal(received.goodbye, false);
  assert.equal(received.seq, NOW_MS + 5);
  assert.equal(received.expiresMs, NOW_MS + LIFETIME_MS);
  assert.ok(received.deviceId.equals(device.id));
  assert.equal(received.record.type, DEVICE_ANNOUNCEMENT_TYPE);
  assert.equal(
    DeviceAnnouncement.decode(announce({ goodbye: true }).bytes).goodbye,
    true,
  );
});

Deno.test("DeviceAnnouncement.verify() throws BadSignatureError for a forged signature", () => {
  const bytes = announce().bytes.slice();
  // The signature is the record's last field.
  bytes[bytes.length - 1] ^= 0x01;
  assert.throws(() => check(bytes), BadSignatureError);
});

Deno.test("DeviceAnnouncement.verify() throws SignerMismatchError for a device of another account", () => {
  const foreign = DeviceAnnouncement.create(otherDevice, otherCertificate, {
    seq: NOW_MS,
    nowMs: NOW_MS,
    lifetimeMs: LIFETIME_MS,
  });
  assert.throws(() => check(foreign.bytes), SignerMismatchError);
});

Deno.test("DeviceAnnouncement.verify() throws SignerMismatchError when the signer is not the certified device", () => {
  // Signed by another account's device, but carrying our device's
  // certificate: create() refuses this, so build the record by hand.
  const record = SignedRecord.sign(otherDevice, {
    type: DEVICE_ANNOUNCEMENT_TYPE,
    seq: NOW_MS,
    createdMs: NOW_MS,
    expiresMs: NOW_MS + LIFETIME_MS,
    body: encodeTuple(["da1", certificate.bytes, 0, "", []]),
  });
  assert.throws(() => check(record.bytes), SignerMismatchError);
  // Our device, but certified by another account: not ours to trust.
  const foreignCertificate = DeviceCertificate.issue(otherAccount, device, {
    issuedMs: NOW_MS - 1_000,
  });
  const forged = DeviceAnnouncement.create(device, foreignCertificate, {
    seq: NOW_MS,
    nowMs: NOW_MS,
    lifetimeMs: LIFETIME_MS,
  });
  assert.throws(() => check(forged.bytes), SignerMismatchError);
});

Deno.test("DeviceAnnouncement.verify() throws DeviceRevokedError for a revoked device", () => {
  const list = RevocationList.create(account, {
    seq: 1,
    revoked: [device.id],
    issuedMs: NOW_MS,
  });
  assert.throws(
    () =>
      DeviceAnnouncement.decode(announce().bytes).verify({
        accountId: account.id,
        nowMs: NOW_MS + 1,
        revocationList: list,
      }),
    DeviceRevokedError,
  );
});

Deno.test("DeviceAnnouncement.verify() refuses expired and future-dated announcements", () => {
  assert.throws(
    () => check(announce().bytes, NOW_MS + LIFETIME_MS),
    RecordExpiredError,
  );
  // Five minutes of clock skew are tolerated, not more.
  const future = announce({ nowMs: NOW_MS + 10 * 60_000 });
  check(announce({ nowMs: NOW_MS + 4 * 60_000 }).bytes, NOW_MS);
  assert.throws(() => check(future.bytes, NOW_MS), RecordFromFutureError);
  // An expired certificate makes the announcement expire too.
  const shortCertificate = DeviceCertificate.issue(account, device, {
    issuedMs: NOW_MS - 1_000,
    lifetimeMs: 2_000,
  });
  const late = DeviceAnnouncement.create(device, shortCertificate, {
    seq: NOW_MS + 5_000,
    nowMs: NOW_MS + 5_000,
    lifetimeMs: LIFETIME_MS,
  });
  assert.throws(() => check(late.bytes, NOW_MS + 6_000), RecordExpiredError);
});

Deno.test("DeviceAnnouncement.decode() throws MalformedRecordError for malformed bytes", () => {
  const good = announce().bytes;
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0xc1]),
    good.subarray(0, good.length - 10),
    new TextEncoder().encode("not a record at all"),
    // A valid record of another type.
    certificate.bytes,
    // The right type with a body that is not an announcement.
    SignedRecord.sign(device, {
      type: DEVICE_ANNOUNCEMENT_TYPE,
      seq: 1,
      createdMs: NOW_MS,
      expiresMs: NOW_MS + 1,
      body: encodeTuple(["da1", certificate.bytes, 7, "", []]),
    }).bytes,
    SignedRecord.sign(device, {
      type: DEVICE_ANNOUNCEMENT_TYPE,
      seq: 1,
      createdMs: NOW_MS,
      expiresMs: NOW_MS + 1,
      body: encodeTuple(["da1", new Uint8Array(3), 0, "", []]),
    }).bytes,
  ];
  for (const bytes of cases) {
    assert.throws(() => DeviceAnnouncement.decode(bytes), MalformedRecordError);
  }
});

Deno.test("DeviceAnnouncement.create() rejects invalid inputs", () => {
  const base = { seq: 1, nowMs: NOW_MS, lifetimeMs: LIFETIME_MS };
  assert.throws(
    () => DeviceAnnouncement.create(otherDevice, certificate, base),
    TypeError,
  );
  assert.throws(
    () =>
      DeviceAnnouncement.create(device, certificate, {
        ...base,
        note: "x".repeat(MAX_NOTE_LENGTH + 1),
      }),
    RangeError,
  );
  assert.throws(
    () =>
      DeviceAnnouncement.create(device, certificate, {
        ...base,
        endpoints: Array(MAX_ENDPOINTS + 1).fill("h:1"),
      }),
    RangeError,
  );
  DeviceAnnouncement.create(device, certificate, {
    ...base,
    note: "x".repeat(MAX_NOTE_LENGTH),
  });
});
