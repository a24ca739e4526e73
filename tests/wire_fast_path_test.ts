/**
 * Tests of the two encoding paths of the OpenDHT wire codec. Goal: the fast
 * path (`encodeMessageFast`: ping and find requests, replies without values,
 * written straight into the slab) gives exactly the bytes of the general
 * tree path (`encodeMessageTree`: `requestWire`, `replyWire`, … written by
 * `toDatagram`), and `encodeMessage` takes the fast path wherever it exists.
 * Method: every captured packet that decodes (`tests/vectors/opendht/`, the
 * same files as `wire_test.ts`) is re-encoded by both paths; the message
 * kinds met are listed with their counts, so that a capture set that
 * shrinks or loses a kind fails; synthetic messages then reach the
 * fast-path branches the captures do not (IPv6 nodes, `s`, `w`, a network
 * id, no or non-ASCII user agent), and bad input must be refused alike.
 */
import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import type {
  DhtMessage,
  DhtReply,
  DhtRequest,
  DhtValue,
} from "../lib/dht/messages.ts";
import { sealValue } from "../lib/dht/wire/values.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import {
  encodeMessage,
  encodeMessageFast,
  encodeMessageTree,
} from "../lib/dht/wire/encode.ts";
import { WireError } from "../lib/dht/wire/errors.ts";
import { thrown } from "./_thrown.ts";

const CAPTURES_URL = new URL("./vectors/opendht/", import.meta.url);
const CAPTURE_NAMES = [
  "direct-all",
  "relay-all",
  "relay-long-all",
  "netid-all",
] as const;

interface CapturedPacket {
  readonly n: number;
  readonly scenario: string;
  readonly hex: string;
}

async function capturedPackets(
  name: typeof CAPTURE_NAMES[number],
): Promise<readonly CapturedPacket[]> {
  const text = await Deno.readTextFile(new URL(`${name}.json`, CAPTURES_URL));
  return (JSON.parse(text) as { packets: CapturedPacket[] }).packets;
}

/** The reply fields that choose between the paths and shape the body. */
const REPLY_FIELDS = [
  "valueId",
  "seenAddress",
  "nodes4",
  "nodes6",
  "token",
  "values",
  "valueSizes",
  "fields",
] as const;

/** A label per message kind: the method of a request, the body fields of a reply, the code of an error. */
function kindOf(message: DhtMessage): string {
  switch (message.kind) {
    case "request":
      return `request ${message.method}`;
    case "reply": {
      const present = REPLY_FIELDS.filter((field) =>
        message[field] !== undefined
      );
      return ["reply", ...present].join(" ");
    }
    case "error":
      return `error ${message.code}`;
    case "value-part":
      return "value-part";
  }
}

/** Encodes by both paths and asserts the same bytes; tells whether the fast path applied. */
function assertSameBytes(message: DhtMessage, what: string): boolean {
  // Copies: both paths return views of the shared slab.
  const tree = encodeMessageTree(message).slice();
  const fast = encodeMessageFast(message)?.slice();
  const viaEncodeMessage = encodeMessage(message).slice();
  assert.equal(viaEncodeMessage.toHex(), tree.toHex(), what);
  if (fast !== undefined) assert.equal(fast.toHex(), tree.toHex(), what);
  return fast !== undefined;
}

Deno.test("encodeMessageFast() and encodeMessageTree() give the same bytes for every captured message kind", async () => {
  const kinds: Record<string, { packets: number; fast: boolean }> = {};
  const refused: Record<string, number> = {};
  for (const name of CAPTURE_NAMES) {
    for (const p of await capturedPackets(name)) {
      let message: DhtMessage;
      try {
        message = decodeMessage(Uint8Array.fromHex(p.hex));
      } catch (error) {
        assert.ok(error instanceof WireError, `${name} #${p.n}`);
        refused[error.reason] = (refused[error.reason] ?? 0) + 1;
        continue;
      }
      const kind = kindOf(message);
      const fast = assertSameBytes(message, `${name} #${p.n} ${p.scenario}`);
      const entry = kinds[kind] ??= { packets: 0, fast };
      assert.equal(fast, entry.fast, `${name} #${p.n}: ${kind}`);
      entry.packets++;
    }
  }
  assert.deepEqual(kinds, {
    "request ping": { packets: 7, fast: true },
    "request find": { packets: 70, fast: true },
    "request get": { packets: 32, fast: true },
    "request put": { packets: 27, fast: false },
    "request refresh": { packets: 5, fast: false },
    "request listen": { packets: 41, fast: false },
    "request update": { packets: 8, fast: false },
    "reply seenAddress": { packets: 52, fast: true },
    "reply seenAddress token": { packets: 6, fast: true },
    "reply valueId seenAddress": { packets: 28, fast: true },
    "reply seenAddress nodes4 token": { packets: 75, fast: true },
    "reply seenAddress token values": { packets: 1, fast: true },
    "reply seenAddress nodes4 token values": { packets: 6, fast: true },
    "reply seenAddress nodes4 token valueSizes": { packets: 4, fast: false },
    "reply seenAddress nodes4 token fields": { packets: 10, fast: false },
    "error 203": { packets: 4, fast: false },
    "error 401": { packets: 2, fast: false },
    "error 404": { packets: 1, fast: false },
    "value-part": { packets: 29, fast: false },
  });
  // Legacy v0 pushes, the unknown query and the zero-id ping (handmade).
  assert.deepEqual(refused, { legacy: 2, "unknown-query": 1, "bad-id": 1 });
});

