/**
 * `Search`: one iterative Kademlia lookup converging on the nodes closest to
 * a target, as a small state machine driven by replies.
 *
 * The search keeps at most {@link SearchOptions.trackedNodes} candidates
 * sorted by XOR distance, has at most {@link SearchOptions.parallelism}
 * requests that are not yet *slow* in flight, and is done when the
 * {@link SearchOptions.targetNodes} closest candidates that have not failed or
 * gone slow have all answered. Each candidate remembers the hop at which it
 * was learned (1 for nodes from our routing table), so the lookup's hop count
 * is that of the closest node that answered.
 *
 * The search sends nothing itself: it calls `query(node, callbacks)`, which
 * the node implements with a `find` or `get` request.
 *
 * @example A search over a scripted three-node topology
 * ```ts
 * import assert from "node:assert/strict";
 * import { Search, type SearchResult } from "./search.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const target = InfoHash.get("target");
 * const a = { id: InfoHash.get("a"), address: { host: "10.0.0.1", port: 1 } };
 * const b = { id: InfoHash.get("b"), address: { host: "10.0.0.2", port: 1 } };
 * let result: SearchResult | undefined;
 * const search = new Search(target, {
 *   query: (node, answer) => answer.onAnswer(node.id.equals(a.id) ? [b] : [], new Uint8Array(32)),
 *   onDone: (done) => result = done,
 * });
 * search.start([a]);
 * assert.equal(result?.nodes.length, 2);
 * assert.equal(result?.hops, target.compareDistance(a.id, b.id) < 0 ? 1 : 2);
 * ```
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { NodeInfo } from "./messages.ts";
import { SlabCopier } from "../io/_slab_copier.ts";

/** Candidates a search tracks (OpenDHT SEARCH_NODES). */
export const SEARCH_NODES = 14;
/** Closest nodes a search must hear from (OpenDHT TARGET_NODES). */
export const TARGET_NODES = 8;
/** Requests in flight that are not slow. */
export const SEARCH_PARALLELISM = 3;
/** Requests a search may send in all, whatever happens. */
export const MAX_SEARCH_REQUESTS = 64;

/** What a candidate is doing. */
export type SearchNodeState =
  | "new"
  | "pending"
  | "slow"
  | "answered"
  | "failed";

/** A candidate node of a search. */
export interface SearchNode {
  /** The candidate's id; its XOR distance to the target orders the candidates. */
  readonly id: InfoHash;
  /** Where its query goes, as our routing table or a closer node's answer gave it. */
  readonly address: NodeInfo["address"];
  /** Hop at which it was learned (1 = from our routing table). */
  readonly hop: number;
  /** How far its query got; set by the search only. */
  state: SearchNodeState;
  /** Write token it gave, once answered. */
  token?: Uint8Array;
  /** Cancels its query in flight; set when the query is sent, if `query` returned a canceller. */
  cancel?: () => void;
}

/** How the node answers a search's query. */
export interface SearchAnswer {
  /** The node answered with closer nodes and a token. */
  onAnswer(nodes: readonly NodeInfo[], token?: Uint8Array): void;
  /** No answer after every retry, or an error. */
  onFailed(): void;
  /** No answer yet after the slow threshold. */
  onSlow(): void;
}

/** Result of a finished search. */
export interface SearchResult {
  /** Closest answered nodes, closest first (at most `targetNodes`). */
  readonly nodes: readonly SearchNode[];
  /** Hop count of the closest answered node (0 if none answered). */
  readonly hops: number;
  /** Queries sent, answered or not: the lookup's cost. */
  readonly requests: number;
}

/** Settings and hooks of a search. */
export interface SearchOptions {
  /** Sends the query to `node`; reports through `answer`. Returns a canceller. */
  query(node: SearchNode, answer: SearchAnswer): (() => void) | void;
  /** Called once when the search is done (not after {@link Search.cancel}). */
  onDone(result: SearchResult): void;
  /**
   * Called when the closest candidates have all answered: with the answered
   * nodes that lead the candidate list (closest first, skipping failed and
   * slow ones), each time that prefix grows. They are very likely part of the
   * final result, so a put may start there before the search ends.
   */
  onPrefix?(nodes: readonly SearchNode[]): void;
  /** Candidates tracked. @default {14} */
  readonly trackedNodes?: number;
  /** Closest answered nodes needed. @default {8} */
  readonly targetNodes?: number;
  /** Non-slow requests in flight. @default {3} */
  readonly parallelism?: number;
  /** Ids never to add (our own). */
  readonly selfId?: InfoHash;
  /**
   * More candidates, asked when the search would end with fewer than
   * `targetNodes` answered (its candidates failed or went slow): the routing
   * table has usually learned nodes since the search was seeded, from this
   * and other lookups. Those not yet tracked are asked before the search
   * ends; at most {@link MAX_RESEEDS} times a search.
   */
  reseed?(): readonly NodeInfo[];
}

