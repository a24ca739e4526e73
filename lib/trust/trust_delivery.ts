/**
 * `TrustDelivery`: the IO around an account's {@link Outbox} and
 * {@link Inbox}: listening at its inbox keys, sending and retrying outbox
 * entries, acknowledging what arrives, and acting on what the inbox decides.
 *
 * - Sending: every attempt seals the entry to each recipient known now and
 *   puts the boxes ({@link InboxCourier}); the retry timer sweeps the outbox
 *   when the next entry is due (at least every minute, at most once a
 *   second), ends expired entries and forgets message ids past retention.
 * - Polling: besides listening, the inbox keys are fetched with a `get`
 *   every {@link INBOX_POLL_MS} (jittered by ±{@link INBOX_POLL_JITTER}, on
 *   the injected clock and randomness), so a value a listener missed (a
 *   refused or misplaced listen, a lost push) is still found. A value the
 *   device already took (same key, value id and bytes) is skipped, so a
 *   poll costs no crypto and no receipt for what is known (issue 13,
 *   item 3).
 * - Receiving: a value at an inbox key is opened and checked (sender
 *   certificate, and revocation for every sender through `admitSender`,
 *   which may fetch the sender account's lists first); a box from a
 *   mailbox, or one that does not open, is counted as malformed. A sync
 *   snapshot from another device of the account goes to the account; a
 *   receipt settles its outbox entry; a request or confirmation goes through
 *   the inbox, and the state is persisted before anything is shown or
 *   acknowledged, so a crash never loses an acknowledged message and never
 *   shows one twice.
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DhtClient, OperationHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import { openSealedBox } from "../identity/sealed_box.ts";
import { type RandomBytes, randomUint32 } from "../rng.ts";
import { sha1 } from "../crypto.ts";
import {
  type AccountState,
  MAX_OUTBOX_ENTRIES,
  MAX_PEER_CERTIFICATE_BYTES,
  type OutboxEntry,
} from "../contacts/account_state.ts";
import type { BuddyTracker } from "../presence/buddy_tracker.ts";
import type { PresenceProfile } from "../presence/presence_profile.ts";
import { Inbox, type InboxDropReason } from "./inbox.ts";
import { type CourierCounters, InboxCourier } from "./inbox_courier.ts";
import {
  decodeInboxMessage,
  INBOX_PURPOSE,
  inboxKey,
  type InboxMessage,
  MESSAGE_ID_BYTES,
} from "./inbox_message.ts";
import { isMailboxCertificate } from "./mailbox.ts";
import { Outbox, type OutboxExpiry } from "./outbox.ts";
import { messageRecipients, rememberPeerDevice } from "./recipients.ts";
import { isInReplayWindow } from "./replay_window.ts";
import { forgetExpiredSeenIds, OWN_SENDER } from "./seen_ids.ts";
import { DEFAULT_STAMP_BITS, mintStamp, stampChallenge } from "./stamp.ts";

/** Mean wait between two polls of the inbox keys, in ms (5 min). */
export const INBOX_POLL_MS: number = 5 * 60_000;
/** Polls are spread uniformly over ±this fraction of {@link INBOX_POLL_MS}. */
export const INBOX_POLL_JITTER = 0.25;
/** Inbox values remembered as taken, so a poll skips them (2 keys × 1,024 values fit). */
const MAX_TAKEN_VALUES = 4_096;

/** Shortest wait between two outbox sweeps, in ms. */
const MIN_SWEEP_INTERVAL_MS = 1_000;

/**
 * Shortest wait between two receipts for duplicates of one message id, in
 * ms, whatever the profile's first retry delay.
 */
const MIN_DUPLICATE_RECEIPT_INTERVAL_MS = 1_000;

/** What delivery reports; the account emits each as its own event. */
export type TrustEvent =
  | OutboxExpiry
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
    readonly type: "trustRequestDelivered" | "trustRequestAccepted";
    readonly uri: string;
    readonly requestId: string;
  }
  | { readonly type: "confirmationDelivered"; readonly uri: string };

