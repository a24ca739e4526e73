/**
 * The last step of decoding, private to `lib/dht/wire/`: a request or reply
 * built from its parsed header and body. Both decoder paths (the general
 * one of `decode.ts`, which parses a msgpack item tree, and the fast one of
 * `_decode_fast.ts`, which reads the bytes directly) end here, so that they
 * give the same objects, down to the order of their fields.
 *
 * @module
 */
import { InfoHash } from "../../identity/info_hash.ts";
import type {
  DhtQuery,
  DhtReply,
  DhtRequest,
  DhtValue,
  NodeInfo,
} from "../messages.ts";

/** Top-level keys read for every message, as OpenDHT's first loop does. */
export interface Header {
  readonly tid: number;
  readonly network: number;
  readonly userAgent?: string;
  readonly isClient?: boolean;
  readonly method?: string;
}

/** Every body key OpenDHT parses, whatever the message kind; a bad one drops the message. */
export interface ParsedBody {
  readonly senderId: InfoHash;
  readonly key?: InfoHash;
  readonly target?: InfoHash;
  readonly query?: DhtQuery;
  readonly token?: Uint8Array;
  readonly valueId?: bigint;
  readonly nodes4?: NodeInfo[];
  readonly nodes6?: NodeInfo[];
  readonly seenAddress?: Uint8Array;
  readonly seenPort?: number;
  readonly createdSeconds?: number;
  readonly values?: DhtValue[];
  readonly valueSizes?: number[];
  readonly fields?: { readonly fields: number[]; readonly values: unknown[] };
  readonly want?: number[];
  readonly socketId?: number;
  readonly version?: number;
  readonly refreshed?: bigint[];
  readonly expired?: bigint[];
  readonly truncated?: boolean;
  readonly quietRefreshTypes?: number[];
}

/** A {@link ParsedBody} being filled in. */
export type MutableBody = { -readonly [K in keyof ParsedBody]: ParsedBody[K] };

/**
 * A body with every field present from the start, in one order: one object
 * shape for all messages, so the code reading it stays monomorphic.
 */
export function emptyBody(senderId: InfoHash): MutableBody {
  return {
    senderId,
    key: undefined,
    target: undefined,
    query: undefined,
    token: undefined,
    valueId: undefined,
    nodes4: undefined,
    nodes6: undefined,
    seenAddress: undefined,
    seenPort: undefined,
    createdSeconds: undefined,
    values: undefined,
    valueSizes: undefined,
    fields: undefined,
    want: undefined,
    socketId: undefined,
    version: undefined,
    refreshed: undefined,
    expired: undefined,
    truncated: undefined,
    quietRefreshTypes: undefined,
  };
}

/** The request methods OpenDHT answers. */
export const REQUEST_METHODS: ReadonlySet<string> = new Set([
  "ping",
  "find",
  "get",
  "put",
  "refresh",
  "listen",
  "update",
]);

function base(
  header: Header,
): { tid: number; network: number; userAgent?: string; isClient?: boolean } {
  return {
    tid: header.tid,
    network: header.network,
    ...(header.userAgent === undefined ? {} : { userAgent: header.userAgent }),
    ...(header.isClient === undefined ? {} : { isClient: header.isClient }),
  };
}

