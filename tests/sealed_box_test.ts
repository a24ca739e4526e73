import assert from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import {
  MAX_SEALED_MESSAGE_BYTES,
  openSealedBox,
  peekSealedBox,
  sealBox,
} from "../lib/identity/sealed_box.ts";
import {
  DEVICE_CERTIFICATE_TYPE,
  DeviceCertificate,
} from "../lib/identity/device_certificate.ts";
import { RevocationList } from "../lib/identity/revocation_list.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { SignedRecord } from "../lib/identity/signed_record.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  hkdfSha256,
  x25519PublicKey,
  x25519Shared,
} from "../lib/crypto.ts";
import {
  BadSignatureError,
  DeviceRevokedError,
  MalformedRecordError,
  RecordExpiredError,
  SealedBoxTamperedError,
  SignerMismatchError,
  WrongPurposeError,
  WrongRecipientError,
} from "../lib/identity/errors.ts";
import { type RandomBytes, rngBytes, seededRng } from "../lib/rng.ts";
import { thrown } from "./_thrown.ts";

const ISSUED_MS = 1_700_000_000_000;
const NOW_MS = ISSUED_MS + 1_000;
const PURPOSE = "trust-request";

const random = rngBytes(seededRng(300));

interface Party {
  account: AccountKeys;
  device: DeviceKeys;
  certificate: DeviceCertificate;
}

function party(randomBytes: RandomBytes, lifetimeMs?: number): Party {
  const account = AccountKeys.generate(randomBytes);
  const device = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, device, {
    issuedMs: ISSUED_MS,
    lifetimeMs,
  });
  return { account, device, certificate };
}

const alice = party(random);
const bob = party(random);
const carol = party(random);

function seal(
  message: Uint8Array,
  from: Party = alice,
  to: DeviceCertificate = bob.certificate,
  purpose = PURPOSE,
  randomBytes: RandomBytes = random,
): Uint8Array {
  return sealBox(message, {
    sender: { device: from.device, certificate: from.certificate },
    recipient: to,
    purpose,
    randomBytes,
  });
}

const text = (value: string) => new TextEncoder().encode(value);

// The documented construction (see the module comment of sealed_box.ts),
// written out independently so that a box can be opened and re-sealed by hand.
const KDF_INFO = text("jami-contacts/sealed-box/v1");
const AAD_DOMAIN = "jami-contacts/sealed-box-header/v1";

function keyAndNonce(
  shared: Uint8Array,
  ephemeralKey: Uint8Array,
  recipientKey: Uint8Array,
) {
  const salt = new Uint8Array(64);
  salt.set(ephemeralKey, 0);
  salt.set(recipientKey, 32);
  const okm = hkdfSha256(shared, salt, KDF_INFO, 44);
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44) };
}

/** Decrypts a box with the recipient's device keys and returns the inner plaintext (certificate, message, signature). */
function decryptByHand(box: Uint8Array, device: DeviceKeys): Uint8Array {
  const [, recipient, purpose, ephemeralKey, ciphertext] = decode(box) as [
    string,
    Uint8Array,
    string,
    Uint8Array,
    Uint8Array,
  ];
  const shared = device.agree(ephemeralKey);
  assert.ok(shared);
  const { key, nonce } = keyAndNonce(
    shared,
    ephemeralKey,
    device.encryptionKey,
  );
  const inner = aesGcmDecrypt(
    key,
    nonce,
    ciphertext,
    encode([AAD_DOMAIN, recipient, purpose, ephemeralKey]),
  );
  assert.ok(inner, "the documented construction opens the box");
  return inner;
}

/** Encrypts `inner` to `recipient` exactly as sealBox() would, with any header fields. */
function encryptByHand(
  inner: Uint8Array,
  recipient: DeviceCertificate,
  purpose: string,
  randomBytes: RandomBytes,
): Uint8Array {
  const ephemeralSecret = randomBytes(32);
  const ephemeralKey = x25519PublicKey(ephemeralSecret);
  const shared = x25519Shared(ephemeralSecret, recipient.encryptionKey);
  assert.ok(shared);
  const { key, nonce } = keyAndNonce(
    shared,
    ephemeralKey,
    recipient.encryptionKey,
  );
  const recipientId = recipient.deviceId.bytes;
  const ciphertext = aesGcmEncrypt(
    key,
    nonce,
    inner,
    encode([AAD_DOMAIN, recipientId, purpose, ephemeralKey]),
  );
  return encode(["sb1", recipientId, purpose, ephemeralKey, ciphertext]);
}

