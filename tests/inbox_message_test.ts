/**
 * Inbox messages: codec round trips, hostile bytes, the inbox key and value
 * id, the mailbox derivation, and that a maximum-size trust request still
 * fits in one DHT value once sealed.
 */
import assert from "node:assert/strict";
import {
  decodeInboxMessage,
  encodeInboxMessage,
  INBOX_PURPOSE,
  inboxKey,
  type InboxMessage,
  inboxValueId,
  MAX_TRUST_REQUEST_PAYLOAD_BYTES,
  MESSAGE_ID_BYTES,
} from "../lib/trust/inbox_message.ts";
import {
  isMailboxCertificate,
  MAILBOX_NAME,
  mailboxCertificate,
  mailboxKeys,
} from "../lib/trust/mailbox.ts";
import { encodeTuple } from "../lib/identity/_codec.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { MalformedRecordError } from "../lib/identity/errors.ts";
import { openSealedBox, sealBox } from "../lib/identity/sealed_box.ts";
import { MAX_VALUE_BYTES } from "../lib/dht/value_type.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const NOW_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("inbox-message"));
const id = (fill: number) => new Uint8Array(MESSAGE_ID_BYTES).fill(fill);

Deno.test("encodeInboxMessage() and decodeInboxMessage() round-trip every kind", () => {
  const messages: InboxMessage[] = [
    { kind: "request", id: id(1), sentMs: 5, payload: new Uint8Array([1, 2]) },
    { kind: "request", id: id(2), sentMs: 6, payload: new Uint8Array(0) },
    { kind: "confirm", id: id(3), sentMs: 7 },
    { kind: "receipt", id: id(4), sentMs: 8, ackId: id(9) },
    { kind: "sync", id: id(5), sentMs: 9, snapshot: new Uint8Array([3]) },
    // im2: bound to a target account; a confirmation names its request.
    {
      kind: "request",
      id: id(6),
      sentMs: 10,
      to: new Uint8Array(20).fill(2),
      payload: new Uint8Array([1]),
      stamp: new Uint8Array(8).fill(4),
    },
    {
      kind: "confirm",
      id: id(7),
      sentMs: 11,
      to: new Uint8Array(20).fill(2),
      requestId: id(6),
    },
    {
      kind: "receipt",
      id: id(8),
      sentMs: 12,
      to: new Uint8Array(20).fill(2),
      ackId: id(7),
    },
  ];
  for (const message of messages) {
    assert.deepEqual(decodeInboxMessage(encodeInboxMessage(message)), message);
  }
});

Deno.test("decodeInboxMessage() throws MalformedRecordError for hostile bytes", () => {
  const good = encodeInboxMessage({ kind: "confirm", id: id(1), sentMs: 1 });
  const cases = [
    new Uint8Array(0),
    good.subarray(0, good.length - 1),
    encodeTuple(["im1", 9, id(1), 1, new Uint8Array(0)]),
    encodeTuple(["im2", 1, id(1), 1, new Uint8Array(0)]),
    encodeTuple([
      "im3",
      1,
      id(1),
      1,
      new Uint8Array(20),
      new Uint8Array(0),
      new Uint8Array(0),
    ]),
    encodeTuple([
      "im2",
      1,
      id(1),
      1,
      new Uint8Array(19),
      new Uint8Array(0),
      new Uint8Array(0),
    ]),
    encodeTuple([
      "im2",
      1,
      id(1),
      1,
      new Uint8Array(20),
      new Uint8Array(0),
      new Uint8Array(15),
    ]),
    encodeTuple([
      "im2",
      2,
      id(1),
      1,
      new Uint8Array(20),
      id(2),
      new Uint8Array(1),
    ]),
    encodeTuple([
      "im2",
      0,
      id(1),
      1,
      new Uint8Array(20),
      new Uint8Array(0),
      new Uint8Array(33),
    ]),
    encodeTuple(["im1", 1, new Uint8Array(15), 1, new Uint8Array(0)]),
    encodeTuple(["im1", 1, id(1), 1, new Uint8Array(1)]),
    encodeTuple(["im1", 2, id(1), 1, new Uint8Array(15)]),
    encodeTuple(["im1", 0, id(1), -1, new Uint8Array(0)]),
    encodeTuple(["im1", 0, id(1), 1, "not bytes"]),
  ];
  for (const [index, bytes] of cases.entries()) {
    assert.throws(
      () => decodeInboxMessage(bytes),
      MalformedRecordError,
      `case ${index}`,
    );
  }
});

Deno.test('inboxKey() is SHA-1 of "inbox:" and the device id hex', () => {
  const device = InfoHash.get("some device");
  assert.ok(inboxKey(device).equals(InfoHash.get(`inbox:${device}`)));
  assert.ok(!inboxKey(device).equals(device));
});

Deno.test("inboxValueId() is stable for one message and recipient, and differs otherwise", () => {
  const one = InfoHash.get("one");
  const two = InfoHash.get("two");
  assert.equal(inboxValueId(id(1), one), inboxValueId(id(1), one));
  assert.notEqual(inboxValueId(id(1), one), inboxValueId(id(1), two));
  assert.notEqual(inboxValueId(id(1), one), inboxValueId(id(2), one));
  assert.ok(inboxValueId(id(1), one) > 0n);
  assert.ok(inboxValueId(id(1), one) < 1n << 64n);
});

Deno.test("mailboxKeys() is the same on every device of an account, and differs between accounts", () => {
  const account = AccountKeys.generate(random);
  const copy = AccountKeys.fromSecret(account.exportSecret());
  assert.ok(mailboxKeys(account).id.equals(mailboxKeys(copy).id));
  const other = AccountKeys.generate(random);
  assert.ok(!mailboxKeys(account).id.equals(mailboxKeys(other).id));
  const certificate = mailboxCertificate(account, NOW_MS);
  assert.ok(isMailboxCertificate(certificate));
  assert.equal(certificate.name, MAILBOX_NAME);
  certificate.verify({ accountId: account.id, nowMs: NOW_MS + 1 });
  const device = DeviceKeys.generate(random);
  assert.ok(
    !isMailboxCertificate(
      DeviceCertificate.issue(account, device, { issuedMs: NOW_MS }),
    ),
  );
});

Deno.test("A sealed trust request of MAX_TRUST_REQUEST_PAYLOAD_BYTES fits in one DHT value", () => {
  const sender = AccountKeys.generate(random);
  const senderDevice = DeviceKeys.generate(random);
  const senderCertificate = DeviceCertificate.issue(sender, senderDevice, {
    issuedMs: NOW_MS,
    name: "x".repeat(64),
  });
  const target = AccountKeys.generate(random);
  const payload = random(MAX_TRUST_REQUEST_PAYLOAD_BYTES);
  const message = encodeInboxMessage({
    kind: "request",
    id: id(1),
    sentMs: NOW_MS,
    payload,
  });
  const box = sealBox(message, {
    sender: { device: senderDevice, certificate: senderCertificate },
    recipient: mailboxCertificate(target, NOW_MS),
    purpose: INBOX_PURPOSE,
    randomBytes: random,
  });
  assert.ok(
    box.length <= MAX_VALUE_BYTES,
    `${box.length} bytes > ${MAX_VALUE_BYTES}`,
  );
  const opened = openSealedBox(box, {
    device: mailboxKeys(target),
    purpose: INBOX_PURPOSE,
    nowMs: NOW_MS + 1,
  });
  const decoded = decodeInboxMessage(opened.message);
  assert.equal(decoded.kind, "request");
  assert.deepEqual(decoded.kind === "request" && decoded.payload, payload);
});
