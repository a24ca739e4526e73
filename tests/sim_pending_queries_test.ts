import assert from "node:assert/strict";
import { PendingQueries } from "../sim/_pending_queries.ts";
import { randomInt, seededRng } from "../lib/rng.ts";

Deno.test("PendingQueries holds, replaces and gives up queries as a map keyed by querier>queried:tid does", () => {
  const rng = seededRng("pending queries");
  const pending = new PendingQueries();
  const reference = new Map<string, string>();
  // Few hosts and few tids, so that pairs share tids and tids repeat per
  // pair; hosts up to the last index, and text tids beside numbers.
  const hosts = [0, 1, 2, 3, 0xff_fffd];
  const tids: (number | string)[] = [
    1,
    2,
    0x0401_0203,
    7 * 2 ** 48,
    "u",
    "j1,2",
  ];
  const methods = ["get", "put", "find", "listen"];
  let hits = 0;
  for (let step = 0; step < 20_000; step++) {
    const querier = hosts[randomInt(rng, hosts.length)];
    const queried = hosts[randomInt(rng, hosts.length)];
    const tid = tids[randomInt(rng, tids.length)];
    const key = `${querier}>${queried}:${tid}`;
    const op = randomInt(rng, 10);
    if (op < 4) {
      const method = methods[randomInt(rng, methods.length)];
      pending.set(querier, queried, tid, method);
      reference.set(key, method);
    } else if (op < 9) {
      const remove = op < 7;
      const expected = reference.get(key);
      if (remove) reference.delete(key);
      assert.equal(pending.get(querier, queried, tid, remove), expected);
      if (expected !== undefined) hits++;
    } else if (randomInt(rng, 100) === 0) {
      pending.clear();
      reference.clear();
    }
    assert.equal(pending.size, reference.size);
  }
  // The walk found held queries often, in both ways of reading them.
  assert.ok(hits > 2_000, `${hits}`);
});
