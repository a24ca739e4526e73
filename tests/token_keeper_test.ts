import assert from "node:assert/strict";
import {
  TOKEN_BYTES,
  TOKEN_ROTATION_MAX_MS,
  TokenKeeper,
} from "../lib/dht/token_keeper.ts";
import { seededRng } from "../lib/rng.ts";

const PEER = { host: "10.1.2.3", port: 4222 };

Deno.test("TokenKeeper.make() gives 32 bytes bound to host and port", () => {
  const keeper = new TokenKeeper(seededRng(1), 0);
  const token = keeper.make(PEER, 0);
  assert.equal(token.length, TOKEN_BYTES);
  assert.ok(keeper.check(token, PEER, 0));
  assert.ok(!keeper.check(token, { host: "10.1.2.4", port: 4222 }, 0));
  assert.ok(!keeper.check(token, { host: "10.1.2.3", port: 4223 }, 0));
});

Deno.test("TokenKeeper.check() accepts a token for one rotation, not two", () => {
  const keeper = new TokenKeeper(seededRng(2), 0);
  const token = keeper.make(PEER, 0);
  assert.ok(keeper.check(token, PEER, TOKEN_ROTATION_MAX_MS));
  assert.ok(!keeper.check(token, PEER, 2 * TOKEN_ROTATION_MAX_MS + 1));
});

Deno.test("TokenKeeper.check() refuses tokens of the wrong length or content", () => {
  const keeper = new TokenKeeper(seededRng(3), 0);
  const token = keeper.make(PEER, 0);
  assert.ok(!keeper.check(token.subarray(0, 31), PEER, 0));
  assert.ok(!keeper.check(new Uint8Array(32), PEER, 0));
  const altered = token.slice();
  altered[0] ^= 1;
  assert.ok(!keeper.check(altered, PEER, 0));
  // Altering a returned token does not poison the keeper's cache.
  token[5] ^= 0xff;
  assert.ok(keeper.check(keeper.make(PEER, 0), PEER, 0));
});

Deno.test("TokenKeeper tokens differ between keepers (secrets are random)", () => {
  const a = new TokenKeeper(seededRng(4), 0).make(PEER, 0);
  const b = new TokenKeeper(seededRng(5), 0).make(PEER, 0);
  assert.notDeepEqual(a, b);
});

Deno.test("TokenKeeper.makeShared() gives make()'s token without a copy, and rotates alike", () => {
  const keeper = new TokenKeeper(seededRng(3), 0);
  const peer = { host: "192.0.2.9", port: 4222 };
  const shared = keeper.makeShared(peer, 0);
  assert.deepEqual(shared, keeper.make(peer, 0));
  assert.equal(keeper.makeShared(peer, 1_000), shared); // the same bytes
  assert.notEqual(keeper.make(peer, 1_000), keeper.make(peer, 1_000)); // copies
  assert.ok(keeper.check(shared, peer, 1_000));
  // Two rotations later it is another token, and the old one is refused.
  const later = 2 * TOKEN_ROTATION_MAX_MS;
  assert.notDeepEqual(keeper.makeShared(peer, later), shared);
  assert.ok(!keeper.check(shared, peer, later));
});
