/**
 * `Account`: one account running on one device. It owns the account's state
 * and wires the protocol roles together; each role lives in its own module:
 * - this device's announcement and direct links: `PresencePublisher`
 *   (`lib/presence/presence_publisher.ts`);
 * - the buddies it watches (subscriptions, outbox targets, its own other
 *   devices): `WatchList` (`lib/presence/watch_list.ts`);
 * - trust requests: `Outbox` (retry policy), `Inbox` (dedupe, quota, bans)
 *   and their IO, `TrustDelivery` (`lib/trust/`);
 * - contacts and the merge of another device's sync snapshot
 *   (`lib/contacts/`).
 * The `Daemon` owns accounts and exposes them through its managers.
 *
 * How a message travels and why state is persisted before anything is shown
 * or acknowledged: `docs/architecture.md`.
 *
 * @module
 */
import { AccountSaves } from "./account_saves.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import { InfoHash } from "../identity/info_hash.ts";
import { RevocationList } from "../identity/revocation_list.ts";
import { RevocationRegistry } from "../identity/revocation_registry.ts";
import type { Timer } from "../clock.ts";
import {
  type AccountStateStore,
  MAX_OUTBOX_PAYLOAD_BYTES,
  outboxPayloadBytes,
  type PendingRequest,
  StateFullError,
} from "../contacts/account_state.ts";
import type { Contact } from "../contacts/contact_list.ts";
import type { DeviceSyncResult } from "../contacts/device_sync.ts";
import { OwnDeviceSync } from "../contacts/own_device_sync.ts";
import type { TrackedDevice } from "../presence/buddy_tracker.ts";
import {
  PresencePublisher,
  publicCertificate,
  type ResumableDevice,
} from "../presence/presence_publisher.ts";
import { WatchList, type WatchReason } from "../presence/watch_list.ts";
import {
  type BuddyDevice,
  type BuddyStatus,
  BuddySubscriptions,
} from "../presence/buddy_subscriptions.ts";
import {
  type ConnectionCounters,
  type ConnectionManager,
  emptyConnectionCounters,
} from "../channel/connection_manager.ts";
import type { ChannelPeer } from "../channel/secure_channel.ts";
import type { LinkRendezvousCounters } from "../channel/link_rendezvous.ts";
import { MAX_TRUST_REQUEST_PAYLOAD_BYTES } from "../trust/inbox_message.ts";
import { mailboxCertificate, mailboxKeys } from "../trust/mailbox.ts";
import { messageRecipients, rememberPeerDevice } from "../trust/recipients.ts";
import { TrustDelivery } from "../trust/trust_delivery.ts";
import type {
  AccountComponents,
  AccountCounters,
  AccountIdentity,
} from "./account_components.ts";
import {
  NoPendingRequestError,
  OwnAccountError,
  PayloadTooLargeError,
  QuotaExceededError,
} from "./errors.ts";
import type { ManagedAccount } from "./managed_account.ts";

export { SENDER_QUOTA_PER_HOUR } from "../trust/inbox.ts";

export type { AccountEvent } from "./account_event.ts";
export type {
  AccountComponents,
  AccountCounters,
  AccountIdentity,
} from "./account_components.ts";
export { GOODBYE_WAIT_MS } from "../presence/presence_publisher.ts";
export type {
  BuddyDevice,
  BuddyStatus,
} from "../presence/buddy_subscriptions.ts";

/**
 * How long after a peer's endpoints change they are saved: those learned at
 * start (one per contact online) go in one write; a crash sooner loses only
 * the head start they give the next start.
 */
export const ENDPOINT_SAVE_DELAY_MS = 10_000;

/** An account running on this device. */
export class Account implements ManagedAccount {
  /** Account id, 40 hex. */
  readonly id: string;
  /** This protocol's accounts (Jami-format ones are `JamiAccount`s). */
  readonly kind: "dht-contacts" = "dht-contacts";
  /** Account id as an InfoHash: the key its devices announce at. */
  readonly accountId: InfoHash;
  /** Direct-link counters (zeros while links are off). */
  get linkCounters(): ConnectionCounters {
    return this.#links?.counters ?? emptyConnectionCounters();
  }

