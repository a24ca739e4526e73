/**
 * Presence and delivery parameters: ours, and Jami's (for the simulator's
 * `--profile jami` baseline).
 *
 * Ours: an announcement lives {@link PresenceProfile.dhtLifetimeMs} on the
 * storing nodes and is refreshed by id 10 s before that (so a crashed device
 * disappears within that lifetime), refreshes are not pushed to listeners
 * (watchers only hear arrivals and expiries), it is re-signed every 7 minutes
 * and its signature is valid 2 minutes beyond that (9 minutes: anyone may
 * re-put a crashed device's last announcement, and it is believed until
 * then), a signed goodbye on clean shutdown that storing
 * nodes keep longer than that validity (so a replay after it is never
 * believed), a confirmation `get` before believing a partial expiry, listens
 * renewed every five minutes at the same nodes, requests also sealed to the
 * target's mailbox, and every request and confirmation retried with backoff
 * until a receipt arrives.
 *
 * Jami (jami-daemon 2023 + OpenDHT 2.4): 10-minute announcements refreshed
 * 10 s before expiry, no goodbye, listens renewed every 20 s, requests only to
 * announced devices, retried only when the target comes online, confirmations
 * sent once, no receipts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JAMI_PROFILE, OUR_PROFILE, presenceValueTypes } from "./presence_profile.ts";
 * assert.ok(OUR_PROFILE.dhtLifetimeMs < JAMI_PROFILE.dhtLifetimeMs);
 * assert.equal(presenceValueTypes(OUR_PROFILE).size, 2);
 * ```
 *
 * @module
 */
import type { ValueType } from "../dht/value_type.ts";

/** DHT value type of announcements (unknown to OpenDHT, which keeps it 10 min). */
export const ANNOUNCEMENT_VALUE_TYPE = 0x6a61;
/**
 * DHT value type of goodbyes: kept by storing nodes until every announcement
 * the device signed before it has expired (see {@link goodbyeLifetimeMs}).
 */
export const GOODBYE_VALUE_TYPE = 0x6a62;
/** DHT value type of account records (revocation list, mailbox certificate): 7 days. */
export const ACCOUNT_RECORD_VALUE_TYPE = 4;

