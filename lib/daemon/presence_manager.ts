/**
 * `PresenceManager`: the seed's presence API, per account — subscribe to
 * buddies, read their state, publish our own — and the
 * `newBuddyNotification` event.
 *
 * @example Listen for buddy changes
 * ```ts
 * import type { Daemon } from "./daemon.ts";
 *
 * function watch(daemon: Daemon, accountId: string, buddy: string) {
 *   daemon.presence.on("newBuddyNotification", (n) => {
 *     console.log(n.buddyUri, n.status, n.lineStatus);
 *   });
 *   daemon.presence.subscribeBuddy(accountId, buddy, true);
 * }
 * ```
 *
 * @module
 */
import { parseUri } from "../identity/uri.ts";
import type { BuddyDevice, BuddyStatus } from "./account.ts";
import type { ManagedAccount } from "./managed_account.ts";
import { TypedEventTarget } from "./typed_event_target.ts";

/** Detail of `newBuddyNotification`. */
export interface NewBuddyNotification {
  /** Our account that subscribed to the buddy (a daemon may run several). */
  readonly accountId: string;
  /** The buddy's account id (40 hex). */
  readonly buddyUri: string;
  /** 0 offline, 1 on the DHT, 2 connected by a direct channel. */
  readonly status: 0 | 1 | 2;
  /** The buddy's note (empty when offline). */
  readonly lineStatus: string;
}

/** Events of the {@link PresenceManager}. */
export interface PresenceEventMap {
  /** A subscribed buddy's status or note changed (or was replayed on subscribe). */
  newBuddyNotification: NewBuddyNotification;
}

/**
 * The presence API of a daemon's accounts, addressed by account id:
 * subscribe to buddies, read their status, publish our own. Changes arrive
 * as `newBuddyNotification` events.
 */
export class PresenceManager extends TypedEventTarget<PresenceEventMap> {
  readonly #account: (accountId: string) => ManagedAccount;

  /**
   * The API over the daemon's accounts.
   *
   * @param account Looks up a running account (throws UnknownAccountError).
   */
  constructor(account: (accountId: string) => ManagedAccount) {
    super();
    this.#account = account;
  }

  /**
   * Subscribes to (or unsubscribes from) a buddy's presence. Subscribing
   * replays the current state if the buddy is online. Banned contacts are
   * not tracked.
   *
   * @param accountId Our account.
   * @param uri The buddy (`jami:…`, `ring:…` or 40 hex).
   * @param flag True to subscribe, false to unsubscribe.
   * @throws {InvalidUriError} If `uri` is malformed.
   * @throws {UnknownAccountError} If the account is unknown.
   * @throws {OwnAccountError} If `uri` is the account itself.
   */
  subscribeBuddy(accountId: string, uri: string, flag: boolean): void {
    const buddy = parseUri(uri).toString();
    this.#account(accountId).subscribeBuddy(buddy, flag);
  }

  /**
   * Subscribes to exactly `uris` (others are unsubscribed).
   *
   * @param accountId Our account.
   * @param uris Contact URIs of the buddies to follow, in any spelling {@link parseUri} accepts.
   * @throws {InvalidUriError} If any uri is malformed (nothing changes then).
   */
  setSubscriptions(accountId: string, uris: readonly string[]): void {
    const account = this.#account(accountId);
    const wanted = new Set(uris.map((uri) => parseUri(uri).toString()));
    for (const { buddy } of account.getSubscriptions()) {
      if (!wanted.has(buddy)) account.subscribeBuddy(buddy, false);
    }
    for (const buddy of wanted) {
      if (buddy !== account.id) account.subscribeBuddy(buddy, true);
    }
  }

  /**
   * The subscribed buddies and their state.
   *
   * @param accountId Our account.
   * @returns `{buddy, status, lineStatus}` per subscription.
   */
  getSubscriptions(accountId: string): BuddyStatus[] {
    return this.#account(accountId).getSubscriptions();
  }

  /**
   * The devices of a subscribed buddy (per-device presence).
   *
   * @param accountId Our account.
   * @param uri Contact URI of a buddy `accountId` subscribed to.
   * @returns Its devices as last seen.
   */
  getDevices(accountId: string, uri: string): BuddyDevice[] {
    return this.#account(accountId).getDevices(parseUri(uri).toString());
  }

  /**
   * Publishes our presence: status 0 hides this device (a signed goodbye),
   * any other status announces it. The note goes as PIDF to every linked
   * device of a contact; the public announcement carries none.
   *
   * @param accountId Our account.
   * @param status 0 hides this device; any other value announces it.
   * @param note Status note, at most 256 characters.
   * @throws {RangeError} If the note is too long.
   */
  publish(accountId: string, status: number, note: string): void {
    if (typeof note !== "string" || note.length > 256) {
      throw new RangeError(
        "Cannot publish: note must be at most 256 characters",
      );
    }
    if (!Number.isInteger(status) || status < 0 || status > 2) {
      throw new RangeError("Cannot publish: status must be 0, 1 or 2");
    }
    this.#account(accountId).publish(status, note);
  }
}
