import assert from "node:assert/strict";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { forkRng, randomInt, type Rng, seededRng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import {
  CoordinateLatency,
  type LatencyModel,
} from "../lib/testing/latency.ts";
import { Samples } from "../sim/metrics.ts";
import {
  SimulatedNetwork,
  type SimulatedNetworkOptions,
  type SimulatedTransport,
} from "../lib/testing/simulated_network.ts";

/** A network of `hostCount` hosts at time 0; `received` logs deliveries per host. */
function makeNetwork(
  hostCount: number,
  options: Partial<SimulatedNetworkOptions> = {},
): {
  clock: ManualClock;
  network: SimulatedNetwork;
  hosts: SimulatedTransport[];
  received: Array<
    Array<{ atMs: number; from: PeerAddress; bytes: Uint8Array }>
  >;
} {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng(1),
    ...options,
  });
  const hosts: SimulatedTransport[] = [];
  const received: Array<
    Array<{ atMs: number; from: PeerAddress; bytes: Uint8Array }>
  > = [];
  for (let index = 0; index < hostCount; index++) {
    const host = network.attach();
    const log: Array<{ atMs: number; from: PeerAddress; bytes: Uint8Array }> =
      [];
    host.receive((bytes, from) => log.push({ atMs: clock.now(), from, bytes }));
    hosts.push(host);
    received.push(log);
  }
  return { clock, network, hosts, received };
}

const CONSTANT_10_MS: LatencyModel = { oneWayMs: () => 10 };

Deno.test("SimulatedNetwork delivers after exactly the model's latency without jitter", () => {
  const latency = new CoordinateLatency(seededRng(5));
  const { clock, hosts, received } = makeNetwork(20, {
    latency,
    jitterMsMax: 0,
  });
  clock.advance(1_000);
  for (let target = 1; target < 20; target++) {
    hosts[0].send(hosts[target].localAddress, new Uint8Array([target]));
  }
  clock.runUntilIdle();
  for (let target = 1; target < 20; target++) {
    assert.equal(received[target].length, 1);
    assert.equal(
      received[target][0].atMs,
      1_000 + latency.oneWayMs(0, target),
    );
  }
});

Deno.test('SimulatedNetwork adds jitter drawn from forkRng(rng, "jitter") times jitterMsMax', () => {
  // Goal: delivery times are exactly latency + jitter, reproducible from the seed.
  // Method: rebuild the documented jitter stream and predict every delivery.
  const seed = 77;
  const clock = new ManualClock(0);
  const latency = new CoordinateLatency(seededRng(6));
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng(seed),
    latency,
    jitterMsMax: 3,
  });
  const parent = seededRng(seed);
  forkRng(parent, "latency");
  forkRng(parent, "loss");
  const jitter = forkRng(parent, "jitter");
  const [a, b] = [network.attach(), network.attach()];
  const deliveredAtMs: number[] = [];
  b.receive(() => deliveredAtMs.push(clock.now()));
  const expectedMs: number[] = [];
  for (let index = 0; index < 50; index++) {
    a.send(b.localAddress, new Uint8Array([index]));
    const jitterMs = jitter() * 3;
    assert.ok(jitterMs >= 0 && jitterMs < 3);
    expectedMs.push(clock.now() + latency.oneWayMs(0, 1) + jitterMs);
    clock.advance(1);
  }
  clock.runUntilIdle();
  assert.deepEqual(deliveredAtMs, expectedMs.toSorted((x, y) => x - y));
});

Deno.test("SimulatedNetwork delivers equal due times in send order", () => {
  const { clock, hosts, received } = makeNetwork(2, {
    latency: CONSTANT_10_MS,
    jitterMsMax: 0,
  });
  for (let index = 0; index < 100; index++) {
    hosts[0].send(hosts[1].localAddress, new Uint8Array([index]));
  }
  clock.runUntilIdle();
  assert.deepEqual(
    received[1].map((entry) => entry.bytes[0]),
    Array.from({ length: 100 }, (_, index) => index),
  );
  assert.ok(received[1].every((entry) => entry.atMs === 10));
});

