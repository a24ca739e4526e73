/**
 * Encoding of typed {@link DhtMessage}s to OpenDHT 2.4.12 datagrams (§8 of
 * `docs/opendht-wire.md`), reproducing OpenDHT's own bytes: its key order per
 * message kind, minimal integers, `bin` for ids, tokens, addresses and
 * value payloads, `str` for keys and labels. Only `lib/dht/wire/` knows the
 * wire key names; the rest of the package sees typed messages.
 *
 * Two paths give the same bytes: the general one builds a {@link WireMap}
 * tree per message kind (`requestWire`, `replyWire`, …) and writes it; the
 * fast one writes the messages of every lookup (ping, find and get requests,
 * replies without value sizes or fields) straight into the writer. {@link encodeMessage}
 * takes the fast path when there is one; {@link encodeMessageTree} and
 * {@link encodeMessageFast} expose each path alone, for the test that
 * compares them (they are not part of the package's API).
 *
 * @example Round trip of a ping
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../identity/info_hash.ts";
 * import { decodeMessage } from "./decode.ts";
 * import { encodeMessage } from "./encode.ts";
 *
 * const bytes = encodeMessage({
 *   kind: "request", method: "ping", tid: 7, network: 0,
 *   senderId: InfoHash.get("me"), userAgent: "RNG1",
 * });
 * const message = decodeMessage(bytes);
 * assert.equal(message.kind === "request" && message.method, "ping");
 * assert.deepEqual(encodeMessage(message), bytes);
 * ```
 *
 * @module
 */
import type {
  DhtError,
  DhtMessage,
  DhtQuery,
  DhtReply,
  DhtRequest,
  DhtValue,
  DhtValuePart,
  NodeInfo,
} from "../messages.ts";
import {
  checkUint,
  checkUint64,
  MAX_UINT16,
  MAX_UINT32,
  MsgpackWriter,
  toDatagram,
  type Wire,
  WireMap,
  writeWire,
} from "./_msgpack.ts";
import {
  encodeNodes4,
  encodeNodes6,
  nodeEntryBytes,
  writeNodeEntries,
} from "./addresses.ts";
import { packedValueWire } from "./values.ts";

/** The user agent OpenDHT 2.4.12 sends in `v`; callers pass it as `userAgent`. */
export const OPENDHT_USER_AGENT = "RNG1";

// ---------------------------------------------------------------------------
// Trees: one WireMap per message kind, written by the general path.

function queryWire(query: DhtQuery | undefined): WireMap | undefined {
  if (query === undefined) return undefined;
  const where = query.where.map((term) =>
    new WireMap([
      ["f", checkUint(term.field, 0xff, "where field")],
      ["v", term.value],
    ])
  );
  const select = query.select.map((field) =>
    checkUint(field, MAX_UINT16, "select field")
  );
  return new WireMap([["s", select], ["w", where]]);
}

/** `values` as OpenDHT packs it: inline value maps, or the sizes of fragmented values. */
function valuesWire(
  values: readonly DhtValue[] | undefined,
  sizes: readonly number[] | undefined,
): Wire | undefined {
  if (sizes === undefined) return values?.map(packedValueWire);
  if (values !== undefined && values.length > 0) {
    throw new TypeError(
      "Cannot encode message: both values and valueSizes are set",
    );
  }
  return sizes.map((size) => checkUint(size, MAX_UINT32, "value size"));
}

function requestBodyWire(request: DhtRequest): WireMap {
  const id = ["id", request.senderId] as const;
  switch (request.method) {
    case "ping":
      return new WireMap([id]);
    case "find":
      return new WireMap([id, ["target", request.target], [
        "w",
        wantWire(request.want),
      ]]);
    case "get":
      return new WireMap([
        id,
        ["h", request.key],
        ["q", queryWire(request.query)],
        ["w", wantWire(request.want)],
        ["token", request.token],
      ]);
    case "put":
      return new WireMap([
        id,
        ["h", request.key],
        ["values", valuesWire(request.values, request.valueSizes)],
        ["c", request.createdSeconds],
        ["token", request.token],
      ]);
    case "refresh":
      return new WireMap([
        id,
        ["h", request.key],
        ["vid", checkUint64(request.valueId, "vid")],
        ["token", request.token],
      ]);
    case "listen":
      return new WireMap([
        id,
        ["ve", request.version],
        ["h", request.key],
        ["token", request.token],
        ["sid", checkUint(request.socketId, MAX_UINT32, "sid")],
        ["q", queryWire(request.query)],
      ]);
    case "update":
      return new WireMap([
        id,
        ["ve", request.version],
        ["h", request.key],
        ["sid", checkUint(request.socketId, MAX_UINT32, "sid")],
        ["values", valuesWire(request.values, request.valueSizes)],
        ["c", request.createdSeconds],
        ["token", request.token],
        ["re", request.refreshed],
        ["exp", request.expired],
      ]);
  }
}

