/**
 * Tests of the OpenDHT wire codec. Goal: byte-exact compatibility with
 * OpenDHT 2.4.12 and a receive path that only ever throws WireError.
 * Method: every packet captured from a real dhtnode (shared
 * `opendht-vectors/captures/`) is decoded, checked field by field against
 * the capture's JSON rendering, and re-encoded to the same bytes; hostile
 * inputs (truncations, random bytes, bit flips, deep nesting, huge lengths,
 * wrong types for every key) and seeded random typed messages do the rest.
 */
import assert from "node:assert/strict";
import {
  decode as msgpackDecode,
  encode as msgpackEncode,
} from "@msgpack/msgpack";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { randomInt, type Rng, rngBytes, seededRng } from "../lib/rng.ts";
import type {
  DhtMessage,
  DhtQuery,
  DhtReply,
  DhtRequest,
  DhtValue,
  NodeInfo,
} from "../lib/dht/messages.ts";
import {
  decodeNodes4,
  decodeNodes6,
  decodeSeenAddress,
  encodeNodes4,
  encodeNodes6,
  encodeSeenAddress,
} from "../lib/dht/wire/addresses.ts";
import {
  decodeMessage,
  MAX_WIRE_DATAGRAM_BYTES,
} from "../lib/dht/wire/decode.ts";
import { encodeMessage, OPENDHT_USER_AGENT } from "../lib/dht/wire/encode.ts";
import { WireError } from "../lib/dht/wire/errors.ts";
import {
  packValue,
  signedValueBody,
  unpackValue,
  valueStorageSize,
} from "../lib/dht/wire/values.ts";

// ---------------------------------------------------------------------------
// Captures

/** The shared captures; part of the environment, so a missing file fails the test. */
const CAPTURES_URL = new URL(
  "./vectors/opendht/",
  import.meta.url,
);
const CAPTURE_NAMES = [
  "direct-all",
  "relay-all",
  "relay-long-all",
  "netid-all",
] as const;
type CaptureName = typeof CAPTURE_NAMES[number];

/** msgpack rendered as JSON by the capture scripts: bin → {bin}, big ints → {int}. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface CapturedPacket {
  readonly n: number;
  readonly scenario: string;
  readonly dir: string;
  readonly src: string;
  readonly origin: string;
  readonly hex: string;
  readonly decoded: JsonObject;
  readonly notes: JsonObject;
}

interface Capture {
  readonly facts: JsonObject;
  readonly packets: readonly CapturedPacket[];
}

const captureCache = new Map<CaptureName, Capture>();

async function loadCapture(name: CaptureName): Promise<Capture> {
  const cached = captureCache.get(name);
  if (cached !== undefined) return cached;
  const text = await Deno.readTextFile(new URL(`${name}.json`, CAPTURES_URL));
  const capture = JSON.parse(text) as Capture;
  captureCache.set(name, capture);
  return capture;
}

async function packet(name: CaptureName, n: number): Promise<CapturedPacket> {
  const found = (await loadCapture(name)).packets.find((p) => p.n === n);
  assert.ok(found, `${name} has no packet ${n}`);
  return found;
}

function isOpenDht(p: CapturedPacket): boolean {
  return p.origin.startsWith("opendht-");
}

function bytesOf(p: CapturedPacket): Uint8Array {
  return Uint8Array.fromHex(p.hex);
}

function obj(value: Json | undefined): JsonObject {
  assert.ok(
    typeof value === "object" && value !== null && !Array.isArray(value),
    `expected a JSON object, got ${JSON.stringify(value)}`,
  );
  return value;
}

function jsonBin(value: Json | undefined): string {
  return String(obj(value).bin);
}

function jsonInt(value: Json | undefined): bigint {
  if (typeof value === "number") return BigInt(value);
  return BigInt(String(obj(value).int));
}

function hex(bytes: Uint8Array | undefined): string | undefined {
  return bytes?.toHex();
}

// ---------------------------------------------------------------------------
// Field-by-field comparison with the capture's JSON rendering

function checkValueJson(value: DhtValue, json: Json): void {
  const map = obj(json);
  assert.equal(value.id, jsonInt(map.id));
  const dat = obj(map.dat);
  if ("bin" in dat) {
    assert.equal(hex(value.cypher), dat.bin);
    return;
  }
  const body = obj(dat.body);
  assert.equal(value.type, body.type);
  assert.equal(hex(value.data), jsonBin(body.data));
  assert.equal(value.userType, body.utype ?? undefined);
  if (body.owner !== undefined) {
    assert.equal(hex(value.owner), jsonBin(body.owner));
    assert.equal(value.seq, body.seq);
    assert.equal(hex(value.signature), jsonBin(dat.sig));
  }
}

function checkValuesJson(
  values: readonly DhtValue[] | undefined,
  sizes: readonly number[] | undefined,
  json: Json | undefined,
): void {
  if (json === undefined) {
    assert.equal(values, undefined);
    assert.equal(sizes, undefined);
    return;
  }
  assert.ok(Array.isArray(json));
  if (json.length > 0 && typeof json[0] === "number") {
    assert.deepEqual(sizes, json);
    return;
  }
  assert.equal(values?.length, json.length);
  json.forEach((value, index) => checkValueJson(values![index], value));
}

function checkQueryJson(
  query: DhtQuery | undefined,
  json: Json | undefined,
): void {
  if (json === undefined) return assert.equal(query, undefined);
  const map = obj(json);
  assert.deepEqual(query?.select, map.s);
  const where = map.w as Json[];
  assert.equal(query?.where.length, where.length);
  where.forEach((term, index) => {
    const { f, v } = obj(term);
    assert.equal(query!.where[index].field, f);
    const value = query!.where[index].value;
    if (value instanceof Uint8Array) assert.equal(value.toHex(), jsonBin(v));
    else assert.equal(BigInt(value), jsonInt(v));
  });
}

function checkNodesJson(
  nodes: readonly NodeInfo[] | undefined,
  parsed: Json | undefined,
): void {
  if (parsed === undefined) return assert.equal(nodes, undefined);
  assert.deepEqual(
    nodes?.map((node) => ({
      id: node.id.toString(),
      ip: node.address.host,
      port: node.address.port,
    })),
    parsed,
  );
}

function checkRequestJson(message: DhtRequest, decoded: JsonObject): void {
  const body = obj(decoded.a);
  assert.equal(message.method, decoded.q);
  const has = (key: string): boolean => body[key] !== undefined;
  switch (message.method) {
    case "ping":
      break;
    case "find":
      assert.equal(message.target.toString(), jsonBin(body.target));
      assert.deepEqual(message.want, body.w ?? undefined);
      break;
    case "get":
      assert.equal(message.key.toString(), jsonBin(body.h));
      assert.deepEqual(message.want, body.w ?? undefined);
      checkQueryJson(message.query, body.q);
      break;
    case "put":
      assert.equal(message.key.toString(), jsonBin(body.h));
      assert.equal(hex(message.token), jsonBin(body.token));
      assert.equal(message.createdSeconds, body.c ?? undefined);
      checkValuesJson(
        message.valueSizes ? undefined : message.values,
        message.valueSizes,
        body.values,
      );
      break;
    case "refresh":
      assert.equal(message.key.toString(), jsonBin(body.h));
      assert.equal(message.valueId, jsonInt(body.vid));
      assert.equal(hex(message.token), jsonBin(body.token));
      break;
    case "listen":
      assert.equal(message.key.toString(), jsonBin(body.h));
      assert.equal(message.socketId, body.sid);
      assert.equal(message.version, body.ve ?? undefined);
      assert.equal(hex(message.token), jsonBin(body.token));
      checkQueryJson(message.query, body.q);
      break;
    case "update":
      assert.equal(message.socketId, body.sid);
      assert.equal(
        message.key?.toString(),
        has("h") ? jsonBin(body.h) : undefined,
      );
      assert.equal(
        hex(message.token),
        has("token") ? jsonBin(body.token) : undefined,
      );
      assert.equal(message.version, body.ve ?? undefined);
      assert.deepEqual(
        message.refreshed,
        has("re") ? (body.re as Json[]).map(jsonInt) : undefined,
      );
      assert.deepEqual(
        message.expired,
        has("exp") ? (body.exp as Json[]).map(jsonInt) : undefined,
      );
      checkValuesJson(message.values, message.valueSizes, body.values);
      break;
  }
}

function checkReplyJson(
  message: DhtReply,
  decoded: JsonObject,
  notes: JsonObject,
): void {
  const body = obj(decoded.r);
  assert.equal(
    hex(message.seenAddress),
    body.sa === undefined ? undefined : jsonBin(body.sa),
  );
  assert.equal(
    hex(message.token),
    body.token === undefined ? undefined : jsonBin(body.token),
  );
  assert.equal(
    message.valueId,
    body.vid === undefined ? undefined : jsonInt(body.vid),
  );
  checkNodesJson(message.nodes4, notes.n4_parsed);
  checkNodesJson(message.nodes6, notes.n6_parsed);
  checkValuesJson(message.values, message.valueSizes, body.values);
  if (body.fileds !== undefined) {
    const fields = obj(body.fileds);
    assert.deepEqual(message.fields?.fields, fields.f);
    assert.deepEqual(
      message.fields?.values.map((value) =>
        typeof value === "bigint" ? value : BigInt(value as number)
      ),
      (fields.v as Json[]).map(jsonInt),
    );
  }
}

/** Checks every field of `message` that the capture's JSON shows. */
function checkAgainstJson(message: DhtMessage, p: CapturedPacket): void {
  const decoded = p.decoded;
  assert.equal(message.tid, decoded.t);
  assert.equal(message.network, decoded.n ?? 0);
  if (message.kind === "value-part") {
    assert.equal(decoded.y, "p");
    const parts = Object.entries(obj(decoded.p)).map(([index, part]) => ({
      index: Number(index),
      offset: obj(part).o,
      data: jsonBin(obj(part).d),
    }));
    assert.deepEqual(
      message.parts.map((part) => ({ ...part, data: part.data.toHex() })),
      parts,
    );
    return;
  }
  assert.equal(message.userAgent, decoded.v);
  const body = obj(decoded.a ?? decoded.r);
  assert.equal(message.senderId?.toString(), jsonBin(body.id));
  if (message.kind === "request") return checkRequestJson(message, decoded);
  if (message.kind === "reply") {
    return checkReplyJson(message, decoded, p.notes);
  }
  assert.deepEqual([message.code, message.message], decoded.e);
}

