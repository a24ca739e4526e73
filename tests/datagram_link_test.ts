/**
 * The whole link stack over DatagramStreams: a ConnectionManager (secure
 * channel handshake, SIP, PIDF notes, keepalives) whose streams are
 * DatagramStreams on a lossy simulated network, and the same between two
 * devices behind NATs once a HolePunch found the path, everything on the
 * one socket each device has (PunchDemux routes punches and streams).
 */
import assert from "node:assert/strict";
import {
  ConnectionManager,
  endpointOf,
} from "../lib/channel/connection_manager.ts";
import {
  DatagramConnectError,
  DatagramStreams,
} from "../lib/channel/datagram_streams.ts";
import { HolePunch } from "../lib/channel/hole_punch.ts";
import { PunchDemux } from "../lib/channel/punch_demux.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import {
  SimulatedNetwork,
  type SimulatedTransport,
} from "../lib/testing/simulated_network.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { drive } from "./_datagram_pair.ts";

function device(name: string, clock: ManualClock, streams: DatagramStreams) {
  const randomBytes = rngBytes(seededRng(name));
  const account = AccountKeys.generate(randomBytes);
  const keys = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, keys, {
    issuedMs: clock.now(),
  });
  const manager = new ConnectionManager({
    identity: { device: keys, certificate },
    clock,
    randomBytes,
    streams,
    authorize: () => true,
    onChange: () => {},
  });
  return { accountHex: account.id.toString(), certificate, manager };
}

function streamsOn(
  socket: SimulatedTransport,
  clock: ManualClock,
  seed: string,
): DatagramStreams {
  return new DatagramStreams({
    socket,
    clock,
    randomBytes: rngBytes(seededRng(`${seed}/ids`)),
  });
}

Deno.test("DatagramStreams: a ConnectionManager link comes up and carries notes both ways under 10 % loss", async () => {
  const clock = new ManualClock(1_000_000);
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng("link-loss"),
    lossProbability: 0.1,
    jitterMsMax: 20,
  });
  const [a, b] = [network.attach(), network.attach()];
  const aliceStreams = streamsOn(a, clock, "alice");
  const bobStreams = streamsOn(b, clock, "bob");
  a.receive((bytes, from) => aliceStreams.handle(bytes, from));
  b.receive((bytes, from) => bobStreams.handle(bytes, from));
  const alice = device("alice-dgram", clock, aliceStreams);
  const bob = device("bob-dgram", clock, bobStreams);
  await alice.manager.start(0);
  const bobAddress = await bob.manager.start(0);
  assert.deepEqual(bobAddress, b.localAddress);
  alice.manager.publish(true, "alice here");
  bob.manager.publish(true, "bob here");
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await drive(
    clock,
    30_000,
    () =>
      alice.manager.status(bob.accountHex).note === "bob here" &&
      bob.manager.status(alice.accountHex).note === "alice here",
    50,
  );
  assert.deepEqual(alice.manager.status(bob.accountHex), {
    connected: true,
    note: "bob here",
  });
  assert.deepEqual(bob.manager.status(alice.accountHex), {
    connected: true,
    note: "alice here",
  });
  // A change travels as a SIP request over the lossy path.
  bob.manager.publish(true, "in a meeting");
  await drive(
    clock,
    30_000,
    () => alice.manager.status(bob.accountHex).note === "in a meeting",
    50,
  );
  assert.equal(alice.manager.status(bob.accountHex).note, "in a meeting");
  // Idle for a minute: keepalives (and their retransmissions) hold the link.
  await drive(clock, 60_000, () => false, 200);
  assert.equal(alice.manager.linkCount, 1);
  assert.equal(bob.manager.linkCount, 1);
  assert.ok(
    aliceStreams.counters.segmentsRetransmitted +
        bobStreams.counters.segmentsRetransmitted > 0,
  );
  assert.equal(aliceStreams.counters.streamsFailed, 0);
  alice.manager.disconnect(bob.accountHex);
  await drive(clock, 10_000, () => bob.manager.linkCount === 0, 50);
  assert.equal(bob.manager.linkCount, 0);
  alice.manager.stop();
  bob.manager.stop();
  aliceStreams.close();
  bobStreams.close();
});

