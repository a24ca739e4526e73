/**
 * `Account`: one account running on one device — presence (announcer and
 * buddy trackers), trust requests (outbox, inbox, receipts), contacts and
 * own-device sync. The {@link Daemon} owns accounts and exposes them through
 * its managers; this class holds the protocol logic.
 *
 * Delivery (see the README for the full protocol):
 * - A request or confirmation is an outbox entry, persisted before the call
 *   returns. It is sealed to every known device of the target and to the
 *   target's mailbox, put at their inbox keys, and retried with exponential
 *   backoff (and at once when the target comes online) until the target's
 *   signed receipt arrives, or it expires after 7 days.
 * - Received messages are opened, checked (sender certificate, revocation
 *   list, ban, per-sender quota), deduplicated by id, persisted, and only
 *   then shown and acknowledged with a receipt, so a crash never loses an
 *   acknowledged message and never shows one twice.
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DhtClient, OperationHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import type { AccountKeys } from "../identity/account_keys.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import { InfoHash } from "../identity/info_hash.ts";
import { RevocationList } from "../identity/revocation_list.ts";
import { openSealedBox, sealBox } from "../identity/sealed_box.ts";
import type { RandomBytes } from "../rng.ts";
import {
  type AccountStateStore,
  MAX_OUTBOX_ENTRIES,
  MAX_PEERS,
  MAX_PENDING_REQUESTS,
  MAX_SEEN_IDS,
  type OutboxEntry,
  type PendingRequest,
} from "../contacts/account_state.ts";
import type { Contact } from "../contacts/contact_list.ts";
import { PresenceAnnouncer } from "../presence/announcer.ts";
import { BuddyTracker, type TrackedDevice } from "../presence/buddy_tracker.ts";
import type { PresenceProfile } from "../presence/presence_profile.ts";
import type { StreamNetwork } from "../channel/byte_stream.ts";
import {
  type ConnectionCounters,
  ConnectionManager,
  emptyConnectionCounters,
  endpointOf,
} from "../channel/connection_manager.ts";
import type { ChannelPeer } from "../channel/secure_channel.ts";
import {
  decodeInboxMessage,
  encodeInboxMessage,
  INBOX_LIFETIME_MS,
  INBOX_PURPOSE,
  INBOX_VALUE_TYPE,
  inboxKey,
  type InboxMessage,
  inboxValueId,
  MAX_TRUST_REQUEST_PAYLOAD_BYTES,
  MESSAGE_ID_BYTES,
} from "../trust/inbox_message.ts";
import {
  isMailboxCertificate,
  mailboxCertificate,
  mailboxKeys,
} from "../trust/mailbox.ts";
import {
  OwnAccountError,
  PayloadTooLargeError,
  QuotaExceededError,
} from "./errors.ts";
import {
  decodeSyncSnapshot,
  encodeSyncSnapshot,
} from "../contacts/sync_snapshot.ts";

/** Messages one sender may get processed per hour (spam control, M8). */
export const SENDER_QUOTA_PER_HOUR = 30;
/** How long a message id is remembered after its inbox value can no longer exist. */
const SEEN_RETENTION_MS = INBOX_LIFETIME_MS + 24 * 3_600_000;
/** Longest wait for the goodbye's acknowledgement on stop. */
export const GOODBYE_WAIT_MS = 2_000;

/** Everything an account tells the outside world. */
export type AccountEvent =
  | {
    readonly type: "newBuddyNotification";
    readonly buddyUri: string;
    readonly status: 0 | 1 | 2;
    readonly lineStatus: string;
  }
  | {
    readonly type: "incomingTrustRequest";
    readonly from: string;
    readonly payload: Uint8Array;
    readonly receiveTime: number;
  }
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
    readonly type:
      | "trustRequestDelivered"
      | "trustRequestAccepted"
      | "trustRequestExpired";
    readonly uri: string;
    readonly requestId: string;
  }
  | {
    readonly type: "confirmationDelivered" | "confirmationExpired";
    readonly uri: string;
  };

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
  /** The DHT node. */
  readonly dht: DhtClient;
  /** Time. */
  readonly clock: Clock;
  /** Randomness for message ids and sealing. */
  readonly randomBytes: RandomBytes;
  /** Presence and delivery parameters. */
  readonly profile: PresenceProfile;
  /** Persisted state. */
  readonly store: AccountStateStore;
  /** Receives every event. */
  readonly emit: (event: AccountEvent) => void;
  /** Called around asynchronous work (the simulator waits for it). */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /**
   * Direct links to contacts' devices (status 2) go over these streams when
   * the profile enables channels; none: status stays 0 or 1.
   */
  readonly streams?: StreamNetwork;
  /** Port the account accepts links on (0: any free one). */
  readonly channelPort?: number;
  /** Host announced for links, when the listening address is not reachable as is (0.0.0.0). */
  readonly channelHost?: string;
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
    duplicate: number;
  };
  /** Sync snapshots sent to own devices. */
  syncsSent: number;
}

interface Watch {
  tracker: BuddyTracker;
  reasons: Set<"subscription" | "outbox" | "self">;
  lastNotified?: { status: number; note: string };
}

/** One device of a buddy, for `getDevices`. */
export interface BuddyDevice {
  /** Device id hex. */
  readonly device: string;
  /** Device name from its certificate. */
  readonly name: string;
  /** Announced and alive. */
  readonly online: boolean;
  /** Its note. */
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
  /** Its note. */
  readonly lineStatus: string;
}

/** An account running on this device. */
export class Account {
  /** Account id, 40 hex. */
  readonly id: string;
  /** Account id. */
  readonly accountId: InfoHash;
  /** Direct-link counters (zeros while links are off). */
  get linkCounters(): ConnectionCounters {
    return this.#connections?.counters ?? emptyConnectionCounters();
  }

