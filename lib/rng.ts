/**
 * Randomness, injected so that one seed reproduces a whole simulated
 * scenario. Two kinds:
 *
 * - {@link Rng}: choices whose disclosure harms nobody (jitter, the order
 *   of a shuffle). Seeded with {@link seededRng}, split with {@link forkRng}.
 * - {@link RandomBytes}: secrets and whatever a peer must not guess (keys,
 *   nonces, write-token secrets, transaction and listen socket ids, node
 *   ids). `systemRandomBytes` outside the simulator; the simulator passes
 *   `rngBytes(seededRng(…))` so that its runs replay.
 *
 * @module
 */
import { sha256, utf8 } from "./crypto.ts";

/**
 * A source of random numbers with the contract of `Math.random`: each call
 * returns a number in [0, 1).
 *
 * @example Use Math.random or a seeded generator interchangeably
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Rng, seededRng } from "./rng.ts";
 *
 * function coinFlip(rng: Rng): boolean {
 *   return rng() < 0.5;
 * }
 * assert.equal(typeof coinFlip(seededRng(1)), "boolean");
 * ```
 */
export type Rng = () => number;

/**
 * Produces `length` random bytes.
 *
 * @example Seeded bytes for a test
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RandomBytes, rngBytes, seededRng } from "./rng.ts";
 *
 * const randomBytes: RandomBytes = rngBytes(seededRng("keys"));
 * assert.equal(randomBytes(32).length, 32);
 * ```
 */
export type RandomBytes = (length: number) => Uint8Array;

/** 2^32, to turn a 32-bit word into a fraction in [0, 1). */
const TWO_POW_32 = 0x1_0000_0000;

/** Largest byte count `rngBytes` produces in one call: 64 MiB. */
const MAX_RANDOM_BYTES_LENGTH = 64 * 1024 * 1024;

/** Bytes of xoshiro128** state: 128 bits. */
const STATE_BYTES = 16;

/** Domain prefixes of the seed hashes, so a seed and a fork never share a state. */
const NUMBER_SEED_PREFIX = "rng:number:";
const STRING_SEED_PREFIX = "rng:string:";
const FORK_PREFIX = utf8("rng:fork:");

/** The first 16 bytes of SHA-256 over `input`: a full 128-bit state. */
function stateFromHash(input: Uint8Array): Uint32Array {
  const digest = sha256(input);
  const view = new DataView(digest.buffer, digest.byteOffset, STATE_BYTES);
  const state = new Uint32Array(4);
  for (let index = 0; index < 4; index++) {
    state[index] = view.getUint32(4 * index, true);
  }
  return state;
}

/**
 * A xoshiro128** generator started from `state` (128 bits, every bit used).
 */
