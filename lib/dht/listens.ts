/**
 * `Listens`: the node's own listens, OpenDHT style. A listen is placed on
 * the {@link LISTEN_NODES} closest nodes of its key (and on our own storage:
 * we may be one of them), renewed at the same nodes every `listenRenewMs`
 * (storing nodes forget listeners that are not renewed), looked up again
 * every `listenSearchMs`, and moved at once when one of its nodes refuses
 * or stops answering. A listen may ask for fewer nodes (`nodes`): presence
 * listens on stock OpenDHT nodes need only one node that pushes refreshes,
 * and every listen node pushes each refresh.
 *
 * A listen node that pushed refreshes of a value and then fell silent for
 * {@link SILENT_NODE_MS} while another of the listen's nodes still pushes
 * them is asked to renew the listen at once: if it does not answer (it left
 * the network), the listen moves now instead of at the next renewal, so
 * that a listen on few nodes does not wait minutes on one node. When all of
 * them fall silent, the listen's user (the presence tracker, whose silence
 * rule then calls the device offline) checks them with `check()`.
 *
 * Our storing nodes name, in their `listen` replies, the value types whose
 * refreshes they do not push (`DhtReply.quietRefreshTypes`); a node that
 * names none pushes every refresh, as stock OpenDHT does. A value held by a
 * node of the second kind is reported `audible` once per node: its
 * publisher's silence can be heard from the start, before any refresh came
 * (a publisher that crashed less than one refresh period after the listen
 * was placed would otherwise stay online for the stock node's 10 minutes).
 *
 * Storing nodes push `update`s under the listen's socket id. A value is
 * reported once per id (again only with a higher sequence number), with the
 * set of storing nodes that reported it: a value is `expiring` while some
 * of them said it expired, and `expired` once all have (or once we stop
 * listening at the last node that held it). After a node says a value
 * expired, pushes of it from that node are ignored for
 * {@link PUSH_REORDER_MS}: a retried or reordered datagram sent before the
 * expiry must not bring the value back.
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock, Timer } from "../clock.ts";
import { systemRandomBytes } from "../io/system_random.ts";
import { type RandomBytes, randomUint32, type Rng } from "../rng.ts";
import {
  type DhtQuery,
  type DhtValue,
  ErrorCode,
  type UpdateRequest,
} from "./messages.ts";
import type { ListenEvent, ListenHandle } from "./dht_client.ts";
import type { EmptySearchRetries } from "./empty_search_retries.ts";
import type { RpcEngine } from "./rpc_engine.ts";
import type { Search, SearchNode } from "./search.ts";
import type { Lookups } from "./lookups.ts";

/** Nodes a listen is placed on (OpenDHT LISTEN_NODES). */
export const LISTEN_NODES = 4;
/**
 * After a storing node says a value expired, pushes of that value from it are
 * ignored this long: they were sent before the expiry (RPC retries take up
 * to 3 s) and arrived late.
 */
export const PUSH_REORDER_MS = 5_000;

/**
 * A listen node silent this long while another of the listen's nodes pushes
 * refreshes is checked with a listen renewal: two refresh periods of a
 * presence announcement (14 s) and then some.
 */
export const SILENT_NODE_MS = 30_000;

/** Most "sender:id" expiries remembered per listen before starting afresh. */
const MAX_RECENTLY_EXPIRED = 1_024;

/**
 * Most nodes remembered per listen as having refused it (listener limits
 * reached, e.g. filled by an attacker); the listen goes to the next closest
 * nodes instead. More than a search's 14 candidates, so all can be skipped.
 */
const MAX_REFUSED_NODES = 16;

/** One of our listens. */
interface ListenState {
  readonly key: InfoHash;
  readonly socketId: number;
  readonly query?: DhtQuery;
  readonly callback: (event: ListenEvent) => void;
  /** How many nodes to listen at (at most {@link LISTEN_NODES}). */
  readonly nodeCount: number;
  /** Node id hex → node we listen at. */
  nodes: Map<string, SearchNode>;
  /**
   * Node id hex → when it last pushed a refresh (or was last checked): only
   * nodes that push refreshes are watched for silence.
   */
  pushedMs: Map<string, number>;
  /** When the listen's nodes were last looked up. */
  searchedMs: number;
  /**
   * "sender:id" → when that storing node said the value expired. A push of
   * the value from it that arrives just after (a retried or reordered
   * datagram sent before the expiry) must not bring the value back.
   */
  recentlyExpired: Map<string, number>;
  /**
   * Node id hex → when it refused this listen; skipped by placements until
   * the listen's nodes are looked up afresh ({@link ListensTiming.searchMs}).
   */
  refused: Map<string, number>;
  /** Next retry delay while searches find no node. */
  emptyRetryMs?: number;
  /** Value id → value and the storing nodes that reported it. */
  known: Map<bigint, { value: DhtValue; holders: Set<string> }>;
  /**
   * Node id hex → the value types whose refreshes it said it does not push,
   * from its last `listen` reply: absent until it answered one.
   */
  quietTypes: Map<string, ReadonlySet<number>>;
  /** The next renewal, or the retry of an empty lookup. */
  timer?: Timer;
  /** The lookup placing the listen, while it runs. */
  search?: Search;
  /**
   * Nodes a running placement already asked, early (see `#place`); after
   * it, the nodes it chose: a late reply from any other node is not kept.
   */
  placed?: Set<string>;
  cancelled: boolean;
}

