/**
 * The DHT as the contacts protocol uses it: look values up, put them once or
 * keep them alive, listen for changes. {@link DhtClient} is the seam between
 * presence and trust code and the node that implements it (`DhtNode` over
 * UDP or inside the simulator), so those layers can be driven by a fake in
 * unit tests.
 *
 * @example A fake that stores values in a map
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DhtClient, ListenEvent } from "./dht_client.ts";
 * import type { DhtValue } from "./messages.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const stored = new Map<string, DhtValue[]>();
 * const fake: DhtClient = {
 *   get(key, callbacks) {
 *     const values = stored.get(key.toString()) ?? [];
 *     callbacks.onValues?.(values);
 *     return { cancel() {} };
 *   },
 *   put(key, value) {
 *     stored.set(key.toString(), [...(stored.get(key.toString()) ?? []), value]);
 *     return { cancel() {} };
 *   },
 *   putPermanent(key, value) {
 *     this.put(key, value);
 *     return { cancel() {}, replace() {} };
 *   },
 *   listen(_key, _callback: (event: ListenEvent) => void) {
 *     return { cancel() {}, relocate() {} };
 *   },
 * };
 * const key = InfoHash.get("example");
 * fake.put(key, { id: 1n, type: 0, data: new Uint8Array([1]) });
 * let found = 0;
 * fake.get(key, { onValues: (values) => (found += values.length) });
 * assert.equal(found, 1);
 * ```
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { DhtQuery, DhtValue } from "./messages.ts";
import type { SearchResult } from "./search.ts";

/** Callbacks of {@link DhtClient.get}. */
export interface GetCallbacks {
  /** New values as they arrive (deduplicated by id). */
  onValues?(values: readonly DhtValue[]): void;
  /** All values found, once the search converged. */
  onDone?(values: readonly DhtValue[], result: SearchResult): void;
}

/** What a listener is told. */
export type ListenEvent =
  | { readonly kind: "added"; readonly values: readonly DhtValue[] }
  /**
   * Some storing nodes said these values expired while others still hold
   * them (a missed refresh, or the publisher stopped and the rest have not
   * reported yet, or died). `expired` follows once every holder has said so.
   */
  | { readonly kind: "expiring"; readonly ids: readonly bigint[] }
  | { readonly kind: "refreshed"; readonly ids: readonly bigint[] }
  | { readonly kind: "expired"; readonly ids: readonly bigint[] }
  /**
   * A storing node that pushes refreshes (it acknowledged the listen and did
   * not name these values' types as quiet, `DhtReply.quietRefreshTypes`)
   * holds these values: from now on their publisher's refreshes are pushed,
   * so a publisher that stops refreshing them falls silent, even before the
   * first `refreshed` came. Told once per value and node the listen is
   * placed on.
   */
  | { readonly kind: "audible"; readonly ids: readonly bigint[] };

/** A handle on a running operation. */
export interface OperationHandle {
  /** Stops it (a permanent put stops being refreshed; a listen stops). */
  cancel(): void;
}

/** A handle on a listen. */
export interface ListenHandle extends OperationHandle {
  /**
   * Looks up the closest nodes again now and moves the listen there (when
   * the caller has reason to think its storing nodes are stale).
   */
  relocate(): void;
  /**
   * Renews the listen at its nodes now; one that does not answer is
   * replaced (cheaper than {@link ListenHandle.relocate}: no lookup while
   * they answer). Optional for fakes.
   */
  check?(): void;
}

/** A handle on a permanent put. */
export interface PermanentPutHandle extends OperationHandle {
  /**
   * Sends `value` at once to the nodes that hold the current value (no
   * search), then keeps `value` alive instead of the old one; with `keep:
   * false` it is sent once and the put ends (a last word, e.g. a goodbye).
   *
   * @param value The new value.
   * @param options `keep` (default true), `onDone` with the number of acks.
   */
  replace(
    value: DhtValue,
    options?: { keep?: boolean; onDone?: (stored: number) => void },
  ): void;
}

/** The DHT operations presence and trust code need; `DhtNode` implements it. */
export interface DhtClient {
  /**
   * Looks up the values stored at `key`.
   *
   * @param key The InfoHash the values are stored under.
   * @param callbacks Values as they arrive, and all of them at the end.
   * @param options Optional where-filter.
   * @returns A handle to stop the lookup.
   */
  get(
    key: InfoHash,
    callbacks: GetCallbacks,
    options?: { query?: DhtQuery },
  ): OperationHandle;
  /**
   * Stores `value` at `key` on the closest nodes once (it lapses after its
   * type's lifetime), or keeps it alive with `permanent`.
   *
   * @param key The InfoHash to store the value under.
   * @param value Value (id must not be 0).
   * @param options `permanent`, and `onDone` with the number of acks.
   * @returns A handle to stop it.
   */
  put(
    key: InfoHash,
    value: DhtValue,
    options?: { permanent?: boolean; onDone?: (stored: number) => void },
  ): OperationHandle;
  /**
   * Looks up the nodes closest to `key` ahead of a put there: a one-shot
   * put at `key` in the next seconds goes straight to them, without a
   * lookup of its own. Optional; a client without it looks up at the put.
   *
   * @param key The InfoHash a put is expected at.
   */
  prepare?(key: InfoHash): void;
  /**
   * Stores `value` at `key` and refreshes it before it lapses until
   * cancelled.
   *
   * @param key The InfoHash to store the value under.
   * @param value Value (id must not be 0).
   * @param onDone Called with the number of acks of the first store.
   * @returns A handle to replace or stop it.
   */
  putPermanent(
    key: InfoHash,
    value: DhtValue,
    onDone?: (stored: number) => void,
  ): PermanentPutHandle;
  /**
   * Follows the values at `key`: what is there now, then additions,
   * refreshes and expiries.
   *
   * @param key The InfoHash whose values to follow.
   * @param callback Receives events.
   * @param options Optional where-filter, and how many storing nodes to
   * listen at (default and most: 4, OpenDHT's `LISTEN_NODES`).
   * @returns A handle to stop listening.
   */
  listen(
    key: InfoHash,
    callback: (event: ListenEvent) => void,
    options?: { query?: DhtQuery; nodes?: number },
  ): ListenHandle;
}
