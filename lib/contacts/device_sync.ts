/**
 * Merging a {@link SyncSnapshot} from another device of the same account
 * into this device's state: the pure half of device sync (the account sends
 * snapshots, opens them and does what the merge returns).
 *
 * - Contacts merge record by record ({@link ContactList.merge}); a contact
 *   that became active, confirmed, inactive or banned is reported, and a
 *   settled contact (active or banned) needs no pending request any more.
 * - A pending request the other device handled and no longer holds was
 *   discarded (or replaced) there, so it goes here too.
 * - A pending request the other device holds is adopted unless this device
 *   already handled it, knows the sender as a contact or ban, or is full.
 * - The ids the other device handled are remembered; our outbox entries
 *   among them are settled.
 * - Outbox entries the other device is sending are adopted (unless known,
 *   handled, expired or the outbox is full), first due one
 *   `retryInitialMs` from now, after the sender's own first try.
 *
 * The merge changes contacts, requests and the seen-set in place; it leaves
 * the outbox to the caller, who drops {@link DeviceSyncResult.settled},
 * then adds {@link DeviceSyncResult.adopted} (watching their targets).
 *
 * @example A contact added on the laptop reaches the phone
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeSyncSnapshot } from "./device_sync.ts";
 * import { emptyAccountState } from "./account_state.ts";
 * import { decodeSyncSnapshot, encodeSyncSnapshot } from "./sync_snapshot.ts";
 *
 * const laptop = emptyAccountState();
 * laptop.contacts.add("b".repeat(40), 1_000);
 * const snapshot = decodeSyncSnapshot(encodeSyncSnapshot(laptop, 2_000));
 * const phone = emptyAccountState();
 * const result = mergeSyncSnapshot(phone, snapshot, {
 *   accountId: "a".repeat(40),
 *   nowMs: 3_000,
 *   retryInitialMs: 30_000,
 * });
 * assert.deepEqual(result.events, [
 *   { type: "contactAdded", uri: "b".repeat(40), confirmed: false },
 * ]);
 * assert.ok(phone.contacts.isActive("b".repeat(40)));
 * ```
 *
 * @module
 */
import {
  type AccountState,
  MAX_OUTBOX_ENTRIES,
  MAX_PENDING_REQUESTS,
  type OutboxEntry,
} from "./account_state.ts";
import type { SyncSnapshot } from "./sync_snapshot.ts";
import { OWN_SENDER, rememberSeenId } from "../trust/seen_ids.ts";

/** An event a merge reports (the account emits it once the state is persisted). */
export type DeviceSyncEvent =
  | {
    readonly type: "contactAdded";
    readonly uri: string;
    readonly confirmed: boolean;
  }
  | {
    readonly type: "contactRemoved";
    readonly uri: string;
    readonly banned: boolean;
  }
  | {
    readonly type: "incomingTrustRequest";
    readonly from: string;
    readonly payload: Uint8Array;
    readonly receiveTime: number;
  };

/** Options of {@link mergeSyncSnapshot}. */
export interface MergeSyncOptions {
  /** This account's id hex (a snapshot never makes it its own contact). */
  readonly accountId: string;
  /** Current time, epoch ms. */
  readonly nowMs: number;
  /** An adopted outbox entry is first due this long from now, in ms. */
  readonly retryInitialMs: number;
}

/** What a merge changed and what the caller must do about it. */
export interface DeviceSyncResult {
  /** Events, in order. */
  readonly events: DeviceSyncEvent[];
  /** Contacts now banned (their links must be closed), in merge order. */
  readonly banned: string[];
  /** Ids of our outbox entries the other device handled: drop them, in order. */
  readonly settled: string[];
  /** Outbox entries to add, in order, after dropping {@link DeviceSyncResult.settled}. */
  readonly adopted: OutboxEntry[];
  /** A pending request was discarded (the state changed with no event). */
  readonly discarded: boolean;
}

/**
 * Merges a snapshot from another device of this account (see the module doc).
 *
 * @param state This device's state; contacts, requests and seen-set change in place.
 * @param snapshot The decoded snapshot (its outbox entries are handed back adopted).
 * @param options Own id, time and retry delay.
 * @returns Events, bans, outbox changes and whether a request was discarded.
 */
