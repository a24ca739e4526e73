/**
 * NATIVE_CURVES (node:crypto) against NOBLE_CURVES: the same keys, signatures
 * and shared secrets on seeded random inputs, and the same verdicts on
 * valid, tampered and hostile signatures, the hostile ones built to pass a
 * plain `[S]B = R + [k]A` check (a small-order key with a forged signature,
 * non-canonical encodings, S + L). Then the module functions with the native
 * operations installed.
 */
import assert from "node:assert/strict";
import { ed25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import {
  type CurveOperations,
  ed25519Sign,
  ed25519Verify,
  NOBLE_CURVES,
  useCurveOperations,
  x25519PublicKey,
  x25519Shared,
} from "../lib/crypto.ts";
import {
  NATIVE_CURVES,
  passesStrictEncodingChecks,
  PUBLIC_KEY_CACHE_SIZE,
} from "../lib/io/native_curves.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const P = (1n << 255n) - 19n;

function hex(text: string): Uint8Array {
  return Uint8Array.fromHex(text);
}

function littleEndian(value: bigint): Uint8Array {
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

function verdicts(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): [boolean, boolean] {
  const run = (curves: CurveOperations) => {
    try {
      return curves.ed25519Verify(signature, message, publicKey);
    } catch {
      return false;
    }
  };
  return [run(NATIVE_CURVES), run(NOBLE_CURVES)];
}

function withNative(body: () => void): void {
  useCurveOperations(NATIVE_CURVES);
  try {
    body();
  } finally {
    useCurveOperations(NOBLE_CURVES);
  }
}

Deno.test("NATIVE_CURVES gives noble's Ed25519 keys and signatures and X25519 keys and secrets on 50 seeded inputs", () => {
  const random = rngBytes(seededRng("native-curves"));
  for (let i = 0; i < 50; i++) {
    const secret = random(32);
    const message = random(i * 7);
    assert.deepEqual(
      NATIVE_CURVES.ed25519PublicKey(secret),
      NOBLE_CURVES.ed25519PublicKey(secret),
    );
    assert.deepEqual(
      NATIVE_CURVES.ed25519Sign(message, secret),
      NOBLE_CURVES.ed25519Sign(message, secret),
    );
    const peerSecret = random(32);
    const peerKey = NOBLE_CURVES.x25519PublicKey(peerSecret);
    assert.deepEqual(NATIVE_CURVES.x25519PublicKey(peerSecret), peerKey);
    assert.deepEqual(
      NATIVE_CURVES.x25519Shared(secret, peerKey),
      NOBLE_CURVES.x25519Shared(secret, peerKey),
    );
  }
});

Deno.test("NATIVE_CURVES agrees with noble on X25519 peer keys with the high bit set or u >= p", () => {
  const secret = rngBytes(seededRng("x25519-edges"))(32);
  const highBit = NOBLE_CURVES.x25519PublicKey(new Uint8Array(32).fill(3));
  highBit[31] |= 0x80;
  // u = p + 9 (non-canonical 9, the base point).
  const overP = littleEndian(P + 9n);
  for (const key of [highBit, overP]) {
    assert.deepEqual(
      NATIVE_CURVES.x25519Shared(secret, key),
      NOBLE_CURVES.x25519Shared(secret, key),
    );
  }
});

Deno.test("NATIVE_CURVES verification agrees with noble on valid signatures and on every flipped bit of one", () => {
  const random = rngBytes(seededRng("native-verify"));
  const secret = random(32);
  const publicKey = NOBLE_CURVES.ed25519PublicKey(secret);
  const message = random(40);
  const signature = NOBLE_CURVES.ed25519Sign(message, secret);
  assert.deepEqual(verdicts(signature, message, publicKey), [true, true]);
  for (let bit = 0; bit < 64 * 8; bit++) {
    const tampered = signature.slice();
    tampered[bit >> 3] ^= 1 << (bit & 7);
    assert.deepEqual(verdicts(tampered, message, publicKey), [false, false]);
  }
  for (let bit = 0; bit < 32 * 8; bit++) {
    const tampered = publicKey.slice();
    tampered[bit >> 3] ^= 1 << (bit & 7);
    assert.deepEqual(verdicts(signature, message, tampered), [false, false]);
  }
});

Deno.test("NATIVE_CURVES refuses a signature forged for a small-order public key, as noble does", () => {
  // With A of small order, [k]A is a torsion point; for the identity it is
  // zero, so R = [S]B satisfies the plain group equation for any message.
  const identity = hex(
    "0100000000000000000000000000000000000000000000000000000000000000",
  );
  const s = 12345n;
  const forged = new Uint8Array(64);
  forged.set(ed25519.Point.BASE.multiply(s).toBytes(), 0);
  forged.set(littleEndian(s), 32);
  const message = new TextEncoder().encode("any message at all");
  assert.deepEqual(verdicts(forged, message, identity), [false, false]);
  assert.equal(passesStrictEncodingChecks(forged, identity), false);
  // Every small-order key is refused before the equation.
  const smallOrder = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  ];
  for (const key of smallOrder) {
    assert.ok(ed25519.Point.fromHex(key).isSmallOrder(), key);
    assert.deepEqual(verdicts(forged, message, hex(key)), [false, false]);
  }
});

Deno.test("NATIVE_CURVES refuses S + L and non-canonical R or A encodings, as noble does", () => {
  const random = rngBytes(seededRng("native-edges"));
  const secret = random(32);
  const publicKey = NOBLE_CURVES.ed25519PublicKey(secret);
  const message = random(16);
  const signature = NOBLE_CURVES.ed25519Sign(message, secret);
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]);
  const malleated = signature.slice();
  malleated.set(littleEndian(s + L), 32);
  assert.deepEqual(verdicts(malleated, message, publicKey), [false, false]);
  // y >= p for R and for A, and x = 0 with the sign bit (y = 1, y = p - 1).
  const nonCanonical = [
    littleEndian(P),
    littleEndian(P + 1n),
    littleEndian(P + 18n),
    hex("0100000000000000000000000000000000000000000000000000000000000080"),
    hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
  ];
  for (const point of nonCanonical) {
    const badR = signature.slice();
    badR.set(point, 0);
    assert.deepEqual(verdicts(badR, message, publicKey), [false, false]);
    assert.deepEqual(verdicts(signature, message, point), [false, false]);
    assert.equal(passesStrictEncodingChecks(signature, point), false);
  }
  // The checks alone pass a genuine signature and key.
  assert.equal(passesStrictEncodingChecks(signature, publicKey), true);
});

