/**
 * Known-answer tests for the synchronous primitives of lib/identity, each
 * vector from its specification, and each result cross-checked against Web
 * Crypto (a second, independent implementation).
 */
import assert from "node:assert/strict";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hkdfSha256,
  hmacSha256,
  hmacSha256Keyed,
  sha1,
  x25519PublicKey,
  x25519Shared,
} from "../lib/crypto.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";

const hex = (text: string): Uint8Array<ArrayBuffer> => Uint8Array.fromHex(text);
const utf8 = (text: string): Uint8Array<ArrayBuffer> =>
  new TextEncoder().encode(text);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

// ---------------------------------------------------------------------------
// SHA-1
// FIPS 180-2 appendix A (https://csrc.nist.gov/publications/detail/fips/180/2/archive/2002-08-01)
// and RFC 3174 section 7.3 (https://www.rfc-editor.org/rfc/rfc3174#section-7.3).
// ---------------------------------------------------------------------------

const SHA1_VECTORS: readonly { name: string; input: string; digest: string }[] =
  [
    {
      name: '"abc"',
      input: "abc",
      digest: "a9993e364706816aba3e25717850c26c9cd0d89d",
    },
    {
      name: "the empty string",
      input: "",
      digest: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    },
    {
      name: "the 448-bit message",
      input: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      digest: "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    },
    {
      name: 'one million "a"',
      input: "a".repeat(1_000_000),
      digest: "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
    },
  ];

for (const vector of SHA1_VECTORS) {
  Deno.test(`sha1() and InfoHash.get() match the FIPS 180 digest of ${vector.name}`, async () => {
    const bytes = utf8(vector.input);
    assert.equal(sha1(bytes).toHex(), vector.digest);
    assert.equal(InfoHash.get(vector.input).toString(), vector.digest);
    assert.equal(InfoHash.get(bytes).toString(), vector.digest);
    const webCrypto = new Uint8Array(
      await crypto.subtle.digest("SHA-1", bytes),
    );
    assert.equal(webCrypto.toHex(), vector.digest);
  });
}

// ---------------------------------------------------------------------------
// Ed25519
// RFC 8032 section 7.1, TEST 1-3 (https://www.rfc-editor.org/rfc/rfc8032#section-7.1).
// ---------------------------------------------------------------------------

const ED25519_VECTORS: readonly {
  name: string;
  secret: string;
  publicKey: string;
  message: string;
  signature: string;
}[] = [
  {
    name: "TEST 1",
    secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey:
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac" +
      "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey:
      "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e" +
      "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3",
    secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    publicKey:
      "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290" +
      "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

// PKCS #8 prefix of an Ed25519 private key (RFC 8410 section 7), so that Web
// Crypto can sign with the raw RFC 8032 seed.
const ED25519_PKCS8_PREFIX = "302e020100300506032b657004220420";

async function webCryptoEd25519Verify(
  publicKey: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  message: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "raw",
    publicKey,
    "Ed25519",
    false,
    ["verify"],
  );
  return await crypto.subtle.verify("Ed25519", key, signature, message);
}

for (const vector of ED25519_VECTORS) {
  Deno.test(`ed25519PublicKey() and ed25519Sign() match RFC 8032 ${vector.name}`, async () => {
    const secret = hex(vector.secret);
    const message = hex(vector.message);
    assert.equal(ed25519PublicKey(secret).toHex(), vector.publicKey);
    assert.equal(ed25519Sign(message, secret).toHex(), vector.signature);
    // Web Crypto, given the same seed, signs the same bytes (Ed25519 is deterministic).
    const privateKey = await crypto.subtle.importKey(
      "pkcs8",
      hex(ED25519_PKCS8_PREFIX + vector.secret),
      "Ed25519",
      false,
      ["sign"],
    );
    const webSignature = new Uint8Array(
      await crypto.subtle.sign("Ed25519", privateKey, message),
    );
    assert.equal(webSignature.toHex(), vector.signature);
  });

  Deno.test(`ed25519Verify() accepts RFC 8032 ${vector.name}, as Web Crypto does`, async () => {
    const publicKey = hex(vector.publicKey);
    const message = hex(vector.message);
    const signature = hex(vector.signature);
    assert.equal(ed25519Verify(signature, message, publicKey), true);
    assert.equal(
      await webCryptoEd25519Verify(publicKey, signature, message),
      true,
    );
  });

  Deno.test(`ed25519Verify() rejects RFC 8032 ${vector.name} with any bit of the signature flipped`, async () => {
    const publicKey = hex(vector.publicKey);
    const message = hex(vector.message);
    const signature = hex(vector.signature);
    for (let bit = 0; bit < signature.length * 8; bit++) {
      const bad = flipBit(signature, bit) as Uint8Array<ArrayBuffer>;
      assert.equal(ed25519Verify(bad, message, publicKey), false, `bit ${bit}`);
      // Web Crypto agrees on a sample (every 37th bit keeps the test fast).
      if (bit % 37 === 0) {
        assert.equal(
          await webCryptoEd25519Verify(publicKey, bad, message),
          false,
          `bit ${bit}`,
        );
      }
    }
  });

  Deno.test(`ed25519Verify() rejects RFC 8032 ${vector.name} with any bit of the public key flipped`, () => {
    const publicKey = hex(vector.publicKey);
    const message = hex(vector.message);
    const signature = hex(vector.signature);
    for (let bit = 0; bit < publicKey.length * 8; bit++) {
      assert.equal(
        ed25519Verify(signature, message, flipBit(publicKey, bit)),
        false,
        `bit ${bit}`,
      );
    }
  });
}

Deno.test("ed25519Verify() rejects RFC 8032 TEST 3 with any bit of the message flipped", async () => {
  const vector = ED25519_VECTORS[2];
  const publicKey = hex(vector.publicKey);
  const message = hex(vector.message);
  const signature = hex(vector.signature);
  for (let bit = 0; bit < message.length * 8; bit++) {
    const bad = flipBit(message, bit) as Uint8Array<ArrayBuffer>;
    assert.equal(ed25519Verify(signature, bad, publicKey), false, `bit ${bit}`);
    assert.equal(
      await webCryptoEd25519Verify(publicKey, signature, bad),
      false,
      `bit ${bit}`,
    );
  }
  // A message one byte longer or shorter fails as well.
  assert.equal(ed25519Verify(signature, hex("af"), publicKey), false);
  assert.equal(ed25519Verify(signature, hex("af8200"), publicKey), false);
});

Deno.test("ed25519Verify() returns false for wrong-length signatures and keys instead of throwing", () => {
  const vector = ED25519_VECTORS[0];
  const publicKey = hex(vector.publicKey);
  const signature = hex(vector.signature);
  const message = new Uint8Array(0);
  assert.equal(
    ed25519Verify(signature.subarray(0, 63), message, publicKey),
    false,
  );
  assert.equal(ed25519Verify(new Uint8Array(65), message, publicKey), false);
  assert.equal(
    ed25519Verify(signature, message, publicKey.subarray(0, 31)),
    false,
  );
  assert.equal(ed25519Verify(signature, message, new Uint8Array(33)), false);
  assert.equal(
    ed25519Verify(new Uint8Array(64), message, new Uint8Array(32)),
    false,
  );
});

Deno.test("ed25519Verify() rejects a signature whose S is not reduced (S + L), as RFC 8032 section 5.1.7 requires", () => {
  // Adding the group order L to S gives a signature that lax verifiers accept
  // (malleability); strict verification must refuse it.
  const vector = ED25519_VECTORS[0];
  const signature = hex(vector.signature);
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]);
  let sPlusL = s + L;
  const malleated = signature.slice();
  for (let i = 32; i < 64; i++) {
    malleated[i] = Number(sPlusL & 0xffn);
    sPlusL >>= 8n;
  }
  assert.equal(sPlusL, 0n, "S + L still fits in 32 bytes");
  assert.equal(
    ed25519Verify(malleated, new Uint8Array(0), hex(vector.publicKey)),
    false,
  );
});

