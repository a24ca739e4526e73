/**
 * The pieces of a datagram stream on their own: the segment codec (round
 * trips, hostile bytes), the RFC 6298 timeout, and one stream's state
 * machine against a recording host (send-queue bound, selective acks and
 * fast retransmit, settings checks).
 */
import assert from "node:assert/strict";
import {
  decodeSegment,
  encodeSegment,
  idHex,
  isStreamDatagram,
  MAX_SEGMENT_PAYLOAD_BYTES,
  type Segment,
  SegmentType,
  sequenceDistance,
} from "../lib/channel/_datagram_stream_wire.ts";
import { RetransmitTimeout } from "../lib/channel/_retransmit_timeout.ts";
import {
  DatagramStream,
  type DatagramStreamHost,
} from "../lib/channel/datagram_stream.ts";
import {
  emptyDatagramStreamsCounters,
  resolveDatagramStreamSettings,
} from "../lib/channel/_datagram_stream_settings.ts";
import { DatagramStreams } from "../lib/channel/datagram_streams.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const ID = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const PEER = { host: "192.0.2.9", port: 4222 };

function segment(fields: Partial<Segment>): Segment {
  return {
    type: SegmentType.ACK,
    id: ID,
    sequence: 0,
    ack: 0,
    selectiveAcks: 0,
    payload: new Uint8Array(0),
    ...fields,
  };
}

Deno.test("segment codec: every type round-trips; numbers wrap at 2^32", () => {
  for (const type of Object.values(SegmentType)) {
    const payload = type === SegmentType.DATA
      ? new Uint8Array(MAX_SEGMENT_PAYLOAD_BYTES).fill(3)
      : new Uint8Array(0);
    const original = segment({
      type,
      sequence: 2 ** 32 - 1,
      ack: 12,
      selectiveAcks: 0x8000_0001,
      payload,
    });
    const bytes = encodeSegment(original);
    assert.equal(bytes.length, 25 + payload.length);
    assert.ok(isStreamDatagram(bytes));
    assert.deepEqual(decodeSegment(bytes), original);
  }
  assert.equal(sequenceDistance(2 ** 32 - 1, 1), 2);
  assert.equal(sequenceDistance(5, 4), 2 ** 32 - 1);
  assert.equal(idHex(ID), "0102030405060708");
});

Deno.test("segment codec: hostile bytes decode to undefined", () => {
  const data = encodeSegment(segment({
    type: SegmentType.DATA,
    payload: new Uint8Array([1]),
  }));
  const wrongMagic = data.slice();
  wrongMagic[3] = 0x50; // "RNGP", a punch datagram
  const cases = [
    new Uint8Array(0),
    data.subarray(0, 24),
    data.subarray(0, 25),
    wrongMagic,
    new Uint8Array([...data.subarray(0, 25), ...new Uint8Array(1_201)]),
    new Uint8Array([...encodeSegment(segment({ type: SegmentType.FIN })), 0]),
  ];
  for (const bytes of cases) assert.equal(decodeSegment(bytes), undefined);
  assert.equal(isStreamDatagram(new TextEncoder().encode("RNG")), false);
});

Deno.test("RetransmitTimeout: RFC 6298 estimate, floor, ceiling and back-off", () => {
  const rto = new RetransmitTimeout({
    initialMs: 500,
    minMs: 200,
    maxMs: 4_000,
  });
  assert.equal(rto.smoothedMs, undefined);
  rto.sample(20); // 20 + 4 · 10 = 60: raised to the floor
  assert.equal(rto.currentMs, 200);
  for (let i = 0; i < 10; i++) rto.backOff();
  assert.equal(rto.currentMs, 4_000);
  rto.sample(2_000); // SRTT 267.5, RTTVAR 502.5: 2,277.5
  assert.equal(rto.smoothedMs, 267.5);
  assert.equal(rto.currentMs, 2_277.5);
});

/** A stream that is open, with every segment it sends recorded. */
function openStream(
  options: Parameters<typeof resolveDatagramStreamSettings>[0] = {},
) {
  const clock = new ManualClock(0);
  const sent: Segment[] = [];
  const counters = emptyDatagramStreamsCounters();
  const host: DatagramStreamHost = {
    clock,
    counters,
    transmit: (_to, bytes) => sent.push(decodeSegment(bytes)!),
    stateChanged: () => {},
  };
  const stream = new DatagramStream(
    host,
    resolveDatagramStreamSettings(options),
    PEER,
    ID,
    "connecting",
  );
  stream.start();
  stream.receive(segment({ type: SegmentType.SYN_ACK }));
  assert.equal(stream.state, "open");
  sent.length = 0;
  return { clock, sent, counters, stream };
}