/** Times a search that is about to end short asks {@link SearchOptions.reseed}. */
export const MAX_RESEEDS = 3;

/** Bytes of a slab that a search copies its nodes' tokens into (16 of OpenDHT's). */
const TOKEN_SLAB_BYTES = 512;

/**
 * One iterative lookup of the nodes closest to {@link Search.target}; it
 * sends nothing itself but calls {@link SearchOptions.query}.
 */
export class Search {
  /** The id searched for. */
  readonly target: InfoHash;
  readonly #options: SearchOptions;
  readonly #trackedNodes: number;
  readonly #targetNodes: number;
  readonly #parallelism: number;
  #nodes: SearchNode[] = [];
  #requests = 0;
  #finished = false;
  #prefix = 0;
  #reseeds = 0;

  /**
   * A search for `target` (call {@link Search.start}).
   *
   * @param target Target id.
   * @param options Hooks and sizes.
   */
  constructor(target: InfoHash, options: SearchOptions) {
    this.target = target;
    this.#options = options;
    this.#trackedNodes = options.trackedNodes ?? SEARCH_NODES;
    this.#targetNodes = options.targetNodes ?? TARGET_NODES;
    this.#parallelism = options.parallelism ?? SEARCH_PARALLELISM;
  }

  /** True once done or cancelled. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Current candidates, closest first. */
  get nodes(): readonly SearchNode[] {
    return this.#nodes;
  }

  /**
   * Starts from known nodes (from the routing table).
   *
   * @param seeds Initial candidates.
   */
  start(seeds: readonly NodeInfo[]): void {
    this.#add(seeds, 1);
    this.#step();
  }