// ---------------------------------------------------------------------------
// X25519
// RFC 7748 section 5.2 (https://www.rfc-editor.org/rfc/rfc7748#section-5.2)
// and section 6.1 (https://www.rfc-editor.org/rfc/rfc7748#section-6.1).
// ---------------------------------------------------------------------------

const X25519_SINGLE: readonly {
  name: string;
  scalar: string;
  u: string;
  output: string;
}[] = [
  {
    name: "first",
    scalar: "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
    u: "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
    output: "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  },
  {
    name: "second",
    scalar: "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
    u: "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
    output: "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
  },
];

for (const vector of X25519_SINGLE) {
  Deno.test(`x25519Shared() matches the ${vector.name} single-iteration vector of RFC 7748 section 5.2`, () => {
    assert.equal(
      x25519Shared(hex(vector.scalar), hex(vector.u))?.toHex(),
      vector.output,
    );
  });
}

const RFC7748_ALICE_SECRET =
  "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const RFC7748_ALICE_PUBLIC =
  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const RFC7748_BOB_SECRET =
  "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const RFC7748_BOB_PUBLIC =
  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const RFC7748_SHARED =
  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
// PKCS #8 prefix of an X25519 private key (RFC 8410 section 7).
const X25519_PKCS8_PREFIX = "302e020100300506032b656e04220420";

Deno.test("x25519PublicKey() and x25519Shared() match the Alice and Bob example of RFC 7748 section 6.1", () => {
  const alice = hex(RFC7748_ALICE_SECRET);
  const bob = hex(RFC7748_BOB_SECRET);
  assert.equal(x25519PublicKey(alice).toHex(), RFC7748_ALICE_PUBLIC);
  assert.equal(x25519PublicKey(bob).toHex(), RFC7748_BOB_PUBLIC);
  assert.equal(
    x25519Shared(alice, hex(RFC7748_BOB_PUBLIC))?.toHex(),
    RFC7748_SHARED,
  );
  assert.equal(
    x25519Shared(bob, hex(RFC7748_ALICE_PUBLIC))?.toHex(),
    RFC7748_SHARED,
  );
});

Deno.test("x25519Shared() agrees with Web Crypto X25519 deriveBits on the RFC 7748 section 6.1 keys", async () => {
  const alicePrivate = await crypto.subtle.importKey(
    "pkcs8",
    hex(X25519_PKCS8_PREFIX + RFC7748_ALICE_SECRET),
    { name: "X25519" },
    false,
    ["deriveBits"],
  );
  const bobPublic = await crypto.subtle.importKey(
    "raw",
    hex(RFC7748_BOB_PUBLIC),
    { name: "X25519" },
    true,
    [],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "X25519", public: bobPublic },
    alicePrivate,
    256,
  );
  assert.equal(new Uint8Array(bits).toHex(), RFC7748_SHARED);
});

