/**
 * DatagramStreams on the simulator: bytes arrive in order under loss and
 * reordering, close reaches the other end, a vanished peer and an
 * unanswered connect end in bounded virtual time. Method: two sockets on a
 * SimulatedNetwork with ManualClock, driven in 10 ms steps.
 */
import assert from "node:assert/strict";
import type {
  ByteStream,
  StreamCloseReason,
} from "../lib/channel/byte_stream.ts";
import { DatagramConnectError } from "../lib/channel/datagram_streams.ts";
import { drive, pair } from "./_datagram_pair.ts";

function pattern(length: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + salt + (i >>> 8)) & 255;
  return bytes;
}

function collector(stream: ByteStream) {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let closed: StreamCloseReason | undefined;
  stream.onData((bytes) => {
    chunks.push(bytes.slice());
    total += bytes.length;
  });
  stream.onClose((reason) => closed = reason);
  return {
    get total() {
      return total;
    },
    get closed() {
      return closed;
    },
    bytes(): Uint8Array {
      const all = new Uint8Array(total);
      let at = 0;
      for (const chunk of chunks) {
        all.set(chunk, at);
        at += chunk.length;
      }
      return all;
    },
  };
}

/** Connects Alice to Bob, returns both ends with collectors. */
async function open(p: ReturnType<typeof pair>) {
  let accepted: ByteStream | undefined;
  await p.bob.streams.listen(0, (stream) => accepted = stream);
  let dialled: ByteStream | undefined;
  let failure: unknown;
  p.alice.streams.connect(p.bob.socket.localAddress).then(
    (stream) => dialled = stream,
    (error) => failure = error,
  );
  await drive(
    p.clock,
    5_000,
    () => dialled !== undefined || failure !== undefined,
  );
  assert.equal(failure, undefined);
  assert.ok(dialled);
  const aliceSide = collector(dialled);
  // The listener sees the stream on the connector's first ACK or DATA.
  await drive(p.clock, 5_000, () => accepted !== undefined);
  assert.ok(accepted);
  return { dialled, accepted, aliceSide, bobSide: collector(accepted) };
}

for (const loss of [0, 0.1, 0.3]) {
  Deno.test(`DatagramStreams: 150 KB and 60 KB cross in order under ${loss * 100} % loss with reordering`, async () => {
    // Jitter up to 40 ms reorders segments on the path.
    const p = pair(`loss-${loss}`, { lossProbability: loss, jitterMsMax: 40 });
    const { dialled, accepted, aliceSide, bobSide } = await open(p);
    const toBob = pattern(150_000, 1);
    const toAlice = pattern(60_000, 2);
    // Writes of uneven sizes, each below the send queue bound.
    for (let at = 0; at < toBob.length; at += 7_001) {
      dialled.write(toBob.subarray(at, at + 7_001));
    }
    accepted.write(toAlice);
    const took = await drive(
      p.clock,
      300_000,
      () => bobSide.total >= toBob.length && aliceSide.total >= toAlice.length,
      20,
    );
    assert.deepEqual(bobSide.bytes(), toBob);
    assert.deepEqual(aliceSide.bytes(), toAlice);
    assert.equal(aliceSide.closed, undefined);
    assert.equal(bobSide.closed, undefined);
    const counters = p.alice.streams.counters;
    assert.equal(counters.streamsFailed, 0);
    if (loss === 0) {
      assert.equal(p.network.stats().drops.loss, 0);
    } else {
      assert.ok(counters.segmentsRetransmitted > 0);
      assert.ok(p.network.stats().drops.loss > 0);
    }
    // Completion in bounded virtual time (the loop's bound is 300 s).
    assert.ok(took < 300_000, `took ${took} ms`);
    p.alice.streams.close();
    p.bob.streams.close();
  });
}

Deno.test("DatagramStreams: close delivers queued bytes, then 'remote' at the other end; both tables empty after lingering", async () => {
  const p = pair("close", { lossProbability: 0.1 });
  const { dialled, aliceSide, bobSide } = await open(p);
  dialled.write(pattern(5_000, 3));
  dialled.close();
  dialled.close(); // idempotent
  dialled.write(new Uint8Array([1])); // ignored after close
  assert.equal(aliceSide.closed, "local");
  await drive(p.clock, 30_000, () => bobSide.closed !== undefined);
  assert.equal(bobSide.total, 5_000);
  assert.deepEqual(bobSide.bytes(), pattern(5_000, 3));
  assert.equal(bobSide.closed, "remote");
  assert.equal(aliceSide.closed, "local");
  // FIN acknowledged, lingering over (8 s): nothing left in either table.
  await drive(
    p.clock,
    60_000,
    () => p.alice.streams.size + p.bob.streams.size === 0,
    100,
  );
  assert.equal(p.alice.streams.size, 0);
  assert.equal(p.bob.streams.size, 0);
});

