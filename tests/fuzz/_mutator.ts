/**
 * Seeded byte mutations for the fuzzers: bit flips, msgpack-flavoured
 * "interesting" bytes, length bombs, truncation, insertion, deletion,
 * repetition, splicing with another seed, and wholly random packets. Every
 * choice comes from one seeded {@link Rng}, so a run replays from its seed.
 *
 * @module
 */
import { randomInt, type Rng } from "../../lib/rng.ts";

/**
 * Bytes that mean something to msgpack or to length fields: nil, booleans,
 * fixint edges, bin/str/array/map headers of every width, 64-bit integers.
 */
const INTERESTING = [
  0x00,
  0x01,
  0x7f,
  0x80,
  0x8f,
  0x90,
  0x9f,
  0xa0,
  0xbf,
  0xc0,
  0xc2,
  0xc3,
  0xc4,
  0xc5,
  0xc6,
  0xca,
  0xcb,
  0xcc,
  0xcf,
  0xd0,
  0xd3,
  0xd9,
  0xda,
  0xdb,
  0xdc,
  0xdd,
  0xde,
  0xdf,
  0xe0,
  0xff,
];

/** Largest packet a mutation produces (a UDP datagram's payload at most). */
export const MAX_MUTANT_BYTES = 65_507;

/** Makes hostile variants of seed packets. */
export class Mutator {
  readonly #rng: Rng;

  /**
   * @param rng The seeded source of every choice.
   */
  constructor(rng: Rng) {
    this.#rng = rng;
  }

  /** A random integer in `[0, maxExclusive)`. */
  int(maxExclusive: number): number {
    return randomInt(this.#rng, Math.max(1, maxExclusive));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.#rng() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  /**
   * A mutant of `seed`: one to four mutations, each picked at random; with
   * `others`, one may splice in part of another seed.
   */
  mutate(seed: Uint8Array, others: readonly Uint8Array[] = []): Uint8Array {
    let bytes: Uint8Array = seed.slice();
    const rounds = 1 + this.int(4);
    for (let round = 0; round < rounds; round++) {
      bytes = this.#once(bytes, others);
    }
    return bytes.length > MAX_MUTANT_BYTES
      ? bytes.subarray(0, MAX_MUTANT_BYTES)
      : bytes;
  }

  #once(bytes: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
    const at = this.int(bytes.length + 1);
    switch (this.int(9)) {
      case 0: { // flip one to eight bits
        const out = bytes.slice();
        for (let n = 1 + this.int(8); n > 0 && out.length > 0; n--) {
          out[this.int(out.length)] ^= 1 << this.int(8);
        }
        return out;
      }
      case 1: { // an interesting byte in place
        const out = bytes.slice();
        if (out.length > 0) out[this.int(out.length)] = this.pick(INTERESTING);
        return out;
      }
      case 2: { // a length bomb: array32/map32/bin32/str32 claiming ~4 G
        const bomb = new Uint8Array([
          this.pick([0xdd, 0xdf, 0xc6, 0xdb]),
          0xff,
          0xff,
          0xff,
          this.int(256),
        ]);
        return splice(bytes, at, Math.min(5, bytes.length - at), bomb);
      }
      case 3: // truncate
        return bytes.subarray(0, at);
      case 4: // insert random bytes
        return splice(bytes, at, 0, this.bytes(1 + this.int(32)));
      case 5: // delete a range
        return splice(bytes, at, this.int(16), new Uint8Array(0));
      case 6: { // repeat a range
        const length = Math.min(bytes.length - at, 1 + this.int(64));
        const range = bytes.slice(at, at + length);
        const times = 1 + this.int(16);
        const repeated = new Uint8Array(range.length * times);
        for (let i = 0; i < times; i++) repeated.set(range, i * range.length);
        return splice(bytes, at, 0, repeated);
      }
      case 7: { // splice in part of another seed
        if (others.length === 0) return this.bytes(this.int(256));
        const other = this.pick(others);
        const from = this.int(other.length);
        const part = other.subarray(
          from,
          from + this.int(other.length - from + 1),
        );
        return splice(bytes, at, this.int(bytes.length - at + 1), part);
      }
      default: // wholly random
        return this.bytes(this.int(this.chance(0.9) ? 200 : 2_000));
    }
  }
}

function splice(
  bytes: Uint8Array,
  at: number,
  deleteCount: number,
  insert: Uint8Array,
): Uint8Array {
  deleteCount = Math.min(deleteCount, bytes.length - at);
  const out = new Uint8Array(bytes.length - deleteCount + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + deleteCount), at + insert.length);
  return out;
}