/** What {@link Listens} needs from the node. */
export interface ListensServices {
  /** Times renewals and pushes. */
  readonly clock: Clock;
  /** Not drawn from: socket ids come from `randomBytes`. Accepted for older callers. */
  readonly rng?: Rng;
  /**
   * Draws socket ids, which a peer must not guess (a push under a guessed id
   * would be taken for the listen's): a cryptographic source; only the
   * simulator passes a seeded one. @default {systemRandomBytes}
   */
  readonly randomBytes?: RandomBytes;
  /** Runs the lookups that place listens (`find`), and cancels them. */
  readonly lookups: Pick<Lookups, "start" | "cancel">;
  /** Sends `listen` requests. */
  readonly rpc: Pick<RpcEngine, "request">;
  /** Retries placements that found no node. */
  readonly retries: Pick<EmptySearchRetries, "schedule">;
  /**
   * Listens (or renews the listen) on our own storage under `socketId`; its
   * pushes come back through {@link Listens.onUpdate}.
   */
  listenLocally(key: InfoHash, socketId: number, query?: DhtQuery): void;
}

/** Timing of {@link Listens}. */
export interface ListensTiming {
  /** Listens are renewed at the nodes holding them this often. */
  readonly renewMs: number;
  /** The nodes holding a listen are looked up again this often. */
  readonly searchMs: number;
}

/** The node's listens, by socket id. */
export class Listens {
  readonly #services: ListensServices;
  readonly #timing: ListensTiming;
  /**
   * Made on first use: most nodes of a large simulation never listen, and
   * an empty Map costs ~150 bytes.
   */
  #listens: Map<number, ListenState> | undefined;

  /**
   * No listen yet.
   *
   * @param services Clock, random bytes, lookups, RPC, retries, local storage.
   * @param timing Renewal and lookup periods.
   */
  constructor(services: ListensServices, timing: ListensTiming) {
    this.#services = services;
    this.#timing = timing;
  }

  /**
   * Starts listening at `key` under a fresh socket id.
   *
   * @param key Key.
   * @param callback Receives events.
   * @param query Optional where-filter.
   * @param nodeCount How many nodes to listen at, 1 to {@link LISTEN_NODES}.
   * @returns A handle to stop listening or move the listen.
   */
  add(
    key: InfoHash,
    callback: (event: ListenEvent) => void,
    query: DhtQuery | undefined,
    nodeCount: number = LISTEN_NODES,
  ): ListenHandle {
    const randomBytes = this.#services.randomBytes ?? systemRandomBytes;
    const listens = this.#listens ??= new Map();
    let socketId: number;
    do {
      socketId = randomUint32(randomBytes);
    } while (socketId === 0 || listens.has(socketId));
    const state: ListenState = {
      key,
      socketId,
      query,
      callback,
      nodeCount: Math.max(1, Math.min(LISTEN_NODES, Math.floor(nodeCount))),
      nodes: new Map(),
      pushedMs: new Map(),
      searchedMs: -Infinity,
      recentlyExpired: new Map(),
      refused: new Map(),
      known: new Map(),
      quietTypes: new Map(),
      cancelled: false,
    };
    listens.set(socketId, state);
    this.#place(state);
    return {
      cancel: () => this.#cancel(state),
      relocate: () => {
        if (state.cancelled || state.search !== undefined) return;
        state.timer?.cancel();
        state.timer = undefined;
        this.#place(state);
      },
      check: () => {
        if (state.cancelled || state.search !== undefined) return;
        for (const node of state.nodes.values()) this.#sendListen(state, node);
      },
    };
  }