const ME = InfoHash.get("me");
const PEER = InfoHash.get("peer");

/** A value as the store keeps it: sealed, written from its packed bytes. */
const sealed: DhtValue = {
  id: 77n,
  type: 3,
  data: new Uint8Array([1, 2, 3]),
  userType: "text/plain",
};
sealValue(sealed);
const plain: DhtValue = { id: 1n, type: 0, data: new Uint8Array(32).fill(5) };

/** Fast-path messages with what the captures lack: IPv6 nodes, `s`, a network id, no or long user agents, edge numbers. */
function syntheticFastMessages(): (DhtRequest | DhtReply)[] {
  const nodes4 = [
    { id: PEER, address: { host: "192.0.2.1", port: 0 } },
    { id: ME, address: { host: "10.0.0.255", port: 65535 } },
  ];
  const nodes6 = [
    { id: PEER, address: { host: "2001:db8::1", port: 4222 } },
    { id: ME, address: { host: "::ffff:192.0.2.7", port: 1 } },
  ];
  const requests: DhtRequest[] = [
    { kind: "request", method: "ping", tid: 0, network: 0, senderId: ME },
    {
      kind: "request",
      method: "ping",
      tid: 0xffff_ffff,
      network: 0xffff_ffff,
      senderId: ME,
      userAgent: "é-agent",
      isClient: true,
    },
    {
      kind: "request",
      method: "find",
      tid: 300,
      network: 7,
      senderId: ME,
      target: PEER,
      isClient: false,
    },
    {
      kind: "request",
      method: "find",
      tid: 70_000,
      network: 0,
      senderId: ME,
      target: PEER,
      want: [2, 10, 0xffff],
      userAgent: "a user agent longer than thirty-one characters",
    },
    {
      kind: "request",
      method: "find",
      tid: 1,
      network: 0,
      senderId: ME,
      target: PEER,
      want: [],
    },
    {
      kind: "request",
      method: "get",
      tid: 2,
      network: 0,
      senderId: ME,
      key: PEER,
    },
    {
      kind: "request",
      method: "get",
      tid: 0xffff_ffff,
      network: 9,
      senderId: ME,
      key: PEER,
      query: {
        select: [1, 3],
        where: [{ field: 1, value: 2n ** 63n }, { field: 2, value: 7 }],
      },
      want: [2, 10],
      token: new Uint8Array(32).fill(4),
      userAgent: "RNG1",
      isClient: true,
    },
  ];
  const replies: DhtReply[] = [
    { kind: "reply", tid: 5, network: 0, senderId: PEER },
    {
      kind: "reply",
      tid: 6,
      network: 8,
      senderId: PEER,
      userAgent: "RNG1",
      isClient: true,
      seenAddress: new Uint8Array(16).fill(0xfe),
      nodes4,
      nodes6,
      token: new Uint8Array(32).fill(3),
    },
    {
      kind: "reply",
      tid: 7,
      network: 0,
      senderId: PEER,
      nodes4: [],
      nodes6: [],
      token: new Uint8Array(0),
    },
    {
      kind: "reply",
      tid: 8,
      network: 0,
      senderId: PEER,
      valueId: 2n ** 64n - 1n,
      seenAddress: Uint8Array.from([127, 0, 0, 1]),
    },
    { kind: "reply", tid: 9, network: 0, senderId: PEER, valueId: 0n },
    {
      kind: "reply",
      tid: 10,
      network: 0,
      senderId: PEER,
      nodes6: Array.from({ length: 8 }, (_, index) => ({
        id: InfoHash.get(`node ${index}`),
        address: { host: `fe80::${index}:1`, port: 4000 + index },
      })),
    },
    {
      kind: "reply",
      tid: 11,
      network: 0,
      senderId: PEER,
      token: new Uint8Array(32),
      values: [sealed, plain, { ...plain, id: 2n ** 64n - 1n, priority: 3 }],
      truncated: true,
    },
    { kind: "reply", tid: 12, network: 0, senderId: PEER, values: [] },
    {
      kind: "reply",
      tid: 13,
      network: 0,
      senderId: PEER,
      values: [{ ...plain, cypher: new Uint8Array(40).fill(9) }],
    },
  ];
  return [...requests, ...replies];
}

