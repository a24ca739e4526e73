import assert from "node:assert/strict";
import { generateRsaKeyPair } from "../../lib/io/jami_rsa.ts";
import { JamiDecryptError, JamiFormatError } from "../../lib/jami/errors.ts";
import { JamiPrivateKey, JamiPublicKey } from "../../lib/jami/rsa_key.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { deviceKey, toHex, VECTORS } from "./_vectors.ts";

Deno.test("a generated key is RSA-4096 with a 550-byte SPKI, like Jami's (the one 4096-bit generation of the suite)", async () => {
  const key = await JamiPrivateKey.generate();
  assert.equal(key.publicKey.bits, 4096);
  assert.equal(key.publicKey.spki.length, 550);
  assert.equal(
    toHex(key.publicKey.spki.subarray(0, 33)),
    "30820222300d06092a864886f70d01010105000382020f003082020a0282020100",
  );
  // same prefix as jamid's keys
  assert.equal(
    toHex((await deviceKey("jamid-A")).publicKey.spki.subarray(0, 33)),
    toHex(key.publicKey.spki.subarray(0, 33)),
  );
  const data = new Uint8Array(1162).fill(1);
  const signature = await key.sign(data);
  assert.equal(signature.length, 512);
  assert.ok(await key.publicKey.verify(data, signature, "SHA-512"));
  assert.ok(!await key.publicKey.verify(data, signature, "SHA-384"));
  const block = key.publicKey.encrypt(
    new Uint8Array(32),
    rngBytes(seededRng(1)),
  );
  assert.equal(block.length, 512);
  assert.deepEqual(key.decrypt(block), new Uint8Array(32));
  const again = await JamiPrivateKey.fromPem(key.toPem());
  assert.deepEqual(again.publicKey.spki, key.publicKey.spki);
});

Deno.test("the vector keys give the captured ids", async () => {
  for (const name of ["fake", "deno"]) {
    const id = VECTORS.identities[name];
    const account = await JamiPrivateKey.fromPem(id.account_key_pem!);
    assert.equal((await account.publicKey.id()).toString(), id.account_id);
    const device = await deviceKey(name);
    assert.equal((await device.publicKey.id()).toString(), id.device_sha1);
    assert.equal(await device.publicKey.longId(), id.device_long_id);
  }
});

Deno.test("hostile keys are refused with JamiFormatError", async () => {
  const spki = (await deviceKey("jamid-A")).publicKey.spki;
  await assert.rejects(
    JamiPublicKey.fromSpki(new Uint8Array(0)),
    JamiFormatError,
  );
  await assert.rejects(
    JamiPublicKey.fromSpki(spki.subarray(0, 100)),
    JamiFormatError,
  );
  await assert.rejects(
    JamiPublicKey.fromSpki(new Uint8Array(5000)),
    JamiFormatError,
  );
  const small = await generateRsaKeyPair(1024);
  await assert.rejects(JamiPublicKey.fromSpki(small.spki), JamiFormatError);
  await assert.rejects(
    JamiPrivateKey.fromPkcs8(new Uint8Array([0x30, 0])),
    JamiFormatError,
  );
  await assert.rejects(
    JamiPrivateKey.fromPem(VECTORS.identities["jamid-A"].device_chain_pem!),
    JamiFormatError,
  );
  // a non-minimal DER length in the SPKI would change the key id: refused
  const longForm = new Uint8Array(spki.length + 1);
  longForm.set([0x30, 0x83, 0x00, 0x02, 0x22]);
  longForm.set(spki.subarray(4), 5);
  await assert.rejects(JamiPublicKey.fromSpki(longForm), JamiFormatError);
});

Deno.test("decrypting a block of the wrong size or padding is a JamiDecryptError", async () => {
  const key = await deviceKey("jamid-A");
  assert.throws(() => key.decrypt(new Uint8Array(10)), JamiDecryptError);
  assert.throws(
    () => key.decrypt(new Uint8Array(512).fill(1)),
    JamiDecryptError,
  );
  assert.throws(
    () => key.publicKey.encrypt(new Uint8Array(502), rngBytes(seededRng(1))),
    RangeError,
  );
  // a random source that only gives zeros cannot pad
  assert.throws(
    () => key.publicKey.encrypt(new Uint8Array(1), (n) => new Uint8Array(n)),
    RangeError,
  );
});
