/**
 * Tests of the two decoding paths of the OpenDHT wire codec. Goal: the fast
 * path (`decodeMessageFast`: requests and replies read straight from the
 * bytes) returns exactly what the general path (`decodeMessageTree`: a
 * msgpack item tree, then read) returns, down to the order of every
 * object's fields and the class of every value, or nothing; and nothing
 * for every datagram the general path refuses. Method: every captured
 * OpenDHT packet (`tests/vectors/opendht/`) is decoded by both paths, with
 * the kinds that took the fast path listed and counted (a capture set that
 * loses a kind, or a fast path that stops applying, fails); synthetic
 * messages reach what the captures lack (IPv6 nodes, signed values with a
 * recipient, encrypted values, big ids, every where field); hand-made
 * datagrams hit each reason to fall back; then seeded mutations of every
 * capture (bit flips, truncations, inserted and deleted bytes) and random
 * bytes are decoded by both paths.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { randomInt, seededRng } from "../lib/rng.ts";
import type {
  DhtMessage,
  DhtReply,
  DhtRequest,
  DhtValue,
} from "../lib/dht/messages.ts";
import {
  decodeMessage,
  decodeMessageFast,
  decodeMessageTree,
} from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { WireError } from "../lib/dht/wire/errors.ts";

const CAPTURES_URL = new URL("./vectors/opendht/", import.meta.url);
const CAPTURE_NAMES = [
  "direct-all",
  "relay-all",
  "relay-long-all",
  "netid-all",
] as const;

async function capturedPackets(): Promise<
  { what: string; bytes: Uint8Array }[]
> {
  const packets: { what: string; bytes: Uint8Array }[] = [];
  for (const name of CAPTURE_NAMES) {
    const text = await Deno.readTextFile(
      new URL(`${name}.json`, CAPTURES_URL),
    );
    for (
      const p of (JSON.parse(text) as { packets: { n: number; hex: string }[] })
        .packets
    ) {
      packets.push({
        what: `${name} #${p.n}`,
        bytes: Uint8Array.fromHex(p.hex),
      });
    }
  }
  return packets;
}

/**
 * Asserts that `actual` is `expected` exactly: same classes, same bytes,
 * same ids, same keys in the same order, same number or bigint.
 */
function assertSame(actual: unknown, expected: unknown, path: string): void {
  assert.equal(typeof actual, typeof expected, path);
  if (typeof expected !== "object" || expected === null) {
    assert.equal(actual, expected, path);
    return;
  }
  const object = actual as object;
  assert.equal(object.constructor, expected.constructor, `${path}: class`);
  if (expected instanceof InfoHash) {
    assert.equal(String(object), expected.toString(), path);
  } else if (expected instanceof Uint8Array) {
    assert.equal((object as Uint8Array).toHex(), expected.toHex(), path);
  } else if (Array.isArray(expected)) {
    const array = object as unknown[];
    assert.equal(array.length, expected.length, `${path}: length`);
    expected.forEach((item, index) =>
      assertSame(array[index], item, `${path}[${index}]`)
    );
  } else {
    const keys = Object.keys(expected);
    assert.deepEqual(Object.keys(object), keys, `${path}: keys`);
    for (const key of keys) {
      assertSame(
        (object as Record<string, unknown>)[key],
        (expected as Record<string, unknown>)[key],
        `${path}.${key}`,
      );
    }
  }
}

/**
 * Decodes by both paths: the fast result, when there is one, must be the
 * general one; when the general path refuses, the fast path must give up.
 * Tells whether the fast path applied.
 */
function assertSameDecoding(bytes: Uint8Array, what: string): boolean {
  let tree: DhtMessage | undefined;
  let refusal: unknown;
  try {
    tree = decodeMessageTree(bytes);
  } catch (error) {
    refusal = error;
  }
  const fast = decodeMessageFast(bytes);
  if (tree === undefined) {
    assert.ok(refusal instanceof WireError, what);
    assert.equal(fast, undefined, `${what}: fast path accepted a refusal`);
    return false;
  }
  if (fast !== undefined) assertSame(fast, tree, what);
  assertSame(decodeMessage(bytes), tree, `${what} (decodeMessage)`);
  return fast !== undefined;
}