Deno.test("DatagramStreams: the listener's close reaches the connector as 'remote'", async () => {
  const p = pair("close-back");
  const { accepted, aliceSide, bobSide } = await open(p);
  accepted.close();
  assert.equal(bobSide.closed, "local");
  await drive(p.clock, 5_000, () => aliceSide.closed !== undefined);
  assert.equal(aliceSide.closed, "remote");
});

Deno.test("DatagramStreams: a peer that vanishes closes the stream 'error' within 30 s of virtual time, after a bounded number of retransmissions", async () => {
  const p = pair("vanish");
  const { dialled, aliceSide } = await open(p);
  p.network.setHostOnline(p.bob.socket.hostIndex, false);
  const start = p.clock.now();
  dialled.write(pattern(3_000, 4)); // 3 segments
  const took = await drive(
    p.clock,
    120_000,
    () => aliceSide.closed !== undefined,
    50,
  );
  assert.equal(aliceSide.closed, "error");
  assert.ok(took <= 30_000, `gave up after ${took} ms`);
  assert.ok(p.clock.now() - start >= 10_000, "gave up too soon");
  const counters = p.alice.streams.counters;
  assert.equal(counters.streamsFailed, 1);
  // 10 timeouts, each resending the 3 segments.
  assert.equal(counters.segmentsRetransmitted, 30);
  assert.equal(p.alice.streams.size, 0);
});

Deno.test("DatagramStreams: connect to a socket that does not listen rejects with DatagramConnectError 'timeout' after 3 s, and is never answered", async () => {
  const p = pair("no-listener");
  let failure: unknown;
  const start = p.clock.now();
  p.alice.streams.connect(p.bob.socket.localAddress).catch((error) =>
    failure = error
  );
  await drive(p.clock, 10_000, () => failure !== undefined);
  assert.ok(failure instanceof DatagramConnectError);
  assert.equal(failure.reason, "timeout");
  assert.deepEqual(failure.remote, p.bob.socket.localAddress);
  assert.ok(p.clock.now() - start >= 3_000 && p.clock.now() - start <= 3_020);
  // SYNs at 0, 250, 750 and 1,750 ms.
  assert.equal(p.alice.streams.counters.segmentsSent, 4);
  assert.equal(p.bob.streams.counters.dropped.noListener, 4);
  assert.equal(p.bob.streams.counters.segmentsSent, 0);
  assert.equal(p.alice.streams.size, 0);
});

Deno.test("DatagramStreams: close() closes every stream 'local', the peer sees 'remote', pending connects reject 'closed'", async () => {
  const p = pair("shutdown");
  const { aliceSide, bobSide } = await open(p);
  let failure: unknown;
  p.alice.streams.connect({ host: "10.9.9.9", port: 1 }).catch((error) =>
    failure = error
  );
  p.alice.streams.close();
  assert.equal(aliceSide.closed, "local");
  await drive(
    p.clock,
    1_000,
    () => bobSide.closed !== undefined && failure !== undefined,
  );
  assert.equal(bobSide.closed, "remote");
  assert.ok(failure instanceof DatagramConnectError);
  assert.equal(failure.reason, "closed");
  assert.equal(p.alice.streams.size, 0);
  await assert.rejects(
    p.alice.streams.connect(p.bob.socket.localAddress),
    DatagramConnectError,
  );
});

Deno.test("DatagramStreams: a closed listener accepts nothing more, its open streams stay open", async () => {
  const p = pair("listener-close");
  let accepted: ByteStream | undefined;
  const listener = await p.bob.streams.listen(0, (s) => accepted = s);
  assert.deepEqual(listener.localAddress, p.bob.socket.localAddress);
  const first = await (async () => {
    const opening = p.alice.streams.connect(p.bob.socket.localAddress);
    await drive(p.clock, 1_000, () => false);
    return opening;
  })();
  first.write(new Uint8Array([1]));
  await drive(p.clock, 1_000, () => accepted !== undefined);
  assert.ok(accepted);
  const atBob = collector(accepted);
  await listener.close();
  let failure: unknown;
  p.alice.streams.connect(p.bob.socket.localAddress).catch((e) => failure = e);
  await drive(p.clock, 5_000, () => failure !== undefined);
  assert.ok(failure instanceof DatagramConnectError);
  assert.ok(p.bob.streams.counters.dropped.noListener >= 1);
  first.write(new Uint8Array([2]));
  await drive(p.clock, 1_000, () => atBob.total >= 2);
  // The first byte came before the handler was set: it is delivered first.
  assert.deepEqual([...atBob.bytes()], [1, 2]);
});

