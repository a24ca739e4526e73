/**
 * `RelayServer` and `RelayJoin`: pairing by token, forwarding, and the
 * bounds; the attacks are in tests/attacks/relay_attacks_test.ts.
 */
import assert from "node:assert/strict";
import { RelayJoin, RelayTokenError } from "../lib/channel/relay_join.ts";
import { RELAY_DATAGRAM_BYTES } from "../lib/channel/_relay_wire.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { recordingRelay } from "./_relay_helpers.ts";

const A = { host: "203.0.113.1", port: 40_001 };
const B = { host: "192.0.2.2", port: 50_002 };
const TOKEN = new Uint8Array(16).fill(5);

Deno.test("relay: two addresses that proved themselves with one token are paired; datagrams cross both ways, unchanged", () => {
  const { relay, sent, join } = recordingRelay();
  assert.equal(join(A, TOKEN), false); // waiting for its peer
  assert.equal(join(B, TOKEN), true);
  assert.equal(relay.pairings, 1);
  sent.length = 0;
  relay.handle(new Uint8Array([1, 2, 3]), A);
  relay.handle(new Uint8Array([4]), B);
  assert.deepEqual(sent, [
    { to: B, bytes: new Uint8Array([1, 2, 3]) },
    { to: A, bytes: new Uint8Array([4]) },
  ]);
  // A JOIN again (its PAIRED was lost) is answered PAIRED, once.
  sent.length = 0;
  assert.equal(join(A, TOKEN), true);
});

Deno.test("relay: datagrams from an address not paired are dropped, never answered", () => {
  const { relay, sent, join } = recordingRelay();
  join(A, TOKEN);
  sent.length = 0;
  relay.handle(new Uint8Array([1, 2, 3]), A); // waiting, not paired
  relay.handle(new Uint8Array([1, 2, 3]), B);
  assert.equal(sent.length, 0);
  assert.equal(relay.counters.droppedUnpaired, 2);
});

Deno.test("relay: a paired address sends at most its byte rate; the rest is dropped and counted", () => {
  const { clock, relay, sent, join } = recordingRelay({
    bytesPerSecond: 10_000,
  });
  join(A, TOKEN);
  join(B, TOKEN);
  sent.length = 0;
  for (let i = 0; i < 20; i++) relay.handle(new Uint8Array(1_000), A);
  assert.equal(sent.length, 10);
  assert.equal(relay.counters.droppedRate, 10);
  clock.advance(500);
  for (let i = 0; i < 20; i++) relay.handle(new Uint8Array(1_000), A);
  assert.equal(sent.length, 15);
});

Deno.test("relay: a pairing idle for idleMs ends; its addresses must join again", () => {
  const { clock, relay, sent, join } = recordingRelay({ idleMs: 60_000 });
  join(A, TOKEN);
  join(B, TOKEN);
  clock.advance(59_000);
  relay.handle(new Uint8Array([1]), A); // keeps it alive
  clock.advance(59_000);
  assert.equal(relay.pairings, 1);
  clock.advance(1_000);
  sent.length = 0;
  relay.handle(new Uint8Array([1]), A);
  assert.equal(sent.length, 0);
  assert.equal(relay.pairings, 0);
});

Deno.test("relay: pairings per origin and in all are bounded", () => {
  const { relay, join } = recordingRelay({
    maxPairingsPerOrigin: 2,
    maxPairings: 3,
  });
  const token = (n: number) => new Uint8Array(16).fill(n);
  // One host pairs with others: two pairings, then refused.
  for (let n = 1; n <= 3; n++) {
    join({ host: "203.0.113.1", port: 1_000 + n }, token(n));
    join({ host: `192.0.2.${n}`, port: 2_000 }, token(n));
  }
  assert.equal(relay.pairings, 2);
  for (let n = 4; n <= 6; n++) {
    join({ host: `203.0.113.${n}`, port: 1_000 }, token(n));
    join({ host: `192.0.2.${n}`, port: 2_000 }, token(n));
  }
  assert.equal(relay.pairings, 3);
  assert.ok(relay.counters.droppedFull > 0);
});

Deno.test("relay join: a token of the wrong length is refused", () => {
  assert.throws(
    () =>
      new RelayJoin({ transport: { send() {} }, clock: new ManualClock(0) }, {
        token: new Uint8Array(3),
        relay: A,
      }),
    RelayTokenError,
  );
  assert.equal(RELAY_DATAGRAM_BYTES, 37);
});