Deno.test("CoordinateLatency gives each pair a stable, symmetric latency", () => {
  const latency = new CoordinateLatency(seededRng(8));
  const rng = seededRng(9);
  for (let trial = 0; trial < 1_000; trial++) {
    const source = randomInt(rng, 500);
    const target = randomInt(rng, 500);
    const oneWay = latency.oneWayMs(source, target);
    assert.equal(latency.oneWayMs(source, target), oneWay);
    assert.equal(latency.oneWayMs(target, source), oneWay);
  }
  // Hosts placed in a different query order land at the same coordinates.
  const other = new CoordinateLatency(seededRng(8));
  assert.equal(other.oneWayMs(499, 3), latency.oneWayMs(3, 499));
});

Deno.test("SimulatedNetwork round trips are twice the one-way latency without jitter", () => {
  const latency = new CoordinateLatency(seededRng(10));
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng(1),
    latency,
    jitterMsMax: 0,
  });
  const [client, server] = [network.attach(), network.attach()];
  server.receive((bytes, from) => server.send(from, bytes));
  let roundTripMs = -1;
  client.receive(() => roundTripMs = clock.now());
  client.send(server.localAddress, new Uint8Array(1));
  clock.runUntilIdle();
  assert.equal(roundTripMs, 2 * latency.oneWayMs(0, 1));
});

Deno.test("CoordinateLatency percentiles over 10,000 hosts fall in the documented bands", () => {
  // Goal: the default model looks like the Internet: median near 50 ms,
  // p10 in 15–25 ms, p90 in 100–150 ms, bounds 1 and 500 ms.
  // Method: 100,000 random pairs among 10,000 seeded hosts.
  for (const seed of [1, 2, 3]) {
    const latency = new CoordinateLatency(seededRng(seed));
    const pairs = seededRng(seed + 100);
    const samples = new Samples();
    for (let trial = 0; trial < 100_000; trial++) {
      samples.add(
        latency.oneWayMs(randomInt(pairs, 10_000), randomInt(pairs, 10_000)),
      );
    }
    const summary = samples.summary();
    const p10 = samples.percentile(10);
    assert.ok(p10 >= 15 && p10 <= 25, `p10 ${p10}`);
    assert.ok(summary.p50 >= 45 && summary.p50 <= 55, `p50 ${summary.p50}`);
    assert.ok(summary.p90 >= 100 && summary.p90 <= 150, `p90 ${summary.p90}`);
    assert.ok(summary.min >= 1);
    assert.ok(summary.max <= 500);
    assert.equal(latency.placedHostCount, 10_000);
  }
});

Deno.test("CoordinateLatency honours medianOneWayMs and clamps to the bounds", () => {
  const latency = new CoordinateLatency(seededRng(4), {
    medianOneWayMs: 100,
    minOneWayMs: 30,
    maxOneWayMs: 200,
  });
  const pairs = seededRng(5);
  const samples = new Samples();
  for (let trial = 0; trial < 20_000; trial++) {
    samples.add(
      latency.oneWayMs(randomInt(pairs, 2_000), randomInt(pairs, 2_000)),
    );
  }
  const median = samples.percentile(50);
  assert.ok(median >= 90 && median <= 110, `median ${median}`);
  assert.equal(samples.summary().min, 30);
  assert.equal(samples.summary().max, 200);
});

Deno.test("CoordinateLatency rejects bad options and host indexes", () => {
  const rng = seededRng(1);
  for (
    const options of [
      { medianOneWayMs: 0 },
      { medianOneWayMs: NaN },
      { spread: -1 },
      { accessDelayMedianMs: 0 },
      { minOneWayMs: 10, maxOneWayMs: 5 },
      { medianOneWayMs: 3 }, // Below twice the mean access delay.
    ]
  ) {
    assert.throws(
      () => new CoordinateLatency(rng, options),
      RangeError,
      JSON.stringify(options),
    );
  }
  const latency = new CoordinateLatency(rng);
  for (const index of [-1, 1.5, NaN, 0xff_ff_fe]) {
    assert.throws(() => latency.oneWayMs(0, index), RangeError);
    assert.throws(() => latency.oneWayMs(index, 0), RangeError);
  }
});