/** `decodeMessage`, but a WireError is returned instead of thrown; anything else fails the test. */
function decodeOrWireError(bytes: Uint8Array): DhtMessage | WireError {
  try {
    return decodeMessage(bytes);
  } catch (error) {
    assert.ok(error instanceof WireError, `unexpected ${String(error)}`);
    assert.notEqual(
      error.reason,
      "internal",
      `internal error: ${error.message}`,
    );
    return error;
  }
}

function wireErrorReason(bytes: Uint8Array): string {
  const result = decodeOrWireError(bytes);
  assert.ok(result instanceof WireError, "expected a WireError");
  return result.reason;
}

// ---------------------------------------------------------------------------
// Real OpenDHT packets

Deno.test("decodeMessage() then encodeMessage() reproduces every OpenDHT packet byte for byte", async () => {
  const counts: Record<string, { exact: number; legacy: number }> = {};
  for (const name of CAPTURE_NAMES) {
    const count = { exact: 0, legacy: 0 };
    for (const p of (await loadCapture(name)).packets.filter(isOpenDht)) {
      const bytes = bytesOf(p);
      if (p.decoded.u !== undefined) {
        // Legacy v0 refresh/expire pushes: refused on purpose, we only speak ve:1.
        assert.equal(wireErrorReason(bytes), "legacy", `${name} #${p.n}`);
        count.legacy++;
        continue;
      }
      const message = decodeMessage(bytes);
      checkAgainstJson(message, p);
      assert.equal(
        encodeMessage(message).toHex(),
        p.hex,
        `${name} #${p.n} ${p.scenario}`,
      );
      count.exact++;
    }
    counts[name] = count;
  }
  assert.deepEqual(counts, {
    "direct-all": { exact: 45, legacy: 2 },
    "relay-all": { exact: 109, legacy: 0 },
    "relay-long-all": { exact: 205, legacy: 0 },
    "netid-all": { exact: 2, legacy: 0 },
  });
});

Deno.test("decodeMessage() accepts the handmade capture packets or drops them as OpenDHT did", async () => {
  const expectedErrors: Record<string, string> = {
    "24_unknown_query_dropped": "unknown-query",
  };
  for (const name of CAPTURE_NAMES) {
    for (
      const p of (await loadCapture(name)).packets.filter((p) => !isOpenDht(p))
    ) {
      const result = decodeOrWireError(bytesOf(p));
      const body = p.decoded.a ?? p.decoded.r;
      const zeroId = body !== undefined &&
        jsonBin(obj(body).id) === "00".repeat(20);
      const expected = zeroId ? "bad-id" : expectedErrors[p.scenario];
      if (expected !== undefined) {
        assert.ok(
          result instanceof WireError && result.reason === expected,
          `${name} #${p.n}`,
        );
      } else {
        assert.ok(
          !(result instanceof WireError),
          `${name} #${p.n}: ${String(result)}`,
        );
      }
    }
  }
});

Deno.test("decodeMessage() reads the captured ping and its answer", async () => {
  const facts = (await loadCapture("direct-all")).facts;
  const ping = decodeMessage(bytesOf(await packet("direct-all", 0)));
  assert.ok(ping.kind === "request" && ping.method === "ping");
  assert.equal(ping.tid, 1848377268);
  assert.equal(
    ping.senderId.toString(),
    "c8e01b7bd7a73b009dd8681195decf1b53e99066",
  );
  assert.equal(ping.userAgent, "capt");
  const pong = decodeMessage(bytesOf(await packet("direct-all", 1)));
  assert.ok(pong.kind === "reply");
  assert.equal(pong.tid, 1848377268);
  assert.equal(pong.senderId.toString(), facts.server_id);
  assert.deepEqual(pong.seenAddress, Uint8Array.from([127, 0, 0, 1]));
  assert.equal(decodeSeenAddress(pong.seenAddress!), "127.0.0.1");
  assert.equal(pong.userAgent, OPENDHT_USER_AGENT);
});

Deno.test("decodeMessage() parses the n4 entry of a captured answer to id, 127.0.0.1 and port", async () => {
  const p = await packet("direct-all", 9);
  const reply = decodeMessage(bytesOf(p));
  assert.ok(reply.kind === "reply");
  const [entry] = obj(p.notes).n4_parsed as Json[];
  assert.equal(reply.nodes4?.length, 1);
  assert.equal(
    reply.nodes4![0].id.toString(),
    "c8e01b7bd7a73b009dd8681195decf1b53e99066",
  );
  assert.deepEqual(reply.nodes4![0].address, {
    host: "127.0.0.1",
    port: obj(entry).port,
  });
  assert.equal(reply.token?.length, 32);
});