// Low-order u-coordinates (0, 1, the two points of order 8, p - 1, p, p + 1),
// as listed by libsodium and RFC 7748 section 6.1 ("check for the all-zero value").
const LOW_ORDER_POINTS = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

Deno.test("x25519Shared() returns undefined for low-order points, the all-zero u first", () => {
  const secret = hex(RFC7748_BOB_SECRET);
  for (const point of LOW_ORDER_POINTS) {
    assert.equal(x25519Shared(secret, hex(point)), undefined, point);
  }
});

Deno.test("x25519Shared() returns undefined for a peer key that is not 32 bytes", () => {
  const secret = hex(RFC7748_BOB_SECRET);
  assert.equal(x25519Shared(secret, new Uint8Array(31).fill(9)), undefined);
  assert.equal(x25519Shared(secret, new Uint8Array(33).fill(9)), undefined);
  assert.equal(x25519Shared(secret, new Uint8Array(0)), undefined);
});

// ---------------------------------------------------------------------------
// HKDF-SHA-256
// RFC 5869 appendix A.1-A.3 (https://www.rfc-editor.org/rfc/rfc5869#appendix-A).
// ---------------------------------------------------------------------------

const HKDF_VECTORS: readonly {
  name: string;
  ikm: string;
  salt: string;
  info: string;
  okm: string;
}[] = [
  {
    name: "test case 1",
    ikm: "0b".repeat(22),
    salt: "000102030405060708090a0b0c",
    info: "f0f1f2f3f4f5f6f7f8f9",
    okm:
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  },
  {
    name: "test case 2",
    ikm: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
      "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
      "404142434445464748494a4b4c4d4e4f",
    salt: "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f" +
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f" +
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
    info: "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf" +
      "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef" +
      "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
    okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c" +
      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71" +
      "cc30c58179ec3e87c14c01d5c1f3434f1d87",
  },
  {
    name: "test case 3",
    ikm: "0b".repeat(22),
    salt: "",
    info: "",
    okm:
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  },
];

