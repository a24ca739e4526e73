import assert from "node:assert/strict";
import {
  forkRng,
  randomInt,
  randomUint32,
  type Rng,
  rngBytes,
  seededRng,
} from "../lib/rng.ts";
import { systemRandomBytes } from "../lib/io/system_random.ts";

function take(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => rng());
}

Deno.test("seededRng() gives the same sequence for the same seed", () => {
  assert.deepEqual(take(seededRng(42), 100), take(seededRng(42), 100));
  assert.deepEqual(
    take(seededRng("alice"), 100),
    take(seededRng("alice"), 100),
  );
});

Deno.test("seededRng() output is pinned across runs and hosts", () => {
  // Goal: a seed printed by a failing simulation reproduces it anywhere.
  // Method: pin the first outputs; they change only if the generator does.
  const words = take(seededRng(0), 3).map((value) => value * 2 ** 32);
  const again = take(seededRng(0), 3).map((value) => value * 2 ** 32);
  assert.ok(words.every(Number.isInteger));
  assert.deepEqual(words, again);
  assert.deepEqual(words, PINNED_SEED_0_WORDS);
});

// Cross-checked against an independent Python xoshiro128** whose state is the
// first 16 bytes of SHA-256("rng:number:0") as four little-endian words.
const PINNED_SEED_0_WORDS = [329499418, 112612724, 1036491023];

Deno.test("seededRng() gives different sequences for different seeds", () => {
  const seeds: Array<number | string> = [
    0,
    1,
    2,
    -1,
    2 ** 32,
    2 ** 32 + 1,
    Number.MAX_SAFE_INTEGER,
    "",
    "a",
    "b",
    "0",
  ];
  const firsts = seeds.map((seed) => take(seededRng(seed), 4).join(","));
  assert.equal(new Set(firsts).size, seeds.length);
});

Deno.test("seededRng() rejects seeds that are not safe integers", () => {
  for (const seed of [1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => seededRng(seed), RangeError, String(seed));
  }
});

Deno.test("seededRng() stays in [0, 1)", () => {
  const rng = seededRng("range");
  for (let index = 0; index < 100_000; index++) {
    const value = rng();
    assert.ok(value >= 0 && value < 1, `draw ${index} was ${value}`);
  }
});

Deno.test("seededRng() is roughly uniform over 100k draws", () => {
  // Goal: catch a broken generator, not certify quality.
  // Method: 10 buckets of 10k expected draws each; allow ±5 % (about 16 standard deviations).
  const rng = seededRng(2024);
  const buckets = new Array<number>(10).fill(0);
  for (let index = 0; index < 100_000; index++) {
    buckets[Math.floor(rng() * 10)]++;
  }
  for (const [bucket, count] of buckets.entries()) {
    assert.ok(
      count > 9_500 && count < 10_500,
      `bucket ${bucket} got ${count}`,
    );
  }
  let mean = 0;
  for (let index = 0; index < 100_000; index++) mean += rng() / 100_000;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean was ${mean}`);
});

Deno.test("randomInt() stays in range and covers it", () => {
  const rng = seededRng(5);
  const seen = new Set<number>();
  for (let index = 0; index < 1_000; index++) {
    const value = randomInt(rng, 6);
    assert.ok(Number.isInteger(value) && value >= 0 && value < 6);
    seen.add(value);
  }
  assert.equal(seen.size, 6);
  assert.equal(randomInt(rng, 1), 0);
});

Deno.test("randomInt() rejects bad bounds and a broken rng", () => {
  const rng = seededRng(5);
  for (const maxExclusive of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => randomInt(rng, maxExclusive), RangeError);
  }
  assert.throws(() => randomInt(() => 1, 10), {
    name: "RangeError",
    message: "Cannot draw random integer: rng returned 1, outside [0, 1)",
  });
});

Deno.test("rngBytes() is deterministic for a seed and fills odd lengths", () => {
  const first = rngBytes(seededRng("bytes"));
  const second = rngBytes(seededRng("bytes"));
  for (const length of [0, 1, 3, 4, 5, 33, 1_000]) {
    const bytes = first(length);
    assert.equal(bytes.length, length);
    assert.deepEqual(bytes, second(length));
  }
  assert.notDeepEqual(first(32), rngBytes(seededRng("other"))(32));
});

Deno.test("rngBytes() uses every byte value", () => {
  const bytes = rngBytes(seededRng(1))(10_000);
  assert.equal(new Set(bytes).size, 256);
});

Deno.test("rngBytes() rejects bad lengths", () => {
  const randomBytes = rngBytes(seededRng(1));
  for (const length of [-1, 1.5, NaN, 64 * 1024 * 1024 + 1]) {
    assert.throws(() => randomBytes(length), RangeError);
  }
});

Deno.test("forkRng() is deterministic for the same parent state and label", () => {
  const child = forkRng(seededRng(9), "node-1");
  const again = forkRng(seededRng(9), "node-1");
  assert.deepEqual(take(child, 50), take(again, 50));
});

Deno.test("forkRng() streams are independent of labels, siblings and the parent", () => {
  const parent = seededRng(9);
  const first = take(forkRng(seededRng(9), "node-1"), 20);
  const otherLabel = take(forkRng(seededRng(9), "node-2"), 20);
  assert.notDeepEqual(first, otherLabel);
  // Forking advances the parent by exactly four draws (128 bits), whatever
  // the child does.
  const forkedParent = seededRng(9);
  const child = forkRng(forkedParent, "node-1");
  take(child, 1_000);
  take(parent, 4);
  assert.deepEqual(take(forkedParent, 20), take(parent, 20));
  // Two forks in a row with the same label differ.
  const twice = seededRng(9);
  assert.notDeepEqual(
    take(forkRng(twice, "node"), 20),
    take(forkRng(twice, "node"), 20),
  );
  // The child is not the parent's own continuation.
  const continued = seededRng(9);
  const forked = forkRng(continued, "node-1");
  assert.notDeepEqual(take(forked, 20), take(continued, 20));
});

Deno.test("systemRandomBytes() fills lengths beyond one getRandomValues call", () => {
  const bytes = systemRandomBytes(200_000);
  assert.equal(bytes.length, 200_000);
  // Every 64 KiB chunk got filled: none of them is all zeros.
  for (let offset = 0; offset < bytes.length; offset += 65536) {
    assert.ok(bytes.subarray(offset, offset + 65536).some((byte) => byte));
  }
  assert.equal(systemRandomBytes(0).length, 0);
  assert.throws(() => systemRandomBytes(-1), RangeError);
});

Deno.test("randomUint32(systemRandomBytes) gives fresh 32-bit words past each batch of 256", () => {
  // 600 words: the batch is drawn again twice. A batch handed out twice
  // would repeat 256 words; fresh words repeat one by chance about once in
  // 24,000 runs (600² / 2^33; one clean-clone CI run met it), two in about a
  // billion, so one coincidence is allowed.
  const words = Array.from(
    { length: 600 },
    () => randomUint32(systemRandomBytes),
  );
  for (const word of words) {
    assert.ok(Number.isInteger(word) && word >= 0 && word < 2 ** 32);
  }
  const repeated = words.length - new Set(words).size;
  assert.ok(repeated <= 1, `${repeated} words repeated`);
  // The high bit is set in about half of them (binomial, 600 draws: 300 ± 12).
  const high = words.filter((word) => word >= 2 ** 31).length;
  assert.ok(high > 200 && high < 400, `${high} of 600 words above 2^31`);
});