/** A label per message kind: a request's method, a reply's body fields, an error's code. */
function kindOf(message: DhtMessage): string {
  switch (message.kind) {
    case "request": {
      const extra = message.method === "get" && message.query !== undefined
        ? " query"
        : message.method === "put" && message.valueSizes !== undefined
        ? " valueSizes"
        : "";
      return `request ${message.method}${extra}`;
    }
    case "reply":
      return [
        "reply",
        ...([
          "valueId",
          "nodes4",
          "token",
          "values",
          "valueSizes",
          "fields",
        ] as const)
          .filter((field) => message[field] !== undefined),
      ].join(" ");
    case "error":
      return `error ${message.code}`;
    case "value-part":
      return "value-part";
  }
}

Deno.test("decodeMessageFast() gives what decodeMessageTree() gives on every captured packet, and applies to every request and plain reply", async () => {
  const kinds: Record<string, { packets: number; fast: number }> = {};
  let refused = 0;
  for (const { what, bytes } of await capturedPackets()) {
    const fast = assertSameDecoding(bytes, what);
    let message: DhtMessage;
    try {
      message = decodeMessageTree(bytes);
    } catch {
      refused++;
      continue;
    }
    const entry = kinds[kindOf(message)] ??= { packets: 0, fast: 0 };
    entry.packets++;
    if (fast) entry.fast++;
  }
  assert.deepEqual(kinds, {
    "request ping": { packets: 7, fast: 7 },
    "request find": { packets: 70, fast: 70 },
    "request get": { packets: 6, fast: 6 },
    "request get query": { packets: 26, fast: 26 },
    "request put": { packets: 16, fast: 16 },
    "request put valueSizes": { packets: 11, fast: 0 },
    "request refresh": { packets: 5, fast: 5 },
    "request listen": { packets: 41, fast: 41 },
    "request update": { packets: 8, fast: 8 },
    "reply": { packets: 52, fast: 52 },
    "reply token": { packets: 6, fast: 6 },
    "reply valueId": { packets: 28, fast: 28 },
    "reply nodes4 token": { packets: 75, fast: 75 },
    "reply token values": { packets: 1, fast: 1 },
    "reply nodes4 token values": { packets: 6, fast: 6 },
    // Value sizes, fields, errors and value parts: the general path alone.
    "reply nodes4 token valueSizes": { packets: 4, fast: 0 },
    "reply nodes4 token fields": { packets: 10, fast: 0 },
    "error 203": { packets: 4, fast: 0 },
    "error 401": { packets: 2, fast: 0 },
    "error 404": { packets: 1, fast: 0 },
    "value-part": { packets: 29, fast: 0 },
  });
  assert.equal(refused, 4);
});

const ME = InfoHash.get("me");
const PEER = InfoHash.get("peer");

