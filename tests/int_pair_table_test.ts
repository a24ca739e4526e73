import assert from "node:assert/strict";
import { IntPairTable } from "../lib/dht/_int_pair_table.ts";
import { randomInt, seededRng } from "../lib/rng.ts";

Deno.test("IntPairTable holds what a Map would, through inserts, updates, growth and clears", () => {
  // Method: seeded operations on keys that cluster (consecutive addresses,
  // a few ports, values above 2^31 taken as int32) against a Map of
  // "high low" strings.
  const rng = seededRng("int pair table");
  for (let round = 0; round < 40; round++) {
    const table = new IntPairTable(round % 2 === 0 ? 16 : 4);
    const reference = new Map<string, number>();
    const base = randomInt(rng, 2 ** 32);
    const spread = [8, 300, 5_000][round % 3];
    for (let step = 0; step < 4_000; step++) {
      const high = (base + randomInt(rng, spread)) | 0;
      const low = round % 4 === 0 ? 0 : 4_000 + randomInt(rng, 3);
      const key = `${high} ${low}`;
      const slot = table.find(high, low);
      assert.equal(slot >= 0, reference.has(key), `round ${round} ${key}`);
      if (slot >= 0) {
        assert.equal(table.valueAt(slot), reference.get(key));
        const value = randomInt(rng, 2 ** 31);
        table.setValueAt(slot, value);
        reference.set(key, value);
      } else {
        const value = randomInt(rng, 2 ** 31);
        table.insert(high, low, value);
        reference.set(key, value);
      }
      assert.equal(table.size, reference.size);
      if (rng() < 0.002) {
        table.clear();
        reference.clear();
      }
    }
    for (const [key, value] of reference) {
      const [high, low] = key.split(" ").map(Number);
      assert.equal(table.valueAt(table.find(high, low)), value);
    }
  }
});
