/**
 * Seeded randomness: the core draws every random choice from an injected
 * {@link Rng}, so one seed reproduces a whole simulated scenario.
 *
 * @module
 */

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

const FNV_OFFSET_BASIS_32 = 0x811c9dc5;
const FNV_PRIME_32 = 0x01000193;

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS_32;
  for (const byte of new TextEncoder().encode(text)) {
    hash = Math.imul(hash ^ byte, FNV_PRIME_32);
  }
  return hash >>> 0;
}

/** Advances a splitmix32 state; returns the new state and one output word. */
function splitmix32(state: number): [state: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/**
 * A xoshiro128** generator whose 128-bit state is filled by splitmix32 from
 * the seed words, each word folded into the splitmix state in turn.
 */
function xoshiro128StarStar(seedWords: readonly number[]): Rng {
  let mixState = 0;
  for (const word of seedWords) {
    [mixState] = splitmix32(mixState ^ word);
  }
  const state = new Uint32Array(4);
  for (let index = 0; index < 4; index++) {
    [mixState, state[index]] = splitmix32(mixState);
  }
  // xoshiro's only bad state; splitmix32 output makes it practically impossible.
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
 * Creates a deterministic {@link Rng}: xoshiro128** seeded through
 * splitmix32. The same seed gives the same sequence on every run and host.
 * Outputs have 32 bits of resolution.
 *
 * @param seed A safe integer, or any string (hashed with 32-bit FNV-1a over UTF-8).
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
  if (typeof seed === "string") return xoshiro128StarStar([fnv1a32(seed)]);
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(
      `Cannot seed rng: seed ${String(seed)} is not a safe integer`,
    );
  }
  const low = seed >>> 0;
  const high = Math.floor(seed / TWO_POW_32) >>> 0;
  return xoshiro128StarStar(high === 0 ? [low] : [low, high]);
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
  return function randomBytes(length: number): Uint8Array {
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
}

/**
 * Derives an independent child {@link Rng} from two draws of `rng` and a
 * label, so that each component of a scenario gets its own stream: adding
 * draws in one component does not shift the others.
 *
 * @param rng The parent; advanced by two draws.
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
  const high = Math.floor(draw(rng, "fork rng") * TWO_POW_32);
  const low = Math.floor(draw(rng, "fork rng") * TWO_POW_32);
  return xoshiro128StarStar([high, low, fnv1a32(label)]);
}
