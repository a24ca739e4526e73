/**
 * `Inbox`: what an account does with a trust request or a confirmation
 * another account sealed to it, once the box is opened and the sender's
 * certificate checked.
 *
 * In order: a message id already handled is a duplicate (the sender missed
 * our receipt: acknowledge again); a message sent outside the replay window
 * (`replay_window.ts`), before the sender's last removal as a
 * contact, or (from a stranger) at or before the seen-set's floor is stale
 * and dropped; a request from a stranger (not an active contact, not a
 * target of our outbox) without a valid proof-of-work stamp (`stamp.ts`) is
 * dropped, checked before anything else is spent on it; a sender over
 * {@link SENDER_QUOTA_PER_HOUR} is dropped without a receipt (the quota
 * windows are a bounded LRU, never wiped wholesale); a banned sender's
 * message is remembered and acknowledged like any other, never shown; a
 * request from an active contact (or crossing ours) is confirmed at once; a
 * request older than the one held is acknowledged, not shown; a new request
 * while {@link MAX_PENDING_REQUESTS} are pending (or while their payloads
 * pass {@link MAX_PENDING_PAYLOAD_BYTES}) pushes out the oldest
 * stranger's request (issue 13, item 9); any request is then stored to be
 * shown. A confirmation
 * settles the one outbox request it names, if that request went to its
 * sender and the sender is an active contact; one naming nothing of ours is
 * stale, unless the contact is already confirmed (a copy another device of
 * ours settled). So a captured confirmation replayed later answers no new
 * request (issue 13, item 2). A message whose id cannot be kept in the
 * seen-set (`seen_ids.ts`) is dropped for the quota.
 *
 * A duplicate is acknowledged again at most once per message id per
 * {@link DUPLICATE_RECEIPT_INTERVAL_MS} ({@link Inbox.mayAcknowledgeDuplicate}):
 * inbox values are public, so anyone can re-put a copy of one, and each
 * copy must not cost a receipt (issue 13, item 8).
 *
 * Handled ids are remembered in the account's persisted seen-set
 * ({@link rememberSeenId}) for {@link SEEN_RETENTION_MS}, beyond the life of
 * any inbox value that could bring them again. The inbox changes the state
 * it is given and returns an {@link InboxOutcome}; the account persists,
 * sends the receipt, queues the confirmation and reports.
 *
 * @example A request shown once, then a duplicate
 * ```ts
 * import assert from "node:assert/strict";
 * import { Inbox } from "./inbox.ts";
 * import { emptyAccountState } from "../contacts/account_state.ts";
 *
 * const state = emptyAccountState();
 * // No stamps asked here (0 bits); by default a stranger's request needs one.
 * const inbox = new Inbox(state, undefined, 0);
 * const request = {
 *   kind: "request" as const,
 *   id: new Uint8Array(16).fill(1),
 *   sentMs: 1_000,
 *   payload: new Uint8Array([1]),
 * };
 * const first = inbox.receive("b".repeat(40), request, 2_000);
 * assert.equal(first.kind, "newRequest");
 * assert.equal(state.requests.get("b".repeat(40))?.receivedMs, 2_000);
 * const again = inbox.receive("b".repeat(40), request, 3_000);
 * assert.deepEqual(again, { kind: "dropped", reason: "duplicate" });
 * ```
 *
 * @module
 */
import {
  type AccountState,
  MAX_PENDING_PAYLOAD_BYTES,
  MAX_PENDING_REQUESTS,
  pendingPayloadBytes,
  type PendingRequest,
} from "../contacts/account_state.ts";
import type { InboxMessage } from "./inbox_message.ts";
import { isInReplayWindow } from "./replay_window.ts";
import { rememberSeenId } from "./seen_ids.ts";
import { DEFAULT_STAMP_BITS, stampChallenge, verifyStamp } from "./stamp.ts";