Deno.test("decodeMessage() reads put acknowledgement value ids as exact bigints", async () => {
  for (const n of [11, 27, 77, 84, 88]) {
    const p = await packet("direct-all", n);
    const reply = decodeMessage(bytesOf(p));
    assert.ok(reply.kind === "reply");
    assert.equal(reply.valueId, BigInt(String(obj(obj(p.decoded.r).vid).int)));
  }
  const small = decodeMessage(bytesOf(await packet("direct-all", 52)));
  assert.ok(small.kind === "reply" && small.valueId === 57005n);
  // 9838263505978427528 > 2^63: the uint64 form survives exactly.
  const big = decodeMessage(bytesOf(await packet("direct-all", 88)));
  assert.ok(big.kind === "reply" && big.valueId === 9838263505978427528n);
});

Deno.test("decodeMessage() reads the captured 203, 401 and 404 errors", async () => {
  const expected: [number, number, string][] = [
    [54, 404, "Access operation for unknown storage"],
    [56, 401, "Put with wrong token"],
    [58, 401, "Listen with wrong token"],
    [60, 203, "Get_values with no info_hash"],
    [62, 203, "Put with no info_hash"],
    [64, 203, "Put with invalid id"],
    [66, 203, "Listen with no info_hash"],
  ];
  const facts = (await loadCapture("direct-all")).facts;
  for (const [n, code, message] of expected) {
    const error = decodeMessage(bytesOf(await packet("direct-all", n)));
    assert.ok(error.kind === "error");
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    assert.equal(error.senderId?.toString(), facts.server_id);
  }
});

Deno.test("decodeMessage() reads update pushes: new values, re and exp", async () => {
  const pushed = decodeMessage(bytesOf(await packet("direct-all", 21)));
  assert.ok(pushed.kind === "request" && pushed.method === "update");
  assert.equal(pushed.version, 1);
  assert.equal(pushed.socketId, 1372585985);
  assert.equal(
    pushed.key?.toString(),
    "8880977eeeb40660f2679cc75e413b73d8b20ed7",
  );
  assert.equal(pushed.values?.[0].id, 1229782938247303441n);
  assert.equal(
    new TextDecoder().decode(pushed.values?.[0].data),
    "hello opendht",
  );
  assert.equal(pushed.values?.[0].userType, "text/plain");

  const refreshed = decodeMessage(bytesOf(await packet("direct-all", 29)));
  assert.ok(refreshed.kind === "request" && refreshed.method === "update");
  assert.deepEqual(refreshed.refreshed, [1229782938247303441n]);
  assert.equal(refreshed.key, undefined);
  assert.equal(refreshed.token?.length, 32);

  const expired = decodeMessage(bytesOf(await packet("direct-all", 38)));
  assert.ok(expired.kind === "request" && expired.method === "update");
  assert.deepEqual(expired.expired, [3689348814741910323n]);
  assert.equal(expired.socketId, 1372585985);
});

Deno.test("decodeMessage() treats legacy pushes precisely: t=sid reply accepted, u refused", async () => {
  // 14: a v0 listener gets new values as an unsolicited reply whose t is its sid.
  const reply = decodeMessage(bytesOf(await packet("direct-all", 45)));
  assert.ok(reply.kind === "reply");
  assert.equal(reply.tid, 1372585986);
  assert.equal(reply.values?.[0].id, 4919131752989213764n);
  // 15/16: refresh notifications under `u` are refused.
  for (const n of [48, 51]) {
    assert.equal(
      wireErrorReason(bytesOf(await packet("direct-all", n))),
      "legacy",
    );
  }
});

Deno.test("decodeMessage() reads network id 7", async () => {
  const pong = decodeMessage(bytesOf(await packet("netid-all", 1)));
  assert.equal(pong.network, 7);
  const find = decodeMessage(bytesOf(await packet("netid-all", 3)));
  assert.ok(find.kind === "request" && find.method === "find");
  assert.equal(find.network, 7);
  assert.deepEqual(find.want, [2, 10]);
  const handmadePing = decodeMessage(bytesOf(await packet("netid-all", 5)));
  assert.equal(handmadePing.network, 8);
});

Deno.test("decodeMessage() reads selects, where clauses and fileds answers", async () => {
  const fields = decodeMessage(bytesOf(await packet("direct-all", 15)));
  assert.ok(fields.kind === "reply");
  assert.deepEqual(fields.fields, {
    fields: [1, 4],
    values: [1229782938247303441n, 0],
  });
  const select = decodeMessage(bytesOf(await packet("direct-all", 14)));
  assert.ok(select.kind === "request" && select.method === "get");
  assert.deepEqual(select.query, { select: [1, 4], where: [] });
  const whereUserType = decodeMessage(bytesOf(await packet("relay-all", 101)));
  assert.ok(whereUserType.kind === "request" && whereUserType.method === "get");
  assert.equal(whereUserType.query?.where[0].field, 5);
  assert.deepEqual(
    whereUserType.query?.where[0].value,
    new TextEncoder().encode("text/plain"),
  );
  const whereId = decodeMessage(bytesOf(await packet("direct-all", 16)));
  assert.ok(whereId.kind === "request" && whereId.method === "get");
  assert.deepEqual(whereId.query?.where, [{
    field: 1,
    value: 1229782938247303441n,
  }]);
});

Deno.test("decodeMessage() reads the handmade edge cases as OpenDHT does", async () => {
  // 26: tid as 4-byte bin, read big-endian; OpenDHT answered with the same number.
  const facts = (await loadCapture("direct-all")).facts;
  const binTid = decodeMessage(bytesOf(await packet("direct-all", 71)));
  assert.equal(binTid.tid, 0x0a0b0c0d);
  assert.equal(binTid.tid, facts.bin_tid_answer_tid);
  // 20/21/23: absent h reads as the zero id, so a handler answers 203 like OpenDHT.
  for (const n of [59, 61, 65]) {
    const request = decodeMessage(bytesOf(await packet("direct-all", n)));
    assert.ok(request.kind === "request" && "key" in request);
    assert.ok(request.key?.equals(InfoHash.ZERO));
  }
  // 22: a value with id 0 is decoded (the handler answers 203 "Put with invalid id").
  const zeroId = decodeMessage(bytesOf(await packet("direct-all", 63)));
  assert.ok(zeroId.kind === "request" && zeroId.method === "put");
  assert.equal(zeroId.values[0].id, 0n);
  // 25: zero sender id.
  assert.equal(
    wireErrorReason(bytesOf(await packet("direct-all", 68))),
    "bad-id",
  );
});

// ---------------------------------------------------------------------------
// Values, including those OpenDHT sent in fragments

interface Reassembled {
  readonly name: CaptureName;
  readonly n: number;
  readonly bytes: Uint8Array;
}

/** Every value OpenDHT sent fragmented, rebuilt by concatenating its parts in offset order. */
async function fragmentedValues(): Promise<Reassembled[]> {
  const result: Reassembled[] = [];
  for (const name of CAPTURE_NAMES) {
    const packets = (await loadCapture(name)).packets.filter(isOpenDht);
    for (const header of packets) {
      const body = obj(header.decoded.a ?? header.decoded.r ?? {});
      const sizes = body.values;
      if (!Array.isArray(sizes) || typeof sizes[0] !== "number") continue;
      sizes.forEach((size, index) => {
        const pieces = packets
          .filter((p) =>
            p.decoded.y === "p" && p.decoded.t === header.decoded.t &&
            p.src === header.src
          )
          .map((p) => obj(obj(p.decoded.p)[String(index)]))
          .filter((part) => part.d !== undefined)
          .sort((a, b) => Number(a.o) - Number(b.o));
        const bytes = Uint8Array.fromHex(
          pieces.map((part) => jsonBin(part.d)).join(""),
        );
        assert.equal(bytes.length, size, `${name} #${header.n}`);
        result.push({ name, n: header.n, bytes });
      });
    }
  }
  return result;
}