/** The counters delivery adds to (the account's). */
export interface TrustCounters extends CourierCounters {
  /** Outbox sends (one per attempt that reached a recipient). */
  messagesSent: number;
  /** Inbox messages dropped, by reason. */
  readonly dropped: Record<InboxDropReason | "malformed", number>;
}

/** What a {@link TrustDelivery} runs on and whom it tells. */
export interface TrustDeliveryOptions {
  /** This account's id hex. */
  readonly accountId: string;
  /** This device's keys (boxes are sealed with them). */
  readonly device: DeviceKeys;
  /** The account's certificate for this device. */
  readonly certificate: DeviceCertificate;
  /** The keys whose inboxes are listened to, in order: this device's, then the mailbox's. */
  readonly inboxKeys: readonly DeviceKeys[];
  /** The DHT boxes are put on and inboxes listened at. */
  readonly dht: DhtClient;
  /** The clock of the retry timer and of every certificate check. */
  readonly clock: Clock;
  /** Randomness for message ids and sealing. */
  readonly randomBytes: RandomBytes;
  /** Receipts, retry delays and mailboxes. */
  readonly profile: PresenceProfile;
  /**
   * Difficulty asked of strangers' request stamps, in bits.
   * @default {DEFAULT_STAMP_BITS}
   */
  readonly stampBits?: number;
  /**
   * Difficulty our requests' stamps are minted for, in bits.
   * @default {DEFAULT_STAMP_BITS}
   */
  readonly mintStampBits?: number;
  /** The account's persisted state, changed in place. */
  readonly state: AccountState;
  /** Counted in place. */
  readonly counters: TrustCounters;
  /** The account runs (nothing is sent or handled otherwise). */
  isRunning(): boolean;
  /** The tracker of a watched account (its devices, mailbox, revocation list). */
  tracker(uri: string): BuddyTracker | undefined;
  /**
   * Whether a message from `sender` (its certificate verified) may be
   * handled now: false drops it (revoked, or its account's revocation list
   * is being fetched, after which `retry` runs). @default {always true}
   */
  admitSender?(sender: DeviceCertificate, retry: () => void): boolean;
  /** An outbox entry to `uri` was added: watch its presence. */
  watchTarget(uri: string): void;
  /** The last outbox entry to `uri` left. */
  unwatchTarget(uri: string): void;
  /** Saves the account state (resolves once durable). */
  persist(): Promise<void>;
  /** Wraps asynchronous work the simulator must wait for. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Reports an event. */
  emit(event: TrustEvent): void;
  /** Contacts or pending requests changed: the account's other devices should hear. */
  onShared(): void;
  /** A sync snapshot from another device of this account arrived. */
  onOwnSync(snapshot: Uint8Array): void;
}

/** Sends, retries, receives and acknowledges one account's trust messages. */
export class TrustDelivery {
  /** The account's outbox. */
  readonly outbox: Outbox;
  /** Seals and puts boxes (also the account's sync snapshots). */
  readonly courier: InboxCourier;
  readonly #options: TrustDeliveryOptions;
  readonly #inbox: Inbox;
  #listens: OperationHandle[] = [];
  /** Request id → its stamp, minted once (our own entries: bounded by the outbox). */
  readonly #stamps = new Map<string, Uint8Array>();
  #retryTimer?: Timer;
  #pollTimer?: Timer;
  /** Inbox key, value id and SHA-1 of the bytes of the values taken (LRU). */
  readonly #taken = new Set<string>();

