/**
 * Attack (issue 13, item 1): an attacker who recovered a node's `Rng` state
 * (in 5–26 s, from its public node id, when that state had 2^32 values)
 * builds a replica node from the same state and reads off the victim's next
 * tids, listen socket ids and write tokens.
 *
 * Modelled by giving the attacker the victim's seed: the replica is the same
 * code driven by the same scripted peer. Since the fix, nothing a peer sees
 * comes from the `Rng`: ids, tids, socket ids and token secrets come from
 * `RandomBytes` (system randomness by default), so the replica predicts none
 * of them; with a seeded `RandomBytes` they follow the bytes, not the `Rng`.
 */
import assert from "node:assert/strict";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { observe } from "./_observer.ts";

Deno.test("attack: a replica built from the victim's rng predicts none of what peers see", () => {
  const victim = observe(seededRng("victim"));
  const replica = observe(seededRng("victim"));
  // The exchange happened (the script worked) ...
  assert.ok(victim.tids.length >= 3, `tids ${victim.tids}`);
  assert.equal(victim.socketIds.length, 1);
  assert.equal(victim.token.length, 64);
  // ... but the attacker's replica guesses nothing of it.
  assert.notEqual(replica.id, victim.id, "node id predicted");
  assert.notEqual(replica.token, victim.token, "write token predicted");
  assert.notDeepEqual(
    replica.socketIds,
    victim.socketIds,
    "socket id predicted",
  );
  for (const tid of replica.tids) {
    assert.ok(!victim.tids.includes(tid), `tid ${tid} predicted`);
  }
});

Deno.test("attack: ids, tids, socket ids and tokens follow RandomBytes, never the Rng", () => {
  // Same Rng, different bytes: everything a peer sees changes.
  const a = observe(seededRng(1), rngBytes(seededRng("bytes A")));
  const b = observe(seededRng(1), rngBytes(seededRng("bytes B")));
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.token, b.token);
  assert.notDeepEqual(a.socketIds, b.socketIds);
  assert.ok(a.tids.every((tid) => !b.tids.includes(tid)));
  // Different Rng, same bytes: nothing a peer sees changes.
  const c = observe(seededRng(2), rngBytes(seededRng("bytes A")));
  assert.deepEqual(c, a);
});