  /**
   * Places every listen again now (after an outage of our own: the storing
   * nodes may have forgotten our listens, or be gone).
   */
  relocateAll(): void {
    if (this.#listens === undefined) return;
    for (const state of this.#listens.values()) {
      if (state.search !== undefined) continue;
      this.#place(state);
    }
  }

  /** Cancels every listen (storing nodes forget them when not renewed). */
  stop(): void {
    if (this.#listens === undefined) return;
    for (const state of this.#listens.values()) this.#cancel(state);
  }

  /**
   * A storing node (or our own storage) pushed values, refreshes or expiries
   * for one of our listens; unknown socket ids are ignored.
   *
   * @param request The `update` request.
   */
  onUpdate(request: UpdateRequest): void {
    const state = this.#listens?.get(request.socketId);
    if (state === undefined || state.cancelled) return;
    const hex = request.senderId.toString();
    // Pushes count only from nodes our listen was placed on (or is being
    // placed on: the first push may beat the listen's reply).
    const added: DhtValue[] = [];
    /** Values this node did not hold before (for {@link ListenEvent} `audible`). */
    const held: DhtValue[] = [];
    const now = this.#services.clock.now();
    for (const value of request.values ?? []) {
      const expiredAt = state.recentlyExpired.get(`${hex}:${value.id}`);
      if (expiredAt !== undefined && now - expiredAt < PUSH_REORDER_MS) {
        continue;
      }
      const known = state.known.get(value.id);
      if (known === undefined) {
        state.known.set(value.id, { value, holders: new Set([hex]) });
        added.push(value);
        held.push(value);
      } else {
        if (!known.holders.has(hex)) held.push(value);
        known.holders.add(hex);
        if ((value.seq ?? 0) > (known.value.seq ?? 0)) {
          known.value = value;
          added.push(value);
        }
      }
    }
    if (added.length > 0) state.callback({ kind: "added", values: added });
    this.#tellAudible(state, hex, held);
    const refreshed = (request.refreshed ?? []).filter((id) =>
      state.known.get(id)?.holders.add(hex) !== undefined
    );
    if (refreshed.length > 0) {
      state.pushedMs.set(hex, now);
      this.#checkSilentNodes(state, now);
      state.callback({ kind: "refreshed", ids: refreshed });
    }
    const expired: bigint[] = [];
    const expiring: bigint[] = [];
    for (const id of request.expired ?? []) {
      if (state.recentlyExpired.size >= MAX_RECENTLY_EXPIRED) {
        state.recentlyExpired.clear();
      }
      state.recentlyExpired.set(`${hex}:${id}`, now);
      const known = state.known.get(id);
      if (known === undefined || !known.holders.delete(hex)) continue;
      if (known.holders.size === 0) {
        state.known.delete(id);
        expired.push(id);
      } else {
        expiring.push(id);
      }
    }
    if (expiring.length > 0) {
      state.callback({ kind: "expiring", ids: expiring });
    }
    if (expired.length > 0) state.callback({ kind: "expired", ids: expired });
  }

  /**
   * Another node of the listen just pushed a refresh: a node that pushed
   * refreshes before and has been silent for {@link SILENT_NODE_MS} is asked
   * to renew the listen (it is moved if it does not answer).
   */
  #checkSilentNodes(state: ListenState, now: number): void {
    for (const [hex, at] of state.pushedMs) {
      if (now - at < SILENT_NODE_MS) continue;
      const node = state.nodes.get(hex);
      if (node === undefined) {
        state.pushedMs.delete(hex);
        continue;
      }
      // Checked once per silence: it counts as heard from until it pushes.
      state.pushedMs.set(hex, now);
      this.#sendListen(state, node);
    }
  }

  #listenLocally(state: ListenState): void {
    this.#services.listenLocally(state.key, state.socketId, state.query);
  }

  #place(state: ListenState): void {
    if (state.cancelled || state.search !== undefined) return;
    this.#listenLocally(state);
    state.timer?.cancel();
    state.timer = undefined;
    // A search with no candidate finishes at once, inside start(): only
    // keep the handle of one still running.
    let finished = false;
    // Listen at the closest nodes as soon as they are known (they have
    // answered and no closer candidate is left to ask), from two of them
    // on and up to `nodeCount`, not when the search has finished: a slow
    // or dead candidate (a NATed node, a node that left) can hold the end
    // of a search back by a second or more, and a device that just started
    // waits on these listens to see its contacts and their link
    // candidates. Waiting for all `nodeCount` (4 at a link key) cost that
    // too; one node alone is often still a far one. Each node is asked
    // once per placement; one the finished search did not choose is not
    // kept.
    const early = new Set<string>();
    state.placed = early;
    const search = this.#services.lookups.start(state.key, "find", {
      onPrefix: (nodes) => {
        if (state.cancelled) return;
        const chosen = nodes.filter((node) =>
          !state.refused.has(node.id.toString())
        );
        if (chosen.length < Math.min(2, state.nodeCount)) return;
        for (const node of chosen.slice(0, state.nodeCount)) {
          const hex = node.id.toString();
          if (early.has(hex)) continue;
          early.add(hex);
          this.#sendListen(state, node);
        }
      },
      onDone: (result) => {
        finished = true;
        state.search = undefined;
        if (state.cancelled) return;
        const now = state.searchedMs = this.#services.clock.now();
        for (const [hex, at] of state.refused) {
          if (now - at >= this.#timing.searchMs) state.refused.delete(hex);
        }
        const chosen = result.nodes.filter((node) =>
          !state.refused.has(node.id.toString())
        ).slice(0, state.nodeCount);
        const chosenHex = new Set(chosen.map((node) => node.id.toString()));
        state.placed = chosenHex;
        for (const hex of [...state.nodes.keys()]) {
          if (!chosenHex.has(hex)) this.#forgetNode(state, hex);
        }
        for (const node of chosen) {
          if (!early.has(node.id.toString())) this.#sendListen(state, node);
        }
        if (chosen.length === 0) {
          this.#services.retries.schedule(state, () => this.#place(state));
        } else {
          state.emptyRetryMs = undefined;
          this.#scheduleRenewal(state);
        }
      },
    });
    if (!finished) state.search = search;
  }

  /** Renews at the same nodes, or looks them up again when it is time. */
  #scheduleRenewal(state: ListenState): void {
    const { clock } = this.#services;
    state.timer = clock.setTimer(this.#timing.renewMs, () => {
      state.timer = undefined;
      if (state.cancelled) return;
      const stale = clock.now() - state.searchedMs >= this.#timing.searchMs ||
        state.nodes.size < state.nodeCount;
      if (stale) {
        this.#place(state);
        return;
      }
      this.#listenLocally(state);
      for (const node of state.nodes.values()) this.#sendListen(state, node);
      this.#scheduleRenewal(state);
    });
  }

  #sendListen(state: ListenState, node: SearchNode): void {
    if (node.token === undefined) return;
    const hex = node.id.toString();
    this.#services.rpc.request(node.address, node.id, {
      method: "listen",
      key: state.key,
      token: node.token,
      socketId: state.socketId,
      version: 1,
      ...(state.query === undefined ? {} : { query: state.query }),
    }, {
      onReply: (reply) => {
        // An early listen at a node the finished placement did not choose
        // is not kept (it lapses there unrenewed).
        if (state.cancelled || state.placed?.has(hex) === false) return;
        state.nodes.set(hex, node);
        const first = !state.quietTypes.has(hex);
        state.quietTypes.set(hex, new Set(reply.quietRefreshTypes ?? []));
        if (first) {
          this.#tellAudible(
            state,
            hex,
            [...state.known.values()].map((entry) => entry.value),
          );
        }
      },
      onError: (error) => {
        // A stale token (401) is fixed by the new lookup's token; a refusal
        // (listener limits) moves the listen to the next closest node.
        if (error.code === ErrorCode.Unauthorized) {
          this.#nodeLost(state, hex);
          return;
        }
        if (state.refused.size >= MAX_REFUSED_NODES) {
          const oldest = state.refused.keys().next().value;
          if (oldest !== undefined) state.refused.delete(oldest);
        }
        state.refused.set(hex, this.#services.clock.now());
        this.#nodeLost(state, hex);
      },
      onExpired: () => this.#nodeLost(state, hex),
    });
  }

  /**
   * Tells which of `values` node `hex` holds and pushes the refreshes of
   * (it answered our listen without naming their type quiet).
   */
  #tellAudible(
    state: ListenState,
    hex: string,
    values: readonly DhtValue[],
  ): void {
    const quiet = state.quietTypes.get(hex);
    if (quiet === undefined || state.cancelled) return;
    const ids = values.filter((value) =>
      !quiet.has(value.type) && state.known.get(value.id)?.holders.has(hex)
    ).map((value) => value.id);
    if (ids.length > 0) state.callback({ kind: "audible", ids });
  }

  /** A node refused or stopped answering our listen: move the listen. */
  #nodeLost(state: ListenState, hex: string): void {
    this.#forgetNode(state, hex);
    if (!state.cancelled && state.search === undefined) {
      this.#place(state);
    }
  }

  /** A storing node we no longer listen at: values only it held expire for us. */
  #forgetNode(state: ListenState, hex: string): void {
    state.nodes.delete(hex);
    state.pushedMs.delete(hex);
    state.quietTypes.delete(hex);
    const gone: bigint[] = [];
    for (const [id, entry] of state.known) {
      entry.holders.delete(hex);
      if (entry.holders.size === 0) {
        state.known.delete(id);
        gone.push(id);
      }
    }
    if (gone.length > 0) state.callback({ kind: "expired", ids: gone });
  }

  #cancel(state: ListenState): void {
    state.cancelled = true;
    state.timer?.cancel();
    if (state.search) this.#services.lookups.cancel(state.search);
    this.#listens?.delete(state.socketId);
  }
}
