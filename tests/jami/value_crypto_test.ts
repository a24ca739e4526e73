import assert from "node:assert/strict";
import {
  packValue,
  signedValueBody,
  unpackValue,
} from "../../lib/dht/wire/values.ts";
import { JamiDecryptError, JamiSignatureError } from "../../lib/jami/errors.ts";
import { JamiPrivateKey, JamiPublicKey } from "../../lib/jami/rsa_key.ts";
import {
  decryptValue,
  encryptValue,
  signValue,
  verifyValue,
} from "../../lib/jami/value_crypto.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { deviceKey, fromHex, toHex, valuesOf, VECTORS } from "./_vectors.ts";

Deno.test("every signed vector value verifies against its owner and re-packs byte for byte", async () => {
  const signed = valuesOf("device_announcement");
  assert.equal(signed.length, 7);
  for (const vector of signed) {
    const packed = fromHex(vector.packed);
    const value = unpackValue(packed);
    const owner = await verifyValue(value);
    assert.equal(
      owner.infoHash.toString(),
      VECTORS.identities[vector.account!].account_id,
      vector.name,
    );
    assert.equal(owner.bits, 4096);
    assert.equal(toHex(packValue(value)), vector.packed, vector.name);
  }
});

Deno.test("every encrypted vector value decrypts with the recipient device key and verifies", async () => {
  const sealed = valuesOf("encrypted_trust_request");
  assert.equal(sealed.length, 14);
  for (const vector of sealed) {
    const packed = fromHex(vector.packed);
    const outer = unpackValue(packed);
    assert.equal(toHex(packValue(outer)), vector.packed, vector.name);
    const key = await deviceKey(vector.decrypt_with!);
    const inner = await decryptValue(outer, key);
    assert.equal(inner.type, 4, vector.name);
    assert.equal(inner.seq, 0);
    assert.ok(inner.recipient?.equals(key.publicKey.infoHash));
    const owner = await verifyValue(inner);
    const sender = await deviceKey(vector.sender!).catch(() => undefined);
    if (sender !== undefined) {
      assert.ok(owner.infoHash.equals(sender.publicKey.infoHash), vector.name);
    }
    // cypher = RSA block + IV + {body, sig} + tag
    const plain = 1 + 5 + signedValueBody(inner).length + 4 + 3 + 512;
    assert.equal(outer.cypher!.length, 512 + 12 + plain + 16, vector.name);
  }
});

Deno.test("a forged signature is rejected with JamiSignatureError", async () => {
  const vector = valuesOf("device_announcement")[0];
  const value = unpackValue(fromHex(vector.packed));
  const signature = value.signature!.slice();
  signature[100] ^= 1;
  await assert.rejects(
    verifyValue({ ...value, signature }),
    JamiSignatureError,
  );
  const data = value.data.slice();
  data[30] ^= 1;
  await assert.rejects(verifyValue({ ...value, data }), JamiSignatureError);
  await assert.rejects(
    verifyValue({ ...value, owner: new Uint8Array(3) }),
    JamiSignatureError,
  );
  const { owner: _owner, ...unsigned } = value;
  await assert.rejects(verifyValue(unsigned), JamiSignatureError);
});

Deno.test("a value for another recipient or with a corrupted cypher does not decrypt", async () => {
  const vector = valuesOf("encrypted_trust_request")[0];
  const outer = unpackValue(fromHex(vector.packed));
  const other = await deviceKey("jamid-A");
  await assert.rejects(decryptValue(outer, other), JamiDecryptError);
  const mine = await deviceKey(vector.decrypt_with!);
  const cypher = outer.cypher!.slice();
  cypher[600] ^= 1;
  await assert.rejects(
    decryptValue({ ...outer, cypher }, mine),
    JamiDecryptError,
  );
  await assert.rejects(
    decryptValue({ ...outer, cypher: cypher.subarray(0, 100) }, mine),
    JamiDecryptError,
  );
});

Deno.test("sign, encrypt, decrypt round trip with 2048-bit keys, deterministic under a seeded source", async () => {
  const [alice, bob] = await Promise.all([
    JamiPrivateKey.generate(2048),
    JamiPrivateKey.generate(2048),
  ]);
  const data = new Uint8Array(700).fill(7);
  const signed = await signValue(
    { id: 2n ** 63n + 5n, type: 4, data, recipient: bob.publicKey.infoHash },
    alice,
  );
  const a = encryptValue(signed, bob.publicKey, rngBytes(seededRng(9)));
  const b = encryptValue(signed, bob.publicKey, rngBytes(seededRng(9)));
  assert.deepEqual(a.cypher, b.cypher);
  const opened = await decryptValue(unpackValue(packValue(a)), bob);
  assert.deepEqual(opened.data, data);
  assert.equal(opened.id, signed.id);
  assert.ok(
    (await verifyValue(opened)).infoHash.equals(alice.publicKey.infoHash),
  );
  // short plaintext: one RSA block only
  const small = await signValue(
    {
      id: 1n,
      type: 4,
      data: new Uint8Array(1),
      recipient: bob.publicKey.infoHash,
    },
    await JamiPrivateKey.generate(2048),
  );
  assert.ok(
    encryptValue(small, bob.publicKey, rngBytes(seededRng(1))).cypher!
      .length > 256,
  );
  await assert.rejects(decryptValue(a, alice), JamiDecryptError);
  assert.throws(
    () => encryptValue(signed, alice.publicKey, rngBytes(seededRng(1))),
    TypeError,
  );
  // The public key round-trips through its SPKI.
  const again = await JamiPublicKey.fromSpki(alice.publicKey.spki);
  assert.equal(await again.longId(), await alice.publicKey.longId());
});
