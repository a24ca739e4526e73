import assert from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  MAX_RECORD_BODY_BYTES,
  SignedRecord,
  type SignedRecordFields,
} from "../lib/identity/signed_record.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import {
  BadSignatureError,
  MalformedRecordError,
  RecordExpiredError,
  RecordFromFutureError,
  SignerMismatchError,
} from "../lib/identity/errors.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { ed25519Verify } from "../lib/crypto.ts";
import { thrown } from "./_thrown.ts";

const random = rngBytes(seededRng(100));
const alice = AccountKeys.generate(random);
const mallory = AccountKeys.generate(random);

const FIELDS: SignedRecordFields = {
  type: "goodbye",
  seq: 1,
  createdMs: 1_000,
  expiresMs: 61_000,
  body: new Uint8Array([1, 2, 3]),
};

function signed(fields: Partial<SignedRecordFields> = {}): SignedRecord {
  return SignedRecord.sign(alice, { ...FIELDS, ...fields });
}

/** The wire tuple of a record, decoded with a plain msgpack decoder. */
function tuple(record: SignedRecord): unknown[] {
  return decode(record.bytes) as unknown[];
}

/** Re-encodes a record tuple with one field replaced (canonical msgpack, as the library writes). */
function withField(
  record: SignedRecord,
  index: number,
  value: unknown,
): Uint8Array {
  const fields = tuple(record);
  fields[index] = value;
  return encode(fields);
}

// Hand-written msgpack pieces, for encodings the library would never produce.
const u8 = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
const fixstr = (text: string) =>
  concat(u8(0xa0 | text.length), new TextEncoder().encode(text));
const str8 = (text: string) =>
  concat(u8(0xd9, text.length), new TextEncoder().encode(text));
