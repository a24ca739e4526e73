import assert from "node:assert/strict";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { seededRng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import {
  SimulatedNetwork,
  type SimulatedTransport,
} from "../lib/testing/simulated_network.ts";
import { NatBox, type NatKind } from "../lib/testing/nat_box.ts";
import { SimulatedStreamNetwork } from "../sim/stream_network.ts";

/** Hosts 0..count-1 on a jitter-free 20 ms network; `inbox[i]` logs what i received. */
function setup(count: number) {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng(7),
    latency: { oneWayMs: () => 20 },
    jitterMsMax: 0,
  });
  const hosts: SimulatedTransport[] = [];
  const inbox: { from: PeerAddress; byte: number }[][] = [];
  for (let i = 0; i < count; i++) {
    const host = network.attach();
    const log: { from: PeerAddress; byte: number }[] = [];
    host.receive((bytes, from) => log.push({ from, byte: bytes[0] }));
    hosts.push(host);
    inbox.push(log);
  }
  return { clock, network, hosts, inbox };
}

function nat(
  network: SimulatedNetwork,
  host: SimulatedTransport,
  kind: NatKind,
) {
  return network.putBehindNat(host.hostIndex, {
    kind,
    rng: seededRng(`nat-${host.hostIndex}`),
  });
}

