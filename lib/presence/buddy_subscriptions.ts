/**
 * `BuddySubscriptions`: the accounts whose presence the user asked to follow
 * (Jami's `subscribeBuddy`), and what they are told: status 0, 1 or 2 and
 * the line status, on changes only, through `newBuddyNotification`.
 *
 * A subscription watches the buddy on the DHT ({@link WatchList}) and, with
 * direct links on, links to each of its online devices; a buddy linked
 * directly is at status 2 with the note its device sent over the link,
 * otherwise it is what the DHT shows ({@link dhtPresence}). A new
 * subscriber is told the current state at once. Banned accounts are never
 * followed.
 *
 * While the one device of a buddy that its tracker knows is online and
 * linked, the buddy's DHT listen is paused ({@link BuddySubscriptions.settle},
 * `BuddyTracker.pause`): the links' keepalive notices a silent device
 * within its dead timer, and listening would only hear the devices'
 * re-signed records. When a link closes the listen resumes with a `get`;
 * if the device closed the link itself (a clean shutdown: its goodbye is
 * already stored), the subscriber is told nothing until that `get` ended,
 * so it sees status 2, then 0, as with the listen running.
 *
 * @module
 */
import type { ConnectionManager } from "../channel/connection_manager.ts";
import type { ChannelCloseReason } from "../channel/secure_channel.ts";
import type { BuddyTracker, TrackedDevice } from "./buddy_tracker.ts";
import {
  type BuddyPresence,
  dhtPresence,
  lineStatus,
  type WatchList,
  type WatchReason,
} from "./watch_list.ts";

/** One device of a buddy, for `getDevices`. */
export interface BuddyDevice {
  /** Device id hex. */
  readonly device: string;
  /**
   * Device name: from a named certificate the account gave us in a sealed box
   * (a request, confirmation or sync), else empty (announcements carry none).
   */
  readonly name: string;
  /** Announced and alive. */
  readonly online: boolean;
  /** The note in the device's newest announcement. */
  readonly note: string;
  /** Linked directly (a channel is up). */
  readonly connected: boolean;
}

/** A buddy's state for `getSubscriptions`. */
export interface BuddyStatus {
  /** The buddy's account id. */
  readonly buddy: string;
  /** 0 offline, 1 on the DHT, 2 connected. */
  readonly status: 0 | 1 | 2;
  /** The note shown: the linked device's, else the newest online announcement's ("" offline). */
  readonly lineStatus: string;
}

/** The notification a subscriber gets when a buddy's presence changes. */
export interface BuddyNotification {
  /** Event discriminant, as Jami names the signal. */
  readonly type: "newBuddyNotification";
  /** The buddy's account id hex. */
  readonly buddyUri: string;
  /** 0 offline, 1 on the DHT, 2 connected. */
  readonly status: 0 | 1 | 2;
  /** The buddy's note ("" offline). */
  readonly lineStatus: string;
}

/** What {@link BuddySubscriptions} runs on. */
export interface BuddySubscriptionsOptions {
  /** The account's watch list (shared with the outbox and device sync). */
  readonly watches: WatchList;
  /** The direct links, while running with links on. */
  links(): ConnectionManager | undefined;
  /** True for a banned account: never followed nor linked. */
  isBanned(uri: string): boolean;
  /** Watches `uri` for `reason` if the account is running. */
  watch(uri: string, reason: WatchReason): void;
  /** Tells the subscriber. */
  emit(notification: BuddyNotification): void;
  /**
   * The name of a device of `uri` as a named certificate we were given in a
   * sealed box tells it (announced certificates carry no name), if any.
   */
  deviceName?(uri: string, deviceId: string): string | undefined;
}

/** The buddies the user follows, their presence and their links. */
export class BuddySubscriptions {
  readonly #options: BuddySubscriptionsOptions;
  readonly #uris = new Set<string>();
  /** Buddies whose resumed tracker is looking up: told nothing meanwhile. */
  readonly #settling = new Set<string>();

  /**
   * No subscriptions yet.
   *
   * @param options The watch list, the links and where notifications go.
   */
  constructor(options: BuddySubscriptionsOptions) {
    this.#options = options;
  }

  /** The followed account ids, in subscription order. */
  get uris(): ReadonlySet<string> {
    return this.#uris;
  }

  /**
   * Follows `uri` (a banned one is ignored), tells its current state at once
   * and links its online devices.
   *
   * @param uri Account id hex.
   */
  subscribe(uri: string): void {
    const { watches, isBanned, watch, emit } = this.#options;
    if (isBanned(uri)) return;
    this.#uris.add(uri);
    watch(uri, "subscription");
    const tracker = watches.tracker(uri);
    if (tracker === undefined) return;
    const presence = watches.replay(uri);
    if (presence !== undefined) {
      emit({
        type: "newBuddyNotification",
        buddyUri: uri,
        status: presence.status,
        lineStatus: presence.note,
      });
    }
    for (const device of tracker.devices()) this.linkDevice(uri, device);
  }