function wantWire(want: readonly number[] | undefined): Wire | undefined {
  return want?.map((family) => checkUint(family, MAX_UINT16, "want"));
}

/** `v`, `n`, `s`: the trailer of a node's messages (`n` only when ≠ 0, `s` only when set). */
function trailerEntries(
  message: DhtRequest | DhtReply | DhtError,
): (readonly [string, Wire | undefined])[] {
  return [
    ["v", message.userAgent],
    [
      "n",
      message.network === 0
        ? undefined
        : checkUint(message.network, MAX_UINT32, "network"),
    ],
    ["s", message.isClient],
  ];
}

function requestWire(request: DhtRequest): WireMap {
  const body = ["a", requestBodyWire(request)] as const;
  const method = ["q", request.method] as const;
  const tid = ["t", checkUint(request.tid, MAX_UINT32, "tid")] as const;
  const kind = ["y", "q"] as const;
  // Refresh and expire pushes (tellListenerRefreshed/Expired) pack
  // `a, y, v, [n], [s], q, t`; every other request packs `a, q, t, y, v, …`.
  const isIdPush = request.method === "update" &&
    request.values === undefined &&
    request.valueSizes === undefined;
  return new WireMap(
    isIdPush
      ? [body, kind, ...trailerEntries(request), method, tid]
      : [body, method, tid, kind, ...trailerEntries(request)],
  );
}

function replyWire(reply: DhtReply): WireMap {
  const fields = reply.fields && new WireMap([
    [
      "f",
      reply.fields.fields.map((field) => checkUint(field, MAX_UINT16, "field")),
    ],
    ["v", reply.fields.values.map(fieldValueWire)],
  ]);
  const body = new WireMap([
    ["id", reply.senderId],
    [
      "vid",
      reply.valueId === undefined
        ? undefined
        : checkUint64(reply.valueId, "vid"),
    ],
    ["sa", reply.seenAddress],
    [
      "sp",
      reply.seenPort === undefined
        ? undefined
        : checkUint(reply.seenPort, MAX_UINT16, "sp"),
    ],
    ["n4", reply.nodes4 && encodeNodes4(reply.nodes4)],
    ["n6", reply.nodes6 && encodeNodes6(reply.nodes6)],
    ["token", reply.token],
    ["values", valuesWire(reply.values, reply.valueSizes)],
    ["fileds", fields],
    ["tr", reply.truncated === true ? true : undefined],
    [
      "qr",
      reply.quietRefreshTypes?.map((type) =>
        checkUint(type, MAX_UINT16, "quiet refresh type")
      ),
    ],
  ]);
  return new WireMap([
    ["r", body],
    ["t", checkUint(reply.tid, MAX_UINT32, "tid")],
    ["y", "r"],
    ...trailerEntries(reply),
  ]);
}

function fieldValueWire(value: unknown): Wire {
  if (
    typeof value === "number" || typeof value === "bigint" ||
    typeof value === "string" || value instanceof Uint8Array
  ) {
    return value;
  }
  throw new TypeError(
    `Cannot encode message: field value of type ${typeof value}`,
  );
}

function errorWire(error: DhtError): WireMap {
  return new WireMap([
    ["e", [checkUint(error.code, MAX_UINT16, "error code"), error.message]],
    ["r", error.senderId && new WireMap([["id", error.senderId]])],
    ["t", checkUint(error.tid, MAX_UINT32, "tid")],
    ["y", "e"],
    ...trailerEntries(error),
  ]);
}

function valuePartWire(part: DhtValuePart): WireMap {
  const pieces = part.parts.map((piece) =>
    [
      checkUint(piece.index, MAX_UINT32, "part index"),
      new WireMap([
        ["o", checkUint(piece.offset, Number.MAX_SAFE_INTEGER, "part offset")],
        ["d", piece.data],
      ]),
    ] as const
  );
  // sendValueParts packs `n` first, and no user agent.
  return new WireMap([
    [
      "n",
      part.network === 0
        ? undefined
        : checkUint(part.network, MAX_UINT32, "network"),
    ],
    ["y", "p"],
    ["t", checkUint(part.tid, MAX_UINT32, "tid")],
    ["p", new WireMap(pieces)],
  ]);
}

// ---------------------------------------------------------------------------
// Direct writers for the messages of every lookup (ping, find and get requests,
// replies without value sizes or fields): the same bytes, checks and key order as
// requestWire and replyWire, without building a WireMap tree first.

