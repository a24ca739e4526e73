/**
 * Jami codec benchmarks (`deno bench --allow-read bench/jami_bench.ts`):
 * RSA-4096 signature and verification of an announcement (the captured
 * jamid-A keys), opening a captured TrustRequest (RSA-4096 decryption +
 * AES-GCM + verification), sealing one, validating a 3-certificate chain,
 * and generating RSA-4096 keys and a whole Jami identity (a few runs only:
 * seconds each on a loaded 2-CPU machine).
 */
import {
  announcementValue,
  createJamiIdentity,
  JamiCertificateChain,
  JamiPrivateKey,
  openTrustRequest,
  sealTrustRequest,
  verifyValue,
} from "../lib/jami/mod.ts";
import { unpackValue } from "../lib/dht/wire/values.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const vectors = JSON.parse(
  await Deno.readTextFile(
    new URL("../tests/vectors/jami-13.7-vectors.json", import.meta.url),
  ),
);
const hex = (text: string) =>
  Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
const fake = vectors.identities.fake;
const accountKey = await JamiPrivateKey.fromPem(fake.account_key_pem);
const deviceKey = await JamiPrivateKey.fromPem(fake.device_key_pem);
const jamidB = await JamiPrivateKey.fromPem(
  vectors.identities["jamid-B"].device_key_pem,
);
const request = unpackValue(
  hex(
    vectors.values.find((v: { name: string }) =>
      v.name === "jamid-A->jamid-B.trust_request#1"
    ).packed,
  ),
);
const chain = await JamiCertificateChain.fromPem(
  vectors.identities["jamid-A"].device_chain_pem,
);
const random = rngBytes(seededRng("jami bench"));
const identity = { accountKey, deviceKey };
const announcement = await announcementValue(identity, 1n);
const now = Date.UTC(2027, 0, 1);

Deno.bench("RSA-4096 SHA-512: sign a DeviceAnnouncement", async () => {
  await announcementValue(identity, 2n);
});

Deno.bench("RSA-4096 SHA-512: verify a DeviceAnnouncement", async () => {
  await verifyValue(announcement);
});

Deno.bench(
  "open a captured TrustRequest (RSA decrypt + AES-GCM + verify)",
  async () => {
    await openTrustRequest(request, jamidB);
  },
);

Deno.bench("seal a TrustRequest (sign + RSA encrypt + AES-GCM)", async () => {
  await sealTrustRequest(
    {
      service: "cx.ring",
      conversationId: "",
      payload: new Uint8Array(47),
      confirm: false,
    },
    deviceKey,
    jamidB.publicKey,
    3n,
    random,
  );
});

Deno.bench(
  "validate a jamid 3-certificate chain (3 SHA-384 verifications)",
  async () => {
    await chain.validate(now);
  },
);

Deno.bench("generate an RSA-4096 key", { n: 2, warmup: 0 }, async () => {
  await JamiPrivateKey.generate(4096);
});

Deno.bench("create a Jami identity (3 RSA-4096 keys + 3 certificates)", {
  n: 1,
  warmup: 0,
}, async () => {
  await createJamiIdentity({ now, random });
});
