import assert from "node:assert/strict";
import { unpackValue } from "../../lib/dht/wire/values.ts";
import {
  createJamiCertificate,
  JamiCertificate,
} from "../../lib/jami/certificate.ts";
import { JamiCertificateChain } from "../../lib/jami/certificate_chain.ts";
import {
  JamiCertificateError,
  type JamiCertificateReason,
  JamiFormatError,
} from "../../lib/jami/errors.ts";
import { createJamiIdentity } from "../../lib/jami/jami_identity.ts";
import { JamiRevocationList } from "../../lib/jami/revocation_list.ts";
import { JamiPrivateKey } from "../../lib/jami/rsa_key.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { deviceKey, fromHex, valuesOf, VECTORS } from "./_vectors.ts";

/** A time when every captured certificate is valid (they run 2026-12 … 2036-11). */
const NOW = Date.UTC(2027, 0, 1);

function rejectsWith(
  promise: Promise<unknown>,
  reason: JamiCertificateReason,
): Promise<void> {
  return assert.rejects(
    promise,
    (error) => error instanceof JamiCertificateError && error.reason === reason,
  );
}

const CHAINS = Object.entries(VECTORS.identities).flatMap(([name, id]) =>
  (["device_chain_pem", "device1_chain_pem", "device2_chain_pem"] as const)
    .filter((field) => id[field] !== undefined)
    .map((field) => ({
      name: `${name}.${field}`,
      identity: name,
      pem: id[field]!,
    }))
);

Deno.test("every captured chain parses, validates, and gives the captured ids", async () => {
  assert.equal(CHAINS.length, 14);
  for (const { name, identity, pem } of CHAINS) {
    const id = VECTORS.identities[identity];
    const chain = await JamiCertificateChain.fromPem(pem);
    assert.equal(chain.certificates.length, 3, name);
    await chain.validate(NOW);
    assert.equal(await chain.accountId(), id.account_id, name);
    const [device, account, ca] = chain.certificates;
    assert.equal(device.commonName, "Jami device");
    assert.equal(account.commonName, "Jami");
    assert.equal(ca.commonName, "Jami CA");
    for (const cert of chain.certificates) {
      assert.equal(cert.uid, cert.publicKey.infoHash.toString(), name);
      assert.equal(cert.publicKey.bits, 4096);
      assert.equal(cert.hash, "SHA-384");
      if (identity !== "fake" && identity !== "deno") {
        // jamid: 8 little-endian bytes of an int63 (§1.4); DER drops a
        // leading zero byte (deno-run-jamid-J4's account serial has 7)
        assert.ok(cert.serial.length === 8 || cert.serial.length === 7);
        assert.ok(cert.serial[cert.serial.length - 1] < 0x80);
      }
    }
    assert.ok(account.isCa && ca.isCa && !device.isCa, name);
    assert.equal(device.keyUsage, undefined);
    assert.ok(ca.isSelfIssued && !account.isSelfIssued);
    // the long id is Account.deviceID of D-Bus
    const longId = name.endsWith("device2_chain_pem")
      ? id.device2_long_id_dbus
      : id.device_long_id_dbus ?? id.device1_long_id_dbus ?? id.device_long_id;
    assert.equal(await device.publicKey.longId(), longId, name);
    if (id.device_sha1) assert.equal(await chain.deviceId(), id.device_sha1);
    if (id.device_key_pem) {
      const key = await deviceKey(identity);
      assert.equal(await chain.deviceId(), key.publicKey.infoHash.toString());
    }
    assert.equal(chain.toPem(), pem, name);
  }
});

Deno.test("negative serials are kept as raw INTEGER bytes", async () => {
  let negative = 0;
  for (const { pem } of CHAINS) {
    const chain = await JamiCertificateChain.fromPem(pem);
    negative += chain.certificates.filter((c) => c.serial[0] >= 0x80).length;
  }
  assert.ok(negative >= 10, `${negative} negative serials`);
});

Deno.test("the captured CRL verifies with the account key and revokes device 2 only", async () => {
  const id = VECTORS.identities["crl-account"];
  const vector = valuesOf("revocation_list")[0];
  const value = unpackValue(fromHex(vector.packed));
  assert.equal(value.owner, undefined);
  // data = msgpack bin(DER): c5 <len16> 30 82 ...
  assert.equal(value.data[0], 0xc5);
  const der = value.data.subarray(3);
  const crl = JamiRevocationList.fromDer(der);
  const archived = Uint8Array.from(
    atob(id.archive_ringAccountCRL!),
    (c) => c.charCodeAt(0),
  );
  assert.deepEqual(crl.der, archived);
  const device1 = await JamiCertificateChain.fromPem(id.device1_chain_pem!);
  const device2 = await JamiCertificateChain.fromPem(id.device2_chain_pem!);
  assert.ok(await crl.verify(device1.account!.publicKey));
  assert.ok(!await crl.verify(device1.device.publicKey));
  assert.equal(crl.revokedSerials.length, 1);
  assert.ok(device2.device.serial[0] >= 0x80, "the revoked serial is negative");
  assert.ok(crl.isRevoked(device2.device.serial));
  assert.ok(!crl.isRevoked(device1.device.serial));
  await device1.validate(NOW, crl);
  await device2.validate(NOW);
  await rejectsWith(device2.validate(NOW, crl), "revoked");
  // A CRL from another issuer is ignored.
  const other = await JamiCertificateChain.fromPem(
    VECTORS.identities["jamid-A"].device_chain_pem!,
  );
  await other.validate(NOW, crl);
});

