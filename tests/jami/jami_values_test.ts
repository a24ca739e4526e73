import assert from "node:assert/strict";
import { packValue, unpackValue } from "../../lib/dht/wire/values.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import {
  certificateValue,
  parseCertificateValue,
} from "../../lib/jami/certificate_value.ts";
import { JamiCertificateChain } from "../../lib/jami/certificate_chain.ts";
import {
  announcementValue,
  decodeJamiAnnouncement,
  encodeJamiAnnouncement,
  openJamiAnnouncement,
} from "../../lib/jami/device_announcement.ts";
import {
  JamiCertificateError,
  JamiFormatError,
  JamiSignatureError,
} from "../../lib/jami/errors.ts";
import { importJamiArchive } from "../../lib/jami/jami_archive.ts";
import { compress } from "../../lib/jami/_compression.ts";
import { JamiPrivateKey } from "../../lib/jami/rsa_key.ts";
import {
  decodeJamiTrustRequest,
  encodeJamiTrustRequest,
  inboxKey,
  openTrustRequest,
  sealTrustRequest,
  trustRequestAccountId,
} from "../../lib/jami/trust_request.ts";
import { decryptValue, signValue } from "../../lib/jami/value_crypto.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { deviceKey, fromHex, toHex, valuesOf, VECTORS } from "./_vectors.ts";

const NOW = Date.UTC(2027, 0, 1);

function chainOf(identity: string): Promise<JamiCertificateChain> {
  const id = VECTORS.identities[identity];
  return JamiCertificateChain.fromPem(
    (id.device_chain_pem ?? id.device1_chain_pem)!,
  );
}

Deno.test("certificate values: parse at their key, equal the identity chain, and re-pack byte for byte", async () => {
  const vectors = valuesOf("certificate");
  assert.equal(vectors.length, 4);
  for (const vector of vectors) {
    const value = unpackValue(fromHex(vector.packed));
    const chain = await parseCertificateValue(
      value,
      InfoHash.fromHex(vector.key),
    );
    await chain.validate(NOW);
    const pem = VECTORS.identities[vector.account!].device_chain_pem!;
    assert.equal(chain.toPem(), pem);
    const packed = toHex(packValue(certificateValue(chain)));
    // deno/jami_codec.ts packed the id 1 as a uint64 (cf 00…01); OpenDHT and
    // this codec pack it minimally (01).
    assert.equal(
      packed,
      vector.packed.replace(/^82a26964cf0000000000000001/, "82a2696401"),
      vector.name,
    );
    await assert.rejects(
      parseCertificateValue(value, InfoHash.get("elsewhere")),
      (e) => e instanceof JamiCertificateError && e.reason === "wrong-key",
    );
  }
});

Deno.test("announcements: signed by the account, dev = the device of the chain, data re-encodes", async () => {
  for (const vector of valuesOf("device_announcement")) {
    const id = VECTORS.identities[vector.account!];
    const value = unpackValue(fromHex(vector.packed));
    const announcement = await openJamiAnnouncement(value, id.account_id);
    assert.equal(announcement.accountId, vector.key);
    assert.deepEqual(encodeJamiAnnouncement(announcement), value.data);
    if (vector.account !== "crl-account") {
      const chain = await chainOf(vector.account!);
      assert.equal(announcement.deviceId, await chain.deviceId(), vector.name);
    }
    // anyone else's id is refused
    await assert.rejects(
      openJamiAnnouncement(value, "0".repeat(40)),
      JamiSignatureError,
    );
  }
});

Deno.test("our announcement of the captured fake and deno identities equals the captured bytes", async () => {
  for (const name of ["fake", "deno"]) {
    const id = VECTORS.identities[name];
    const vector = valuesOf("device_announcement").find((v) =>
      v.account === name
    )!;
    const captured = unpackValue(fromHex(vector.packed));
    const value = await announcementValue({
      accountKey: await JamiPrivateKey.fromPem(id.account_key_pem!),
      deviceKey: await deviceKey(name),
    }, captured.id);
    assert.equal(toHex(packValue(value)), vector.packed, name);
  }
});

Deno.test("jamid-A's announcement, re-signed with the account key of its archive, equals jamid's bytes", async () => {
  const id = VECTORS.identities["jamid-A"];
  const archive = await importJamiArchive(
    await compress(
      new TextEncoder().encode(JSON.stringify(id.archive_json)),
      "gzip",
    ),
  );
  const vector = valuesOf("device_announcement").find((v) =>
    v.account === "jamid-A"
  )!;
  const captured = unpackValue(fromHex(vector.packed));
  const value = await announcementValue({
    accountKey: archive.accountKey,
    deviceKey: await deviceKey("jamid-A"),
  }, captured.id);
  assert.equal(toHex(packValue(value)), vector.packed);
});

Deno.test("the receipt's announce (id 0) carries the same signed body as the DHT value", async () => {
  for (const name of ["jamid-A", "jamid-B"]) {
    const id = VECTORS.identities[name];
    const receipt = JSON.parse(id.receipt!);
    const announce = unpackValue(
      Uint8Array.from(atob(receipt.announce), (c) => c.charCodeAt(0)),
    );
    assert.equal(announce.id, 0n);
    const vector = valuesOf("device_announcement").find((v) =>
      v.account === name
    )!;
    const value = unpackValue(fromHex(vector.packed));
    assert.deepEqual(announce.signature, value.signature);
    await openJamiAnnouncement(announce, id.account_id);
    const chain = await chainOf(name);
    assert.ok(
      await chain.account!.publicKey.verify(
        new TextEncoder().encode(id.receipt!),
        fromHex(id.receipt_signature!),
        "SHA-512",
      ),
    );
  }
});

