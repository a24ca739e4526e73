/**
 * AES-256-GCM frame benchmarks: `deno bench bench/aes_gcm_bench.ts`. Seals
 * and opens a 200-byte frame (the size of a typical secure-channel frame)
 * with a 4-byte length prefix as associated data, once with the one-shot
 * `aesGcmEncrypt`/`aesGcmDecrypt` (key schedule and GHASH table rebuilt per
 * call, what the channel did before) and once with an `AesGcmKey` expanded
 * once (what `FrameSealer`/`FrameOpener` do now); then an empty frame sealed
 * under 1, 1,000 and 6,000 keys in turn, as a device seals its links' keepalives.
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

// A device with many links seals a keepalive on each in turn: what matters
// then is whether a key's tables are still in the CPU cache. An empty frame
// (the ping's type byte alone) sealed under 1, 1,000 and 6,000 keys in turn.
const EMPTY_FRAME = new Uint8Array(1);
for (const keyCount of [1, 1_000, 6_000]) {
  const keys = Array.from(
    { length: keyCount },
    () => new AesGcmKey(random(32)),
  );
  let next = 0;
  Deno.bench({
    name: `seal an empty frame, ${keyCount} key${
      keyCount === 1 ? "" : "s"
    } in turn`,
    group: "keys in turn",
    baseline: keyCount === 1,
    fn: () => {
      keys[next].seal(nonce, EMPTY_FRAME, header);
      next = next + 1 === keyCount ? 0 : next + 1;
    },
  });
}
