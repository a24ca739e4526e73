/**
 * Tests of value fragmentation. Goal: send big value sets exactly as
 * OpenDHT 2.4.12 does and reassemble incoming ones within fixed bounds.
 * Method: every fragmented message in the shared captures is reassembled
 * and re-fragmented to the same datagrams; the assembler's ordering,
 * timeouts and limits are driven with explicit `nowMs` values.
 */
import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import type {
  DhtMessage,
  DhtReply,
  DhtValue,
  DhtValuePart,
  PutRequest,
} from "../lib/dht/messages.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { packValue } from "../lib/dht/wire/values.ts";
import {
  EARLY_PART_MAX_AGE_MS,
  encodeWithValueParts,
  MAX_ANNOUNCED_VALUE_BYTES,
  MAX_INLINE_VALUE_COUNT,
  MAX_INLINE_VALUES_BYTES,
  PARTIAL_IDLE_MS,
  PARTIAL_MAX_AGE_MS,
  splitValues,
  VALUE_PART_BYTES,
  ValuePartAssembler,
} from "../lib/dht/value_parts.ts";

/** The shared captures; part of the environment, so a missing file fails the test. */
const CAPTURES_URL = new URL(
  "./vectors/opendht/",
  import.meta.url,
);

interface CapturedPacket {
  readonly n: number;
  readonly scenario: string;
  readonly src: string;
  readonly origin: string;
  readonly hex: string;
  readonly decoded: {
    readonly y?: string;
    readonly t?: number;
    readonly a?: { readonly values?: unknown[] };
    readonly r?: { readonly values?: unknown[] };
  };
}

async function loadPackets(name: string): Promise<CapturedPacket[]> {
  const text = await Deno.readTextFile(new URL(`${name}.json`, CAPTURES_URL));
  return (JSON.parse(text) as { packets: CapturedPacket[] }).packets;
}

function bytesOf(p: CapturedPacket): Uint8Array {
  return Uint8Array.fromHex(p.hex);
}

interface FragmentedMessage {
  readonly capture: string;
  readonly header: CapturedPacket;
  readonly parts: readonly CapturedPacket[];
}

/** Headers whose `values` are sizes, with the value parts of the same sender and tid that follow. */
async function fragmentedMessages(
  capture: string,
  originPrefix: string,
): Promise<FragmentedMessage[]> {
  const packets = await loadPackets(capture);
  const result: FragmentedMessage[] = [];
  packets.forEach((header, position) => {
    const sizes = (header.decoded.a ?? header.decoded.r)?.values;
    if (!header.origin.startsWith(originPrefix)) return;
    if (!Array.isArray(sizes) || typeof sizes[0] !== "number") return;
    const parts: CapturedPacket[] = [];
    for (const p of packets.slice(position + 1)) {
      if (p.src !== header.src || p.decoded.t !== header.decoded.t) continue;
      if (p.decoded.y !== "p") break; // a retry of the header, or the answer
      parts.push(p);
    }
    result.push({ capture, header, parts });
  });
  return result;
}

const SENDER = InfoHash.get("sender");
const KEY = InfoHash.get("key");
const SOURCE = "192.0.2.1:4222";

function value(id: bigint, dataLength: number): DhtValue {
  return { id, type: 0, data: new Uint8Array(dataLength).map((_, i) => i * 7) };
}

function put(tid: number, values: readonly DhtValue[]): PutRequest {
  return {
    kind: "request",
    method: "put",
    tid,
    network: 0,
    userAgent: "RNG1",
    senderId: SENDER,
    key: KEY,
    values,
    token: new Uint8Array(32),
  };
}

function header(tid: number, valueSizes: number[]): DhtReply {
  return { kind: "reply", tid, network: 0, senderId: SENDER, valueSizes };
}

function part(
  tid: number,
  index: number,
  offset: number,
  data: Uint8Array,
): DhtValuePart {
  return {
    kind: "value-part",
    tid,
    network: 0,
    parts: [{ index, offset, data }],
  };
}