/** The box with outer field `index` replaced, re-encoded. */
function withOuterField(
  box: Uint8Array,
  index: number,
  value: unknown,
): Uint8Array {
  const fields = decode(box) as unknown[];
  fields[index] = value;
  return encode(fields);
}

Deno.test("sealBox() then openSealedBox() round-trips the message and tells the sender's account and device", () => {
  const box = seal(text("hi Bob"));
  const opened = openSealedBox(box, {
    device: bob.device,
    purpose: PURPOSE,
    nowMs: NOW_MS,
  });
  assert.equal(new TextDecoder().decode(opened.message), "hi Bob");
  assert.ok(opened.sender.accountId.equals(alice.account.id));
  assert.ok(opened.sender.deviceId.equals(alice.device.id));
  assert.deepEqual(opened.sender.encryptionKey, alice.device.encryptionKey);
  assert.deepEqual(opened.sender.bytes, alice.certificate.bytes);
});

Deno.test("sealBox() then openSealedBox() round-trips an empty and a 64 KiB message", () => {
  for (const length of [0, MAX_SEALED_MESSAGE_BYTES]) {
    const message = new Uint8Array(length).map((_, i) => i * 13);
    const opened = openSealedBox(seal(message), {
      device: bob.device,
      purpose: PURPOSE,
      nowMs: NOW_MS,
    });
    assert.deepEqual(opened.message, message);
  }
});

Deno.test("sealBox() reports its size overhead and the certificate size", () => {
  const empty = seal(new Uint8Array(0));
  const kib = seal(new Uint8Array(1024));
  const certificate = DeviceCertificate.issue(alice.account, alice.device, {
    name: "",
    issuedMs: ISSUED_MS,
  });
  console.log(
    `sealed box overhead (purpose "${PURPOSE}", sender certificate with empty name): ` +
      `${empty.length} bytes for a 0-byte message, ${
        kib.length - 1024
      } bytes for a 1 KiB message ` +
      `(box ${kib.length} bytes); device certificate with empty name: ${certificate.bytes.length} bytes`,
  );
  // The box carries the sender certificate, a 64-byte signature, a 32-byte
  // ephemeral key, a 20-byte recipient id and a 16-byte tag, plus framing.
  assert.ok(empty.length >= certificate.bytes.length + 64 + 32 + 20 + 16);
  assert.ok(empty.length < certificate.bytes.length + 64 + 32 + 20 + 16 + 64);
});

Deno.test("sealBox() is reproducible from a seed and uses a fresh ephemeral key for each box", () => {
  const message = text("same");
  const first = seal(
    message,
    alice,
    bob.certificate,
    PURPOSE,
    rngBytes(seededRng(1)),
  );
  const again = seal(
    message,
    alice,
    bob.certificate,
    PURPOSE,
    rngBytes(seededRng(1)),
  );
  assert.deepEqual(first, again);
  const shared = rngBytes(seededRng(2));
  const a = seal(message, alice, bob.certificate, PURPOSE, shared);
  const b = seal(message, alice, bob.certificate, PURPOSE, shared);
  assert.notDeepEqual((decode(a) as unknown[])[3], (decode(b) as unknown[])[3]);
  assert.notDeepEqual(a, b);
});