/** Presence and delivery parameters. */
export interface PresenceProfile {
  /** Name, for reports. */
  readonly name: "ours" | "jami";
  /** Storing-node lifetime of an announcement value (its DHT value type). */
  readonly dhtLifetimeMs: number;
  /** Storing nodes do not push refreshes of announcements. */
  readonly quietRefresh: boolean;
  /**
   * Validity of a signed announcement: how long anyone holding it (it is
   * public) can make watchers believe the device online after it crashed.
   * Ours: `resignMs` plus {@link RESIGN_SLACK_MS} plus `clockSkewMs`.
   */
  readonly announcementLifetimeMs: number;
  /** A new signed announcement replaces the old one this often. */
  readonly resignMs: number;
  /** Clock difference between devices that validity windows allow for. */
  readonly clockSkewMs: number;
  /** Send a signed goodbye on clean shutdown. */
  readonly goodbye: boolean;
  /** After a partial expiry, wait this long, then `get` to confirm (0: trust the expiry). */
  readonly expiryCheckMs: number;
  /**
   * A device whose announcement refreshes were pushed to us (stock OpenDHT
   * storing nodes push them; ours do not) and then stopped for this long is
   * offline (0: never judged by silence). See `BuddyTrackerOptions.quietOfflineMs`.
   */
  readonly quietOfflineMs: number;
  /**
   * Storing nodes a watcher listens at for a contact's presence. On stock
   * OpenDHT nodes every listen node pushes every refresh (every 14 s), while
   * the silence rule needs one node that pushes; OpenDHT listens at 4.
   */
  readonly listenNodes: number;
  /** DHT listen renewal period. */
  readonly listenRenewMs: number;
  /** DHT listen re-search period. */
  readonly listenSearchMs: number;
  /** DHT permanent-put re-check period. */
  readonly permanentCheckMs: number;
  /** Requests also go to the target's mailbox (reaches offline targets). */
  readonly mailbox: boolean;
  /** Receivers acknowledge with receipts; senders retry with backoff until one arrives. */
  readonly receipts: boolean;
  /** Re-send unconfirmed requests when the target comes online (Jami's only retry). */
  readonly retryOnOnline: boolean;
  /** Confirmations are retried like requests (Jami sends them once). */
  readonly retryConfirmations: boolean;
  /** First retry delay; doubles each time. */
  readonly retryInitialMs: number;
  /** Longest retry delay. */
  readonly retryMaxMs: number;
  /**
   * Online contacts' devices are linked directly (status 2, notes over SIP)
   * when the daemon has a stream network. Off in the Jami profile, whose
   * comparison is about DHT presence.
   */
  readonly channels: boolean;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

/**
 * How long an announcement of ours stays valid after its successor is due
 * (plus clock skew): a re-signed announcement may be late by this much (a
 * watcher that missed its push finds it with the confirmation `get`) without
 * the device looking offline. Validity = `resignMs` + this + `clockSkewMs`,
 * 9 min, so that a goodbye (validity + skew, 10 min) fits the 10 minutes a
 * stock OpenDHT node keeps a value of a type it does not know.
 */
export const RESIGN_SLACK_MS = MINUTE;
const OUR_RESIGN_MS = 7 * MINUTE;
/**
 * Silence after which a device whose refreshes stock nodes pushed is offline:
 * two refresh periods (our 24 s records are refreshed every 14 s) plus 2 s
 * for a round's lookup and the push's way (docs/figures.md, "Presence on
 * stock OpenDHT nodes").
 */
const QUIET_OFFLINE_MS = 30 * SECOND;
const OUR_CLOCK_SKEW_MS = MINUTE;
/**
 * Presence listens at 2 storing nodes, not OpenDHT's 4: half the pushed
 * refreshes on stock nodes (docs/figures.md, "Presence on stock OpenDHT
 * nodes"); a node that stops pushing is checked and replaced at once
 * (`SILENT_NODE_MS` in lib/dht/listens.ts).
 */
const OUR_LISTEN_NODES = 2;

/** Our defaults. */
export const OUR_PROFILE: PresenceProfile = {
  name: "ours",
  dhtLifetimeMs: 24 * SECOND,
  quietRefresh: true,
  announcementLifetimeMs: OUR_RESIGN_MS + RESIGN_SLACK_MS + OUR_CLOCK_SKEW_MS,
  resignMs: OUR_RESIGN_MS,
  clockSkewMs: OUR_CLOCK_SKEW_MS,
  goodbye: true,
  expiryCheckMs: 1_500,
  quietOfflineMs: QUIET_OFFLINE_MS,
  listenNodes: OUR_LISTEN_NODES,
  listenRenewMs: 5 * MINUTE,
  listenSearchMs: 10 * MINUTE,
  permanentCheckMs: 5 * MINUTE,
  mailbox: true,
  receipts: true,
  retryOnOnline: true,
  retryConfirmations: true,
  retryInitialMs: 30 * SECOND,
  retryMaxMs: 30 * MINUTE,
  channels: true,
};

/** Jami's behaviour, for comparison. */
export const JAMI_PROFILE: PresenceProfile = {
  name: "jami",
  dhtLifetimeMs: 10 * MINUTE,
  quietRefresh: false,
  announcementLifetimeMs: 365 * 24 * 60 * MINUTE,
  resignMs: 365 * 24 * 60 * MINUTE,
  clockSkewMs: OUR_CLOCK_SKEW_MS,
  goodbye: false,
  expiryCheckMs: 0,
  quietOfflineMs: 0,
  listenNodes: 4,
  listenRenewMs: 20 * SECOND,
  listenSearchMs: 5 * MINUTE,
  permanentCheckMs: 10 * MINUTE,
  mailbox: false,
  receipts: false,
  retryOnOnline: true,
  retryConfirmations: false,
  retryInitialMs: 0,
  retryMaxMs: 0,
  channels: false,
};

/**
 * How long storing nodes keep a goodbye: past the signed expiry of the last
 * announcement before it (signed at most as late as the goodbye), on a
 * watcher's clock up to `clockSkewMs` behind.
 *
 * @param profile Profile.
 * @returns Storing-node lifetime of a goodbye.
 */
export function goodbyeLifetimeMs(profile: PresenceProfile): number {
  return profile.announcementLifetimeMs + profile.clockSkewMs;
}

/**
 * The value types storing nodes need for `profile` (pass as
 * `DhtNodeConfig.valueTypes`): announcements, and goodbyes if it sends them.
 *
 * @param profile Profile.
 * @returns Type id → type.
 */
export function presenceValueTypes(
  profile: PresenceProfile,
): Map<number, ValueType> {
  const types = new Map<number, ValueType>([[ANNOUNCEMENT_VALUE_TYPE, {
    id: ANNOUNCEMENT_VALUE_TYPE,
    name: "device announcement",
    lifetimeMs: profile.dhtLifetimeMs,
    maxBytes: 4_096,
    quietRefresh: profile.quietRefresh,
  }]]);
  if (profile.goodbye) {
    types.set(GOODBYE_VALUE_TYPE, {
      id: GOODBYE_VALUE_TYPE,
      name: "device goodbye",
      lifetimeMs: goodbyeLifetimeMs(profile),
      maxBytes: 4_096,
      quietRefresh: profile.quietRefresh,
    });
  }
  return types;
}

/**
 * DHT node settings matching `profile` (merge into `DhtNodeConfig`).
 *
 * @param profile Profile.
 * @returns Partial node config.
 */
export function presenceNodeConfig(profile: PresenceProfile): {
  valueTypes: Map<number, ValueType>;
  listenRenewMs: number;
  listenSearchMs: number;
  permanentCheckMs: number;
} {
  return {
    valueTypes: presenceValueTypes(profile),
    listenRenewMs: profile.listenRenewMs,
    listenSearchMs: profile.listenSearchMs,
    permanentCheckMs: profile.permanentCheckMs,
  };
}