/** Copies the defined entries only, so decoded messages have no `undefined` members. */
function defined<T extends object>(record: T): T {
  const out: Record<string, unknown> = {};
  for (const key in record) {
    const value = record[key];
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}

/** A reply: the defined fields only, in a fixed order. */
export function buildReply(header: Header, body: ParsedBody): DhtReply {
  // What `defined` would keep, built directly: every reply of every lookup
  // goes through here.
  const reply: Record<string, unknown> = {
    kind: "reply",
    tid: header.tid,
    network: header.network,
  };
  if (header.userAgent !== undefined) reply.userAgent = header.userAgent;
  if (header.isClient !== undefined) reply.isClient = header.isClient;
  reply.senderId = body.senderId;
  if (body.seenAddress !== undefined) reply.seenAddress = body.seenAddress;
  if (body.seenPort !== undefined) reply.seenPort = body.seenPort;
  if (body.nodes4 !== undefined) reply.nodes4 = body.nodes4;
  if (body.nodes6 !== undefined) reply.nodes6 = body.nodes6;
  if (body.token !== undefined) reply.token = body.token;
  if (body.values !== undefined) reply.values = body.values;
  if (body.valueSizes !== undefined) reply.valueSizes = body.valueSizes;
  if (body.fields !== undefined) reply.fields = body.fields;
  if (body.valueId !== undefined) reply.valueId = body.valueId;
  if (body.truncated !== undefined) reply.truncated = body.truncated;
  if (body.quietRefreshTypes !== undefined) {
    reply.quietRefreshTypes = body.quietRefreshTypes;
  }
  return reply as unknown as DhtReply;
}

/** The fields every request starts with, in order, without `undefined` members. */
function requestHead(
  header: Header,
  body: ParsedBody,
): Record<string, unknown> {
  const request: Record<string, unknown> = {
    kind: "request",
    tid: header.tid,
    network: header.network,
  };
  if (header.userAgent !== undefined) request.userAgent = header.userAgent;
  if (header.isClient !== undefined) request.isClient = header.isClient;
  request.senderId = body.senderId;
  return request;
}

/**
 * The requests of every lookup and store (ping, find, get, put) built
 * directly, with the fields (and field order) that the general path of
 * {@link buildRequest} would give them.
 */
function lookupRequest(
  header: Header,
  body: ParsedBody,
  method: "ping" | "find" | "get" | "put",
): DhtRequest {
  const request = requestHead(header, body);
  request.method = method;
  if (method === "find") {
    request.target = body.target ?? InfoHash.ZERO;
    if (body.want !== undefined) request.want = body.want;
  } else if (method === "get") {
    request.key = body.key ?? InfoHash.ZERO;
    if (body.query !== undefined) request.query = body.query;
    if (body.want !== undefined) request.want = body.want;
    if (body.token !== undefined) request.token = body.token;
  } else if (method === "put") {
    request.key = body.key ?? InfoHash.ZERO;
    request.values = body.values ?? [];
    if (body.valueSizes !== undefined) request.valueSizes = body.valueSizes;
    if (body.createdSeconds !== undefined) {
      request.createdSeconds = body.createdSeconds;
    }
    request.token = body.token ?? new Uint8Array(0);
  }
  return request as unknown as DhtRequest;
}

/**
 * A request of a known method (one of {@link REQUEST_METHODS}), with
 * OpenDHT's defaults for what is absent.
 */
export function buildRequest(
  header: Header,
  body: ParsedBody,
  method: DhtRequest["method"],
): DhtRequest {
  // The requests of every lookup first, before anything the others need.
  if (
    method === "ping" || method === "find" || method === "get" ||
    method === "put"
  ) {
    return lookupRequest(header, body, method);
  }
  const common = {
    kind: "request" as const,
    ...base(header),
    senderId: body.senderId,
  };
  // Absent h/target read as the zero id and an absent token as empty, as in
  // OpenDHT, whose handlers then answer 203 or 401.
  const key = body.key ?? InfoHash.ZERO;
  const token = body.token ?? new Uint8Array(0);
  switch (method) {
    case "refresh":
      return {
        ...common,
        method: "refresh",
        key,
        valueId: body.valueId ?? 0n,
        token,
      };
    case "listen":
      return defined({
        ...common,
        method: "listen",
        key,
        token,
        socketId: body.socketId ?? 0,
        version: body.version,
        query: body.query,
      });
    case "update":
      return defined({
        ...common,
        method: "update",
        socketId: body.socketId ?? 0,
        key: body.key,
        token: body.token,
        version: body.version,
        values: body.values,
        valueSizes: body.valueSizes,
        createdSeconds: body.createdSeconds,
        refreshed: body.refreshed,
        expired: body.expired,
      });
  }
}
