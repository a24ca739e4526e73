/**
 * `LinkSocket`: the DHT socket shared with punches and punched streams.
 * Streams are accepted only from addresses an account punched towards;
 * punches are bounded; DHT datagrams still reach the DHT.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
import { LinkSocket } from "../lib/channel/link_socket.ts";
import type { ByteStream } from "../lib/channel/byte_stream.ts";

const LOCAL = {
  candidates: () => [],
  behindNat: (): boolean | undefined => false,
};

function setup() {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  const randomBytes = rngBytes(seededRng(2));
  const [a, b, stranger] = [
    network.attach(),
    network.attach(),
    network.attach(),
  ];
  const socketB = new LinkSocket({ socket: b, clock, randomBytes });
  return { clock, network, randomBytes, a, b, stranger, socketB };
}

Deno.test("LinkSocket closes a stream from an address no account expects, before a byte is read", async () => {
  const { clock, randomBytes, b, stranger, socketB } = setup();
  const paths = socketB.paths(LOCAL);
  const accepted: ByteStream[] = [];
  await paths.streams.listen(0, (stream) => accepted.push(stream));
  const strangerSocket = new LinkSocket({
    socket: stranger,
    clock,
    randomBytes,
  });
  const strangerPaths = strangerSocket.paths(LOCAL);
  const connecting = strangerPaths.streams.connect(b.localAddress);
  clock.advance(5_000);
  await connecting.catch(() => undefined);
  clock.advance(5_000);
  assert.equal(accepted.length, 0);
  assert.ok(socketB.counters.streamsRefused >= 1);
  // Once expected (a punch towards it), the same host gets through.
  paths.expect(stranger.localAddress);
  const second = strangerPaths.streams.connect(b.localAddress);
  clock.advance(5_000);
  const stream = await second;
  stream.write(new Uint8Array([1]));
  clock.advance(5_000);
  assert.equal(accepted.length, 1);
  assert.deepEqual(accepted[0].remote, stranger.localAddress);
});

Deno.test("LinkSocket refuses punches beyond maxPunches and keeps DHT datagrams for the DHT", () => {
  const { clock, randomBytes, a, b } = setup();
  const socket = new LinkSocket({ socket: a, clock, randomBytes }, {
    maxPunches: 2,
  });
  const paths = socket.paths(LOCAL);
  const token = new Uint8Array(16).fill(9);
  const started = [1, 2, 3].map(() =>
    paths.punch({ token, candidates: [b.localAddress] }, () => {})
  );
  assert.deepEqual(started, [true, true, false]);
  assert.equal(socket.counters.punchesRefused, 1);
  const dht: number[] = [];
  socket.dht.receive((bytes) => dht.push(bytes[0]));
  b.send(a.localAddress, new Uint8Array([0x81, 0]));
  clock.advance(1_000);
  assert.deepEqual(dht, [0x81]);
  paths.close();
  // Closed: its punches are stopped and no longer count.
  const other = socket.paths(LOCAL);
  assert.equal(
    other.punch({ token, candidates: [b.localAddress] }, () => {}),
    true,
  );
});
