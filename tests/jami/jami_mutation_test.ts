/**
 * Seeded mutations of the captured Jami bytes (values, certificates, CRL,
 * archive): every decoder of lib/jami/ must refuse them with one of its
 * typed errors (or the wire codec's WireError), never another exception.
 * A failure prints the seed and the case to replay it.
 */
import assert from "node:assert/strict";
import { unpackValue } from "../../lib/dht/wire/values.ts";
import { WireError } from "../../lib/dht/wire/errors.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { JamiCertificate } from "../../lib/jami/certificate.ts";
import { JamiCertificateChain } from "../../lib/jami/certificate_chain.ts";
import { parseCertificateValue } from "../../lib/jami/certificate_value.ts";
import { openJamiAnnouncement } from "../../lib/jami/device_announcement.ts";
import {
  JamiArchiveError,
  JamiCertificateError,
  JamiDecryptError,
  JamiFormatError,
  JamiSignatureError,
} from "../../lib/jami/errors.ts";
import { importJamiArchive } from "../../lib/jami/jami_archive.ts";
import { JamiRevocationList } from "../../lib/jami/revocation_list.ts";
import { openTrustRequest } from "../../lib/jami/trust_request.ts";
import { type Rng, seededRng } from "../../lib/rng.ts";
import { deviceKey, fromHex, valuesOf, VECTORS } from "./_vectors.ts";

const SEED = 20261204;
const NOW = Date.UTC(2027, 0, 1);

function isTyped(error: unknown): boolean {
  return error instanceof WireError || error instanceof JamiFormatError ||
    error instanceof JamiSignatureError || error instanceof JamiDecryptError ||
    error instanceof JamiCertificateError || error instanceof JamiArchiveError;
}

/** One random edit: flip a bit, overwrite a run, truncate, insert or duplicate. */
function mutate(bytes: Uint8Array, rng: Rng): Uint8Array {
  const at = Math.floor(rng() * bytes.length);
  const out = bytes.slice();
  switch (Math.floor(rng() * 5)) {
    case 0:
      out[at] ^= 1 << Math.floor(rng() * 8);
      return out;
    case 1:
      for (let i = at; i < Math.min(out.length, at + 1 + rng() * 8); i++) {
        out[i] = Math.floor(rng() * 256);
      }
      return out;
    case 2:
      return bytes.slice(0, at);
    case 3: {
      const inserted = new Uint8Array(bytes.length + 1);
      inserted.set(bytes.subarray(0, at));
      inserted[at] = Math.floor(rng() * 256);
      inserted.set(bytes.subarray(at), at + 1);
      return inserted;
    }
    default: {
      const length = Math.floor(rng() * 16);
      const doubled = new Uint8Array(bytes.length + length);
      doubled.set(bytes.subarray(0, at));
      doubled.set(bytes.subarray(at, at + length), at);
      doubled.set(bytes.subarray(at), at + Math.min(length, bytes.length - at));
      return doubled.subarray(
        0,
        bytes.length + Math.min(length, bytes.length - at),
      );
    }
  }
}

async function expectTypedOnly(
  label: string,
  cases: number,
  rng: Rng,
  original: Uint8Array,
  run: (bytes: Uint8Array) => Promise<unknown>,
): Promise<number> {
  let refused = 0;
  for (let i = 0; i < cases; i++) {
    const bytes = mutate(original, rng);
    try {
      await run(bytes);
    } catch (error) {
      assert.ok(
        isTyped(error),
        `${label} case ${i} (seed ${SEED}): untyped ${error}`,
      );
      refused++;
    }
  }
  return refused;
}

Deno.test("mutated announcements, certificate values and CRL values fail only with typed errors", async () => {
  const rng = seededRng(SEED);
  let refused = 0;
  for (const vector of valuesOf("device_announcement")) {
    const accountId = VECTORS.identities[vector.account!].account_id;
    refused += await expectTypedOnly(
      vector.name,
      60,
      rng,
      fromHex(vector.packed),
      (bytes) => openJamiAnnouncement(unpackValue(bytes), accountId),
    );
  }
  for (const vector of valuesOf("certificate")) {
    const key = InfoHash.fromHex(vector.key);
    refused += await expectTypedOnly(
      vector.name,
      40,
      rng,
      fromHex(vector.packed),
      async (bytes) =>
        (await parseCertificateValue(unpackValue(bytes), key)).validate(NOW),
    );
  }
  const crl = valuesOf("revocation_list")[0];
  const chain = await JamiCertificateChain.fromPem(
    VECTORS.identities["crl-account"].device2_chain_pem!,
  );
  refused += await expectTypedOnly(
    crl.name,
    80,
    rng,
    fromHex(crl.packed).subarray(44),
    async (der) => {
      const list = JamiRevocationList.fromDer(der);
      await list.verify(chain.account!.publicKey);
      await chain.validate(NOW, list);
    },
  );
  assert.ok(refused > 400, `only ${refused} mutations refused`);
});

Deno.test("mutated certificate DER fails only with typed errors", async () => {
  const rng = seededRng(SEED + 1);
  const chain = await JamiCertificateChain.fromPem(
    VECTORS.identities["jamid-A"].device_chain_pem!,
  );
  let refused = 0;
  for (const [index, cert] of chain.certificates.entries()) {
    refused += await expectTypedOnly(
      `certificate ${index}`,
      120,
      rng,
      cert.der,
      async (der) => {
        const certificates = chain.certificates.slice();
        certificates[index] = await JamiCertificate.fromDer(der);
        await JamiCertificateChain.fromCertificates(certificates).validate(NOW);
      },
    );
  }
  assert.ok(refused > 300, `only ${refused} mutations refused`);
});

Deno.test("mutated encrypted trust requests fail only with typed errors", async () => {
  const rng = seededRng(SEED + 2);
  let refused = 0;
  for (const vector of valuesOf("encrypted_trust_request")) {
    const key = await deviceKey(vector.decrypt_with!);
    refused += await expectTypedOnly(
      vector.name,
      8,
      rng,
      fromHex(vector.packed),
      (bytes) => openTrustRequest(unpackValue(bytes), key),
    );
  }
  assert.ok(refused > 80, `only ${refused} mutations refused`);
});

Deno.test("mutated archives fail only with typed errors", async () => {
  const rng = seededRng(SEED + 3);
  const json = JSON.stringify(VECTORS.identities["jamid-A"].archive_json);
  const gzip = new Uint8Array(
    await new Response(
      new Blob([json]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  const text = new TextEncoder().encode(json);
  const { compress } = await import("../../lib/jami/_compression.ts");
  let refused = await expectTypedOnly(
    "archive.gz",
    60,
    rng,
    gzip,
    (bytes) => importJamiArchive(bytes),
  );
  // mutate the JSON text itself, then gzip it, to reach the JSON and key parsers
  refused += await expectTypedOnly(
    "archive JSON",
    60,
    rng,
    text,
    async (bytes) => importJamiArchive(await compress(bytes, "gzip")),
  );
  assert.ok(refused > 60, `only ${refused} mutations refused`);
});