Deno.test("openSealedBox() throws WrongRecipientError for a box addressed to another device", () => {
  const box = seal(text("for Bob"));
  const error = thrown(
    () =>
      openSealedBox(box, {
        device: carol.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    WrongRecipientError,
  );
  assert.equal(error.recipient, bob.device.id.toString());
  assert.equal(error.device, carol.device.id.toString());
});

Deno.test("openSealedBox() throws WrongPurposeError for a box sealed for another purpose", () => {
  const box = seal(text("receipt"), alice, bob.certificate, "receipt");
  const error = thrown(
    () =>
      openSealedBox(box, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    WrongPurposeError,
  );
  assert.equal(error.purpose, "receipt");
  assert.equal(error.expected, PURPOSE);
});

Deno.test("openSealedBox() throws SealedBoxTamperedError for each byte of the ciphertext altered", () => {
  const box = seal(text("tamper with me"));
  const ciphertext = (decode(box) as unknown[])[4] as Uint8Array;
  const start = box.length - ciphertext.length;
  assert.deepEqual(box.subarray(start), ciphertext);
  for (let index = start; index < box.length; index++) {
    const altered = box.slice();
    altered[index] ^= 1 << (index & 7);
    assert.throws(
      () =>
        openSealedBox(altered, {
          device: bob.device,
          purpose: PURPOSE,
          nowMs: NOW_MS,
        }),
      SealedBoxTamperedError,
      `byte ${index}`,
    );
  }
});

Deno.test("openSealedBox() rejects every bit flip in the header and framing with a refusal, never a message", () => {
  const box = seal(text("header"));
  const ciphertext = (decode(box) as unknown[])[4] as Uint8Array;
  const start = box.length - ciphertext.length;
  const allowed = [
    MalformedRecordError,
    WrongRecipientError,
    WrongPurposeError,
    SealedBoxTamperedError,
  ];
  for (let bit = 0; bit < start * 8; bit++) {
    const altered = box.slice();
    altered[bit >> 3] ^= 1 << (bit & 7);
    try {
      openSealedBox(altered, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      });
      assert.fail(`bit ${bit}: opened`);
    } catch (error) {
      assert.ok(
        allowed.some((errorClass) => error instanceof errorClass),
        `bit ${bit}: threw ${error}`,
      );
    }
  }
});

Deno.test("openSealedBox() throws SealedBoxTamperedError for a purpose altered to the one the opener expects", () => {
  const box = seal(text("receipt"), alice, bob.certificate, "receipt");
  const altered = withOuterField(box, 2, PURPOSE);
  assert.equal(peekSealedBox(altered).purpose, PURPOSE);
  assert.throws(
    () =>
      openSealedBox(altered, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    SealedBoxTamperedError,
  );
});

Deno.test("openSealedBox() throws SealedBoxTamperedError for a recipient id swapped for another device of the opener", () => {
  // A second device id of Bob's that shares his encryption key: decryption
  // would work, so only the authenticated header can catch the swap.
  const secrets = bob.device.exportSecrets();
  const twin = DeviceKeys.fromSecrets({
    signing: random(32),
    encryption: secrets.encryption,
  });
  assert.equal(twin.id.equals(bob.device.id), false);
  assert.deepEqual(twin.encryptionKey, bob.device.encryptionKey);
  const altered = withOuterField(seal(text("for Bob")), 1, twin.id.bytes);
  assert.throws(
    () =>
      openSealedBox(altered, { device: twin, purpose: PURPOSE, nowMs: NOW_MS }),
    SealedBoxTamperedError,
  );
});

Deno.test("openSealedBox() throws SealedBoxTamperedError for a replaced, low-order or truncated ephemeral key and a cut ciphertext", () => {
  const box = seal(text("for Bob"));
  const ciphertext = (decode(box) as unknown[])[4] as Uint8Array;
  const variants: [string, Uint8Array][] = [
    [
      "another ephemeral key",
      withOuterField(box, 3, x25519PublicKey(random(32))),
    ],
    ["all-zero ephemeral key", withOuterField(box, 3, new Uint8Array(32))],
    [
      "ciphertext shorter than a tag",
      withOuterField(box, 4, ciphertext.subarray(0, 15)),
    ],
    ["empty ciphertext", withOuterField(box, 4, new Uint8Array(0))],
    [
      "ciphertext missing its last byte",
      withOuterField(box, 4, ciphertext.subarray(0, ciphertext.length - 1)),
    ],
  ];
  for (const [name, altered] of variants) {
    assert.throws(
      () =>
        openSealedBox(altered, {
          device: bob.device,
          purpose: PURPOSE,
          nowMs: NOW_MS,
        }),
      SealedBoxTamperedError,
      name,
    );
  }
  assert.throws(
    () =>
      openSealedBox(withOuterField(box, 3, new Uint8Array(31)), {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    MalformedRecordError,
  );
});

Deno.test("openSealedBox() throws DeviceRevokedError when the sender's device is revoked", () => {
  const list = RevocationList.create(alice.account, {
    seq: 1,
    revoked: [alice.device.id],
    issuedMs: ISSUED_MS,
  });
  const asked: string[] = [];
  const revocationList = (accountId: InfoHash) => {
    asked.push(accountId.toString());
    return accountId.equals(alice.account.id) ? list : undefined;
  };
  const box = seal(text("from a lost phone"));
  const error = thrown(
    () =>
      openSealedBox(box, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
        revocationList,
      }),
    DeviceRevokedError,
  );
  assert.equal(error.deviceId, alice.device.id.toString());
  assert.deepEqual(asked, [alice.account.id.toString()]);
  // A list that does not name the device lets the box through.
  const other = RevocationList.create(alice.account, {
    seq: 2,
    revoked: [bob.device.id],
    issuedMs: ISSUED_MS,
  });
  openSealedBox(box, {
    device: bob.device,
    purpose: PURPOSE,
    nowMs: NOW_MS,
    revocationList: () => other,
  });
});

Deno.test("openSealedBox() throws SignerMismatchError when the revocation lookup returns another account's list", () => {
  const listOfCarol = RevocationList.create(carol.account, {
    seq: 1,
    revoked: [],
    issuedMs: ISSUED_MS,
  });
  assert.throws(
    () =>
      openSealedBox(seal(text("x")), {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
        revocationList: () => listOfCarol,
      }),
    SignerMismatchError,
  );
});

Deno.test("openSealedBox() throws RecordExpiredError when the sender's certificate has expired", () => {
  const shortLived = party(rngBytes(seededRng(301)), 60_000);
  const box = seal(text("late"), shortLived);
  openSealedBox(box, {
    device: bob.device,
    purpose: PURPOSE,
    nowMs: ISSUED_MS + 59_999,
  });
  const error = thrown(
    () =>
      openSealedBox(box, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: ISSUED_MS + 60_000,
      }),
    RecordExpiredError,
  );
  assert.equal(error.expiresMs, ISSUED_MS + 60_000);
});

Deno.test("openSealedBox() throws BadSignatureError for a message re-sealed by its recipient to a third party", () => {
  // Bob opens Alice's box by hand and re-encrypts the very same inner content
  // (Alice's certificate, message and signature) to Carol. The encryption is
  // perfect, but Alice's signature covers Bob's device id as recipient.
  const box = seal(text("only for Bob"));
  const inner = decryptByHand(box, bob.device);
  const resealed = encryptByHand(inner, carol.certificate, PURPOSE, random);
  assert.ok(peekSealedBox(resealed).recipient.equals(carol.device.id));
  assert.throws(
    () =>
      openSealedBox(resealed, {
        device: carol.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    BadSignatureError,
  );
  // Control: re-sealing to Bob himself, by hand, opens fine, so the failure
  // above is the signature and nothing else.
  const toBob = encryptByHand(inner, bob.certificate, PURPOSE, random);
  const opened = openSealedBox(toBob, {
    device: bob.device,
    purpose: PURPOSE,
    nowMs: NOW_MS,
  });
  assert.equal(new TextDecoder().decode(opened.message), "only for Bob");
});

Deno.test("openSealedBox() throws BadSignatureError for a re-sealed box whose purpose was changed", () => {
  const box = seal(text("a receipt"), alice, bob.certificate, "receipt");
  const inner = decryptByHand(box, bob.device);
  const resealed = encryptByHand(inner, bob.certificate, PURPOSE, random);
  assert.throws(
    () =>
      openSealedBox(resealed, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    BadSignatureError,
  );
});

Deno.test("openSealedBox() throws BadSignatureError for a box that claims another device's certificate", () => {
  // Carol signs with her own device key but presents Alice's certificate.
  const inner = decryptByHand(seal(text("from Carol"), carol), bob.device);
  const [tag, , message, signature] = decode(inner) as unknown[];
  const impersonating = encode([
    tag,
    alice.certificate.bytes,
    message,
    signature,
  ]);
  const box = encryptByHand(impersonating, bob.certificate, PURPOSE, random);
  assert.throws(
    () =>
      openSealedBox(box, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    BadSignatureError,
  );
  // Changing the message inside breaks the signature too.
  const altered = encode([
    tag,
    carol.certificate.bytes,
    text("from Alice"),
    signature,
  ]);
  assert.throws(
    () =>
      openSealedBox(encryptByHand(altered, bob.certificate, PURPOSE, random), {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    BadSignatureError,
  );
});

Deno.test("openSealedBox() throws MalformedRecordError for garbage and non-box records", () => {
  const garbage = rngBytes(seededRng(302));
  for (let i = 0; i < 500; i++) {
    const bytes = garbage(1 + (i % 200));
    if (i % 2 === 0) bytes[0] = 0x95;
    assert.throws(
      () =>
        openSealedBox(bytes, {
          device: bob.device,
          purpose: PURPOSE,
          nowMs: NOW_MS,
        }),
      MalformedRecordError,
      `buffer ${i}`,
    );
  }
  assert.throws(
    () =>
      openSealedBox(alice.certificate.bytes, {
        device: bob.device,
        purpose: PURPOSE,
        nowMs: NOW_MS,
      }),
    MalformedRecordError,
  );
  const box = seal(text("x"));
  for (let length = 0; length < box.length; length++) {
    assert.throws(
      () =>
        openSealedBox(box.subarray(0, length), {
          device: bob.device,
          purpose: PURPOSE,
          nowMs: NOW_MS,
        }),
      MalformedRecordError,
      `length ${length}`,
    );
  }
});

Deno.test("sealBox() throws RangeError for a message over 64 KiB", () => {
  assert.throws(
    () => seal(new Uint8Array(MAX_SEALED_MESSAGE_BYTES + 1)),
    RangeError,
  );
});

Deno.test("sealBox() throws TypeError for a bad purpose or a message that is not bytes", () => {
  for (
    const purpose of [
      "",
      "Trust",
      "trust request",
      "a".repeat(33),
      "trust_request",
    ]
  ) {
    assert.throws(
      () => seal(text("x"), alice, bob.certificate, purpose),
      TypeError,
      purpose,
    );
  }
  for (
    const message of ["hi", [1, 2], undefined, new ArrayBuffer(2)] as unknown[]
  ) {
    assert.throws(
      () => seal(message as Uint8Array),
      TypeError,
      String(message),
    );
  }
});

Deno.test("sealBox() throws RangeError for a recipient certificate with a low-order encryption key", () => {
  const body = encode([
    "dcb1",
    bob.device.publicKey,
    new Uint8Array(32),
    "bad",
  ]);
  const record = SignedRecord.sign(bob.account, {
    type: DEVICE_CERTIFICATE_TYPE,
    seq: 0,
    createdMs: ISSUED_MS,
    expiresMs: ISSUED_MS + 60_000,
    body,
  });
  const certificate = DeviceCertificate.decode(record.bytes);
  certificate.verify({ nowMs: NOW_MS });
  assert.throws(() => seal(text("x"), alice, certificate), RangeError);
});

Deno.test("peekSealedBox() returns the recipient device and purpose without decrypting", () => {
  const box = seal(text("x"), alice, carol.certificate, "receipt");
  const header = peekSealedBox(box);
  assert.ok(header.recipient.equals(carol.device.id));
  assert.equal(header.purpose, "receipt");
});

Deno.test("peekSealedBox() throws MalformedRecordError for bytes that are not a sealed box", () => {
  const box = seal(text("x"));
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["certificate", alice.certificate.bytes],
    ["truncated", box.subarray(0, 10)],
    ["recipient of 19 bytes", withOuterField(box, 1, new Uint8Array(19))],
    ["purpose of 33 characters", withOuterField(box, 2, "a".repeat(33))],
    ["wrong tag", withOuterField(box, 0, "sb2")],
  ];
  for (const [name, bytes] of bad) {
    assert.throws(() => peekSealedBox(bytes), MalformedRecordError, name);
  }
});
