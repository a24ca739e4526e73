import assert from "node:assert/strict";
import {
  TOKEN_BYTES,
  TOKEN_ROTATION_MAX_MS,
  TokenKeeper,
} from "../lib/dht/token_keeper.ts";
import { hmacSha256 } from "../lib/crypto.ts";
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
  // The same bytes, read where the keeper keeps them (no copy).
  const again = keeper.makeShared(peer, 1_000);
  assert.equal(again.buffer, shared.buffer);
  assert.equal(again.byteOffset, shared.byteOffset);
  assert.notEqual(keeper.make(peer, 1_000), keeper.make(peer, 1_000)); // copies
  assert.ok(keeper.check(shared, peer, 1_000));
  // Two rotations later it is another token, and the old one is refused.
  // (A copy: the keeper's buffers serve the tokens of later secrets.)
  const old = shared.slice();
  const later = 2 * TOKEN_ROTATION_MAX_MS;
  assert.notDeepEqual(keeper.makeShared(peer, later), old);
  assert.ok(!keeper.check(old, peer, later));
});

/** A keeper whose secrets are known: the nth is n + 1 in every byte, kept in `secrets` as made. */
function knownSecrets(seed: number) {
  const secrets: Uint8Array[] = [];
  const keeper = new TokenKeeper(seededRng(seed), 0, (length) => {
    const secret = new Uint8Array(length).fill(secrets.length + 1);
    secrets.push(secret);
    return secret;
  });
  return { keeper, secrets };
}

Deno.test("TokenKeeper tokens are HMAC-SHA-256 of host bytes and port, for more addresses than its cache holds", () => {
  // Known secrets: the first is the current one, the second the previous.
  const { keeper, secrets } = knownSecrets(6);
  const port = (value: number) => [value >> 8, value & 0xff];
  const expected = (host: number[], value: number) =>
    hmacSha256(secrets[0], new Uint8Array([...host, ...port(value)]));
  const first = keeper.make({ host: "10.0.0.1", port: 4222 }, 0);
  assert.deepEqual(first, expected([10, 0, 0, 1], 4222));
  // 600 addresses, two ports a host: the cache is emptied twice meanwhile.
  const addresses = Array.from({ length: 600 }, (_, i) => ({
    host: `10.${i >> 8}.${i & 0xff}.${(i % 7) + 1}`,
    port: 4000 + (i & 1),
  }));
  for (const address of addresses) keeper.make(address, 0);
  for (const [i, address] of addresses.entries()) {
    const host = [10, i >> 8, i & 0xff, (i % 7) + 1];
    const token = keeper.makeShared(address, 0);
    assert.deepEqual(token, expected(host, address.port));
    assert.ok(keeper.check(expected(host, address.port), address, 0));
    assert.ok(!keeper.check(token, { ...address, port: 4002 }, 0));
  }
  // A copy handed out earlier is not a view of the reused cache.
  assert.deepEqual(first, expected([10, 0, 0, 1], 4222));
  // Hosts that are not dotted quads go in as their UTF-8 bytes.
  const v6 = { host: "2001:db8::7", port: 4222 };
  assert.deepEqual(
    keeper.make(v6, 0),
    hmacSha256(
      secrets[0],
      new Uint8Array([...new TextEncoder().encode(v6.host), ...port(4222)]),
    ),
  );
  assert.ok(keeper.check(keeper.make(v6, 0), v6, 0));
  assert.ok(
    !keeper.check(keeper.make(v6, 0), { ...v6, host: "2001:db8::8" }, 0),
  );
});

Deno.test("TokenKeeper tokens follow each rotation although its caches are reused", () => {
  const { keeper, secrets } = knownSecrets(7);
  const peers = [
    { host: "10.0.0.1", port: 4222 },
    { host: "2001:db8::1", port: 4222 },
  ];
  const input = (peer: { host: string; port: number }) =>
    new Uint8Array([
      ...(peer.host.includes(":")
        ? new TextEncoder().encode(peer.host)
        : peer.host.split(".").map(Number)),
      peer.port >> 8,
      peer.port & 0xff,
    ]);
  let before = peers.map((peer) => keeper.make(peer, 0));
  // Each step rotates at least once (a period is at most the maximum); the
  // caches filled under older secrets are emptied and used again.
  for (let step = 1; step <= 4; step++) {
    const nowMs = step * TOKEN_ROTATION_MAX_MS;
    for (const [i, peer] of peers.entries()) {
      const token = keeper.makeShared(peer, nowMs);
      assert.deepEqual(
        token,
        hmacSha256(secrets[secrets.length - 1], input(peer)),
      );
      assert.notDeepEqual(token, before[i]);
      assert.ok(keeper.check(token, peer, nowMs));
    }
    before = peers.map((peer) => keeper.make(peer, nowMs));
  }
});
