import assert from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import {
  DEFAULT_CERTIFICATE_LIFETIME_MS,
  DEVICE_CERTIFICATE_TYPE,
  DeviceCertificate,
  MAX_DEVICE_NAME_LENGTH,
} from "../lib/identity/device_certificate.ts";
import {
  DEFAULT_REVOCATION_LIFETIME_MS,
  MAX_REVOKED_DEVICES,
  REVOCATION_LIST_TYPE,
  RevocationList,
} from "../lib/identity/revocation_list.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { SignedRecord } from "../lib/identity/signed_record.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import {
  BadSignatureError,
  DeviceRevokedError,
  MalformedRecordError,
  RecordExpiredError,
  RecordFromFutureError,
  SignerMismatchError,
} from "../lib/identity/errors.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { thrown } from "./_thrown.ts";
import { ed25519Verify } from "../lib/crypto.ts";

const random = rngBytes(seededRng(200));
const accountA = AccountKeys.generate(random);
const accountB = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);

const ISSUED_MS = 1_700_000_000_000;
const NOW_MS = ISSUED_MS + 1_000;

function issue(
  account = accountA,
  device = laptop,
  name = "laptop",
): DeviceCertificate {
  return DeviceCertificate.issue(account, device, {
    name,
    issuedMs: ISSUED_MS,
  });
}

// --- DeviceCertificate -------------------------------------------------------

/**
 * Flips every bit of Alice's signed record `bytes` in turn: each copy must be
 * refused by `decode` (MalformedRecordError) or by `verify` (BadSignatureError
 * while it still names Alice, SignerMismatchError once it names another).
 */
function assertEveryBitFlipRejected(
  bytes: Uint8Array,
  decode: (flipped: Uint8Array) => {
    accountId: InfoHash;
    verify(options: { accountId: InfoHash; nowMs: number }): void;
  },
): void {
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const flipped = bytes.slice();
    flipped[bit >> 3] ^= 1 << (bit & 7);
    let received: ReturnType<typeof decode>;
    try {
      received = decode(flipped);
    } catch (error) {
      assert.ok(
        error instanceof MalformedRecordError,
        `bit ${bit}: decode threw ${error}`,
      );
      continue;
    }
    assert.throws(
      () => received.verify({ accountId: accountA.id, nowMs: NOW_MS }),
      received.accountId.equals(accountA.id)
        ? BadSignatureError
        : SignerMismatchError,
      `bit ${bit}`,
    );
  }
}

Deno.test("DeviceCertificate.issue() then decode() and verify() round-trips account, device, keys and name", () => {
  const certificate = issue();
  const received = DeviceCertificate.decode(certificate.bytes);
  received.verify({ accountId: accountA.id, nowMs: NOW_MS });
  assert.ok(received.accountId.equals(accountA.id));
  assert.deepEqual(received.accountPublicKey, accountA.publicKey);
  assert.ok(received.deviceId.equals(laptop.id));
  assert.deepEqual(received.devicePublicKey, laptop.publicKey);
  assert.deepEqual(received.encryptionKey, laptop.encryptionKey);
  assert.equal(received.name, "laptop");
  assert.equal(received.issuedMs, ISSUED_MS);
  assert.equal(received.expiresMs, ISSUED_MS + DEFAULT_CERTIFICATE_LIFETIME_MS);
  assert.deepEqual(received.bytes, certificate.bytes);
  assert.equal(received.record.type, DEVICE_CERTIFICATE_TYPE);
  // Without accountId the certificate's own account is checked.
  received.verify({ nowMs: NOW_MS });
});

Deno.test("DeviceCertificate.issue() accepts an empty name, a 64-character name and non-ASCII names", () => {
  for (
    const name of [
      "",
      "x".repeat(MAX_DEVICE_NAME_LENGTH),
      "Téléphone de Zoë 📱",
    ]
  ) {
    const received = DeviceCertificate.decode(
      issue(accountA, laptop, name).bytes,
    );
    received.verify({ accountId: accountA.id, nowMs: NOW_MS });
    assert.equal(received.name, name);
  }
  const unnamed = DeviceCertificate.issue(accountA, laptop, {
    issuedMs: ISSUED_MS,
  });
  assert.equal(DeviceCertificate.decode(unnamed.bytes).name, "");
});