Deno.test("packValue() reproduces every value OpenDHT sent in fragments", async () => {
  const values = await fragmentedValues();
  const kinds = { plain: 0, signed: 0, encrypted: 0 };
  const seen = new Set<string>();
  for (const { name, n, bytes } of values) {
    const value = unpackValue(bytes);
    assert.equal(packValue(value).toHex(), bytes.toHex(), `${name} #${n}`);
    if (seen.has(bytes.toHex())) continue; // retries re-send the same value
    seen.add(bytes.toHex());
    if (value.cypher !== undefined) kinds.encrypted++;
    else if (value.owner !== undefined) kinds.signed++;
    else kinds.plain++;
  }
  assert.ok(values.length >= 10, `only ${values.length} fragmented values`);
  assert.ok(
    kinds.plain > 0 && kinds.signed > 0 && kinds.encrypted > 0,
    JSON.stringify(kinds),
  );
});

Deno.test("signedValueBody() is what OpenDHT signs (RSA PKCS#1 v1.5, SHA-512)", async () => {
  let verified = 0;
  for (const { bytes } of await fragmentedValues()) {
    const value = unpackValue(bytes);
    if (value.owner === undefined) continue;
    const key = await crypto.subtle.importKey(
      "spki",
      new Uint8Array(value.owner),
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
      false,
      ["verify"],
    );
    const body = new Uint8Array(signedValueBody(value));
    assert.ok(
      await crypto.subtle.verify(
        "RSASSA-PKCS1-v1_5",
        key,
        new Uint8Array(value.signature!),
        body,
      ),
    );
    const tampered = body.slice();
    tampered[tampered.length - 1] ^= 1;
    assert.equal(
      await crypto.subtle.verify(
        "RSASSA-PKCS1-v1_5",
        key,
        new Uint8Array(value.signature!),
        tampered,
      ),
      false,
    );
    verified++;
  }
  assert.ok(verified >= 2, `verified ${verified}`);
});

Deno.test("signedValueBody() orders seq, owner, to, type, data, utype and refuses encrypted values", () => {
  const value: DhtValue = {
    id: 1n,
    type: 3,
    data: Uint8Array.from([1]),
    userType: "t",
    owner: Uint8Array.from([2]),
    seq: 4,
    recipient: InfoHash.get("to"),
    signature: Uint8Array.from([3]),
    priority: 9,
  };
  const body = msgpackDecode(signedValueBody(value)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), [
    "seq",
    "owner",
    "to",
    "type",
    "data",
    "utype",
  ]);
  // A zero `to` and an empty utype are left out, as OpenDHT does.
  const bare = msgpackDecode(
    signedValueBody({ ...value, recipient: InfoHash.ZERO, userType: "" }),
  );
  assert.deepEqual(Object.keys(bare as object), [
    "seq",
    "owner",
    "type",
    "data",
  ]);
  assert.throws(
    () =>
      signedValueBody({
        id: 1n,
        type: 0,
        data: new Uint8Array(0),
        cypher: new Uint8Array(9),
      }),
    TypeError,
  );
});

Deno.test("valueStorageSize() adds data, cypher, signature and user type lengths", () => {
  assert.equal(
    valueStorageSize({ id: 1n, type: 0, data: new Uint8Array(10) }),
    10,
  );
  assert.equal(
    valueStorageSize({
      id: 1n,
      type: 0,
      data: new Uint8Array(10),
      userType: "text/plain",
      owner: new Uint8Array(294),
      seq: 0,
      signature: new Uint8Array(256),
    }),
    276,
  );
  assert.equal(
    valueStorageSize({
      id: 1n,
      type: 0,
      data: new Uint8Array(0),
      cypher: new Uint8Array(600),
    }),
    600,
  );
});

Deno.test("packValue() writes value ids in the smallest msgpack form", () => {
  const small = packValue({ id: 5n, type: 0, data: new Uint8Array(0) });
  assert.deepEqual(
    small.subarray(0, 5),
    Uint8Array.from([0x82, 0xa2, 0x69, 0x64, 0x05]),
  );
  const medium = packValue({ id: 0x1234n, type: 0, data: new Uint8Array(0) });
  assert.deepEqual(medium.subarray(4, 7), Uint8Array.from([0xcd, 0x12, 0x34]));
  const large = packValue({
    id: 2n ** 64n - 1n,
    type: 0,
    data: new Uint8Array(0),
  });
  assert.deepEqual(
    large.subarray(4, 13),
    Uint8Array.from([0xcf, 255, 255, 255, 255, 255, 255, 255, 255]),
  );
  assert.throws(
    () => packValue({ id: 2n ** 64n, type: 0, data: new Uint8Array(0) }),
    RangeError,
  );
  assert.throws(
    () => packValue({ id: -1n, type: 0, data: new Uint8Array(0) }),
    RangeError,
  );
});

Deno.test("unpackValue() rejects malformed values with WireError", () => {
  const cases: unknown[] = [
    {},
    { id: 1 },
    { id: 1, dat: "text" },
    { id: -1, dat: { body: { type: 0, data: new Uint8Array(0) } } },
    { id: 1, dat: { body: { type: 0 } } },
    { id: 1, dat: { body: { type: 70000, data: new Uint8Array(0) } } },
    {
      id: 1,
      dat: {
        body: { type: 0, data: new Uint8Array(0), owner: new Uint8Array(3) },
      },
    },
    {
      id: 1,
      dat: {
        body: {
          type: 0,
          data: new Uint8Array(0),
          owner: new Uint8Array(3),
          seq: 1,
        },
      },
    },
    {
      id: 1,
      dat: {
        body: {
          type: 0,
          data: new Uint8Array(0),
          owner: new Uint8Array(3),
          seq: 1,
          to: new Uint8Array(5),
        },
        sig: new Uint8Array(1),
      },
    },
  ];
  for (const value of cases) {
    assert.throws(
      () => unpackValue(msgpackEncode(value)),
      WireError,
      JSON.stringify(value),
    );
  }
});

// ---------------------------------------------------------------------------
// Node info and addresses

Deno.test("encodeNodes4()/decodeNodes4() and the IPv6 forms round-trip with big-endian ports", () => {
  const id = InfoHash.get("node");
  const v4 = encodeNodes4([{
    id,
    address: { host: "192.0.2.7", port: 0x1234 },
  }]);
  assert.deepEqual(
    v4.subarray(20),
    Uint8Array.from([192, 0, 2, 7, 0x12, 0x34]),
  );
  const hosts = [
    "2001:db8::1",
    "::1",
    "::",
    "1:2:3:4:5:6:7:8",
    "fe80::1:0:0:2",
    "::ffff:10.0.0.1",
    "1:0:0:2::3",
  ];
  const nodes = hosts.map((host, index) => ({
    id,
    address: { host, port: index },
  }));
  const v6 = encodeNodes6(nodes);
  assert.equal(v6.length, 38 * hosts.length);
  assert.deepEqual(decodeNodes6(v6).map((node) => node.address.host), hosts);
  assert.equal(
    decodeNodes6(
      encodeNodes6([{
        id,
        address: { host: "2001:DB8:0:0:0:0:0:1", port: 1 },
      }]),
    )[0].address.host,
    "2001:db8::1",
  );
  assert.throws(
    () => encodeNodes4([{ id, address: { host: "::1", port: 1 } }]),
    TypeError,
  );
  assert.throws(
    () => encodeNodes6([{ id, address: { host: "1.2.3.4", port: 1 } }]),
    TypeError,
  );
  assert.throws(
    () => encodeNodes4([{ id, address: { host: "1.2.3.4", port: 70000 } }]),
    RangeError,
  );
  assert.throws(() => decodeNodes4(new Uint8Array(27)), WireError);
  assert.throws(() => decodeNodes6(new Uint8Array(39)), WireError);
});

