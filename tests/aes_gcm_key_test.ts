/**
 * AesGcmKey (an AES-256-GCM key expanded once) must seal to the very bytes of
 * the one-shot aesGcmEncrypt() and open what it sealed, whatever the message
 * length, alignment or associated data; the secure channel's wire depends on it.
 */
import assert from "node:assert/strict";
import { aesGcmDecrypt, aesGcmEncrypt, AesGcmKey } from "../lib/crypto.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 200, 201, 1500];

Deno.test("AesGcmKey.seal() gives the same bytes as aesGcmEncrypt() for seeded keys, nonces and messages", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = rngBytes(seededRng(seed));
    const rawKey = random(32);
    const key = new AesGcmKey(rawKey);
    for (const length of LENGTHS) {
      for (const aadLength of [0, 4, 20]) {
        const nonce = random(12);
        const plaintext = random(length);
        const aad = random(aadLength);
        const sealed = key.seal(nonce, plaintext, aad);
        assert.deepEqual(sealed, aesGcmEncrypt(rawKey, nonce, plaintext, aad));
        assert.deepEqual(key.open(nonce, sealed, aad), plaintext);
        assert.deepEqual(aesGcmDecrypt(rawKey, nonce, sealed, aad), plaintext);
      }
    }
  }
});

Deno.test("AesGcmKey seals and opens unaligned views of larger buffers", () => {
  const random = rngBytes(seededRng("unaligned"));
  const rawKey = random(32);
  const key = new AesGcmKey(rawKey);
  const nonce = random(12);
  const buffer = random(260);
  const plaintext = buffer.subarray(3, 203);
  const aad = buffer.subarray(1, 5);
  const sealed = key.seal(nonce, plaintext, aad);
  assert.deepEqual(sealed, aesGcmEncrypt(rawKey, nonce, plaintext, aad));
  const framed = new Uint8Array(sealed.length + 1);
  framed.set(sealed, 1);
  assert.deepEqual(key.open(nonce, framed.subarray(1), aad), plaintext);
});

Deno.test("AesGcmKey.open() returns undefined for a tampered tag, body, AAD or nonce, and for short input", () => {
  const random = rngBytes(seededRng(9));
  const key = new AesGcmKey(random(32));
  const nonce = random(12);
  const aad = random(4);
  const sealed = key.seal(nonce, random(40), aad);
  for (const index of [0, 39, 40, 55]) {
    const tampered = sealed.slice();
    tampered[index] ^= 1;
    assert.equal(key.open(nonce, tampered, aad), undefined);
  }
  const otherAad = aad.slice();
  otherAad[0] ^= 1;
  assert.equal(key.open(nonce, sealed, otherAad), undefined);
  const otherNonce = nonce.slice();
  otherNonce[11] ^= 1;
  assert.equal(key.open(otherNonce, sealed, aad), undefined);
  assert.equal(key.open(nonce, sealed.subarray(0, 15), aad), undefined);
  // A failed open leaves the key usable.
  assert.notEqual(key.open(nonce, sealed, aad), undefined);
});

Deno.test("AesGcmKey refuses a key that is not 32 bytes and a nonce that is not 12", () => {
  assert.throws(() => new AesGcmKey(new Uint8Array(16)), RangeError);
  const key = new AesGcmKey(new Uint8Array(32));
  assert.throws(
    () => key.seal(new Uint8Array(16), new Uint8Array(1), new Uint8Array(0)),
    RangeError,
  );
});

Deno.test("AesGcmKey.sealInPlace() leaves the associated data and writes the same ciphertext and tag as aesGcmEncrypt()", () => {
  const random = rngBytes(seededRng("in place"));
  const rawKey = random(32);
  const key = new AesGcmKey(rawKey);
  for (const length of LENGTHS) {
    const nonce = random(12);
    const aad = random(4);
    const plaintext = random(length);
    const buffer = new Uint8Array(4 + length + 16);
    buffer.set(aad);
    buffer.set(plaintext, 4);
    key.sealInPlace(nonce, buffer, 4);
    assert.deepEqual(buffer.subarray(0, 4), aad);
    assert.deepEqual(
      buffer.subarray(4),
      aesGcmEncrypt(rawKey, nonce, plaintext, aad),
    );
  }
  assert.throws(
    () => key.sealInPlace(random(12), new Uint8Array(19), 4),
    RangeError,
  );
});

Deno.test("AesGcmKey seals the AES-256 test cases of the GCM specification (McGrew and Viega, cases 13 to 16)", () => {
  const hex = (text: string) => Uint8Array.fromHex(text);
  const key = "feffe9928665731c6d6a8f9467308308".repeat(2);
  const plain = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d" +
    "8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
  const cipher = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd" +
    "2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
  const cases = [
    {
      key: "00".repeat(32),
      iv: "00".repeat(12),
      p: "",
      a: "",
      c: "",
      t: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    {
      key: "00".repeat(32),
      iv: "00".repeat(12),
      p: "00".repeat(16),
      a: "",
      c: "cea7403d4d606b6e074ec5d3baf39d18",
      t: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    {
      key,
      iv: "cafebabefacedbaddecaf888",
      p: plain,
      a: "",
      c: cipher,
      t: "b094dac5d93471bdec1a502270e3cc6c",
    },
    {
      key,
      iv: "cafebabefacedbaddecaf888",
      p: plain.slice(0, 120),
      a: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
      c: cipher.slice(0, 120),
      t: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
  ];
  for (const test of cases) {
    const sealed = new AesGcmKey(hex(test.key)).seal(
      hex(test.iv),
      hex(test.p),
      hex(test.a),
    );
    assert.equal(sealed.toHex(), test.c + test.t);
    assert.deepEqual(
      new AesGcmKey(hex(test.key)).open(hex(test.iv), sealed, hex(test.a)),
      hex(test.p),
    );
  }
});

Deno.test("AesGcmKey.openInPlace() gives open()'s plaintext in the ciphertext's own bytes, and writes nothing when a byte was tampered with", () => {
  const random = rngBytes(seededRng(10));
  const key = new AesGcmKey(random(32));
  for (const length of LENGTHS) {
    const nonce = random(12);
    const aad = random(4);
    const plaintext = random(length);
    // An unaligned view of a larger buffer, as a frame in a received chunk.
    const chunk = new Uint8Array(length + 16 + 7).fill(0xa5);
    const sealed = chunk.subarray(3, 3 + length + 16);
    sealed.set(key.seal(nonce, plaintext, aad));
    const tampered = sealed.slice();
    tampered[length + 15] ^= 1;
    const before = tampered.slice();
    assert.equal(key.openInPlace(nonce, tampered, aad), undefined);
    assert.deepEqual(tampered, before);
    const opened = key.openInPlace(nonce, sealed, aad);
    assert.ok(opened !== undefined);
    assert.deepEqual(opened, plaintext);
    assert.equal(opened.buffer, chunk.buffer);
    assert.equal(opened.byteOffset, 3);
    // The bytes around the frame are untouched.
    assert.deepEqual([...chunk.subarray(0, 3), ...chunk.subarray(-4)], [
      ...new Uint8Array(7).fill(0xa5),
    ]);
  }
});