export {
  forgetExpiredSeenIds,
  rememberSeenId,
  SEEN_RETENTION_MS,
} from "./seen_ids.ts";

/** Messages one sender may get processed per hour (spam control, M8). */
export const SENDER_QUOTA_PER_HOUR = 30;
/** The sender quota's window: one hour, in ms. */
const SENDER_WINDOW_MS = 3_600_000;
/** Senders with a quota window in memory; beyond, the least recently used goes. */
const MAX_SENDER_WINDOWS = 4_096;
/**
 * Default shortest wait between two receipts for duplicates of one message
 * id: a quarter of the first retry delay of our profile (30 s), so a
 * sender's retries, spaced at least that delay apart, each still get one.
 */
export const DUPLICATE_RECEIPT_INTERVAL_MS = 7_500;
/** Duplicate-receipt times kept per sender account (live ones never evicted). */
export const MAX_DUPLICATE_RECEIPTS_PER_SENDER = 8;
/** Duplicate-receipt times kept in all (live ones never evicted). */
export const MAX_DUPLICATE_RECEIPTS = 1_024;
/** The parts of the account state the inbox reads and changes. */
export type InboxState = Pick<
  AccountState,
  "contacts" | "requests" | "seen" | "seenFloorMs" | "outbox"
>;

/** Why a message was dropped; each has a counter in `AccountCounters.dropped`. */
export type InboxDropReason =
  | "duplicate"
  | "quota"
  | "banned"
  | "stale"
  | "stamp";

/**
 * What to do with a received request or confirmation. Every outcome but
 * `dropped` for the quota has the message id remembered already and wants
 * a receipt: at once for a duplicate, after the state is persisted for the
 * others.
 */
export type InboxOutcome =
  /**
   * Not shown. `duplicate`: acknowledged again at once if
   * {@link Inbox.mayAcknowledgeDuplicate} allows; `quota`, `stale`,
   * `stamp`: no receipt; `banned`: remembered, acknowledged once persisted.
   */
  | { readonly kind: "dropped"; readonly reason: InboxDropReason }
  /** A request older than the one held: acknowledged, not shown. */
  | { readonly kind: "olderRequest" }
  /** A new request, stored in `state.requests`: show it once persisted. */
  | { readonly kind: "newRequest"; readonly request: PendingRequest }
  /**
   * A request from an active contact (or crossing ours): queue a
   * confirmation answering it; `confirmed` if the contact became confirmed
   * now. Our own requests to it wait for its confirmation naming them.
   */
  | { readonly kind: "contactRequest"; readonly confirmed: boolean }
  /**
   * The sender accepted: `confirmed` if the contact became confirmed now;
   * `settled`: the id of our request it answers (drop it, report it
   * accepted), if any.
   */
  | {
    readonly kind: "confirmation";
    readonly confirmed: boolean;
    readonly settled?: string;
  };

/** The receiving side of one account's trust requests. */
export class Inbox {
  readonly #state: InboxState;
  /** Sender account hex → its current quota window (in memory only). */
  readonly #senderWindows = new Map<
    string,
    { startMs: number; count: number }
  >();

  /**
   * Sender account hex + ":" + message id hex → sender and time of the
   * last receipt sent for a duplicate of it (in memory only; bounded per sender and in all).
   */
  readonly #duplicateReceipts = new Map<
    string,
    { from: string; atMs: number }
  >();
  /** Sender account hex → its entries in `#duplicateReceipts`. */
  readonly #duplicateReceiptsBySender = new Map<string, number>();
  readonly #duplicateReceiptIntervalMs: number;
  readonly #stampBits: number;

