/**
 * Proof-of-work stamp benchmarks: `deno task bench`. Reports the time to
 * mint one trust-request stamp at the default difficulty (each iteration
 * stamps a different request, so the mean is over the nonce distribution)
 * and to check one.
 */
import {
  DEFAULT_STAMP_BITS,
  mintStamp,
  stampChallenge,
  verifyStamp,
} from "../lib/trust/stamp.ts";

let request = 0;
function challenge(): Uint8Array {
  request += 1;
  const requestId = new Uint8Array(16);
  new DataView(requestId.buffer).setUint32(12, request);
  return stampChallenge({
    to: new Uint8Array(20).fill(0xaa),
    from: new Uint8Array(20).fill(0xbb),
    requestId,
    sentMs: 1_700_000_000_000,
  });
}

Deno.bench(`mint a ${DEFAULT_STAMP_BITS}-bit stamp`, { n: 20 }, () => {
  mintStamp(challenge(), DEFAULT_STAMP_BITS);
});

const checked = challenge();
const stamp = mintStamp(checked, DEFAULT_STAMP_BITS);
Deno.bench(`check a ${DEFAULT_STAMP_BITS}-bit stamp`, () => {
  verifyStamp(checked, stamp, DEFAULT_STAMP_BITS);
});