Deno.test("SimulatedNetwork with loss 0 delivers every datagram", () => {
  const { clock, network, hosts, received } = makeNetwork(10);
  const rng = seededRng(3);
  for (let index = 0; index < 1_000; index++) {
    hosts[randomInt(rng, 10)].send(
      hosts[randomInt(rng, 10)].localAddress,
      new Uint8Array(8),
    );
  }
  clock.runUntilIdle();
  assert.equal(received.reduce((sum, log) => sum + log.length, 0), 1_000);
  assert.deepEqual(network.stats().drops, {
    loss: 0,
    partition: 0,
    offline: 0,
    oversize: 0,
  });
});

Deno.test("SimulatedNetwork with loss 1 drops every datagram as loss", () => {
  const { clock, network, hosts, received } = makeNetwork(2, {
    lossProbability: 1,
  });
  for (let index = 0; index < 100; index++) {
    hosts[0].send(hosts[1].localAddress, new Uint8Array(8));
  }
  assert.equal(network.stats().inFlight, 0);
  clock.runUntilIdle();
  assert.equal(received[1].length, 0);
  assert.equal(network.stats().drops.loss, 100);
  assert.equal(network.stats().messagesSent, 100);
});

Deno.test("SimulatedNetwork loses about lossProbability of datagrams", () => {
  const { clock, network, hosts } = makeNetwork(2, { lossProbability: 0.25 });
  for (let index = 0; index < 10_000; index++) {
    hosts[0].send(hosts[1].localAddress, new Uint8Array(1));
  }
  clock.runUntilIdle();
  const lost = network.stats().drops.loss;
  assert.ok(lost > 2_300 && lost < 2_700, `lost ${lost}`);
});

Deno.test("SimulatedNetwork.setLinkLoss() overrides one direction, undefined restores", () => {
  const { clock, network, hosts, received } = makeNetwork(3);
  network.setLinkLoss(0, 1, 1);
  hosts[0].send(hosts[1].localAddress, new Uint8Array(1)); // Lost.
  hosts[1].send(hosts[0].localAddress, new Uint8Array(1)); // Reverse: delivered.
  hosts[0].send(hosts[2].localAddress, new Uint8Array(1)); // Other link: delivered.
  clock.runUntilIdle();
  assert.equal(network.stats().drops.loss, 1);
  assert.deepEqual(received.map((log) => log.length), [1, 0, 1]);
  network.setLinkLoss(0, 1, undefined);
  hosts[0].send(hosts[1].localAddress, new Uint8Array(1));
  clock.runUntilIdle();
  assert.equal(received[1].length, 1);

  // A lossless link on a lossy network.
  const lossy = makeNetwork(2, { lossProbability: 1 });
  lossy.network.setLinkLoss(0, 1, 0);
  lossy.hosts[0].send(lossy.hosts[1].localAddress, new Uint8Array(1));
  lossy.clock.runUntilIdle();
  assert.equal(lossy.received[1].length, 1);

  assert.throws(() => network.setLinkLoss(0, 1, 1.5), RangeError);
  assert.throws(() => network.setLinkLoss(0, 1, NaN), RangeError);
  assert.throws(() => network.setLinkLoss(0, 3, 0.5), RangeError);
});

Deno.test("SimulatedNetwork.partition() separates groups, unlisted hosts share one, heal() reunites", () => {
  const { clock, network, hosts, received } = makeNetwork(5);
  network.partition([[0, 1], [2]]);
  const send = (source: number, target: number): void =>
    hosts[source].send(hosts[target].localAddress, new Uint8Array([source]));
  send(0, 1); // Same group.
  send(0, 2); // Across: dropped.
  send(2, 3); // Across: dropped.
  send(3, 4); // Both unlisted.
  clock.runUntilIdle();
  assert.deepEqual(received.map((log) => log.length), [0, 1, 0, 0, 1]);
  assert.equal(network.stats().drops.partition, 2);

  network.heal();
  send(0, 2);
  send(2, 3);
  clock.runUntilIdle();
  assert.deepEqual(received.map((log) => log.length), [0, 1, 1, 1, 1]);
  assert.equal(network.stats().drops.partition, 2);
});