  /**
   * An inbox over the account's persisted state.
   *
   * @param state Contacts, pending requests and the seen-set, changed in place.
   * @param duplicateReceiptIntervalMs Shortest wait between two receipts for
   *   duplicates of one message id.
   * @param stampBits Difficulty asked of a stranger's request stamp (0: none).
   */
  constructor(
    state: InboxState,
    duplicateReceiptIntervalMs: number = DUPLICATE_RECEIPT_INTERVAL_MS,
    stampBits: number = DEFAULT_STAMP_BITS,
  ) {
    this.#state = state;
    this.#duplicateReceiptIntervalMs = duplicateReceiptIntervalMs;
    this.#stampBits = stampBits;
  }

  /**
   * Whether a duplicate (see {@link Inbox.receive}) is acknowledged again:
   * yes at most once per message id per interval, and records it. No
   * either way when the sender has {@link MAX_DUPLICATE_RECEIPTS_PER_SENDER},
   * or all senders {@link MAX_DUPLICATE_RECEIPTS}, ids acknowledged within
   * the interval. A sender that missed our receipt gets one on a retry.
   *
   * @param from Sender account hex.
   * @param id Message id hex.
   * @param nowMs Current time, epoch ms.
   * @returns True if a receipt is to be sent now.
   */
  mayAcknowledgeDuplicate(from: string, id: string, nowMs: number): boolean {
    const receipts = this.#duplicateReceipts;
    const interval = this.#duplicateReceiptIntervalMs;
    const key = `${from}:${id}`;
    const last = receipts.get(key);
    if (last !== undefined) {
      if (nowMs - last.atMs < interval) return false;
      last.atMs = nowMs;
      return true;
    }
    const bySender = this.#duplicateReceiptsBySender;
    if (
      (bySender.get(from) ?? 0) >= MAX_DUPLICATE_RECEIPTS_PER_SENDER ||
      receipts.size >= MAX_DUPLICATE_RECEIPTS
    ) {
      // Forget the ended entries, then try again.
      for (const [held, entry] of receipts) {
        if (nowMs - entry.atMs >= interval) this.#forgetDuplicate(held, entry);
      }
      if (
        (bySender.get(from) ?? 0) >= MAX_DUPLICATE_RECEIPTS_PER_SENDER ||
        receipts.size >= MAX_DUPLICATE_RECEIPTS
      ) {
        return false;
      }
    }
    receipts.set(key, { from, atMs: nowMs });
    bySender.set(from, (bySender.get(from) ?? 0) + 1);
    return true;
  }

  #forgetDuplicate(key: string, entry: { from: string }): void {
    this.#duplicateReceipts.delete(key);
    const count = (this.#duplicateReceiptsBySender.get(entry.from) ?? 1) - 1;
    if (count > 0) this.#duplicateReceiptsBySender.set(entry.from, count);
    else this.#duplicateReceiptsBySender.delete(entry.from);
  }

  /**
   * Remembers a handled message id (see {@link rememberSeenId}).
   *
   * @param id Message id hex.
   * @param from Sender account hex (`OWN_SENDER` for our own ids).
   * @param atMs The message's send time, epoch ms.
   * @param nowMs Current time, epoch ms.
   * @returns False if it cannot be kept: the message must be dropped.
   */
  markSeen(id: string, from: string, atMs: number, nowMs: number): boolean {
    // A full set asks about every sender it holds: outbox targets once.
    const { contacts, outbox } = this.#state;
    let targets: Set<string> | undefined;
    const isKnown = (sender: string) => {
      if (contacts.get(sender) !== undefined) return true;
      targets ??= new Set([...outbox.values()].map((entry) => entry.to));
      return targets.has(sender);
    };
    return rememberSeenId(
      this.#state,
      id,
      from,
      Math.min(atMs, nowMs),
      nowMs,
      isKnown,
    );
  }

  /**
   * Whether `from` is known: a contact record (active, removed or banned)
   * or a target of our outbox. The sender of a pending incoming request is
   * not: anyone can be one. Strangers' traffic never pushes a known sender's
   * ids out of the seen-set.
   *
   * @param from Account hex.
   * @returns True if known.
   */
  isKnown(from: string): boolean {
    const { contacts, outbox } = this.#state;
    if (contacts.get(from) !== undefined) return true;
    for (const entry of outbox.values()) if (entry.to === from) return true;
    return false;
  }