/** A device behind an eim-prf NAT: one socket for punches and streams. */
function natted(
  network: SimulatedNetwork,
  clock: ManualClock,
  name: string,
  port: number,
) {
  const socket = network.attach({ port });
  network.putBehindNat(socket.hostIndex, {
    kind: "eim-prf",
    rng: seededRng(`nat-${name}`),
  });
  const demux = new PunchDemux(socket);
  const streams = streamsOn(socket, clock, name);
  demux.onStream((bytes, from) => streams.handle(bytes, from));
  return { socket, demux, streams, ...device(`${name}-nat`, clock, streams) };
}

Deno.test("DatagramStreams: behind two eim-prf NATs, a link comes up over the punched path (and not before the punch), and its loss is noticed within 10 s", async () => {
  const clock = new ManualClock(1_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("nat-link") });
  const alice = natted(network, clock, "alice", 4222);
  const bob = natted(network, clock, "bob", 4223);
  // A public reflector tells each its public address (as a DHT peer's `sa` would, with the port).
  const reflector = network.attach();
  const seen = new Map<number, PeerAddress>();
  reflector.receive((bytes, from) => seen.set(bytes[0], from));
  alice.demux.dht.send(reflector.localAddress, new Uint8Array([0]));
  bob.demux.dht.send(reflector.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  const [alicePublic, bobPublic] = [seen.get(0)!, seen.get(1)!];
  assert.notDeepEqual(bobPublic, bob.socket.localAddress);
  await bob.manager.start(0);
  await alice.manager.start(0);

  // Control: Bob's NAT drops a SYN from an address Bob never sent to.
  let failure: unknown;
  alice.streams.connect(bobPublic).catch((error) => failure = error);
  await drive(clock, 5_000, () => failure !== undefined);
  assert.ok(failure instanceof DatagramConnectError);
  assert.equal(failure.reason, "timeout");
  assert.equal(bob.streams.counters.segmentsReceived, 0);

  const token = new Uint8Array(16).fill(5);
  const punchA = new HolePunch({ transport: alice.socket, clock }, {
    token,
    candidates: [bobPublic],
  });
  const punchB = new HolePunch({ transport: bob.socket, clock }, {
    token,
    candidates: [alicePublic],
  });
  alice.demux.onPunch((bytes, from) => punchA.handle(bytes, from));
  bob.demux.onPunch((bytes, from) => punchB.handle(bytes, from));
  punchA.start();
  punchB.start();
  await drive(
    clock,
    10_000,
    () => punchA.result !== undefined && punchB.result !== undefined,
  );
  assert.equal(punchA.result?.kind, "punched");
  const punched = punchA.result.kind === "punched"
    ? punchA.result.address
    : undefined;
  assert.deepEqual(punched, bobPublic);

  alice.manager.publish(true, "through the NAT");
  bob.manager.publish(true, "hello back");
  alice.manager.connect(bob.certificate, [endpointOf(punched!)]);
  await drive(
    clock,
    20_000,
    () =>
      alice.manager.status(bob.accountHex).note === "hello back" &&
      bob.manager.status(alice.accountHex).note === "through the NAT",
    50,
  );
  assert.deepEqual(alice.manager.status(bob.accountHex), {
    connected: true,
    note: "hello back",
  });
  assert.deepEqual(bob.manager.status(alice.accountHex), {
    connected: true,
    note: "through the NAT",
  });
  // Idle for a minute, past the NAT's 30 s mapping timeout: keepalives keep the path open.
  await drive(clock, 60_000, () => false, 200);
  assert.equal(alice.manager.linkCount, 1);
  bob.manager.publish(true, "still here");
  await drive(
    clock,
    5_000,
    () => alice.manager.status(bob.accountHex).note === "still here",
    50,
  );
  assert.equal(alice.manager.status(bob.accountHex).note, "still here");
  // Bob's host goes down: the channel's keepalive notices over datagrams
  // too, as over TCP (deadAfterMs 9.5 s since the last byte).
  network.setHostOnline(bob.socket.hostIndex, false);
  const lost = await drive(
    clock,
    20_000,
    () => !alice.manager.status(bob.accountHex).connected,
    50,
  );
  assert.equal(alice.manager.status(bob.accountHex).connected, false);
  assert.ok(lost >= 4_000 && lost <= 10_000, `link loss after ${lost} ms`);
  alice.manager.stop();
  bob.manager.stop();
  alice.streams.close();
  bob.streams.close();
});
