import assert from "node:assert/strict";
import { bytesEqual } from "../../lib/crypto.ts";
import { JamiCertificateChain } from "../../lib/jami/certificate_chain.ts";
import { JamiArchiveError } from "../../lib/jami/errors.ts";
import {
  exportJamiArchive,
  importJamiArchive,
} from "../../lib/jami/jami_archive.ts";
import { createJamiDevice } from "../../lib/jami/jami_identity.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { VECTORS } from "./_vectors.ts";

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function archiveFile(name: string): Promise<Uint8Array> {
  return gzip(JSON.stringify(VECTORS.identities[name].archive_json));
}

Deno.test("the captured jamid archives import with their account id, CA key and certificates", async () => {
  for (const name of ["jamid-A", "jamid-B"]) {
    const id = VECTORS.identities[name];
    const archive = await importJamiArchive(await archiveFile(name));
    assert.equal(archive.accountId, id.account_id);
    const chain = await JamiCertificateChain.fromPem(id.device_chain_pem!);
    assert.deepEqual(archive.accountChain.device.der, chain.account!.der);
    // accountChain is [account, CA]: its leaf getter `device` is the account
    assert.deepEqual(archive.accountChain.certificates[1].der, chain.ca!.der);
    assert.ok(
      bytesEqual(archive.caKey!.publicKey.spki, chain.ca!.publicKey.spki),
    );
    assert.equal(archive.ethKey?.length, 32);
    assert.deepEqual(archive.fields, {});
    // The device chain validates under the imported account.
    await chain.validate(Date.UTC(2027, 0, 1));
  }
});

Deno.test("a new device for an imported jamid account validates under that account", async () => {
  const archive = await importJamiArchive(await archiveFile("jamid-A"));
  const now = Date.UTC(2027, 0, 1);
  const device = await createJamiDevice(archive, {
    bits: 2048,
    now,
    random: rngBytes(seededRng(13)),
  });
  assert.equal(device.accountId, VECTORS.identities["jamid-A"].account_id);
  await device.deviceChain.validate(now);
  assert.equal(await device.deviceChain.accountId(), device.accountId);
  assert.equal(device.deviceChain.certificates.length, 3);
  assert.equal(device.caKey, archive.caKey);
});

Deno.test("export then import without a password keeps keys, chain, CRL and extra fields", async () => {
  const original = await importJamiArchive(await archiveFile("jamid-A"));
  const crlDer = Uint8Array.from(
    atob(VECTORS.identities["crl-account"].archive_ringAccountCRL!),
    (c) => c.charCodeAt(0),
  );
  const { JamiRevocationList } = await import(
    "../../lib/jami/revocation_list.ts"
  );
  const withExtras = {
    ...original,
    revocationList: JamiRevocationList.fromDer(crlDer),
    fields: { "Account.alias": "Alice", ringAccountContacts: { x: 1 } },
  };
  const bytes = await exportJamiArchive(withExtras);
  assert.deepEqual([bytes[0], bytes[1]], [0x1f, 0x8b]);
  const again = await importJamiArchive(bytes);
  assert.equal(again.accountId, original.accountId);
  assert.deepEqual(again.accountKey.pkcs8(), original.accountKey.pkcs8());
  assert.deepEqual(again.caKey!.pkcs8(), original.caKey!.pkcs8());
  assert.equal(again.accountChain.toPem(), original.accountChain.toPem());
  assert.deepEqual(again.revocationList?.der, crlDer);
  assert.deepEqual(again.ethKey, original.ethKey);
  assert.deepEqual(again.fields, withExtras.fields);
  // The written JSON carries the same base64 fields as jamid's.
  const json = JSON.parse(
    await new Response(
      new Blob([new Uint8Array(bytes)]).stream().pipeThrough(
        new DecompressionStream("gzip"),
      ),
    ).text(),
  );
  const captured = VECTORS.identities["jamid-A"].archive_json!;
  assert.equal(json.ringAccountCert, captured.ringAccountCert);
  assert.equal(json.ethKey, captured.ethKey);
  assert.deepEqual(Object.keys(json), Object.keys(json).sort());
});

Deno.test("password archive: round trip, wrong password and no password rejected (argon2i, slow)", async () => {
  const original = await importJamiArchive(await archiveFile("jamid-B"));
  const random = rngBytes(seededRng(12));
  const bytes = await exportJamiArchive(original, "correct horse", random);
  assert.notDeepEqual([bytes[0], bytes[1]], [0x1f, 0x8b]);
  const again = await importJamiArchive(bytes, "correct horse");
  assert.equal(again.accountId, VECTORS.identities["jamid-B"].account_id);
  await assert.rejects(importJamiArchive(bytes, "wrong"), JamiArchiveError);
  await assert.rejects(importJamiArchive(bytes), JamiArchiveError);
  // A gzip archive imports even when a password is given.
  const plain = await importJamiArchive(await archiveFile("jamid-B"), "x");
  assert.equal(plain.accountId, again.accountId);
});

Deno.test("malformed archives are refused with JamiArchiveError", async () => {
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0x1f, 0x8b, 0, 0]),
    await gzip("not json"),
    await gzip("[1,2]"),
    await gzip(JSON.stringify({ ringAccountKey: 5 })),
    await gzip(JSON.stringify({ ringAccountKey: "@@@@", ringAccountCert: "" })),
    await gzip(
      JSON.stringify({
        // jamid-A's key with jamid-B's certificates
        ringAccountKey:
          VECTORS.identities["jamid-A"].archive_json!.ringAccountKey,
        ringAccountCert:
          VECTORS.identities["jamid-B"].archive_json!.ringAccountCert,
      }),
    ),
  ];
  for (const bytes of cases) {
    await assert.rejects(importJamiArchive(bytes), JamiArchiveError);
  }
  // A gzip bomb stops at the bound instead of inflating it all.
  const bomb = await gzip(" ".repeat(17 * 1024 * 1024));
  await assert.rejects(importJamiArchive(bomb), JamiArchiveError);
});
