/**
 * Decoding of OpenDHT 2.4.12 datagrams to typed {@link DhtMessage}s (§3–§5
 * of `docs/opendht-wire.md`), following OpenDHT's parser
 * (`src/parsed_message.h`): what it drops, {@link decodeMessage} rejects
 * with a {@link WireError}; what it accepts, we accept, with the same
 * defaults (an absent `h` or `target` reads as the zero id, an absent
 * token as empty bytes) so that a handler can answer as OpenDHT does (203,
 * 401).
 *
 * Two paths give the same messages: the general one parses the bytes into
 * a msgpack item tree and reads it ({@link decodeMessageTree}); the fast
 * one reads the requests and replies of every lookup and store straight
 * from the bytes and gives up on anything unusual
 * ({@link decodeMessageFast}, `_decode_fast.ts`). {@link decodeMessage}
 * tries the fast path first; the other two are exported for the test that
 * compares them, not as part of the package's API.
 *
 * @module
 */
import { InfoHash } from "../../identity/info_hash.ts";
import type {
  DhtError,
  DhtMessage,
  DhtQuery,
  DhtReply,
  DhtRequest,
  DhtValue,
  DhtValuePart,
  WhereTerm,
} from "../messages.ts";
import { MAX_QUIET_REFRESH_TYPES } from "../messages.ts";
import {
  guarded,
  type Item,
  MAX_INT32,
  MAX_UINT16,
  MAX_UINT32,
  TEXT_DECODER,
} from "./_msgpack.ts";
import {
  asArray,
  asBlob,
  asBlobView,
  asInfoHash,
  asInteger,
  asText,
  asTid,
  asUint,
  asUint64,
  copyOf,
  findMapValue,
  keyed,
} from "./_items.ts";
import { decodeNodes4, decodeNodes6 } from "./addresses.ts";
import { WireError } from "./errors.ts";
import { decodeValue } from "./values.ts";
import { decodeMessageFast } from "./_decode_fast.ts";
import {
  buildReply,
  buildRequest,
  emptyBody,
  type Header,
  type ParsedBody,
  REQUEST_METHODS,
} from "./_message_build.ts";

export { MAX_WIRE_DATAGRAM_BYTES } from "./_msgpack.ts";
export { decodeMessageFast } from "./_decode_fast.ts";

function parseIds(value: Item, name: string): bigint[] {
  return asArray(value, "bad-type", name).map((id) =>
    asUint64(id, "bad-type", `${name} id`)
  );
}

/**
 * `qr` (our extension): value types, at most {@link MAX_QUIET_REFRESH_TYPES}
 * of them; anything else is ignored (the sender then counts as a node that
 * pushes every refresh, as OpenDHT does).
 */
function parseQuietRefreshTypes(value: Item): number[] | undefined {
  if (value.type !== "array" || value.items.length > MAX_QUIET_REFRESH_TYPES) {
    return undefined;
  }
  const types: number[] = [];
  for (const type of value.items) {
    if (type.type !== "int" || type.value < 0 || type.value > MAX_UINT16) {
      return undefined;
    }
    types.push(Number(type.value));
  }
  return types;
}

function parseWant(value: Item): number[] {
  return asArray(value, "bad-type", "w")
    .filter((family) =>
      family.type === "int" && family.value >= 0 && family.value <= MAX_UINT16
    )
    .map((family) => Number((family as { value: number }).value));
}

function parseSeenAddress(value: Item): Uint8Array | undefined {
  if (value.type !== "bin") throw new WireError("bad-type", "sa is not a bin");
  // OpenDHT ignores an `sa` of another length.
  return value.bytes.length === 4 || value.bytes.length === 16
    ? copyOf(value.bytes)
    : undefined;
}

