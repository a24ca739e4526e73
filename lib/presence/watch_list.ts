/**
 * `WatchList`: the accounts whose presence an account follows, one
 * {@link BuddyTracker} each, and what the subscriber was last told about
 * them.
 *
 * An account is watched for one or more reasons: the user subscribed to it
 * (`subscription`), an outbox entry waits for it to come online (`outbox`),
 * or it is the account itself, whose other devices get sync snapshots
 * (`self`). Its tracker starts with the first reason and stops (forgetting
 * everything) with the last.
 *
 * Only subscriptions are notified, and only on change: the list remembers
 * the status and note last told, so a tracker event that changes neither is
 * not repeated. The presence told defaults to what the DHT says
 * ({@link dhtPresence}); the account passes its own to add direct links
 * (status 2).
 *
 * @example Two reasons, one tracker
 * ```ts
 * import assert from "node:assert/strict";
 * import { WatchList } from "./watch_list.ts";
 * import type { DhtClient } from "../dht/dht_client.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 *
 * let listens = 0;
 * let cancels = 0;
 * const dht = {
 *   listen() {
 *     listens += 1;
 *     return { cancel: () => (cancels += 1), relocate() {} };
 *   },
 * } as unknown as DhtClient;
 * const watches = new WatchList({
 *   dht,
 *   clock: new ManualClock(),
 *   expiryCheckMs: 1_500,
 *   onChange() {},
 *   onDevice() {},
 * });
 * const bob = "b".repeat(40);
 * watches.watch(bob, "subscription");
 * watches.watch(bob, "outbox");
 * watches.unwatch(bob, "subscription");
 * assert.deepEqual([listens, cancels], [1, 0]);
 * watches.unwatch(bob, "outbox");
 * assert.deepEqual([listens, cancels], [1, 1]);
 * assert.equal(watches.tracker(bob), undefined);
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { RevocationList } from "../identity/revocation_list.ts";
import { BuddyTracker, type TrackedDevice } from "./buddy_tracker.ts";

/** Why an account's presence is followed. */
export type WatchReason = "subscription" | "outbox" | "self";

/** A buddy's presence as its subscriber sees it. */
export interface BuddyPresence {
  /** 0 offline, 1 on the DHT, 2 linked directly. */
  readonly status: 0 | 1 | 2;
  /** The note shown (empty while offline). */
  readonly note: string;
}

/** What a {@link WatchList} runs on and whom it tells. */
export interface WatchListOptions {
  /** The DHT the trackers listen on. */
  readonly dht: DhtClient;
  /** The clock the trackers' expiry checks and validity timers run on. */
  readonly clock: Clock;
  /** See {@link BuddyTrackerOptions.expiryCheckMs}. */
  readonly expiryCheckMs: number;
  /** See {@link BuddyTrackerOptions.reachable}. @default {always true} */
  readonly reachable?: () => boolean;
  /** See {@link BuddyTrackerOptions.quietOfflineMs}. @default {0} */
  readonly quietOfflineMs?: number;
  /** See {@link BuddyTrackerOptions.listenNodes}. @default {4} */
  readonly listenNodes?: number;
  /**
   * The presence a subscriber is told for `uri`; by default
   * {@link dhtPresence} of its tracker.
   */
  readonly presenceOf?: (uri: string, tracker: BuddyTracker) => BuddyPresence;
  /** A watched account's status (0 or 1) changed. */
  onChange(uri: string): void;
  /** A device of a watched account came online, went offline or changed its note. */
  onDevice(uri: string, device: TrackedDevice): void;
  /** A verified revocation list of a watched account was heard. */
  onRevocationList?(uri: string, list: RevocationList): void;
}

/**
 * The note of a buddy: that of its online device with the highest
 * announcement sequence number.
 *
 * @param tracker The buddy's tracker.
 * @returns The note, or "" if no device is online.
 */
export function lineStatus(tracker: BuddyTracker): string {
  let best: TrackedDevice | undefined;
  for (const device of tracker.devices()) {
    if (!device.online) continue;
    if (
      best === undefined || device.announcement.seq > best.announcement.seq
    ) {
      best = device;
    }
  }
  return best?.announcement.note ?? "";
}

/**
 * A buddy's presence from the DHT alone: its tracker's status, and its
 * {@link lineStatus} unless offline.
 *
 * @param tracker The buddy's tracker.
 * @returns Status 0 or 1 and the note.
 */
export function dhtPresence(tracker: BuddyTracker): BuddyPresence {
  const status = tracker.status;
  return { status, note: status === 0 ? "" : lineStatus(tracker) };
}

interface Watch {
  readonly tracker: BuddyTracker;
  readonly reasons: Set<WatchReason>;
  /** What the subscriber was last told; undefined: nothing yet. */
  lastNotified?: BuddyPresence;
}

/** The watched accounts of one account. */
export class WatchList {
  readonly #options: WatchListOptions;
  readonly #watches = new Map<string, Watch>();
  /** Our own node is offline (or just back and re-checking): tell nothing. */
  #held = false;
  /** Bumped by each hold, so a re-check overtaken by a new outage keeps the hold. */
  #holds = 0;