/** The parts of one packed value, cut like OpenDHT. */
function pieces(tid: number, index: number, bytes: Uint8Array): DhtValuePart[] {
  const result: DhtValuePart[] = [];
  for (let offset = 0; offset < bytes.length; offset += VALUE_PART_BYTES) {
    result.push(
      part(
        tid,
        index,
        offset,
        bytes.subarray(offset, offset + VALUE_PART_BYTES),
      ),
    );
  }
  return result;
}

/** Data length whose packed plain value is exactly `size` bytes. */
function dataLengthForPackedSize(size: number): number {
  for (let length = 0; length < size; length++) {
    if (packValue(value(1n, length)).length === size) return length;
  }
  throw new Error(`no data length packs to ${size}`);
}

// ---------------------------------------------------------------------------
// Sending

Deno.test("splitValues() keeps fewer than 50 values under 600 bytes inline", () => {
  assert.equal(MAX_INLINE_VALUE_COUNT, 50);
  assert.equal(MAX_INLINE_VALUES_BYTES, 600);
  // The smallest packed value: `{id, dat: bin(empty)}`, 11 bytes; 50 of
  // them stay under 600 bytes, so only the count rule applies.
  const tiny = (count: number): DhtValue[] =>
    Array.from({ length: count }, (_, i) => ({
      id: BigInt(i + 1),
      type: 0,
      data: new Uint8Array(0),
      cypher: new Uint8Array(0),
    }));
  assert.equal(packValue(tiny(1)[0]).length, 11);
  assert.equal(splitValues(tiny(49)).inline, true);
  const fifty = splitValues(tiny(50));
  assert.equal(fifty.inline, false);
  assert.deepEqual(fifty.sizes, new Array(50).fill(11));
  assert.deepEqual(fifty.parts?.[0].map((piece) => piece.length), [11]);
  assert.equal(
    splitValues([value(1n, dataLengthForPackedSize(599))]).inline,
    true,
  );
  const boundary = splitValues([value(1n, dataLengthForPackedSize(600))]);
  assert.equal(boundary.inline, false);
  assert.deepEqual(boundary.sizes, [600]);
  assert.equal(splitValues([]).inline, true);
});

Deno.test("splitValues() cuts the captured 3038-byte value into 1280 + 1280 + 478 (direct 27/28)", async () => {
  const [fromNode] = (await fragmentedMessages("direct-all", "opendht-"))
    .filter((m) => m.header.scenario.includes("fragment"));
  assert.ok(
    fromNode,
    "capture 28 (get of a big value, fragmented by the node)",
  );
  const reply = decodeMessage(bytesOf(fromNode.header));
  assert.ok(reply.kind === "reply");
  assert.deepEqual(reply.valueSizes, [3038]);
  const captured = fromNode.parts.map((p) => {
    const decoded = decodeMessage(bytesOf(p));
    assert.ok(decoded.kind === "value-part");
    return decoded.parts[0];
  });
  assert.deepEqual(captured.map((piece) => [piece.offset, piece.data.length]), [
    [0, 1280],
    [1280, 1280],
    [2560, 478],
  ]);
  const packed = new Uint8Array(captured.flatMap((piece) => [...piece.data]));
  const assembler = new ValuePartAssembler();
  assert.equal(assembler.receive(SOURCE, reply, 0), undefined);
  let completed: DhtMessage | undefined;
  for (const p of fromNode.parts) {
    completed = assembler.receive(SOURCE, decodeMessage(bytesOf(p)), 1);
  }
  assert.ok(completed?.kind === "reply");
  const [big] = completed.values!;
  assert.equal(big.id, 0x5555555555555555n);
  assert.equal(big.data.length, 3000);
  const split = splitValues([big]);
  assert.deepEqual(split.sizes, [3038]);
  assert.deepEqual(split.parts?.[0], captured.map((piece) => piece.data));
  assert.deepEqual(packValue(big), packed);
  // The handmade put of scenario 27 followed the same rule and was accepted by dhtnode.
  const [fromClient] = (await fragmentedMessages("direct-all", "handmade"))
    .filter((m) => m.header.scenario.includes("fragment"));
  const datagrams = [fromClient.header, ...fromClient.parts].map(bytesOf);
  const request = decodeMessage(datagrams[0]);
  assert.ok(request.kind === "request" && request.method === "put");
  const clientAssembler = new ValuePartAssembler();
  const results = datagrams.map((bytes) =>
    clientAssembler.receive(SOURCE, decodeMessage(bytes), 0)
  );
  const completedPut = results.at(-1);
  assert.ok(completedPut?.kind === "request" && completedPut.method === "put");
  assert.deepEqual(completedPut.values, [big]);
});