Deno.test("expired and not-yet-valid chains are rejected", async () => {
  const chain = await JamiCertificateChain.fromPem(
    VECTORS.identities["jamid-A"].device_chain_pem!,
  );
  await rejectsWith(chain.validate(chain.device.notAfter + 1000), "expired");
  await rejectsWith(
    chain.validate(chain.device.notBefore - 1000),
    "not-yet-valid",
  );
});

Deno.test("forged, self-signed, mis-issued and non-CA chains are rejected with their reason", async () => {
  const random = rngBytes(seededRng(11));
  const identity = await createJamiIdentity({ bits: 2048, now: NOW, random });
  const stranger = await JamiPrivateKey.generate(2048);
  const [device, account, ca] = identity.deviceChain.certificates;
  const serial = new Uint8Array([0x80, 1, 2, 3, 4, 5, 6, 7]);

  // self-signed device certificate, alone or in front of a real chain
  const selfSigned = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami device",
      subjectKey: stranger.publicKey,
      issuerKey: stranger,
      isCa: false,
      serial,
      now: NOW,
    }),
  );
  await rejectsWith(
    JamiCertificateChain.fromCertificates([selfSigned]).validate(NOW),
    "self-signed",
  );
  await rejectsWith(
    JamiCertificateChain.fromCertificates([selfSigned, account, ca])
      .validate(NOW),
    "self-signed",
  );
  // a device only: no issuer
  await rejectsWith(
    JamiCertificateChain.fromCertificates([device]).validate(NOW),
    "too-short",
  );
  await assert.rejects(
    JamiCertificateChain.fromCertificates([device]).accountId(),
    JamiCertificateError,
  );

  // names the account as issuer but signed by another key
  const forged = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami device",
      subjectKey: stranger.publicKey,
      issuerKey: stranger,
      issuer: account,
      isCa: false,
      serial,
      now: NOW,
    }),
  );
  await rejectsWith(
    JamiCertificateChain.fromCertificates([forged, account, ca]).validate(NOW),
    "bad-signature",
  );
  // a flipped signature bit
  const tampered = device.der.slice();
  tampered[tampered.length - 5] ^= 1;
  await rejectsWith(
    JamiCertificateChain.fromCertificates([
      await JamiCertificate.fromDer(tampered),
      account,
      ca,
    ]).validate(NOW),
    "bad-signature",
  );
  // issued by a device certificate (not a CA)
  const underDevice = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami device",
      subjectKey: stranger.publicKey,
      issuerKey: identity.deviceKey,
      issuer: device,
      isCa: false,
      serial,
      now: NOW,
    }),
  );
  await rejectsWith(
    JamiCertificateChain.fromCertificates([underDevice, device, account, ca])
      .validate(NOW),
    "not-a-ca",
  );
  // the account of another identity in the middle
  const other = await JamiCertificateChain.fromPem(
    VECTORS.identities["jamid-B"].device_chain_pem!,
  );
  await rejectsWith(
    JamiCertificateChain.fromCertificates([device, other.account!, other.ca!])
      .validate(NOW),
    "issuer-mismatch",
  );
  // our own CRL revokes our device
  const crl = await JamiRevocationList.create(
    identity.accountKey,
    account,
    [device.serial, serial],
    NOW,
  );
  const parsed = JamiRevocationList.fromDer(crl.der);
  assert.ok(await parsed.verify(identity.accountKey.publicKey));
  assert.equal(parsed.revokedSerials.length, 2);
  assert.deepEqual(parsed.revokedSerials[1], serial);
  assert.equal(parsed.thisUpdate, NOW);
  await rejectsWith(identity.deviceChain.validate(NOW, parsed), "revoked");
  // a CRL with a broken signature is ignored
  const broken = crl.der.slice();
  broken[broken.length - 3] ^= 1;
  await identity.deviceChain.validate(NOW, JamiRevocationList.fromDer(broken));
});

Deno.test("hostile PEM chains are refused with JamiFormatError", async () => {
  const pem = VECTORS.identities["jamid-A"].device_chain_pem!;
  const block = pem.slice(0, pem.indexOf("-----END CERTIFICATE-----") + 26);
  await assert.rejects(
    JamiCertificateChain.fromPem(block.repeat(5)),
    JamiFormatError,
  );
  await assert.rejects(
    JamiCertificateChain.fromPem(pem + " ".repeat(16_384)),
    JamiFormatError,
  );
  await assert.rejects(JamiCertificateChain.fromPem(""), JamiFormatError);
  await assert.rejects(
    JamiCertificateChain.fromPem(block.replace("MII", "M!I")),
    JamiFormatError,
  );
  await assert.rejects(
    JamiCertificateChain.fromPem(
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ),
    JamiFormatError,
  );
});