/** A reply from `senderId` that carries only `nodes4`. */
function nodes4Reply(senderId: InfoHash, nodes4: NodeInfo[]): DhtReply {
  return {
    kind: "reply",
    tid: 1,
    senderId,
    network: 0,
    userAgent: OPENDHT_USER_AGENT,
    nodes4,
  };
}

Deno.test("IPv4 hosts in n4 lists, find answers and seen addresses are read as the dotted-quad pattern reads them", () => {
  // The writers read an IPv4 host by hand now; this is the pattern (and the
  // 0-255 check) they read it with before, as the reference.
  const reference = (host: string): number[] | undefined => {
    const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
    const groups = match?.slice(1).map(Number);
    return groups?.every((group) => group <= 255) ? groups : undefined;
  };
  const rng = seededRng("ipv4 hosts");
  const alphabet = "0123456789....:a -";
  const hosts = [
    "0.0.0.0",
    "255.255.255.255",
    "256.0.0.1",
    "1.2.3.256",
    "1.2.3.999",
    "01.002.3.4",
    "1.2.3",
    "1.2.3.4.",
    ".1.2.3.4",
    "1..2.3",
    "1.2.3.4\n",
    "1.2.3.4 ",
    "1.2.3.0004",
    "",
  ];
  for (let i = 0; i < 3_000; i++) {
    const length = 1 + randomInt(rng, 16);
    let host = "";
    for (let j = 0; j < length; j++) {
      host += alphabet[randomInt(rng, alphabet.length)];
    }
    hosts.push(host);
    hosts.push(
      Array.from({ length: 4 }, () => String(randomInt(rng, 300))).join("."),
    );
  }
  const id = InfoHash.get("node");
  let accepted = 0;
  for (const host of hosts) {
    const expected = reference(host);
    const address = { host, port: 0x0102 };
    const reply = nodes4Reply(id, [{ id, address }]);
    if (expected === undefined) {
      assert.throws(() => encodeNodes4([{ id, address }]), TypeError, host);
      assert.throws(() => encodeMessage(reply), TypeError, host);
      if (!host.includes(":")) {
        assert.throws(() => encodeSeenAddress(address), TypeError, host);
      }
      continue;
    }
    accepted += 1;
    const entry = [...expected, 1, 2];
    assert.deepEqual([...encodeNodes4([{ id, address }]).subarray(20)], entry);
    const decoded = decodeMessage(encodeMessage(reply));
    assert.equal(decoded.kind, "reply");
    assert.equal(
      (decoded as DhtReply).nodes4?.[0].address.host,
      expected.join("."),
    );
    assert.deepEqual([...encodeSeenAddress(address)], expected);
  }
  // Both verdicts are exercised: about half of the quads are addresses.
  assert.ok(accepted > 1_000 && accepted < 3_000, `${accepted}`);
});

Deno.test("encodeSeenAddress() gives 4 or 16 bytes and refuses host names", () => {
  assert.deepEqual(
    encodeSeenAddress({ host: "10.1.2.3", port: 1 }),
    Uint8Array.from([10, 1, 2, 3]),
  );
  const v6 = encodeSeenAddress({ host: "2001:db8::5", port: 1 });
  assert.equal(v6.length, 16);
  assert.equal(decodeSeenAddress(v6), "2001:db8::5");
  assert.throws(
    () => encodeSeenAddress({ host: "example.org", port: 1 }),
    TypeError,
  );
  assert.throws(
    () => encodeSeenAddress({ host: "256.1.1.1", port: 1 }),
    TypeError,
  );
});

Deno.test("decodeMessage() drops n4/n6 blobs whose length is not a multiple of 26/38", () => {
  const base = {
    id: InfoHash.get("x").bytes,
    sa: Uint8Array.from([1, 2, 3, 4]),
  };
  for (const [key, length] of [["n4", 27], ["n6", 26]] as const) {
    const bytes = msgpackEncode({
      r: { ...base, [key]: new Uint8Array(length) },
      t: 1,
      y: "r",
    });
    assert.equal(wireErrorReason(bytes), "bad-nodes");
  }
});

// ---------------------------------------------------------------------------
// Hostile input: only WireError or a valid message, never another exception

Deno.test("decodeMessage() survives every truncation of real packets", async () => {
  const picks: [CaptureName, number][] = [
    ["direct-all", 13],
    ["direct-all", 15],
    ["direct-all", 21],
    ["direct-all", 29],
    ["direct-all", 54],
    ["direct-all", 80],
    ["relay-all", 101],
    ["netid-all", 1],
  ];
  for (const [name, n] of picks) {
    const bytes = bytesOf(await packet(name, n));
    for (let length = 0; length < bytes.length; length++) {
      assert.ok(
        decodeOrWireError(bytes.subarray(0, length)) instanceof WireError,
        `${name} #${n} cut at ${length}`,
      );
    }
  }
});

Deno.test("decodeMessage() survives 2000 seeded random byte strings", () => {
  const rng = seededRng("wire random bytes");
  const randomBytes = rngBytes(rng);
  let accepted = 0;
  for (let round = 0; round < 2000; round++) {
    const bytes = randomBytes(randomInt(rng, 200));
    // Half of them start like a map, to get past the first check.
    if (round % 2 === 0 && bytes.length > 0) {
      bytes[0] = 0x80 | randomInt(rng, 16);
    }
    if (!(decodeOrWireError(bytes) instanceof WireError)) accepted++;
  }
  assert.ok(accepted < 2000);
});

Deno.test("decodeMessage() survives random bit flips of real packets", async () => {
  const rng = seededRng("wire bit flips");
  let decoded = 0;
  let rejected = 0;
  for (const name of CAPTURE_NAMES) {
    for (const p of (await loadCapture(name)).packets) {
      for (let round = 0; round < 10; round++) {
        const bytes = bytesOf(p);
        const flips = 1 + randomInt(rng, 3);
        for (let flip = 0; flip < flips; flip++) {
          bytes[randomInt(rng, bytes.length)] ^= 1 << randomInt(rng, 8);
        }
        const result = decodeOrWireError(bytes);
        if (result instanceof WireError) rejected++;
        else {
          decoded++;
          // Whatever decodes must encode again.
          encodeMessage(result);
        }
      }
    }
  }
  assert.ok(
    decoded > 0 && rejected > 0,
    `${decoded} decoded, ${rejected} rejected`,
  );
});

