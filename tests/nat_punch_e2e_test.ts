/**
 * End to end on the simulator: two devices behind Linux-like NATs
 * (endpoint-independent mapping, port-restricted filtering, port kept) learn
 * their public IPs from DHT replies, exchange sealed candidates through the
 * DHT, and punch a UDP hole from their DHT sockets.
 */
import assert from "node:assert/strict";
import { Testnet } from "../lib/testing/testnet.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { forkRng, rngBytes, seededRng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { PunchDemux } from "../lib/channel/punch_demux.ts";
import { HolePunch } from "../lib/channel/hole_punch.ts";
import {
  type LinkCandidates,
  openLinkCandidates,
  sealLinkCandidates,
} from "../lib/channel/link_candidates.ts";

Deno.test("two NATed devices: observed address, sealed candidates through the DHT, punched hole", () => {
  const net = Testnet.create({ nodes: 20, seed: 5 });
  const random = rngBytes(seededRng("keys"));
  const make = (name: string) => {
    const transport = net.network.attach();
    const box = net.network.putBehindNat(transport.hostIndex, {
      kind: "eim-prf",
      rng: seededRng(`nat-${name}`),
      preservePort: true,
    });
    const demux = new PunchDemux(transport);
    const rng = seededRng(name);
    const node = new DhtNode(
      {
        transport: demux.dht,
        clock: net.clock,
        rng,
        randomBytes: rngBytes(forkRng(rng, "bytes")),
      },
      { bootstrap: net.transports.slice(0, 3).map((t) => t.localAddress) },
    );
    const keys = DeviceKeys.generate(random);
    const certificate = DeviceCertificate.issue(
      AccountKeys.generate(random),
      keys,
      { issuedMs: net.clock.now() },
    );
    node.start();
    return {
      transport,
      box,
      demux,
      node,
      keys,
      certificate,
      inbox: InfoHash.get(`candidates for ${name}`),
      punch: undefined as HolePunch | undefined,
    };
  };
  const alice = make("alice");
  const bob = make("bob");
  net.clock.advance(30_000);
  assert.equal(alice.node.observedHost, alice.box.publicHost);
  assert.equal(bob.node.observedHost, bob.box.publicHost);

  const candidatesOf = (
    device: typeof alice,
    token: Uint8Array,
  ): LinkCandidates => ({
    issuedMs: Math.floor(net.clock.now()),
    expiresMs: Math.floor(net.clock.now()) + 120_000,
    token,
    candidates: [{
      host: device.node.observedHost!,
      port: device.transport.localAddress.port,
    }],
  });
  const send = (from: typeof alice, to: typeof alice, set: LinkCandidates) => {
    const sealed = sealLinkCandidates(set, {
      sender: { device: from.keys, certificate: from.certificate },
      recipient: to.certificate,
      randomBytes: random,
    });
    from.node.put(to.inbox, { id: 1n, type: 0, data: sealed });
  };
  const startPunch = (device: typeof alice, set: LinkCandidates) => {
    const punch = new HolePunch(
      { transport: device.transport, clock: net.clock },
      { token: set.token, candidates: set.candidates },
    );
    device.demux.onPunch((bytes, from) => punch.handle(bytes, from));
    device.punch = punch;
    punch.start();
  };
  const receive = (
    device: typeof alice,
    onSet: (set: LinkCandidates) => void,
  ) =>
    device.node.listen(device.inbox, (event) => {
      if (event.kind !== "added") return;
      for (const value of event.values) {
        const opened = openLinkCandidates(value.data, {
          device: device.keys,
          nowMs: net.clock.now(),
        });
        onSet(opened.candidates);
      }
    });
  // Bob answers Alice's set with his own (same token) and starts punching;
  // Alice starts when his arrives.
  receive(bob, (set) => {
    if (bob.punch !== undefined) return;
    send(bob, alice, candidatesOf(bob, set.token));
    startPunch(bob, set);
  });
  receive(alice, (set) => {
    if (alice.punch === undefined) startPunch(alice, set);
  });
  net.clock.advance(5_000);
  send(alice, bob, candidatesOf(alice, random(16)));
  net.clock.advance(20_000);

  const expected = (device: typeof alice): PeerAddress => ({
    host: device.box.publicHost,
    port: device.transport.localAddress.port,
  });
  assert.equal(alice.punch?.result?.kind, "punched");
  assert.equal(bob.punch?.result?.kind, "punched");
  assert.deepEqual(
    alice.punch.result.kind === "punched" && alice.punch.result.address,
    expected(bob),
  );
  assert.deepEqual(
    bob.punch.result.kind === "punched" && bob.punch.result.address,
    expected(alice),
  );
  alice.node.stop();
  bob.node.stop();
  net.stop();
});
