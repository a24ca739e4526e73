/**
 * ConnectionManager on in-memory streams and virtual time: one link per
 * device pair even when both dial, notes both ways, refusals back off,
 * disconnect and publish.
 */
import assert from "node:assert/strict";
import {
  ConnectionManager,
  type ConnectionManagerOptions,
  endpointOf,
} from "../lib/channel/connection_manager.ts";
import { memoryStreamNetwork } from "../lib/testing/memory_stream_network.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import type { StreamNetwork } from "../lib/channel/byte_stream.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
import { SimulatedStreamNetwork } from "../sim/stream_network.ts";

const clock = () => new ManualClock(1_000_000);

function device(
  name: string,
  clockNow: ManualClock,
  streams: StreamNetwork,
  options: Partial<ConnectionManagerOptions> = {},
) {
  const randomBytes = rngBytes(seededRng(name));
  const account = AccountKeys.generate(randomBytes);
  const keys = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, keys, {
    issuedMs: clockNow.now(),
  });
  const changes: string[] = [];
  let allow = true;
  let authorized = 0;
  const manager = new ConnectionManager({
    identity: { device: keys, certificate },
    clock: clockNow,
    randomBytes,
    streams,
    authorize: () => {
      authorized += 1;
      return allow;
    },
    onChange: (accountHex) => changes.push(accountHex),
    ...options,
  });
  return {
    accountHex: account.id.toString(),
    certificate,
    manager,
    changes,
    refuse: () => allow = false,
    allow: () => allow = true,
    get authorized() {
      return authorized;
    },
  };
}

/** Simulated streams with 100 ms each way and no jitter. */
function hundredMsStreams(time: ManualClock, seed: string) {
  const network = new SimulatedNetwork({
    clock: time,
    rng: seededRng(seed),
    latency: { oneWayMs: () => 100 },
    jitterMsMax: 0,
  });
  return { network, streams: new SimulatedStreamNetwork(network, time) };
}

async function run(time: ManualClock, ms: number, stepMs = 50): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    time.advance(stepMs);
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

Deno.test("ConnectionManager: both sides dial at once and keep a single link, notes both ways", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  // No fallback wait: both dial at the same instant.
  const alice = device("alice", time, network.host("alice"), {
    dialFallbackMs: 0,
  });
  const bob = device("bob", time, network.host("bob"), { dialFallbackMs: 0 });
  const aliceAddress = await alice.manager.start(0);
  const bobAddress = await bob.manager.start(0);
  alice.manager.publish(true, "alice here");
  bob.manager.publish(true, "bob here");
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  bob.manager.connect(alice.certificate, [endpointOf(aliceAddress)]);
  await run(time, 2_000);
  assert.equal(alice.manager.linkCount, 1);
  assert.equal(bob.manager.linkCount, 1);
  assert.deepEqual(alice.manager.status(bob.accountHex), {
    connected: true,
    note: "bob here",
  });
  assert.deepEqual(bob.manager.status(alice.accountHex), {
    connected: true,
    note: "alice here",
  });
  // Both links opened a handshake; one of them was closed by both sides.
  assert.equal(alice.manager.counters.linksOpened, 1);
  bob.manager.publish(true, "lunch");
  await run(time, 200);
  assert.equal(alice.manager.status(bob.accountHex).note, "lunch");
  // Hidden: still linked, but not "connected" for presence.
  bob.manager.publish(false, "");
  await run(time, 200);
  assert.equal(alice.manager.status(bob.accountHex).connected, false);
  // Idle for a minute: keepalives hold the link.
  await run(time, 60_000, 500);
  assert.equal(alice.manager.linkCount, 1);
  alice.manager.disconnect(bob.accountHex);
  await run(time, 200);
  assert.equal(alice.manager.linkCount, 0);
  assert.equal(bob.manager.linkCount, 0);
  alice.manager.stop();
  bob.manager.stop();
});