Deno.test("DatagramStream: a write past the send queue bound closes the stream 'error' and sends one RST", () => {
  const { sent, counters, stream } = openStream({ maxSendQueueBytes: 10_000 });
  const reasons: string[] = [];
  stream.onClose((reason) => reasons.push(reason));
  stream.write(new Uint8Array(6_000));
  assert.equal(sent.length, 5); // 1,200-byte segments
  stream.write(new Uint8Array(4_001));
  assert.deepEqual(reasons, ["error"]);
  assert.equal(stream.state, "closed");
  assert.equal(sent.at(-1)?.type, SegmentType.RST);
  assert.equal(counters.streamsFailed, 1);
  stream.write(new Uint8Array(1)); // ignored once closed
  assert.equal(sent.at(-1)?.type, SegmentType.RST);
});

Deno.test("DatagramStream: selective acks spare segments from retransmission; three duplicate acks resend the hole at once", () => {
  const { clock, sent, counters, stream } = openStream();
  stream.write(new Uint8Array(5 * 1_200)); // segments 0..4
  assert.deepEqual(sent.map((s) => s.sequence), [0, 1, 2, 3, 4]);
  sent.length = 0;
  clock.advance(50);
  // Segment 1 lost: the ack of 0 says "next is 1", then three duplicate
  // acks say so again with 2, 3 and 4 arriving (bits 0, 1, 2).
  stream.receive(segment({ ack: 1 }));
  stream.receive(segment({ ack: 1, selectiveAcks: 0b1 }));
  stream.receive(segment({ ack: 1, selectiveAcks: 0b11 }));
  assert.equal(sent.length, 0);
  stream.receive(segment({ ack: 1, selectiveAcks: 0b111 }));
  assert.deepEqual(sent.map((s) => s.sequence), [1]); // fast retransmit
  sent.length = 0;
  // The timeout (200 ms after the ack of 0: the RTT sample of 50 ms gives
  // 150 ms, raised to the floor) resends only what no ack covers: 1 again.
  clock.advance(200);
  assert.deepEqual(sent.map((s) => s.sequence), [1]);
  assert.equal(counters.segmentsRetransmitted, 2);
  stream.receive(segment({ ack: 5 }));
  sent.length = 0;
  clock.advance(10_000);
  assert.equal(sent.length, 0); // all acknowledged: no timer left
});

Deno.test("DatagramStreams: settings out of range are refused with RangeError", () => {
  const components = {
    socket: { send: () => {} },
    clock: new ManualClock(0),
    randomBytes: rngBytes(seededRng(1)),
  };
  assert.throws(
    () => new DatagramStreams(components, { initialRtoMs: 0 }),
    RangeError,
  );
  assert.throws(
    () => new DatagramStreams(components, { maxStreams: 1.5 }),
    RangeError,
  );
  assert.throws(
    () => new DatagramStreams(components, { maxRtoMs: Infinity }),
    RangeError,
  );
});

Deno.test("DatagramStream: a reply written while delivering carries the ack, so no ACK of its own is sent", () => {
  const { sent, stream } = openStream();
  let replies = 0;
  stream.onData((bytes) => {
    if (bytes[0] === 1) {
      replies++;
      stream.write(new Uint8Array([9]));
    }
  });
  stream.receive(segment({
    type: SegmentType.DATA,
    sequence: 0,
    payload: new Uint8Array([1]),
  }));
  assert.equal(replies, 1);
  assert.deepEqual(
    sent.map((s) => [s.type, s.sequence, s.ack]),
    [[SegmentType.DATA, 0, 1]],
  );
  // No reply: a pure ACK.
  stream.receive(segment({
    type: SegmentType.DATA,
    sequence: 1,
    payload: new Uint8Array([2]),
  }));
  assert.deepEqual(
    sent.slice(1).map((s) => [s.type, s.ack]),
    [[SegmentType.ACK, 2]],
  );
});