Deno.test("decodeMessage() rejects deep nesting, huge declared lengths and oversize datagrams", () => {
  const deepArray = new Uint8Array(60000).fill(0x91);
  assert.equal(wireErrorReason(deepArray), "bad-msgpack");
  // A ping whose unknown key holds 40 nested maps.
  const prefix = msgpackEncode({
    a: { id: InfoHash.get("x").bytes },
    q: "ping",
    t: 1,
  });
  const nested = new Uint8Array([
    ...prefix.subarray(0, prefix.length),
    0xa1,
    0x7a,
    ...new Array(40).fill([0x81, 0xa1, 0x6b]).flat(),
    0xc0,
  ]);
  nested[0] = 0x84; // one more entry in the top-level map
  assert.equal(wireErrorReason(nested), "bad-msgpack");
  for (const head of [0xc6, 0xdb, 0xdd, 0xdf, 0xc9]) {
    const bytes = Uint8Array.from([
      0x81,
      0xa1,
      0x61,
      head,
      0xff,
      0xff,
      0xff,
      0xff,
      0x00,
    ]);
    assert.equal(
      wireErrorReason(bytes),
      "bad-msgpack",
      `0x${head.toString(16)}`,
    );
  }
  assert.equal(
    wireErrorReason(Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff])),
    "bad-msgpack",
  );
  assert.equal(
    wireErrorReason(new Uint8Array(MAX_WIRE_DATAGRAM_BYTES + 1)),
    "too-large",
  );
  assert.equal(wireErrorReason(new Uint8Array(0)), "bad-msgpack");
  assert.equal(wireErrorReason(Uint8Array.from([0xc1])), "bad-msgpack");
  assert.equal(wireErrorReason("ping" as unknown as Uint8Array), "bad-msgpack");
});

/** Values of every msgpack type, to put where they do not belong. */
const WRONG_VALUES: unknown[] = [
  null,
  true,
  -1,
  2 ** 40,
  2n ** 64n - 1n,
  1.5,
  "q",
  "",
  new Uint8Array(3),
  new Uint8Array(20),
  new Uint8Array(4),
  [],
  [1, 2],
  [300],
  {},
  { s: [], w: [] },
];

type Tree = unknown;

/** Every path to a value inside a decoded msgpack tree. */
function paths(
  tree: Tree,
  prefix: (string | number)[] = [],
): (string | number)[][] {
  const result: (string | number)[][] = [];
  if (Array.isArray(tree)) {
    tree.forEach((item, index) => {
      result.push([...prefix, index], ...paths(item, [...prefix, index]));
    });
  } else if (
    typeof tree === "object" && tree !== null && !(tree instanceof Uint8Array)
  ) {
    for (const [key, value] of Object.entries(tree)) {
      result.push([...prefix, key], ...paths(value, [...prefix, key]));
    }
  }
  return result;
}

function replaced(tree: Tree, path: (string | number)[], value: unknown): Tree {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (Array.isArray(tree)) {
    return tree.map((item, index) =>
      index === head ? replaced(item, rest, value) : item
    );
  }
  const record = tree as Record<string, unknown>;
  return { ...record, [head]: replaced(record[head], rest, value) };
}

Deno.test("decodeMessage() survives a wrong type at every key of every message kind", async () => {
  const templates: [CaptureName, number][] = [
    ["direct-all", 0], // ping
    ["direct-all", 4], // find with w
    ["direct-all", 13], // get answer with values and n4
    ["direct-all", 15], // fileds answer
    ["direct-all", 16], // get with where
    ["direct-all", 20], // listen
    ["direct-all", 21], // update with values
    ["direct-all", 28], // refresh
    ["direct-all", 29], // update re
    ["direct-all", 34], // put with c
    ["direct-all", 54], // error
    ["direct-all", 73], // put header with sizes
    ["direct-all", 80], // value part
    ["relay-all", 101], // where user type
  ];
  let cases = 0;
  for (const [name, n] of templates) {
    const tree = msgpackDecode(bytesOf(await packet(name, n)), {
      useBigInt64: true,
    });
    const targets = paths(tree);
    for (const path of targets) {
      for (const wrong of WRONG_VALUES) {
        const bytes = msgpackEncode(replaced(tree, path, wrong), {
          useBigInt64: true,
        });
        const result = decodeOrWireError(bytes);
        if (!(result instanceof WireError)) encodeMessage(result);
        cases++;
      }
      // And the key removed.
      const parent = path.slice(0, -1);
      const last = path[path.length - 1];
      if (typeof last === "string") {
        const holder = parent.reduce<Tree>(
          (node, key) => (node as Record<string, Tree>)[key],
          tree,
        ) as Record<string, unknown>;
        const { [last]: _removed, ...rest } = holder;
        const result = decodeOrWireError(
          msgpackEncode(replaced(tree, parent, rest), { useBigInt64: true }),
        );
        if (!(result instanceof WireError)) encodeMessage(result);
        cases++;
      }
    }
  }
  assert.ok(cases > 2000, `${cases} cases`);
});

Deno.test("decodeMessage() applies OpenDHT's classification order and key rules", () => {
  const id = InfoHash.get("peer").bytes;
  const encode = (message: unknown): Uint8Array =>
    msgpackEncode(message, { useBigInt64: true });
  // e before r before p before u before q.
  assert.equal(
    decodeMessage(encode({ e: [203, "x"], r: { id }, p: {}, t: 1 })).kind,
    "error",
  );
  assert.equal(
    decodeMessage(encode({ r: { id }, p: {}, u: {}, q: "ping", t: 1 })).kind,
    "reply",
  );
  assert.equal(
    decodeMessage(encode({ p: {}, u: {}, q: "ping", t: 1 })).kind,
    "value-part",
  );
  assert.equal(
    wireErrorReason(encode({ u: { id }, q: "ping", t: 1 })),
    "legacy",
  );
  assert.equal(
    wireErrorReason(encode({ a: { id }, q: "ping", y: "r", t: 1 })),
    "not-a-query",
  );
  assert.equal(
    wireErrorReason(encode({ a: { id }, q: "frobnicate", t: 1 })),
    "unknown-query",
  );
  assert.equal(wireErrorReason(encode({ a: { id }, t: 1 })), "unknown-query");
  assert.equal(wireErrorReason(encode({ q: "ping", t: 1 })), "missing-key");
  assert.equal(wireErrorReason(encode({ a: {}, q: "ping", t: 1 })), "bad-id");
  assert.equal(
    wireErrorReason(encode({ a: { id: new Uint8Array(20) }, q: "ping", t: 1 })),
    "bad-id",
  );
  assert.equal(
    wireErrorReason(encode({ a: { id: "x".repeat(20) }, q: "ping", t: 1 })),
    "bad-id",
  );
  assert.equal(wireErrorReason(encode({ e: [401, "x"], t: 1 })), "bad-id");
  assert.equal(wireErrorReason(encode([1, 2])), "not-a-map");
  // y is optional for requests; unknown keys are ignored; t defaults to 0.
  const ping = decodeMessage(
    encode({ a: { id, zz: [1, { k: null }] }, q: "ping", extra: 1.5 }),
  );
  assert.ok(
    ping.kind === "request" && ping.method === "ping" && ping.tid === 0,
  );
  // t as a 4-byte str; uint64-encoded small numbers are plain numbers.
  assert.equal(
    decodeMessage(encode({ a: { id }, q: "ping", t: "\x00\x00\x01\x00" })).tid,
    256,
  );
  assert.equal(
    decodeMessage(encode({ a: { id }, q: "ping", t: 7n, n: 3n })).network,
    3,
  );
  assert.equal(
    wireErrorReason(encode({ a: { id }, q: "ping", t: 2 ** 32 })),
    "bad-type",
  );
  assert.equal(
    wireErrorReason(encode({ a: { id }, q: "ping", t: 1, s: 1 })),
    "bad-type",
  );
  assert.equal(
    wireErrorReason(encode({ a: { id }, q: "ping", t: 1, v: 5 })),
    "bad-type",
  );
  // blobs accept bin, str and arrays of small ints; info hashes only bin20.
  const blobs = decodeMessage(
    encode({ a: { id, h: id, values: [1], token: [1, 2, 3] }, q: "put", t: 1 }),
  );
  assert.ok(blobs.kind === "request" && blobs.method === "put");
  assert.deepEqual(blobs.token, Uint8Array.from([1, 2, 3]));
  assert.equal(
    wireErrorReason(encode({ a: { id, h: [...id] }, q: "get", t: 1 })),
    "bad-hash",
  );
  assert.equal(
    wireErrorReason(
      encode({ a: { id, target: id.subarray(1) }, q: "find", t: 1 }),
    ),
    "bad-hash",
  );
  // A malformed value is skipped; the others are kept.
  const good = { id: 9, dat: { body: { type: 0, data: new Uint8Array(1) } } };
  const put = decodeMessage(
    encode({
      a: {
        id,
        h: id,
        values: [{ id: 1 }, "junk", good],
        token: new Uint8Array(32),
      },
      q: "put",
      t: 1,
    }),
  );
  assert.ok(put.kind === "request" && put.method === "put");
  assert.deepEqual(put.values.map((value) => value.id), [9n]);
  assert.equal(
    wireErrorReason(
      encode({ a: { id, h: id, values: [good, 100] }, q: "put", t: 1 }),
    ),
    "bad-values",
  );
  // A query needs both s and w.
  assert.equal(
    wireErrorReason(encode({ a: { id, h: id, q: { s: [] } }, q: "get", t: 1 })),
    "bad-query",
  );
  assert.equal(
    wireErrorReason(
      encode({
        a: { id, h: id, q: { s: [], w: [{ f: 4, v: 1 }] } },
        q: "get",
        t: 1,
      }),
    ),
    "bad-query",
  );
  // sa must be bin; another length is ignored.
  assert.equal(
    wireErrorReason(encode({ r: { id, sa: "1234" }, t: 1 })),
    "bad-type",
  );
  const oddSa = decodeMessage(
    encode({ r: { id, sa: new Uint8Array(5) }, t: 1 }),
  );
  assert.ok(oddSa.kind === "reply" && oddSa.seenAddress === undefined);
  // fileds with values but no fields.
  assert.equal(
    wireErrorReason(encode({ r: { id, fileds: { f: [], v: [1] } }, t: 1 })),
    "bad-fields",
  );
});