// One pass over the body map with a switch: this runs for every datagram, so
// it avoids a closure per key (later duplicates win, as in OpenDHT's loop).
function parseBody(item: Item, what: string): ParsedBody {
  const body = keyed(item, "bad-type", what);
  const idItem = body.get("id");
  if (idItem === undefined) throw new WireError("bad-id", "no sender id");
  const senderId = asInfoHash(idItem, "bad-id", "sender id");
  if (senderId.equals(InfoHash.ZERO)) {
    throw new WireError("bad-id", "zero sender id");
  }
  const parsed = emptyBody(senderId);
  let fileds: Item | undefined;
  for (const [key, value] of body) {
    switch (key) {
      case "h":
        parsed.key = asInfoHash(value, "bad-hash", "h");
        break;
      case "target":
        parsed.target = asInfoHash(value, "bad-hash", "target");
        break;
      case "q":
        parsed.query = parseQuery(value);
        break;
      case "token":
        parsed.token = asBlob(value, "bad-type", "token");
        break;
      case "vid":
        parsed.valueId = asUint64(value, "bad-type", "vid");
        break;
      case "n4":
        parsed.nodes4 = decodeNodes4(asBlobView(value, "bad-nodes", "n4"));
        break;
      case "n6":
        parsed.nodes6 = decodeNodes6(asBlobView(value, "bad-nodes", "n6"));
        break;
      case "sa":
        parsed.seenAddress = parseSeenAddress(value);
        break;
      case "sp":
        // Our extension: anything but a port is ignored.
        if (value.type === "int" && value.value >= 1 && value.value <= 0xffff) {
          parsed.seenPort = Number(value.value);
        }
        break;
      case "c":
        parsed.createdSeconds = asInteger(
          value,
          Number.MIN_SAFE_INTEGER,
          Number.MAX_SAFE_INTEGER,
          "bad-type",
          "c",
        );
        break;
      case "values": {
        const values = parseValues(value);
        parsed.values = values.values;
        parsed.valueSizes = values.sizes;
        break;
      }
      case "fileds":
        fileds = value;
        break;
      case "w":
        parsed.want = parseWant(value);
        break;
      case "sid":
        parsed.socketId = asTid(value, "sid");
        break;
      case "ve":
        parsed.version = asInteger(
          value,
          -MAX_INT32 - 1,
          MAX_INT32,
          "bad-type",
          "ve",
        );
        break;
      case "re":
        parsed.refreshed = parseIds(value, "re");
        break;
      case "exp":
        parsed.expired = parseIds(value, "exp");
        break;
      case "qr":
        parsed.quietRefreshTypes = parseQuietRefreshTypes(value);
        break;
      case "tr":
        // Our extension: anything but `true` means no.
        if (value.type === "bool" && value.value === true) {
          parsed.truncated = true;
        }
        break;
    }
  }
  // OpenDHT reads `fileds` only when there is no `values`.
  if (
    fileds !== undefined && parsed.values === undefined &&
    parsed.valueSizes === undefined
  ) {
    parsed.fields = parseFields(fileds);
  }
  return parsed;
}

/** `values`: value maps (malformed ones skipped), or uint sizes of fragmented values. */
function parseValues(item: Item): { values?: DhtValue[]; sizes?: number[] } {
  const entries = asArray(item, "bad-values", "values");
  const sizes = entries.filter((entry) =>
    entry.type === "int" && entry.value >= 0
  );
  if (sizes.length === 0) {
    const values: DhtValue[] = [];
    for (const entry of entries) {
      try {
        values.push(decodeValue(entry));
      } catch (error) {
        // A malformed value is skipped, the rest is processed (OpenDHT does the same).
        if (!(error instanceof WireError)) throw error;
      }
    }
    return { values };
  }
  // OpenDHT indexes value parts by position in this array; never sent mixed
  // (§14 all-or-nothing), so a mix is refused rather than half-interpreted.
  if (sizes.length !== entries.length) {
    throw new WireError("bad-values", "values mixes sizes and value maps");
  }
  // Sizes above 64 KiB are ignored by the receiver anyway; above uint32
  // they cannot be real, and refusing them keeps every decoded message
  // encodable.
  return {
    sizes: entries.map((size) =>
      asUint(size, MAX_UINT32, "bad-values", "value size")
    ),
  };
}

function parseQuery(item: Item): DhtQuery {
  const where = findMapValue(item, "w", "bad-query");
  const select = findMapValue(item, "s", "bad-query");
  if (where === undefined || select === undefined) {
    throw new WireError("bad-query", "query lacks s or w");
  }
  return {
    select: asArray(select, "bad-query", "select").map((field) =>
      asUint(field, MAX_UINT16, "bad-query", "select field")
    ),
    where: asArray(where, "bad-query", "where").map(parseWhereTerm),
  };
}