  /** Stops: cancels requests in flight; `onDone` is not called. */
  cancel(): void {
    this.#finished = true;
    for (const node of this.#nodes) node.cancel?.();
  }

  #add(found: readonly NodeInfo[], hop: number): void {
    const nodes = this.#nodes;
    const target = this.target;
    const selfId = this.#options.selfId;
    let added = false;
    for (const info of found) {
      const id = info.id;
      if (selfId?.equals(id)) continue;
      let known = false;
      for (let i = 0; i < nodes.length; i++) {
        if (nodes[i].id.equals(id)) {
          known = true;
          break;
        }
      }
      if (known) continue;
      const node: SearchNode = {
        id,
        address: info.address,
        hop,
        state: "new",
        // Set later; present from the start for one object shape.
        token: undefined,
        cancel: undefined,
      };
      // Insert in distance order (ids are distinct, so the order is total).
      let at = nodes.length;
      nodes.push(node);
      while (at > 0 && target.compareDistance(id, nodes[at - 1].id) < 0) {
        nodes[at] = nodes[at - 1];
        at--;
      }
      nodes[at] = node;
      added = true;
    }
    if (!added) return;
    // Keep the bound by forgetting the farthest candidates that have not
    // failed, whatever they are doing (OpenDHT's Search::insertNode drops
    // the last node too): a closer node learned when every tracked candidate
    // was already asked must be asked, not dropped as the only new one.
    // Failed nodes do not count and stay, so that no reply re-adds them.
    let live = 0;
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i].state !== "failed") live += 1;
    }
    for (let i = nodes.length - 1; live > this.#trackedNodes && i >= 0; i--) {
      const node = nodes[i];
      if (node.state === "failed") continue;
      if (node.state === "pending" || node.state === "slow") node.cancel?.();
      nodes.splice(i, 1);
      live -= 1;
    }
  }

  #step(): void {
    if (this.#finished) return;
    // Counted without `filter`: this runs for every answer a search gets.
    let active = 0;
    for (const node of this.#nodes) if (node.state === "pending") active += 1;
    let considered = 0;
    for (const node of this.#nodes) {
      if (active >= this.#parallelism) break;
      if (node.state === "failed" || node.state === "slow") continue;
      considered += 1;
      if (considered > this.#targetNodes) break;
      if (node.state !== "new" || this.#requests >= MAX_SEARCH_REQUESTS) {
        continue;
      }
      active += 1;
      this.#ask(node);
      if (this.#finished) return;
    }
    if (this.#isDone() && !this.#reseeded()) this.#finish();
  }

  /**
   * About to end with fewer than `targetNodes` answered: adds the reseed's
   * new candidates and asks them. False (end now) when none was new.
   */
  #reseeded(): boolean {
    const reseed = this.#options.reseed;
    if (
      reseed === undefined || this.#reseeds >= MAX_RESEEDS ||
      this.#requests >= MAX_SEARCH_REQUESTS
    ) return false;
    let answered = 0;
    for (const node of this.#nodes) if (node.state === "answered") answered++;
    if (answered >= this.#targetNodes) return false;
    this.#reseeds += 1;
    const before = this.#nodes.filter((node) => node.state === "new").length;
    this.#add(reseed(), 1);
    const after = this.#nodes.filter((node) => node.state === "new").length;
    if (after <= before) return false;
    this.#step();
    return true;
  }

  #ask(node: SearchNode): void {
    node.state = "pending";
    this.#requests += 1;
    const cancel = this.#options.query(node, new Ask(this.#outcomes, node));
    if (cancel) node.cancel = cancel;
  }

  /** Where the nodes' tokens are copied (made with the first). */
  #tokens: SlabCopier | undefined;

  // What an Ask reports, made once per search rather than per request (a
  // request lives long enough to outlast a young-generation GC).
  readonly #outcomes: AskOutcomes = {
    isFinished: () => this.#finished,
    answered: (node, found, token) => {
      node.state = "answered";
      // A copy: a decoded token is a view of its datagram. Copies share
      // this search's small slabs (a typed array each cost a microsecond),
      // which live no longer than the search's own tokens.
      node.token = token === undefined
        ? undefined
        : (this.#tokens ??= new SlabCopier(TOKEN_SLAB_BYTES)).copy(
          token,
          0,
          token.length,
        );
      this.#add(found, node.hop + 1);
      this.#reportPrefix();
      if (this.#finished) return;
      this.#step();
    },
    failed: (node) => {
      node.state = "failed";
      this.#step();
    },
    slow: (node) => {
      node.state = "slow";
      this.#step();
    },
  };

  #reportPrefix(): void {
    if (this.#options.onPrefix === undefined) return;
    const prefix: SearchNode[] = [];
    for (const node of this.#nodes) {
      if (node.state === "failed" || node.state === "slow") continue;
      if (node.state !== "answered" || prefix.length >= this.#targetNodes) {
        break;
      }
      prefix.push(node);
    }
    if (prefix.length <= this.#prefix) return;
    this.#prefix = prefix.length;
    this.#options.onPrefix(prefix);
  }

  #isDone(): boolean {
    let counted = 0;
    for (const node of this.#nodes) {
      if (node.state === "failed" || node.state === "slow") continue;
      if (node.state !== "answered") {
        // A closer node is still new or pending: not done, unless we may
        // not send any more requests and nothing is pending.
        if (node.state === "new" && this.#requests >= MAX_SEARCH_REQUESTS) {
          continue;
        }
        return false;
      }
      counted += 1;
      if (counted >= this.#targetNodes) return true;
    }
    // Fewer candidates than wanted: done when nothing is left to ask.
    return !this.#nodes.some((node) => node.state === "pending");
  }

  #finish(): void {
    this.#finished = true;
    const answered = this.#nodes.filter((node) => node.state === "answered")
      .slice(0, this.#targetNodes);
    for (const node of this.#nodes) {
      if (node.state === "pending" || node.state === "slow") node.cancel?.();
    }
    this.#options.onDone({
      nodes: answered,
      hops: answered[0]?.hop ?? 0,
      requests: this.#requests,
    });
  }
}

/** How a search hears the outcome of one of its requests. */
interface AskOutcomes {
  isFinished(): boolean;
  answered(
    node: SearchNode,
    found: readonly NodeInfo[],
    token: Uint8Array | undefined,
  ): void;
  failed(node: SearchNode): void;
  slow(node: SearchNode): void;
}

/**
 * One request of a search: the first answer or failure counts, anything
 * after it (or after the search ended) is ignored; slowness counts while
 * the request is pending.
 */
class Ask implements SearchAnswer {
  readonly #outcomes: AskOutcomes;
  readonly #node: SearchNode;
  #settled = false;

  constructor(outcomes: AskOutcomes, node: SearchNode) {
    this.#outcomes = outcomes;
    this.#node = node;
  }

  onAnswer(found: readonly NodeInfo[], token?: Uint8Array): void {
    if (this.#settled || this.#outcomes.isFinished()) return;
    this.#settled = true;
    this.#outcomes.answered(this.#node, found, token);
  }

  onFailed(): void {
    if (this.#settled || this.#outcomes.isFinished()) return;
    this.#settled = true;
    this.#outcomes.failed(this.#node);
  }

  onSlow(): void {
    if (
      this.#settled || this.#outcomes.isFinished() ||
      this.#node.state !== "pending"
    ) return;
    this.#outcomes.slow(this.#node);
  }
}