  /**
   * Stops following `uri` and closes its links.
   *
   * @param uri Account id hex.
   */
  unsubscribe(uri: string): void {
    this.#uris.delete(uri);
    this.#options.watches.unwatch(uri, "subscription");
    this.#options.links()?.disconnect(uri);
  }

  /**
   * Status and note of a buddy: 2 while linked, else what the DHT says.
   *
   * @param uri Account id hex.
   * @param tracker Its tracker.
   * @returns The presence to show.
   */
  presenceOf(uri: string, tracker: BuddyTracker): BuddyPresence {
    const link = this.#options.links()?.status(uri);
    if (link?.connected) {
      return { status: 2, note: link.note ?? lineStatus(tracker) };
    }
    return dhtPresence(tracker);
  }

  /**
   * Tells the subscriber of `uri` its new presence, if it changed.
   *
   * @param uri Account id hex.
   */
  notify(uri: string): void {
    if (this.#settling.has(uri)) {
      // Only the status 1 between a clean close and the goodbye is held.
      const tracker = this.#options.watches.tracker(uri);
      if (tracker !== undefined && this.presenceOf(uri, tracker).status === 1) {
        return;
      }
      this.#settling.delete(uri);
    }
    const presence = this.#options.watches.notification(uri);
    if (presence === undefined) return;
    this.#options.emit({
      type: "newBuddyNotification",
      buddyUri: uri,
      status: presence.status,
      lineStatus: presence.note,
    });
  }

  /**
   * Pauses the DHT listen of a followed buddy while its one known device is
   * online and linked (and the buddy is watched for nothing else), and
   * resumes it otherwise. Call it when a link opens or closes and when a
   * device comes or goes.
   *
   * @param uri The buddy's account id hex.
   * @param closeReason Why a link of it just closed, if one did: after
   *   `"remote"` (the device closed it, as on a clean shutdown) the
   *   subscriber is told nothing until the resumed tracker's look-up ended.
   */
  settle(uri: string, closeReason?: ChannelCloseReason): void {
    const tracker = this.#options.watches.tracker(uri);
    const links = this.#options.links();
    if (tracker === undefined) return;
    if (links !== undefined && this.#vouched(uri, tracker, links)) {
      tracker.pause();
      return;
    }
    // Not paused: this only cancels a pause still waiting.
    if (!tracker.paused) return tracker.resume();
    if (closeReason === "remote") this.#settling.add(uri);
    tracker.resume(() => {
      this.#settling.delete(uri);
      this.notify(uri);
    });
  }

  /**
   * Whether a link vouches for the buddy (see {@link BuddySubscriptions.settle}):
   * its tracker knows one device, online, and that is the one device of the
   * buddy linked. With two devices known, one could revoke the other
   * unheard; a device the tracker does not know linking to us (a new one,
   * which may bring a revocation list) ends the pause.
   */
  #vouched(
    uri: string,
    tracker: BuddyTracker,
    links: ConnectionManager,
  ): boolean {
    const { watches } = this.#options;
    if (
      !this.#uris.has(uri) || !watches.isWatchedFor(uri, "subscription") ||
      watches.isWatchedFor(uri, "outbox") || watches.isWatchedFor(uri, "self")
    ) return false;
    if (!links.status(uri).connected) return false;
    const linked = links.linkedDevices(uri);
    const known = tracker.devices();
    return known.length === 1 && known[0].online && linked.length === 1 &&
      linked[0] === known[0].certificate.deviceId.toString();
  }

  /**
   * Links an online device of a followed buddy; stops redialing a gone one.
   *
   * @param uri The buddy's account id hex.
   * @param device The device as its tracker sees it.
   */
  linkDevice(uri: string, device: TrackedDevice): void {
    const connections = this.#options.links();
    if (connections === undefined) return;
    if (
      device.online && this.#uris.has(uri) && !this.#options.isBanned(uri)
    ) {
      connections.connect(device.certificate, device.announcement.endpoints);
    } else if (!device.online) {
      connections.forget(device.certificate.deviceId.toString());
    }
  }

  /**
   * The devices of a watched buddy, as its tracker sees them.
   *
   * @param uri Account id hex.
   * @returns Device id, name, online, note, linked (empty if not watched).
   */
  devices(uri: string): BuddyDevice[] {
    const tracker = this.#options.watches.tracker(uri);
    const linked = new Set(this.#options.links()?.linkedDevices(uri));
    return (tracker?.devices() ?? []).map((device) => ({
      device: device.certificate.deviceId.toString(),
      name: device.certificate.name ||
        (this.#options.deviceName?.(
          uri,
          device.certificate.deviceId.toString(),
        ) ?? ""),
      online: device.online,
      note: device.announcement.note,
      connected: linked.has(device.certificate.deviceId.toString()),
    }));
  }

  /**
   * Every followed buddy and its presence now.
   *
   * @returns One status per subscription, in subscription order.
   */
  statuses(): BuddyStatus[] {
    return [...this.#uris].map((uri) => {
      const tracker = this.#options.watches.tracker(uri);
      if (tracker === undefined) {
        return { buddy: uri, status: 0, lineStatus: "" };
      }
      const { status, note } = this.presenceOf(uri, tracker);
      return { buddy: uri, status, lineStatus: note };
    });
  }
}
