/**
 * `JamiAccount`: a Jami-format account running on this device, behind the
 * same daemon API as our own accounts (`ManagedAccount`). It wires the Jami
 * roles together, each in its own module:
 * - this device's certificate value, announcement and CRL on the DHT:
 *   `JamiPublisher`;
 * - contacts' presence: one `JamiBuddyWatch` per subscribed buddy (and per
 *   outbox target, so requests reach devices that announce later);
 * - devices and their certificate chains: `JamiDeviceDirectory`;
 * - requests and confirmations being sent: `JamiOutbox`; received:
 *   `JamiInbox`;
 * - persisted state: `JamiAccountStateStore`.
 *
 * What it decides itself is jamid 13.7's `ContactList::onTrustRequest`
 * table (`jami-behaviour.md` §2.6), with the two later fixes that matter to
 * a peer: a newer request replaces the stored one's payload and
 * conversation id, and a request from an active contact is answered by a
 * confirmation even when the conversation ids agree (the endless-loop fix).
 * Where it differs on purpose (documented in `docs/jami.md`): a
 * confirmation from a stranger is ignored rather than stored as a silent
 * request, and `incomingTrustRequest` is emitted once per stored request,
 * not on every re-delivery.
 *
 * @module
 */
import { AccountSaves } from "../daemon/account_saves.ts";
import type { Clock } from "../clock.ts";
import type { Contact } from "../contacts/contact_list.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import type {
  BuddyDevice,
  BuddyStatus,
} from "../presence/buddy_subscriptions.ts";
import type { RandomBytes } from "../rng.ts";
import type { AccountEvent } from "../daemon/account_event.ts";
import {
  NoPendingRequestError,
  OwnAccountError,
  PayloadTooLargeError,
  QuotaExceededError,
} from "../daemon/errors.ts";
import type {
  ManagedAccount,
  ManagedTrustRequest,
  SendTrustRequestOptions,
} from "../daemon/managed_account.ts";
import {
  type JamiAccountStateStore,
  type JamiOutboxEntry,
  MAX_JAMI_PAYLOAD_BYTES,
  MAX_JAMI_PENDING_REQUESTS,
} from "./jami_account_state.ts";
import { JamiBuddyWatch } from "./jami_buddy_watch.ts";
import {
  type JamiDevice,
  JamiDeviceDirectory,
} from "./jami_device_directory.ts";
import type { JamiIdentity } from "./jami_identity.ts";
import { JamiInbox } from "./jami_inbox.ts";
import { JamiOutbox } from "./jami_outbox.ts";
import { JamiPublisher } from "./jami_publisher.ts";
import { JamiRevocationList } from "./revocation_list.ts";
import type { JamiTrustRequest } from "./trust_request.ts";

/** Most buddies watched at once (subscriptions and outbox targets). */
export const MAX_JAMI_WATCHES = 1_024;
/** A conversation id we accept from a peer: empty or up to 64 printable ASCII characters. */
const CONVERSATION_ID = /^[\x21-\x7e]{0,64}$/;

/** What a Jami account runs on. */
export interface JamiAccountComponents {
  /** The account and this device's keys and certificates. */
  readonly identity: JamiIdentity;
  /** The DHT node (shared with the daemon's other accounts). */
  readonly dht: DhtClient;
  /** The clock of every timer of the account. */
  readonly clock: Clock;
  /** Value ids and encryption randomness (a cryptographic source). */
  readonly randomBytes: RandomBytes;
  /** Where the account's state is kept across restarts. */
  readonly store: JamiAccountStateStore;
  /** Receives every event. */
  readonly emit: (event: AccountEvent) => void;
  /** Told when a save nobody awaits fails. @default {ignore it} */
  readonly onSaveError?: (error: unknown) => void;
  /** Called around asynchronous CPU work (the simulator waits for it). */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /** The account's CRL (DER), published at the account id, if any. */
  readonly revocationList?: () => Uint8Array | undefined;
}

/** Why watches exist for a buddy. */
type WatchReason = "subscription" | "outbox";