function xoshiro128StarStar(state: Uint32Array): Rng {
  // xoshiro's only bad state; a SHA-256 output makes it practically impossible.
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
  let s0 = state[0] | 0;
  let s1 = state[1] | 0;
  let s2 = state[2] | 0;
  let s3 = state[3] | 0;
  return function next(): number {
    const product = Math.imul(s1, 5);
    const result = Math.imul((product << 7) | (product >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return (result >>> 0) / TWO_POW_32;
  };
}

/**
 * Creates a deterministic {@link Rng}: xoshiro128** whose whole 128-bit
 * state is the first half of SHA-256 over the seed. The same seed gives the
 * same sequence on every run and host. Outputs have 32 bits of resolution.
 *
 * It is a simulation generator, not a cryptographic one: a few outputs
 * reveal its state. Secrets, and values a peer must not guess (keys, write
 * tokens, transaction and socket ids, node ids), come from a
 * {@link RandomBytes} instead.
 *
 * @param seed A safe integer, or any string (hashed as UTF-8).
 * @returns The generator.
 * @throws {RangeError} If a number seed is not a safe integer.
 *
 * @example Same seed, same sequence
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRng } from "./rng.ts";
 *
 * const a = seededRng(42);
 * const b = seededRng(42);
 * assert.deepEqual([a(), a(), a()], [b(), b(), b()]);
 * assert.notEqual(seededRng("alice")(), seededRng("bob")());
 * ```
 */
export function seededRng(seed: number | string): Rng {
  if (typeof seed === "string") {
    return xoshiro128StarStar(stateFromHash(utf8(STRING_SEED_PREFIX + seed)));
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(
      `Cannot seed rng: seed ${String(seed)} is not a safe integer`,
    );
  }
  return xoshiro128StarStar(
    stateFromHash(utf8(NUMBER_SEED_PREFIX + String(seed))),
  );
}

/**
 * Draws an integer in [0, `maxExclusive`) by scaling one draw; the bias is
 * below `maxExclusive / 2^32` for a 32-bit generator.
 *
 * @param rng The source of randomness.
 * @param maxExclusive The number of possible results, a positive safe integer.
 * @returns An integer from 0 to `maxExclusive - 1`.
 * @throws {RangeError} If `maxExclusive` is not a positive safe integer, or if
 * `rng` returns a number outside [0, 1).
 *
 * @example Roll a die
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomInt, seededRng } from "./rng.ts";
 *
 * const roll = randomInt(seededRng(7), 6) + 1;
 * assert.ok(roll >= 1 && roll <= 6);
 * ```
 */
export function randomInt(rng: Rng, maxExclusive: number): number {
  if (!Number.isSafeInteger(maxExclusive) || maxExclusive < 1) {
    throw new RangeError(
      `Cannot draw random integer: maximum ${maxExclusive} is not a positive safe integer`,
    );
  }
  return Math.floor(draw(rng, "draw random integer") * maxExclusive);
}

/** One draw from `rng`, checked against the `Math.random` contract. */
function draw(rng: Rng, action: string): number {
  const value = rng();
  if (!(value >= 0 && value < 1)) {
    throw new RangeError(
      `Cannot ${action}: rng returned ${value}, outside [0, 1)`,
    );
  }
  return value;
}

/**
 * Builds a {@link RandomBytes} from an {@link Rng}, taking four bytes per
 * draw. With a seeded rng the bytes are deterministic; they are never fit
 * for secrets unless the rng is.
 *
 * @param rng The source of randomness.
 * @returns A function producing bytes from `rng`; it throws `RangeError` for a
 * length that is not a safe integer in [0, 64 MiB] or if `rng` breaks its contract.
 *
 * @example Same seed, same bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { rngBytes, seededRng } from "./rng.ts";
 *
 * const a = rngBytes(seededRng(3))(16);
 * const b = rngBytes(seededRng(3))(16);
 * assert.deepEqual(a, b);
 * ```
 */
export function rngBytes(rng: Rng): RandomBytes {
  const randomBytes = function randomBytes(length: number): Uint8Array {
    if (
      !Number.isSafeInteger(length) || length < 0 ||
      length > MAX_RANDOM_BYTES_LENGTH
    ) {
      throw new RangeError(
        `Cannot generate random bytes: length ${length} is not an integer from 0 to ${MAX_RANDOM_BYTES_LENGTH}`,
      );
    }
    const bytes = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 4) {
      let word = Math.floor(draw(rng, "generate random bytes") * TWO_POW_32);
      const end = Math.min(offset + 4, length);
      for (let index = offset; index < end; index++) {
        bytes[index] = word & 0xff;
        word >>>= 8;
      }
    }
    return bytes;
  };
  // randomUint32 reads the same four bytes' word without an array.
  UINT32_OF.set(
    randomBytes,
    () => Math.floor(draw(rng, "generate random bytes") * TWO_POW_32),
  );
  return randomBytes;
}

/**
 * For the {@link RandomBytes} made by {@link rngBytes}: the word that
 * `randomUint32` would read from four of its bytes, drawn without a buffer
 * (transaction ids are drawn per request).
 */
const UINT32_OF = new WeakMap<RandomBytes, () => number>();

/**
 * Gives `randomBytes` a word source for `randomUint32`: each call must
 * return what four bytes of `randomBytes` could (a uniform 32-bit word from
 * the same source). For the system's random bytes, which hand out words from
 * a batch instead of an array and a `getRandomValues` call per word.
 *
 * @param randomBytes The source.
 * @param word Its words.
 */
export function setUint32Source(
  randomBytes: RandomBytes,
  word: () => number,
): void {
  UINT32_OF.set(randomBytes, word);
}

/**
 * Derives an independent child {@link Rng} from four draws of `rng` (128
 * bits) and a label, so that each component of a scenario gets its own
 * stream: adding draws in one component does not shift the others. The
 * child's state is the first half of SHA-256 over those bits and the label,
 * so it has as many possible states as the parent gives it (up to 2^128).
 *
 * @param rng The parent; advanced by four draws.
 * @param label Names the child, so that forks at the same point differ.
 * @returns The child generator.
 * @throws {RangeError} If `rng` returns a number outside [0, 1).
 *
 * @example One stream per simulated node
 * ```ts
 * import assert from "node:assert/strict";
 * import { forkRng, seededRng } from "./rng.ts";
 *
 * const first = forkRng(seededRng(9), "node-1");
 * const again = forkRng(seededRng(9), "node-1");
 * assert.equal(first(), again());
 * assert.notEqual(forkRng(seededRng(9), "node-2")(), forkRng(seededRng(9), "node-1")());
 * ```
 */
export function forkRng(rng: Rng, label: string): Rng {
  // Prefix, then the parent's 128 bits (fixed length), then the label.
  const labelBytes = utf8(label);
  const input = new Uint8Array(
    FORK_PREFIX.length + STATE_BYTES + labelBytes.length,
  );
  input.set(FORK_PREFIX, 0);
  const view = new DataView(input.buffer);
  for (let index = 0; index < 4; index++) {
    const word = Math.floor(draw(rng, "fork rng") * TWO_POW_32);
    view.setUint32(FORK_PREFIX.length + 4 * index, word, true);
  }
  input.set(labelBytes, FORK_PREFIX.length + STATE_BYTES);
  return xoshiro128StarStar(stateFromHash(input));
}

/**
 * An {@link Rng} view of a {@link RandomBytes}: each draw is four bytes as a
 * fraction. With `systemRandomBytes` it is a cryptographic generator, for
 * choices a peer sees (such as the random ids of refreshed buckets).
 *
 * @param randomBytes The source of bytes.
 * @returns A generator with 32 bits of resolution.
 *
 * @example Draws follow the bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesRng, rngBytes, seededRng } from "./rng.ts";
 *
 * const a = bytesRng(rngBytes(seededRng(5)));
 * const b = bytesRng(rngBytes(seededRng(5)));
 * assert.equal(a(), b());
 * ```
 */
export function bytesRng(randomBytes: RandomBytes): Rng {
  return () => randomUint32(randomBytes) / TWO_POW_32;
}

/**
 * A uniform 32-bit unsigned integer from four bytes of `randomBytes`
 * (little-endian).
 *
 * @param randomBytes The source of bytes.
 * @returns An integer from 0 to 2^32 - 1.
 *
 * @example A transaction id
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomUint32, rngBytes, seededRng } from "./rng.ts";
 *
 * const tid = randomUint32(rngBytes(seededRng(1)));
 * assert.ok(Number.isInteger(tid) && tid >= 0 && tid < 2 ** 32);
 * ```
 */
export function randomUint32(randomBytes: RandomBytes): number {
  const word = UINT32_OF.get(randomBytes);
  if (word !== undefined) return word();
  const bytes = randomBytes(4);
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>>
    0;
}
