/**
 * Identity benchmarks: `deno task bench`. Reports ops/s for signing and
 * verifying a signed record, and for sealing and opening a 1 KiB trust
 * request. The verification cache is emptied before every iteration, so the
 * figures are for real signature checks (worst case).
 */
import {
  AccountKeys,
  DeviceCertificate,
  DeviceKeys,
  openSealedBox,
  rngBytes,
  sealBox,
  seededRng,
  SignedRecord,
} from "../mod.ts";
import { clearVerifyCache } from "../lib/crypto.ts";

const random = rngBytes(seededRng("bench"));
const alice = AccountKeys.generate(random);
const aliceDevice = DeviceKeys.generate(random);
const aliceCertificate = DeviceCertificate.issue(alice, aliceDevice, {
  issuedMs: 0,
});
const bob = AccountKeys.generate(random);
const bobDevice = DeviceKeys.generate(random);
const bobCertificate = DeviceCertificate.issue(bob, bobDevice, {
  issuedMs: 0,
});

const body = aliceCertificate.bytes;
let seq = 0;
function announcement(): SignedRecord {
  seq += 1;
  return SignedRecord.sign(aliceDevice, {
    type: "device-announcement",
    seq,
    createdMs: 1_000,
    expiresMs: 61_000,
    body,
  });
}

const record = announcement();

Deno.bench("sign announcement", { group: "records", baseline: true }, () => {
  announcement();
});

Deno.bench("verify announcement", { group: "records" }, () => {
  clearVerifyCache();
  record.verify({ signer: aliceDevice.id, nowMs: 2_000 });
});

const payload = new Uint8Array(1024);
const sender = { device: aliceDevice, certificate: aliceCertificate };
const box = sealBox(payload, {
  sender,
  recipient: bobCertificate,
  purpose: "trust-request",
  randomBytes: random,
});

Deno.bench("seal 1 KiB request", { group: "sealed", baseline: true }, () => {
  sealBox(payload, {
    sender,
    recipient: bobCertificate,
    purpose: "trust-request",
    randomBytes: random,
  });
});

Deno.bench("open 1 KiB request", { group: "sealed" }, () => {
  clearVerifyCache();
  openSealedBox(box, {
    device: bobDevice,
    purpose: "trust-request",
    nowMs: 2_000,
  });
});

// Baseline in the same process: Web Crypto's native Ed25519 (asynchronous,
// hence unusable in the deterministic core, but the speed to aim for).
const webKeys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
  "sign",
  "verify",
]) as CryptoKeyPair;
const webMessage = record.bytes.slice();
const webSignature = await crypto.subtle.sign(
  "Ed25519",
  webKeys.privateKey,
  webMessage,
);

Deno.bench("Web Crypto sign (baseline)", { group: "web-crypto" }, async () => {
  await crypto.subtle.sign("Ed25519", webKeys.privateKey, webMessage);
});

Deno.bench(
  "Web Crypto verify (baseline)",
  { group: "web-crypto" },
  async () => {
    await crypto.subtle.verify(
      "Ed25519",
      webKeys.publicKey,
      webSignature,
      webMessage,
    );
  },
);