function syntheticMessages(): DhtMessage[] {
  const signed: DhtValue = {
    id: 2n ** 64n - 1n,
    type: 9,
    data: new Uint8Array(70).fill(1),
    userType: "é/ü",
    owner: new Uint8Array(300).fill(2),
    seq: 65535,
    recipient: PEER,
    signature: new Uint8Array(256).fill(3),
    priority: 0xffff_ffff,
  };
  const values: DhtValue[] = [
    signed,
    { ...signed, recipient: InfoHash.ZERO, id: 2n ** 53n },
    { id: 1n, type: 0, data: new Uint8Array(0), cypher: new Uint8Array(90) },
    { id: 2n ** 32n, type: 3, data: new Uint8Array([1]), userType: "x" },
  ];
  const base = { tid: 0xffff_ffff, network: 0xffff_ffff, senderId: ME };
  const requests: DhtRequest[] = [
    {
      kind: "request",
      method: "ping",
      ...base,
      isClient: true,
      userAgent: "a user agent longer than thirty-one characters",
    },
    {
      kind: "request",
      method: "find",
      ...base,
      target: PEER,
      want: [2, 10, 0xffff],
      isClient: false,
    },
    {
      kind: "request",
      method: "get",
      ...base,
      key: PEER,
      want: [10],
      token: new Uint8Array(32),
      query: {
        select: [1, 2, 3, 4, 5],
        where: [
          { field: 1, value: 2n ** 63n },
          { field: 2, value: 7 },
          { field: 3, value: PEER.bytes },
          { field: 5, value: new Uint8Array([0x61, 0xff]) },
        ],
      },
    },
    {
      kind: "request",
      method: "put",
      ...base,
      key: PEER,
      values,
      createdSeconds: -5,
      token: new Uint8Array(32),
    },
    {
      kind: "request",
      method: "put",
      ...base,
      key: PEER,
      values: [],
      token: new Uint8Array(0),
    },
    {
      kind: "request",
      method: "refresh",
      ...base,
      key: PEER,
      valueId: 2n ** 64n - 1n,
      token: new Uint8Array(32),
    },
    {
      kind: "request",
      method: "listen",
      ...base,
      key: PEER,
      token: new Uint8Array(32),
      socketId: 0xffff_ffff,
      version: 1,
      query: { select: [], where: [{ field: 2, value: 2n ** 60n }] },
    },
    {
      kind: "request",
      method: "update",
      ...base,
      socketId: 3,
      key: PEER,
      token: new Uint8Array(32),
      version: -1,
      values,
      refreshed: [1n, 2n ** 64n - 1n],
      expired: [],
    },
  ];
  const replies: DhtReply[] = [
    {
      kind: "reply",
      ...base,
      userAgent: "RNG1",
      seenAddress: new Uint8Array(16).fill(0xfe),
      seenPort: 65_535,
      nodes4: [{ id: PEER, address: { host: "192.0.2.1", port: 65535 } }],
      nodes6: [
        { id: PEER, address: { host: "2001:db8::1", port: 4222 } },
        { id: ME, address: { host: "::ffff:192.0.2.7", port: 1 } },
      ],
      token: new Uint8Array(32).fill(3),
      values,
      truncated: true,
    },
    {
      kind: "reply",
      ...base,
      valueId: 0n,
      seenAddress: Uint8Array.from([127, 0, 0, 1]),
      seenPort: 1,
    },
    { kind: "reply", ...base, nodes4: [], nodes6: [], values: [] },
  ];
  return [...requests, ...replies];
}

Deno.test("decodeMessageFast() gives what decodeMessageTree() gives on what the captures lack", () => {
  for (const message of syntheticMessages()) {
    const bytes = encodeMessage(message).slice();
    const what = kindOf(message);
    assert.ok(assertSameDecoding(bytes, what), `no fast path for ${what}`);
    assert.equal(
      encodeMessage(decodeMessageFast(bytes)!).toHex(),
      bytes.toHex(),
      what,
    );
  }
});

Deno.test("decodeMessageFast() copies out of a node Buffer into plain Uint8Arrays of their own, but for the token and seen address", () => {
  // node:dgram hands datagrams over as Buffers, whose `slice` is a view.
  // The token and the seen address are plain Uint8Array views of the
  // datagram (read at once, copied by whoever keeps them: messages.ts).
  const withoutViews = (message: DhtMessage) => {
    const { token: _token, seenAddress: _seen, ...rest } = message as
      & DhtMessage
      & { token?: Uint8Array; seenAddress?: Uint8Array };
    return rest;
  };
  let views = 0;
  for (const message of syntheticMessages()) {
    const bytes = encodeMessage(message).slice();
    const buffer = Buffer.from(bytes);
    const fast = decodeMessageFast(buffer);
    assert.ok(fast !== undefined);
    assertSame(fast, decodeMessageTree(bytes), kindOf(message));
    buffer.fill(0);
    assertSame(
      withoutViews(fast),
      withoutViews(decodeMessageTree(bytes)),
      `${kindOf(message)}, Buffer zeroed`,
    );
    const fields = fast as { token?: Uint8Array; seenAddress?: Uint8Array };
    for (const view of [fields.token, fields.seenAddress]) {
      if (view === undefined) continue;
      assert.equal(view.constructor, Uint8Array);
      if (view.length > 0) assert.ok(view.every((byte) => byte === 0));
      views += 1;
    }
  }
  assert.ok(views > 0);
});

/** msgpack for a fixstr. */
function str(text: string): number[] {
  return [0xa0 | text.length, ...new TextEncoder().encode(text)];
}

/** A 20-byte bin of `id`. */
function bin(bytes: Uint8Array): number[] {
  return [0xc4, bytes.length, ...bytes];
}