Deno.test("encodeMessageFast() matches encodeMessageTree() on the branches the captures do not reach", () => {
  for (const message of syntheticFastMessages()) {
    const what = JSON.stringify(
      message,
      (_, value) => typeof value === "bigint" ? String(value) : value,
    );
    assert.ok(assertSameBytes(message, what), `no fast path for ${what}`);
    assert.deepEqual(
      encodeMessage(decodeMessage(encodeMessage(message))),
      encodeMessage(message),
      what,
    );
  }
});

Deno.test("encodeMessageFast() refuses what encodeMessageTree() refuses, with the same error", () => {
  const bad: DhtMessage[] = [
    { kind: "request", method: "ping", tid: -1, network: 0, senderId: ME },
    { kind: "request", method: "ping", tid: 2 ** 32, network: 0, senderId: ME },
    { kind: "request", method: "ping", tid: 1, network: 1.5, senderId: ME },
    {
      kind: "request",
      method: "find",
      tid: 1,
      network: 0,
      senderId: ME,
      target: PEER,
      want: [0x1_0000],
    },
    { kind: "reply", tid: 1, network: 0, senderId: PEER, valueId: -1n },
    { kind: "reply", tid: 1, network: 0, senderId: PEER, valueId: 2n ** 64n },
    {
      kind: "reply",
      tid: 1,
      network: 0,
      senderId: PEER,
      nodes4: [{ id: PEER, address: { host: "example.com", port: 1 } }],
    },
    {
      kind: "reply",
      tid: 1,
      network: 0,
      senderId: PEER,
      nodes4: [{ id: PEER, address: { host: "::1", port: 1 } }],
    },
    {
      kind: "reply",
      tid: 1,
      network: 0,
      senderId: PEER,
      nodes6: [{ id: PEER, address: { host: "::1", port: 65536 } }],
    },
  ];
  for (const message of bad) {
    const tree = thrown(() => encodeMessageTree(message), Error);
    const fast = thrown(() => encodeMessageFast(message), Error);
    assert.equal(fast.constructor, tree.constructor, tree.message);
    assert.equal(fast.message, tree.message);
  }
  // The slab is still usable after a refusal mid-message.
  for (const message of syntheticFastMessages()) {
    assertSameBytes(message, kindOf(message));
  }
});

Deno.test("a sealed value is written with the same bytes as an unsealed copy of it", () => {
  const reply = (values: DhtValue[]): DhtReply => ({
    kind: "reply",
    tid: 1,
    network: 0,
    senderId: PEER,
    values,
  });
  const copies = [{ ...sealed }, { ...plain }];
  for (const encode of [encodeMessageFast, encodeMessageTree]) {
    assert.equal(
      encode(reply([sealed, plain]))?.slice().toHex(),
      encode(reply(copies))?.slice().toHex(),
    );
  }
});

Deno.test("sealValue: a sealed value is packed once, still equals an unsealed copy, and sealing twice changes nothing", async () => {
  const { packValue } = await import("../lib/dht/wire/values.ts");
  const value: DhtValue = {
    id: 9n,
    type: 3,
    data: new Uint8Array([4, 5]),
  };
  const copy: DhtValue = { ...value, data: value.data.slice() };
  // Unsealed: packed afresh at every call.
  assert.notEqual(packValue(value), packValue(value));
  sealValue(value);
  const first = packValue(value);
  assert.equal(packValue(value), first);
  sealValue(value);
  assert.equal(packValue(value), first);
  assert.deepStrictEqual(value, copy);
  assert.deepEqual(Object.keys(value), ["id", "type", "data"]);
  assert.deepEqual(first, packValue(copy));
  // An unsealed copy stays unsealed.
  assert.notEqual(packValue(copy), packValue(copy));
  // A frozen value is not refused; it is packed afresh each time.
  const frozen = Object.freeze({ ...copy });
  sealValue(frozen);
  assert.deepEqual(packValue(frozen), first);
  assert.notEqual(packValue(frozen), packValue(frozen));
});
