/**
 * `PermanentPuts`: values the node keeps alive on the DHT until told to stop
 * (presence announcements, device records).
 *
 * Each round looks up the key's closest nodes. The first round puts the
 * value at the closest nodes as soon as the lookup knows them, rather than
 * when it has finished: a slow or dead candidate can hold the end of a
 * lookup back by seconds, and watchers listen there. Later rounds send a
 * cheap `refresh` to nodes that already hold the value (putting it again
 * only if one says it lost it) and the value itself to new closest nodes.
 *
 * Rounds run every `permanentCheckMs` (so new closest nodes get the value
 * soon), and at the latest {@link REANNOUNCE_MARGIN_MS} before the value
 * would expire. The margin (10 s, as Jami's records are refreshed) covers
 * the round's lookup (seconds when candidates are slow) plus the refresh's
 * RPC retries (up to 3 s), so holders do not drop the value between two
 * rounds; it matters most for short-lived values such as the 24 s presence
 * announcement, refreshed every 14 s. A round that finds no node at all is
 * retried soon (see {@link EmptySearchRetries}).
 *
 * Quiet rounds: for a value that lives less than `permanentCheckMs`, a
 * round looks the closest nodes up again only if the last lookup is
 * {@link QUIET_LOOKUP_MS} old (or `permanentCheckMs`, if shorter); the
 * rounds between send a `refresh` to each holder and nothing else, as long
 * as at least {@link MIN_QUIET_HOLDERS} hold the value (a holder that does
 * not answer is dropped; with fewer left, the round looks up). A lookup
 * costs a dozen requests and answers full of node lists: for the 14 s
 * rounds of the presence announcement they were the largest share of a
 * device's DHT bytes. A last value (`replace` with `keep: false`) of such a
 * put goes to the holders and through a lookup; a replaced one makes the
 * next round look up.
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock, Timer } from "../clock.ts";
import { type DhtValue, ErrorCode } from "./messages.ts";
import type { PermanentPutHandle } from "./dht_client.ts";
import type { EmptySearchRetries } from "./empty_search_retries.ts";
import type { PutSender, PutTarget } from "./put_sender.ts";
import type { RpcEngine } from "./rpc_engine.ts";
import type { Search, SearchNode } from "./search.ts";
import type { Lookups } from "./lookups.ts";
import { type ValueType, valueTypeOf } from "./value_type.ts";

/** A permanent put is refreshed this long before its value would expire. */
export const REANNOUNCE_MARGIN_MS = 10_000;

/**
 * A round may skip the lookup only while this many nodes hold the value:
 * watchers listen at the 4 closest nodes.
 */
export const MIN_QUIET_HOLDERS = 4;

/**
 * Longest time between two lookups of a value with quiet rounds: watchers
 * move their listens to nodes that joined, and a goodbye or a re-signed
 * announcement put at holders older than that missed them more often
 * (clean-shutdown detection p50 425 → 760 ms with 5 minutes).
 */
export const QUIET_LOOKUP_MS = 60_000;

/** Shortest wait between two rounds, whatever the value's lifetime. */
const MIN_ROUND_MS = 1_000;

/** One value kept alive. */
interface PermanentPut {
  readonly key: InfoHash;
  value: DhtValue;
  /** Node id hex → address of nodes that acknowledged the value. */
  holders: Map<string, PutTarget>;
  /** The next round, or the retry of an empty one. */
  timer?: Timer;
  /** When the last round with a lookup started. */
  lookedUpMs?: number;
  /** The round's lookup while it runs. */
  search?: Search;
  cancelled: boolean;
  /** Next retry delay while searches find no node. */
  emptyRetryMs?: number;
}

/** What {@link PermanentPuts} needs from the node. */
export interface PermanentPutsServices {
  /** Schedules the rounds. */
  readonly clock: Clock;
  /** Runs each round's lookup (`find`), and cancels them. */
  readonly lookups: Pick<Lookups, "start" | "cancel">;
  /** Puts the value at new closest nodes. */
  readonly puts: Pick<PutSender, "send" | "putToNodes">;
  /** Sends refreshes to nodes that hold the value. */
  readonly rpc: Pick<RpcEngine, "request">;
  /** Retries rounds that found no node. */
  readonly retries: Pick<EmptySearchRetries, "schedule">;
  /** A one-shot put of a last value (a `replace` with `keep: false`). */
  putOnce(
    key: InfoHash,
    value: DhtValue,
    onDone?: (stored: number) => void,
  ): void;
  /** Application value types: a value's lifetime sets the refresh time. */
  readonly valueTypes?: ReadonlyMap<number, ValueType>;
}