Deno.test("SimulatedNetwork.partition() cuts datagrams in flight and covers later hosts", () => {
  const { clock, network, hosts, received } = makeNetwork(2, {
    latency: CONSTANT_10_MS,
  });
  hosts[0].send(hosts[1].localAddress, new Uint8Array(1));
  clock.advance(5);
  network.partition([[0]]);
  clock.runUntilIdle();
  assert.equal(received[1].length, 0);
  assert.equal(network.stats().drops.partition, 1);

  const late = network.attach(); // Joins the unlisted group with host 1.
  let lateReceived = 0;
  late.receive(() => lateReceived++);
  hosts[1].send(late.localAddress, new Uint8Array(1));
  hosts[0].send(late.localAddress, new Uint8Array(1));
  clock.runUntilIdle();
  assert.equal(lateReceived, 1);
  assert.equal(network.stats().drops.partition, 2);
});

Deno.test("SimulatedNetwork.partition() rejects unknown and repeated hosts", () => {
  const { network } = makeNetwork(3);
  assert.throws(() => network.partition([[0, 1], [1]]), RangeError, "twice");
  assert.throws(() => network.partition([[0], [7]]), RangeError, "7");
  assert.throws(() => network.partition([[-1]]), RangeError);
});

Deno.test("SimulatedNetwork checks the target's state at delivery, not at send", () => {
  const { clock, network, hosts, received } = makeNetwork(2, {
    latency: CONSTANT_10_MS,
  });
  // Down at delivery: dropped.
  hosts[0].send(hosts[1].localAddress, new Uint8Array([1]));
  clock.advance(5);
  network.setHostOnline(1, false);
  clock.advance(10);
  assert.equal(network.stats().drops.offline, 1);
  // Down at send, up again at delivery: delivered.
  hosts[0].send(hosts[1].localAddress, new Uint8Array([2]));
  clock.advance(5);
  network.setHostOnline(1, true);
  clock.advance(10);
  assert.deepEqual(received[1].map((entry) => entry.bytes[0]), [2]);
  assert.equal(network.stats().drops.offline, 1);
});

Deno.test("SimulatedNetwork drops as offline: closed targets, down or closed sources, unknown addresses", async () => {
  const { clock, network, hosts, received } = makeNetwork(3);
  hosts[0].send(hosts[1].localAddress, new Uint8Array(1));
  await hosts[1].close();
  await hosts[1].close(); // Idempotent.
  clock.runUntilIdle();
  assert.equal(network.stats().drops.offline, 1);

  network.setHostOnline(2, false);
  hosts[2].send(hosts[0].localAddress, new Uint8Array(1));
  hosts[1].send(hosts[0].localAddress, new Uint8Array(1));
  hosts[0].send({ host: "192.0.2.1", port: 4222 }, new Uint8Array(1));
  assert.equal(network.stats().inFlight, 0);
  clock.runUntilIdle();
  assert.equal(network.stats().drops.offline, 4);
  assert.equal(received[0].length, 0);
  assert.equal(network.isHostOnline(1), false);
  assert.equal(network.isHostOnline(2), false);
  assert.equal(network.stats().onlineHostCount, 1);
});

Deno.test("SimulatedNetwork drops payloads over 65,507 bytes as oversize", () => {
  const { clock, network, hosts, received } = makeNetwork(2);
  hosts[0].send(hosts[1].localAddress, new Uint8Array(65_508));
  hosts[0].send(hosts[1].localAddress, new Uint8Array(65_507));
  clock.runUntilIdle();
  assert.equal(network.stats().drops.oversize, 1);
  assert.equal(received[1].length, 1);
  assert.equal(received[1][0].bytes.length, 65_507);
});

Deno.test("SimulatedNetwork copies the payload at send time", () => {
  const { clock, hosts, received } = makeNetwork(2);
  const bytes = new Uint8Array([1, 2, 3]);
  hosts[0].send(hosts[1].localAddress, bytes);
  bytes[0] = 99;
  clock.runUntilIdle();
  assert.deepEqual(received[1][0].bytes, new Uint8Array([1, 2, 3]));
  assert.notEqual(received[1][0].bytes.buffer, bytes.buffer);
});

