/**
 * `Lookups`: runs the node's {@link Search}es over its RPC engine. Each
 * lookup is seeded with the closest nodes of the routing table and asks each
 * candidate with a `find` (closer nodes) or a `get` (closer nodes and
 * values) request; replies and silences go back into the routing table, so
 * every lookup also keeps it fresh. The node's own operations (get, put,
 * permanent puts, listens, replication) all start their lookups here, and
 * the running ones are cancelled together when the node stops.
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock } from "../clock.ts";
import type { DhtQuery, DhtReply } from "./messages.ts";
import type {
  PendingRequest,
  RequestBody,
  RequestCallbacks,
  RpcEngine,
} from "./rpc_engine.ts";
import type { PeerAddress } from "../transport.ts";
import type { RoutingTable } from "./routing_table.ts";
import {
  Search,
  type SearchAnswer,
  type SearchNode,
  type SearchOptions,
  type SearchResult,
  TARGET_NODES,
} from "./search.ts";

/**
 * What the starter of a lookup hears: each reply, the growing prefix of
 * closest answered nodes, and the result.
 */
export interface SearchHooks {
  /** Where-filter and field selection of a `get` lookup (none for `find`). */
  readonly query?: DhtQuery;
  /** Every reply, with the node that sent it. */
  onReply?(reply: DhtReply, node: SearchNode): void;
  /** The result, once the lookup converged (not after a cancel). */
  onDone(result: SearchResult): void;
  /** See {@link SearchOptions.onPrefix}. */
  onPrefix?: SearchOptions["onPrefix"];
}

/** What {@link Lookups} sends through and reads. */
export interface LookupsServices {
  /** Our node id, never a candidate. */
  readonly selfId: InfoHash;
  /** Reads the time at which nodes were heard or failed. */
  readonly clock: Clock;
  /** Sends the `find` and `get` requests. */
  readonly rpc: Pick<RpcEngine, "request">;
  /** Seeds lookups; told of nodes that answered and nodes that never did. */
  readonly table: Pick<RoutingTable, "closest" | "heard" | "failed">;
  /**
   * Address families asked for in `find` and `get` (`w`): both on a
   * dual-stack socket, so that IPv4 peers also return IPv6 nodes and the
   * reverse. @default {absent: the family we ask from}
   */
  readonly want?: readonly number[];
}

/** The node's running lookups. */
export class Lookups {
  readonly #services: LookupsServices;
  /**
   * Made on first use: most nodes of a large simulation never run a lookup
   * of their own, and an empty Set costs ~150 bytes.
   */
  #running: Set<Search> | undefined;
  #started = 0;

  /**
   * No lookup yet.
   *
   * @param services Our id, clock, RPC engine, routing table.
   */
  constructor(services: LookupsServices) {
    this.#services = services;
  }

  /** Lookups started so far (running, finished or cancelled). */
  get started(): number {
    return this.#started;
  }

  /**
   * Starts a lookup of `target`. One with no candidate at all (an empty
   * routing table) finishes inside this call.
   *
   * @param target Target id (or key).
   * @param method `find` for nodes, `get` for nodes and values.
   * @param hooks Query, and the replies, prefix and result to report.
   * @returns The lookup, to cancel through {@link Lookups.cancel}.
   */
  start(
    target: InfoHash,
    method: "find" | "get",
    hooks: SearchHooks,
  ): Search {
    this.#started += 1;
    const closest = () =>
      this.#services.table.closest(
        target,
        TARGET_NODES * 2,
        this.#services.clock.now(),
      ).map((node) => ({ id: node.id, address: node.address }));
    const search: Search = new Search(target, {
      selfId: this.#services.selfId,
      reseed: closest,
      onPrefix: hooks.onPrefix,
      query: (node, answer) => this.#query(node, target, method, hooks, answer),
      onDone: (result) => {
        this.#running?.delete(search);
        hooks.onDone(result);
      },
    });
    (this.#running ??= new Set()).add(search);
    search.start(closest());
    return search;
  }