Deno.test("eim-prf: replies pass, an unsolicited peer is dropped even once a mapping exists", () => {
  const { clock, network, hosts: [device, server, stranger], inbox } = setup(3);
  nat(network, device, "eim-prf");
  device.send(server.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  const seen = inbox[1][0].from;
  assert.match(seen.host, /^100\.64\./);
  server.send(seen, new Uint8Array([2]));
  stranger.send(seen, new Uint8Array([3]));
  clock.runUntilIdle();
  assert.deepEqual(inbox[0].map((entry) => entry.byte), [2]);
  assert.deepEqual(inbox[0][0].from, server.localAddress);
  assert.deepEqual(network.natDrops(), { unroutable: 0, filtered: 1 });
});

Deno.test("eim-prf: the same public port for every destination", () => {
  const { clock, network, hosts: [device, a, b], inbox } = setup(3);
  nat(network, device, "eim-prf");
  device.send(a.localAddress, new Uint8Array([1]));
  device.send(b.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  assert.deepEqual(inbox[1][0].from, inbox[2][0].from);
});

Deno.test("full-cone: an unsolicited peer gets through once a mapping exists, not before", () => {
  const { clock, network, hosts: [device, server, stranger], inbox } = setup(3);
  const box = nat(network, device, "full-cone");
  stranger.send({ host: box.publicHost, port: 4222 }, new Uint8Array([9]));
  clock.runUntilIdle();
  assert.equal(inbox[0].length, 0);
  device.send(server.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  stranger.send(inbox[1][0].from, new Uint8Array([3]));
  clock.runUntilIdle();
  assert.deepEqual(inbox[0].map((entry) => entry.byte), [3]);
});

Deno.test("symmetric: a different public port per destination; replies pass only from that destination", () => {
  const { clock, network, hosts: [device, a, b], inbox } = setup(3);
  nat(network, device, "symmetric");
  device.send(a.localAddress, new Uint8Array([1]));
  device.send(b.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  const toA = inbox[1][0].from;
  const toB = inbox[2][0].from;
  assert.equal(toA.host, toB.host);
  assert.notEqual(toA.port, toB.port);
  // b learned device's port towards a (as a DHT peer would): filtered.
  b.send(toA, new Uint8Array([5]));
  a.send(toA, new Uint8Array([6]));
  clock.runUntilIdle();
  assert.deepEqual(inbox[0].map((entry) => entry.byte), [6]);
  assert.equal(network.natDrops().filtered, 1);
});

Deno.test("a mapping expires after the timeout without traffic; traffic in keeps it", () => {
  const { clock, network, hosts: [device, server], inbox } = setup(2);
  nat(network, device, "eim-prf");
  device.send(server.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  const mapped = inbox[1][0].from;
  // Pushes every 20 s keep it alive past 30 s (conntrack refreshes both ways).
  for (let k = 0; k < 4; k++) {
    clock.advance(20_000);
    server.send(mapped, new Uint8Array([10 + k]));
    clock.runUntilIdle();
  }
  assert.equal(inbox[0].length, 4);
  clock.advance(30_000);
  server.send(mapped, new Uint8Array([99]));
  clock.runUntilIdle();
  assert.equal(inbox[0].length, 4);
  // The next datagram out opens a new mapping.
  device.send(server.localAddress, new Uint8Array([2]));
  clock.runUntilIdle();
  assert.notDeepEqual(inbox[1][1].from, mapped);
});

Deno.test("simultaneous open: two eim-prf devices that learned each other's public address reach each other", () => {
  const { clock, network, hosts: [alice, bob, server], inbox } = setup(3);
  nat(network, alice, "eim-prf");
  nat(network, bob, "eim-prf");
  alice.send(server.localAddress, new Uint8Array([1]));
  bob.send(server.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  const [alicePublic, bobPublic] = [inbox[2][0].from, inbox[2][1].from];
  // Alice alone: Bob's NAT filters her (no permission yet).
  alice.send(bobPublic, new Uint8Array([2]));
  clock.runUntilIdle();
  assert.equal(inbox[1].length, 0);
  // Both at once: each one's datagram opens the permission the other's needs.
  alice.send(bobPublic, new Uint8Array([3]));
  bob.send(alicePublic, new Uint8Array([4]));
  clock.runUntilIdle();
  assert.deepEqual(inbox[1].map((entry) => entry.byte), [3]);
  assert.deepEqual(inbox[0].map((entry) => entry.byte), [4]);
});

Deno.test("symmetric on both sides: the public address seen by a third host does not open a hole", () => {
  const { clock, network, hosts: [alice, bob, server], inbox } = setup(3);
  nat(network, alice, "symmetric");
  nat(network, bob, "symmetric");
  alice.send(server.localAddress, new Uint8Array([1]));
  bob.send(server.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  const [alicePublic, bobPublic] = [inbox[2][0].from, inbox[2][1].from];
  alice.send(bobPublic, new Uint8Array([3]));
  bob.send(alicePublic, new Uint8Array([4]));
  clock.runUntilIdle();
  assert.equal(inbox[0].length + inbox[1].length, 0);
});

Deno.test("a NATed host's private address is unroutable from outside", () => {
  const { clock, network, hosts: [device, server], inbox } = setup(2);
  nat(network, device, "full-cone");
  server.send(device.localAddress, new Uint8Array([1]));
  clock.runUntilIdle();
  assert.equal(inbox[0].length, 0);
  assert.equal(network.natDrops().unroutable, 1);
});

Deno.test("ports come from the rng: the same seed, the same ports", () => {
  const ports = (seed: number) => {
    const box = new NatBox({
      kind: "symmetric",
      publicHost: "100.64.0.1",
      rng: seededRng(seed),
    });
    return [1, 2, 3].map((n) => box.outbound(0, `192.0.2.${n}:1`));
  };
  assert.deepEqual(ports(3), ports(3));
  assert.notDeepEqual(ports(3), ports(4));
});

Deno.test("the permission table is bounded", () => {
  const box = new NatBox({
    kind: "eim-prf",
    publicHost: "100.64.0.1",
    rng: seededRng(1),
    maxEntries: 8,
  });
  for (let n = 0; n < 100; n++) box.outbound(n, `192.0.2.${n}:1`);
  assert.ok(box.stats(100).liveMappings <= 1);
  // A recent permission is kept or the mapping was renewed; either way no growth past the cap.
  const port = box.outbound(100, "192.0.2.200:1");
  assert.equal(box.inbound(101, port, "192.0.2.200:1"), true);
  assert.equal(box.inbound(101, port, "192.0.2.3:1"), false);
});

Deno.test("streams: a connect to a NATed host times out; its own connects go through", async () => {
  const { clock, network, hosts: [device, server] } = setup(2);
  nat(network, device, "full-cone");
  const streams = new SimulatedStreamNetwork(network, clock);
  const deviceListener = await streams.host(device.hostIndex).listen(
    0,
    () => {},
  );
  const serverListener = await streams.host(server.hostIndex).listen(
    0,
    () => {},
  );
  const inbound = streams.host(server.hostIndex).connect(
    deviceListener.localAddress,
  );
  const failed = inbound.then(() => "connected", (error) => error.reason);
  const outbound = streams.host(device.hostIndex).connect(
    serverListener.localAddress,
  );
  clock.runUntilIdle();
  assert.equal(await failed, "timeout");
  assert.ok(await outbound);
});