Deno.test("encodeWithValueParts() reproduces every fragmented message OpenDHT sent", async () => {
  let reproduced = 0;
  for (const capture of ["direct-all", "relay-all", "relay-long-all"]) {
    for (
      const { header, parts } of await fragmentedMessages(capture, "opendht-")
    ) {
      const assembler = new ValuePartAssembler();
      let completed: DhtMessage | undefined = assembler.receive(
        header.src,
        decodeMessage(bytesOf(header)),
        0,
      );
      assert.equal(completed, undefined);
      for (const p of parts) {
        completed = assembler.receive(header.src, decodeMessage(bytesOf(p)), 0);
      }
      assert.ok(
        completed !== undefined,
        `${capture} #${header.n} did not complete`,
      );
      const datagrams = encodeWithValueParts(completed).map((bytes) =>
        bytes.toHex()
      );
      assert.deepEqual(
        datagrams,
        [header, ...parts].map((p) => p.hex),
        `${capture} #${header.n}`,
      );
      assert.equal(assembler.partialCount, 0);
      reproduced++;
    }
  }
  assert.ok(reproduced >= 10, `${reproduced} fragmented messages`);
});

Deno.test("encodeWithValueParts() leaves inline and value-less messages as one datagram", () => {
  const small = put(1, [value(1n, 10)]);
  assert.deepEqual(encodeWithValueParts(small), [encodeMessage(small)]);
  const ping: DhtMessage = {
    kind: "request",
    method: "ping",
    tid: 2,
    network: 0,
    senderId: SENDER,
  };
  assert.deepEqual(encodeWithValueParts(ping), [encodeMessage(ping)]);
  const preSplit = header(3, [5000]);
  assert.deepEqual(encodeWithValueParts(preSplit), [encodeMessage(preSplit)]);
});

Deno.test("encodeWithValueParts() carries the network id into every part", () => {
  const datagrams = encodeWithValueParts({
    ...put(9, [value(1n, 2000)]),
    network: 7,
  });
  assert.equal(datagrams.length, 3);
  for (const bytes of datagrams) assert.equal(decodeMessage(bytes).network, 7);
});

// ---------------------------------------------------------------------------
// Receiving

Deno.test("ValuePartAssembler round-trips several values of several sizes", () => {
  const values = [
    value(1n, 3000),
    value(2n ** 63n, 10),
    value(3n, 1300),
    value(4n, 0),
  ];
  const datagrams = encodeWithValueParts(put(77, values));
  assert.equal(datagrams.length, 1 + 3 + 1 + 2 + 1);
  const assembler = new ValuePartAssembler();
  const results = datagrams.map((bytes, index) =>
    assembler.receive(SOURCE, decodeMessage(bytes), index)
  );
  assert.deepEqual(
    results.slice(0, -1),
    new Array(datagrams.length - 1).fill(undefined),
  );
  const completed = results.at(-1);
  assert.ok(completed?.kind === "request" && completed.method === "put");
  assert.deepEqual(completed.values, values);
  assert.equal("valueSizes" in completed, false);
  assert.equal(assembler.partialCount, 0);
  assert.equal(assembler.bufferedBytes, 0);
});

Deno.test("ValuePartAssembler passes other messages through unchanged", () => {
  const assembler = new ValuePartAssembler();
  const small = put(1, [value(1n, 10)]);
  assert.equal(assembler.receive(SOURCE, small, 0), small);
  const reply: DhtReply = {
    kind: "reply",
    tid: 1,
    network: 0,
    senderId: SENDER,
  };
  assert.equal(assembler.receive(SOURCE, reply, 0), reply);
});

