/**
 * `ValueStore`: the storing side of the DHT — values per key with expiry,
 * edit rules, listeners, and a limit on everything.
 *
 * It is sans-IO: each call takes `nowMs` and returns the notices that the
 * node must push to listeners (new values, refreshed ids, expired ids).
 *
 * Rules (OpenDHT 2.4.12, `docs/opendht-wire.md` §11, with the edit rule of its secure types):
 * - a value's expiry is min(created, now) + its type's lifetime; an already
 *   expired value is refused;
 * - the same id with the same content is a refresh counted from the put's
 *   creation time (a `refresh` request counts from now); with other content it
 *   replaces the stored value only if both carry an owner and a sequence
 *   number, the owner is the same and the sequence is higher (an older or
 *   unsigned edit is refused);
 * - listeners are leased for {@link LISTENER_LIFETIME_MS} from their last
 *   listen, keyed by (node id, socket id).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ValueStore } from "./value_store.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const store = new ValueStore();
 * const key = InfoHash.get("key");
 * const value = { id: 1n, type: 0, data: new Uint8Array([1]) };
 * assert.equal(store.store(key, value, 0, 0).outcome, "stored");
 * assert.equal(store.get(key, 1_000).length, 1);
 * const { notices } = store.expire(10 * 60_000);
 * assert.equal(store.get(key, 10 * 60_000).length, 0);
 * assert.equal(notices.length, 0); // nobody was listening
 * ```
 *
 * @module
 */
import { bytesEqual } from "../crypto.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { PeerAddress } from "../transport.ts";
import {
  type DhtQuery,
  type DhtValue,
  MAX_QUIET_REFRESH_TYPES,
} from "./messages.ts";
import { matchesQuery } from "./value_query.ts";
import { type ValueType, valueTypeOf } from "./value_type.ts";
import {
  LOCAL_ORIGIN,
  type Origin,
  originOf,
  OriginShares,
} from "./origin_shares.ts";
import { valueStorageSize } from "./wire/values.ts";

/** A listener lives 10 minutes after its last listen (OpenDHT NODE_EXPIRE_TIME). */
export const LISTENER_LIFETIME_MS = 10 * 60_000;

/** Bounds on what one node stores. */
export interface ValueStoreLimits {
  /** Keys stored. @default {100000} */
  readonly maxKeys?: number;
  /** Values per key. @default {1024} */
  readonly maxValuesPerKey?: number;
  /** Bytes per key (OpenDHT size measure). @default {4 MiB} */
  readonly maxBytesPerKey?: number;
  /** Bytes in all. @default {64 MiB} */
  readonly maxTotalBytes?: number;
  /** Listeners per key. @default {256} */
  readonly maxListenersPerKey?: number;
  /** Listeners in all. @default {65536} */
  readonly maxTotalListeners?: number;
  /**
   * Bytes stored for one origin (the sender's IPv4 address or IPv6 /64,
   * {@link originOf}): one host cannot fill a node. @default {4 MiB}
   */
  readonly maxBytesPerOrigin?: number;
  /**
   * Listeners of one key placed by one node id: a node listens to a key
   * once or twice, never by the dozen. @default {4}
   */
  readonly maxListenersPerNodePerKey?: number;
  /**
   * Listeners of one key placed from one origin (IPv4 address or IPv6 /64),
   * whatever node ids it claims: room for a household behind one NAT, not
   * for a flood. @default {16}
   */
  readonly maxListenersPerOriginPerKey?: number;
  /** Listeners in all placed from one origin. @default {1024} */
  readonly maxListenersPerOrigin?: number;
}

/** A node listening to a key here; each new listen renews the lease, which ends at `expiresMs`. */
export interface Listener {
  /** The listening node's id; with `socketId` it identifies the listen. */
  readonly nodeId: InfoHash;
  /** Where `update` pushes go: the address the last listen came from. */
  address: PeerAddress;
  /** The listener's socket id. */
  readonly socketId: number;
  /** Only values matching its where clause are pushed; absent = all. */
  query?: DhtQuery;
  /** Lease end, epoch ms. */
  expiresMs: number;
  /** Who placed it (absent for the node's own listens, which no per-origin quota limits). */
  origin?: Origin;
}