/** The node's permanent puts. */
export class PermanentPuts {
  readonly #services: PermanentPutsServices;
  readonly #checkMs: number;
  /**
   * Made on first use: most nodes of a large simulation never hold a
   * permanent put, and an empty Set costs ~150 bytes.
   */
  #puts: Set<PermanentPut> | undefined;

  /**
   * No permanent put yet.
   *
   * @param services Clock, lookups, put sender, RPC, retries, value types.
   * @param checkMs Longest wait between two rounds of one put.
   */
  constructor(services: PermanentPutsServices, checkMs: number) {
    this.#services = services;
    this.#checkMs = checkMs;
  }

  /**
   * Starts keeping `value` alive at `key` (its id must not be 0; the caller
   * checks).
   *
   * @param key Key.
   * @param value Value.
   * @param onDone Called with the number of nodes that acknowledged the first round.
   * @returns A handle to cancel or replace.
   */
  add(
    key: InfoHash,
    value: DhtValue,
    onDone?: (stored: number) => void,
  ): PermanentPutHandle {
    const state: PermanentPut = {
      key,
      value,
      holders: new Map(),
      cancelled: false,
    };
    (this.#puts ??= new Set()).add(state);
    this.#announce(state, onDone);
    return {
      cancel: () => this.#cancel(state),
      replace: (next, options = {}) => this.#replace(state, next, options),
    };
  }

  /**
   * Starts a new round of every permanent put now (after an outage of our
   * own: the values may have lapsed on the storing nodes meanwhile).
   */
  refreshAll(): void {
    if (this.#puts === undefined) return;
    for (const state of this.#puts) {
      if (state.search !== undefined) continue;
      state.timer?.cancel();
      state.timer = undefined;
      this.#announce(state);
    }
  }

  /** Cancels every permanent put (their values live until they expire). */
  stop(): void {
    if (this.#puts === undefined) return;
    for (const put of this.#puts) this.#cancel(put);
  }

  #replace(
    state: PermanentPut,
    value: DhtValue,
    options: { keep?: boolean; onDone?: (stored: number) => void },
  ): void {
    if (value.id === 0n) {
      throw new RangeError("Cannot put value: id 0 is invalid");
    }
    if (state.cancelled) {
      options.onDone?.(0);
      return;
    }
    const quiet = this.#quietRounds(state);
    state.value = value;
    const holders = [...state.holders.values()];
    if (options.keep === false) this.#cancel(state);
    if (holders.length === 0) {
      // Nobody holds the old value yet: a full round is the only way.
      if (options.keep === false) {
        this.#services.putOnce(state.key, value, options.onDone);
      } else {
        state.timer?.cancel();
        if (state.search) this.#services.lookups.cancel(state.search);
        state.search = undefined;
        this.#announce(state, options.onDone);
      }
      return;
    }
    this.#services.puts.putToNodes(
      holders,
      state.key,
      value,
      undefined,
      options.onDone,
    );
    // Holders known from a quiet round may miss nodes that joined since the
    // last lookup (watchers listen there too): a last value also goes
    // through a lookup, and a kept one makes the next round look up.
    if (quiet) {
      if (options.keep === false) {
        this.#services.putOnce(state.key, value);
      } else {
        state.lookedUpMs = undefined;
      }
    }
  }

  #announce(state: PermanentPut, onDone?: (stored: number) => void): void {
    if (state.cancelled) return;
    // A search with no candidate finishes at once, inside start(): only
    // keep the handle of one still running.
    let finished = false;
    // First round: put at the closest nodes as soon as they are known, not
    // when the search has finished (a slow or dead candidate can hold the
    // end of a search back by seconds, and watchers listen there).
    const early = new Set<string>();
    const first = state.holders.size === 0;
    // onDone reports every ack of this round, early ones included, once all
    // the round's puts have answered.
    let pending = 1; // the search itself
    let stored = 0;
    const settle = (acks: number) => {
      stored += acks;
      if (--pending === 0) onDone?.(stored);
    };
    state.lookedUpMs = this.#services.clock.now();
    const search = this.#services.lookups.start(state.key, "find", {
      onPrefix: first
        ? (nodes) => {
          if (state.cancelled) return;
          const fresh = nodes.filter((node) => !early.has(node.id.toString()));
          if (fresh.length === 0) return;
          for (const node of fresh) early.add(node.id.toString());
          pending += 1;
          this.#putAndHold(state, fresh, settle);
        }
        : undefined,
      onDone: (result) => {
        finished = true;
        state.search = undefined;
        if (state.cancelled) return;
        if (result.nodes.length === 0 && pending === 1) {
          // Nobody found (not bootstrapped yet): the round starts again.
          this.#services.retries.schedule(
            state,
            () => this.#announce(state, onDone),
          );
          return;
        }
        const current = new Map(
          result.nodes.map((node) => [node.id.toString(), node]),
        );
        // Nodes that already hold the value get a cheap refresh; new closest
        // nodes get the value itself (permanent puts carry no creation time).
        const fresh: SearchNode[] = [];
        for (const [hex, node] of current) {
          if (early.has(hex)) continue; // just put there
          if (state.holders.has(hex)) {
            // Its new token serves the quiet rounds until the next lookup.
            state.holders.set(hex, node);
            this.#refreshAt(state, node);
          } else fresh.push(node);
        }
        for (const hex of [...state.holders.keys()]) {
          if (!current.has(hex)) state.holders.delete(hex);
        }
        this.#putAndHold(state, fresh, settle);
        state.emptyRetryMs = undefined;
        this.#scheduleRound(state);
      },
    });
    if (!finished) state.search = search;
  }

  /** Puts a permanent value at `nodes`; those that acknowledge hold it. */
  #putAndHold(
    state: PermanentPut,
    nodes: readonly SearchNode[],
    onDone: (stored: number) => void,
  ): void {
    this.#services.puts.putToNodes(
      nodes,
      state.key,
      state.value,
      undefined,
      onDone,
      (node) => state.holders.set(node.id.toString(), node),
    );
  }

  #refreshAt(state: PermanentPut, node: PutTarget): void {
    if (node.token === undefined) return;
    this.#services.rpc.request(node.address, node.id, {
      method: "refresh",
      key: state.key,
      valueId: state.value.id,
      token: node.token,
    }, {
      onReply: () => {},
      onError: (error) => {
        // 404: the node lost the value (restart, eviction): put it again.
        if (error.code === ErrorCode.NotFound && !state.cancelled) {
          this.#services.puts.send(node, state.key, state.value, undefined);
        } else if (error.code === ErrorCode.Unauthorized) {
          // Its token is stale: the next lookup gets a fresh one.
          state.holders.delete(node.id.toString());
        }
      },
      onExpired: () => state.holders.delete(node.id.toString()),
    });
  }

  #scheduleRound(state: PermanentPut): void {
    const lifetime = valueTypeOf(state.value.type, this.#services.valueTypes)
      .lifetimeMs;
    const delay = Math.max(
      MIN_ROUND_MS,
      Math.min(this.#checkMs, lifetime - REANNOUNCE_MARGIN_MS),
    );
    state.timer = this.#services.clock.setTimer(
      delay,
      () => this.#round(state),
    );
  }

  /**
   * A due round: quiet (a `refresh` to each holder) while the last lookup
   * is younger than the check period and enough nodes hold the value;
   * otherwise a full round with a lookup.
   */
  #round(state: PermanentPut): void {
    if (state.cancelled) return;
    const sinceLookupMs = this.#services.clock.now() -
      (state.lookedUpMs ?? -Infinity);
    if (
      this.#quietRounds(state) &&
      sinceLookupMs < Math.min(this.#checkMs, QUIET_LOOKUP_MS) &&
      state.holders.size >= MIN_QUIET_HOLDERS
    ) {
      for (const holder of state.holders.values()) {
        this.#refreshAt(state, holder);
      }
      this.#scheduleRound(state);
      return;
    }
    this.#announce(state);
  }

  /** Whether some rounds of this value skip the lookup: it lives less than the check period. */
  #quietRounds(state: PermanentPut): boolean {
    const lifetime = valueTypeOf(state.value.type, this.#services.valueTypes)
      .lifetimeMs;
    return lifetime < this.#checkMs;
  }

  #cancel(state: PermanentPut): void {
    state.cancelled = true;
    state.timer?.cancel();
    if (state.search) this.#services.lookups.cancel(state.search);
    this.#puts?.delete(state);
  }
}