function parseWhereTerm(item: Item): WhereTerm {
  const fieldItem = findMapValue(item, "f", "bad-query");
  const value = findMapValue(item, "v", "bad-query");
  if (fieldItem === undefined || value === undefined) {
    throw new WireError("bad-query", "where term lacks f or v");
  }
  const field = asUint(fieldItem, MAX_UINT32, "bad-query", "where field");
  switch (field) {
    case 1: // Id
      return { field, value: asUint64(value, "bad-query", "where id") };
    case 2: { // ValueType
      const type = asUint64(value, "bad-query", "where type");
      return {
        field,
        value: type <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(type) : type,
      };
    }
    case 3: // OwnerPk
      return {
        field,
        value: asInfoHash(value, "bad-query", "where owner").bytes,
      };
    case 5: // UserType
      return { field, value: asBlob(value, "bad-query", "where user type") };
    default:
      // Includes SeqNum (4): OpenDHT 2.4.12 cannot unpack it either.
      throw new WireError("bad-query", `where on field ${field}`);
  }
}

/** `fileds: {f, v}`; `v` is flattened, |f| entries per value in ascending field order. */
function parseFields(item: Item): { fields: number[]; values: unknown[] } {
  const fieldsItem = findMapValue(item, "f", "bad-fields");
  if (fieldsItem === undefined) {
    throw new WireError("bad-fields", "fileds lacks f");
  }
  const fields = asArray(fieldsItem, "bad-fields", "f").map((field) =>
    asUint(field, MAX_UINT16, "bad-fields", "field")
  );
  const valuesItem = findMapValue(item, "v", "bad-fields");
  if (valuesItem === undefined) return { fields, values: [] };
  const order = [...new Set(fields)].sort((a, b) => a - b);
  const entries = asArray(valuesItem, "bad-fields", "fileds values");
  if (order.length === 0 && entries.length > 0) {
    throw new WireError("bad-fields", "fileds has values but no fields");
  }
  const values = entries.map((entry, index): unknown => {
    if (entry.type === "int") {
      return order[index % order.length] === 1
        ? asUint64(entry, "bad-fields", "id")
        : entry.value;
    }
    if (entry.type === "str") return TEXT_DECODER.decode(entry.bytes);
    if (entry.type === "bin") return entry.bytes.slice();
    throw new WireError(
      "bad-fields",
      "a field value is not an int, str or bin",
    );
  });
  return { fields, values };
}

function parseHeader(top: Map<string, Item>): Header {
  const tid = top.get("t");
  const userAgent = top.get("v");
  const network = top.get("n");
  const isClient = top.get("s");
  const method = top.get("q");
  if (isClient !== undefined && isClient.type !== "bool") {
    throw new WireError("bad-type", "s is not a boolean");
  }
  return {
    // A message without `t` has tid 0 in OpenDHT (and gets answered with it).
    tid: tid === undefined ? 0 : asTid(tid, "t"),
    network: network === undefined
      ? 0
      : asUint(network, MAX_UINT32, "bad-type", "n"),
    ...(userAgent === undefined
      ? {}
      : { userAgent: asText(userAgent, "bad-type", "v") }),
    ...(isClient?.type === "bool" ? { isClient: isClient.value } : {}),
    ...(method === undefined
      ? {}
      : { method: asText(method, "bad-type", "q") }),
  };
}

function decodeValuePart(top: Map<string, Item>, header: Header): DhtValuePart {
  const map = top.get("p")!;
  if (map.type !== "map") throw new WireError("bad-part", "p is not a map");
  const parts: { index: number; offset: number; data: Uint8Array }[] = [];
  for (const [indexItem, piece] of map.entries) {
    const index = asUint(indexItem, MAX_UINT32, "bad-part", "part index");
    const offset = findMapValue(piece, "o", "bad-part");
    const data = findMapValue(piece, "d", "bad-part");
    if (offset === undefined || data === undefined) continue;
    parts.push({
      index,
      offset: asUint(
        offset,
        Number.MAX_SAFE_INTEGER,
        "bad-part",
        "part offset",
      ),
      data: asBlob(data, "bad-part", "part data"),
    });
  }
  return {
    kind: "value-part",
    tid: header.tid,
    network: header.network,
    parts,
  };
}