Deno.test("an announcement signed by a device key instead of the account key is refused", async () => {
  const vector = valuesOf("device_announcement").find((v) =>
    v.account === "jamid-A"
  )!;
  const value = unpackValue(fromHex(vector.packed));
  const { owner: _o, signature: _s, ...plain } = value;
  const byDevice = await signValue(plain, await deviceKey("jamid-A"));
  await assert.rejects(
    openJamiAnnouncement(byDevice, VECTORS.identities["jamid-A"].account_id),
    JamiSignatureError,
  );
  // A signature of the device key pasted under the account owner: forged.
  await assert.rejects(
    openJamiAnnouncement(
      { ...value, signature: byDevice.signature },
      VECTORS.identities["jamid-A"].account_id,
    ),
    JamiSignatureError,
  );
});

Deno.test("trust requests: open every captured one, exact field order, inbox key, sender account", async () => {
  for (const vector of valuesOf("encrypted_trust_request")) {
    const value = unpackValue(fromHex(vector.packed));
    const ours = await deviceKey(vector.decrypt_with!);
    assert.equal(
      (await inboxKey(ours.publicKey.infoHash.toString())).toString(),
      vector.key,
      vector.name,
    );
    const { request, senderDevice } = await openTrustRequest(value, ours);
    const inner = await decryptValue(value, ours);
    assert.deepEqual(encodeJamiTrustRequest(request), inner.data, vector.name);
    const chain = await chainOf(vector.sender!);
    assert.equal(
      await trustRequestAccountId(senderDevice, chain, NOW),
      VECTORS.identities[vector.sender!].account_id,
      vector.name,
    );
    // a chain of another device is not the sender's
    await assert.rejects(
      trustRequestAccountId(
        senderDevice,
        await chainOf(vector.decrypt_with!),
        NOW,
      ),
      (e) => e instanceof JamiCertificateError && e.reason === "wrong-sender",
    );
  }
});

Deno.test("the jamid pair request matches the incomingTrustRequest signal", async () => {
  const vector = VECTORS.values.find((v) =>
    v.name === "jamid-A->jamid-B.trust_request#1"
  )!;
  const [, conversationId, from, payload] =
    VECTORS.facts.jamid_pair_incomingTrustRequest.args;
  const { request, senderDevice } = await openTrustRequest(
    unpackValue(fromHex(vector.packed)),
    await deviceKey("jamid-B"),
  );
  assert.equal(request.conversationId, conversationId);
  assert.equal(toHex(request.payload), payload);
  assert.equal(request.confirm, false);
  assert.equal(
    await trustRequestAccountId(senderDevice, await chainOf("jamid-A"), NOW),
    from,
  );
  assert.equal(
    (await inboxKey(
      VECTORS.identities["jamid-B"].device_sha1 ??
        (await deviceKey("jamid-B")).publicKey.infoHash.toString(),
    )).toString(),
    VECTORS.facts.jamid_pair_inbox_key_of_B,
  );
});

Deno.test("seal a request with a captured identity's keys and open it with the recipient's", async () => {
  const sender = await deviceKey("fake");
  const recipient = await deviceKey("jamid-J1");
  const request = {
    service: "cx.ring",
    conversationId: "a".repeat(40),
    payload: new TextEncoder().encode("BEGIN:VCARD\r\nEND:VCARD\r\n"),
    confirm: true,
  } as const;
  const value = await sealTrustRequest(
    request,
    sender,
    recipient.publicKey,
    123n,
    rngBytes(seededRng(8)),
  );
  const opened = await openTrustRequest(
    unpackValue(packValue(value)),
    recipient,
  );
  assert.deepEqual(opened.request, request);
  assert.equal(
    await trustRequestAccountId(
      opened.senderDevice,
      await chainOf("fake"),
      NOW,
    ),
    VECTORS.identities.fake.account_id,
  );
});

Deno.test("malformed announcements and requests are refused with JamiFormatError", async () => {
  const pk = (await deviceKey("jamid-A")).publicKey;
  assert.throws(
    () => decodeJamiAnnouncement(new Uint8Array([0xc0])),
    JamiFormatError,
  );
  assert.throws(
    () =>
      decodeJamiAnnouncement(
        encodeJamiAnnouncement({ dev: new Uint8Array(20), pk: pk.spki }),
      ),
    JamiFormatError,
  );
  const good = {
    service: "cx.ring",
    conversationId: "",
    payload: new Uint8Array(3),
    confirm: false,
  } as const;
  assert.deepEqual(decodeJamiTrustRequest(encodeJamiTrustRequest(good)), good);
  for (
    const bad of [
      { ...good, service: "other" },
      { ...good, payload: new Uint8Array(64_001) },
      { ...good, conversationId: "x".repeat(200) },
    ]
  ) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => decodeJamiTrustRequest(encodeJamiTrustRequest(bad as any)),
      JamiFormatError,
    );
  }
  assert.throws(
    () => decodeJamiTrustRequest(new Uint8Array([0x80])),
    JamiFormatError,
  );
  await assert.rejects(inboxKey("xyz"), RangeError);
});