Deno.test("DeviceCertificate.issue() throws RangeError for a name longer than 64 characters or a negative lifetime", () => {
  assert.throws(
    () => issue(accountA, laptop, "x".repeat(MAX_DEVICE_NAME_LENGTH + 1)),
    RangeError,
  );
  assert.throws(
    () =>
      DeviceCertificate.issue(accountA, laptop, {
        issuedMs: ISSUED_MS,
        lifetimeMs: -1,
      }),
    RangeError,
  );
  assert.throws(
    () => DeviceCertificate.issue(accountA, laptop, { issuedMs: -1 }),
    RangeError,
  );
});

Deno.test("DeviceCertificate.verify() throws SignerMismatchError for a certificate of account A checked against account B", () => {
  const received = DeviceCertificate.decode(issue().bytes);
  const error = thrown(
    () => received.verify({ accountId: accountB.id, nowMs: NOW_MS }),
    SignerMismatchError,
  );
  assert.equal(error.expected, accountB.id.toString());
  assert.equal(error.actual, accountA.id.toString());
});

Deno.test("DeviceCertificate.verify() throws RecordExpiredError at and after the end of its lifetime", () => {
  const certificate = DeviceCertificate.issue(accountA, laptop, {
    issuedMs: ISSUED_MS,
    lifetimeMs: 60_000,
  });
  const received = DeviceCertificate.decode(certificate.bytes);
  received.verify({ nowMs: ISSUED_MS + 59_999 });
  const error = thrown(
    () => received.verify({ nowMs: ISSUED_MS + 60_000 }),
    RecordExpiredError,
  );
  assert.equal(error.expiresMs, ISSUED_MS + 60_000);
  assert.throws(
    () =>
      received.verify({ accountId: accountA.id, nowMs: ISSUED_MS + 10 ** 9 }),
    RecordExpiredError,
  );
});

Deno.test("DeviceCertificate.verify() throws RecordFromFutureError for a certificate issued far ahead of the verifier's clock", () => {
  const received = DeviceCertificate.decode(issue().bytes);
  assert.throws(
    () => received.verify({ nowMs: ISSUED_MS - 3_600_000 }),
    RecordFromFutureError,
  );
});

Deno.test("DeviceCertificate.verify() throws DeviceRevokedError for a device on the account's revocation list", () => {
  const list = RevocationList.create(accountA, {
    seq: 1,
    revoked: [laptop.id],
    issuedMs: ISSUED_MS,
  });
  const received = DeviceCertificate.decode(issue().bytes);
  const error = thrown(
    () =>
      received.verify({
        accountId: accountA.id,
        nowMs: NOW_MS,
        revocationList: list,
      }),
    DeviceRevokedError,
  );
  assert.equal(error.deviceId, laptop.id.toString());
  // Another device of the same account is still accepted.
  DeviceCertificate.decode(issue(accountA, phone, "phone").bytes).verify({
    accountId: accountA.id,
    nowMs: NOW_MS,
    revocationList: list,
  });
});

Deno.test("DeviceCertificate.verify() throws SignerMismatchError for a revocation list of another account", () => {
  const listOfB = RevocationList.create(accountB, {
    seq: 1,
    revoked: [],
    issuedMs: ISSUED_MS,
  });
  const received = DeviceCertificate.decode(issue().bytes);
  const error = thrown(
    () =>
      received.verify({
        accountId: accountA.id,
        nowMs: NOW_MS,
        revocationList: listOfB,
      }),
    SignerMismatchError,
  );
  assert.equal(error.expected, accountA.id.toString());
  assert.equal(error.actual, accountB.id.toString());
});

