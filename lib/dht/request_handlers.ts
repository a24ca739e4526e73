/**
 * The storing side of the node: one handler per OpenDHT request, dispatched
 * from one table. Each handler validates its request, answers it (or sends
 * the OpenDHT error), and hands listener pushes to the node.
 *
 * Facts: `docs/opendht-wire.md` §8 and §11.
 *
 * @module
 */
import { sha1 } from "../crypto.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { PeerAddress } from "../transport.ts";
import {
  type DhtQuery,
  type DhtReply,
  type DhtRequest,
  type DhtValue,
  ErrorCode,
  type NodeInfo,
  ValueField,
  WANT_IPV4,
  WANT_IPV6,
} from "./messages.ts";
import type { ReplyBody, RpcEngine } from "./rpc_engine.ts";
import type { RoutingTable } from "./routing_table.ts";
import type { TokenKeeper } from "./token_keeper.ts";
import type {
  ListenerNotice,
  StoreOutcome,
  ValueStore,
} from "./value_store.ts";
import { TARGET_NODES } from "./search.ts";
import {
  type ProvenAddresses,
  UNPROVEN_REPLY_FACTOR,
} from "./proven_addresses.ts";
import { seenAddressBytes } from "./wire/addresses.ts";
import { packValue, sealValue } from "./wire/values.ts";
import { splitValues } from "./value_parts.ts";
import { encodeMessage, OPENDHT_USER_AGENT } from "./wire/encode.ts";

/** What handlers need from the node. */
export interface HandlerContext {
  /** Current time, epoch ms. */
  readonly nowMs: number;
  /** RPC engine for replies and errors. */
  readonly rpc: RpcEngine;
  /** Our routing table (for closest nodes). */
  readonly table: RoutingTable;
  /** Values this node stores for others, and their listeners. */
  readonly store: ValueStore;
  /** Issues the write tokens of find/get replies and checks those of put, refresh and listen. */
  readonly tokens: TokenKeeper;
  /** Addresses that returned a token: only they get large answers. */
  readonly proven: ProvenAddresses;
  /** Sends `update` requests to the listeners the notices name. */
  push(notices: readonly ListenerNotice[]): void;
  /** Pushes received for one of our own listens. */
  onUpdate(
    request: Extract<DhtRequest, { method: "update" }>,
    from: PeerAddress,
  ): void;
  /** Called after a value was stored (to schedule expiry). */
  onStored(): void;
  /** Storage policy of values put by others: false refuses one. */
  readonly valuePolicy?: (key: InfoHash, value: DhtValue) => boolean;
}

type Handler<M extends DhtRequest["method"]> = (
  context: HandlerContext,
  request: Extract<DhtRequest, { method: M }>,
  from: PeerAddress,
) => void;

function isIpv6(host: string): boolean {
  return host.includes(":");
}

/** A reply's nodes, to which a handler may add the token. */
interface FoundNodes {
  nodes4?: NodeInfo[];
  nodes6?: NodeInfo[];
  token?: Uint8Array;
}

/** The good nodes closest to `target`, split by the families the requester wants. */
function nodesFor(
  context: HandlerContext,
  target: InfoHash,
  from: PeerAddress,
  want?: readonly number[],
): FoundNodes {
  const wantsIpv4 = want === undefined
    ? !isIpv6(from.host)
    : want.includes(WANT_IPV4);
  const wantsIpv6 = want === undefined
    ? isIpv6(from.host)
    : want.includes(WANT_IPV6);
  const closest = context.table.closest(
    target,
    TARGET_NODES,
    context.nowMs,
    true,
  );
  const nodes4: NodeInfo[] = [];
  const nodes6: NodeInfo[] = [];
  // Routing nodes go as they are: the reply is encoded at once. A node's
  // `ipv4` is what the `n4` writer parses (`strictIpv4Number`), so no node
  // chosen for `n4` fails there.
  for (const node of closest) {
    if (wantsIpv4 && node.ipv4 >= 0) nodes4.push(node);
    else if (wantsIpv6 && isIpv6(node.address.host)) nodes6.push(node);
  }
  // Fields set one by one rather than spread: this runs for every find and
  // get a node answers.
  const out: FoundNodes = {};
  if (nodes4.length > 0) out.nodes4 = nodes4;
  if (nodes6.length > 0) out.nodes6 = nodes6;
  return out;
}

