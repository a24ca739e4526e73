/**
 * Hostile datagrams against DatagramStreams (streams over a punched UDP
 * path): SYN floods from one origin and from many, segments for unknown
 * connection ids, malformed segments, sequence and ack numbers far outside
 * the window, and a FIN or RST spoofed from another address. Method: Bob's
 * streams get hand-built segments through `handle(bytes, from)` with any
 * claimed source; an honest Alice is joined to Bob by a 5 ms wire in
 * virtual time; everything Bob sends is recorded. Each attack checks what
 * Bob keeps, what he answers (nothing to strangers, at most one SYN-ACK of
 * the SYN's size per accepted SYN) and that Alice's stream still works.
 */
import assert from "node:assert/strict";
import type {
  ByteStream,
  StreamCloseReason,
} from "../../lib/channel/byte_stream.ts";
import { DatagramStreams } from "../../lib/channel/datagram_streams.ts";
import {
  decodeSegment,
  encodeSegment,
  type Segment,
  SegmentType,
  type SegmentTypeValue,
} from "../../lib/channel/_datagram_stream_wire.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { Mutator } from "../fuzz/_mutator.ts";
import type { PeerAddress } from "../../lib/transport.ts";

const ALICE: PeerAddress = { host: "192.0.2.1", port: 4222 };
const BOB: PeerAddress = { host: "192.0.2.2", port: 4222 };
const MALLORY: PeerAddress = { host: "203.0.113.66", port: 4222 };

