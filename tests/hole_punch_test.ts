import assert from "node:assert/strict";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { seededRng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import {
  SimulatedNetwork,
  type SimulatedTransport,
} from "../lib/testing/simulated_network.ts";
import type { NatKind } from "../lib/testing/nat_box.ts";
import { HolePunch, HolePunchTokenError } from "../lib/channel/hole_punch.ts";

const TOKEN = new Uint8Array(16).fill(9);

/**
 * Alice and Bob behind NATs of the given kinds, a public reflector that
 * echoes each datagram's source (as a DHT peer's `sa` plus port would);
 * returns each one's public address as the reflector saw it.
 */
function setup(kindA: NatKind, kindB: NatKind, preservePort = false) {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng(11) });
  const [alice, bob, reflector] = [
    network.attach(),
    network.attach({ port: 4223 }),
    network.attach(),
  ];
  network.putBehindNat(alice.hostIndex, {
    kind: kindA,
    rng: seededRng(1),
    preservePort,
  });
  network.putBehindNat(bob.hostIndex, {
    kind: kindB,
    rng: seededRng(2),
    preservePort,
  });
  const seen = new Map<number, PeerAddress>();
  reflector.receive((bytes, from) => seen.set(bytes[0], from));
  alice.send(reflector.localAddress, new Uint8Array([0]));
  bob.send(reflector.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  return {
    clock,
    network,
    alice,
    bob,
    alicePublic: seen.get(0)!,
    bobPublic: seen.get(1)!,
  };
}

function punch(
  clock: ManualClock,
  transport: SimulatedTransport,
  candidates: PeerAddress[],
  token = TOKEN,
): HolePunch {
  const hole = new HolePunch({ transport, clock }, { token, candidates });
  transport.receive((bytes, from) => hole.handle(bytes, from));
  return hole;
}

Deno.test("hole punch: two eim-prf NATs, both start together: both punched, to each other's public address", () => {
  const { clock, alice, bob, alicePublic, bobPublic } = setup(
    "eim-prf",
    "eim-prf",
  );
  const a = punch(clock, alice, [bob.localAddress, bobPublic]);
  const b = punch(clock, bob, [alice.localAddress, alicePublic]);
  const start = clock.now();
  a.start();
  b.start();
  clock.runUntilIdle();
  assert.equal(a.result?.kind, "punched");
  assert.equal(b.result?.kind, "punched");
  assert.deepEqual(a.result?.kind === "punched" && a.result.address, bobPublic);
  assert.deepEqual(
    b.result?.kind === "punched" && b.result.address,
    alicePublic,
  );
  // Within the first rounds, not by luck at the end.
  assert.ok(a.result!.atMs - start < 1_000);
});

Deno.test("hole punch: the peer starts 2 s late; the retries carry it", () => {
  const { clock, alice, bob, alicePublic, bobPublic } = setup(
    "eim-prf",
    "eim-prf",
  );
  const a = punch(clock, alice, [bobPublic]);
  const b = punch(clock, bob, [alicePublic]);
  a.start();
  clock.setTimer(2_000, () => b.start());
  clock.runUntilIdle();
  assert.equal(a.result?.kind, "punched");
  assert.equal(b.result?.kind, "punched");
});

Deno.test("hole punch: port-preserving NATs (Linux masquerade): the observed IP and our own port suffice", () => {
  const { clock, alice, bob, alicePublic, bobPublic } = setup(
    "eim-prf",
    "eim-prf",
    true,
  );
  assert.equal(alicePublic.port, alice.localAddress.port);
  const a = punch(clock, alice, [{
    host: bobPublic.host,
    port: bob.localAddress.port,
  }]);
  const b = punch(clock, bob, [{
    host: alicePublic.host,
    port: alice.localAddress.port,
  }]);
  a.start();
  b.start();
  clock.runUntilIdle();
  assert.equal(a.result?.kind, "punched");
  assert.equal(b.result?.kind, "punched");
});

Deno.test("hole punch: symmetric on both sides fails after its rounds", () => {
  const { clock, alice, bob, alicePublic, bobPublic } = setup(
    "symmetric",
    "symmetric",
  );
  const a = punch(clock, alice, [bobPublic]);
  const b = punch(clock, bob, [alicePublic]);
  a.start();
  b.start();
  clock.runUntilIdle();
  assert.equal(a.result?.kind, "failed");
  assert.equal(b.result?.kind, "failed");
});

Deno.test("hole punch: symmetric against full-cone works on both sides (the cone side accepts the new port, and its probe ends its punch)", () => {
  const { clock, alice, bob, alicePublic, bobPublic } = setup(
    "symmetric",
    "full-cone",
  );
  const a = punch(clock, alice, [bobPublic]);
  const b = punch(clock, bob, [alicePublic]);
  a.start();
  b.start();
  clock.runUntilIdle();
  assert.equal(a.result?.kind, "punched");
  // The cone side never gets an ack (its probes go to a port the symmetric
  // NAT did not map for it), but Alice's probe reached it: it is punched at
  // her mapping towards it, not at her announced address.
  assert.equal(b.result?.kind, "punched");
  if (b.result?.kind !== "punched") return;
  assert.equal(b.result.address.host, alicePublic.host);
  assert.notEqual(b.result.address.port, alicePublic.port);
});

Deno.test("hole punch: probes with another token are ignored", () => {
  const { clock, alice, bob, alicePublic, bobPublic } = setup(
    "full-cone",
    "full-cone",
  );
  const a = punch(clock, alice, [bobPublic]);
  const b = punch(clock, bob, [alicePublic], new Uint8Array(16).fill(1));
  a.start();
  b.start();
  clock.runUntilIdle();
  assert.equal(a.result?.kind, "failed");
  assert.equal(b.result?.kind, "failed");
});

Deno.test("hole punch: a token of the wrong length is refused", () => {
  const clock = new ManualClock(0);
  assert.throws(
    () =>
      new HolePunch({ transport: { send() {} }, clock }, {
        token: new Uint8Array(3),
        candidates: [],
      }),
    HolePunchTokenError,
  );
});