Deno.test("DeviceCertificate.decode() throws MalformedRecordError for a SignedRecord that is not a certificate", () => {
  const other = SignedRecord.sign(accountA, {
    type: "device-announcement",
    seq: 0,
    createdMs: ISSUED_MS,
    expiresMs: ISSUED_MS + 60_000,
    body: new Uint8Array(0),
  });
  assert.throws(
    () => DeviceCertificate.decode(other.bytes),
    MalformedRecordError,
  );
  const list = RevocationList.create(accountA, {
    seq: 1,
    revoked: [],
    issuedMs: ISSUED_MS,
  });
  assert.throws(
    () => DeviceCertificate.decode(list.bytes),
    MalformedRecordError,
  );
});

Deno.test("DeviceCertificate.decode() throws MalformedRecordError for a certificate record with a malformed body", () => {
  const bodies: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["wrong tag", encode(["dcb2", laptop.publicKey, laptop.encryptionKey, ""])],
    ["3 fields", encode(["dcb1", laptop.publicKey, laptop.encryptionKey])],
    [
      "short device key",
      encode(["dcb1", laptop.publicKey.subarray(1), laptop.encryptionKey, ""]),
    ],
    [
      "short encryption key",
      encode(["dcb1", laptop.publicKey, laptop.encryptionKey.subarray(1), ""]),
    ],
    [
      "name too long",
      encode(["dcb1", laptop.publicKey, laptop.encryptionKey, "x".repeat(65)]),
    ],
    [
      "name not text",
      encode(["dcb1", laptop.publicKey, laptop.encryptionKey, 7]),
    ],
  ];
  for (const [name, body] of bodies) {
    const record = SignedRecord.sign(accountA, {
      type: DEVICE_CERTIFICATE_TYPE,
      seq: 0,
      createdMs: ISSUED_MS,
      expiresMs: ISSUED_MS + 60_000,
      body,
    });
    assert.throws(
      () => DeviceCertificate.decode(record.bytes),
      MalformedRecordError,
      name,
    );
  }
});

Deno.test("DeviceCertificate.decode() then verify() rejects every single-bit flip with MalformedRecordError, SignerMismatchError or BadSignatureError", () => {
  assertEveryBitFlipRejected(
    issue(accountA, laptop, "").bytes,
    (bytes) => DeviceCertificate.decode(bytes),
  );
});

Deno.test("DeviceCertificate.verify() refuses another account's certificate, or a revoked device, without an Ed25519 verification", () => {
  let calls = 0;
  const counting = (s: Uint8Array, m: Uint8Array, k: Uint8Array) => {
    calls += 1;
    return ed25519Verify(s, m, k);
  };
  const certificate = DeviceCertificate.decode(
    issue(accountA, laptop, "").bytes,
  );
  assert.throws(
    () =>
      certificate.verify({
        accountId: accountB.id,
        nowMs: NOW_MS,
        verifySignature: counting,
      }),
    SignerMismatchError,
  );
  const revoked = RevocationList.create(accountA, {
    seq: 1,
    revoked: [laptop.id],
    issuedMs: NOW_MS,
  });
  assert.throws(
    () =>
      certificate.verify({
        accountId: accountA.id,
        nowMs: NOW_MS,
        revocationList: revoked,
        verifySignature: counting,
      }),
    DeviceRevokedError,
  );
  assert.equal(calls, 0);
  certificate.verify({
    accountId: accountA.id,
    nowMs: NOW_MS,
    verifySignature: counting,
  });
  assert.equal(calls, 1);
});

// --- RevocationList ----------------------------------------------------------

Deno.test("RevocationList.create() then decode() and verify() round-trips the revoked ids, sorted and without duplicates", () => {
  const list = RevocationList.create(accountA, {
    seq: 7,
    revoked: [phone.id, laptop.id, phone.id],
    issuedMs: ISSUED_MS,
  });
  const received = RevocationList.decode(list.bytes);
  received.verify({ accountId: accountA.id, nowMs: NOW_MS });
  assert.equal(received.seq, 7);
  assert.ok(received.accountId.equals(accountA.id));
  const expected = [phone.id, laptop.id].sort((a, b) => a.compare(b)).map(
    String,
  );
  assert.deepEqual(received.revoked.map(String), expected);
  assert.equal(received.isRevoked(laptop.id), true);
  assert.equal(received.isRevoked(phone.id), true);
  assert.equal(received.isRevoked(accountA.id), false);
  assert.equal(received.record.type, REVOCATION_LIST_TYPE);
  assert.equal(
    received.record.expiresMs,
    ISSUED_MS + DEFAULT_REVOCATION_LIFETIME_MS,
  );
});