function decodeError(top: Map<string, Item>, header: Header): DhtError {
  const codes = asArray(top.get("e")!, "bad-error", "e");
  if (codes.length === 0) throw new WireError("bad-error", "e is empty");
  const code = asUint(codes[0], MAX_UINT16, "bad-error", "error code");
  // OpenDHT reads only the code; a message that is not text reads as "".
  const text = codes[1];
  const message = text?.type === "str" || text?.type === "bin"
    ? TEXT_DECODER.decode(text.bytes)
    : "";
  const bodyItem = top.get("a") ?? top.get("r");
  if (bodyItem === undefined) {
    throw new WireError("bad-id", "error without r.id");
  }
  const body = parseBody(bodyItem, "r");
  return {
    kind: "error",
    tid: header.tid,
    network: header.network,
    ...(header.userAgent === undefined ? {} : { userAgent: header.userAgent }),
    ...(header.isClient === undefined ? {} : { isClient: header.isClient }),
    senderId: body.senderId,
    code,
    message,
  };
}

function decodeReply(top: Map<string, Item>, header: Header): DhtReply {
  return buildReply(header, parseBody(top.get("a") ?? top.get("r")!, "r"));
}

function decodeRequest(top: Map<string, Item>, header: Header): DhtRequest {
  const kind = top.get("y");
  if (kind !== undefined && asText(kind, "not-a-query", "y") !== "q") {
    throw new WireError("not-a-query", 'y is not "q"');
  }
  const method = header.method;
  if (method === undefined || !REQUEST_METHODS.has(method)) {
    throw new WireError(
      "unknown-query",
      `unknown query ${JSON.stringify(method ?? null)}`,
    );
  }
  const bodyItem = top.get("a");
  if (bodyItem === undefined) {
    throw new WireError("missing-key", "request without a");
  }
  return buildRequest(
    header,
    parseBody(bodyItem, "a"),
    method as DhtRequest["method"],
  );
}

/**
 * Decodes one datagram, classifying it as OpenDHT does (§4): `e` → error,
 * `r` → reply, `p` → value part, `u` → legacy push (refused), else a
 * request named by `q`. Keys are found by name; unknown keys are ignored; a
 * malformed value inside `values` is skipped. Network filtering is left to
 * the caller (`network` is returned, 0 when absent).
 *
 * @param bytes The datagram payload (at most 65535 bytes).
 * @returns The typed message.
 * @throws {WireError} For anything OpenDHT would drop, plus: a missing or
 * zero sender id (`"bad-id"`, which OpenDHT drops after parsing), a legacy
 * `u` push (`"legacy"`; we only speak `ve: 1`), a `values` array mixing
 * sizes and values or announcing a size above 2^32 - 1 (`"bad-values"`).
 * Never throws anything else.
 * @example A find answer with one node
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../../identity/info_hash.ts";
 * import { decodeMessage } from "./decode.ts";
 * import { encodeMessage } from "./encode.ts";
 *
 * const node = { id: InfoHash.get("peer"), address: { host: "127.0.0.1", port: 43942 } };
 * const bytes = encodeMessage({
 *   kind: "reply", tid: 9, network: 0, userAgent: "RNG1", senderId: InfoHash.get("me"),
 *   seenAddress: Uint8Array.from([127, 0, 0, 1]), nodes4: [node], token: new Uint8Array(32),
 * });
 * const reply = decodeMessage(bytes);
 * assert.ok(reply.kind === "reply");
 * assert.equal(reply.nodes4?.[0].id.toString(), node.id.toString());
 * assert.equal(reply.nodes4?.[0].address.port, 43942);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): DhtMessage {
  let fast: DhtMessage | undefined;
  try {
    fast = decodeMessageFast(bytes);
  } catch {
    // Our bug, never the peer's: the general path decides on these bytes.
    fast = undefined;
  }
  return fast ?? decodeMessageTree(bytes);
}

/**
 * The general path of {@link decodeMessage}: the bytes parsed into a msgpack
 * item tree, then read. Handles every datagram; internal to `lib/dht/wire/`
 * and its tests, which compare it with {@link decodeMessageFast}.
 *
 * @param bytes The datagram payload.
 * @returns The typed message.
 * @throws {WireError} As {@link decodeMessage}.
 */
export function decodeMessageTree(bytes: Uint8Array): DhtMessage {
  return guarded(bytes, (item) => {
    const top = keyed(item, "not-a-map", "message");
    const header = parseHeader(top);
    if (top.has("e")) return decodeError(top, header);
    if (top.has("r")) return decodeReply(top, header);
    if (top.has("p")) return decodeValuePart(top, header);
    if (top.has("u")) {
      throw new WireError("legacy", "legacy (version 0) listener push");
    }
    return decodeRequest(top, header);
  });
}