  /**
   * Delivery over the account's state (call {@link TrustDelivery.listen}
   * and {@link TrustDelivery.resume} once the account runs).
   *
   * @param options See {@link TrustDeliveryOptions}.
   */
  constructor(options: TrustDeliveryOptions) {
    this.#options = options;
    const { state, profile } = options;
    this.outbox = new Outbox({
      entries: state.outbox,
      policy: profile,
      newId: () => options.randomBytes(MESSAGE_ID_BYTES).toHex(),
      onEnqueued: (uri) => options.watchTarget(uri),
      onTargetCleared: (uri) => options.unwatchTarget(uri),
      stamp: (entry) =>
        entry.kind === "request" ? this.#stamp(entry) : undefined,
    });
    // A quarter of the first retry delay: a genuine sender's retries are
    // spaced at least that delay, so each still gets a receipt despite
    // network jitter.
    this.#inbox = new Inbox(
      state,
      Math.max(MIN_DUPLICATE_RECEIPT_INTERVAL_MS, profile.retryInitialMs / 4),
      options.stampBits ?? DEFAULT_STAMP_BITS,
    );
    this.courier = new InboxCourier({
      device: options.device,
      certificate: options.certificate,
      dht: options.dht,
      clock: options.clock,
      randomBytes: options.randomBytes,
      counters: options.counters,
      recipients: (uri, onlineOnly) => this.#recipients(uri, onlineOnly),
      mayReceipt: () => options.isRunning() && profile.receipts,
      rememberMailbox: (uri, mailbox) => {
        const peer = state.peers.get(uri);
        if (
          peer !== undefined &&
          mailbox.bytes.length <= MAX_PEER_CERTIFICATE_BYTES
        ) peer.mailbox = mailbox.bytes;
      },
    });
  }

  /**
   * The stamp of one of our requests, minted once per request.
   *
   * @param entry A request entry.
   * @returns Its stamp, for {@link DEFAULT_STAMP_BITS}.
   */
  #stamp(entry: OutboxEntry): Uint8Array {
    let stamp = this.#stamps.get(entry.id);
    if (stamp === undefined) {
      if (this.#stamps.size >= MAX_OUTBOX_ENTRIES) this.#stamps.clear();
      stamp = mintStamp(
        stampChallenge({
          to: Uint8Array.fromHex(entry.to),
          from: Uint8Array.fromHex(this.#options.accountId),
          requestId: Uint8Array.fromHex(entry.id),
          sentMs: entry.createdMs,
        }),
        this.#options.mintStampBits ?? DEFAULT_STAMP_BITS,
      );
      this.#stamps.set(entry.id, stamp);
    }
    return stamp;
  }

  /** Listens at the inbox keys, and polls them from now on. */
  listen(): void {
    for (const keys of this.#options.inboxKeys) {
      this.#listens.push(
        this.#options.dht.listen(inboxKey(keys.id), (event) => {
          if (event.kind !== "added") return;
          for (const value of event.values) {
            this.#take(keys, value);
            this.#onInboxValue(keys, value);
          }
        }),
      );
    }
    this.#schedulePoll();
  }

  /** Stops listening at the inbox keys, and polling them. */
  stopListening(): void {
    for (const listen of this.#listens) listen.cancel();
    this.#listens = [];
    this.#pollTimer?.cancel();
    this.#pollTimer = undefined;
  }

  /** The next poll, {@link INBOX_POLL_MS} ± {@link INBOX_POLL_JITTER} from now. */
  #schedulePoll(): void {
    this.#pollTimer?.cancel();
    const spread = randomUint32(this.#options.randomBytes) / 2 ** 32;
    const delayMs = Math.round(
      INBOX_POLL_MS * (1 - INBOX_POLL_JITTER + 2 * INBOX_POLL_JITTER * spread),
    );
    this.#pollTimer = this.#options.clock.setTimer(delayMs, () => this.#poll());
  }

  /** Gets every inbox key; values not taken yet are handled as if heard. */
  #poll(): void {
    if (!this.#options.isRunning()) return;
    for (const keys of this.#options.inboxKeys) {
      this.#options.dht.get(inboxKey(keys.id), {
        onValues: (values) => {
          for (const value of values) {
            if (this.#take(keys, value)) this.#onInboxValue(keys, value);
          }
        },
      });
    }
    this.#schedulePoll();
  }

  /**
   * Remembers a value as taken.
   *
   * @returns False if it was taken already.
   */
  #take(keys: DeviceKeys, value: DhtValue): boolean {
    const id = `${keys.id}:${value.id}:${sha1(value.data).toHex()}`;
    const taken = this.#taken;
    const fresh = !taken.delete(id);
    if (fresh && taken.size >= MAX_TAKEN_VALUES) {
      taken.delete(taken.values().next().value!);
    }
    taken.add(id);
    return fresh;
  }

  /** Sweeps the outbox now, and from then on whenever something is due. */
  resume(): void {
    this.#scheduleRetry(0);
  }

  /** Stops the retry timer. */
  stopRetries(): void {
    this.#retryTimer?.cancel();
  }

  /** Whole milliseconds (the simulator's clock has fractions). */
  #now(): number {
    return Math.floor(this.#options.clock.now());
  }

  /**
   * Sends `entry` to every recipient known now (see {@link Outbox.attempt}),
   * and persists the attempt.
   *
   * @param entry An outbox entry.
   */
  attempt(entry: OutboxEntry): void {
    if (!this.#options.isRunning()) return;
    const outcome = this.outbox.attempt(entry, this.#now(), this.courier);
    if (outcome === "skipped") return;
    if (outcome === "sent") this.#options.counters.messagesSent += 1;
    this.#options.persist();
  }

  /**
   * Sends everything for `uri` again now (it came online).
   *
   * @param uri Target account hex.
   */
  retryTarget(uri: string): void {
    for (const entry of this.outbox.retryableTo(uri)) this.attempt(entry);
  }

  /**
   * Sends the confirmations to `uri` now (just accepted).
   *
   * @param uri Target account hex.
   */
  sendConfirmations(uri: string): void {
    for (const entry of this.outbox.confirmationsTo(uri)) this.attempt(entry);
  }

  /** Recipients for a message to `uri`: known devices (and the mailbox). */
  #recipients(uri: string, onlineOnly: boolean): DeviceCertificate[] {
    return messageRecipients(uri, {
      tracker: this.#options.tracker(uri),
      peer: this.#options.state.peers.get(uri),
      nowMs: this.#now(),
      onlineOnly,
      mailbox: this.#options.profile.mailbox,
    });
  }

  #scheduleRetry(delayMs: number): void {
    this.#retryTimer?.cancel();
    this.#retryTimer = this.#options.clock.setTimer(
      delayMs,
      () => this.#retryDue(),
    );
  }

  /** Sends what is due, ends what expired, forgets old message ids. */
  #retryDue(): void {
    if (!this.#options.isRunning()) return;
    const now = this.#now();
    const { nextMs, changed } = this.outbox.sweep(now, {
      attempt: (entry) => this.attempt(entry),
      expired: (expiry) => this.#options.emit(expiry),
    });
    const forgot = forgetExpiredSeenIds(this.#options.state.seen, now);
    if (changed || forgot) this.#options.persist();
    this.#scheduleRetry(Math.max(MIN_SWEEP_INTERVAL_MS, nextMs - now));
  }

  #onInboxValue(keys: DeviceKeys, value: DhtValue): void {
    const options = this.#options;
    if (!options.isRunning()) return;
    let sender: DeviceCertificate;
    let message: InboxMessage;
    try {
      const opened = openSealedBox(value.data, {
        device: keys,
        purpose: INBOX_PURPOSE,
        nowMs: this.#now(),
        revocationList: (account) =>
          options.tracker(account.toString())?.revocationList,
      });
      sender = opened.sender;
      message = decodeInboxMessage(opened.message);
    } catch {
      options.counters.dropped.malformed += 1;
      return;
    }
    if (isMailboxCertificate(sender)) {
      options.counters.dropped.malformed += 1;
      return;
    }
    // Revocation is checked for every sender, watched or not.
    const retry = () => this.#onInboxValue(keys, value);
    if (options.admitSender?.(sender, retry) === false) return;
    const from = sender.accountId.toString();
    // Bound to one (sender, target) pair: a box for another account, or
    // (receipts) one outside the replay window, is refused. Requests and
    // confirmations are checked by the inbox.
    if (message.to !== undefined && message.to.toHex() !== options.accountId) {
      options.counters.dropped.malformed += 1;
      return;
    }
    if (from === options.accountId) {
      if (
        message.kind === "sync" && !sender.deviceId.equals(options.device.id)
      ) {
        options.onOwnSync(message.snapshot);
      }
      return;
    }
    rememberPeerDevice(options.state.peers, from, sender, this.#now());
    if (message.kind === "receipt") {
      if (!isInReplayWindow(message.sentMs, this.#now())) {
        options.counters.dropped.stale += 1;
        return;
      }
      this.#onReceipt(from, message.ackId.toHex());
      return;
    }
    if (message.kind === "sync") return;
    this.#onMessage(from, sender, message);
  }

  /** Does what the inbox decided about a request or confirmation. */
  #onMessage(
    from: string,
    sender: DeviceCertificate,
    message: Extract<InboxMessage, { kind: "request" | "confirm" }>,
  ): void {
    const options = this.#options;
    const outcome = this.#inbox.receive(from, message, this.#now());
    const acknowledge = () => this.courier.sendReceipt(sender, message.id);
    // Nothing is acknowledged unless saved (a failed save is the persister's to report).
    const onceSaved = (then: () => void) =>
      options.track(options.persist().then(then, () => {}));
    switch (outcome.kind) {
      case "dropped":
        options.counters.dropped[outcome.reason] += 1;
        // A duplicate: the sender missed our receipt, or anyone re-put a
        // copy of its public box: acknowledged again at most once per id
        // per interval (no receipt, no mailbox lookup otherwise).
        if (
          outcome.reason === "duplicate" &&
          this.#inbox.mayAcknowledgeDuplicate(
            from,
            message.id.toHex(),
            this.#now(),
          )
        ) {
          acknowledge();
        }
        if (outcome.reason === "banned") onceSaved(acknowledge);
        return;
      case "olderRequest":
        onceSaved(acknowledge);
        return;
      case "newRequest": {
        const { request } = outcome;
        onceSaved(() => {
          acknowledge();
          options.emit({
            type: "incomingTrustRequest",
            from,
            payload: request.payload,
            receiveTime: request.receivedMs,
          });
          options.onShared();
        });
        return;
      }
      case "contactRequest": {
        // The confirmation names the request it answers; our own requests
        // to `from` wait for its confirmation naming them.
        this.outbox.enqueue("confirm", from, message.id.slice(), this.#now());
        onceSaved(() => {
          acknowledge();
          this.#reportAccepted(from, outcome.confirmed, []);
          options.onShared();
          this.sendConfirmations(from);
        });
        return;
      }
      case "confirmation": {
        const accepted: string[] = [];
        const entry = outcome.settled === undefined
          ? undefined
          : this.outbox.get(outcome.settled);
        if (entry !== undefined) {
          this.outbox.drop(entry);
          accepted.push(entry.id);
        }
        onceSaved(() => {
          acknowledge();
          this.#reportAccepted(from, outcome.confirmed, accepted);
          if (outcome.confirmed) options.onShared();
        });
        return;
      }
    }
  }

  /** Reports a contact confirmed now, and our requests it answered. */
  #reportAccepted(uri: string, confirmed: boolean, requestIds: string[]): void {
    const { emit } = this.#options;
    if (confirmed) emit({ type: "contactAdded", uri, confirmed: true });
    for (const requestId of requestIds) {
      emit({ type: "trustRequestAccepted", uri, requestId });
    }
  }

  #onReceipt(from: string, ackId: string): void {
    const entry = this.outbox.acknowledge(from, ackId);
    if (entry === undefined) return;
    // Remembered, so a sync from another device does not resend it.
    this.#inbox.markSeen(ackId, OWN_SENDER, this.#now(), this.#now());
    const { emit } = this.#options;
    this.#options.track(
      this.#options.persist().then(() => {
        emit(
          entry.kind === "request"
            ? { type: "trustRequestDelivered", uri: from, requestId: ackId }
            : { type: "confirmationDelivered", uri: from },
        );
      }, () => {}), // A failed save is the persister's to report.
    );
  }
}
