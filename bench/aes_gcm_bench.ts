/**
 * AES-256-GCM frame benchmarks: `deno bench bench/aes_gcm_bench.ts`. Seals
 * and opens a 200-byte frame (the size of a typical secure-channel frame)
 * with a 4-byte length prefix as associated data, once with the one-shot
 * `aesGcmEncrypt`/`aesGcmDecrypt` (key schedule and GHASH table rebuilt per
 * call, what the channel did before) and once with an `AesGcmKey` expanded
 * once (what `FrameSealer`/`FrameOpener` do now).
 */
import { aesGcmDecrypt, aesGcmEncrypt, AesGcmKey } from "../lib/crypto.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const random = rngBytes(seededRng("aes-gcm-bench"));
const rawKey = random(32);
const key = new AesGcmKey(rawKey);
const nonce = random(12);
const frame = random(200);
const header = random(4);
const sealed = aesGcmEncrypt(rawKey, nonce, frame, header);

Deno.bench({
  name: "seal 200 B, one-shot aesGcmEncrypt",
  group: "seal",
  baseline: true,
  fn: () => {
    aesGcmEncrypt(rawKey, nonce, frame, header);
  },
});

Deno.bench({
  name: "seal 200 B, AesGcmKey expanded once",
  group: "seal",
  fn: () => {
    key.seal(nonce, frame, header);
  },
});

Deno.bench({
  name: "open 200 B, one-shot aesGcmDecrypt",
  group: "open",
  baseline: true,
  fn: () => {
    aesGcmDecrypt(rawKey, nonce, sealed, header);
  },
});

Deno.bench({
  name: "open 200 B, AesGcmKey expanded once",
  group: "open",
  fn: () => {
    key.open(nonce, sealed, header);
  },
});