/** A Jami-format account on this device. */
export class JamiAccount implements ManagedAccount {
  /** Jami account id, 40 hex. */
  readonly id: string;
  /** Always `"jami"`. */
  readonly kind: "jami" = "jami";
  readonly #c: JamiAccountComponents;
  readonly #saves: AccountSaves;
  readonly #directory: JamiDeviceDirectory;
  readonly #publisher: JamiPublisher;
  readonly #inbox: JamiInbox;
  readonly #outbox: JamiOutbox;
  readonly #watches = new Map<
    string,
    { watch: JamiBuddyWatch; reasons: Set<WatchReason>; status: 0 | 1 }
  >();
  #running = false;

  /**
   * A Jami account (call {@link JamiAccount.start}).
   *
   * @param components See {@link JamiAccountComponents}.
   */
  constructor(components: JamiAccountComponents) {
    this.#c = components;
    this.#saves = new AccountSaves(components);
    this.id = components.identity.accountId;
    const track = <T>(work: Promise<T>) => this.#saves.track(work);
    const { dht, clock, identity, randomBytes, store } = components;
    this.#directory = new JamiDeviceDirectory({ dht, clock, track });
    this.#publisher = new JamiPublisher({
      identity,
      dht,
      randomBytes,
      track,
      revocationList: () =>
        store.state.revocationList ?? components.revocationList?.(),
    });
    this.#inbox = new JamiInbox({
      deviceId: identity.deviceId,
      deviceKey: identity.deviceKey,
      dht,
      directory: this.#directory,
      clock,
      track,
      onRequest: (request, sender) => this.#onTrustRequest(request, sender),
    });
    this.#outbox = new JamiOutbox({
      state: store.state,
      directory: this.#directory,
      dht,
      clock,
      randomBytes,
      deviceKey: identity.deviceKey,
      track,
      persist: () => void this.#saves.saveReported(),
      isRunning: () => this.#running,
      onExpired: (entry) => {
        this.#unwatch(entry.to, "outbox");
        this.#c.emit({
          type: "trustRequestExpired",
          uri: entry.to,
          requestId: entry.id,
        });
      },
    });
  }

  /** The account and device keys and certificates. */
  get identity(): JamiIdentity {
    return this.#c.identity;
  }

  /** This device's SHA-1 id, 40 hex. */
  get deviceId(): string {
    return this.#c.identity.deviceId;
  }

  /** The persisted state (read it; change it through the methods). */
  get state(): JamiAccountStateStore["state"] {
    return this.#c.store.state;
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.#running;
  }

  /** Drops and sends so far, for reports and tests. */
  get counters(): {
    inboxDropped: Readonly<Record<string, number>>;
    inboxAccepted: number;
    putsSent: number;
    putsThrottled: number;
    directoryDropped: number;
  } {
    return {
      inboxDropped: { ...this.#inbox.dropped },
      inboxAccepted: this.#inbox.accepted,
      putsSent: this.#outbox.putsSent,
      putsThrottled: this.#outbox.putsThrottled,
      directoryDropped: this.#directory.dropped,
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Publishes this device, listens to its inbox, resumes the outbox. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#publisher.start();
    this.#inbox.start();
    for (const uri of this.state.subscriptions) {
      this.#watch(uri, "subscription");
    }
    for (const entry of this.#outbox.entries()) {
      if (entry.kind === "request") this.#watch(entry.to, "outbox");
    }
    this.#outbox.resume();
  }

  /**
   * Stops every listen, refresh and timer, then saves.
   *
   * @returns Resolves once the state is saved.
   */
  stop(): Promise<void> {
    this.#halt();
    return this.#saves.save();
  }

  /** Stops at once with no final write (a killed process, for tests). */
  crash(): void {
    this.#halt();
  }

  #halt(): void {
    this.#running = false;
    this.#publisher.stop();
    this.#inbox.stop();
    this.#outbox.stop();
    for (const { watch } of this.#watches.values()) watch.stop();
    this.#watches.clear();
  }

  #now(): number {
    return Math.floor(this.#c.clock.now());
  }

  #checkPeer(uri: string, action: string): void {
    if (uri === this.id) throw new OwnAccountError(action);
  }

  // ---------------------------------------------------------------- presence

  #watch(uri: string, reason: WatchReason): void {
    if (!this.#running || uri === this.id) return;
    const existing = this.#watches.get(uri);
    if (existing !== undefined) {
      existing.reasons.add(reason);
      return;
    }
    if (this.#watches.size >= MAX_JAMI_WATCHES) return;
    const watch: JamiBuddyWatch = new JamiBuddyWatch({
      accountId: uri,
      dht: this.#c.dht,
      clock: this.#c.clock,
      directory: this.#directory,
      track: (work) => this.#saves.track(work),
      onChange: () => this.#onBuddyChange(uri),
      onNewDevice: (device) => this.#onBuddyDevice(uri, device),
    });
    this.#watches.set(uri, { watch, reasons: new Set([reason]), status: 0 });
    watch.start();
  }

  #unwatch(uri: string, reason: WatchReason): void {
    const entry = this.#watches.get(uri);
    if (entry === undefined) return;
    entry.reasons.delete(reason);
    if (entry.reasons.size > 0) return;
    entry.watch.stop();
    this.#watches.delete(uri);
  }

  #onBuddyChange(uri: string): void {
    const entry = this.#watches.get(uri);
    if (entry === undefined) return;
    const status = entry.watch.status;
    if (status === entry.status) return;
    entry.status = status;
    if (this.state.subscriptions.has(uri)) {
      this.#c.emit({
        type: "newBuddyNotification",
        buddyUri: uri,
        status,
        lineStatus: "",
      });
    }
  }

  #onBuddyDevice(uri: string, device: JamiDevice): void {
    // jamid re-sends unanswered requests when a contact comes online; we
    // send to each device that has not stored our value yet.
    this.#outbox.onDevice(uri, device);
  }

  /**
   * Follows (or stops following) a Jami account's presence. Subscribing
   * replays status 1 if the buddy is already known online.
   *
   * @param uri Account id, 40 hex.
   * @param flag Subscribe or unsubscribe.
   * @throws {OwnAccountError} If `uri` is this account.
   */
  subscribeBuddy(uri: string, flag: boolean): void {
    this.#checkPeer(uri, "subscribe to presence");
    if (!flag) {
      if (this.state.subscriptions.delete(uri)) void this.#saves.saveReported();
      this.#unwatch(uri, "subscription");
      return;
    }
    if (this.state.contacts.isBanned(uri)) return;
    const fresh = !this.state.subscriptions.has(uri);
    if (fresh && this.state.subscriptions.size >= MAX_JAMI_WATCHES) return;
    this.state.subscriptions.add(uri);
    if (fresh) void this.#saves.saveReported();
    this.#watch(uri, "subscription");
    const entry = this.#watches.get(uri);
    if (fresh && entry !== undefined && entry.status === 1) {
      this.#c.emit({
        type: "newBuddyNotification",
        buddyUri: uri,
        status: 1,
        lineStatus: "",
      });
    }
  }

  /** The subscribed buddies and their status (0 or 1: Jami 13.7 has no status 2). */
  getSubscriptions(): BuddyStatus[] {
    return [...this.state.subscriptions].map((buddy) => ({
      buddy,
      status: this.#watches.get(buddy)?.status ?? 0,
      lineStatus: "",
    }));
  }

  /**
   * The devices of a followed buddy (device SHA-1 ids).
   *
   * @param uri Account id, 40 hex.
   * @returns The devices seen announced; online when verified and live.
   */
  getDevices(uri: string): BuddyDevice[] {
    const entry = this.#watches.get(uri);
    if (entry === undefined) return [];
    return entry.watch.devices().map(({ deviceId, online }) => ({
      device: deviceId,
      name: "",
      online,
      note: "",
      connected: false,
    }));
  }

  /**
   * Shows (status ≠ 0) or hides (0) this device's announcement. Jami 13.7
   * carries no note; `note` is ignored.
   *
   * @param status 0 hides this device.
   * @param _note Ignored.
   */
  publish(status: number, _note: string): void {
    this.#publisher.setVisible(status !== 0);
  }

  /**
   * Revokes another device of this account (lost or stolen), as jamid's
   * `revokeDevice`: a CRL signed by the account key listing the device
   * certificate's serial (with those revoked before), saved and published
   * at the account id. Watchers stop counting the device and its requests
   * are dropped. The device's certificate is read from the DHT.
   *
   * @param deviceId The device's SHA-1 id, 40 hex.
   * @throws {RangeError} If it is this device, not a device id, or no valid
   *   certificate of this account is found for it.
   */
  async revokeDevice(deviceId: string): Promise<void> {
    if (!/^[0-9a-f]{40}$/.test(deviceId)) {
      throw new RangeError("Cannot revoke: not a 40-hex device id");
    }
    if (deviceId === this.deviceId) {
      throw new RangeError("Cannot revoke this device from itself");
    }
    const device = await new Promise<JamiDevice | undefined>((resolve) =>
      this.#directory.resolve(deviceId, resolve, this.id)
    );
    if (device === undefined) {
      throw new RangeError(
        `Cannot revoke ${deviceId}: no valid certificate of this account found for it`,
      );
    }
    const { accountKey, accountChain } = this.#c.identity;
    const bytes = this.state.revocationList;
    const old = bytes === undefined
      ? undefined
      : JamiRevocationList.fromDer(bytes);
    const serial = device.chain.device.serial;
    if (old?.isRevoked(serial)) return;
    const list = await this.#saves.track(JamiRevocationList.create(
      accountKey,
      accountChain.device,
      [...(old?.revokedSerials ?? []), serial],
      this.#now(),
    ));
    this.state.revocationList = list.der;
    await this.#saves.saveOrUndo(() => this.state.revocationList = bytes);
    await this.#saves.track(
      this.#directory.adoptRevocationList(this.id, list, accountKey.publicKey),
    );
    this.#publisher.refreshRevocationList();
  }

  // ---------------------------------------------------------------- contacts

  /** Visible contacts (active and banned). */
  getContacts(): Contact[] {
    return this.state.contacts.visible();
  }

  /**
   * One contact as stored.
   *
   * @param uri Account id, 40 hex.
   * @returns The contact, or undefined.
   */
  contact(uri: string): Contact | undefined {
    return this.state.contacts.get(uri);
  }

  /**
   * The conversation id paired with a contact ("" if none).
   *
   * @param uri Account id, 40 hex.
   * @returns The id.
   */
  conversationId(uri: string): string {
    return this.state.conversations.get(uri) ?? "";
  }

  /**
   * Adds a contact (lifting a ban); sends nothing.
   *
   * @param uri Account id, 40 hex.
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
  }

  /**
   * Removes a contact (its pending request and our outbox entries to it
   * too); with `ban`, its requests are dropped from now on.
   *
   * @param uri Account id, 40 hex.
   * @param ban Also ban.
   */
  async removeContact(uri: string, ban: boolean): Promise<void> {
    this.#checkPeer(uri, "remove contact");
    const before = this.state.contacts.get(uri);
    const request = this.state.requests.get(uri);
    const { changed } = this.state.contacts.remove(uri, ban, this.#now());
    const hadRequest = this.state.requests.delete(uri);
    const dropped = this.#outbox.dropAllTo(uri);
    if (ban) this.subscribeBuddy(uri, false);
    if (!changed && !hadRequest && dropped.length === 0) return;
    await this.#saves.saveOrUndo(() => {
      this.state.contacts.restore(uri, before);
      if (request !== undefined) this.state.requests.set(uri, request);
      for (const entry of dropped) this.#outbox.adopt(entry);
    });
    this.#unwatch(uri, "outbox");
    if (changed) this.#c.emit({ type: "contactRemoved", uri, banned: ban });
  }

  // ---------------------------------------------------------------- requests

  /** Pending incoming requests. */
  getTrustRequests(): ManagedTrustRequest[] {
    return [...this.state.requests.values()];
  }

  /**
   * Sends a trust request to every device `to` announces (now, and those
   * that announce later, within the outbox's bounds); `to` becomes an
   * unconfirmed contact, as in jamid.
   *
   * @param to Jami account id, 40 hex.
   * @param payload Opaque payload (a vCard), at most 64,000 bytes.
   * @param options The conversation id to carry (default "", legacy).
   * @returns The request id, 32 hex.
   * @throws {OwnAccountError} If `to` is this account.
   * @throws {PayloadTooLargeError} If the payload is over 64,000 bytes.
   * @throws {RangeError} If the conversation id is not printable ASCII of at most 64 characters.
   * @throws {QuotaExceededError} If the outbox is full.
   */
  async sendTrustRequest(
    to: string,
    payload: Uint8Array,
    options: SendTrustRequestOptions = {},
  ): Promise<string> {
    this.#checkPeer(to, "send a trust request");
    if (payload.length > MAX_JAMI_PAYLOAD_BYTES) {
      throw new PayloadTooLargeError(payload.length, MAX_JAMI_PAYLOAD_BYTES);
    }
    const conversationId = options.conversationId ?? "";
    if (!CONVERSATION_ID.test(conversationId)) {
      throw new RangeError(
        "Cannot send trust request: conversationId must be at most 64 printable ASCII characters",
      );
    }
    let enqueued;
    try {
      enqueued = this.#outbox.enqueue(
        "request",
        to,
        conversationId,
        payload.slice(),
      );
    } catch {
      throw new QuotaExceededError("the Jami outbox");
    }
    const { entry, replaced } = enqueued;
    const before = this.state.contacts.get(to);
    const beforeConversation = this.state.conversations.get(to);
    const { contact, changed } = this.state.contacts.add(to, this.#now());
    if (conversationId !== "") this.state.conversations.set(to, conversationId);
    await this.#saves.saveOrUndo(() => {
      this.#outbox.drop(entry);
      if (replaced !== undefined) this.#outbox.adopt(replaced);
      this.state.contacts.restore(to, before);
      if (beforeConversation === undefined) this.state.conversations.delete(to);
      else this.state.conversations.set(to, beforeConversation);
    });
    if (changed) {
      this.#c.emit({
        type: "contactAdded",
        uri: to,
        confirmed: contact.confirmed,
      });
    }
    this.#watch(to, "outbox");
    this.#outbox.attempt(entry);
    return entry.id;
  }

  /**
   * Accepts the pending request from `from`: a confirmed contact, and a
   * confirmation (`confirm: true`, the request's conversation id) put into
   * every device inbox of the requester.
   *
   * @param from Account id, 40 hex.
   * @throws {OwnAccountError} If `from` is this account.
   * @throws {NoPendingRequestError} If no request from `from` is pending.
   */
  async acceptTrustRequest(from: string): Promise<void> {
    this.#checkPeer(from, "accept a trust request");
    const request = this.state.requests.get(from);
    if (request === undefined) throw new NoPendingRequestError(from);
    this.state.requests.delete(from);
    const before = this.state.contacts.get(from);
    const beforeConversation = this.state.conversations.get(from);
    const { changed } = this.state.contacts.add(from, this.#now(), true);
    if (request.conversationId !== "") {
      this.state.conversations.set(from, request.conversationId);
    }
    let confirm;
    try {
      confirm = this.#outbox.enqueue(
        "confirm",
        from,
        request.conversationId,
        new Uint8Array(),
      );
    } catch {
      confirm = undefined; // Full outbox: the contact is still accepted.
    }
    await this.#saves.saveOrUndo(() => {
      if (confirm !== undefined) {
        this.#outbox.drop(confirm.entry);
        if (confirm.replaced) this.#outbox.adopt(confirm.replaced);
      }
      this.state.contacts.restore(from, before);
      if (beforeConversation === undefined) {
        this.state.conversations.delete(from);
      } else this.state.conversations.set(from, beforeConversation);
      this.state.requests.set(from, request);
    });
    if (changed) {
      this.#c.emit({ type: "contactAdded", uri: from, confirmed: true });
    }
    if (confirm !== undefined) this.#outbox.attempt(confirm.entry);
  }

  /**
   * Drops the pending request from `from`, telling nobody (as jamid).
   *
   * @param from Account id, 40 hex.
   * @returns True if there was one.
   */
  async discardTrustRequest(from: string): Promise<boolean> {
    this.#checkPeer(from, "discard a trust request");
    const request = this.state.requests.get(from);
    if (request === undefined) return false;
    this.state.requests.delete(from);
    await this.#saves.saveOrUndo(() => this.state.requests.set(from, request));
    return true;
  }

  /**
   * jamid's decision table for a request that passed the inbox's checks.
   *
   * @returns False if refused (banned, own account, stranger's confirm, full).
   */
  #onTrustRequest(request: JamiTrustRequest, sender: JamiDevice): boolean {
    if (!this.#running) return false;
    const from = sender.accountId;
    if (from === this.id) return false; // Our own devices do not send us requests.
    if (!CONVERSATION_ID.test(request.conversationId)) return false;
    const contacts = this.state.contacts;
    if (contacts.isBanned(from)) return false;
    if (contacts.isActive(from)) {
      this.#fromContact(from, request);
      return true;
    }
    if (request.confirm) return false; // A stranger's confirmation answers nothing.
    if (request.payload.length > MAX_JAMI_PAYLOAD_BYTES) return false;
    const old = this.state.requests.get(from);
    if (
      old === undefined && this.state.requests.size >= MAX_JAMI_PENDING_REQUESTS
    ) {
      return false;
    }
    const stored = {
      from,
      receivedMs: old?.receivedMs ?? this.#now(),
      payload: request.payload.slice(),
      conversationId: request.conversationId,
    };
    if (
      old !== undefined && old.conversationId === stored.conversationId &&
      old.payload.length === stored.payload.length &&
      old.payload.every((byte, i) => byte === stored.payload[i])
    ) {
      return true; // A re-delivery: shown once already.
    }
    this.state.requests.set(from, stored);
    const saved = this.#saves.saveReported();
    if (old === undefined) {
      this.#saves.track(
        saved.then(() =>
          this.#c.emit({
            type: "incomingTrustRequest",
            from,
            payload: stored.payload,
            receiveTime: stored.receivedMs,
          })
        ).catch(() => {}),
      );
    }
    return true;
  }

  /** A request or confirmation from an active contact. */
  #fromContact(from: string, request: JamiTrustRequest): void {
    const confirmedNow = this.state.contacts.confirm(from);
    if (request.conversationId !== "" && request.confirm) {
      // jamid switches to the peer's conversation on a confirmation.
      this.state.conversations.set(from, request.conversationId);
    }
    const sent = this.#outbox.find("request", from);
    if (sent !== undefined) this.#outbox.drop(sent);
    let confirm: JamiOutboxEntry | undefined;
    if (!request.confirm && this.#outbox.find("confirm", from) === undefined) {
      // Auto-confirm, with our stored conversation id if we have one.
      try {
        confirm = this.#outbox.enqueue(
          "confirm",
          from,
          this.conversationId(from) || request.conversationId,
          new Uint8Array(),
        ).entry;
      } catch {
        confirm = undefined;
      }
    }
    if (!confirmedNow && sent === undefined && confirm === undefined) return;
    const saved = this.#saves.saveReported();
    this.#saves.track(
      saved.then(() => {
        if (confirmedNow) {
          this.#c.emit({ type: "contactAdded", uri: from, confirmed: true });
        }
        if (sent !== undefined) {
          this.#unwatch(from, "outbox");
          this.#c.emit({
            type: "trustRequestAccepted",
            uri: from,
            requestId: sent.id,
          });
        }
        if (confirm !== undefined) this.#outbox.attempt(confirm);
      }).catch(() => {}),
    );
  }
}