Deno.test("ValuePartAssembler puts reordered parts back in order and drops overlaps and overruns", () => {
  const packed = packValue(value(9n, 3000));
  const [first, second, third] = pieces(5, 0, packed);
  const assembler = new ValuePartAssembler();
  assert.equal(
    assembler.receive(SOURCE, header(5, [packed.length]), 0),
    undefined,
  );
  assert.equal(assembler.receive(SOURCE, third, 1), undefined);
  assert.equal(assembler.receive(SOURCE, second, 2), undefined);
  // The same part again (a retry) while it waits for the gap: dropped.
  assert.equal(assembler.receive(SOURCE, second, 3), undefined);
  assert.equal(assembler.dropped["out-of-order"], 1);
  const completed = assembler.receive(SOURCE, first, 4);
  assert.ok(completed?.kind === "reply");
  assert.equal(completed.values?.[0].id, 9n);
  assert.deepEqual(completed.values?.[0].data, value(9n, 3000).data);
  assert.equal(assembler.bufferedBytes, 0);
  // A part overlapping what was received is dropped; the value still completes.
  const again = pieces(7, 0, packed);
  assembler.receive(SOURCE, header(7, [packed.length]), 5);
  assembler.receive(SOURCE, again[0], 6);
  assert.equal(assembler.receive(SOURCE, again[0], 7), undefined);
  assert.equal(assembler.dropped["out-of-order"], 2);
  assembler.receive(SOURCE, again[1], 8);
  assert.ok(assembler.receive(SOURCE, again[2], 9)?.kind === "reply");
  // A piece overrunning the announced size is dropped.
  assert.equal(assembler.receive(SOURCE, header(6, [10]), 6), undefined);
  assert.equal(
    assembler.receive(SOURCE, part(6, 0, 0, new Uint8Array(11)), 7),
    undefined,
  );
  assert.equal(
    assembler.receive(SOURCE, part(6, 0, 4, new Uint8Array(7)), 7),
    undefined,
  );
  assert.equal(assembler.dropped["out-of-order"], 4);
});

Deno.test("ValuePartAssembler completes a 64 KiB value whose parts arrive in reverse", () => {
  const big = value(4n, 64_000);
  const packed = packValue(big);
  const parts = pieces(9, 0, packed);
  assert.ok(parts.length > 40);
  const assembler = new ValuePartAssembler();
  assembler.receive(SOURCE, header(9, [packed.length]), 0);
  for (const piece of parts.slice(1).reverse()) {
    assert.equal(assembler.receive(SOURCE, piece, 1), undefined);
  }
  const completed = assembler.receive(SOURCE, parts[0], 2);
  assert.ok(completed?.kind === "reply");
  assert.deepEqual(completed.values?.[0].data, big.data);
  assert.equal(assembler.dropped["out-of-order"], 0);
});

Deno.test("ValuePartAssembler holds no more bytes ahead of a gap than the value lacks", () => {
  const assembler = new ValuePartAssembler();
  assembler.receive(SOURCE, header(3, [100]), 0);
  // Overlapping pieces at distinct offsets cannot pile up past the size.
  for (let offset = 1; offset <= 60; offset++) {
    assembler.receive(SOURCE, part(3, 0, offset, new Uint8Array(40)), 1);
  }
  assert.equal(assembler.dropped["out-of-order"], 60 - 2);
});

Deno.test("ValuePartAssembler drops a partial 3 s without progress", () => {
  const packed = packValue(value(9n, 3000));
  const [first, second, third] = pieces(5, 0, packed);
  const assembler = new ValuePartAssembler();
  assembler.receive(SOURCE, header(5, [packed.length]), 1000);
  assert.equal(assembler.nextWakeupMs(), 1000 + PARTIAL_IDLE_MS);
  assembler.receive(SOURCE, first, 3999);
  assert.equal(assembler.nextWakeupMs(), 3999 + PARTIAL_IDLE_MS);
  assert.equal(assembler.expire(6998), 0);
  assert.equal(assembler.expire(6999), 1);
  assert.equal(assembler.partialCount, 0);
  assert.equal(assembler.nextWakeupMs(), undefined);
  assert.equal(assembler.receive(SOURCE, second, 7000), undefined);
  assert.equal(assembler.receive(SOURCE, third, 7001), undefined);
  assert.deepEqual([
    assembler.dropped.expired,
    assembler.dropped["unknown-tid"],
  ], [1, 2]);
  // A part arriving after the deadline, before any expire() call, is dropped too.
  assembler.receive(SOURCE, header(5, [packed.length]), 10_000);
  assert.equal(
    assembler.receive(SOURCE, first, 10_000 + PARTIAL_IDLE_MS),
    undefined,
  );
  assert.equal(assembler.dropped.expired, 2);
  assert.equal(assembler.bufferedBytes, 0);
});