Deno.test("RevocationList.create() accepts an empty list and exactly 1024 ids", () => {
  const empty = RevocationList.decode(
    RevocationList.create(accountA, { seq: 0, revoked: [], issuedMs: 0 }).bytes,
  );
  empty.verify({ accountId: accountA.id, nowMs: 1 });
  assert.equal(empty.revoked.length, 0);
  const rng = seededRng(201);
  const ids = Array.from(
    { length: MAX_REVOKED_DEVICES },
    () => InfoHash.random(rng),
  );
  const full = RevocationList.decode(
    RevocationList.create(accountA, { seq: 1, revoked: ids, issuedMs: 0 })
      .bytes,
  );
  full.verify({ accountId: accountA.id, nowMs: 1 });
  assert.equal(full.revoked.length, MAX_REVOKED_DEVICES);
  assert.ok(ids.every((id) => full.isRevoked(id)));
});

Deno.test("RevocationList.create() throws RangeError for more than 1024 ids", () => {
  const rng = seededRng(202);
  const ids = Array.from(
    { length: MAX_REVOKED_DEVICES + 1 },
    () => InfoHash.random(rng),
  );
  assert.throws(
    () =>
      RevocationList.create(accountA, { seq: 1, revoked: ids, issuedMs: 0 }),
    RangeError,
  );
});

Deno.test("RevocationList.revoke() adds devices and increments seq; past 1024 devices it throws RangeError", () => {
  const first = RevocationList.create(accountA, {
    seq: 3,
    revoked: [laptop.id],
    issuedMs: ISSUED_MS,
  });
  const second = first.revoke(accountA, [phone.id], NOW_MS);
  assert.equal(second.seq, 4);
  assert.equal(second.record.createdMs, NOW_MS);
  assert.ok(second.isRevoked(laptop.id) && second.isRevoked(phone.id));
  assert.equal(
    first.isRevoked(phone.id),
    false,
    "the original list is unchanged",
  );
  RevocationList.decode(second.bytes).verify({
    accountId: accountA.id,
    nowMs: NOW_MS,
  });
  // Revoking an already revoked device still makes a new list, without duplicates.
  const third = second.revoke(accountA, [laptop.id], NOW_MS);
  assert.equal(third.seq, 5);
  assert.equal(third.revoked.length, 2);
  const rng = seededRng(203);
  const full = RevocationList.create(accountA, {
    seq: 1,
    revoked: Array.from(
      { length: MAX_REVOKED_DEVICES },
      () => InfoHash.random(rng),
    ),
    issuedMs: 0,
  });
  assert.throws(() => full.revoke(accountA, [laptop.id], 1), RangeError);
});

Deno.test("RevocationList.revoke() throws SignerMismatchError when called with another account's keys", () => {
  const list = RevocationList.create(accountA, {
    seq: 1,
    revoked: [],
    issuedMs: ISSUED_MS,
  });
  const error = thrown(
    () => list.revoke(accountB, [laptop.id], NOW_MS),
    SignerMismatchError,
  );
  assert.equal(error.expected, accountA.id.toString());
  assert.equal(error.actual, accountB.id.toString());
});

Deno.test("RevocationList.newest() keeps the higher seq: newer replaces, older is ignored, a tie keeps the current list", () => {
  const list = (seq: number, revoked: InfoHash[] = []) =>
    RevocationList.create(accountA, { seq, revoked, issuedMs: ISSUED_MS });
  const current = list(5, [laptop.id]);
  const newer = list(6);
  const older = list(4, [phone.id]);
  const tie = list(5, [phone.id]);
  assert.equal(RevocationList.newest(undefined, current), current);
  assert.equal(RevocationList.newest(current, newer), newer);
  assert.equal(RevocationList.newest(current, older), current);
  assert.equal(RevocationList.newest(current, tie), current);
  assert.equal(RevocationList.newest(newer, current), newer);
});

