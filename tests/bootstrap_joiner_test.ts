/**
 * BootstrapJoiner on virtual time: rounds retried with backoff while nobody
 * answers, the backoff reset by an answer, late addresses joined at once,
 * the list bounded, and the DhtNode that joins a network that came up after
 * it started.
 */
import assert from "node:assert/strict";
import {
  BootstrapJoiner,
  MAX_BOOTSTRAP_ADDRESSES,
  MAX_JOIN_RETRY_MS,
} from "../lib/dht/bootstrap_joiner.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { Testnet } from "../lib/testing/testnet.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { seededRng } from "../lib/rng.ts";

const A: PeerAddress = { host: "192.0.2.1", port: 4222 };
const B: PeerAddress = { host: "192.0.2.2", port: 4222 };

/** A joiner whose pings answer when `answering()` says so, after 100 ms. */
function setup(answering: () => boolean, addresses = [A]) {
  const clock = new ManualClock(0);
  const pinged: { atMs: number; address: string }[] = [];
  let joined = false;
  const joiner = new BootstrapJoiner({
    clock,
    ping: (address, onAnswer) => {
      pinged.push({ atMs: clock.now(), address: address.host });
      const ok = answering();
      clock.setTimer(100, () => {
        if (ok) joined = true;
        onAnswer(ok);
      });
    },
    findSelf: (onDone) => onDone(),
    joined: () => joined,
  }, addresses);
  return { clock, joiner, pinged, leave: () => joined = false };
}

Deno.test("BootstrapJoiner: rounds nobody answers are retried after 2, 4 and 8 s, then every 10 s", () => {
  const { clock, joiner, pinged } = setup(() => false);
  joiner.join();
  clock.advance(10 * 60_000);
  const starts = pinged.map((p) => p.atMs);
  const gaps = starts.slice(1).map((at, i) => at - starts[i] - 100);
  assert.deepEqual(gaps.slice(0, 6), [
    2_000,
    4_000,
    8_000,
    MAX_JOIN_RETRY_MS,
    MAX_JOIN_RETRY_MS,
    MAX_JOIN_RETRY_MS,
  ]);
  assert.ok(gaps.every((gap) => gap <= MAX_JOIN_RETRY_MS));
  joiner.stop();
  const count = pinged.length;
  clock.advance(10 * 60_000);
  assert.equal(pinged.length, count, "no round after stop");
});

Deno.test("BootstrapJoiner: an answer ends the retries and the next wait starts over at 2 s", () => {
  let up = false;
  const { clock, joiner, pinged, leave } = setup(() => up);
  joiner.join();
  clock.advance(30_000); // rounds at 0, 2.1, 6.2, 14.3, 24.4 s; the next at 34.5 s
  up = true;
  clock.advance(5_000);
  const answeredAt = pinged.at(-1)!.atMs;
  clock.advance(5 * 60_000);
  assert.equal(pinged.at(-1)!.atMs, answeredAt, "no round once joined");
  // Later the node loses every node, and a round (the maintenance's) fails.
  leave();
  up = false;
  joiner.join();
  const failedAt = clock.now();
  clock.advance(2_500);
  assert.equal(pinged.at(-1)!.atMs, failedAt + 2_100);
  joiner.stop();
});

Deno.test("BootstrapJoiner: an address added while not joined is pinged at once, with the others; duplicates and overflow are left out", () => {
  const { clock, joiner, pinged } = setup(() => false);
  joiner.join();
  clock.advance(1_000); // the first round failed; its retry waits
  assert.equal(joiner.add([B, A, B]), 1);
  assert.deepEqual(
    pinged.filter((p) => p.atMs === clock.now()).map((p) => p.address),
    ["192.0.2.1", "192.0.2.2"],
  );
  const many = Array.from({ length: 100 }, (_, i) => ({
    host: `198.51.100.${i}`,
    port: 4222,
  }));
  assert.equal(joiner.add(many), MAX_BOOTSTRAP_ADDRESSES - 2);
  assert.equal(joiner.addresses.length, MAX_BOOTSTRAP_ADDRESSES);
  assert.equal(joiner.add(many), 0);
  joiner.stop();
  // Not joining (stopped): an address is kept, nothing is pinged.
  const count = pinged.length;
  const idle = setup(() => false);
  assert.equal(idle.joiner.add([B]), 1);
  assert.equal(idle.pinged.length, 0);
  assert.equal(pinged.length, count);
});

Deno.test("DhtNode joins through a bootstrap node that starts 10 s after it, within seconds (not at its next maintenance round)", () => {
  const net = Testnet.create({ nodes: 0, seed: "late bootstrap", settleMs: 0 });
  const lateTransport = net.network.attach();
  const node = new DhtNode(
    { transport: net.network.attach(), clock: net.clock, rng: seededRng("a") },
    { bootstrap: [lateTransport.localAddress] },
  );
  node.start();
  net.run(10_000);
  assert.equal(node.routingTable.size, 0);
  const late = new DhtNode(
    { transport: lateTransport, clock: net.clock, rng: seededRng("b") },
    {},
  );
  late.start();
  // Maintenance rounds come 45 to 75 s apart; the retries every 10 s at most.
  net.run(20_000);
  assert.ok(node.routingTable.get(late.id) !== undefined);
  node.stop();
  late.stop();
  net.stop();
});

Deno.test("DhtNode.addBootstrap() on a node alone joins through the new address at once", () => {
  const net = Testnet.create({
    nodes: 3,
    seed: "added bootstrap",
    settleMs: 10_000,
  });
  const node = new DhtNode(
    { transport: net.network.attach(), clock: net.clock, rng: seededRng("c") },
    {},
  );
  node.start();
  net.run(5_000);
  assert.equal(node.routingTable.size, 0);
  assert.equal(node.addBootstrap([net.transports[0].localAddress]), 1);
  assert.equal(node.addBootstrap([net.transports[0].localAddress]), 0);
  net.run(2_000);
  assert.ok(node.routingTable.size >= 3, `${node.routingTable.size} nodes`);
  node.stop();
  net.stop();
});