Deno.test("ConnectionManager: a refusing peer is redialed with growing delays", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-r", time, network.host("alice"));
  const bob = device("bob-r", time, network.host("bob"));
  bob.refuse();
  const bobAddress = await bob.manager.start(0);
  await alice.manager.start(0);
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  // 5 s, 10 s, 20 s, 40 s, 80 s… after the first attempt: about 6 tries in 5 min.
  await run(time, 5 * 60_000, 500);
  assert.ok(bob.authorized >= 4 && bob.authorized <= 8, `${bob.authorized}`);
  assert.equal(alice.manager.status(bob.accountHex).connected, false);
  assert.equal(alice.manager.counters.pidfReceived, 0);
  assert.equal(bob.manager.counters.pidfReceived, 0);
  assert.deepEqual(alice.changes, []);
  // Forgotten: no more dials.
  alice.manager.forget(bob.certificate.deviceId.toString());
  const before = bob.authorized;
  await run(time, 10 * 60_000, 1_000);
  assert.equal(bob.authorized, before);
  alice.manager.stop();
  bob.manager.stop();
});

Deno.test("ConnectionManager: a first refusal is redialed after firstRedialMs, later ones after redialMs", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-q", time, network.host("alice"));
  const bob = device("bob-q", time, network.host("bob"));
  // Bob has not learned of Alice yet: he refuses her first handshake.
  bob.refuse();
  const bobAddress = await bob.manager.start(0);
  await alice.manager.start(0);
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await run(time, 200);
  assert.equal(bob.authorized, 1);
  // Still refusing: the quick redial is refused too, the next one waits.
  await run(time, 1_000);
  assert.equal(bob.authorized, 2);
  await run(time, 4_000);
  assert.equal(bob.authorized, 2);
  alice.manager.stop();
  bob.manager.stop();

  // Learning of Alice (accepting) within the quick redial links at once.
  const carol = device("carol-q", time, network.host("carol"));
  const dave = device("dave-q", time, network.host("dave"));
  const daveAddress = await dave.manager.start(0);
  await carol.manager.start(0);
  dave.refuse();
  carol.manager.connect(dave.certificate, [endpointOf(daveAddress)]);
  await run(time, 200);
  assert.equal(dave.authorized, 1);
  dave.allow();
  await run(time, 1_000);
  assert.equal(carol.manager.status(dave.accountHex).connected, true);
  carol.manager.stop();
  dave.manager.stop();
});

Deno.test("ConnectionManager: a link that worked is redialed 5 s after it is lost, however long the refusals before it had grown the backoff", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-b", time, network.host("alice"));
  const bob = device("bob-b", time, network.host("bob"));
  // Bob refuses Alice for 3 minutes: her redials back off to minutes.
  bob.refuse();
  const bobAddress = await bob.manager.start(0);
  const aliceAddress = await alice.manager.start(0);
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await run(time, 3 * 60_000, 500);
  const refusals = bob.authorized;
  assert.ok(refusals >= 5, `${refusals} refusals`);
  // Then he accepts her and dials her himself: linked.
  bob.allow();
  bob.manager.connect(alice.certificate, [endpointOf(aliceAddress)]);
  await run(time, 1_000);
  assert.equal(alice.manager.status(bob.accountHex).connected, true);
  // He stops wanting her (he will not redial) and the link is lost.
  bob.manager.forget(alice.certificate.deviceId.toString());
  bob.refuse();
  bob.manager.revalidate(alice.accountHex);
  bob.allow();
  await run(time, 500);
  assert.equal(alice.manager.status(bob.accountHex).connected, false);
  // Alice redials 5 s later, not after the backoff the refusals had grown.
  await run(time, 6_000);
  assert.equal(alice.manager.status(bob.accountHex).connected, true);
  alice.manager.stop();
  bob.manager.stop();
});