function selectedFields(
  values: readonly DhtValue[],
  query: DhtQuery,
): { fields: number[]; values: unknown[] } {
  const fields = [...new Set(query.select)].sort((a, b) => a - b);
  const flat: unknown[] = [];
  for (const value of values) {
    for (const field of fields) {
      switch (field) {
        case ValueField.Id:
          flat.push(value.id);
          break;
        case ValueField.ValueType:
          flat.push(value.type);
          break;
        case ValueField.OwnerPk:
          flat.push(
            value.owner === undefined ? InfoHash.ZERO.bytes : sha1(value.owner),
          );
          break;
        case ValueField.SeqNum:
          flat.push(value.seq ?? 0);
          break;
        case ValueField.UserType:
          flat.push(value.userType ?? "");
          break;
        default:
          flat.push(0);
      }
    }
  }
  return { fields, values: flat };
}

function missingKey(
  context: HandlerContext,
  key: InfoHash,
  from: PeerAddress,
  tid: number,
  what: string,
): boolean {
  if (!key.equals(InfoHash.ZERO)) return false;
  context.rpc.error(
    from,
    tid,
    ErrorCode.NonAuthoritative,
    `${what} with no info_hash`,
  );
  return true;
}

function badToken(
  context: HandlerContext,
  token: Uint8Array,
  from: PeerAddress,
  tid: number,
  what: string,
): boolean {
  if (context.tokens.check(token, from, context.nowMs)) {
    context.proven.add(from, context.nowMs);
    return false;
  }
  context.rpc.error(
    from,
    tid,
    ErrorCode.Unauthorized,
    `${what} with wrong token`,
  );
  return true;
}

const ping: Handler<"ping"> = (context, request, from) => {
  context.rpc.reply(from, request.tid, {});
};

const find: Handler<"find"> = (context, request, from) => {
  const body = nodesFor(context, request.target, from, request.want);
  // Encoded at once, so the keeper's own bytes do.
  body.token = context.tokens.makeShared(from, context.nowMs);
  context.rpc.reply(from, request.tid, body);
};

/**
 * The largest prefix of `values` whose answer, encoded as one datagram
 * (values inline, no value parts), stays within `budget` bytes.
 */
function fittingCount(
  answer: DhtReply,
  values: readonly DhtValue[],
  budget: number,
  query: DhtQuery | undefined,
): number {
  const sizeWith = (count: number) => {
    const some = values.slice(0, count);
    const selects = query !== undefined && query.select.length > 0;
    if (!selects && !splitValues(some).inline) return Infinity;
    const body = selects
      ? { fields: selectedFields(some, query as DhtQuery) }
      : { values: some };
    return encodeMessage({ ...answer, ...body, truncated: true }).length;
  };
  // Inline values only (OpenDHT: < 50 values and < 600 packed bytes), so
  // at most 49: a binary search over at most 6 encodings.
  let low = 0;
  let high = Math.min(values.length, 49);
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (sizeWith(mid) <= budget) low = mid;
    else high = mid - 1;
  }
  return low;
}

/**
 * Values to send to an address that has not proven itself: as many as fit
 * in {@link UNPROVEN_REPLY_FACTOR} times the request's bytes, with the rest
 * flagged as left out.
 */
function unprovenShare(
  request: Extract<DhtRequest, { method: "get" }>,
  answer: Omit<DhtReply, "kind" | "tid" | "senderId" | "network">,
  values: readonly DhtValue[],
  from: PeerAddress,
): { values: readonly DhtValue[]; truncated: boolean } {
  const budget = UNPROVEN_REPLY_FACTOR * encodeMessage(request).length;
  const seenAddress = seenAddressBytes(from);
  // Our reply's size, measured with the requester's id in place of ours
  // (the same length) and OpenDHT's user agent.
  const reply: DhtReply = {
    ...answer,
    kind: "reply",
    tid: request.tid,
    senderId: request.senderId,
    network: request.network,
    userAgent: OPENDHT_USER_AGENT,
    ...(seenAddress === undefined ? {} : { seenAddress, seenPort: from.port }),
  };
  const count = fittingCount(reply, values, budget, request.query);
  return { values: values.slice(0, count), truncated: count < values.length };
}

const get: Handler<"get"> = (context, request, from) => {
  if (missingKey(context, request.key, from, request.tid, "Get_values")) return;
  const { nowMs } = context;
  if (
    request.token !== undefined && request.token.length > 0 &&
    context.tokens.check(request.token, from, nowMs)
  ) {
    context.proven.add(from, nowMs);
  }
  let values: readonly DhtValue[] = context.store.get(
    request.key,
    nowMs,
    request.query,
  );
  const answer: ReplyBody = {
    ...nodesFor(context, request.key, from, request.want),
    // Encoded at once (also when measured for an unproven requester).
    token: context.tokens.makeShared(from, nowMs),
  };
  let truncated = false;
  if (values.length > 0 && !context.proven.has(from, nowMs)) {
    const share = unprovenShare(request, answer, values, from);
    // One value asked for by id (OpenDHT's pagination) may come whole, out
    // of the address's small allowance (stock OpenDHT sends no token).
    const whole = share.truncated && values.length === 1 &&
      request.query?.where.some((term) => term.field === ValueField.Id) &&
      context.proven.spend(from, packValue(values[0]).length, nowMs);
    if (!whole) ({ values, truncated } = share);
  }
  const flag = truncated ? { truncated } : {};
  if (values.length === 0) {
    context.rpc.reply(from, request.tid, { ...answer, ...flag });
  } else if (request.query !== undefined && request.query.select.length > 0) {
    context.rpc.reply(from, request.tid, {
      ...answer,
      fields: selectedFields(values, request.query),
      ...flag,
    });
  } else {
    context.rpc.reply(from, request.tid, { ...answer, values, ...flag });
  }
};

