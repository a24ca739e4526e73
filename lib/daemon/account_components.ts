/**
 * What an `Account` runs on: its keys on this device, and the seams
 * (DHT, clock, randomness, storage, streams) the daemon or the simulator
 * hands it; and the counters it keeps for reports.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import type { AccountKeys } from "../identity/account_keys.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import type { RandomBytes } from "../rng.ts";
import type { AccountStateStore } from "../contacts/account_state.ts";
import type { PresenceProfile } from "../presence/presence_profile.ts";
import type { StreamNetwork } from "../channel/byte_stream.ts";
import type { PunchedPaths } from "../channel/link_socket.ts";
import type { AccountEvent } from "./account_event.ts";

/** An account's keys on this device. */
export interface AccountIdentity {
  /** Account keys (the archive holds them on every device). */
  readonly account: AccountKeys;
  /** This device's keys. */
  readonly device: DeviceKeys;
  /** The account's certificate for this device. */
  readonly certificate: DeviceCertificate;
}

/** What an account runs on. */
export interface AccountComponents {
  /** Keys and certificate. */
  readonly identity: AccountIdentity;
  /** The DHT the account announces, watches and delivers on. */
  readonly dht: DhtClient;
  /** The clock of every retry, sync and goodbye timer of the account. */
  readonly clock: Clock;
  /** Randomness for message ids and sealing. */
  readonly randomBytes: RandomBytes;
  /** Presence and delivery parameters. */
  readonly profile: PresenceProfile;
  /** Where the account's state is kept across restarts. */
  readonly store: AccountStateStore;
  /** Receives every event. */
  readonly emit: (event: AccountEvent) => void;
  /**
   * Told when a save nobody awaits fails (a background write, e.g. after a
   * received message); changes since the last good save may be lost.
   * @default {ignore it}
   */
  readonly onSaveError?: (error: unknown) => void;
  /** Called around asynchronous work (the simulator waits for it). */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /**
   * Direct links to contacts' devices (status 2) go over these streams when
   * the profile enables channels; none: status stays 0 or 1.
   */
  readonly streams?: StreamNetwork;
  /** The daemon's DHT socket shared for links through NATs; none: TCP links only. */
  readonly paths?: PunchedPaths;
  /** Port the account accepts links on (0: any free one; unset: the last run's when free). */
  readonly channelPort?: number;
  /** Host announced for links, when the listening address is not reachable as is (0.0.0.0). */
  readonly channelHost?: string;
  /**
   * False while our own DHT node hears nothing back (two nodes asked, no
   * answer yet, or offline): a lookup nobody answered then proves nothing
   * about a contact. @default {always true}
   */
  readonly reachable?: () => boolean;
}

/** Counters for reports and tests. */
export interface AccountCounters {
  /** Outbox sends (one per attempt). */
  messagesSent: number;
  /** Sealed boxes put on the DHT. */
  boxesPut: number;
  /** Receipts sent. */
  receiptsSent: number;
  /** Inbox messages dropped, by reason. */
  dropped: {
    malformed: number;
    banned: number;
    quota: number;
    /** Outside the replay window, older than a removal, or answering nothing. */
    stale: number;
    /** A stranger's request without a valid proof-of-work stamp. */
    stamp: number;
    duplicate: number;
  };
  /** Sync snapshots sent to own devices. */
  syncsSent: number;
}