  /** Candidate-exchange counters while links through NATs run, else `undefined`. */
  get rendezvousCounters(): LinkRendezvousCounters | undefined {
    return this.#publisher.rendezvous?.counters;
  }

  /** Sends, receipts, drops and syncs so far, for reports and tests. */
  readonly counters: AccountCounters = {
    messagesSent: 0,
    boxesPut: 0,
    receiptsSent: 0,
    dropped: {
      malformed: 0,
      banned: 0,
      quota: 0,
      duplicate: 0,
      stale: 0,
      stamp: 0,
    },
    syncsSent: 0,
  };
  readonly #c: AccountComponents;
  readonly #saves: AccountSaves;
  readonly #mailboxKeys: DeviceKeys;
  readonly #mailboxCertificate: DeviceCertificate;
  readonly #watches: WatchList;
  readonly #delivery: TrustDelivery;
  readonly #publisher: PresencePublisher;
  readonly #buddies: BuddySubscriptions;
  readonly #sync: OwnDeviceSync;
  /** Revocation of every sender (watched or not): see `RevocationRegistry`. */
  readonly #revocations: RevocationRegistry;
  #renewTimer?: Timer;
  #endpointSaveTimer?: Timer;
  #running = false;

  /**
   * An account on this device (call {@link Account.start}).
   *
   * @param components See {@link AccountComponents}.
   */
  constructor(components: AccountComponents) {
    this.#c = components;
    this.#saves = new AccountSaves(components);
    this.accountId = components.identity.account.id;
    this.id = this.accountId.toString();
    this.#mailboxKeys = mailboxKeys(components.identity.account);
    this.#mailboxCertificate = mailboxCertificate(
      components.identity.account,
      components.identity.certificate.issuedMs,
    );
    const { dht, clock, profile, store, identity } = components;
    this.#revocations = new RevocationRegistry({
      clock,
      fetch: (id, { found, done }) =>
        dht.get(id, {
          onValues: (values) => found(values.map((value) => value.data)),
          onDone: () => done(),
        }),
      local: (id) => this.#watches.tracker(id.toString())?.revocationList,
    });
    this.#watches = new WatchList({
      dht,
      clock,
      reachable: components.reachable,
      expiryCheckMs: profile.expiryCheckMs,
      quietOfflineMs: profile.quietOfflineMs,
      listenNodes: profile.listenNodes,
      presenceOf: (uri, tracker) => this.#buddies.presenceOf(uri, tracker),
      onChange: (uri) => this.#onBuddyChange(uri),
      onDevice: (uri, device) => this.#onBuddyDevice(uri, device),
      onRevocationList: (uri, list) => {
        if (uri === this.id) this.#mergeRevocations(list);
      },
    });
    this.#buddies = new BuddySubscriptions({
      watches: this.#watches,
      links: () => this.#links,
      isBanned: (uri) => this.state.contacts.isBanned(uri),
      watch: (uri, reason) => this.#watch(uri, reason),
      emit: (notification) => this.#c.emit(notification),
      deviceName: (uri, deviceId) => this.#knownDeviceName(uri, deviceId),
    });
    this.#delivery = new TrustDelivery({
      accountId: this.id,
      device: identity.device,
      certificate: identity.certificate,
      inboxKeys: profile.mailbox
        ? [identity.device, this.#mailboxKeys]
        : [identity.device],
      dht,
      clock,
      randomBytes: components.randomBytes,
      profile,
      state: store.state,
      counters: this.counters,
      isRunning: () => this.#running,
      tracker: (uri) => this.#watches.tracker(uri),
      admitSender: (sender, retry) =>
        this.#revocations.checkSender(sender, retry) === "accepted",
      watchTarget: (uri) => this.#watch(uri, "outbox"),
      unwatchTarget: (uri) => this.#watches.unwatch(uri, "outbox"),
      persist: () => this.#saves.saveReported(),
      track: (work) => this.#saves.track(work),
      emit: (event) => this.#c.emit(event),
      onShared: () => this.#scheduleSync(),
      onOwnSync: (snapshot) => this.#sync.receive(snapshot),
    });
    this.#publisher = new PresencePublisher({
      accountId: this.accountId,
      device: identity.device,
      // Public: announced at the account hash and shown to link dialers.
      certificate: publicCertificate(
        identity.account,
        identity.device,
        identity.certificate,
      ),
      mailbox: this.#mailboxCertificate,
      dht,
      clock,
      randomBytes: components.randomBytes,
      profile,
      streams: components.streams,
      paths: components.paths,
      channelPort: components.channelPort,
      channelHost: components.channelHost,
      state: store.state,
      persist: () => this.#saves.saveReported(),
      track: (work) => this.#saves.track(work),
      authorize: (peer) => this.#mayLink(peer),
      resumable: () => this.#resumable(),
      onLinkChange: (uri, closeReason) => {
        this.#buddies.settle(uri, closeReason);
        this.#buddies.notify(uri);
      },
    });
    this.#sync = new OwnDeviceSync({
      accountId: this.id,
      deviceId: identity.device.id,
      clock,
      randomBytes: components.randomBytes,
      state: store.state,
      courier: this.#delivery.courier,
      counters: this.counters,
      retryInitialMs: profile.retryInitialMs,
      isRunning: () => this.#running,
      ownDevices: () => this.#watches.tracker(this.id)?.devices() ?? [],
      apply: (result) => this.#applySync(result),
    });
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
    this.#delivery.listen();
    this.#publisher.start();
    this.#watch(this.id, "self");
    for (const entry of this.state.outbox.values()) {
      this.#watch(entry.to, "outbox");
    }
    for (const uri of this.#buddies.uris) this.#watch(uri, "subscription");
    this.#delivery.resume();
    this.#scheduleRenewal();
  }

  /** A peer that proved its device key may link: a contact or subscription, not banned, not revoked. */
  #mayLink(peer: ChannelPeer): boolean {
    const uri = peer.accountId.toString();
    if (uri === this.id || this.state.contacts.isBanned(uri)) return false;
    if (!this.#buddies.uris.has(uri) && !this.state.contacts.isActive(uri)) {
      return false;
    }
    return !this.#revocations.isRevoked(peer.accountId, peer.deviceId);
  }

  /**
   * Stops everything; with a goodbye when the profile sends one.
   *
   * @returns Resolves once the goodbye was acknowledged (or after {@link GOODBYE_WAIT_MS}) and state is saved.
   */
  stop(): Promise<void> {
    if (!this.#running) return this.#saves.save();
    this.#halt();
    return this.#publisher.stop(() => this.#saves.save());
  }

  /** Stops at once with no goodbye and no final write (a crash, for tests). */
  crash(): void {
    this.#halt();
    this.#publisher.crash();
  }

  /** Stops listens, trackers and timers (links and announcer are the publisher's). */
  #halt(): void {
    this.#running = false;
    this.#delivery.stopListening();
    this.#watches.clear();
    this.#delivery.stopRetries();
    this.#sync.stop();
    this.#revocations.stop();
    this.#renewTimer?.cancel();
    this.#renewTimer = undefined;
    this.#endpointSaveTimer?.cancel();
    this.#endpointSaveTimer = undefined;
  }

  /**
   * Our node lost or regained the DHT (`DhtNode.connectivity`). Offline:
   * contacts' presence is held (what the silence suggests is told to
   * nobody). Online: every watched account is looked up again and links
   * are redialled; then only real changes are told. Own announcements are
   * put again by the DHT node itself.
   *
   * @param state The new state.
   */
  setConnectivity(state: "online" | "offline"): void {
    if (!this.#running) return;
    if (state === "offline") {
      this.#watches.hold();
      return;
    }
    this.#links?.redialAll();
    this.#watches.recheck(() => {
      for (const uri of this.#buddies.uris) this.#buddies.notify(uri);
    });
  }

  /** The direct links while running with links on. */
  get #links(): ConnectionManager | undefined {
    return this.#publisher.links;
  }

  /** Whole milliseconds (the simulator's clock has fractions). */
  #now(): number {
    return Math.floor(this.#c.clock.now());
  }

  /**
   * Active contacts' devices with the endpoints they announced last (kept
   * across restarts), whose certificates still verify and are not known
   * revoked: dialled once at start.
   */
  *#resumable(): Iterable<ResumableDevice> {
    const nowMs = this.#now();
    for (const contact of this.state.contacts.all()) {
      const uri = contact.uri;
      if (uri === this.id || !this.state.contacts.isActive(uri)) continue;
      const peer = this.state.peers.get(uri);
      if (peer?.endpoints === undefined) continue;
      const accountId = InfoHash.fromHex(uri);
      // The remembered devices whose certificates still verify.
      const devices = messageRecipients(uri, {
        peer,
        nowMs,
        onlineOnly: false,
        mailbox: false,
      });
      for (const certificate of devices) {
        const endpoints = peer.endpoints.get(certificate.deviceId.toString());
        if (
          endpoints === undefined ||
          this.#revocations.isRevoked(accountId, certificate.deviceId)
        ) continue;
        yield { certificate, endpoints };
      }
    }
  }

  // ---------------------------------------------------------------- presence

  /** Watches `uri` while running (`start` watches again what a stop forgot). */
  #watch(uri: string, reason: WatchReason): void {
    if (this.#running) this.#watches.watch(uri, reason);
  }

  #onBuddyChange(uri: string): void {
    const tracker = this.#watches.tracker(uri);
    if (tracker === undefined) return;
    // A new revocation list may end a link.
    this.#links?.revalidate(uri);
    this.#buddies.notify(uri);
    if (tracker.status === 1 && this.#c.profile.retryOnOnline) {
      this.#delivery.retryTarget(uri);
    }
  }

  #onBuddyDevice(uri: string, device: TrackedDevice): void {
    // Our own devices' endpoints are not dialled at start: not kept.
    const endpoints = device.online && uri !== this.id
      ? device.announcement.endpoints
      : undefined;
    if (
      rememberPeerDevice(
        this.state.peers,
        uri,
        device.certificate,
        this.#now(),
        endpoints,
      )
    ) {
      // Where to dial it first after a restart; a lost write costs only that.
      this.#endpointSaveTimer ??= this.#c.clock.setTimer(
        ENDPOINT_SAVE_DELAY_MS,
        () => {
          this.#endpointSaveTimer = undefined;
          if (this.#running) void this.#saves.saveReported();
        },
      );
    }
    if (uri === this.id) {
      // Another device of ours came online: give it our state.
      if (
        device.online &&
        !device.certificate.deviceId.equals(this.#c.identity.device.id)
      ) {
        this.#sync.send([device.certificate]);
      }
      return;
    }
    this.#links?.revalidate(uri);
    this.#buddies.notify(uri);
    this.#buddies.linkDevice(uri, device);
    this.#buddies.settle(uri);
    if (device.online && this.#c.profile.receipts) {
      this.#delivery.retryTarget(uri);
    }
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
    if (flag) this.#buddies.subscribe(uri);
    else this.#buddies.unsubscribe(uri);
  }

  /**
   * The devices of a watched buddy, as its tracker sees them.
   *
   * @param uri Account id hex.
   * @returns Device id, name, online, note, linked (empty if not watched).
   */
  getDevices(uri: string): BuddyDevice[] {
    return this.#buddies.devices(uri);
  }

  /** The subscribed buddies and their state. */
  getSubscriptions(): BuddyStatus[] {
    return this.#buddies.statuses();
  }

  /**
   * Sets this device's presence: status 0 hides it (a goodbye), anything
   * else announces it; `note` goes to linked contacts as PIDF (the public
   * announcement carries no note).
   *
   * @param status 0 = invisible, 1 = available.
   * @param note Status note.
   */
  publish(status: number, note: string): void {
    this.#publisher.publish(status !== 0, note);
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
    await this.#keepRevocations(next);
  }

  /** Saves, publishes and schedules the renewal of this account's list. */
  async #keepRevocations(list: RevocationList): Promise<void> {
    this.state.revocationList = list.bytes;
    const saved = this.#saves.saveReported();
    this.#publisher.publishRecord(list.bytes);
    this.#scheduleRenewal();
    await saved;
  }

  /**
   * Another list of this account was heard (another device revoked a
   * device): keep the union, re-signed above both when neither covers it.
   */
  #mergeRevocations(incoming: RevocationList): void {
    if (!this.#running) return;
    const bytes = this.state.revocationList;
    const own = bytes === undefined ? undefined : RevocationList.decode(bytes);
    let next: RevocationList;
    try {
      next = RevocationList.reconcile(
        this.#c.identity.account,
        own,
        incoming,
        this.#now(),
      );
    } catch {
      return; // More than a list can hold: keep ours.
    }
    if (next === own) return;
    // A failed save was reported by #keepRevocations.
    void this.#saves.track(this.#keepRevocations(next)).catch(() => {});
  }

  /** Re-signs this account's list before it expires, on the clock. */
  #scheduleRenewal(): void {
    this.#renewTimer?.cancel();
    this.#renewTimer = undefined;
    const bytes = this.state.revocationList;
    if (!this.#running || bytes === undefined) return;
    const list = RevocationList.decode(bytes);
    this.#renewTimer = this.#c.clock.setTimer(
      Math.max(0, list.renewalDueMs - this.#now()),
      () => {
        this.#renewTimer = undefined;
        if (!this.#running) return;
        void this.#saves.track(
          this.#keepRevocations(
            list.renew(this.#c.identity.account, this.#now()),
          ),
        ).catch(() => {}); // A failed save was reported.
      },
    );
  }

  // ---------------------------------------------------------------- contacts

  /** A device's name from a peer's named certificate we hold (from a sealed box). */
  #knownDeviceName(uri: string, deviceId: string): string | undefined {
    const peer = this.state.peers.get(uri);
    for (const bytes of peer?.devices ?? []) {
      try {
        const certificate = DeviceCertificate.decode(bytes);
        if (certificate.deviceId.toString() === deviceId) {
          return certificate.name || undefined;
        }
      } catch {
        // A record that no longer decodes names nothing.
      }
    }
    return undefined;
  }

  #checkPeer(uri: string, action: string): void {
    if (uri === this.id) throw new OwnAccountError(action);
  }

  /** Visible contacts (active and banned). */
  getContacts(): Contact[] {
    return this.state.contacts.visible();
  }

  /**
   * One contact as stored.
   *
   * @param uri Account id hex.
   * @returns The contact, or undefined if unknown.
   */
  contact(uri: string): Contact | undefined {
    return this.state.contacts.get(uri);
  }

  /**
   * Adds `uri` as a contact (lifting a ban); sends nothing.
   *
   * @param uri Account id hex.
   */
  async addContact(uri: string): Promise<void> {
    this.#checkPeer(uri, "add contact");
    const before = this.state.contacts.get(uri);
    const { contact, changed } = this.state.contacts.add(uri, this.#now());
    if (!changed) return;
    await this.#saves.saveOrUndo(() =>
      this.state.contacts.restore(uri, before)
    );
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
    const before = this.state.contacts.get(uri);
    const request = this.state.requests.get(uri);
    const outbox = this.#delivery.outbox;
    const entries = outbox.entries().filter((entry) => entry.to === uri);
    const { changed } = this.state.contacts.remove(uri, ban, this.#now());
    const hadRequest = this.state.requests.delete(uri);
    outbox.dropAllTo(uri);
    if (ban) this.#buddies.unsubscribe(uri);
    if (!changed && !hadRequest) return;
    await this.#saves.saveOrUndo(() => {
      this.state.contacts.restore(uri, before);
      if (request !== undefined) this.state.requests.set(uri, request);
      for (const entry of entries) {
        if (outbox.get(entry.id) === undefined) outbox.adopt(entry);
      }
    });
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
   * @throws {StateFullError} If the outbox's payloads would pass
   *   {@link MAX_OUTBOX_PAYLOAD_BYTES}, or the state cannot be saved for
   *   size (nothing of the request is kept).
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
    const outbox = this.#delivery.outbox;
    const replaced = outbox.entries().filter((entry) =>
      entry.to === to && entry.kind === "request"
    );
    const budget = outboxPayloadBytes(this.state.outbox) -
      replaced.reduce((sum, entry) => sum + entry.payload.length, 0) +
      payload.length;
    if (budget > MAX_OUTBOX_PAYLOAD_BYTES) {
      throw new StateFullError(
        "send a trust request",
        `outbox payloads would take ${budget} bytes, budget ${MAX_OUTBOX_PAYLOAD_BYTES}`,
      );
    }
    if (!outbox.makeRoomForRequest(to)) {
      throw new QuotaExceededError("the outbox");
    }
    const before = this.state.contacts.get(to);
    const { contact, changed } = this.state.contacts.add(to, this.#now());
    const entry = outbox.enqueue("request", to, payload.slice(), this.#now());
    await this.#saves.saveOrUndo(() => {
      outbox.drop(entry);
      for (const old of replaced) {
        if (outbox.get(old.id) === undefined) outbox.adopt(old);
      }
      this.state.contacts.restore(to, before);
    });
    if (changed) {
      this.#c.emit({
        type: "contactAdded",
        uri: to,
        confirmed: contact.confirmed,
      });
    }
    this.#scheduleSync();
    this.#delivery.attempt(entry);
    return entry.id;
  }

  /**
   * Accepts the pending request from `from`: a confirmed contact on both
   * sides. The confirmation names the request it answers, so it settles
   * that request only (issue 13, item 2).
   *
   * @param from Account id hex.
   * @throws {OwnAccountError} If `from` is this account.
   * @throws {NoPendingRequestError} If no request from `from` is pending
   *   (nothing changes).
   */
  async acceptTrustRequest(from: string): Promise<void> {
    this.#checkPeer(from, "accept a trust request");
    const request = this.state.requests.get(from);
    if (request === undefined) throw new NoPendingRequestError(from);
    this.state.requests.delete(from);
    const before = this.state.contacts.get(from);
    const { changed } = this.state.contacts.add(from, this.#now(), true);
    const outbox = this.#delivery.outbox;
    const confirm = outbox.enqueue(
      "confirm",
      from,
      Uint8Array.fromHex(request.id),
      this.#now(),
    );
    await this.#saves.saveOrUndo(() => {
      outbox.drop(confirm);
      this.state.contacts.restore(from, before);
      this.state.requests.set(from, request);
    });
    if (changed) {
      this.#c.emit({ type: "contactAdded", uri: from, confirmed: true });
    }
    this.#scheduleSync();
    this.#delivery.sendConfirmations(from);
  }

  /**
   * Drops the request from `from`, telling nobody.
   *
   * @param from Account id hex.
   * @returns True if there was one.
   */
  async discardTrustRequest(from: string): Promise<boolean> {
    this.#checkPeer(from, "discard a trust request");
    const request = this.state.requests.get(from);
    if (request === undefined) return false;
    this.state.requests.delete(from);
    await this.#saves.saveOrUndo(() => this.state.requests.set(from, request));
    this.#scheduleSync();
    return true;
  }

  // ---------------------------------------------------------------- sync

  #scheduleSync(): void {
    this.#sync.schedule();
  }

  /** Does the IO of a merged snapshot from another device of ours. */
  #applySync(result: DeviceSyncResult): void {
    const { events, banned, settled, adopted, discarded } = result;
    for (const uri of banned) this.#links?.disconnect(uri);
    const outbox = this.#delivery.outbox;
    for (const id of settled) {
      const entry = outbox.get(id);
      if (entry !== undefined) outbox.drop(entry);
    }
    for (const entry of adopted) {
      // Our other device's requests still count against this outbox's
      // budget; one past it stays with the device that sends it.
      if (
        entry.kind === "request" &&
        outboxPayloadBytes(this.state.outbox) + entry.payload.length >
          MAX_OUTBOX_PAYLOAD_BYTES
      ) continue;
      outbox.adopt(entry);
    }
    if ((adopted.length > 0 || discarded) && events.length === 0) {
      this.#saves.saveReported();
      return;
    }
    if (events.length === 0) return;
    this.#saves.track(
      this.#saves.saveReported().then(() => {
        for (const event of events) this.#c.emit(event);
      }, () => {}),
    );
  }
}