const STORED: ReadonlySet<StoreOutcome> = new Set([
  "stored",
  "replaced",
  "refreshed",
]);

const put: Handler<"put"> = (context, request, from) => {
  if (missingKey(context, request.key, from, request.tid, "Put")) return;
  if (badToken(context, request.token, from, request.tid, "Put")) return;
  const createdMs = request.createdSeconds === undefined
    ? context.nowMs
    : request.createdSeconds * 1_000;
  for (const value of request.values) {
    if (value.id === 0n) {
      context.rpc.error(
        from,
        request.tid,
        ErrorCode.NonAuthoritative,
        "Put with invalid id",
      );
      return;
    }
    if (
      context.valuePolicy !== undefined &&
      !context.valuePolicy(request.key, value)
    ) {
      context.rpc.error(
        from,
        request.tid,
        ErrorCode.Refused,
        "Put refused: storage policy",
      );
      return;
    }
    // Decoded from this datagram, referenced only by the store from now on:
    // packed once, for every answer that carries it.
    sealValue(value);
    const { outcome, notices } = context.store.store(
      request.key,
      value,
      createdMs,
      context.nowMs,
      from.host,
    );
    context.push(notices);
    if (STORED.has(outcome)) {
      context.rpc.reply(from, request.tid, { valueId: value.id });
    } else {
      // Unlike OpenDHT (which acknowledges refused values, `docs/opendht-wire.md` §8.4), say
      // no: the putter must not count this node as holding the value.
      context.rpc.error(
        from,
        request.tid,
        outcome === "rejected-quota"
          ? ErrorCode.InsufficientStorage
          : ErrorCode.Refused,
        `Put refused: ${outcome}`,
      );
    }
  }
  context.onStored();
};

const refresh: Handler<"refresh"> = (context, request, from) => {
  if (missingKey(context, request.key, from, request.tid, "Refresh")) return;
  if (badToken(context, request.token, from, request.tid, "Put")) return;
  const { found, notices } = context.store.refresh(
    request.key,
    request.valueId,
    context.nowMs,
  );
  if (!found) {
    context.rpc.error(
      from,
      request.tid,
      ErrorCode.NotFound,
      "Access operation for unknown storage",
    );
    return;
  }
  context.push(notices);
  context.rpc.reply(from, request.tid, { valueId: request.valueId });
};

const listen: Handler<"listen"> = (context, request, from) => {
  if (missingKey(context, request.key, from, request.tid, "Listen")) return;
  if (badToken(context, request.token, from, request.tid, "Listen")) return;
  const { accepted, notices } = context.store.listen(
    request.key,
    {
      nodeId: request.senderId,
      address: from,
      socketId: request.socketId,
      query: request.query,
    },
    context.nowMs,
    from.host,
  );
  if (!accepted) {
    // A refused listen must not look placed: the listener moves elsewhere.
    context.rpc.error(
      from,
      request.tid,
      ErrorCode.InsufficientStorage,
      "Listen refused: listener limits",
    );
    return;
  }
  context.push(notices);
  // Our extension (ignored by OpenDHT): the types whose refreshes we do not
  // push, so that the listener does not wait for them.
  const quiet = context.store.quietRefreshTypes;
  context.rpc.reply(
    from,
    request.tid,
    quiet.length === 0 ? {} : { quietRefreshTypes: quiet },
  );
};

const update: Handler<"update"> = (context, request, from) => {
  context.onUpdate(request, from);
  context.rpc.reply(from, request.tid, {});
};

const HANDLERS: { [M in DhtRequest["method"]]: Handler<M> } = {
  ping,
  find,
  get,
  put,
  refresh,
  listen,
  update,
};

/**
 * Runs the handler for `request`.
 *
 * @param context The node's parts.
 * @param request A decoded, filtered request.
 * @param from Its sender.
 */
export function handleRequest(
  context: HandlerContext,
  request: DhtRequest,
  from: PeerAddress,
): void {
  const handler = HANDLERS[request.method] as Handler<typeof request.method>;
  handler(context, request as never, from);
}