  /**
   * Whether a message sent at `sentMs` by `from` is stale: outside the
   * replay window, before `from`'s last removal as a contact, or
   * (from a stranger) at or before the seen-set's floor.
   *
   * @param from Sender account hex.
   * @param sentMs The message's send time, epoch ms.
   * @param nowMs Current time, epoch ms.
   * @returns True if the message must be dropped.
   */
  isStale(from: string, sentMs: number, nowMs: number): boolean {
    if (!isInReplayWindow(sentMs, nowMs)) return true;
    const contact = this.#state.contacts.get(from);
    if (contact !== undefined) return sentMs < contact.removedMs;
    return sentMs <= this.#state.seenFloorMs && !this.isKnown(from);
  }

  /**
   * Counts one message from `from` in its hourly window.
   *
   * @param from Sender account hex.
   * @param nowMs Current time, epoch ms.
   * @returns False if the sender is over {@link SENDER_QUOTA_PER_HOUR}.
   */
  allowSender(from: string, nowMs: number): boolean {
    const windows = this.#senderWindows;
    let window = windows.get(from);
    // Least recently used first: a sender's window moves to the end.
    if (window !== undefined) windows.delete(from);
    if (window === undefined || nowMs - window.startMs >= SENDER_WINDOW_MS) {
      if (windows.size >= MAX_SENDER_WINDOWS) {
        // Never wiped wholesale: only the least recently used window goes.
        windows.delete(windows.keys().next().value!);
      }
      window = { startMs: nowMs, count: 0 };
    }
    windows.set(from, window);
    window.count += 1;
    return window.count <= SENDER_QUOTA_PER_HOUR;
  }