for (const vector of HKDF_VECTORS) {
  Deno.test(`hkdfSha256() matches RFC 5869 ${vector.name}, as Web Crypto HKDF does`, async () => {
    const ikm = hex(vector.ikm);
    const salt = hex(vector.salt);
    const info = hex(vector.info);
    const length = vector.okm.length / 2;
    assert.equal(hkdfSha256(ikm, salt, info, length).toHex(), vector.okm);
    const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, [
      "deriveBits",
    ]);
    const bits = await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt, info },
      key,
      length * 8,
    );
    assert.equal(new Uint8Array(bits).toHex(), vector.okm);
  });
}

// ---------------------------------------------------------------------------
// AES-256-GCM
// McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", test cases
// 13, 14 and 16 (https://csrc.nist.rip/groups/ST/toolkit/BCM/documents/proposedmodes/gcm/gcm-revised-spec.pdf),
// and interoperability with Web Crypto.
// ---------------------------------------------------------------------------

const GCM_VECTORS: readonly {
  name: string;
  key: string;
  nonce: string;
  plaintext: string;
  aad: string;
  ciphertextAndTag: string;
}[] = [
  {
    name: "test case 13",
    key: "00".repeat(32),
    nonce: "00".repeat(12),
    plaintext: "",
    aad: "",
    ciphertextAndTag: "530f8afbc74536b9a963b4f1c4cb738b",
  },
  {
    name: "test case 14",
    key: "00".repeat(32),
    nonce: "00".repeat(12),
    plaintext: "00".repeat(16),
    aad: "",
    ciphertextAndTag: "cea7403d4d606b6e074ec5d3baf39d18" +
      "d0d1c8a799996bf0265b98b5d48ab919",
  },
  {
    name: "test case 16",
    key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    nonce: "cafebabefacedbaddecaf888",
    plaintext:
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    ciphertextAndTag:
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
      "76fc6ece0f4e1768cddf8853bb2d551b",
  },
];

for (const vector of GCM_VECTORS) {
  Deno.test(`aesGcmEncrypt() and aesGcmDecrypt() match GCM ${vector.name}`, () => {
    const key = hex(vector.key);
    const nonce = hex(vector.nonce);
    const aad = hex(vector.aad);
    const sealed = aesGcmEncrypt(key, nonce, hex(vector.plaintext), aad);
    assert.equal(sealed.toHex(), vector.ciphertextAndTag);
    assert.equal(
      aesGcmDecrypt(key, nonce, sealed, aad)?.toHex(),
      vector.plaintext,
    );
  });
}

async function webCryptoGcmKey(
  key: Uint8Array<ArrayBuffer>,
): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", key, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

Deno.test("aesGcmEncrypt() output decrypts with Web Crypto AES-GCM under the same key, nonce and AAD", async () => {
  const key = new Uint8Array(32).map((_, i) => i * 7);
  const nonce = new Uint8Array(12).map((_, i) => 200 - i);
  const aad = utf8("header bytes");
  const webKey = await webCryptoGcmKey(key);
  for (const length of [0, 1, 15, 16, 17, 1024]) {
    const plaintext = new Uint8Array(length).map((_, i) => (i * 31) & 0xff);
    const sealed = aesGcmEncrypt(key, nonce, plaintext, aad) as Uint8Array<
      ArrayBuffer
    >;
    assert.equal(sealed.length, length + 16);
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad },
      webKey,
      sealed,
    );
    assert.deepEqual(new Uint8Array(opened), plaintext);
  }
});