/** Something to push to one listener. */
export interface ListenerNotice {
  /** The listener to push to. */
  readonly listener: Listener;
  /** The key whose values changed. */
  readonly key: InfoHash;
  /** New or replaced values. */
  readonly values?: readonly DhtValue[];
  /** Ids of values whose life was extended. */
  readonly refreshed?: readonly bigint[];
  /** Ids of values that expired and were dropped. */
  readonly expired?: readonly bigint[];
}

/** Outcome of {@link ValueStore.store}. */
export type StoreOutcome =
  | "stored"
  | "replaced"
  | "refreshed"
  | "rejected-expired"
  | "rejected-size"
  | "rejected-quota"
  | "rejected-edit";

/** A value as stored. */
export interface StoredValue {
  /** The value as received, relayed unchanged to getters and listeners. */
  readonly value: DhtValue;
  /** Creation time, epoch ms. */
  readonly createdMs: number;
  /** Expiry, epoch ms. */
  expiresMs: number;
  /** Bytes it counts against quotas, measured as OpenDHT does (`valueStorageSize`: data, cypher, signature, user type). */
  readonly size: number;
  /** Who stored it ({@link originOf} the sender's address), for the per-origin quotas. */
  readonly origin?: string;
  /** Its origin and prefix, for the fair shares of the key. */
  readonly share: Origin;
}

interface KeyEntry {
  readonly key: InfoHash;
  readonly values: Map<bigint, StoredValue>;
  readonly listeners: Map<string, Listener>;
  /** Listeners per node id (hex), for the per-node limit without a scan. */
  readonly listenersPerNode: Map<string, number>;
  /** Weights of the values: bytes plus one slot's worth of bytes each. */
  readonly valueShares: OriginShares;
  /** Weights of the listeners placed by others: one each. */
  readonly listenerShares: OriginShares;
  bytes: number;
}

function sameContent(a: DhtValue, b: DhtValue): boolean {
  const optionalBytes = (x?: Uint8Array, y?: Uint8Array) =>
    x === undefined ? y === undefined : y !== undefined && bytesEqual(x, y);
  return a.type === b.type && bytesEqual(a.data, b.data) &&
    a.userType === b.userType && a.seq === b.seq &&
    optionalBytes(a.owner, b.owner) &&
    optionalBytes(a.signature, b.signature) &&
    optionalBytes(a.cypher, b.cypher) &&
    (a.recipient === undefined
      ? b.recipient === undefined
      : b.recipient !== undefined && a.recipient.equals(b.recipient));
}

/** Values and listeners of one node. */
export class ValueStore {
  /**
   * This map and the two per-origin counts below are made on first use:
   * most nodes of a large simulation never store a value or a listener, and
   * an empty Map costs ~150 bytes.
   */
  #keys: Map<string, KeyEntry> | undefined;
  readonly #limits: Required<ValueStoreLimits>;
  readonly #types?: ReadonlyMap<number, ValueType>;
  #totalBytes = 0;
  #totalListeners = 0;
  #originBytes: Map<string, number> | undefined;
  #originListeners: Map<string, number> | undefined;
  /** What one value slot weighs in bytes, so that slots and bytes share one measure. */
  readonly #slotBytes: number;
  /**
   * No stored value expires before this (epoch ms); undefined = unknown. It
   * may be early (a refresh or replace moved the true minimum later), which
   * only costs an idle expiry round; it is never late. Without it every put
   * scanned all stored values to re-arm the expiry timer.
   */
  #expiryLowerBoundMs: number | undefined = Infinity;