const uint32 = (n: number) =>
  u8(0xce, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const uint16 = (n: number) => u8(0xcd, n >>> 8, n & 0xff);
const bin8 = (bytes: Uint8Array) => concat(u8(0xc4, bytes.length), bytes);
const bin16 = (bytes: Uint8Array) =>
  concat(u8(0xc5, bytes.length >>> 8, bytes.length & 0xff), bytes);

/** Encodes the record fields piece by piece: pieces[i] is the encoding of field i. */
function handEncoded(
  record: SignedRecord,
  replace: Record<number, Uint8Array>,
): Uint8Array {
  const pieces = [
    fixstr("sr1"),
    fixstr(record.type),
    record.seq < 128 ? u8(record.seq) : uint32(record.seq),
    uint16(record.createdMs),
    uint16(record.expiresMs),
    bin8(record.signerKey),
    bin8(record.body),
    bin8(record.signature),
  ];
  for (const [index, piece] of Object.entries(replace)) {
    pieces[Number(index)] = piece;
  }
  return concat(u8(0x98), ...pieces);
}

Deno.test("SignedRecord.sign() then decode() and verify() round-trips every field", () => {
  const record = signed();
  const received = SignedRecord.decode(record.bytes);
  received.verify({ signer: alice.id, type: "goodbye", nowMs: 2_000 });
  assert.equal(received.type, "goodbye");
  assert.equal(received.seq, 1);
  assert.equal(received.createdMs, 1_000);
  assert.equal(received.expiresMs, 61_000);
  assert.deepEqual(received.body, new Uint8Array([1, 2, 3]));
  assert.deepEqual(received.signerKey, alice.publicKey);
  assert.ok(received.signerId.equals(alice.id));
  assert.deepEqual(received.signature, record.signature);
  assert.deepEqual(received.bytes, record.bytes);
  // Options are optional: any signer, any type.
  received.verify({ nowMs: 2_000 });
  // A device key can sign too.
  const device = DeviceKeys.generate(random);
  const byDevice = SignedRecord.sign(device, {
    ...FIELDS,
    type: "device-announcement",
  });
  SignedRecord.decode(byDevice.bytes).verify({
    signer: device.id,
    nowMs: 2_000,
  });
});

Deno.test("SignedRecord.sign() copies the body, so later changes to the caller's buffer do not alter the record", () => {
  const body = new Uint8Array([9, 9, 9]);
  const record = signed({ body });
  body[0] = 0;
  assert.deepEqual(record.body, new Uint8Array([9, 9, 9]));
  SignedRecord.decode(record.bytes).verify({ nowMs: 2_000 });
});

Deno.test("SignedRecord.sign() is deterministic: the same fields and key give the same bytes", () => {
  assert.deepEqual(signed().bytes, signed().bytes);
  assert.notDeepEqual(signed().bytes, signed({ seq: 2 }).bytes);
});

Deno.test("SignedRecord.decode() of a record with an empty body and with a 64 KiB body round-trips", () => {
  for (const length of [0, MAX_RECORD_BODY_BYTES]) {
    const body = new Uint8Array(length).map((_, i) => i & 0xff);
    const received = SignedRecord.decode(signed({ body }).bytes);
    received.verify({ signer: alice.id, nowMs: 2_000 });
    assert.deepEqual(received.body, body);
  }
});

Deno.test("SignedRecord.decode() then verify() rejects every single-bit flip with MalformedRecordError, SignerMismatchError or BadSignatureError", () => {
  const record = signed();
  const seen = { malformed: 0, badSignature: 0, signerMismatch: 0 };
  for (let bit = 0; bit < record.bytes.length * 8; bit++) {
    const bytes = record.bytes.slice();
    bytes[bit >> 3] ^= 1 << (bit & 7);
    let received: SignedRecord;
    try {
      received = SignedRecord.decode(bytes);
    } catch (error) {
      assert.ok(
        error instanceof MalformedRecordError,
        `bit ${bit}: decode threw ${error}`,
      );
      seen.malformed++;
      continue;
    }
    if (!received.signerId.equals(alice.id)) {
      // A flip in the signer key: refused by the id check, before Ed25519.
      assert.throws(
        () => received.verify({ signer: alice.id, nowMs: 2_000 }),
        SignerMismatchError,
        `bit ${bit}`,
      );
      seen.signerMismatch++;
      continue;
    }
    assert.throws(
      () => received.verify({ signer: alice.id, nowMs: 2_000 }),
      BadSignatureError,
      `bit ${bit} (byte ${
        bit >> 3
      }) passed decode but must fail verify with BadSignatureError`,
    );
    seen.badSignature++;
  }
  // Every outcome occurs: framing bytes break decoding, key bytes the
  // signer id, content bytes the signature.
  assert.ok(
    seen.malformed > 0 && seen.badSignature > 0 && seen.signerMismatch > 0,
    JSON.stringify(seen),
  );
});

Deno.test("SignedRecord.verify() throws SignerMismatchError for a foreign signer, naming expected and actual ids", () => {
  const record = SignedRecord.decode(signed().bytes);
  assert.throws(
    () => record.verify({ signer: mallory.id, nowMs: 2_000 }),
    SignerMismatchError,
  );
  const error = thrown(
    () => record.verify({ signer: mallory.id, nowMs: 2_000 }),
    SignerMismatchError,
  );
  assert.equal(error.expected, mallory.id.toString());
  assert.equal(error.actual, alice.id.toString());
  assert.ok(error.message.includes(alice.id.toString()));
});

Deno.test("SignedRecord.verify() refuses a record whose signer key was swapped for another", () => {
  // Mallory puts her key in a record signed by Alice: the signature no
  // longer verifies under her key, and the id no longer is Alice's.
  const bytes = withField(signed(), 5, mallory.publicKey);
  const received = SignedRecord.decode(bytes);
  assert.ok(received.signerId.equals(mallory.id));
  assert.throws(
    () => received.verify({ signer: mallory.id, nowMs: 2_000 }),
    BadSignatureError,
  );
  assert.throws(
    () => received.verify({ signer: alice.id, nowMs: 2_000 }),
    SignerMismatchError,
  );
});

Deno.test("SignedRecord.verify() checks the signer id before the signature: a mismatched id costs no Ed25519 verification", () => {
  let calls = 0;
  const counting = (s: Uint8Array, m: Uint8Array, k: Uint8Array) => {
    calls += 1;
    return ed25519Verify(s, m, k);
  };
  // Mallory's key in Alice's record, checked as Alice's: refused on the id alone.
  const swapped = SignedRecord.decode(
    withField(signed(), 5, mallory.publicKey),
  );
  assert.throws(
    () =>
      swapped.verify({
        signer: alice.id,
        nowMs: 2_000,
        verifySignature: counting,
      }),
    SignerMismatchError,
  );
  // A genuine record checked against another signer: refused on the id alone.
  const genuine = SignedRecord.decode(signed().bytes);
  assert.throws(
    () =>
      genuine.verify({
        signer: mallory.id,
        nowMs: 2_000,
        verifySignature: counting,
      }),
    SignerMismatchError,
  );
  assert.equal(calls, 0);
  // The right signer: one verification, which passes.
  genuine.verify({ signer: alice.id, nowMs: 2_000, verifySignature: counting });
  assert.equal(calls, 1);
});

Deno.test("SignedRecord.verify() throws RecordExpiredError at expiresMs and after", () => {
  const record = SignedRecord.decode(signed().bytes);
  record.verify({ nowMs: 60_999 });
  for (const nowMs of [61_000, 61_001, 10 ** 12]) {
    const error = thrown(
      () => record.verify({ signer: alice.id, nowMs }),
      RecordExpiredError,
    );
    assert.equal(error.expiresMs, 61_000);
    assert.equal(error.nowMs, nowMs);
  }
});

Deno.test("SignedRecord.verify() throws RecordExpiredError for a record whose expiry equals its creation time", () => {
  const record = SignedRecord.decode(
    signed({ createdMs: 5_000, expiresMs: 5_000 }).bytes,
  );
  assert.throws(() => record.verify({ nowMs: 5_000 }), RecordExpiredError);
});

Deno.test("SignedRecord.verify() throws RecordFromFutureError for a creation time beyond the allowed clock skew", () => {
  const createdMs = 1_000_000;
  const record = SignedRecord.decode(
    signed({ createdMs, expiresMs: createdMs + 3_600_000 }).bytes,
  );
  // Exactly at the default skew is still accepted.
  record.verify({ nowMs: createdMs - DEFAULT_MAX_CLOCK_SKEW_MS });
  const nowMs = createdMs - DEFAULT_MAX_CLOCK_SKEW_MS - 1;
  assert.throws(() => record.verify({ nowMs }), RecordFromFutureError);
  const error = thrown(() => record.verify({ nowMs }), RecordFromFutureError);
  assert.equal(error.createdMs, createdMs);
  assert.equal(error.nowMs, nowMs);
  // A custom skew.
  record.verify({ nowMs: createdMs - 10, maxClockSkewMs: 10 });
  assert.throws(
    () => record.verify({ nowMs: createdMs - 11, maxClockSkewMs: 10 }),
    RecordFromFutureError,
  );
  assert.throws(
    () => record.verify({ nowMs: createdMs - 1, maxClockSkewMs: 0 }),
    RecordFromFutureError,
  );
});

Deno.test("SignedRecord.verify() throws MalformedRecordError when the record is not of the expected type", () => {
  const record = SignedRecord.decode(signed().bytes);
  assert.throws(
    () => record.verify({ type: "device-announcement", nowMs: 2_000 }),
    MalformedRecordError,
  );
  assert.throws(
    () => record.verify({ type: "Goodbye", nowMs: 2_000 }),
    MalformedRecordError,
  );
});

Deno.test("SignedRecord.verify() throws BadSignatureError for a signature transplanted from another record", () => {
  const first = signed({ seq: 1 });
  const second = signed({ seq: 2 });
  const forged = SignedRecord.decode(withField(second, 7, first.signature));
  assert.throws(
    () => forged.verify({ signer: alice.id, nowMs: 2_000 }),
    BadSignatureError,
  );
});

Deno.test("SignedRecord.verify() throws BadSignatureError when the type is changed, so a signature never serves two types", () => {
  const forged = SignedRecord.decode(
    withField(signed(), 1, "device-announcement"),
  );
  assert.equal(forged.type, "device-announcement");
  assert.throws(() => forged.verify({ nowMs: 2_000 }), BadSignatureError);
});

Deno.test("SignedRecord.verify() throws BadSignatureError for each altered signed field", () => {
  const record = signed();
  const changes: [number, unknown][] = [
    [2, 2], // seq
    [3, 999], // createdMs
    [4, 61_001], // expiresMs
    [6, new Uint8Array([1, 2, 4])], // body
    [6, new Uint8Array([1, 2, 3, 0])], // body, one byte longer
  ];
  for (const [index, value] of changes) {
    const forged = SignedRecord.decode(withField(record, index, value));
    assert.throws(
      () => forged.verify({ nowMs: 2_000 }),
      BadSignatureError,
      `field ${index}`,
    );
  }
});

Deno.test("SignedRecord.sign() throws TypeError for bad type names and non-byte bodies", () => {
  const badTypes: unknown[] = [
    "",
    "Goodbye",
    "good bye",
    "good_bye",
    "1goodbye",
    "-goodbye",
    "a".repeat(33),
    "goodbyé",
    undefined,
    42,
  ];
  for (const type of badTypes) {
    assert.throws(
      () => SignedRecord.sign(alice, { ...FIELDS, type: type as string }),
      TypeError,
      String(type),
    );
  }
  // The longest accepted name is 32 characters.
  SignedRecord.sign(alice, { ...FIELDS, type: "a".repeat(32) });
  for (
    const body of [undefined, "abc", [1, 2, 3], new ArrayBuffer(3)] as unknown[]
  ) {
    assert.throws(
      () => SignedRecord.sign(alice, { ...FIELDS, body: body as Uint8Array }),
      TypeError,
      String(body),
    );
  }
});

Deno.test("SignedRecord.sign() throws RangeError for negative or non-integer numbers, expiry before creation and oversized bodies", () => {
  const bad: Partial<SignedRecordFields>[] = [
    { seq: -1 },
    { seq: 1.5 },
    { seq: Number.NaN },
    { seq: Number.POSITIVE_INFINITY },
    { seq: Number.MAX_SAFE_INTEGER + 1 },
    { seq: "1" as unknown as number },
    { createdMs: -1 },
    { createdMs: 0.5 },
    { expiresMs: 1.5 },
    { createdMs: 2_000, expiresMs: 1_999 },
    { body: new Uint8Array(MAX_RECORD_BODY_BYTES + 1) },
  ];
  for (const fields of bad) {
    assert.throws(
      () => signed(fields),
      RangeError,
      JSON.stringify(fields, (_, v) => v instanceof Uint8Array ? v.length : v),
    );
  }
  // Large safe integers are fine.
  const big = signed({
    seq: Number.MAX_SAFE_INTEGER,
    createdMs: 0,
    expiresMs: Number.MAX_SAFE_INTEGER,
  });
  SignedRecord.decode(big.bytes).verify({ nowMs: 1 });
});

Deno.test("SignedRecord.decode() throws MalformedRecordError for every truncation and for trailing bytes", () => {
  const bytes = signed().bytes;
  for (let length = 0; length < bytes.length; length++) {
    assert.throws(
      () => SignedRecord.decode(bytes.subarray(0, length)),
      MalformedRecordError,
      `length ${length}`,
    );
  }
  assert.throws(
    () => SignedRecord.decode(concat(bytes, u8(0))),
    MalformedRecordError,
  );
  assert.throws(
    () => SignedRecord.decode(concat(bytes, bytes)),
    MalformedRecordError,
  );
});

Deno.test("SignedRecord.decode() throws MalformedRecordError for input that is not a Uint8Array", () => {
  for (
    const input of [
      undefined,
      null,
      "abc",
      [0x98],
      new ArrayBuffer(8),
      42,
    ] as unknown[]
  ) {
    assert.throws(
      () => SignedRecord.decode(input as Uint8Array),
      MalformedRecordError,
      String(input),
    );
  }
});

Deno.test("SignedRecord.decode() throws MalformedRecordError for 1000 seeded random buffers", () => {
  const garbage = rngBytes(seededRng(2024));
  const lengthRng = seededRng(2025);
  for (let i = 0; i < 1000; i++) {
    const bytes = garbage(Math.floor(lengthRng() * 300));
    // Half of them start like a record (an 8-array), so decoding gets further.
    if (i % 2 === 0 && bytes.length > 0) bytes[0] = 0x98;
    try {
      SignedRecord.decode(bytes);
      assert.fail(`buffer ${i} decoded`);
    } catch (error) {
      assert.ok(error instanceof MalformedRecordError, `buffer ${i}: ${error}`);
    }
  }
  // The shared decoder is not left in a broken state.
  SignedRecord.decode(signed().bytes).verify({ nowMs: 2_000 });
});

Deno.test("SignedRecord.decode() throws MalformedRecordError for hostile msgpack: huge lengths, deep nesting, wrong field types", () => {
  const record = signed();
  const hostile: [string, Uint8Array][] = [
    ["empty", u8()],
    ["never-used byte 0xc1", u8(0xc1)],
    ["nil", u8(0xc0)],
    ["array32 of 2^32-1 elements", u8(0xdd, 0xff, 0xff, 0xff, 0xff)],
    ["array16 of 65535 elements", u8(0xdc, 0xff, 0xff)],
    ["map32 of 2^32-1 entries", u8(0xdf, 0xff, 0xff, 0xff, 0xff)],
    ["bin32 of 4 GiB", u8(0xc6, 0xff, 0xff, 0xff, 0xff)],
    ["str32 of 4 GiB", u8(0xdb, 0xff, 0xff, 0xff, 0xff)],
    ["ext32 of 4 GiB", u8(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01)],
    [
      "record whose body is a bin32 of 4 GiB",
      handEncoded(record, { 6: u8(0xc6, 0xff, 0xff, 0xff, 0xff) }),
    ],
    [
      "record whose body is a 2 MiB bin32",
      handEncoded(record, {
        6: concat(u8(0xc6, 0, 0x20, 0, 0), new Uint8Array(0x200000)),
      }),
    ],
    [
      "record whose type is a str32 of 4 GiB",
      handEncoded(record, { 1: u8(0xdb, 0xff, 0xff, 0xff, 0xff) }),
    ],
    ["100 000 nested one-element arrays", new Uint8Array(100_000).fill(0x91)],
    [
      "100 000 nested arrays closed by nil",
      concat(new Uint8Array(100_000).fill(0x91), u8(0xc0)),
    ],
    [
      "record with nested arrays as body",
      handEncoded(record, {
        6: concat(new Uint8Array(10_000).fill(0x91), u8(0xc0)),
      }),
    ],
    [
      "50 000 nested one-entry maps",
      concat(...new Array(50_000).fill(u8(0x81, 0x00)), u8(0xc0)),
    ],
    ["fixext1", u8(0xd4, 0x01, 0x00)],
    ["timestamp ext", u8(0xd6, 0xff, 0, 0, 0, 0)],
    ["map instead of array", encode({ 0: "sr1" })],
    ["7-field array", encode(tuple(record).slice(0, 7))],
    ["9-field array", encode([...tuple(record), 0])],
    ["wrong tag", withField(record, 0, "sr2")],
    ["tag as bytes", withField(record, 0, new TextEncoder().encode("sr1"))],
    ["type not text", withField(record, 1, 7)],
    ["type upper-case", withField(record, 1, "Goodbye")],
    ["type of 33 characters", withField(record, 1, "a".repeat(33))],
    ["negative seq", withField(record, 2, -1)],
    ["fractional seq", withField(record, 2, 1.5)],
    ["seq beyond 2^53", withField(record, 2, 2 ** 60)],
    [
      "uint64 max seq",
      handEncoded(record, {
        2: u8(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      }),
    ],
    ["seq as text", withField(record, 2, "1")],
    ["createdMs nil", withField(record, 3, null)],
    ["expiresMs as bytes", withField(record, 4, new Uint8Array(2))],
    [
      "signer key of 31 bytes",
      withField(record, 5, record.signerKey.subarray(0, 31)),
    ],
    [
      "signer key of 33 bytes",
      withField(record, 5, concat(record.signerKey, u8(0))),
    ],
    ["signer key as text", withField(record, 5, "k".repeat(32))],
    ["body as text", withField(record, 6, "abc")],
    ["body as array", withField(record, 6, [1, 2, 3])],
    [
      "body larger than 64 KiB",
      withField(record, 6, new Uint8Array(MAX_RECORD_BODY_BYTES + 1)),
    ],
    [
      "signature of 63 bytes",
      withField(record, 7, record.signature.subarray(0, 63)),
    ],
    [
      "signature of 65 bytes",
      withField(record, 7, concat(record.signature, u8(0))),
    ],
    [
      "input larger than any record",
      new Uint8Array(MAX_RECORD_BODY_BYTES + 1024).fill(0x98),
    ],
  ];
  for (const [name, bytes] of hostile) {
    try {
      SignedRecord.decode(bytes);
      assert.fail(`${name}: decoded`);
    } catch (error) {
      assert.ok(
        error instanceof MalformedRecordError,
        `${name}: threw ${error}`,
      );
    }
  }
  SignedRecord.decode(record.bytes).verify({ nowMs: 2_000 });
});

Deno.test("SignedRecord.decode() throws MalformedRecordError for a non-canonical encoding of a valid record", () => {
  // The signature covers the canonical re-encoding of the fields, so the same
  // signed record can travel as many different byte strings unless decode()
  // insists on the one canonical encoding. Each variant below carries Alice's
  // genuine signature.
  const record = signed();
  assert.deepEqual(
    handEncoded(record, {}),
    record.bytes,
    "the hand encoder writes the canonical form",
  );
  const variants: [string, Uint8Array][] = [
    [
      "integers as float64",
      encode(tuple(record), { forceIntegerToFloat: true }),
    ],
    ["seq as uint32", handEncoded(record, { 2: uint32(record.seq) })],
    ["type as str8", handEncoded(record, { 1: str8(record.type) })],
    ["tag as str8", handEncoded(record, { 0: str8("sr1") })],
    ["body as bin16", handEncoded(record, { 6: bin16(record.body) })],
    [
      "array as array16",
      concat(u8(0xdc, 0x00, 0x08), handEncoded(record, {}).subarray(1)),
    ],
  ];
  const accepted: string[] = [];
  for (const [name, bytes] of variants) {
    assert.notDeepEqual(bytes, record.bytes, name);
    try {
      SignedRecord.decode(bytes).verify({ signer: alice.id, nowMs: 2_000 });
      accepted.push(name);
    } catch (error) {
      assert.ok(
        error instanceof MalformedRecordError,
        `${name}: threw ${error}`,
      );
    }
  }
  assert.deepEqual(
    accepted,
    [],
    "non-canonical encodings that decoded and verified",
  );
});