function writeTrailer(
  writer: MsgpackWriter,
  message: DhtRequest | DhtReply,
): void {
  if (message.userAgent !== undefined) {
    writer.str("v");
    writer.str(message.userAgent);
  }
  if (message.network !== 0) {
    writer.str("n");
    writer.int(checkUint(message.network, MAX_UINT32, "network"));
  }
  if (message.isClient !== undefined) {
    writer.str("s");
    writer.bool(message.isClient);
  }
}

function trailerCount(message: DhtRequest | DhtReply): number {
  return (message.userAgent === undefined ? 0 : 1) +
    (message.network === 0 ? 0 : 1) + (message.isClient === undefined ? 0 : 1);
}

function writePingOrFind(
  writer: MsgpackWriter,
  request: Extract<DhtRequest, { method: "ping" | "find" }>,
): void {
  writer.map(4 + trailerCount(request));
  writer.str("a");
  if (request.method === "ping") {
    writer.map(1);
    writer.str("id");
    writer.id(request.senderId);
  } else {
    const want = request.want;
    writer.map(want === undefined ? 2 : 3);
    writer.str("id");
    writer.id(request.senderId);
    writer.str("target");
    writer.id(request.target);
    if (want !== undefined) {
      writer.str("w");
      writer.array(want.length);
      for (const family of want) {
        writer.int(checkUint(family, MAX_UINT16, "want"));
      }
    }
  }
  writer.str("q");
  writer.str(request.method);
  writer.str("t");
  writer.int(checkUint(request.tid, MAX_UINT32, "tid"));
  writer.str("y");
  writer.str("q");
  writeTrailer(writer, request);
}

/** A get request, as `requestWire` packs it: `a: {id, h, [q], [w], [token]}, q, t, y`, trailer. */
function writeGet(
  writer: MsgpackWriter,
  request: Extract<DhtRequest, { method: "get" }>,
): void {
  const query = queryWire(request.query);
  const want = wantWire(request.want);
  writer.map(4 + trailerCount(request));
  writer.str("a");
  writer.map(
    2 + (query === undefined ? 0 : 1) + (want === undefined ? 0 : 1) +
      (request.token === undefined ? 0 : 1),
  );
  writer.str("id");
  writer.id(request.senderId);
  writer.str("h");
  writer.id(request.key);
  if (query !== undefined) {
    writer.str("q");
    writeWire(writer, query);
  }
  if (want !== undefined) {
    writer.str("w");
    writeWire(writer, want);
  }
  if (request.token !== undefined) {
    writer.str("token");
    writer.bin(request.token);
  }
  writer.str("q");
  writer.str("get");
  writer.str("t");
  writer.int(checkUint(request.tid, MAX_UINT32, "tid"));
  writer.str("y");
  writer.str("q");
  writeTrailer(writer, request);
}

function writeNodes(
  writer: MsgpackWriter,
  nodes: readonly NodeInfo[],
  family: 4 | 6,
): void {
  const at = writer.binInPlace(nodes.length * nodeEntryBytes(family));
  writeNodeEntries(writer.buffer, at, nodes, family);
}

function writePlainReply(writer: MsgpackWriter, reply: DhtReply): void {
  const valueId = reply.valueId === undefined
    ? undefined
    : checkUint64(reply.valueId, "vid");
  const seenPort = reply.seenPort === undefined
    ? undefined
    : checkUint(reply.seenPort, MAX_UINT16, "sp");
  writer.map(3 + trailerCount(reply));
  writer.str("r");
  const values = reply.values;
  const truncated = reply.truncated === true;
  const quiet = reply.quietRefreshTypes;
  writer.map(
    1 + (valueId === undefined ? 0 : 1) +
      (reply.seenAddress === undefined ? 0 : 1) +
      (seenPort === undefined ? 0 : 1) +
      (reply.nodes4 === undefined ? 0 : 1) +
      (reply.nodes6 === undefined ? 0 : 1) +
      (reply.token === undefined ? 0 : 1) +
      (values === undefined ? 0 : 1) + (truncated ? 1 : 0) +
      (quiet === undefined ? 0 : 1),
  );
  writer.str("id");
  writer.id(reply.senderId);
  if (valueId !== undefined) {
    writer.str("vid");
    writer.int(valueId);
  }
  if (reply.seenAddress !== undefined) {
    writer.str("sa");
    writer.bin(reply.seenAddress);
  }
  if (seenPort !== undefined) {
    writer.str("sp");
    writer.int(seenPort);
  }
  if (reply.nodes4 !== undefined) {
    writer.str("n4");
    writeNodes(writer, reply.nodes4, 4);
  }
  if (reply.nodes6 !== undefined) {
    writer.str("n6");
    writeNodes(writer, reply.nodes6, 6);
  }
  if (reply.token !== undefined) {
    writer.str("token");
    writer.bin(reply.token);
  }
  if (values !== undefined) {
    writer.str("values");
    writer.array(values.length);
    for (const value of values) writeWire(writer, packedValueWire(value));
  }
  if (truncated) {
    writer.str("tr");
    writer.bool(true);
  }
  if (quiet !== undefined) {
    writer.str("qr");
    writer.array(quiet.length);
    for (const type of quiet) {
      writer.int(checkUint(type, MAX_UINT16, "quiet refresh type"));
    }
  }
  writer.str("t");
  writer.int(checkUint(reply.tid, MAX_UINT32, "tid"));
  writer.str("y");
  writer.str("r");
  writeTrailer(writer, reply);
}

