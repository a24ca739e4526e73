/**
 * `SlabCopier`: copies and zeroed bytes handed out as views of shared slabs
 * never overlap, outlive changes to their source, and those too large for a
 * slab get a buffer of their own.
 */
import assert from "node:assert/strict";
import { SlabCopier } from "../lib/io/_slab_copier.ts";

Deno.test("SlabCopier: copies and zeroed views never overlap, across slabs, and big ones get their own buffer", () => {
  const copier = new SlabCopier(256);
  const source = Uint8Array.from({ length: 40 }, (_, i) => i + 1);
  const handed: { bytes: Uint8Array; expected: number[] }[] = [];
  // 50 rounds of a 32-byte copy and a 4-byte zeroed view: 1,800 bytes, so
  // seven slabs of 256.
  for (let round = 0; round < 50; round++) {
    const start = round % 8;
    const copy = copier.copy(source, start, start + 32);
    handed.push({
      bytes: copy,
      expected: [...source.subarray(start, start + 32)],
    });
    const zeroed = copier.zeroed(4);
    assert.deepEqual([...zeroed], [0, 0, 0, 0]);
    zeroed.fill(round + 100);
    handed.push({
      bytes: zeroed,
      expected: [round + 100, round + 100, round + 100, round + 100],
    });
  }
  source.fill(0);
  for (const { bytes, expected } of handed) {
    assert.deepEqual([...bytes], expected);
  }
  const slabs = new Set(handed.map(({ bytes }) => bytes.buffer));
  assert.equal(slabs.size, 8);
  for (const slab of slabs) assert.equal(slab.byteLength, 256);
  // Above an eighth of a slab: a buffer of its own, of that size.
  const big = copier.copy(new Uint8Array(33).fill(7), 0, 33);
  assert.equal(big.buffer.byteLength, 33);
  assert.equal(copier.zeroed(33).buffer.byteLength, 33);
});