/** A datagram: a map of the given key/value byte runs. */
function map(entries: number[][]): number[] {
  return [0x80 | entries.length / 2, ...entries.flat()];
}

Deno.test("decodeMessageFast() leaves unusual datagrams to the general path, which decides", () => {
  const id = bin(ME.bytes);
  const ping = (body: number[][], top: number[][] = []) =>
    map([
      str("a"),
      map([str("id"), id, ...body]),
      str("q"),
      str("ping"),
      str("t"),
      [0x01],
      ...top,
    ]);
  const cases: Record<string, number[]> = {
    "a plain ping": ping([]),
    "duplicate body key (later wins)": ping([str("id"), bin(PEER.bytes)]),
    "duplicate top key": ping([], [str("t"), [0x02]]),
    "str8 key": ping([], [[0xd9, 1, 0x76], str("agent")]),
    "int key": ping([], [[0x05], [0x06]]),
    "tid as a 4-byte bin": map([
      str("a"),
      map([str("id"), id]),
      str("q"),
      str("ping"),
      str("t"),
      [0xc4, 4, 0, 0, 1, 0],
    ]),
    "tid as a 4-byte str": map([
      str("a"),
      map([str("id"), id]),
      str("q"),
      str("ping"),
      str("t"),
      [0xa4, 1, 2, 3, 4],
    ]),
    "a and r together": ping([], [str("r"), map([str("id"), id])]),
    "an error": ping([], [str("e"), [0x92, 0xcd, 0x01, 0x91, ...str("x")]]),
    "y is not q": ping([], [str("y"), str("r")]),
    "y as bin": ping([], [str("y"), [0xc4, 1, 0x71]]),
    "unknown method": map([
      str("a"),
      map([str("id"), id]),
      str("q"),
      str("pong"),
    ]),
    "no method": map([str("a"), map([str("id"), id])]),
    "zero sender id": map([
      str("a"),
      map([str("id"), bin(new Uint8Array(20))]),
      str("q"),
      str("ping"),
    ]),
    "tr false and tr junk": ping([str("tr"), [0xc2]]),
    "tr as an int": ping([str("tr"), [0x01]]),
    "sa of 5 bytes": map([
      str("r"),
      map([str("id"), id, str("sa"), [0xc4, 5, 1, 2, 3, 4, 5]]),
    ]),
    "sa as str": map([
      str("r"),
      map([str("id"), id, str("sa"), [0xa4, 1, 2, 3, 4]]),
    ]),
    "n4 of 25 bytes": map([
      str("r"),
      map([str("id"), id, str("n4"), [0xc4, 25, ...new Uint8Array(25)]]),
    ]),
    "token as an array": ping([str("token"), [0x92, 0x01, 0x02]]),
    "want with a string": ping([str("w"), [0x92, 0x02, ...str("x")]]),
    "want out of range": ping([str("w"), [0x93, 0x02, 0xff, 0xce, 0, 1, 0, 0]]),
    "unknown key, deep but allowed": ping([str("zz"), [
      ...new Array(29).fill(0x91),
      0x01,
    ]]),
    "unknown key, too deep": ping([str("zz"), [
      ...new Array(31).fill(0x91),
      0x01,
    ]]),
    "unknown key holding 0xc1": ping([str("zz"), [0x91, 0xc1]]),
    "unknown key, ext and floats": ping([str("zz"), [
      0x93,
      0xd4,
      1,
      2,
      0xca,
      0,
      0,
      0,
      0,
      0xc7,
      1,
      5,
      9,
    ]]),
    "a value size": map([
      str("r"),
      map([str("id"), id, str("values"), [0x91, 0x05]]),
    ]),
    "a malformed value among good ones": map([
      str("r"),
      map([str("id"), id, str("values"), [
        0x92,
        ...map([str("id"), [0x01], str("dat"), [0xc4, 1, 9]]),
        0x80,
      ]]),
    ]),
    "unsigned value with a bad to": map([
      str("r"),
      map([str("id"), id, str("values"), [
        0x91,
        ...map([
          str("id"),
          [0x01],
          str("dat"),
          map([
            str("body"),
            map([str("type"), [0], str("data"), [0xc4, 0], str("to"), [5]]),
          ]),
        ]),
      ]]),
    ]),
    "signed value without sig": map([
      str("r"),
      map([str("id"), id, str("values"), [
        0x91,
        ...map([
          str("id"),
          [0x01],
          str("dat"),
          map([
            str("body"),
            map([
              str("type"),
              [0],
              str("data"),
              [0xc4, 0],
              str("owner"),
              [0xc4, 1, 1],
              str("seq"),
              [0],
            ]),
          ]),
        ]),
      ]]),
    ]),
    "sid as 4 bytes, big int tid": ping([str("sid"), [0xa4, 1, 2, 3, 4]], [
      str("n"),
      [0xcf, 0, 0, 0, 0, 0, 0, 0, 7],
    ]),
    "negative version": ping([str("ve"), [0xd2, 0x80, 0, 0, 0]]),
    "version out of range": ping([str("ve"), [0xce, 0x80, 0, 0, 0]]),
    "created beyond safe integers": ping([str("c"), [
      0xcf,
      0x00,
      0x20,
      0,
      0,
      0,
      0,
      0,
      0,
    ]]),
    "value id as int64": map([
      str("r"),
      map([str("id"), id, str("vid"), [0xd3, 0, 0, 0, 0, 0, 0, 0, 9]]),
    ]),
    "trailing bytes": [...ping([]), 0xc1, 0xc1],
    "truncated": ping([]).slice(0, -1),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    assertSameDecoding(Uint8Array.from(bytes), what);
  }
  // The common shapes do take the fast path.
  for (
    const what of [
      "a plain ping",
      "tr false and tr junk",
      "unknown key, deep but allowed",
      "trailing bytes",
      "sa of 5 bytes",
    ]
  ) {
    assert.ok(
      decodeMessageFast(Uint8Array.from(cases[what])) !== undefined,
      what,
    );
  }
  for (
    const what of [
      "duplicate body key (later wins)",
      "a and r together",
      "unknown key, too deep",
      "truncated",
    ]
  ) {
    assert.equal(
      decodeMessageFast(Uint8Array.from(cases[what])),
      undefined,
      what,
    );
  }
});