  /**
   * Cancels one lookup: its requests in flight stop, its `onDone` never runs.
   *
   * @param search A lookup from {@link Lookups.start}.
   */
  cancel(search: Search): void {
    search.cancel();
    this.#running?.delete(search);
  }

  /** Cancels every running lookup. */
  stop(): void {
    if (this.#running === undefined) return;
    for (const search of this.#running) search.cancel();
    this.#running.clear();
  }

  #query(
    node: SearchNode,
    target: InfoHash,
    method: "find" | "get",
    hooks: Pick<SearchHooks, "query" | "onReply">,
    answer: SearchAnswer,
  ): () => void {
    const want = this.#services.want;
    const wanted = want === undefined ? {} : { want };
    const body: RequestBody = method === "find"
      ? { method: "find", target, ...wanted }
      : {
        method: "get",
        key: target,
        ...wanted,
        ...(hooks.query === undefined ? {} : { query: hooks.query }),
      };
    const request = new LookupRequest(
      this.#services,
      node,
      hooks,
      answer,
      body,
      false,
    );
    return () => request.cancel();
  }
}

/**
 * One `find` or `get` of a lookup, as the RPC engine's callbacks: a reply or
 * silence goes into the routing table and back to the search. A node that
 * kept its answer small (we had not proven our address) gets the same `get`
 * again with its token, once: a follow-up, which reports no slowness.
 */
class LookupRequest implements RequestCallbacks {
  readonly #services: LookupsServices;
  readonly #node: SearchNode;
  readonly #hooks: Pick<SearchHooks, "query" | "onReply">;
  readonly #answer: SearchAnswer;
  readonly #body: RequestBody;
  readonly #followUp: boolean;
  #pending: PendingRequest;
  /** Present on a first request only (the engine reads whether it is there). */
  readonly onSlow: (() => void) | undefined;

  constructor(
    services: LookupsServices,
    node: SearchNode,
    hooks: Pick<SearchHooks, "query" | "onReply">,
    answer: SearchAnswer,
    body: RequestBody,
    followUp: boolean,
  ) {
    this.#services = services;
    this.#node = node;
    this.#hooks = hooks;
    this.#answer = answer;
    this.#body = body;
    this.#followUp = followUp;
    this.onSlow = followUp ? undefined : reportSlow;
    this.#pending = services.rpc.request(node.address, node.id, body, this);
  }

  /** The search's answer, for {@link reportSlow}. */
  get answer(): SearchAnswer {
    return this.#answer;
  }

  cancel(): void {
    this.#pending.cancel();
  }

  onReply(reply: DhtReply, from: PeerAddress): void {
    const { clock, table } = this.#services;
    table.heard(reply.senderId, from, clock.now(), true);
    const request = this.#body;
    if (
      reply.truncated === true && !this.#followUp &&
      request.method === "get" && reply.token !== undefined
    ) {
      const followUp = new LookupRequest(
        this.#services,
        this.#node,
        this.#hooks,
        this.#answer,
        { ...request, token: reply.token },
        true,
      );
      // Cancelling this lookup's request now cancels the follow-up.
      this.#pending = followUp.#pending;
      return;
    }
    this.#hooks.onReply?.(reply, this.#node);
    this.#answer.onAnswer(
      reply.nodes6 === undefined
        ? reply.nodes4 ?? []
        : [...(reply.nodes4 ?? []), ...reply.nodes6],
      reply.token,
    );
  }

  onError(): void {
    this.#answer.onFailed();
  }

  onExpired(): void {
    this.#services.table.failed(this.#node.id, this.#services.clock.now());
    this.#answer.onFailed();
  }
}

/** A first request's slowness, reported to its search (a method shared by all). */
function reportSlow(this: LookupRequest): void {
  this.answer.onSlow();
}