  /**
   * An empty store.
   *
   * @param limits Bounds (defaults above).
   * @param types Extra value types, consulted before OpenDHT's built-in ones.
   */
  constructor(
    limits: ValueStoreLimits = {},
    types?: ReadonlyMap<number, ValueType>,
  ) {
    this.#limits = {
      maxKeys: limits.maxKeys ?? 100_000,
      maxValuesPerKey: limits.maxValuesPerKey ?? 1_024,
      maxBytesPerKey: limits.maxBytesPerKey ?? 4 * 1_048_576,
      maxTotalBytes: limits.maxTotalBytes ?? 64 * 1_048_576,
      maxListenersPerKey: limits.maxListenersPerKey ?? 256,
      maxTotalListeners: limits.maxTotalListeners ?? 65_536,
      maxBytesPerOrigin: limits.maxBytesPerOrigin ?? 4 * 1_048_576,
      maxListenersPerNodePerKey: limits.maxListenersPerNodePerKey ?? 4,
      maxListenersPerOriginPerKey: limits.maxListenersPerOriginPerKey ?? 16,
      maxListenersPerOrigin: limits.maxListenersPerOrigin ?? 1_024,
    };
    this.#slotBytes = Math.ceil(
      this.#limits.maxBytesPerKey / this.#limits.maxValuesPerKey,
    );
    this.#types = types;
    this.quietRefreshTypes = [...types?.values() ?? []]
      .filter((type) => type.quietRefresh)
      .map((type) => type.id)
      .sort((a, b) => a - b)
      .slice(0, MAX_QUIET_REFRESH_TYPES);
  }

  /**
   * The value types whose refreshes this store does not push to listeners
   * (sorted, at most {@link MAX_QUIET_REFRESH_TYPES}): `listen` replies name
   * them (`qr`), so that listeners know which silence means nothing here.
   */
  readonly quietRefreshTypes: readonly number[];

  /** Totals, for metrics. */
  stats(): { keys: number; values: number; bytes: number; listeners: number } {
    let values = 0;
    if (this.#keys !== undefined) {
      for (const entry of this.#keys.values()) values += entry.values.size;
    }
    return {
      keys: this.#keys?.size ?? 0,
      values,
      bytes: this.#totalBytes,
      listeners: this.#totalListeners,
    };
  }

  #entry(key: InfoHash, create: boolean): KeyEntry | undefined {
    const hex = key.toString();
    let entry = this.#keys?.get(hex);
    if (
      entry === undefined && create &&
      (this.#keys?.size ?? 0) < this.#limits.maxKeys
    ) {
      entry = {
        key,
        values: new Map(),
        listeners: new Map(),
        listenersPerNode: new Map(),
        valueShares: new OriginShares(),
        listenerShares: new OriginShares(),
        bytes: 0,
      };
      (this.#keys ??= new Map()).set(hex, entry);
    }
    return entry;
  }

  #notify(
    entry: KeyEntry,
    nowMs: number,
    make: (listener: Listener) => ListenerNotice | undefined,
  ): ListenerNotice[] {
    const notices: ListenerNotice[] = [];
    for (const listener of entry.listeners.values()) {
      if (listener.expiresMs <= nowMs) continue;
      const notice = make(listener);
      if (notice !== undefined) notices.push(notice);
    }
    return notices;
  }

  /**
   * Stores (or refreshes, or replaces) a value.
   *
   * @param key The InfoHash to store the value under.
   * @param value The value as received; its type decides its lifetime and size limit.
   * @param createdMs Claimed creation time (the earlier of it and `nowMs` counts).
   * @param nowMs Current time.
   * @param origin The sender's IP address, for the per-origin quota and the
   * key's fair shares; absent for values the node stores for itself.
   * @returns What happened, and pushes for listeners (including expiry
   * notices for values pushed out to make room).
   */
  store(
    key: InfoHash,
    value: DhtValue,
    createdMs: number,
    nowMs: number,
    origin?: string,
  ): { outcome: StoreOutcome; notices: ListenerNotice[] } {
    const type = valueTypeOf(value.type, this.#types);
    const size = valueStorageSize(value);
    if (size > type.maxBytes) return { outcome: "rejected-size", notices: [] };
    const created = Math.min(createdMs, nowMs);
    const expiresMs = created + type.lifetimeMs;
    if (expiresMs <= nowMs) {
      return { outcome: "rejected-expired", notices: [] };
    }
    const entry = this.#entry(key, true);
    if (entry === undefined) return { outcome: "rejected-quota", notices: [] };
    const existing = entry.values.get(value.id);
    if (existing !== undefined && sameContent(existing.value, value)) {
      // A repeated put counts from its creation time, so re-replication by
      // other storing nodes never makes a value outlive its publisher.
      return this.#refreshStored(entry, existing, expiresMs, nowMs);
    }
    if (existing !== undefined && !this.#mayReplace(existing.value, value)) {
      return { outcome: "rejected-edit", notices: [] };
    }
    const who = origin === undefined ? LOCAL_ORIGIN : originOf(origin);
    const freed = existing?.size ?? 0;
    const originBytes = origin === undefined
      ? 0
      : (this.#originBytes?.get(who.origin) ?? 0) + size -
        (existing?.origin === who.origin ? existing.size : 0);
    if (
      originBytes > this.#limits.maxBytesPerOrigin ||
      this.#totalBytes - freed + size > this.#limits.maxTotalBytes
    ) {
      this.#dropIfEmpty(entry);
      return { outcome: "rejected-quota", notices: [] };
    }
    const evicted = this.#makeRoom(entry, who, size, existing);
    if (evicted === undefined) {
      this.#dropIfEmpty(entry);
      return { outcome: "rejected-quota", notices: [] };
    }
    const notices = this.#removeValues(entry, evicted, nowMs);
    if (existing !== undefined) this.#forget(entry, existing);
    const stored: StoredValue = {
      value,
      createdMs: created,
      expiresMs,
      size,
      share: who,
      ...(origin === undefined ? {} : { origin: who.origin }),
    };
    entry.values.set(value.id, stored);
    entry.valueShares.add(who, size + this.#slotBytes);
    if (stored.origin !== undefined) {
      const byOrigin = this.#originBytes ??= new Map();
      byOrigin.set(stored.origin, (byOrigin.get(stored.origin) ?? 0) + size);
    }
    if (this.#expiryLowerBoundMs !== undefined) {
      this.#expiryLowerBoundMs = Math.min(this.#expiryLowerBoundMs, expiresMs);
    }
    entry.bytes += size;
    this.#totalBytes += size;
    notices.push(...this.#notify(
      entry,
      nowMs,
      (listener) =>
        matchesQuery(value, listener.query)
          ? { listener, key: entry.key, values: [value] }
          : undefined,
    ));
    return { outcome: existing === undefined ? "stored" : "replaced", notices };
  }

  /**
   * The values to push out so that a value of `size` bytes from `who` fits
   * in the key's slots and bytes: each the newest of the heaviest origin
   * ({@link OriginShares.heavierThan}), as long as `who` stays lighter.
   * Undefined when it cannot fit without `who` taking more than its share;
   * nothing is changed then.
   */
  #makeRoom(
    entry: KeyEntry,
    who: Origin,
    size: number,
    existing: StoredValue | undefined,
  ): StoredValue[] | undefined {
    const limits = this.#limits;
    let count = entry.values.size + (existing === undefined ? 1 : 0);
    let bytes = entry.bytes - (existing?.size ?? 0) + size;
    const chosen: StoredValue[] = [];
    const weight = size + this.#slotBytes;
    if (existing !== undefined) {
      entry.valueShares.remove(existing.share, existing.size + this.#slotBytes);
    }
    while (count > limits.maxValuesPerKey || bytes > limits.maxBytesPerKey) {
      const victimOrigin = entry.valueShares.heavierThan(who, weight);
      const victim = victimOrigin === undefined
        ? undefined
        : this.#newestOf(entry, victimOrigin, chosen, existing);
      if (victim === undefined) break;
      chosen.push(victim);
      entry.valueShares.remove(victim.share, victim.size + this.#slotBytes);
      count -= 1;
      bytes -= victim.size;
    }
    // Only a dry run so far: the shares go back as they were.
    for (const victim of chosen) {
      entry.valueShares.add(victim.share, victim.size + this.#slotBytes);
    }
    if (existing !== undefined) {
      entry.valueShares.add(existing.share, existing.size + this.#slotBytes);
    }
    const fits = count <= limits.maxValuesPerKey &&
      bytes <= limits.maxBytesPerKey;
    return fits ? chosen : undefined;
  }

  #newestOf(
    entry: KeyEntry,
    who: Origin,
    skip: readonly StoredValue[],
    existing: StoredValue | undefined,
  ): StoredValue | undefined {
    let newest: StoredValue | undefined;
    for (const stored of entry.values.values()) {
      if (
        stored.share.origin !== who.origin || stored === existing ||
        skip.includes(stored)
      ) continue;
      if (newest === undefined || stored.createdMs >= newest.createdMs) {
        newest = stored;
      }
    }
    return newest;
  }

  /** Drops `values` from the key (quotas, totals) and tells listeners they expired. */
  #removeValues(
    entry: KeyEntry,
    values: readonly StoredValue[],
    nowMs: number,
  ): ListenerNotice[] {
    if (values.length === 0) return [];
    for (const stored of values) this.#forget(entry, stored);
    return this.#notify(entry, nowMs, (listener) => {
      const ids = values.filter((stored) =>
        matchesQuery(stored.value, listener.query)
      ).map((stored) => stored.value.id);
      return ids.length === 0
        ? undefined
        : { listener, key: entry.key, expired: ids };
    });
  }

  /** Takes one stored value out of the key and every count. */
  #forget(entry: KeyEntry, stored: StoredValue): void {
    entry.values.delete(stored.value.id);
    entry.valueShares.remove(stored.share, stored.size + this.#slotBytes);
    this.#release(stored);
    entry.bytes -= stored.size;
    this.#totalBytes -= stored.size;
  }

  #mayReplace(old: DhtValue, incoming: DhtValue): boolean {
    if (
      old.owner === undefined || incoming.owner === undefined ||
      old.seq === undefined || incoming.seq === undefined
    ) return false;
    return bytesEqual(old.owner, incoming.owner) && incoming.seq > old.seq;
  }

  #refreshStored(
    entry: KeyEntry,
    stored: StoredValue,
    expiresMs: number,
    nowMs: number,
  ): { outcome: StoreOutcome; notices: ListenerNotice[] } {
    stored.expiresMs = Math.max(stored.expiresMs, expiresMs);
    if (valueTypeOf(stored.value.type, this.#types).quietRefresh) {
      return { outcome: "refreshed", notices: [] };
    }
    const notices = this.#notify(
      entry,
      nowMs,
      (listener) =>
        matchesQuery(stored.value, listener.query)
          ? { listener, key: entry.key, refreshed: [stored.value.id] }
          : undefined,
    );
    return { outcome: "refreshed", notices };
  }

  /**
   * Extends a stored value's life by its type's lifetime.
   *
   * @param key The InfoHash the value is stored under.
   * @param valueId Value id.
   * @param nowMs Current time.
   * @returns `found: false` when the key or value is unknown (the node answers 404).
   */
  refresh(
    key: InfoHash,
    valueId: bigint,
    nowMs: number,
  ): { found: boolean; notices: ListenerNotice[] } {
    const entry = this.#entry(key, false);
    const stored = entry?.values.get(valueId);
    if (
      entry === undefined || stored === undefined || stored.expiresMs <= nowMs
    ) {
      return { found: false, notices: [] };
    }
    const type = valueTypeOf(stored.value.type, this.#types);
    const expiresMs = nowMs + type.lifetimeMs;
    return {
      found: true,
      ...this.#refreshStored(entry, stored, expiresMs, nowMs),
    };
  }

  /**
   * Live values at `key` matching `query`.
   *
   * @param key The InfoHash the values are stored under.
   * @param nowMs Current time.
   * @param query Where-filter.
   * @returns The values.
   */
  get(key: InfoHash, nowMs: number, query?: DhtQuery): DhtValue[] {
    const entry = this.#entry(key, false);
    if (entry === undefined) return [];
    const out: DhtValue[] = [];
    for (const stored of entry.values.values()) {
      if (stored.expiresMs > nowMs && matchesQuery(stored.value, query)) {
        out.push(stored.value);
      }
    }
    return out;
  }

  /**
   * Live stored values at `key` with their times (for re-replication).
   *
   * @param key The InfoHash the values are stored under.
   * @param nowMs Current time.
   * @returns Stored values.
   */
  storedValues(key: InfoHash, nowMs: number): StoredValue[] {
    const entry = this.#entry(key, false);
    if (entry === undefined) return [];
    return [...entry.values.values()].filter((stored) =>
      stored.expiresMs > nowMs
    );
  }

  /**
   * Keys that hold at least one value.
   *
   * @returns The keys.
   */
  keys(): InfoHash[] {
    const keys: InfoHash[] = [];
    if (this.#keys === undefined) return keys;
    for (const entry of this.#keys.values()) {
      if (entry.values.size > 0) keys.push(entry.key);
    }
    return keys;
  }

  /**
   * Registers or renews a listener. A new listener is sent the matching
   * values already stored; a renewal only extends the lease and replaces the
   * query.
   *
   * @param key The InfoHash to watch.
   * @param listener Node id, address, socket id and query.
   * @param nowMs Current time.
   * @param origin The sender's IP address; absent for the node's own listens,
   * which only the per-key and total limits bound.
   * @returns Whether it was accepted (limits) and the initial push.
   */
  listen(
    key: InfoHash,
    listener: {
      nodeId: InfoHash;
      address: PeerAddress;
      socketId: number;
      query?: DhtQuery;
    },
    nowMs: number,
    origin?: string,
  ): { accepted: boolean; notices: ListenerNotice[] } {
    const entry = this.#entry(key, true);
    if (entry === undefined) return { accepted: false, notices: [] };
    const who = origin === undefined ? undefined : originOf(origin);
    const id = `${listener.nodeId}:${listener.socketId}`;
    const existing = entry.listeners.get(id);
    if (existing !== undefined && existing.origin?.origin === who?.origin) {
      existing.address = listener.address;
      existing.query = listener.query;
      existing.expiresMs = nowMs + LISTENER_LIFETIME_MS;
      return { accepted: true, notices: [] };
    }
    // The same listen from another origin starts over under that origin's quotas.
    if (existing !== undefined) this.#dropListener(entry, id, existing);
    const evicted = who === undefined
      ? (entry.listeners.size < this.#limits.maxListenersPerKey &&
          this.#totalListeners < this.#limits.maxTotalListeners
        ? []
        : undefined)
      : this.#listenerRoom(entry, who, listener.nodeId);
    if (evicted === undefined) {
      this.#dropIfEmpty(entry);
      return { accepted: false, notices: [] };
    }
    for (const [evictedId, old] of evicted) {
      this.#dropListener(entry, evictedId, old);
    }
    const added: Listener = {
      ...listener,
      expiresMs: nowMs + LISTENER_LIFETIME_MS,
      ...(who === undefined ? {} : { origin: who }),
    };
    entry.listeners.set(id, added);
    const node = listener.nodeId.toString();
    entry.listenersPerNode.set(
      node,
      (entry.listenersPerNode.get(node) ?? 0) + 1,
    );
    this.#totalListeners += 1;
    if (who !== undefined) {
      entry.listenerShares.add(who, 1);
      const originListeners = this.#originListeners ??= new Map();
      originListeners.set(
        who.origin,
        (originListeners.get(who.origin) ?? 0) + 1,
      );
    }
    const values = this.get(key, nowMs, listener.query);
    return {
      accepted: true,
      notices: values.length === 0
        ? []
        : [{ listener: added, key: entry.key, values }],
    };
  }

  /**
   * Whether a new listener from `who` (node `nodeId`) may join the key, and
   * which listeners it pushes out (the newest of the heaviest origin, when
   * the key is full and `who` stays lighter); undefined when it may not.
   */
  #listenerRoom(
    entry: KeyEntry,
    who: Origin,
    nodeId: InfoHash,
  ): [string, Listener][] | undefined {
    const limits = this.#limits;
    if (
      this.#totalListeners >= limits.maxTotalListeners ||
      (this.#originListeners?.get(who.origin) ?? 0) >=
        limits.maxListenersPerOrigin ||
      entry.listenerShares.weightOf(who) >= limits.maxListenersPerOriginPerKey
    ) return undefined;
    const sameNode = entry.listenersPerNode.get(nodeId.toString()) ?? 0;
    if (sameNode >= limits.maxListenersPerNodePerKey) return undefined;
    if (entry.listeners.size < limits.maxListenersPerKey) return [];
    const victimOrigin = entry.listenerShares.heavierThan(who, 1);
    if (victimOrigin === undefined) return undefined;
    let newest: [string, Listener] | undefined;
    for (const [id, listener] of entry.listeners) {
      if (
        listener.origin?.origin === victimOrigin.origin &&
        (newest === undefined || listener.expiresMs >= newest[1].expiresMs)
      ) newest = [id, listener];
    }
    return newest === undefined ? undefined : [newest];
  }

  #dropListener(entry: KeyEntry, id: string, listener: Listener): void {
    entry.listeners.delete(id);
    const node = listener.nodeId.toString();
    const sameNode = (entry.listenersPerNode.get(node) ?? 0) - 1;
    if (sameNode > 0) entry.listenersPerNode.set(node, sameNode);
    else entry.listenersPerNode.delete(node);
    this.#totalListeners -= 1;
    if (listener.origin === undefined) return;
    entry.listenerShares.remove(listener.origin, 1);
    const originListeners = this.#originListeners;
    if (originListeners === undefined) return;
    const left = (originListeners.get(listener.origin.origin) ?? 0) - 1;
    if (left > 0) originListeners.set(listener.origin.origin, left);
    else originListeners.delete(listener.origin.origin);
  }

  /**
   * Removes expired values (telling listeners) and lapsed listeners.
   *
   * @param nowMs Current time.
   * @returns Pushes of expired ids.
   */
  expire(nowMs: number): { notices: ListenerNotice[] } {
    const notices: ListenerNotice[] = [];
    this.#expiryLowerBoundMs = undefined;
    // Deleting the entry being visited (#dropIfEmpty) is safe in a Map's
    // iteration, and nothing here adds keys: no copy of the keys needed.
    if (this.#keys === undefined) return { notices };
    for (const entry of this.#keys.values()) {
      let expired: StoredValue[] | undefined;
      for (const stored of entry.values.values()) {
        if (stored.expiresMs <= nowMs) (expired ??= []).push(stored);
      }
      if (expired !== undefined) {
        for (const stored of expired) this.#forget(entry, stored);
        notices.push(...this.#notify(entry, nowMs, (listener) => {
          const ids = expired!.filter((stored) =>
            matchesQuery(stored.value, listener.query)
          ).map((stored) => stored.value.id);
          return ids.length === 0
            ? undefined
            : { listener, key: entry.key, expired: ids };
        }));
      }
      // Most sweeps find no lapsed listener: look before taking the entries
      // (a pair per listener). Deleting the visited one is safe in a Map's
      // iteration.
      let lapsed = false;
      for (const listener of entry.listeners.values()) {
        if (listener.expiresMs <= nowMs) {
          lapsed = true;
          break;
        }
      }
      if (lapsed) {
        for (const [id, listener] of entry.listeners) {
          if (listener.expiresMs <= nowMs) {
            this.#dropListener(entry, id, listener);
          }
        }
      }
      this.#dropIfEmpty(entry);
    }
    return { notices };
  }

  /**
   * When to run the next {@link ValueStore.expire}: the earliest value expiry,
   * or earlier after a refresh or replace moved it (never later). Cheap: it
   * scans the values only after an {@link ValueStore.expire}.
   *
   * @returns Epoch ms, or undefined when nothing is stored.
   */
  nextExpiryMs(): number | undefined {
    if (this.#expiryLowerBoundMs === undefined) {
      let next = Infinity;
      if (this.#keys !== undefined) {
        for (const entry of this.#keys.values()) {
          for (const stored of entry.values.values()) {
            if (stored.expiresMs < next) next = stored.expiresMs;
          }
        }
      }
      this.#expiryLowerBoundMs = next;
    }
    return this.#expiryLowerBoundMs === Infinity
      ? undefined
      : this.#expiryLowerBoundMs;
  }

  /** Bytes stored for `origin` (for tests and metrics). */
  originBytes(origin: string): number {
    return this.#originBytes?.get(origin) ?? 0;
  }

  #release(stored: StoredValue): void {
    const originBytes = this.#originBytes;
    if (stored.origin === undefined || originBytes === undefined) return;
    const left = (originBytes.get(stored.origin) ?? 0) - stored.size;
    if (left > 0) originBytes.set(stored.origin, left);
    else originBytes.delete(stored.origin);
  }

  #dropIfEmpty(entry: KeyEntry): void {
    if (entry.values.size === 0 && entry.listeners.size === 0) {
      this.#keys?.delete(entry.key.toString());
    }
  }
}
