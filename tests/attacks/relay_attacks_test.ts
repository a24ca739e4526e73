/**
 * Attacks on a relay (`RelayServer`): a stranger tries to make it send to a
 * victim (reflection, amplification, a pairing in the victim's name) or to
 * fill its tables.
 */
import assert from "node:assert/strict";
import { recordingRelay } from "../_relay_helpers.ts";
import {
  encodeRelay,
  encodeRelayData,
  RelayKind,
} from "../../lib/channel/_relay_wire.ts";
import { formatAddress } from "../../lib/transport.ts";

const VICTIM = { host: "192.0.2.66", port: 5_060 };
const ATTACKER = { host: "203.0.113.99", port: 40_000 };
const TOKEN = new Uint8Array(16).fill(7);

Deno.test("attack: JOINs spoofed in a victim's name get it no pairing, no forwarded byte, and no more bytes than were spoofed", () => {
  const { clock, relay, sent, join } = recordingRelay();
  const spoofed = encodeRelay({
    kind: RelayKind.JOIN,
    token: TOKEN,
    cookie: new Uint8Array(16),
  });
  let spoofedBytes = 0;
  // The attacker joins from its own address with the token it spoofs too,
  // then sends a flood for the relay to forward "to its peer".
  join(ATTACKER, TOKEN);
  for (let second = 0; second < 10; second++) {
    for (let i = 0; i < 1_000; i++) {
      relay.handle(spoofed, VICTIM);
      spoofedBytes += spoofed.length;
      relay.handle(encodeRelayData(i, new Uint8Array(1_000)), ATTACKER);
    }
    clock.advance(1_000);
  }
  const toVictim = sent.filter((s) =>
    formatAddress(s.to) === formatAddress(VICTIM)
  );
  const victimBytes = toVictim.reduce((n, s) => n + s.bytes.length, 0);
  // Challenges only, each the size of a spoofed JOIN, 20 a second at most.
  assert.ok(toVictim.every((s) => s.bytes[4] === RelayKind.CHALLENGE));
  assert.ok(victimBytes <= spoofedBytes);
  assert.ok(toVictim.length <= 10 * 20, `${toVictim.length} challenges`);
  assert.equal(relay.pairings, 0);
  assert.equal(relay.counters.forwarded, 0);
});

Deno.test("attack: a cookie is bound to the address it was sent to; a stolen one does not pair another address", () => {
  const { relay, sent, join } = recordingRelay();
  join(ATTACKER, TOKEN);
  // The attacker's own cookie, replayed in the victim's name.
  relay.handle(
    encodeRelay({
      kind: RelayKind.JOIN,
      token: TOKEN,
      cookie: new Uint8Array(16),
    }),
    ATTACKER,
  );
  const cookie = sent.at(-1)!.bytes.slice(21, 37);
  relay.handle(
    encodeRelay({ kind: RelayKind.JOIN, token: TOKEN, cookie }),
    VICTIM,
  );
  assert.equal(relay.pairings, 0);
  relay.handle(encodeRelayData(1, new Uint8Array(100)), ATTACKER);
  assert.equal(relay.counters.forwarded, 0);
});

Deno.test("attack: one origin cannot fill the waiting table; other origins still pair", () => {
  const { relay, join } = recordingRelay({ maxWaitingPerOrigin: 8 });
  for (let n = 0; n < 500; n++) {
    const token = new Uint8Array(16);
    new DataView(token.buffer).setUint32(0, n + 1);
    join({ host: ATTACKER.host, port: 1_000 + n }, token);
  }
  // Refused: over the origin's waiting share, or its challenge rate.
  assert.ok(
    relay.counters.droppedFull + relay.counters.droppedChallenges >= 492,
  );
  join({ host: "198.51.100.7", port: 1 }, TOKEN);
  join({ host: "198.51.100.8", port: 1 }, TOKEN);
  assert.equal(relay.pairings, 1);
});