Deno.test("ConnectionManager: unreachable endpoints count failures and never throw", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-u", time, network.host("alice"));
  const bob = device("bob-u", time, network.host("bob"));
  await alice.manager.start(0);
  // Bob never listens; one endpoint is garbage and is skipped.
  alice.manager.connect(bob.certificate, ["not an address", "bob:5999"]);
  await run(time, 60_000, 500);
  assert.ok(alice.manager.counters.dialFailures >= 3);
  assert.equal(alice.manager.linkCount, 0);
  // Our own device is never dialled, and no endpoint means no dial.
  alice.manager.connect(alice.certificate, ["alice:5000"]);
  alice.manager.connect(bob.certificate, []);
  alice.manager.stop();
  alice.manager.connect(bob.certificate, ["bob:5999"]); // after stop: ignored
});

Deno.test("ConnectionManager: handshake slots per origin are refused when taken and freed by the handshake timeout", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const bob = device("bob-s", time, network.host("bob"), {
    maxHandshakesPerOrigin: 2,
    handshakeTimeoutMs: 1_000,
  });
  const bobAddress = await bob.manager.start(0);
  const mallory = network.host("192.0.2.66");
  const closed: boolean[] = [];
  const open = async () => {
    const stream = await mallory.connect(bobAddress);
    const index = closed.push(false) - 1;
    stream.onClose(() => closed[index] = true);
  };
  for (let i = 0; i < 3; i++) await open();
  await run(time, 100);
  // Two slots for the origin: the third stream was closed unread.
  assert.equal(bob.manager.counters.refused, 1);
  assert.deepEqual(closed.slice(0, 2), [false, false]);
  // Another origin still gets in.
  await network.host("192.0.2.67").connect(bobAddress);
  await run(time, 100);
  assert.equal(bob.manager.counters.refused, 1);
  // The silent ones time out and free their slots.
  await run(time, 1_000);
  assert.deepEqual(closed.slice(0, 2), [true, true]);
  await open();
  await open();
  await run(time, 100);
  assert.equal(bob.manager.counters.refused, 1);
  assert.deepEqual(closed.slice(3), [false, false]);
  bob.manager.stop();
});

Deno.test("ConnectionManager: the dialler sees its peer connected two round trips after the dial, the accepter half a round trip later", async () => {
  // 100 ms each way, no jitter: a TCP connect takes 200 ms, then the
  // handshake's first flight and the answer another 200 ms. The answer
  // carries the accepter's first PIDF, so the dialler is connected at 400
  // ms; the accepter at 500 ms, when the confirm and the dialler's PIDF
  // arrive. (Before half-round-trip data the dialler waited for a PIDF sent
  // after the confirm: 600 ms.)
  const time = clock();
  const { network, streams } = hundredMsStreams(time, "timing");
  const [aliceHost, bobHost] = [network.attach(), network.attach()];
  const connectedAt = new Map<string, number>();
  const watch = (who: string) => ({
    onChange: () => {
      if (!connectedAt.has(who)) connectedAt.set(who, time.now());
    },
    dialFallbackMs: 0,
  });
  const alice = device(
    "alice-t",
    time,
    streams.host(aliceHost.hostIndex),
    watch("alice"),
  );
  const bob = device(
    "bob-t",
    time,
    streams.host(bobHost.hostIndex),
    watch("bob"),
  );
  await alice.manager.start(0);
  const bobAddress = await bob.manager.start(0);
  alice.manager.publish(true, "alice here");
  bob.manager.publish(true, "bob here");
  const dialMs = time.now();
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  // Bob accepts at 300 ms and sends his note then; he changes it at 350 ms,
  // before Alice's confirm (500 ms) opens his side.
  await run(time, 350, 1);
  bob.manager.publish(true, "bob, new note");
  await run(time, 650, 1);
  assert.deepEqual(alice.manager.status(bob.accountHex), {
    connected: true,
    note: "bob, new note",
  });
  assert.equal(bob.manager.status(alice.accountHex).connected, true);
  // Sessions start on microtasks between the 1 ms steps: at most a step late.
  const aliceMs = connectedAt.get("alice")! - dialMs;
  const bobMs = connectedAt.get("bob")! - dialMs;
  assert.ok(aliceMs >= 400 && aliceMs <= 401, `alice after ${aliceMs} ms`);
  assert.ok(bobMs >= 500 && bobMs <= 501, `bob after ${bobMs} ms`);
  alice.manager.stop();
  bob.manager.stop();
});