Deno.test("DatagramStreams: the same seed gives the same segments, retransmissions and drops", async () => {
  async function run() {
    const p = pair("replay", { lossProbability: 0.2, jitterMsMax: 30 });
    const { dialled, bobSide } = await open(p);
    dialled.write(pattern(40_000, 9));
    await drive(p.clock, 120_000, () => bobSide.total >= 40_000, 20);
    assert.deepEqual(bobSide.bytes(), pattern(40_000, 9));
    assert.ok(p.alice.streams.counters.segmentsRetransmitted > 0);
    return JSON.stringify([
      p.clock.now(),
      p.alice.streams.counters,
      p.bob.streams.counters,
      p.network.stats(),
    ]);
  }
  assert.equal(await run(), await run());
});

Deno.test("DatagramStreams: bytes nobody reads are held up to the queue bound, then the stream closes 'error' and the RST closes the writer", async () => {
  const p = pair("unread", {}, { maxSendQueueBytes: 10_000 });
  let accepted: ByteStream | undefined;
  let bobClosed: StreamCloseReason | undefined;
  // The handler keeps the stream but never reads it.
  await p.bob.streams.listen(0, (stream) => {
    accepted = stream;
    stream.onClose((reason) => bobClosed = reason);
  });
  let dialled: ByteStream | undefined;
  p.alice.streams.connect(p.bob.socket.localAddress).then((s) => dialled = s);
  await drive(p.clock, 1_000, () => dialled !== undefined);
  const aliceSide = collector(dialled!);
  for (let i = 0; i < 3 && aliceSide.closed === undefined; i++) {
    dialled!.write(pattern(4_000, i));
    await drive(p.clock, 1_000);
  }
  assert.ok(accepted);
  assert.equal(bobClosed, "error");
  assert.equal(aliceSide.closed, "error");
  assert.equal(p.bob.streams.counters.streamsFailed, 1);
  await drive(
    p.clock,
    20_000,
    () => p.alice.streams.size + p.bob.streams.size === 0,
    100,
  );
  assert.equal(p.alice.streams.size + p.bob.streams.size, 0);
});

Deno.test("DatagramStreams: finished streams kept to re-acknowledge a FIN are bounded; the oldest go first", async () => {
  const p = pair("linger", {}, { maxLingering: 2 });
  const accepted: ByteStream[] = [];
  await p.bob.streams.listen(0, (stream) => accepted.push(stream));
  for (let i = 0; i < 5; i++) {
    let dialled: ByteStream | undefined;
    p.alice.streams.connect(p.bob.socket.localAddress).then((s) => dialled = s);
    await drive(p.clock, 1_000, () => dialled !== undefined);
    dialled!.write(new Uint8Array([i]));
    await drive(p.clock, 200);
    dialled!.close();
    await drive(p.clock, 200);
  }
  assert.equal(accepted.length, 5);
  // Every stream finished on both sides; at most 2 linger on each.
  assert.ok(p.alice.streams.size <= 2, `${p.alice.streams.size}`);
  assert.ok(p.bob.streams.size <= 2, `${p.bob.streams.size}`);
  assert.ok(p.bob.streams.size >= 1);
});

Deno.test("DatagramStreams: both ends closing at once each report 'local', and both tables empty after lingering", async () => {
  const p = pair("both-close", { lossProbability: 0.2 });
  const { dialled, accepted, aliceSide, bobSide } = await open(p);
  dialled.write(pattern(2_000, 5));
  accepted.write(pattern(2_000, 6));
  dialled.close();
  accepted.close();
  assert.equal(aliceSide.closed, "local");
  assert.equal(bobSide.closed, "local");
  await drive(
    p.clock,
    60_000,
    () => p.alice.streams.size + p.bob.streams.size === 0,
    100,
  );
  assert.equal(p.alice.streams.size + p.bob.streams.size, 0);
  assert.equal(p.alice.streams.counters.streamsFailed, 0);
  assert.equal(p.bob.streams.counters.streamsFailed, 0);
});