Deno.test("ValuePartAssembler drops a partial 10 s after its header even while it progresses", () => {
  const packed = packValue(value(9n, 12 * VALUE_PART_BYTES));
  const parts = pieces(8, 0, packed);
  const assembler = new ValuePartAssembler();
  assembler.receive(SOURCE, header(8, [packed.length]), 0);
  for (let index = 0; index < 5; index++) {
    assert.equal(
      assembler.receive(SOURCE, parts[index], 2000 * (index + 1) - 1),
      undefined,
    );
  }
  assert.equal(assembler.nextWakeupMs(), PARTIAL_MAX_AGE_MS);
  assert.equal(
    assembler.receive(SOURCE, parts[5], PARTIAL_MAX_AGE_MS),
    undefined,
  );
  assert.equal(assembler.dropped.expired, 1);
  assert.equal(assembler.partialCount, 0);
});

Deno.test("ValuePartAssembler holds at most maxPartials partial messages", () => {
  const assembler = new ValuePartAssembler({ maxPartials: 2 });
  assembler.receive(SOURCE, header(1, [2000]), 0);
  assembler.receive(SOURCE, header(2, [2000]), 0);
  assert.equal(assembler.receive(SOURCE, header(3, [2000]), 1), undefined);
  assert.equal(assembler.partialCount, 2);
  assert.equal(assembler.dropped["too-many-partials"], 1);
  // Once the old ones are stale, a new header makes room by expiring them.
  assembler.receive(SOURCE, header(4, [2000]), PARTIAL_IDLE_MS);
  assert.equal(assembler.partialCount, 1);
  assert.equal(assembler.dropped.expired, 2);
  assert.throws(() => new ValuePartAssembler({ maxPartials: 0 }), RangeError);
  assert.throws(
    () => new ValuePartAssembler({ maxBufferedBytes: 1.5 }),
    RangeError,
  );
});

Deno.test("ValuePartAssembler bounds the bytes announced by partial messages", () => {
  const assembler = new ValuePartAssembler({ maxBufferedBytes: 100_000 });
  assembler.receive(SOURCE, header(1, [60_000]), 0);
  assert.equal(assembler.bufferedBytes, 60_000);
  assert.equal(
    assembler.receive(SOURCE, header(2, [30_000, 20_000]), 0),
    undefined,
  );
  assert.equal(assembler.dropped["over-budget"], 1);
  assembler.receive(SOURCE, header(3, [40_000]), 0);
  assert.equal(assembler.bufferedBytes, 100_000);
  assembler.expire(PARTIAL_IDLE_MS);
  assert.equal(assembler.bufferedBytes, 0);
});

Deno.test("ValuePartAssembler ignores announced sizes above 64 KiB + 32", () => {
  assert.equal(MAX_ANNOUNCED_VALUE_BYTES, 65568);
  const assembler = new ValuePartAssembler();
  // Only oversized values: the message is processed at once, without values (as OpenDHT).
  const alone = assembler.receive(
    SOURCE,
    header(1, [MAX_ANNOUNCED_VALUE_BYTES + 1]),
    0,
  );
  assert.ok(alone?.kind === "reply");
  assert.deepEqual(alone.values, []);
  assert.equal(assembler.partialCount, 0);
  // Mixed: only the acceptable value (index 1) is waited for.
  const packed = packValue(value(3n, 700));
  assert.equal(
    assembler.receive(
      SOURCE,
      header(2, [MAX_ANNOUNCED_VALUE_BYTES + 1, packed.length]),
      0,
    ),
    undefined,
  );
  assert.equal(assembler.bufferedBytes, packed.length);
  assert.equal(
    assembler.receive(SOURCE, part(2, 0, 0, new Uint8Array(100)), 0),
    undefined,
  );
  const completed = assembler.receive(SOURCE, part(2, 1, 0, packed), 0);
  assert.ok(completed?.kind === "reply");
  assert.deepEqual(completed.values?.map((v) => v.id), [3n]);
  assert.equal(assembler.dropped.oversized, 2);
  // Exactly 64 KiB + 32 is still accepted.
  assert.equal(
    assembler.receive(SOURCE, header(3, [MAX_ANNOUNCED_VALUE_BYTES]), 0),
    undefined,
  );
  assert.equal(assembler.partialCount, 1);
});

