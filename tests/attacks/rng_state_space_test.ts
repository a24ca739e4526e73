/**
 * Attack (issue 13, item 1): every seeded or forked stream had 2^32
 * possible states (seeds and parents were folded into one 32-bit word), so
 * a node's generator was recovered by brute force from its node id in 5–26
 * s. These tests show the state now depends on more than 32 bits: streams
 * that the fold made identical differ, and 2^17 forks do not collide (with
 * 2^32 states, about 2 pairs would; this seed's forks had 2 such pairs).
 */
import assert from "node:assert/strict";
import { forkRng, type Rng, seededRng } from "../../lib/rng.ts";

function take(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => rng());
}

/** A parent that returns the given 32-bit words, then zeros. */
function wordsParent(words: readonly number[]): Rng {
  let index = 0;
  return () => (words[index++] ?? 0) / 2 ** 32;
}

Deno.test("attack: seeds that folded to the same 32-bit word give different streams", () => {
  // splitmix32 fold: (0 + γ) ^ 4 === (1 + γ) ^ 7 for γ = 0x9e3779b9.
  assert.notDeepEqual(
    take(seededRng(4 * 2 ** 32), 8),
    take(seededRng(7 * 2 ** 32 + 1), 8),
  );
});

Deno.test("attack: forks of parents that folded to the same 32-bit word differ", () => {
  // Parent words (0, 0, …) and (1, 3, …): (0 + γ) ^ 0 === (1 + γ) ^ 3.
  const a = forkRng(wordsParent([0, 0, 5, 6]), "node");
  const b = forkRng(wordsParent([1, 3, 7, 8]), "node");
  assert.notDeepEqual(take(a, 8), take(b, 8));
  // And a fork depends on all 128 bits it takes: change only the last word.
  const c = forkRng(wordsParent([1, 3, 7, 9]), "node");
  assert.notDeepEqual(take(b, 8), take(c, 8));
});

Deno.test("attack: 2^17 forks show no collision (a 32-bit state space gives ~2)", () => {
  const root = seededRng("birthday");
  const seen = new Set<string>();
  const forks = 2 ** 17;
  for (let index = 0; index < forks; index++) {
    const child = forkRng(root, "node");
    // 64 bits of output: equal only if the states are (or by 2^-64 luck).
    seen.add(`${child()},${child()}`);
  }
  assert.equal(seen.size, forks, `${forks - seen.size} collisions`);
});