function same(a: PeerAddress, b: PeerAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Alice and Bob joined by a 5 ms wire; Bob's sendings recorded. */
function setup(seed: string) {
  const clock = new ManualClock(0);
  const bobSent: Array<{ to: PeerAddress; bytes: Uint8Array }> = [];
  const aliceSent: Segment[] = [];
  const streams: { alice?: DatagramStreams; bob?: DatagramStreams } = {};
  const alice = new DatagramStreams({
    socket: {
      localAddress: ALICE,
      send: (to, bytes) => {
        aliceSent.push(decodeSegment(bytes)!);
        const copy = bytes.slice();
        if (same(to, BOB)) {
          clock.setTimer(5, () => streams.bob!.handle(copy, ALICE));
        }
      },
    },
    clock,
    randomBytes: rngBytes(seededRng(`${seed}/alice`)),
  });
  const bob = new DatagramStreams({
    socket: {
      localAddress: BOB,
      send: (to, bytes) => {
        bobSent.push({ to, bytes: bytes.slice() });
        const copy = bytes.slice();
        if (same(to, ALICE)) {
          clock.setTimer(5, () => streams.alice!.handle(copy, BOB));
        }
      },
    },
    clock,
    randomBytes: rngBytes(seededRng(`${seed}/bob`)),
  });
  streams.alice = alice;
  streams.bob = bob;
  const accepted: ByteStream[] = [];
  bob.listen(0, (stream) => accepted.push(stream));
  return { clock, alice, bob, bobSent, aliceSent, accepted };
}

async function settle(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(10);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

/** Opens Alice's stream to Bob; returns both ends and what each received. */
async function link(context: ReturnType<typeof setup>) {
  let dialled: ByteStream | undefined;
  context.alice.connect(BOB).then((stream) => dialled = stream);
  await settle(context.clock, 100);
  assert.ok(dialled);
  const atBob: number[] = [];
  const atAlice: number[] = [];
  const closes: { alice?: StreamCloseReason; bob?: StreamCloseReason } = {};
  dialled.onData((bytes) => atAlice.push(...bytes));
  dialled.onClose((reason) => closes.alice = reason);
  dialled.write(new Uint8Array([1])); // opens Bob's side
  await settle(context.clock, 100);
  const accepted = context.accepted.at(-1)!;
  accepted.onData((bytes) => atBob.push(...bytes));
  accepted.onClose((reason) => closes.bob = reason);
  await settle(context.clock, 10);
  // The byte that arrived before the handler was set is delivered to it.
  assert.deepEqual(atBob.splice(0), [1]);
  const id = context.aliceSent.find((s) => s.type === SegmentType.SYN)!.id;
  return { dialled, accepted, atBob, atAlice, closes, id };
}

/** Checks that the honest stream still carries bytes both ways. */
async function stillWorks(
  context: ReturnType<typeof setup>,
  honest: Awaited<ReturnType<typeof link>>,
  value: number,
) {
  const [bobBefore, aliceBefore] = [honest.atBob.length, honest.atAlice.length];
  honest.dialled.write(new Uint8Array([value]));
  honest.accepted.write(new Uint8Array([value]));
  await settle(context.clock, 100);
  assert.deepEqual(honest.atBob.slice(bobBefore), [value]);
  assert.deepEqual(honest.atAlice.slice(aliceBefore), [value]);
  assert.deepEqual(honest.closes, {});
}

function segment(
  type: SegmentTypeValue,
  id: Uint8Array,
  fields: Partial<Segment> = {},
): Uint8Array {
  return encodeSegment({
    type,
    id,
    sequence: 0,
    ack: 0,
    selectiveAcks: 0,
    payload: new Uint8Array(0),
    ...fields,
  });
}

function idOf(n: number): Uint8Array {
  const id = new Uint8Array(8);
  new DataView(id.buffer).setUint32(4, n);
  id[0] = 0xee;
  return id;
}

Deno.test("datagram streams attack: a SYN flood from one origin gets 4 half-open streams and 4 same-size SYN-ACKs, then is rate-limited; the honest link is untouched", async () => {
  const context = setup("flood-one");
  const honest = await link(context);
  const { bob, bobSent } = context;
  const sentBefore = bobSent.length;
  let floodBytes = 0;
  for (let i = 0; i < 1_000; i++) {
    const syn = segment(SegmentType.SYN, idOf(i));
    floodBytes += syn.length;
    // Any port of the same address is the same origin.
    bob.handle(syn, { host: MALLORY.host, port: 1_000 + i });
  }
  const answers = bobSent.slice(sentBefore);
  assert.equal(answers.length, 4);
  assert.ok(answers.every(({ bytes }) => bytes.length === 25));
  assert.ok(
    answers.reduce((sum, { bytes }) => sum + bytes.length, 0) < floodBytes,
  );
  assert.equal(bob.size, 1 + 4);
  const drops = bob.counters.dropped;
  // 60 SYNs a minute pass the rate; 4 of them fit the origin's half-open slots.
  assert.equal(drops.halfOpenLimit, 56);
  assert.equal(drops.synRate, 940);
  await stillWorks(context, honest, 2);
  // Unanswered, the half-open streams go after 5 s; none was handed out.
  await settle(context.clock, 5_100);
  assert.equal(bob.size, 1);
  assert.equal(context.accepted.length, 1);
  await stillWorks(context, honest, 3);
});

Deno.test("datagram streams attack: a SYN flood from a thousand addresses of one IPv6 /64 is one origin", () => {
  const { bob, bobSent } = setup("flood-64");
  for (let i = 0; i < 1_000; i++) {
    bob.handle(segment(SegmentType.SYN, idOf(i)), {
      host: `2001:db8:0:1::${i.toString(16)}`,
      port: 4222,
    });
  }
  assert.equal(bob.size, 4);
  assert.equal(bobSent.length, 4);
  assert.equal(bob.counters.dropped.synRate, 940);
});

Deno.test("datagram streams attack: a SYN flood from many origins fills at most 64 half-open slots, and an honest connect during the flood still opens", async () => {
  const context = setup("flood-many");
  const { clock, alice, bob, bobSent } = context;
  let origin = 0;
  const flood = (count: number) => {
    for (let i = 0; i < count; i++, origin++) {
      bob.handle(segment(SegmentType.SYN, idOf(origin)), {
        host: `198.51.${origin >> 8}.${origin & 255}`,
        port: 4222,
      });
    }
  };
  flood(500);
  assert.equal(bob.size, 64);
  assert.equal(bob.counters.halfOpenEvicted, 500 - 64);
  assert.equal(bobSent.length, 500); // one same-size SYN-ACK per SYN, no more
  // Alice dials while 10 spoofed SYNs arrive every 10 ms (1,000 a second).
  let dialled: ByteStream | undefined;
  alice.connect(BOB).then((stream) => dialled = stream);
  for (let t = 0; t < 200 && dialled === undefined; t += 10) {
    flood(10);
    clock.advance(10);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
  assert.ok(dialled, "the honest connect did not open");
  dialled.write(new Uint8Array([7]));
  for (let t = 0; t < 100; t += 10) {
    flood(10);
    clock.advance(10);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
  assert.equal(context.accepted.length, 1);
  const received: number[] = [];
  context.accepted[0].onData((bytes) => received.push(...bytes));
  dialled.write(new Uint8Array([8]));
  await settle(clock, 100);
  assert.deepEqual(received, [7, 8]);
  // Half-open slots never exceeded 64: the table holds them and Alice's stream.
  assert.ok(bob.size <= 64 + 1);
  await settle(clock, 5_100);
  assert.equal(bob.size, 1);
});

Deno.test("datagram streams attack: segments for unknown ids, or from another address with a known id, are never answered", async () => {
  const context = setup("unknown");
  const honest = await link(context);
  const { bob, bobSent } = context;
  const sentBefore = bobSent.length;
  const types = [
    SegmentType.SYN_ACK,
    SegmentType.ACK,
    SegmentType.FIN,
    SegmentType.RST,
  ];
  for (let i = 0; i < 100; i++) {
    for (const type of types) {
      bob.handle(segment(type, idOf(i)), MALLORY);
      bob.handle(segment(type, idOf(i)), ALICE); // right address, wrong id
      bob.handle(segment(type, honest.id), MALLORY); // right id, wrong address
    }
    bob.handle(
      segment(SegmentType.DATA, honest.id, { payload: new Uint8Array([66]) }),
      { host: ALICE.host, port: ALICE.port + 1 }, // right host, wrong port
    );
  }
  assert.equal(bobSent.length, sentBefore);
  assert.equal(bob.counters.dropped.unknownStream, 100 * (3 * 4 + 1));
  assert.deepEqual(honest.atBob, []);
  await stillWorks(context, honest, 4);
});

Deno.test("datagram streams attack: truncated, oversized and malformed segments are dropped and counted, never thrown", async () => {
  const context = setup("malformed");
  const honest = await link(context);
  const { bob, bobSent } = context;
  const sentBefore = bobSent.length;
  const valid = segment(SegmentType.DATA, honest.id, {
    sequence: 1,
    payload: new Uint8Array([9]),
  });
  const oversized = new Uint8Array(25 + 1_201);
  oversized.set(valid.subarray(0, 25));
  const withType = (type: number) => {
    const bytes = valid.slice(0, 25);
    bytes[4] = type;
    return bytes;
  };
  const synWithPayload = segment(SegmentType.SYN, idOf(1)).slice();
  const hostile = [
    new Uint8Array(0),
    new TextEncoder().encode("RNGS"),
    valid.subarray(0, 24), // truncated header
    valid.subarray(0, 25), // DATA without payload
    oversized, // 1,201 bytes of payload
    withType(0),
    withType(7),
    withType(255),
    new Uint8Array([...synWithPayload, 1]),
    new Uint8Array([...segment(SegmentType.ACK, honest.id), 0]),
  ];
  for (const bytes of hostile) bob.handle(bytes, ALICE);
  assert.equal(bob.counters.dropped.malformed, hostile.length);
  assert.equal(bobSent.length, sentBefore);
  assert.deepEqual(honest.atBob, []);
  await stillWorks(context, honest, 5);
});

Deno.test("datagram streams attack: sequence and ack numbers far outside the window are dropped unanswered, and deliver nothing", async () => {
  const context = setup("window");
  const honest = await link(context);
  const { bob, bobSent } = context;
  const sentBefore = bobSent.length;
  const payload = new Uint8Array([99]);
  // An on-path attacker knows the id and address; sequence numbers still
  // have to be in the 32-segment window (or at most 1,024 behind).
  for (const sequence of [40, 1_000, 2 ** 31, 2 ** 32 - 2_000]) {
    bob.handle(
      segment(SegmentType.DATA, honest.id, { sequence, ack: 1, payload }),
      ALICE,
    );
  }
  // An ack for segments Bob never sent.
  bob.handle(
    segment(SegmentType.DATA, honest.id, { sequence: 1, ack: 5_000, payload }),
    ALICE,
  );
  bob.handle(segment(SegmentType.ACK, honest.id, { ack: 2 ** 31 }), ALICE);
  assert.equal(bob.counters.dropped.outsideWindow, 6);
  assert.equal(bobSent.length, sentBefore);
  assert.deepEqual(honest.atBob, []);
  await stillWorks(context, honest, 6);
});

Deno.test("datagram streams attack: a FIN or RST spoofed from another address does not close the stream; the real one does", async () => {
  const context = setup("spoof-fin");
  const honest = await link(context);
  const { bob } = context;
  for (const from of [MALLORY, { host: ALICE.host, port: 9 }]) {
    bob.handle(segment(SegmentType.FIN, honest.id, { sequence: 1 }), from);
    bob.handle(segment(SegmentType.RST, honest.id), from);
  }
  await settle(context.clock, 50);
  assert.deepEqual(honest.closes, {});
  await stillWorks(context, honest, 7);
  // Control: the same RST from Alice's address does close it.
  bob.handle(segment(SegmentType.RST, honest.id), ALICE);
  await settle(context.clock, 10);
  assert.equal(honest.closes.bob, "error");
});

Deno.test("datagram streams attack: an origin that completes every handshake gets at most 16 streams; the total is bounded too, for connects as well", async () => {
  const context = setup("complete");
  const { bob, bobSent } = context;
  let accepted = 0;
  for (let i = 0; i < 40; i++) {
    const from = { host: MALLORY.host, port: 2_000 + i };
    bob.handle(segment(SegmentType.SYN, idOf(i)), from);
    bob.handle(segment(SegmentType.ACK, idOf(i)), from);
    accepted = context.accepted.length;
  }
  assert.equal(accepted, 16);
  assert.equal(bob.size, 16);
  assert.equal(bob.counters.dropped.streamLimit, 24);
  // Answers only to the 16 accepted SYNs (the ACKs are not answered).
  assert.equal(bobSent.length, 16);
  // Our own connects count against the total: with maxStreams 2, the third fails.
  const small = new DatagramStreams({
    socket: { send: () => {} },
    clock: context.clock,
    randomBytes: rngBytes(seededRng("small")),
  }, { maxStreams: 2 });
  void small.connect(BOB).catch(() => {});
  void small.connect(ALICE).catch(() => {});
  await assert.rejects(
    small.connect(MALLORY),
    (error: unknown) =>
      error instanceof Error && error.name === "DatagramConnectError" &&
      (error as { reason?: string }).reason === "limit",
  );
  small.close();
});

Deno.test("datagram streams attack: the table of SYN rates is bounded; the oldest origin is forgotten", () => {
  const clock = new ManualClock(0);
  const sent: PeerAddress[] = [];
  const bob = new DatagramStreams({
    socket: { send: (to) => sent.push(to) },
    clock,
    randomBytes: rngBytes(seededRng("rates")),
  }, { maxRateOrigins: 2, maxSynsPerOriginPerMinute: 1 });
  bob.listen(0, () => {});
  const from = (host: string) => ({ host, port: 4222 });
  let id = 0;
  const syn = (host: string) =>
    bob.handle(segment(SegmentType.SYN, idOf(id++)), from(host));
  syn("198.51.100.1");
  syn("198.51.100.1"); // over its rate
  assert.equal(bob.counters.dropped.synRate, 1);
  // Two more origins push the first out of the two-entry table.
  syn("198.51.100.2");
  syn("198.51.100.3");
  syn("198.51.100.1"); // tracked afresh: allowed
  assert.equal(bob.counters.dropped.synRate, 1);
  assert.equal(sent.length, 4);
  bob.close();
});

Deno.test("datagram streams attack: 5,000 mutated segments from strangers and from the peer's own address never throw, and the table stays bounded", async () => {
  // Method: record an honest exchange, then feed mutants of its segments
  // (bit flips, splices, truncations, random bytes) to Bob, half from
  // Alice's address (they reach the real stream: an on-path attacker can
  // corrupt a stream's bytes; the secure channel above detects that) and
  // half from many stranger addresses.
  const context = setup("fuzz");
  const honest = await link(context);
  honest.dialled.write(new Uint8Array(3_000).fill(1));
  honest.accepted.write(new Uint8Array(3_000).fill(2));
  await settle(context.clock, 200);
  const corpus = [
    ...context.aliceSent.map((s) => encodeSegment(s)),
    ...context.bobSent.map((s) => s.bytes),
  ];
  const mutator = new Mutator(seededRng("datagram-fuzz"));
  const { bob, clock } = context;
  for (let i = 0; i < 5_000; i++) {
    const seed = corpus[mutator.int(corpus.length)];
    const mutant = mutator.mutate(seed, corpus);
    // Keep most mutants on the stream path: restore the magic half the time.
    if (mutator.chance(0.5) && mutant.length >= 4) {
      mutant.set(seed.subarray(0, 4));
    }
    const from = i % 2 === 0 ? ALICE : {
      host: `198.51.100.${mutator.int(256)}`,
      port: 1 + mutator.int(65_535),
    };
    bob.handle(mutant, from);
    if (i % 100 === 0) clock.advance(10);
  }
  await settle(clock, 10_000);
  const counters = bob.counters;
  assert.ok(counters.dropped.malformed > 0);
  assert.ok(counters.dropped.unknownStream > 0);
  assert.ok(bob.size <= 64 + 16 + 256);
});