  /**
   * Whether a request from `from` needs no stamp: it is an active contact,
   * or we have an outbox entry to it (we asked it).
   *
   * @param from Sender account hex.
   * @returns True if solicited.
   */
  isSolicited(from: string): boolean {
    if (this.#state.contacts.isActive(from)) return true;
    for (const entry of this.#state.outbox.values()) {
      if (entry.to === from) return true;
    }
    return false;
  }

  /**
   * Checks a stranger's request stamp (one SHA-256; see `stamp.ts`).
   *
   * @param from Sender account hex.
   * @param message The request (its `to` was checked to be this account).
   * @returns True if the stamp is valid for this request.
   */
  hasValidStamp(
    from: string,
    message: Extract<InboxMessage, { kind: "request" }>,
  ): boolean {
    if (this.#stampBits <= 0) return true;
    if (message.to === undefined || message.stamp === undefined) return false;
    const challenge = stampChallenge({
      to: message.to,
      from: Uint8Array.fromHex(from),
      requestId: message.id,
      sentMs: message.sentMs,
    });
    return verifyStamp(challenge, message.stamp, this.#stampBits);
  }

  /**
   * Decides what a request or confirmation from another account does, and
   * records it in the state (seen id, pending request, confirmed contact).
   *
   * @param from Sender account hex (its certificate was checked).
   * @param message The decoded request or confirmation.
   * @param nowMs Current time, epoch ms.
   * @returns What the account must do next.
   */
  receive(
    from: string,
    message: Extract<InboxMessage, { kind: "request" | "confirm" }>,
    nowMs: number,
  ): InboxOutcome {
    const id = message.id.toHex();
    if (this.#state.seen.has(id)) {
      return { kind: "dropped", reason: "duplicate" };
    }
    if (this.isStale(from, message.sentMs, nowMs)) {
      return { kind: "dropped", reason: "stale" };
    }
    // A stranger's request: its stamp is checked before anything else is
    // spent on it (quota window, seen-set, pending list, receipt).
    if (
      message.kind === "request" && !this.isSolicited(from) &&
      !this.hasValidStamp(from, message)
    ) {
      return { kind: "dropped", reason: "stamp" };
    }
    if (!this.allowSender(from, nowMs)) {
      return { kind: "dropped", reason: "quota" };
    }
    if (this.#state.contacts.isBanned(from)) {
      // Silently dropped; the receipt looks like any other.
      if (!this.markSeen(id, from, message.sentMs, nowMs)) return QUOTA;
      return { kind: "dropped", reason: "banned" };
    }
    return message.kind === "request"
      ? this.#onRequest(from, message, nowMs)
      : this.#onConfirm(from, message, nowMs);
  }

  #onRequest(
    from: string,
    message: Extract<InboxMessage, { kind: "request" }>,
    nowMs: number,
  ): InboxOutcome {
    const id = message.id.toHex();
    const { contacts, requests } = this.#state;
    const remember = () => this.markSeen(id, from, message.sentMs, nowMs);
    if (contacts.isActive(from)) {
      // Known contact (or crossing request): confirm at once.
      if (!remember()) return QUOTA;
      return { kind: "contactRequest", confirmed: contacts.confirm(from) };
    }
    const old = requests.get(from);
    if (old !== undefined && old.sentMs > message.sentMs) {
      if (!remember()) return QUOTA;
      return { kind: "olderRequest" };
    }
    if (!remember()) return QUOTA;
    if (old === undefined && requests.size >= MAX_PENDING_REQUESTS) {
      this.#evictOldestRequest();
    }
    const request: PendingRequest = {
      from,
      id,
      sentMs: message.sentMs,
      receivedMs: nowMs,
      payload: message.payload,
    };
    requests.set(from, request);
    // The byte budget keeps the state file under its limit.
    while (pendingPayloadBytes(requests) > MAX_PENDING_PAYLOAD_BYTES) {
      if (!this.#evictOldestRequest(from)) break;
    }
    return { kind: "newRequest", request };
  }

  /**
   * Makes room in a full pending list: the oldest request from a stranger
   * (no contact record) goes first, else the oldest of all.
   *
   * @param keep A sender whose request stays (the one just added).
   * @returns False if there was nothing to drop.
   */
  #evictOldestRequest(keep?: string): boolean {
    const { contacts, requests } = this.#state;
    let victim: PendingRequest | undefined;
    let victimKnown = true;
    for (const request of requests.values()) {
      if (request.from === keep) continue;
      const known = contacts.get(request.from) !== undefined;
      if (
        victim === undefined || (victimKnown && !known) ||
        (known === victimKnown && request.receivedMs < victim.receivedMs)
      ) {
        [victim, victimKnown] = [request, known];
      }
    }
    if (victim !== undefined) requests.delete(victim.from);
    return victim !== undefined;
  }

  #onConfirm(
    from: string,
    message: Extract<InboxMessage, { kind: "confirm" }>,
    nowMs: number,
  ): InboxOutcome {
    const { contacts, outbox } = this.#state;
    const contact = contacts.get(from);
    if (contact === undefined || !contacts.isActive(from)) return STALE;
    const requestId = message.requestId?.toHex();
    const entry = requestId === undefined ? undefined : outbox.get(requestId);
    const answers = entry !== undefined && entry.kind === "request" &&
      entry.to === from;
    // A confirmation naming no request of ours only counts as a copy of one
    // already settled (by another device of ours): the contact is confirmed.
    if (!answers && !contact.confirmed) return STALE;
    if (!this.markSeen(message.id.toHex(), from, message.sentMs, nowMs)) {
      return QUOTA;
    }
    const confirmed = answers && contacts.confirm(from);
    return answers
      ? { kind: "confirmation", confirmed, settled: requestId }
      : { kind: "confirmation", confirmed };
  }
}

const QUOTA: InboxOutcome = { kind: "dropped", reason: "quota" };
const STALE: InboxOutcome = { kind: "dropped", reason: "stale" };
