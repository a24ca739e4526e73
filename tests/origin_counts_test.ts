import assert from "node:assert/strict";
import {
  MAX_TRACKED_ORIGINS,
  OriginCounts,
} from "../lib/dht/_origin_counts.ts";
import { randomInt, seededRng } from "../lib/rng.ts";

/** The rule, written plainly: a map per window, later origins share a count. */
class ReferenceCounts {
  #counts = new Map<string, number>();
  #overflow = 0;
  newWindow(): void {
    this.#counts.clear();
    this.#overflow = 0;
  }
  add(origin: string): number {
    const count = this.#counts.get(origin);
    if (count === undefined && this.#counts.size >= MAX_TRACKED_ORIGINS) {
      return ++this.#overflow;
    }
    this.#counts.set(origin, (count ?? 0) + 1);
    return (count ?? 0) + 1;
  }
  get tracked(): number {
    return this.#counts.size;
  }
}

Deno.test("OriginCounts counts each origin of a window as a map emptied per window would", () => {
  const rng = seededRng("origin counts");
  const ipv4 = (pool: number) =>
    `10.${randomInt(rng, 4)}.${randomInt(rng, pool)}.${randomInt(rng, 256)}`;
  const other = () =>
    rng() < 0.5
      ? `2001:db8:${randomInt(rng, 40).toString(16)}::/64`
      : `host-${randomInt(rng, 30)}`;
  for (let round = 0; round < 30; round++) {
    const counts = new OriginCounts();
    const reference = new ReferenceCounts();
    // Small pools (the same senders window after window), large ones (the
    // table grows), and now and then more origins than a window tracks.
    const pool = [1, 4, 64, 256][round % 4];
    for (let window = 0; window < 12; window++) {
      const requests = round % 10 === 9 && window === 5
        ? 3 * MAX_TRACKED_ORIGINS
        : randomInt(rng, 400);
      for (let i = 0; i < requests; i++) {
        const origin = rng() < 0.8 ? ipv4(pool) : other();
        assert.equal(
          counts.add(origin),
          reference.add(origin),
          `round ${round} window ${window} request ${i} ${origin}`,
        );
      }
      assert.equal(counts.tracked, reference.tracked);
      counts.newWindow();
      reference.newWindow();
    }
  }
});

Deno.test("OriginCounts: a flood from more addresses than a window tracks shares one count, and the next window starts afresh", () => {
  const counts = new OriginCounts();
  for (let i = 0; i < MAX_TRACKED_ORIGINS; i++) {
    assert.equal(counts.add(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`), 1);
  }
  assert.equal(counts.tracked, MAX_TRACKED_ORIGINS);
  // Every spoofed newcomer after them adds to one shared count.
  for (let i = 1; i <= 3_000; i++) {
    assert.equal(counts.add(`192.0.${i >> 8}.${i & 255}`), i);
  }
  assert.equal(counts.add("2001:db8::/64"), 3_001);
  assert.equal(counts.tracked, MAX_TRACKED_ORIGINS);
  // Those counted one by one keep their own counts.
  assert.equal(counts.add("10.0.0.7"), 2);
  counts.newWindow();
  assert.equal(counts.tracked, 0);
  assert.equal(counts.add("192.0.0.1"), 1);
  assert.equal(counts.add("10.0.0.7"), 1);
  // A second flood: its shared count starts again from one.
  for (let i = 2; i < MAX_TRACKED_ORIGINS; i++) {
    assert.equal(counts.add(`172.16.${i >> 8}.${i & 255}`), 1);
  }
  assert.equal(counts.add("198.51.100.1"), 1);
  assert.equal(counts.add("198.51.100.2"), 2);
});
