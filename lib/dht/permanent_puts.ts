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
 * A value refreshed many times between two checks (its refresh period is
 * under half of `permanentCheckMs`, like the 24 s announcement) is looked up
 * only every `permanentCheckMs`: the rounds between only refresh its holders
 * (a lookup costs several times the refreshes). A holder that stops
 * answering, or fewer than {@link MIN_HOLDERS_WITHOUT_LOOKUP} holders, brings
 * the lookup back at the next round.
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

/** Shortest wait between two rounds, whatever the value's lifetime. */
const MIN_ROUND_MS = 1_000;

/** A round without a lookup needs at least this many holders. */
export const MIN_HOLDERS_WITHOUT_LOOKUP = 4;

/** One value kept alive. */
interface PermanentPut {
  readonly key: InfoHash;
  value: DhtValue;
  /** Node id hex → address of nodes that acknowledged the value. */
  holders: Map<string, PutTarget>;
  /** The next round, or the retry of an empty one. */
  timer?: Timer;
  /** The round's lookup while it runs. */
  search?: Search;
  cancelled: boolean;
  /** Next retry delay while searches find no node. */
  emptyRetryMs?: number;
  /** When the last lookup round started. */
  lookedUpMs?: number;
  /** A holder stopped answering: the next round looks the key up again. */
  lostHolder?: boolean;
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
  readonly #puts = new Set<PermanentPut>();

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
    this.#puts.add(state);
    this.#announce(state, onDone);
    return {
      cancel: () => this.#cancel(state),
      replace: (next, options = {}) => this.#replace(state, next, options),
    };
  }

  /** Cancels every permanent put (their values live until they expire). */
  stop(): void {
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
  }

  /** Whether this round may only refresh the holders (see the module doc). */
  #refreshOnly(state: PermanentPut): boolean {
    const now = this.#services.clock.now();
    return !state.lostHolder && state.lookedUpMs !== undefined &&
      now - state.lookedUpMs < this.#checkMs &&
      this.#refreshPeriodMs(state) < this.#checkMs / 2 &&
      state.holders.size >= MIN_HOLDERS_WITHOUT_LOOKUP;
  }

  #announce(state: PermanentPut, onDone?: (stored: number) => void): void {
    if (state.cancelled) return;
    if (onDone === undefined && this.#refreshOnly(state)) {
      for (const node of state.holders.values()) {
        this.#refreshAt(state, node);
      }
      this.#scheduleRound(state);
      return;
    }
    state.lookedUpMs = this.#services.clock.now();
    state.lostHolder = false;
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
            // Its fresh token serves the refresh-only rounds until the next lookup.
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
          // A stale token: the next round looks up fresh ones.
          state.lostHolder = true;
        }
      },
      onExpired: () => {
        state.holders.delete(node.id.toString());
        state.lostHolder = true;
      },
    });
  }

  /** The wait between two rounds of `state`'s value. */
  #refreshPeriodMs(state: PermanentPut): number {
    const lifetime = valueTypeOf(state.value.type, this.#services.valueTypes)
      .lifetimeMs;
    return Math.max(
      MIN_ROUND_MS,
      Math.min(this.#checkMs, lifetime - REANNOUNCE_MARGIN_MS),
    );
  }

  #scheduleRound(state: PermanentPut): void {
    const delay = this.#refreshPeriodMs(state);
    state.timer = this.#services.clock.setTimer(
      delay,
      () => this.#announce(state),
    );
  }

  #cancel(state: PermanentPut): void {
    state.cancelled = true;
    state.timer?.cancel();
    if (state.search) this.#services.lookups.cancel(state.search);
    this.#puts.delete(state);
  }
}