Deno.test("RevocationList.newest() throws SignerMismatchError for lists of different accounts", () => {
  const ofA = RevocationList.create(accountA, {
    seq: 1,
    revoked: [],
    issuedMs: ISSUED_MS,
  });
  const ofB = RevocationList.create(accountB, {
    seq: 2,
    revoked: [],
    issuedMs: ISSUED_MS,
  });
  const error = thrown(
    () => RevocationList.newest(ofA, ofB),
    SignerMismatchError,
  );
  assert.equal(error.expected, accountA.id.toString());
  assert.equal(error.actual, accountB.id.toString());
});

Deno.test("RevocationList.verify() throws SignerMismatchError for the wrong account", () => {
  const received = RevocationList.decode(
    RevocationList.create(accountA, {
      seq: 1,
      revoked: [laptop.id],
      issuedMs: ISSUED_MS,
    }).bytes,
  );
  const error = thrown(
    () => received.verify({ accountId: accountB.id, nowMs: NOW_MS }),
    SignerMismatchError,
  );
  assert.equal(error.expected, accountB.id.toString());
  assert.equal(error.actual, accountA.id.toString());
});

Deno.test("RevocationList.verify() throws RecordExpiredError once the list's lifetime is over", () => {
  const list = RevocationList.create(accountA, {
    seq: 1,
    revoked: [],
    issuedMs: ISSUED_MS,
    lifetimeMs: 1_000,
  });
  const received = RevocationList.decode(list.bytes);
  received.verify({ accountId: accountA.id, nowMs: ISSUED_MS + 999 });
  assert.throws(
    () => received.verify({ accountId: accountA.id, nowMs: ISSUED_MS + 1_000 }),
    RecordExpiredError,
  );
});

Deno.test("RevocationList.decode() then verify() rejects every single-bit flip with MalformedRecordError or BadSignatureError", () => {
  const bytes = RevocationList.create(accountA, {
    seq: 1,
    revoked: [laptop.id],
    issuedMs: ISSUED_MS,
  }).bytes;
  assertEveryBitFlipRejected(
    bytes,
    (flipped) => RevocationList.decode(flipped),
  );
});

Deno.test("RevocationList.verify() throws BadSignatureError for a list with a device id removed by a third party", () => {
  const list = RevocationList.create(accountA, {
    seq: 1,
    revoked: [laptop.id, phone.id],
    issuedMs: ISSUED_MS,
  });
  // Re-encode the record with a body that no longer lists the laptop, keeping Alice's signature.
  const fields = decode(list.bytes) as unknown[];
  fields[6] = encode(["rlb1", [phone.id.bytes]]);
  const forged = RevocationList.decode(encode(fields));
  assert.equal(forged.isRevoked(laptop.id), false);
  assert.throws(
    () => forged.verify({ accountId: accountA.id, nowMs: NOW_MS }),
    BadSignatureError,
  );
});

Deno.test("RevocationList.decode() throws MalformedRecordError for a certificate and for malformed list bodies", () => {
  assert.throws(
    () => RevocationList.decode(issue().bytes),
    MalformedRecordError,
  );
  const bodies: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["wrong tag", encode(["rlb2", []])],
    ["ids not an array", encode(["rlb1", laptop.id.bytes])],
    ["id of 19 bytes", encode(["rlb1", [laptop.id.bytes.subarray(1)]])],
    ["id as hex text", encode(["rlb1", [laptop.id.toString()]])],
    [
      "1025 ids",
      encode(["rlb1", Array.from({ length: 1025 }, () => laptop.id.bytes)]),
    ],
  ];
  for (const [name, body] of bodies) {
    const record = SignedRecord.sign(accountA, {
      type: REVOCATION_LIST_TYPE,
      seq: 1,
      createdMs: ISSUED_MS,
      expiresMs: ISSUED_MS + 60_000,
      body,
    });
    assert.throws(
      () => RevocationList.decode(record.bytes),
      MalformedRecordError,
      name,
    );
  }
});