Deno.test("ConnectionManager: a replayed first flight gets an answer and an early PIDF no one can read, never a link", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-replay", time, network.host("alice"));
  const bob = device("bob-replay", time, network.host("bob"));
  const bobAddress = await bob.manager.start(0);
  // Record what Alice's manager writes on its dial to Bob.
  const recorded: Uint8Array[] = [];
  const aliceStreams = network.host("alice");
  const tapping: StreamNetwork = {
    listen: (port, onStream) => aliceStreams.listen(port, onStream),
    connect: async (to) => {
      const stream = await aliceStreams.connect(to);
      return {
        remote: stream.remote,
        write: (bytes) => {
          recorded.push(bytes.slice());
          stream.write(bytes);
        },
        onData: (handler) => stream.onData(handler),
        onClose: (handler) => stream.onClose(handler),
        close: () => stream.close(),
      };
    },
  };
  const tapped = device("alice-replay", time, tapping);
  await tapped.manager.start(0);
  tapped.manager.publish(true, "alice here");
  tapped.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await run(time, 500);
  assert.equal(tapped.manager.status(bob.accountHex).connected, true);
  tapped.manager.stop();
  await run(time, 500);
  assert.equal(bob.manager.status(alice.accountHex).connected, false);
  const changesBefore = bob.changes.length;
  // Mallory replays Alice's hello and auth frame from another host.
  const mallory = await network.host("mallory").connect(bobAddress);
  const answer: number[] = [];
  mallory.onData((bytes) => answer.push(...bytes));
  mallory.write(recorded[0]);
  mallory.write(recorded[1]);
  await run(time, 500);
  // Bob accepted and answered, his PIDF after the answer, sealed for Alice.
  assert.ok(answer.length > 0);
  assert.equal(
    new TextDecoder().decode(Uint8Array.from(answer)).includes("pidf"),
    false,
  );
  assert.equal(bob.manager.counters.pidfSent, 2);
  // No confirm: never connected, no change told, and the handshake times out.
  assert.equal(bob.manager.status(alice.accountHex).connected, false);
  assert.equal(bob.changes.length, changesBefore);
  await run(time, 6_000, 500);
  assert.equal(bob.manager.linkCount, 0);
  assert.equal(bob.manager.status(alice.accountHex).connected, false);
  bob.manager.stop();
});

Deno.test("ConnectionManager: resume links a remembered endpoint at once, without wanting the device", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-m", time, network.host("alice"));
  const bob = device("bob-m", time, network.host("bob"));
  const bobAddress = await bob.manager.start(0);
  await alice.manager.start(0);
  alice.manager.resume(bob.certificate, [endpointOf(bobAddress)]);
  // Twice is one attempt.
  alice.manager.resume(bob.certificate, [endpointOf(bobAddress)]);
  assert.equal(alice.manager.counters.resumeDials, 1);
  await run(time, 500);
  assert.equal(alice.manager.status(bob.accountHex).connected, true);
  assert.equal(bob.manager.status(alice.accountHex).connected, true);
  // One handshake: screened, then authorized.
  assert.equal(bob.authorized, 2);
  // Linked: nothing more to resume; the DHT's connect finds the link up.
  alice.manager.resume(bob.certificate, [endpointOf(bobAddress)]);
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await run(time, 2_000);
  assert.equal(alice.manager.counters.resumeDials, 1);
  assert.equal(alice.manager.linkCount, 1);
  // Not wanted: once the link is gone it is not redialled.
  alice.manager.forget(bob.certificate.deviceId.toString());
  bob.manager.stop();
  await run(time, 30_000, 500);
  assert.equal(alice.manager.linkCount, 0);
  alice.manager.stop();
});