  /** Counters. */
  readonly counters: AccountCounters = {
    messagesSent: 0,
    boxesPut: 0,
    receiptsSent: 0,
    dropped: { malformed: 0, banned: 0, quota: 0, duplicate: 0 },
    syncsSent: 0,
  };
  readonly #c: AccountComponents;
  readonly #mailboxKeys: DeviceKeys;
  readonly #mailboxCertificate: DeviceCertificate;
  readonly #watches = new Map<string, Watch>();
  readonly #subscriptions = new Set<string>();
  readonly #boxes = new Map<string, Map<string, Uint8Array>>();
  readonly #senderWindow = new Map<
    string,
    { startMs: number; count: number }
  >();
  #announcer?: PresenceAnnouncer;
  #connections?: ConnectionManager;
  #endpoints: readonly string[] = [];
  #inboxListens: OperationHandle[] = [];
  #retryTimer?: Timer;
  #syncTimer?: Timer;
  #running = false;
  #note = "";
  #visible = true;

  /**
   * An account on this device (call {@link Account.start}).
   *
   * @param components See {@link AccountComponents}.
   */
  constructor(components: AccountComponents) {
    this.#c = components;
    this.accountId = components.identity.account.id;
    this.id = this.accountId.toString();
    this.#mailboxKeys = mailboxKeys(components.identity.account);
    this.#mailboxCertificate = mailboxCertificate(
      components.identity.account,
      components.identity.certificate.issuedMs,
    );
  }

  /** The keys and certificate (for export). */
  get identity(): AccountIdentity {
    return this.#c.identity;
  }

  /** This device's id hex. */
  get deviceId(): string {
    return this.#c.identity.device.id.toString();
  }

  /** The persisted state (read it; change it through the methods). */
  get state(): AccountStateStore["state"] {
    return this.#c.store.state;
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.#running;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Publishes presence, listens to the inboxes, resumes the outbox. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const { dht, identity } = this.#c;
    for (const keys of [identity.device, this.#mailboxKeys]) {
      if (keys === this.#mailboxKeys && !this.#c.profile.mailbox) continue;
      this.#inboxListens.push(
        dht.listen(inboxKey(keys.id), (event) => {
          if (event.kind !== "added") return;
          for (const value of event.values) this.#onInboxValue(keys, value);
        }),
      );
    }
    if (this.#c.streams !== undefined && this.#c.profile.channels) {
      this.#startLinks(this.#c.streams);
    } else if (this.#visible) this.#startAnnouncer();
    this.#watch(this.id, "self");
    for (const entry of this.state.outbox.values()) {
      this.#watch(entry.to, "outbox");
    }
    for (const uri of this.#subscriptions) this.#watch(uri, "subscription");
    this.#scheduleRetry(0);
  }

  /** Listens for links, then announces with the endpoint. */
  #startLinks(streams: StreamNetwork): void {
    const connections = new ConnectionManager({
      identity: this.#c.identity,
      clock: this.#c.clock,
      randomBytes: this.#c.randomBytes,
      streams,
      authorize: (peer) => this.#mayLink(peer),
      onChange: (uri) => {
        const watch = this.#watches.get(uri);
        if (watch !== undefined) this.#notifyBuddy(uri, watch);
      },
    });
    this.#connections = connections;
    connections.publish(this.#visible, this.#note);
    const listening = connections.start(this.#c.channelPort ?? 0).then(
      (address) => {
        const host = this.#c.channelHost;
        this.#endpoints = [
          endpointOf(
            host === undefined ? address : { host, port: address.port },
          ),
        ];
      },
      () => {
        // No listener (port taken): we can still dial out.
        this.#endpoints = [];
      },
    );
    void this.#track(listening).then(() => {
      if (this.#connections !== connections || !this.#visible) return;
      if (this.#announcer === undefined) this.#startAnnouncer();
      else if (this.#endpoints.length > 0) {
        // Started meanwhile (by `publish`) without the endpoint: add it.
        this.#announcer.update(this.#note, this.#endpoints);
        this.state.announcementSeq = this.#announcer.seq;
        this.#persist();
      }
    });
  }

  /** A peer that proved its device key may link: a contact or subscription, not banned, not revoked. */
  #mayLink(peer: ChannelPeer): boolean {
    const uri = peer.accountId.toString();
    if (uri === this.id || this.state.contacts.isBanned(uri)) return false;
    if (!this.#subscriptions.has(uri) && !this.state.contacts.isActive(uri)) {
      return false;
    }
    const list = this.#watches.get(uri)?.tracker.revocationList;
    return list === undefined || !list.isRevoked(peer.deviceId);
  }

  /** Status and note of a buddy: 2 while linked, else what the DHT says. */
  #statusOf(uri: string, tracker: BuddyTracker): BuddyStatus {
    const link = this.#connections?.status(uri);
    if (link?.connected) {
      return {
        buddy: uri,
        status: 2,
        lineStatus: link.note ?? this.#lineStatus(tracker),
      };
    }
    const status = tracker.status;
    return {
      buddy: uri,
      status,
      lineStatus: status === 0 ? "" : this.#lineStatus(tracker),
    };
  }

  #startAnnouncer(): void {
    const { dht, clock, identity, profile } = this.#c;
    this.#announcer = new PresenceAnnouncer({
      dht,
      clock,
      accountId: this.accountId,
      device: identity.device,
      certificate: identity.certificate,
      mailbox: profile.mailbox ? this.#mailboxCertificate : undefined,
      revocationList: this.state.revocationList === undefined
        ? undefined
        : RevocationList.decode(this.state.revocationList),
      profile,
      minSeq: this.state.announcementSeq,
    });
    this.#announcer.update(this.#note, this.#endpoints);
    this.#announcer.start();
    this.state.announcementSeq = this.#announcer.seq;
    this.#persist();
  }

  /**
   * Stops everything; with a goodbye when the profile sends one.
   *
   * @returns Resolves once the goodbye was acknowledged (or after {@link GOODBYE_WAIT_MS}) and state is saved.
   */
  stop(): Promise<void> {
    if (!this.#running) return this.#persist();
    const announcer = this.#halt(true);
    const goodbye = new Promise<void>((resolve) => {
      if (announcer === undefined) return resolve();
      const timer = this.#c.clock.setTimer(GOODBYE_WAIT_MS, resolve);
      announcer.stop(() => {
        timer.cancel();
        resolve();
      });
      this.state.announcementSeq = announcer.seq;
    });
    // Links close after the goodbye: a linked watcher then goes from 2
    // straight to 0 instead of passing through 1.
    const connections = this.#connections;
    this.#connections = undefined;
    // Not tracked: the wait is on the clock, which a driver must keep moving.
    return goodbye.then(() => {
      connections?.stop();
      return this.#persist();
    });
  }

  /** Stops at once with no goodbye and no final write (a crash, for tests). */
  crash(): void {
    this.#halt(false);
  }

  /** Stops listens, trackers and timers; returns the announcer to end. */
  #halt(clean: boolean): PresenceAnnouncer | undefined {
    this.#running = false;
    for (const listen of this.#inboxListens) listen.cancel();
    this.#inboxListens = [];
    for (const watch of this.#watches.values()) watch.tracker.stop();
    this.#watches.clear();
    this.#retryTimer?.cancel();
    this.#syncTimer?.cancel();
    // A clean stop closes links only after the goodbye (see `stop`).
    if (!clean) {
      this.#connections?.crash();
      this.#connections = undefined;
    }
    const announcer = this.#announcer;
    this.#announcer = undefined;
    return announcer;
  }

  #track<T>(work: Promise<T>): Promise<T> {
    return this.#c.track ? this.#c.track(work) : work;
  }

  #persist(): Promise<void> {
    return this.#track(this.#c.store.save());
  }

  /** Whole milliseconds (the simulator's clock has fractions). */
  #now(): number {
    return Math.floor(this.#c.clock.now());
  }

  #newId(): string {
    return this.#c.randomBytes(MESSAGE_ID_BYTES).toHex();
  }

  // ---------------------------------------------------------------- presence

  #watch(uri: string, reason: "subscription" | "outbox" | "self"): void {
    if (!this.#running) return;
    let watch = this.#watches.get(uri);
    if (watch === undefined) {
      const tracker: BuddyTracker = new BuddyTracker({
        dht: this.#c.dht,
        clock: this.#c.clock,
        accountId: InfoHash.fromHex(uri),
        expiryCheckMs: this.#c.profile.expiryCheckMs,
        onChange: () => this.#onBuddyChange(uri),
        onDevice: (device) => this.#onBuddyDevice(uri, device),
      });
      watch = { tracker, reasons: new Set() };
      this.#watches.set(uri, watch);
      tracker.start();
    }
    watch.reasons.add(reason);
  }

  #unwatch(uri: string, reason: "subscription" | "outbox" | "self"): void {
    const watch = this.#watches.get(uri);
    if (watch === undefined) return;
    watch.reasons.delete(reason);
    if (watch.reasons.size === 0) {
      watch.tracker.stop();
      this.#watches.delete(uri);
    }
  }

  #lineStatus(tracker: BuddyTracker): string {
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

  #onBuddyChange(uri: string): void {
    const watch = this.#watches.get(uri);
    if (watch === undefined) return;
    // A new revocation list may end a link.
    this.#connections?.revalidate(uri);
    this.#notifyBuddy(uri, watch);
    if (watch.tracker.status === 1 && this.#c.profile.retryOnOnline) {
      this.#retryTarget(uri);
    }
  }

  #notifyBuddy(uri: string, watch: Watch): void {
    if (!watch.reasons.has("subscription")) return;
    const { status, lineStatus: note } = this.#statusOf(uri, watch.tracker);
    const last = watch.lastNotified;
    if (last !== undefined && last.status === status && last.note === note) {
      return;
    }
    watch.lastNotified = { status, note };
    this.#c.emit({
      type: "newBuddyNotification",
      buddyUri: uri,
      status,
      lineStatus: note,
    });
  }

  #onBuddyDevice(uri: string, device: TrackedDevice): void {
    this.#remember(uri, device.certificate);
    if (uri === this.id) {
      // Another device of ours came online: give it our state.
      if (
        device.online &&
        !device.certificate.deviceId.equals(this.#c.identity.device.id)
      ) {
        this.#sendSync([device.certificate]);
      }
      return;
    }
    this.#connections?.revalidate(uri);
    const watch = this.#watches.get(uri);
    if (watch !== undefined) this.#notifyBuddy(uri, watch);
    this.#linkDevice(uri, device);
    if (device.online && this.#c.profile.receipts) this.#retryTarget(uri);
  }

  /** Links an online device of a subscribed buddy; stops redialing a gone one. */
  #linkDevice(uri: string, device: TrackedDevice): void {
    const connections = this.#connections;
    if (connections === undefined) return;
    if (
      device.online && this.#subscriptions.has(uri) &&
      !this.state.contacts.isBanned(uri)
    ) {
      connections.connect(device.certificate, device.announcement.endpoints);
    } else if (!device.online) {
      connections.forget(device.certificate.deviceId.toString());
    }
  }

  #remember(uri: string, certificate: DeviceCertificate): void {
    const peers = this.state.peers;
    let peer = peers.get(uri);
    if (peer === undefined) {
      if (peers.size >= MAX_PEERS) {
        // Forget the peer heard of least recently.
        let oldest: string | undefined;
        let oldestMs = Infinity;
        for (const [key, value] of peers) {
          if (value.seenMs < oldestMs) [oldest, oldestMs] = [key, value.seenMs];
        }
        if (oldest !== undefined) peers.delete(oldest);
      }
      peer = { uri, devices: [], seenMs: this.#now() };
      peers.set(uri, peer);
    }
    peer.seenMs = this.#now();
    const bytes = certificate.bytes;
    const id = certificate.deviceId;
    peer.devices = peer.devices.filter((known) => {
      try {
        return !DeviceCertificate.decode(known).deviceId.equals(id);
      } catch {
        return false;
      }
    });
    peer.devices.push(bytes);
    if (peer.devices.length > 16) peer.devices.shift();
  }

  /**
   * Watches `uri`'s presence (`flag` true) or stops (false). A new
   * subscription is told the current state at once.
   *
   * @param uri Account id hex.
   * @param flag Subscribe or unsubscribe.
   */
  subscribeBuddy(uri: string, flag: boolean): void {
    if (uri === this.id) throw new OwnAccountError("subscribe to presence");
    if (!flag) {
      this.#subscriptions.delete(uri);
      this.#unwatch(uri, "subscription");
      this.#connections?.disconnect(uri);
      return;
    }
    if (this.state.contacts.isBanned(uri)) return;
    this.#subscriptions.add(uri);
    this.#watch(uri, "subscription");
    const watch = this.#watches.get(uri);
    if (watch !== undefined) {
      // Replay the current state to the new subscriber.
      watch.lastNotified = undefined;
      if (this.#statusOf(uri, watch.tracker).status !== 0) {
        this.#notifyBuddy(uri, watch);
      } else watch.lastNotified = { status: 0, note: "" };
      for (const device of watch.tracker.devices()) {
        this.#linkDevice(uri, device);
      }
    }
  }

  /**
   * The devices of a watched buddy, as its tracker sees them.
   *
   * @param uri Account id hex.
   * @returns Device id, name, online, note (empty if not watched).
   */
  getDevices(uri: string): BuddyDevice[] {
    const tracker = this.#watches.get(uri)?.tracker;
    const linked = new Set(this.#connections?.linkedDevices(uri));
    return (tracker?.devices() ?? []).map((device) => ({
      device: device.certificate.deviceId.toString(),
      name: device.certificate.name,
      online: device.online,
      note: device.announcement.note,
      connected: linked.has(device.certificate.deviceId.toString()),
    }));
  }

  /** The subscribed buddies and their state. */
  getSubscriptions(): BuddyStatus[] {
    return [...this.#subscriptions].map((uri) => {
      const tracker = this.#watches.get(uri)?.tracker;
      return tracker === undefined
        ? { buddy: uri, status: 0, lineStatus: "" }
        : this.#statusOf(uri, tracker);
    });
  }

  /**
   * Sets this device's presence: status 0 hides it (a goodbye), anything
   * else announces it with `note`.
   *
   * @param status 0 = invisible, 1 = available.
   * @param note Status note.
   */
  publish(status: number, note: string): void {
    this.#note = note;
    this.#visible = status !== 0;
    if (!this.#running) return;
    this.#connections?.publish(this.#visible, note);
    if (!this.#visible) {
      this.#announcer?.stop();
      if (this.#announcer) this.state.announcementSeq = this.#announcer.seq;
      this.#announcer = undefined;
      this.#persist();
      return;
    }
    if (this.#announcer === undefined) this.#startAnnouncer();
    else {
      this.#announcer.update(note);
      this.state.announcementSeq = this.#announcer.seq;
      this.#persist();
    }
  }

  /**
   * Revokes a device of this account (lost or stolen): a new revocation
   * list, signed by the account, is saved and published at the account hash;
   * contacts stop accepting that device's announcements and messages.
   *
   * @param deviceId Device id hex.
   * @throws {RangeError} If it is this device, or not a device id.
   */
  async revokeDevice(deviceId: string): Promise<void> {
    if (!/^[0-9a-f]{40}$/.test(deviceId)) {
      throw new RangeError("Cannot revoke: not a 40-hex device id");
    }
    if (deviceId === this.deviceId) {
      throw new RangeError("Cannot revoke this device from itself");
    }
    const { account } = this.#c.identity;
    const id = InfoHash.fromHex(deviceId);
    const current = this.state.revocationList === undefined
      ? undefined
      : RevocationList.decode(this.state.revocationList);
    const next = current === undefined
      ? RevocationList.create(account, {
        seq: 1,
        revoked: [id],
        issuedMs: this.#now(),
      })
      : current.revoke(account, [id], this.#now());
    this.state.revocationList = next.bytes;
    await this.#persist();
    this.#announcer?.publishRecord(next.bytes);
  }

  // ---------------------------------------------------------------- contacts

  #checkPeer(uri: string, action: string): void {
    if (uri === this.id) throw new OwnAccountError(action);
  }

  /** Visible contacts (active and banned). */
  getContacts(): Contact[] {
    return this.state.contacts.visible();
  }

  /**
   * Adds `uri` as a contact (lifting a ban); sends nothing.
   *
   * @param uri Account id hex.
   */
  async addContact(uri: string): Promise<void> {
    this.#checkPeer(uri, "add contact");
    const { contact, changed } = this.state.contacts.add(uri, this.#now());
    if (!changed) return;
    await this.#persist();
    this.#c.emit({ type: "contactAdded", uri, confirmed: contact.confirmed });
    this.#scheduleSync();
  }

  /**
   * Removes `uri`; with `ban`, blocks it silently.
   *
   * @param uri Account id hex.
   * @param ban Also ban.
   */
  async removeContact(uri: string, ban: boolean): Promise<void> {
    this.#checkPeer(uri, "remove contact");
    const { changed } = this.state.contacts.remove(uri, ban, this.#now());
    const hadRequest = this.state.requests.delete(uri);
    for (const entry of [...this.state.outbox.values()]) {
      if (entry.to === uri) this.#dropEntry(entry);
    }
    if (ban) {
      this.#subscriptions.delete(uri);
      this.#unwatch(uri, "subscription");
      this.#connections?.disconnect(uri);
    }
    if (!changed && !hadRequest) return;
    await this.#persist();
    if (changed) this.#c.emit({ type: "contactRemoved", uri, banned: ban });
    this.#scheduleSync();
  }

  // ---------------------------------------------------------------- requests

  /** Pending incoming requests. */
  getTrustRequests(): PendingRequest[] {
    return [...this.state.requests.values()];
  }

  /**
   * Sends a trust request to `to` (and adds it as an unconfirmed contact).
   *
   * @param to Account id hex.
   * @param payload Opaque payload (a vCard, usually).
   * @returns The request id hex.
   * @throws {PayloadTooLargeError} Over {@link MAX_TRUST_REQUEST_PAYLOAD_BYTES}.
   * @throws {OwnAccountError} If `to` is this account.
   * @throws {QuotaExceededError} If the outbox is full.
   */
  async sendTrustRequest(to: string, payload: Uint8Array): Promise<string> {
    this.#checkPeer(to, "send a trust request");
    if (payload.length > MAX_TRUST_REQUEST_PAYLOAD_BYTES) {
      throw new PayloadTooLargeError(
        payload.length,
        MAX_TRUST_REQUEST_PAYLOAD_BYTES,
      );
    }
    // A newer request to the same target replaces the older one.
    const replaced = [...this.state.outbox.values()].filter((entry) =>
      entry.to === to && entry.kind === "request"
    );
    if (this.state.outbox.size - replaced.length >= MAX_OUTBOX_ENTRIES) {
      throw new QuotaExceededError("the outbox");
    }
    for (const entry of replaced) this.#dropEntry(entry);
    const { contact, changed } = this.state.contacts.add(to, this.#now());
    const entry = this.#enqueue("request", to, payload.slice());
    await this.#persist();
    if (changed) {
      this.#c.emit({
        type: "contactAdded",
        uri: to,
        confirmed: contact.confirmed,
      });
    }
    this.#scheduleSync();
    this.#attempt(entry);
    return entry.id;
  }

  /**
   * Accepts the request from `from`: a confirmed contact on both sides.
   * Without a stored request it still adds a confirmed contact (as Jami).
   *
   * @param from Account id hex.
   */
  async acceptTrustRequest(from: string): Promise<void> {
    this.#checkPeer(from, "accept a trust request");
    this.state.requests.delete(from);
    const { changed } = this.state.contacts.add(from, this.#now(), true);
    this.#enqueue("confirm", from, new Uint8Array(0));
    await this.#persist();
    if (changed) {
      this.#c.emit({ type: "contactAdded", uri: from, confirmed: true });
    }
    this.#scheduleSync();
    for (const entry of this.state.outbox.values()) {
      if (entry.to === from && entry.kind === "confirm") this.#attempt(entry);
    }
  }

  /**
   * Drops the request from `from`, telling nobody.
   *
   * @param from Account id hex.
   * @returns True if there was one.
   */
  async discardTrustRequest(from: string): Promise<boolean> {
    this.#checkPeer(from, "discard a trust request");
    if (!this.state.requests.delete(from)) return false;
    await this.#persist();
    this.#scheduleSync();
    return true;
  }

  // ---------------------------------------------------------------- outbox

  #enqueue(
    kind: "request" | "confirm",
    to: string,
    payload: Uint8Array,
  ): OutboxEntry {
    if (kind === "confirm") {
      for (const entry of [...this.state.outbox.values()]) {
        if (entry.to === to && entry.kind === "confirm") this.#dropEntry(entry);
      }
    }
    const now = this.#now();
    const entry: OutboxEntry = {
      id: this.#newId(),
      kind,
      to,
      payload,
      createdMs: now,
      expiresMs: now + INBOX_LIFETIME_MS,
      attempts: 0,
      nextMs: now,
      sentTo: [],
      delivered: false,
    };
    if (this.state.outbox.size >= MAX_OUTBOX_ENTRIES) {
      // Confirmations must not be refused: drop the oldest entry instead.
      const oldest = [...this.state.outbox.values()].sort((a, b) =>
        a.createdMs - b.createdMs
      )[0];
      if (oldest) {
        this.#dropEntry(oldest);
      }
    }
    this.state.outbox.set(entry.id, entry);
    this.#watch(to, "outbox");
    return entry;
  }

  #dropEntry(entry: OutboxEntry): void {
    this.state.outbox.delete(entry.id);
    this.#boxes.delete(entry.id);
    if (
      ![...this.state.outbox.values()].some((other) => other.to === entry.to)
    ) {
      this.#unwatch(entry.to, "outbox");
    }
  }

  /** Recipients for a message to `uri`: known devices (and the mailbox). */
  #recipients(uri: string, onlineOnly: boolean): DeviceCertificate[] {
    const now = this.#now();
    const watch = this.#watches.get(uri);
    const revocationList = watch?.tracker.revocationList;
    const result = new Map<string, DeviceCertificate>();
    const consider = (certificate: DeviceCertificate) => {
      try {
        certificate.verify({
          accountId: InfoHash.fromHex(uri),
          nowMs: now,
          revocationList,
        });
        result.set(certificate.deviceId.toString(), certificate);
      } catch {
        // Expired, revoked or forged: not a recipient.
      }
    };
    for (const device of watch?.tracker.devices() ?? []) {
      if (!onlineOnly || device.online) consider(device.certificate);
    }
    if (!onlineOnly) {
      for (const bytes of this.state.peers.get(uri)?.devices ?? []) {
        try {
          consider(DeviceCertificate.decode(bytes));
        } catch {
          // ignore
        }
      }
    }
    if (this.#c.profile.mailbox) {
      const mailbox = watch?.tracker.mailbox;
      if (mailbox !== undefined) {
        const peer = this.state.peers.get(uri);
        if (peer !== undefined) peer.mailbox = mailbox.bytes;
        consider(mailbox);
      } else {
        const bytes = this.state.peers.get(uri)?.mailbox;
        if (bytes !== undefined) {
          try {
            const certificate = DeviceCertificate.decode(bytes);
            if (isMailboxCertificate(certificate)) consider(certificate);
          } catch {
            // ignore
          }
        }
      }
    }
    return [...result.values()];
  }

  #messageFor(entry: OutboxEntry): InboxMessage {
    const id = Uint8Array.fromHex(entry.id);
    return entry.kind === "request"
      ? { kind: "request", id, sentMs: entry.createdMs, payload: entry.payload }
      : { kind: "confirm", id, sentMs: entry.createdMs };
  }

  /** Sends `entry` to every recipient known now. */ #attempt(
    entry: OutboxEntry,
  ): void {
    if (
      !this.#running || !this.state.outbox.has(entry.id) || entry.delivered
    ) return;
    const profile = this.#c.profile;
    const recipients = this.#recipients(entry.to, !profile.receipts);
    entry.attempts += 1;
    if (profile.receipts) {
      const delay = Math.min(
        profile.retryMaxMs,
        profile.retryInitialMs * 2 ** Math.min(entry.attempts - 1, 20),
      );
      entry.nextMs = this.#now() + delay;
    } else {
      entry.nextMs = entry.expiresMs;
    }
    if (recipients.length === 0) {
      this.#persist();
      return;
    }
    const message = encodeInboxMessage(this.#messageFor(entry));
    let boxes = this.#boxes.get(entry.id);
    if (boxes === undefined) {
      boxes = new Map();
      this.#boxes.set(entry.id, boxes);
    }
    for (const recipient of recipients) {
      const hex = recipient.deviceId.toString();
      let box = boxes.get(hex);
      if (box === undefined) {
        box = this.#seal(message, recipient);
        boxes.set(hex, box);
      }
      this.#putBox(recipient, Uint8Array.fromHex(entry.id), box);
      if (!entry.sentTo.includes(hex)) entry.sentTo.push(hex);
    }
    this.counters.messagesSent += 1;
    if (!profile.receipts && entry.kind === "confirm") {
      // Jami sends a confirmation once.
      this.#dropEntry(entry);
    }
    this.#persist();
  }

  #seal(message: Uint8Array, recipient: DeviceCertificate): Uint8Array {
    const { identity, randomBytes } = this.#c;
    return sealBox(message, {
      sender: { device: identity.device, certificate: identity.certificate },
      recipient,
      purpose: INBOX_PURPOSE,
      randomBytes,
    });
  }

  #putBox(recipient: DeviceCertificate, id: Uint8Array, box: Uint8Array): void {
    this.counters.boxesPut += 1;
    this.#c.dht.put(inboxKey(recipient.deviceId), {
      id: inboxValueId(id, recipient.deviceId),
      type: INBOX_VALUE_TYPE,
      data: box,
    });
  }

  /** Retries everything for `uri` now (it came online). */
  #retryTarget(uri: string): void {
    for (const entry of [...this.state.outbox.values()]) {
      if (entry.to !== uri) continue;
      if (!this.#c.profile.receipts && entry.kind !== "request") continue;
      this.#attempt(entry);
    }
  }

  #scheduleRetry(delayMs: number): void {
    this.#retryTimer?.cancel();
    this.#retryTimer = this.#c.clock.setTimer(delayMs, () => this.#retryDue());
  }

  #retryDue(): void {
    if (!this.#running) return;
    const now = this.#now();
    let next = now + 60_000;
    let changed = false;
    for (const entry of [...this.state.outbox.values()]) {
      if (entry.expiresMs <= now) {
        this.#dropEntry(entry);
        changed = true;
        // A delivered request that is never answered just ends.
        if (!entry.delivered) {
          this.#c.emit(
            entry.kind === "request"
              ? {
                type: "trustRequestExpired",
                uri: entry.to,
                requestId: entry.id,
              }
              : { type: "confirmationExpired", uri: entry.to },
          );
        }
        continue;
      }
      if (entry.delivered) {
        next = Math.min(next, entry.expiresMs);
        continue;
      }
      if (entry.nextMs <= now) this.#attempt(entry);
      next = Math.min(next, entry.nextMs, entry.expiresMs);
    }
    for (const [id, until] of this.state.seen) {
      if (until <= now) {
        this.state.seen.delete(id);
        changed = true;
      }
    }
    if (changed) this.#persist();
    this.#scheduleRetry(Math.max(1_000, next - now));
  }

  // ---------------------------------------------------------------- inbox

  #allowSender(uri: string): boolean {
    const now = this.#now();
    let window = this.#senderWindow.get(uri);
    if (window === undefined || now - window.startMs >= 3_600_000) {
      if (this.#senderWindow.size >= 4_096) this.#senderWindow.clear();
      window = { startMs: now, count: 0 };
      this.#senderWindow.set(uri, window);
    }
    window.count += 1;
    return window.count <= SENDER_QUOTA_PER_HOUR;
  }

  #onInboxValue(keys: DeviceKeys, value: DhtValue): void {
    if (!this.#running) return;
    let sender: DeviceCertificate;
    let message: InboxMessage;
    try {
      const opened = openSealedBox(value.data, {
        device: keys,
        purpose: INBOX_PURPOSE,
        nowMs: this.#now(),
        revocationList: (account) =>
          this.#watches.get(account.toString())?.tracker.revocationList,
      });
      sender = opened.sender;
      message = decodeInboxMessage(opened.message);
    } catch {
      this.counters.dropped.malformed += 1;
      return;
    }
    if (isMailboxCertificate(sender)) {
      this.counters.dropped.malformed += 1;
      return;
    }
    const from = sender.accountId.toString();
    if (from === this.id) {
      if (
        message.kind === "sync" &&
        !sender.deviceId.equals(this.#c.identity.device.id)
      ) {
        this.#onSync(message.snapshot);
      }
      return;
    }
    this.#remember(from, sender);
    const id = message.id.toHex();
    if (message.kind === "receipt") {
      this.#onReceipt(from, message.ackId.toHex());
      return;
    }
    if (message.kind === "sync") return;
    if (this.state.seen.has(id)) {
      // Already handled: the sender missed our receipt.
      this.counters.dropped.duplicate += 1;
      this.#sendReceipt(sender, message.id);
      return;
    }
    if (!this.#allowSender(from)) {
      this.counters.dropped.quota += 1;
      return;
    }
    if (this.state.contacts.isBanned(from)) {
      // Silently dropped; the receipt looks like any other.
      this.counters.dropped.banned += 1;
      this.#markSeen(id);
      this.#track(
        this.#persist().then(() => this.#sendReceipt(sender, message.id)),
      );
      return;
    }
    if (message.kind === "request") this.#onRequest(from, sender, message);
    else this.#onConfirm(from, sender, message.id);
  }

  #markSeen(id: string): void {
    if (this.state.seen.size >= MAX_SEEN_IDS) {
      // Forget the id closest to its end of retention.
      let first: string | undefined;
      let firstMs = Infinity;
      for (const [key, until] of this.state.seen) {
        if (until < firstMs) [first, firstMs] = [key, until];
      }
      if (first !== undefined) this.state.seen.delete(first);
    }
    this.state.seen.set(id, this.#now() + SEEN_RETENTION_MS);
  }

  #onRequest(
    from: string,
    sender: DeviceCertificate,
    message: Extract<InboxMessage, { kind: "request" }>,
  ): void {
    const id = message.id.toHex();
    const contacts = this.state.contacts;
    const now = this.#now();
    if (contacts.isActive(from)) {
      // Known contact (or crossing request): confirm at once.
      this.#markSeen(id);
      const changed = contacts.confirm(from);
      this.#enqueue("confirm", from, new Uint8Array(0));
      const accepted = this.#settleRequestsTo(from);
      this.#track(
        this.#persist().then(() => {
          this.#sendReceipt(sender, message.id);
          if (changed) {
            this.#c.emit({ type: "contactAdded", uri: from, confirmed: true });
          }
          for (const requestId of accepted) {
            this.#c.emit({
              type: "trustRequestAccepted",
              uri: from,
              requestId,
            });
          }
          this.#scheduleSync();
          for (const entry of this.state.outbox.values()) {
            if (entry.to === from && entry.kind === "confirm") {
              this.#attempt(entry);
            }
          }
        }),
      );
      return;
    }
    const old = this.state.requests.get(from);
    if (old !== undefined && old.sentMs > message.sentMs) {
      // An older request than the one we hold: acknowledge, do not show.
      this.#markSeen(id);
      this.#track(
        this.#persist().then(() => this.#sendReceipt(sender, message.id)),
      );
      return;
    }
    if (old === undefined && this.state.requests.size >= MAX_PENDING_REQUESTS) {
      this.counters.dropped.quota += 1;
      return;
    }
    const request: PendingRequest = {
      from,
      id,
      sentMs: message.sentMs,
      receivedMs: now,
      payload: message.payload,
    };
    this.state.requests.set(from, request);
    this.#markSeen(id);
    this.#track(
      this.#persist().then(() => {
        this.#sendReceipt(sender, message.id);
        this.#c.emit({
          type: "incomingTrustRequest",
          from,
          payload: request.payload,
          receiveTime: now,
        });
        this.#scheduleSync();
      }),
    );
  }

  /** Our requests to `uri` are answered: drop them, return their ids. */
  #settleRequestsTo(uri: string): string[] {
    const ids: string[] = [];
    for (const entry of [...this.state.outbox.values()]) {
      if (entry.to === uri && entry.kind === "request") {
        ids.push(entry.id);
        this.#dropEntry(entry);
      }
    }
    return ids;
  }

  #onConfirm(
    from: string,
    sender: DeviceCertificate,
    messageId: Uint8Array,
  ): void {
    this.#markSeen(messageId.toHex());
    const contacts = this.state.contacts;
    const changed = contacts.isActive(from) && contacts.confirm(from);
    const accepted = contacts.isActive(from)
      ? this.#settleRequestsTo(from)
      : [];
    this.#track(
      this.#persist().then(() => {
        this.#sendReceipt(sender, messageId);
        if (changed) {
          this.#c.emit({ type: "contactAdded", uri: from, confirmed: true });
        }
        for (const requestId of accepted) {
          this.#c.emit({ type: "trustRequestAccepted", uri: from, requestId });
        }
        if (changed) {
          this.#scheduleSync();
        }
      }),
    );
  }
  #onReceipt(from: string, ackId: string): void {
    const entry = this.state.outbox.get(ackId);
    if (entry === undefined || entry.to !== from || entry.delivered) return;
    if (entry.kind === "request") {
      // Kept (without retries) until the answer, to report the acceptance.
      entry.delivered = true;
      this.#boxes.delete(entry.id);
    } else {
      this.#dropEntry(entry);
    }
    // Remembered, so a sync from another device does not resend it.
    this.#markSeen(ackId);
    this.#track(
      this.#persist().then(() => {
        this.#c.emit(
          entry.kind === "request"
            ? { type: "trustRequestDelivered", uri: from, requestId: ackId }
            : { type: "confirmationDelivered", uri: from },
        );
      }),
    );
  }

  #sendReceipt(to: DeviceCertificate, ackId: Uint8Array): void {
    if (!this.#running || !this.#c.profile.receipts) return;
    const message = encodeInboxMessage({
      kind: "receipt",
      id: this.#c.randomBytes(MESSAGE_ID_BYTES),
      sentMs: this.#now(),
      ackId,
    });
    // To the sending device, and to its account's mailbox in case that
    // device is gone by now.
    const id = this.#c.randomBytes(MESSAGE_ID_BYTES);
    this.#putBox(to, id, this.#seal(message, to));
    this.counters.receiptsSent += 1;
    const uri = to.accountId.toString();
    const send = (mailbox: DeviceCertificate) => {
      if (this.#running) {
        this.#putBox(mailbox, id, this.#seal(message, mailbox));
      }
    };
    const mailbox = this.#recipients(uri, false).find(isMailboxCertificate);
    if (mailbox !== undefined) send(mailbox);
    else this.#lookupMailbox(uri, send);
  }

  /** Finds an account's mailbox certificate on the DHT (and remembers it). */
  #lookupMailbox(uri: string, found: (mailbox: DeviceCertificate) => void) {
    const accountId = InfoHash.fromHex(uri);
    this.#c.dht.get(accountId, {
      onDone: (values) => {
        let best: DeviceCertificate | undefined;
        for (const value of values) {
          try {
            const certificate = DeviceCertificate.decode(value.data);
            if (!isMailboxCertificate(certificate)) continue;
            certificate.verify({ accountId, nowMs: this.#now() });
            if (best === undefined || certificate.issuedMs > best.issuedMs) {
              best = certificate;
            }
          } catch {
            // Not a (valid) mailbox certificate of this account.
          }
        }
        if (best === undefined) return;
        const peer = this.state.peers.get(uri);
        if (peer !== undefined) peer.mailbox = best.bytes;
        found(best);
      },
    });
  }

  // ---------------------------------------------------------------- sync

  #scheduleSync(): void {
    if (!this.#running || this.#syncTimer !== undefined) return;
    this.#syncTimer = this.#c.clock.setTimer(1_000, () => {
      this.#syncTimer = undefined;
      const own = this.#watches.get(this.id)?.tracker.devices() ?? [];
      const others = own.filter((device) =>
        device.online &&
        !device.certificate.deviceId.equals(this.#c.identity.device.id)
      ).map((device) => device.certificate);
      if (others.length > 0) this.#sendSync(others);
    });
  }

  #sendSync(targets: DeviceCertificate[]): void {
    if (!this.#running) return;
    const snapshot = encodeSyncSnapshot(this.state, this.#now());
    const id = this.#c.randomBytes(MESSAGE_ID_BYTES);
    const message = encodeInboxMessage({
      kind: "sync",
      id,
      sentMs: this.#now(),
      snapshot,
    });
    for (const target of targets) {
      this.#putBox(target, id, this.#seal(message, target));
    }
    this.counters.syncsSent += 1;
  }

  #onSync(bytes: Uint8Array): void {
    let snapshot;
    try {
      snapshot = decodeSyncSnapshot(bytes);
    } catch {
      this.counters.dropped.malformed += 1;
      return;
    }
    const events: AccountEvent[] = [];
    for (const incoming of snapshot.contacts) {
      if (incoming.uri === this.id) continue;
      const before = this.state.contacts.get(incoming.uri);
      const merged = this.state.contacts.merge(incoming);
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
      if (isActive || merged.banned) this.state.requests.delete(merged.uri);
      if (merged.banned) this.#connections?.disconnect(merged.uri);
    }
    // A request the other device handled and no longer holds was discarded
    // (or replaced) there.
    const held = new Set(snapshot.requests.map((request) => request.id));
    const handled = new Set(snapshot.seen);
    let discarded = false;
    for (const [from, request] of [...this.state.requests]) {
      if (handled.has(request.id) && !held.has(request.id)) {
        this.state.requests.delete(from);
        discarded = true;
      }
    }
    for (const request of snapshot.requests) {
      if (
        this.state.requests.has(request.from) ||
        this.state.seen.has(request.id) ||
        this.state.contacts.isActive(request.from) ||
        this.state.contacts.isBanned(request.from) ||
        this.state.requests.size >= MAX_PENDING_REQUESTS
      ) continue;
      this.state.requests.set(request.from, request);
      this.#markSeen(request.id);
      events.push({
        type: "incomingTrustRequest",
        from: request.from,
        payload: request.payload,
        receiveTime: request.receivedMs,
      });
    }
    for (const id of snapshot.seen) {
      if (!this.state.seen.has(id)) this.#markSeen(id);
      const done = this.state.outbox.get(id);
      if (done !== undefined) this.#dropEntry(done);
    }
    const adopted: OutboxEntry[] = [];
    for (const entry of snapshot.outbox) {
      if (
        this.state.outbox.has(entry.id) || this.state.seen.has(entry.id) ||
        this.state.outbox.size >= MAX_OUTBOX_ENTRIES ||
        entry.expiresMs <= this.#now()
      ) continue;
      // Retry it from here too, after the sender's own first try.
      entry.nextMs = this.#now() + this.#c.profile.retryInitialMs;
      this.state.outbox.set(entry.id, entry);
      this.#watch(entry.to, "outbox");
      adopted.push(entry);
    }
    if ((adopted.length > 0 || discarded) && events.length === 0) {
      this.#persist();
      return;
    }
    if (events.length === 0) return;
    this.#track(
      this.#persist().then(() => {
        for (const event of events) this.#c.emit(event);
      }),
    );
  }
}