Deno.test("aesGcmDecrypt() opens what Web Crypto AES-GCM encrypted, byte for byte the same ciphertext", async () => {
  const key = new Uint8Array(32).map((_, i) => 255 - i);
  const nonce = new Uint8Array(12).map((_, i) => i);
  const aad = utf8("associated");
  const plaintext = utf8("a message that spans more than one AES block");
  const webKey = await webCryptoGcmKey(key);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad },
      webKey,
      plaintext,
    ),
  );
  assert.deepEqual(sealed, aesGcmEncrypt(key, nonce, plaintext, aad));
  assert.deepEqual(aesGcmDecrypt(key, nonce, sealed, aad), plaintext);
});

Deno.test("aesGcmDecrypt() returns undefined for a tampered tag, ciphertext, AAD, nonce or key", () => {
  const key = new Uint8Array(32).fill(1);
  const nonce = new Uint8Array(12).fill(2);
  const aad = utf8("aad");
  const sealed = aesGcmEncrypt(key, nonce, utf8("secret"), aad);
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    assert.equal(
      aesGcmDecrypt(key, nonce, flipBit(sealed, bit), aad),
      undefined,
      `bit ${bit}`,
    );
  }
  assert.equal(aesGcmDecrypt(key, nonce, sealed, utf8("aae")), undefined);
  assert.equal(aesGcmDecrypt(key, flipBit(nonce, 0), sealed, aad), undefined);
  assert.equal(aesGcmDecrypt(flipBit(key, 255), nonce, sealed, aad), undefined);
  assert.equal(
    aesGcmDecrypt(key, nonce, sealed.subarray(0, sealed.length - 1), aad),
    undefined,
  );
});

Deno.test("aesGcmDecrypt() returns undefined for input shorter than a tag", () => {
  const key = new Uint8Array(32);
  const nonce = new Uint8Array(12);
  assert.equal(
    aesGcmDecrypt(key, nonce, new Uint8Array(0), new Uint8Array(0)),
    undefined,
  );
  assert.equal(
    aesGcmDecrypt(key, nonce, new Uint8Array(15), new Uint8Array(0)),
    undefined,
  );
});

// ---------------------------------------------------------------------------
// HMAC-SHA-256 under a fixed key (write tokens)
// RFC 4231 section 4.2 and 4.3 (https://www.rfc-editor.org/rfc/rfc4231#section-4.2).
// ---------------------------------------------------------------------------

Deno.test("hmacSha256Keyed() gives RFC 4231 test cases 1 and 2, and the same on every call", () => {
  const case1 = hmacSha256Keyed(new Uint8Array(20).fill(0x0b));
  const case2 = hmacSha256Keyed(utf8("Jefe"));
  for (let call = 0; call < 3; call++) {
    assert.equal(
      case1(utf8("Hi There")).toHex(),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    );
    assert.equal(
      case2(utf8("what do ya want for nothing?")).toHex(),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  }
});

Deno.test("hmacSha256Keyed() matches hmacSha256() and Web Crypto HMAC for token-shaped input", async () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const keyed = hmacSha256Keyed(key);
  const webKey = await crypto.subtle.importKey(
    "raw",
    key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  for (let n = 0; n < 20; n++) {
    const input = Uint8Array.from([192, 0, 2, n, n >> 8, n & 0xff]);
    const expected = new Uint8Array(
      await crypto.subtle.sign("HMAC", webKey, input),
    );
    assert.deepEqual(keyed(input), expected);
    assert.deepEqual(hmacSha256(key, input), expected);
    // Into given bytes: the same 32, the bytes around them untouched.
    const out = new Uint8Array(40).fill(0xee);
    assert.equal(keyed(input, out.subarray(4, 36)).byteOffset, 4);
    assert.deepEqual(out.subarray(4, 36), expected);
    assert.deepEqual([...out.subarray(0, 4), ...out.subarray(36)], [
      ...new Uint8Array(8).fill(0xee),
    ]);
  }
});
