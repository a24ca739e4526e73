/**
 * `RelayServer` and `RelayJoin`: pairing by token, forwarding, and the
 * bounds; the attacks are in tests/attacks/relay_attacks_test.ts.
 */
import assert from "node:assert/strict";
import {
  RelayCookies,
  RelayJoin,
  RelayTokenError,
} from "../lib/channel/relay_join.ts";
import { RelayServer } from "../lib/channel/relay_server.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
import {
  decodeRelay,
  decodeRelayData,
  encodeRelayData,
  RELAY_DATAGRAM_BYTES,
  RelayKind,
} from "../lib/channel/_relay_wire.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { recordingRelay } from "./_relay_helpers.ts";

const A = { host: "203.0.113.1", port: 40_001 };
const B = { host: "192.0.2.2", port: 50_002 };
const TOKEN = new Uint8Array(16).fill(5);

Deno.test("relay: two addresses that proved themselves with one token are paired; datagrams cross both ways on their channels, unchanged", () => {
  const { relay, sent, join, channelOf } = recordingRelay();
  assert.equal(join(A, TOKEN), false); // waiting for its peer
  assert.equal(join(B, TOKEN), true);
  assert.equal(join(A, TOKEN), true); // its next JOIN gets its PAIRED
  assert.equal(relay.pairings, 1);
  const [a, b] = [channelOf(A, TOKEN), channelOf(B, TOKEN)];
  assert.notEqual(a, b);
  sent.length = 0;
  relay.handle(encodeRelayData(a, new Uint8Array([1, 2, 3])), A);
  relay.handle(encodeRelayData(b, new Uint8Array([4])), B);
  assert.deepEqual(sent, [
    { to: B, bytes: encodeRelayData(b, new Uint8Array([1, 2, 3])) },
    { to: A, bytes: encodeRelayData(a, new Uint8Array([4])) },
  ]);
  // Another address's channel, or a channel not ours: dropped.
  relay.handle(encodeRelayData(b, new Uint8Array([5])), A);
  relay.handle(encodeRelayData(a, new Uint8Array([5])), B);
  assert.equal(sent.length, 2);
});

Deno.test("relay: one address paired with several contacts, one channel each", () => {
  const { relay, sent, join, channelOf } = recordingRelay();
  const contacts = [1, 2, 3].map((n) => ({ host: `192.0.2.${n}`, port: 1 }));
  const tokens = [1, 2, 3].map((n) => new Uint8Array(16).fill(n));
  contacts.forEach((contact, i) => {
    join(contact, tokens[i]);
    join(A, tokens[i]);
  });
  assert.equal(relay.pairings, 3);
  sent.length = 0;
  tokens.forEach((token, i) =>
    relay.handle(encodeRelayData(channelOf(A, token), new Uint8Array([i])), A)
  );
  assert.deepEqual(
    sent.map((s) => [s.to.host, decodeRelayData(s.bytes)!.payload[0]]),
    contacts.map((contact, i) => [contact.host, i]),
  );
});

Deno.test("relay: datagrams from an address not paired are dropped, never answered", () => {
  const { relay, sent, join } = recordingRelay();
  join(A, TOKEN);
  sent.length = 0;
  relay.handle(encodeRelayData(1, new Uint8Array([1, 2, 3])), A); // waiting
  relay.handle(encodeRelayData(1, new Uint8Array([1, 2, 3])), B);
  relay.handle(new Uint8Array([1, 2, 3]), B);
  assert.equal(sent.length, 0);
  assert.equal(relay.counters.droppedUnpaired, 3);
});

Deno.test("relay: a paired address sends at most its byte rate; the rest is dropped and counted", () => {
  const { clock, relay, sent, join, channelOf } = recordingRelay({
    bytesPerSecond: 10_000,
  });
  join(A, TOKEN);
  join(B, TOKEN);
  join(A, TOKEN);
  const data = encodeRelayData(channelOf(A, TOKEN), new Uint8Array(991));
  sent.length = 0;
  for (let i = 0; i < 20; i++) relay.handle(data, A); // 1,000 bytes each
  assert.equal(sent.length, 10);
  assert.equal(relay.counters.droppedRate, 10);
  clock.advance(500);
  for (let i = 0; i < 20; i++) relay.handle(data, A);
  assert.equal(sent.length, 15);
});

Deno.test("relay: a pairing idle for 20 s (idleMs) ends; its addresses must join again", () => {
  // A link's keepalive crosses every 7 s; 20 s of silence is a dead link
  // (a crashed device's pairings must not hold its origin's share).
  const { clock, relay, sent, join, channelOf } = recordingRelay();
  join(A, TOKEN);
  join(B, TOKEN);
  join(A, TOKEN);
  const data = encodeRelayData(channelOf(A, TOKEN), new Uint8Array([1]));
  clock.advance(19_000);
  relay.handle(data, A); // keeps it alive
  clock.advance(19_000);
  assert.equal(relay.pairings, 1);
  clock.advance(1_000);
  sent.length = 0;
  relay.handle(data, A);
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

Deno.test("relay: a device that joins for 60 contacts at once is challenged once and paired with every one (default bounds)", () => {
  // A device coming online behind a symmetric NAT joins for each contact it
  // cannot punch to, all from one socket. With a cookie per token, it needed
  // 60 challenges at 20 a second; with 32 pairings per origin, 28 contacts
  // stayed at status 1.
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng("many") });
  const relaySocket = network.attach();
  const relay = new RelayServer({
    socket: relaySocket,
    clock,
    randomBytes: rngBytes(seededRng("relay")),
  });
  const device = network.attach();
  const cookies = new RelayCookies();
  const contacts = 60;
  const mine: RelayJoin[] = [];
  const theirs: RelayJoin[] = [];
  for (let n = 0; n < contacts; n++) {
    const token = new Uint8Array(16);
    new DataView(token.buffer).setUint32(0, n + 1);
    const relayAt = relaySocket.localAddress;
    mine.push(
      new RelayJoin({ transport: device, clock, cookies }, {
        token,
        relay: relayAt,
      }),
    );
    const contact = network.attach();
    const join = new RelayJoin({ transport: contact, clock }, {
      token,
      relay: relayAt,
    });
    contact.receive((bytes, from) => join.handle(bytes, from));
    theirs.push(join);
  }
  let challenged = 0;
  device.receive((bytes, from) => {
    if (decodeRelay(bytes)?.kind === RelayKind.CHALLENGE) challenged += 1;
    mine.some((j) => j.handle(bytes, from));
  });
  for (const join of [...mine, ...theirs]) join.start();
  clock.advance(6_000);
  assert.deepEqual(
    [...mine, ...theirs].filter((j) => j.result?.kind !== "punched").length,
    0,
  );
  assert.equal(relay.pairings, contacts);
  // One challenge for the device's socket: its joins share the cookie.
  assert.equal(challenged, 1);
  assert.equal(relay.counters.droppedFull, 0);
  relay.close();
});