Deno.test("SimulatedNetwork resolves addresses by value and names senders by their address", () => {
  const { clock, network, hosts, received } = makeNetwork(3);
  hosts[2].send({ host: "10.0.0.1", port: 4222 }, new Uint8Array(1));
  clock.runUntilIdle();
  assert.equal(received[0].length, 1);
  assert.equal(received[0][0].from, hosts[2].localAddress);
  assert.deepEqual(received[0][0].from, { host: "10.0.0.3", port: 4222 });
  assert.equal(network.hostIndexOf({ host: "10.0.0.3", port: 4222 }), 2);
  assert.equal(network.addressOf(2), hosts[2].localAddress);
});

Deno.test("SimulatedNetwork.attach() derives 10.x.y.z addresses from the index", () => {
  const { network } = makeNetwork(0);
  const addresses = Array.from(
    { length: 300 },
    () => network.attach().localAddress.host,
  );
  assert.equal(addresses[0], "10.0.0.1");
  assert.equal(addresses[253], "10.0.0.254");
  assert.equal(addresses[254], "10.0.0.255");
  assert.equal(addresses[255], "10.0.1.0");
  assert.equal(addresses[299], "10.0.1.44");
  assert.equal(network.attach({ host: "::1", port: 9 }).hostIndex, 300);
  assert.equal(network.hostIndexOf({ host: "::1", port: 9 }), 300);
  assert.equal(network.hostStats(300).address, "[::1]:9");
});

Deno.test("SimulatedNetwork.attach() again after close keeps the host index and its latency", async () => {
  const latency = new CoordinateLatency(seededRng(12));
  const { clock, network, hosts } = makeNetwork(3, {
    latency,
    jitterMsMax: 0,
  });
  const old = hosts[1];
  await old.close();
  const again = network.attach(old.localAddress);
  assert.equal(again.hostIndex, 1);
  assert.deepEqual(again.localAddress, old.localAddress);
  assert.equal(network.hostCount, 3);
  assert.equal(network.isHostOnline(1), true);

  const arrivals: number[] = [];
  again.receive(() => arrivals.push(clock.now()));
  hosts[0].send(again.localAddress, new Uint8Array(1));
  old.send(hosts[0].localAddress, new Uint8Array(1)); // Old transport: dropped.
  await old.close(); // Must not close the new transport.
  clock.runUntilIdle();
  assert.deepEqual(arrivals, [latency.oneWayMs(0, 1)]);
  assert.equal(network.stats().drops.offline, 1);
  assert.equal(network.isHostOnline(1), true);
});

Deno.test("SimulatedNetwork.attach() rejects addresses in use and bad input", async () => {
  const { network, hosts } = makeNetwork(2);
  assert.throws(
    () => network.attach(hosts[0].localAddress),
    Error,
    "already attached",
  );
  // An explicit address may take the one a later index would derive.
  network.attach({ host: "10.0.0.4" });
  assert.throws(() => network.attach(), Error, "derived address");
  for (const port of [0, -1, 65_536, 1.5]) {
    assert.throws(() => network.attach({ port }), RangeError, String(port));
  }
  assert.throws(() => network.attach({ host: "" }), TypeError);
  // A host that was down comes back up when re-attached.
  network.setHostOnline(0, false);
  await hosts[0].close();
  network.attach(hosts[0].localAddress);
  assert.equal(network.isHostOnline(0), true);
});

Deno.test("SimulatedNetwork rejects bad options and unknown host indexes", () => {
  const clock = new ManualClock(0);
  for (
    const options of [
      { lossProbability: -0.1 },
      { lossProbability: 2 },
      { jitterMsMax: -1 },
      { jitterMsMax: Infinity },
    ]
  ) {
    assert.throws(
      () => new SimulatedNetwork({ clock, rng: seededRng(1), ...options }),
      RangeError,
    );
  }
  const { network } = makeNetwork(2);
  for (const index of [-1, 2, 0.5, NaN]) {
    assert.throws(() => network.setHostOnline(index, false), RangeError);
    assert.throws(() => network.hostStats(index), RangeError);
    assert.throws(() => network.isHostOnline(index), RangeError);
    assert.throws(() => network.addressOf(index), RangeError);
  }
});