Deno.test("decodeMessageFast() agrees with decodeMessageTree() on mutated captures and random bytes", async () => {
  const rng = seededRng("wire decode fast mutations");
  const packets = await capturedPackets();
  let fast = 0;
  let refused = 0;
  let decoded = 0;
  const check = (bytes: Uint8Array, what: string) => {
    if (assertSameDecoding(bytes, what)) fast++;
    try {
      decodeMessageTree(bytes);
      decoded++;
    } catch {
      refused++;
    }
  };
  for (const { what, bytes } of packets) {
    for (let round = 0; round < 24; round++) {
      const mutated = Uint8Array.from(bytes);
      const at = randomInt(rng, bytes.length);
      let result: Uint8Array;
      switch (round % 4) {
        case 0: // a bit flip
          mutated[at] ^= 1 << randomInt(rng, 8);
          result = mutated;
          break;
        case 1: // a byte replaced
          mutated[at] = randomInt(rng, 256);
          result = mutated;
          break;
        case 2: // truncated
          result = mutated.slice(0, at);
          break;
        default: { // a byte inserted or deleted
          const insert = randomInt(rng, 2) === 0;
          result = new Uint8Array([
            ...mutated.subarray(0, at),
            ...(insert ? [randomInt(rng, 256)] : []),
            ...mutated.subarray(insert ? at : at + 1),
          ]);
        }
      }
      check(result, `${what} mutation ${round}`);
    }
  }
  for (let round = 0; round < 2_000; round++) {
    const random = new Uint8Array(randomInt(rng, 64));
    for (let i = 0; i < random.length; i++) random[i] = randomInt(rng, 256);
    // Most random bytes are not a map: start most with a fixmap header.
    if (random.length > 0 && round % 2 === 0) {
      random[0] = 0x80 | (random[0] & 0x0f);
    }
    check(random, `random ${round}`);
  }
  // The mutations reach both outcomes and the fast path (not a test that cannot fail).
  assert.ok(
    fast > 1_000 && refused > 1_000 && decoded > fast,
    `${fast} ${refused} ${decoded}`,
  );
});