Deno.test("ValuePartAssembler keys partials by source and tid", () => {
  const packed = packValue(value(1n, 800));
  const assembler = new ValuePartAssembler();
  assembler.receive("10.0.0.1:1", header(7, [packed.length]), 0);
  assembler.receive("10.0.0.2:1", header(7, [packed.length]), 0);
  assert.equal(assembler.partialCount, 2);
  assert.equal(
    assembler.receive("10.0.0.3:1", part(7, 0, 0, packed), 0),
    undefined,
  );
  assert.equal(assembler.dropped["unknown-tid"], 1);
  const fromSecond = assembler.receive("10.0.0.2:1", part(7, 0, 0, packed), 0);
  assert.ok(fromSecond?.kind === "reply");
  assert.equal(assembler.partialCount, 1);
});

Deno.test("ValuePartAssembler counts a repeated header but keeps assembling", () => {
  const packed = packValue(value(1n, 2000));
  const [first, second] = pieces(4, 0, packed);
  const assembler = new ValuePartAssembler();
  assembler.receive(SOURCE, header(4, [packed.length]), 0);
  assembler.receive(SOURCE, first, 1);
  assert.equal(
    assembler.receive(SOURCE, header(4, [packed.length]), 1000),
    undefined,
  );
  assert.equal(assembler.dropped["duplicate-header"], 1);
  // The retry re-sends the first part (dropped: already received), then the second.
  assert.equal(assembler.receive(SOURCE, first, 1001), undefined);
  const completed = assembler.receive(SOURCE, second, 1002);
  assert.ok(completed?.kind === "reply");
  assert.equal(completed.values?.[0].data.length, 2000);
});

Deno.test("ValuePartAssembler skips reassembled bytes that are not a value", () => {
  const good = packValue(value(2n, 700));
  const assembler = new ValuePartAssembler();
  assembler.receive(SOURCE, header(3, [5, good.length]), 0);
  assembler.receive(
    SOURCE,
    part(3, 0, 0, Uint8Array.from([0x91, 1, 2, 3, 4])),
    0,
  );
  const completed = assembler.receive(SOURCE, part(3, 1, 0, good), 0);
  assert.ok(completed?.kind === "reply");
  assert.deepEqual(completed.values?.map((v) => v.id), [2n]);
  assert.equal(assembler.dropped["bad-value"], 1);
});

Deno.test("ValuePartAssembler keeps a part that comes before its header, briefly", () => {
  const packed = packValue(value(3n, 3000));
  const [first, second, third] = pieces(9, 0, packed);
  const assembler = new ValuePartAssembler();
  // Reordered on the way: the last part first, then the header.
  assert.equal(assembler.receive(SOURCE, third, 0), undefined);
  assert.equal(
    assembler.receive(SOURCE, header(9, [packed.length]), 1),
    undefined,
  );
  assert.equal(assembler.receive(SOURCE, first, 2), undefined);
  const done = assembler.receive(SOURCE, second, 3);
  assert.ok(done?.kind === "reply");
  assert.deepEqual(done.values?.[0].data, value(3n, 3000).data);
  // Kept no longer than EARLY_PART_MAX_AGE_MS: a header after that waits.
  const late = new ValuePartAssembler();
  late.receive(SOURCE, third, 0);
  late.receive(SOURCE, header(9, [packed.length]), EARLY_PART_MAX_AGE_MS + 1);
  late.receive(SOURCE, first, EARLY_PART_MAX_AGE_MS + 2);
  assert.equal(
    late.receive(SOURCE, second, EARLY_PART_MAX_AGE_MS + 3),
    undefined,
  );
  assert.equal(late.partialCount, 1);
});