// ---------------------------------------------------------------------------
// Entry points.

/**
 * Encodes a message with OpenDHT 2.4.12's key order for its kind (§8), so
 * that re-encoding a decoded OpenDHT datagram gives back its exact bytes.
 * `v` is written from `userAgent` when set (OpenDHT 2.4.12 sends
 * {@link OPENDHT_USER_AGENT}), `n` only when `network` ≠ 0, `s` when
 * `isClient` is set. Values are written inline; fragmenting large value
 * sets is `value_parts.ts`'s job.
 *
 * The payload is a view of a larger shared buffer that later datagrams are
 * written after, never over: send it or keep it, but copy it before
 * changing it, and read its `byteOffset` before its `buffer`.
 *
 * @param message The message.
 * @returns The datagram payload.
 * @throws {RangeError} If a tid, id, size or other number is out of range.
 * @throws {TypeError} If an address is not an IP address, or a message sets
 * both `values` and `valueSizes`.
 * @example A put acknowledgement
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../identity/info_hash.ts";
 * import { decodeMessage } from "./decode.ts";
 * import { encodeMessage } from "./encode.ts";
 *
 * const bytes = encodeMessage({
 *   kind: "reply", tid: 1, network: 0, userAgent: "RNG1",
 *   senderId: InfoHash.get("node"), valueId: 2n ** 63n,
 *   seenAddress: Uint8Array.from([127, 0, 0, 1]),
 * });
 * const reply = decodeMessage(bytes);
 * assert.equal(reply.kind === "reply" && reply.valueId, 2n ** 63n);
 * ```
 */
export function encodeMessage(message: DhtMessage): Uint8Array {
  return encodeMessageFast(message) ?? encodeMessageTree(message);
}

/**
 * The fast path of {@link encodeMessage}: ping, find and get requests and replies
 * without `valueSizes` or `fields`, written straight into the
 * writer's slab. Internal to `lib/dht/wire/` and its tests.
 *
 * @param message The message.
 * @returns The same datagram as {@link encodeMessageTree}, or undefined for
 * a message the fast path does not handle.
 */
export function encodeMessageFast(message: DhtMessage): Uint8Array | undefined {
  if (message.kind === "request") {
    if (message.method === "get") {
      const writer = new MsgpackWriter();
      writeGet(writer, message);
      return writer.finishView();
    }
    if (message.method !== "ping" && message.method !== "find") {
      return undefined;
    }
    const writer = new MsgpackWriter();
    writePingOrFind(writer, message);
    return writer.finishView();
  }
  if (
    message.kind === "reply" && message.valueSizes === undefined &&
    message.fields === undefined
  ) {
    const writer = new MsgpackWriter();
    writePlainReply(writer, message);
    return writer.finishView();
  }
  return undefined;
}

/**
 * The general path of {@link encodeMessage}: the message's {@link WireMap}
 * tree, written to the slab. Handles every message; internal to
 * `lib/dht/wire/` and its tests.
 *
 * @param message The message.
 * @returns The datagram payload, a view of the shared slab as from
 * {@link encodeMessage}.
 */
export function encodeMessageTree(message: DhtMessage): Uint8Array {
  return toDatagram(messageWire(message));
}

/** The tree of any message, by kind. */
function messageWire(message: DhtMessage): WireMap {
  switch (message.kind) {
    case "request":
      return requestWire(message);
    case "reply":
      return replyWire(message);
    case "error":
      return errorWire(message);
    case "value-part":
      return valuePartWire(message);
    default:
      throw new TypeError(
        `Cannot encode message: unknown kind ${
          JSON.stringify((message as { kind?: unknown }).kind)
        }`,
      );
  }
}