Deno.test("ed25519Sign(), ed25519Verify() and x25519Shared() run on the installed native operations with the same results", () => {
  const random = rngBytes(seededRng("installed"));
  const secret = random(32);
  const message = random(24);
  const expected = ed25519Sign(message, secret);
  const peer = random(32);
  const sharedExpected = x25519Shared(secret, x25519PublicKey(peer));
  withNative(() => {
    assert.deepEqual(ed25519Sign(message, secret), expected);
    const publicKey = NATIVE_CURVES.ed25519PublicKey(secret);
    assert.equal(ed25519Verify(expected, message, publicKey), true);
    const tampered = expected.slice();
    tampered[5] ^= 4;
    assert.equal(ed25519Verify(tampered, message, publicKey), false);
    assert.deepEqual(
      x25519Shared(secret, x25519PublicKey(peer)),
      sharedExpected,
    );
    // A low-order peer key gives no secret (native throws, noble gives zeros).
    assert.equal(x25519Shared(secret, new Uint8Array(32)), undefined);
    assert.equal(x25519Shared(secret, new Uint8Array(31)), undefined);
  });
});

Deno.test("Native curves keep public keys imported by their bytes: a reused or changed buffer, and a flood of new keys, give noble's verdicts and shared secrets", () => {
  const random = rngBytes(seededRng("public key cache"));
  const secret = random(32);
  const message = new TextEncoder().encode("cached");
  const signature = NATIVE_CURVES.ed25519Sign(message, secret);
  const publicKey = NATIVE_CURVES.ed25519PublicKey(secret);
  assert.ok(NATIVE_CURVES.ed25519Verify(signature, message, publicKey));
  // The same buffer, now holding another key: judged by its new bytes.
  const other = NATIVE_CURVES.ed25519PublicKey(random(32));
  const buffer = publicKey.slice();
  assert.ok(NATIVE_CURVES.ed25519Verify(signature, message, buffer));
  buffer.set(other);
  assert.equal(NATIVE_CURVES.ed25519Verify(signature, message, buffer), false);
  // More new keys than the cache holds: the first key is imported again and
  // still gives the right verdicts.
  for (let i = 0; i <= PUBLIC_KEY_CACHE_SIZE; i++) {
    const key = NATIVE_CURVES.ed25519PublicKey(random(32));
    assert.equal(NATIVE_CURVES.ed25519Verify(signature, message, key), false);
  }
  assert.ok(NATIVE_CURVES.ed25519Verify(signature, message, publicKey));
  const tampered = signature.slice();
  tampered[5] ^= 1;
  assert.equal(
    NATIVE_CURVES.ed25519Verify(tampered, message, publicKey),
    false,
  );
  // X25519: a peer key reused, changed in place, and after a flood.
  const mine = random(32);
  const peerSecret = random(32);
  const peer = NOBLE_CURVES.x25519PublicKey(peerSecret);
  const expected = NOBLE_CURVES.x25519Shared(mine, peer);
  assert.deepEqual(NATIVE_CURVES.x25519Shared(mine, peer), expected);
  const peerBuffer = peer.slice();
  assert.deepEqual(NATIVE_CURVES.x25519Shared(mine, peerBuffer), expected);
  const second = NOBLE_CURVES.x25519PublicKey(random(32));
  peerBuffer.set(second);
  assert.deepEqual(
    NATIVE_CURVES.x25519Shared(mine, peerBuffer),
    NOBLE_CURVES.x25519Shared(mine, second),
  );
  for (let i = 0; i <= PUBLIC_KEY_CACHE_SIZE; i++) {
    NATIVE_CURVES.x25519Shared(mine, NOBLE_CURVES.x25519PublicKey(random(32)));
  }
  assert.deepEqual(NATIVE_CURVES.x25519Shared(mine, peer), expected);
});