Deno.test("SimulatedNetwork counts per host and in total, and accounts for every datagram", () => {
  const { clock, network, hosts } = makeNetwork(4, { lossProbability: 0.2 });
  const rng = seededRng(2);
  let bytesSent = 0;
  for (let index = 0; index < 500; index++) {
    const length = randomInt(rng, 100);
    bytesSent += length;
    hosts[randomInt(rng, 4)].send(
      hosts[randomInt(rng, 4)].localAddress,
      new Uint8Array(length),
    );
    if (index % 50 === 0) network.setHostOnline(3, index % 100 === 0);
    clock.advance(randomInt(rng, 5));
  }
  const during = network.stats();
  const dropped = (drops: typeof during.drops): number =>
    drops.loss + drops.partition + drops.offline + drops.oversize;
  assert.equal(
    during.messagesSent,
    during.messagesReceived + during.inFlight + dropped(during.drops),
  );
  clock.runUntilIdle();
  const stats = network.stats();
  assert.equal(stats.inFlight, 0);
  assert.equal(stats.messagesSent, 500);
  assert.equal(stats.bytesSent, bytesSent);
  assert.equal(
    stats.messagesSent,
    stats.messagesReceived + dropped(stats.drops),
  );
  const perHost = hosts.map((host) => network.hostStats(host.hostIndex));
  assert.equal(
    perHost.reduce((sum, host) => sum + host.messagesSent, 0),
    stats.messagesSent,
  );
  assert.equal(
    perHost.reduce((sum, host) => sum + host.bytesReceived, 0),
    stats.bytesReceived,
  );
  assert.equal(
    perHost.reduce((sum, host) => sum + host.messagesReceived, 0),
    stats.messagesReceived,
  );
  assert.deepEqual(JSON.parse(JSON.stringify(stats)), stats);
  assert.deepEqual(JSON.parse(JSON.stringify(perHost[0])), perHost[0]);
});

Deno.test("SimulatedNetwork counts datagrams to a host without a handler as received", () => {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  const [a, b] = [network.attach(), network.attach()];
  a.send(b.localAddress, new Uint8Array(4));
  clock.runUntilIdle();
  assert.equal(network.hostStats(b.hostIndex).messagesReceived, 1);
});

/** Runs 10,000 random sends on a fresh network and logs every delivery. */
function deliveryLog(seed: number): string[] {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng(seed),
    lossProbability: 0.05,
    jitterMsMax: 5,
  });
  const log: string[] = [];
  const hosts = Array.from({ length: 200 }, () => network.attach());
  for (const host of hosts) {
    host.receive((bytes, from) =>
      log.push(
        `${clock.now()} ${from.host}>${host.localAddress.host} ${
          bytes.join(",")
        }`,
      )
    );
  }
  const scenario: Rng = seededRng(seed + 1);
  for (let index = 0; index < 10_000; index++) {
    const source = hosts[randomInt(scenario, hosts.length)];
    const target = hosts[randomInt(scenario, hosts.length)];
    source.send(
      target.localAddress,
      new Uint8Array([index & 0xff, index >> 8]),
    );
    if (index % 100 === 0) clock.advance(randomInt(scenario, 50));
  }
  clock.runUntilIdle();
  log.push(JSON.stringify(network.stats()));
  return log;
}

Deno.test("SimulatedNetwork with the same seed delivers the same datagrams at the same times", () => {
  const first = deliveryLog(2024);
  const second = deliveryLog(2024);
  assert.ok(first.length > 9_000);
  assert.deepEqual(first, second);
  assert.notDeepEqual(deliveryLog(2025), first);
});

Deno.test("SimulatedNetwork attaches 100,000 hosts and routes between the first and the last", () => {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  let last: SimulatedTransport | undefined;
  const first = network.attach();
  for (let index = 1; index < 100_000; index++) last = network.attach();
  assert.equal(network.hostCount, 100_000);
  assert.equal(last!.hostIndex, 99_999);
  // 100,000 = 0x0186a0: 10.1.134.160.
  assert.deepEqual(last!.localAddress, { host: "10.1.134.160", port: 4222 });
  assert.equal(
    network.hostIndexOf({ host: "10.1.134.160", port: 4222 }),
    99_999,
  );
  let received = 0;
  last!.receive(() => received++);
  first.send({ host: "10.1.134.160", port: 4222 }, new Uint8Array(1));
  clock.runUntilIdle();
  assert.equal(received, 1);
  assert.equal(network.stats().onlineHostCount, 100_000);
});
