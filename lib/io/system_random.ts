/**
 * Cryptographically secure bytes from the host, for keys and nonces in the
 * daemon and for what a DHT node must keep unguessable (node id, tids,
 * socket ids, token secrets); `Daemon`, `DhtNode` and its parts default to
 * it. Tests and the simulator use `rngBytes(seededRng(…))` instead.
 *
 * @module
 */

import { type RandomBytes, type Rng, setUint32Source } from "../rng.ts";

/** The most bytes `crypto.getRandomValues` fills in one call. */
const GET_RANDOM_VALUES_MAX_BYTES = 65536;

/** Largest byte count produced in one call: 64 MiB. */
const MAX_SYSTEM_RANDOM_BYTES_LENGTH = 64 * 1024 * 1024;

function getSystemRandomBytes(length: number): Uint8Array {
  if (
    !Number.isSafeInteger(length) || length < 0 ||
    length > MAX_SYSTEM_RANDOM_BYTES_LENGTH
  ) {
    throw new RangeError(
      `Cannot generate random bytes: length ${length} is not an integer from 0 to ${MAX_SYSTEM_RANDOM_BYTES_LENGTH}`,
    );
  }
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += GET_RANDOM_VALUES_MAX_BYTES) {
    crypto.getRandomValues(
      bytes.subarray(offset, offset + GET_RANDOM_VALUES_MAX_BYTES),
    );
  }
  return bytes;
}

/**
 * Fills bytes from `crypto.getRandomValues`, 65536 bytes at a time.
 *
 * @param length The number of bytes, an integer from 0 to 64 MiB.
 * @returns Fresh random bytes.
 * @throws {RangeError} If `length` is not an integer from 0 to 64 MiB.
 *
 * @example Make a 32-byte secret
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemRandomBytes } from "./system_random.ts";
 *
 * const secret = systemRandomBytes(32);
 * assert.equal(secret.length, 32);
 * assert.notDeepEqual(secret, systemRandomBytes(32));
 * ```
 */
export const systemRandomBytes: RandomBytes = getSystemRandomBytes;

/**
 * Words for `randomUint32(systemRandomBytes)` (a transaction id per request
 * sent), drawn from the system's generator 256 at a time: an array and a
 * `getRandomValues` call per word cost more than the rest of making a
 * request. A word handed out is zeroed in the batch.
 */
const WORDS = new Uint32Array(256);
let nextWord = WORDS.length;

setUint32Source(systemRandomBytes, () => {
  if (nextWord === WORDS.length) {
    crypto.getRandomValues(WORDS);
    nextWord = 0;
  }
  const word = WORDS[nextWord];
  WORDS[nextWord++] = 0;
  return word;
});

/**
 * `Math.random`'s contract (a number in [0, 1)) from the system's secure
 * generator, 32 bits a draw: the `rng` of a daemon on a real device.
 *
 * @returns A fresh generator.
 *
 * @example Draw a number
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemRng } from "./system_random.ts";
 *
 * const rng = systemRng();
 * const x = rng();
 * assert.ok(x >= 0 && x < 1);
 * ```
 */
export function systemRng(): Rng {
  return () => {
    const bytes = getSystemRandomBytes(4);
    return new DataView(bytes.buffer).getUint32(0) / 0x1_0000_0000;
  };
}
