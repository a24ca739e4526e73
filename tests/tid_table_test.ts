import assert from "node:assert/strict";
import { TidTable } from "../lib/dht/_tid_table.ts";
import { seededRng } from "../lib/rng.ts";

Deno.test("TidTable holds what a Map holds, through growth, wrap-around runs and deletes", () => {
  // Method: the same seeded operations on a TidTable and on a Map. Ids are
  // drawn so that many share their low bits (long probe runs that wrap
  // around the table's end), and the live set grows and shrinks.
  for (const spread of [4, 64, 0x1_0000_0000]) {
    const rng = seededRng(`tid table ${spread}`);
    const table = new TidTable<number>();
    const reference = new Map<number, number>();
    for (let step = 0; step < 20_000; step++) {
      const high = Math.floor(rng() * spread) * 0x100;
      const tid = ((high + (rng() < 0.5 ? 0xff : 7)) % 0xffff_ffff) + 1;
      const growing = Math.floor(step / 2_000) % 2 === 0;
      if (rng() < (growing ? 0.7 : 0.3)) {
        table.set(tid, step);
        reference.set(tid, step);
      } else {
        assert.equal(table.delete(tid), reference.get(tid), `step ${step}`);
        reference.delete(tid);
      }
      assert.equal(table.size, reference.size);
      // A few lookups of held and unknown ids.
      const probe = ((high + 0x80) % 0xffff_ffff) + 1;
      assert.equal(table.get(probe), reference.get(probe));
      assert.equal(table.get(tid), reference.get(tid));
      assert.equal(table.has(tid), reference.has(tid));
    }
    for (const [tid, value] of reference) assert.equal(table.get(tid), value);
    assert.deepEqual(
      table.ids().sort((a, b) => a - b),
      [...reference.keys()].sort((a, b) => a - b),
    );
  }
});

Deno.test("TidTable: 0, negative, fractional and too large ids are never found; set refuses them", () => {
  const table = new TidTable<string>();
  table.set(0xffff_ffff, "top");
  table.set(1, "one");
  for (const tid of [0, -1, 1.5, 2 ** 32, 2 ** 32 + 1, NaN, -(2 ** 32) + 1]) {
    assert.equal(table.get(tid), undefined, `${tid}`);
    assert.equal(table.delete(tid), undefined, `${tid}`);
    assert.throws(() => table.set(tid, "bad"), RangeError);
  }
  assert.equal(table.get(0xffff_ffff), "top");
  assert.equal(table.size, 2);
});