// ---------------------------------------------------------------------------
// Round-trip property for seeded random typed messages

/** Comparable form: InfoHash and bytes to hex, bigint to text, undefined members dropped. */
function comparable(value: unknown): unknown {
  if (value instanceof InfoHash) return `id:${value.toString()}`;
  if (value instanceof Uint8Array) return `bytes:${value.toHex()}`;
  if (typeof value === "bigint") return `big:${value}`;
  if (Array.isArray(value)) return value.map(comparable);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, member]) => member !== undefined)
        .map(([key, member]) => [key, comparable(member)]),
    );
  }
  return value;
}

class MessageGenerator {
  readonly #rng: Rng;
  readonly #bytes: (length: number) => Uint8Array;

  constructor(seed: string) {
    this.#rng = seededRng(seed);
    this.#bytes = rngBytes(this.#rng);
  }

  int(maxExclusive: number): number {
    return randomInt(this.#rng, maxExclusive);
  }

  chance(): boolean {
    return this.#rng() < 0.5;
  }

  maybe<T>(make: () => T): T | undefined {
    return this.chance() ? make() : undefined;
  }

  bytes(maxLength: number): Uint8Array {
    return this.#bytes(this.int(maxLength + 1));
  }

  uint32(): number {
    return [0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffff][this.int(9)] ??
      this.int(2 ** 32);
  }

  uint64(): bigint {
    const choices = [
      0n,
      1n,
      2n ** 32n - 1n,
      2n ** 32n,
      2n ** 53n + 1n,
      2n ** 64n - 1n,
    ];
    return this.chance()
      ? choices[this.int(choices.length)]
      : BigInt(this.int(2 ** 32)) * 2n ** 32n + BigInt(this.int(2 ** 32));
  }

  id(): InfoHash {
    const id = InfoHash.random(this.#rng);
    return id.equals(InfoHash.ZERO) ? InfoHash.get("nonzero") : id;
  }

  text(): string {
    return ["RNG1", "o2", "", "é", "x".repeat(40), "text/plain"][this.int(6)];
  }

  value(): DhtValue {
    const id = this.uint64();
    const priority = this.maybe(() => 1 + this.int(100));
    const extra = priority === undefined ? {} : { priority };
    const kind = this.int(3);
    if (kind === 0) {
      return {
        id,
        type: 0,
        data: new Uint8Array(0),
        cypher: this.bytes(300),
        ...extra,
      };
    }
    const userType = this.maybe(() =>
      ["text/plain", "application/x", "é"][this.int(3)]
    );
    const plain: DhtValue = {
      id,
      type: this.int(65536),
      data: this.bytes(200),
      ...(userType ? { userType } : {}),
      ...extra,
    };
    if (kind === 1) return plain;
    const recipient = this.maybe(() => this.id());
    return {
      ...plain,
      owner: this.bytes(300),
      seq: this.int(65536),
      signature: this.bytes(256),
      ...(recipient ? { recipient } : {}),
    };
  }

  values(): DhtValue[] {
    return Array.from({ length: this.int(4) }, () => this.value());
  }

  query(): DhtQuery {
    const terms = [
      () => ({ field: 1, value: this.uint64() }),
      () => ({ field: 2, value: this.int(65536) }),
      () => ({ field: 3, value: this.id().bytes }),
      () => ({ field: 5, value: this.bytes(20) }),
    ];
    return {
      select: Array.from({ length: this.int(4) }, () => 1 + this.int(5)),
      where: Array.from(
        { length: this.int(3) },
        () => terms[this.int(terms.length)](),
      ),
    };
  }

  want(): number[] {
    return [[2], [10], [2, 10], []][this.int(4)];
  }

  nodes(family: 4 | 6): NodeInfo[] {
    const hosts6 = [
      "2001:db8::1",
      "::1",
      "fe80::1:2",
      "::ffff:10.0.0.1",
      "1:2:3:4:5:6:7:8",
    ];
    return Array.from({ length: this.int(4) }, () => ({
      id: this.id(),
      address: {
        host: family === 4
          ? Array.from({ length: 4 }, () => this.int(256)).join(".")
          : hosts6[this.int(hosts6.length)],
        port: this.int(65536),
      },
    }));
  }

  common(): {
    tid: number;
    network: number;
    userAgent?: string;
    isClient?: boolean;
  } {
    const userAgent = this.maybe(() => this.text());
    const isClient = this.maybe(() => this.chance());
    return {
      tid: this.uint32(),
      network: this.chance() ? 0 : this.uint32(),
      ...(userAgent === undefined ? {} : { userAgent }),
      ...(isClient === undefined ? {} : { isClient }),
    };
  }

  request(): DhtRequest {
    const common = {
      kind: "request" as const,
      ...this.common(),
      senderId: this.id(),
    };
    const optional = <T>(name: string, make: () => T): Record<string, T> =>
      this.chance() ? { [name]: make() } : {};
    switch (this.int(8)) {
      case 0:
        return { ...common, method: "ping" };
      case 1:
        return {
          ...common,
          method: "find",
          target: this.id(),
          ...optional("want", () => this.want()),
        };
      case 2:
        return {
          ...common,
          method: "get",
          key: this.id(),
          ...optional("query", () => this.query()),
          ...optional("want", () => this.want()),
        };
      case 3: {
        const sizes = this.maybe(() =>
          Array.from({ length: 1 + this.int(3) }, () => this.int(70000))
        );
        return {
          ...common,
          method: "put",
          key: this.id(),
          values: sizes ? [] : this.values(),
          ...(sizes ? { valueSizes: sizes } : {}),
          ...optional("createdSeconds", () => this.int(2 ** 40) - 2 ** 20),
          token: this.bytes(40),
        };
      }
      case 4:
        return {
          ...common,
          method: "refresh",
          key: this.id(),
          valueId: this.uint64(),
          token: this.bytes(32),
        };
      case 5:
        return {
          ...common,
          method: "listen",
          key: this.id(),
          token: this.bytes(32),
          socketId: this.uint32(),
          ...optional("version", () => this.int(3) - 1),
          ...optional("query", () => this.query()),
        };
      case 6:
        return {
          ...common,
          method: "update",
          socketId: this.uint32(),
          version: 1,
          key: this.id(),
          values: this.values(),
          ...optional("createdSeconds", () => this.int(2 ** 31)),
          token: this.bytes(32),
        };
      default:
        return {
          ...common,
          method: "update",
          socketId: this.uint32(),
          ...optional("token", () => this.bytes(32)),
          ...(this.chance()
            ? { refreshed: [this.uint64()] }
            : { expired: [this.uint64(), this.uint64()] }),
        };
    }
  }

  reply(): DhtReply {
    const optional = <T>(name: string, make: () => T): Record<string, T> =>
      this.chance() ? { [name]: make() } : {};
    const order = [
      ...new Set(
        Array.from(
          { length: 1 + this.int(3) },
          () => [1, 2, 4, 5][this.int(4)],
        ),
      ),
    ].sort();
    const fieldsFor = (): unknown[] =>
      order.map((field) =>
        field === 1
          ? this.uint64()
          : field === 5
          ? this.text()
          : this.int(65536)
      );
    const contents = this.int(3);
    return {
      kind: "reply",
      ...this.common(),
      senderId: this.id(),
      ...optional("valueId", () => this.uint64()),
      ...optional(
        "seenAddress",
        () => new Uint8Array(this.chance() ? 4 : 16).map(() => this.int(256)),
      ),
      ...optional("nodes4", () => this.nodes(4)),
      ...optional("nodes6", () => this.nodes(6)),
      ...optional("token", () => this.bytes(32)),
      ...(contents === 0 ? { values: this.values() } : {}),
      ...(contents === 1
        ? { valueSizes: [this.int(2000), this.int(70000)] }
        : {}),
      ...(contents === 2 && this.chance()
        ? {
          fields: { fields: order, values: [...fieldsFor(), ...fieldsFor()] },
        }
        : {}),
    };
  }

  message(): DhtMessage {
    switch (this.int(4)) {
      case 0:
        return this.request();
      case 1:
        return this.reply();
      case 2:
        return {
          kind: "error",
          ...this.common(),
          senderId: this.id(),
          code: [203, 401, 404, 65535][this.int(4)],
          message: this.text(),
        };
      default:
        return {
          kind: "value-part",
          tid: this.uint32(),
          network: this.chance() ? 0 : this.uint32(),
          parts: Array.from(
            { length: 1 + this.int(3) },
            () => ({
              index: this.int(60),
              offset: this.int(70000),
              data: this.bytes(1280),
            }),
          ),
        };
    }
  }
}

Deno.test("decodeMessage(encodeMessage(m)) equals m for 3000 seeded random messages of every kind", () => {
  const generator = new MessageGenerator("wire round trip");
  const kinds = new Set<string>();
  for (let round = 0; round < 3000; round++) {
    const message = generator.message();
    kinds.add(
      message.kind === "request" ? `request:${message.method}` : message.kind,
    );
    const bytes = encodeMessage(message);
    const decoded = decodeMessage(bytes);
    assert.deepEqual(
      comparable(decoded),
      comparable(message),
      `round ${round}`,
    );
    assert.deepEqual(encodeMessage(decoded), bytes);
  }
  assert.equal(kinds.size, 10, [...kinds].join(", "));
});

Deno.test("encodeMessage() omits n for network 0 and puts it where OpenDHT does", () => {
  const senderId = InfoHash.get("me");
  const keys = (message: DhtMessage): string[] =>
    Object.keys(msgpackDecode(encodeMessage(message)) as object);
  const ping: DhtRequest = {
    kind: "request",
    method: "ping",
    tid: 1,
    network: 0,
    senderId,
    userAgent: "RNG1",
  };
  assert.deepEqual(keys(ping), ["a", "q", "t", "y", "v"]);
  assert.deepEqual(keys({ ...ping, network: 7 }), [
    "a",
    "q",
    "t",
    "y",
    "v",
    "n",
  ]);
  const expired: DhtRequest = {
    kind: "request",
    method: "update",
    tid: 1,
    network: 7,
    senderId,
    userAgent: "RNG1",
    socketId: 3,
    expired: [1n],
  };
  assert.deepEqual(keys(expired), ["a", "y", "v", "n", "q", "t"]);
  const part: DhtMessage = {
    kind: "value-part",
    tid: 1,
    network: 7,
    parts: [{ index: 0, offset: 0, data: new Uint8Array(1) }],
  };
  assert.deepEqual(keys(part), ["n", "y", "t", "p"]);
  assert.deepEqual(keys({ ...part, network: 0 }), ["y", "t", "p"]);
  const error: DhtMessage = {
    kind: "error",
    tid: 1,
    network: 0,
    senderId,
    code: 401,
    message: "Put with wrong token",
  };
  assert.deepEqual(keys(error), ["e", "r", "t", "y"]);
});

Deno.test("encodeMessage() refuses out-of-range numbers and contradictory values", () => {
  const senderId = InfoHash.get("me");
  const ping: DhtRequest = {
    kind: "request",
    method: "ping",
    tid: 1,
    network: 0,
    senderId,
  };
  assert.throws(() => encodeMessage({ ...ping, tid: 2 ** 32 }), RangeError);
  assert.throws(() => encodeMessage({ ...ping, tid: -1 }), RangeError);
  assert.throws(() => encodeMessage({ ...ping, tid: 1.5 }), RangeError);
  assert.throws(() => encodeMessage({ ...ping, network: -2 }), RangeError);
  const put: DhtRequest = {
    kind: "request",
    method: "put",
    tid: 1,
    network: 0,
    senderId,
    key: senderId,
    values: [{ id: 1n, type: 0, data: new Uint8Array(0) }],
    valueSizes: [10],
    token: new Uint8Array(32),
  };
  assert.throws(() => encodeMessage(put), TypeError);
  assert.throws(
    () => encodeMessage({ ...ping, kind: "bogus" } as unknown as DhtMessage),
    TypeError,
  );
});

Deno.test("The n4 writer takes a node's own ipv4 reading when it has one, and parses the host otherwise", () => {
  const id = InfoHash.get("node");
  const address = { host: "1.2.3.4", port: 0x0102 };
  const written = (ipv4?: number) => {
    const reply = nodes4Reply(id, [
      ipv4 === undefined ? { id, address } : { id, address, ipv4 },
    ]);
    return (decodeMessage(encodeMessage(reply)) as DhtReply).nodes4?.[0]
      .address;
  };
  assert.deepEqual(written(), { host: "1.2.3.4", port: 0x0102 });
  assert.deepEqual(written(0x0506_0708), { host: "5.6.7.8", port: 0x0102 });
  // -1 (not IPv4), out-of-range and fractional numbers fall back to the host.
  assert.deepEqual(written(-1), { host: "1.2.3.4", port: 0x0102 });
  assert.deepEqual(written(2 ** 32), { host: "1.2.3.4", port: 0x0102 });
  assert.deepEqual(written(1.5), { host: "1.2.3.4", port: 0x0102 });
});