  /**
   * An empty list.
   *
   * @param options See {@link WatchListOptions}.
   */
  constructor(options: WatchListOptions) {
    this.#options = options;
  }

  /**
   * Watches `uri` for `reason`, starting its tracker if it is the first.
   *
   * @param uri Account id hex.
   * @param reason Why.
   */
  watch(uri: string, reason: WatchReason): void {
    let watch = this.#watches.get(uri);
    if (watch === undefined) {
      const tracker: BuddyTracker = new BuddyTracker({
        dht: this.#options.dht,
        clock: this.#options.clock,
        accountId: InfoHash.fromHex(uri),
        expiryCheckMs: this.#options.expiryCheckMs,
        reachable: this.#options.reachable,
        quietOfflineMs: this.#options.quietOfflineMs,
        listenNodes: this.#options.listenNodes,
        onChange: () => this.#options.onChange(uri),
        onDevice: (device) => this.#options.onDevice(uri, device),
        onRevocationList: (list) => this.#options.onRevocationList?.(uri, list),
      });
      watch = { tracker, reasons: new Set() };
      this.#watches.set(uri, watch);
      tracker.start();
    }
    // Only a subscription's links vouch for a paused tracker (see
    // BuddySubscriptions.settle); an outbox or our own devices need it.
    if (reason !== "subscription") watch.tracker.resume();
    watch.reasons.add(reason);
  }

  /**
   * Drops `reason` for `uri`; with the last reason its tracker stops.
   *
   * @param uri Account id hex.
   * @param reason Why it was watched.
   */
  unwatch(uri: string, reason: WatchReason): void {
    const watch = this.#watches.get(uri);
    if (watch === undefined) return;
    watch.reasons.delete(reason);
    if (watch.reasons.size === 0) {
      watch.tracker.stop();
      this.#watches.delete(uri);
    }
  }

  /** Stops every tracker and forgets every watch. */
  clear(): void {
    // A re-check cut short by the stops below must not end in a flush.
    this.#holds += 1;
    for (const watch of this.#watches.values()) watch.tracker.stop();
    this.#watches.clear();
    this.#held = false;
  }

  /** True while notifications are held (our node is offline or re-checking). */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Our own node lost the DHT: from now on {@link WatchList.notification}
   * tells nothing (and records nothing as told), so what trackers conclude
   * from the silence (records lapsing unrefreshed) reaches nobody.
   */
  hold(): void {
    this.#held = true;
    this.#holds += 1;
  }

  /**
   * Our own node hears the DHT again: every tracker looks again
   * ({@link BuddyTracker.recheck}); once all have, the hold ends and
   * `onSettled` runs, whose caller then asks {@link WatchList.notification}
   * for each account, which tells only what differs from what was last
   * told. A new {@link WatchList.hold} meanwhile keeps the hold.
   *
   * @param onSettled Called once the hold ended.
   */
  recheck(onSettled: () => void): void {
    const holds = this.#holds;
    let waiting = this.#watches.size + 1;
    const settle = () => {
      if (--waiting > 0 || holds !== this.#holds) return;
      this.#held = false;
      onSettled();
    };
    for (const watch of [...this.#watches.values()]) {
      watch.tracker.recheck(settle);
    }
    settle();
  }

  /**
   * The tracker of a watched account.
   *
   * @param uri Account id hex.
   * @returns Its tracker, or undefined if not watched.
   */
  tracker(uri: string): BuddyTracker | undefined {
    return this.#watches.get(uri)?.tracker;
  }

  /**
   * True if `uri` is watched for `reason`.
   *
   * @param uri Account id hex.
   * @param reason Why.
   * @returns Whether that reason holds.
   */
  isWatchedFor(uri: string, reason: WatchReason): boolean {
    return this.#watches.get(uri)?.reasons.has(reason) ?? false;
  }

  /**
   * The presence to tell the subscriber of `uri` now, if it changed since
   * it was last told (and records it as told).
   *
   * @param uri Account id hex.
   * @returns The new presence, or undefined: not subscribed, or no change.
   */
  notification(uri: string): BuddyPresence | undefined {
    const watch = this.#watches.get(uri);
    if (
      this.#held || watch === undefined || !watch.reasons.has("subscription")
    ) {
      return undefined;
    }
    const { status, note } = this.#presenceOf(uri, watch.tracker);
    const last = watch.lastNotified;
    if (last !== undefined && last.status === status && last.note === note) {
      return undefined;
    }
    watch.lastNotified = { status, note };
    return watch.lastNotified;
  }

  /**
   * A new subscriber of `uri`: it is told the current presence at once
   * unless offline; offline is recorded as told, so it hears only a change.
   *
   * @param uri Account id hex.
   * @returns The presence to tell now, if any.
   */
  replay(uri: string): BuddyPresence | undefined {
    const watch = this.#watches.get(uri);
    if (watch === undefined) return undefined;
    watch.lastNotified = undefined;
    if (this.#presenceOf(uri, watch.tracker).status !== 0) {
      return this.notification(uri);
    }
    watch.lastNotified = { status: 0, note: "" };
    return undefined;
  }

  #presenceOf(uri: string, tracker: BuddyTracker): BuddyPresence {
    return this.#options.presenceOf?.(uri, tracker) ?? dhtPresence(tracker);
  }
}