export function mergeSyncSnapshot(
  state: AccountState,
  snapshot: SyncSnapshot,
  options: MergeSyncOptions,
): DeviceSyncResult {
  const events: DeviceSyncEvent[] = [];
  const banned = mergeContacts(state, snapshot, options.accountId, events);
  const discarded = dropDiscardedRequests(state, snapshot);
  adoptRequests(state, snapshot, options.nowMs, events);
  const settled: string[] = [];
  const { nowMs } = options;
  for (const id of snapshot.seen) {
    if (!state.seen.has(id)) {
      rememberSeenId(state, id, OWN_SENDER, nowMs, nowMs, () => true);
    }
    if (state.outbox.has(id) && !settled.includes(id)) settled.push(id);
  }
  const adopted = adoptOutbox(state, snapshot, settled, options);
  return { events, banned, settled, adopted, discarded };
}

function mergeContacts(
  state: AccountState,
  snapshot: SyncSnapshot,
  accountId: string,
  events: DeviceSyncEvent[],
): string[] {
  const banned: string[] = [];
  for (const incoming of snapshot.contacts) {
    if (incoming.uri === accountId) continue;
    const before = state.contacts.get(incoming.uri);
    const merged = state.contacts.merge(incoming);
    if (merged === undefined) continue;
    const wasActive = before !== undefined &&
      before.addedMs > before.removedMs;
    const isActive = merged.addedMs > merged.removedMs;
    if (isActive && (!wasActive || merged.confirmed !== before?.confirmed)) {
      events.push({
        type: "contactAdded",
        uri: merged.uri,
        confirmed: merged.confirmed,
      });
    } else if (!isActive && (wasActive || merged.banned !== before?.banned)) {
      events.push({
        type: "contactRemoved",
        uri: merged.uri,
        banned: merged.banned,
      });
    }
    // A settled contact needs no pending request any more.
    if (isActive || merged.banned) state.requests.delete(merged.uri);
    if (merged.banned) banned.push(merged.uri);
  }
  return banned;
}

/** A request the other device handled and no longer holds was discarded (or replaced) there. */
function dropDiscardedRequests(
  state: AccountState,
  snapshot: SyncSnapshot,
): boolean {
  const held = new Set(snapshot.requests.map((request) => request.id));
  const handled = new Set(snapshot.seen);
  let discarded = false;
  for (const [from, request] of [...state.requests]) {
    if (handled.has(request.id) && !held.has(request.id)) {
      state.requests.delete(from);
      discarded = true;
    }
  }
  return discarded;
}

function adoptRequests(
  state: AccountState,
  snapshot: SyncSnapshot,
  nowMs: number,
  events: DeviceSyncEvent[],
): void {
  for (const request of snapshot.requests) {
    if (
      state.requests.has(request.from) ||
      state.seen.has(request.id) ||
      state.contacts.isActive(request.from) ||
      state.contacts.isBanned(request.from) ||
      state.requests.size >= MAX_PENDING_REQUESTS
    ) continue;
    state.requests.set(request.from, request);
    rememberSeenId(state, request.id, OWN_SENDER, nowMs, nowMs, () => true);
    events.push({
      type: "incomingTrustRequest",
      from: request.from,
      payload: request.payload,
      receiveTime: request.receivedMs,
    });
  }
}

/** The snapshot's outbox entries to adopt, as if `settled` were dropped first. */
function adoptOutbox(
  state: AccountState,
  snapshot: SyncSnapshot,
  settled: readonly string[],
  options: MergeSyncOptions,
): OutboxEntry[] {
  const gone = new Set(settled);
  const adopted: OutboxEntry[] = [];
  const adoptedIds = new Set<string>();
  for (const entry of snapshot.outbox) {
    const held = (state.outbox.has(entry.id) && !gone.has(entry.id)) ||
      adoptedIds.has(entry.id);
    const size = state.outbox.size - gone.size + adopted.length;
    if (
      held || state.seen.has(entry.id) || size >= MAX_OUTBOX_ENTRIES ||
      entry.expiresMs <= options.nowMs
    ) continue;
    // Retry it from here too, after the sender's own first try.
    entry.nextMs = options.nowMs + options.retryInitialMs;
    adopted.push(entry);
    adoptedIds.add(entry.id);
  }
  return adopted;
}
