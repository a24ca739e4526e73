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