Deno.test("ConnectionManager: a refused or unreachable resume is not retried", async () => {
  const time = clock();
  const network = memoryStreamNetwork();
  const alice = device("alice-n", time, network.host("alice"));
  const bob = device("bob-n", time, network.host("bob"));
  const carol = device("carol-n", time, network.host("carol"));
  bob.refuse();
  const bobAddress = await bob.manager.start(0);
  await alice.manager.start(0);
  alice.manager.resume(bob.certificate, [endpointOf(bobAddress)]);
  // Carol's remembered address answers no more (she has not started).
  alice.manager.resume(carol.certificate, ["carol:5000", "garbage"]);
  assert.equal(alice.manager.counters.resumeDials, 2);
  await run(time, 5 * 60_000, 500);
  // One handshake, refused at the screening; one failed connect.
  assert.equal(bob.authorized, 1);
  assert.equal(alice.manager.counters.dialFailures, 1);
  assert.equal(alice.manager.linkCount, 0);
  alice.manager.stop();
  bob.manager.stop();
});

Deno.test("ConnectionManager: a dial the DHT asks for does not wait for a resumed attempt, and one link is kept", async () => {
  // 100 ms each way: a connect takes 200 ms, the handshake 200 ms more.
  const time = clock();
  const { network, streams } = hundredMsStreams(time, "resume-timing");
  const hosts = [0, 1, 2, 3, 4].map(() => network.attach());
  const at = (i: number, name: string) =>
    device(name, time, streams.host(hosts[i].hostIndex), { dialFallbackMs: 0 });
  const alice = at(0, "alice-w");
  const bob = at(1, "bob-w");
  await alice.manager.start(0);
  const bobAddress = await bob.manager.start(0);
  alice.manager.resume(bob.certificate, [endpointOf(bobAddress)]);
  // The DHT shows Bob while the resumed connect is under way: two dials,
  // one link (the second finds the first up, or loses the race).
  await run(time, 100, 1);
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await run(time, 3_000, 10);
  assert.equal(alice.manager.status(bob.accountHex).connected, true);
  assert.equal(alice.manager.linkCount, 1);
  assert.equal(bob.manager.linkCount, 1);
  // A refused resumed handshake: the DHT's dial links.
  const carol = at(2, "carol-w");
  const dave = at(3, "dave-w");
  await carol.manager.start(0);
  const daveAddress = await dave.manager.start(0);
  dave.refuse();
  carol.manager.resume(dave.certificate, [endpointOf(daveAddress)]);
  await run(time, 250, 1);
  carol.manager.connect(dave.certificate, [endpointOf(daveAddress)]);
  // Dave refuses the first flight at 300 ms, then learns of Carol.
  await run(time, 100, 1);
  dave.allow();
  await run(time, 2_000, 10);
  assert.equal(carol.manager.status(dave.accountHex).connected, true);
  assert.ok(
    dave.manager.counters.refused === 1 && dave.authorized === 3,
    `${dave.authorized}`,
  );
  // A remembered address whose host is gone (the connect would time out):
  // the DHT's dial at the new address does not wait for it.
  const erin = at(4, "erin-w");
  const erinAddress = await erin.manager.start(0);
  network.setHostOnline(hosts[2].hostIndex, false);
  const dialMs = time.now();
  alice.manager.resume(erin.certificate, [
    endpointOf({ ...erinAddress, host: hosts[2].localAddress.host }),
  ]);
  alice.manager.connect(erin.certificate, [endpointOf(erinAddress)]);
  while (
    !alice.manager.status(erin.accountHex).connected &&
    time.now() - dialMs < 5_000
  ) await run(time, 10, 10);
  // A connect and a handshake: 400 ms (a step late at most).
  assert.ok(time.now() - dialMs <= 410, `${time.now() - dialMs} ms`);
  for (const one of [alice, bob, carol, dave, erin]) one.manager.stop();
});
