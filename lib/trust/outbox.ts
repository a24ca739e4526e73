/**
 * `Outbox`: the trust requests and confirmations an account keeps sending
 * until their target acknowledges them, and the policy that decides when
 * each one goes out again.
 *
 * - A request to a target replaces the older request to it; the outbox holds
 *   at most {@link MAX_OUTBOX_ENTRIES}, and a confirmation is never refused:
 *   when full, the oldest entry makes room for it.
 * - With receipts (our profile) an entry is retried with exponential backoff,
 *   {@link retryDelayMs}, until the target's receipt arrives; a request is
 *   then kept, without sends, until it is answered (to report the
 *   acceptance), a confirmation is dropped. Without receipts (the Jami
 *   profile) an entry goes out once and then only when its target comes
 *   online; a confirmation goes out once.
 * - Every entry ends {@link INBOX_LIFETIME_MS} after its creation; one that
 *   was never delivered reports `trustRequestExpired` or
 *   `confirmationExpired`.
 *
 * The outbox decides and keeps the entries (in the persisted map it is
 * given) and the boxes already sealed for them; it does no IO of its own.
 * The caller watches targets through {@link OutboxOptions}, seals and puts
 * through an {@link OutboxCourier}, and persists and reports after each
 * call.
 *
 * @example A request retried with backoff, then delivered
 * ```ts
 * import assert from "node:assert/strict";
 * import { Outbox, type OutboxCourier } from "./outbox.ts";
 * import type { OutboxEntry } from "../contacts/account_state.ts";
 * import type { DeviceCertificate } from "../identity/device_certificate.ts";
 *
 * let ids = 0;
 * const outbox = new Outbox({
 *   entries: new Map<string, OutboxEntry>(),
 *   policy: { receipts: true, retryInitialMs: 30_000, retryMaxMs: 1_800_000 },
 *   newId: () => (ids++).toString(16).padStart(32, "0"),
 * });
 * // Nobody to seal to yet: the attempt still counts and sets the next one.
 * const nobody: OutboxCourier = {
 *   recipients: (): DeviceCertificate[] => [],
 *   seal: () => new Uint8Array(0),
 *   put: () => {},
 * };
 * const entry = outbox.enqueue("request", "b".repeat(40), new Uint8Array(0), 0);
 * assert.equal(outbox.attempt(entry, 0, nobody), "unreachable");
 * assert.equal(entry.nextMs, 30_000);
 * assert.equal(outbox.attempt(entry, 30_000, nobody), "unreachable");
 * assert.equal(entry.nextMs, 90_000);
 * // The target's receipt: kept until answered, never sent again.
 * assert.equal(outbox.acknowledge("b".repeat(40), entry.id), entry);
 * assert.equal(outbox.attempt(entry, 90_000, nobody), "skipped");
 * assert.deepEqual(outbox.settleRequestsTo("b".repeat(40)), [entry.id]);
 * assert.equal(outbox.size, 0);
 * ```
 *
 * @module
 */
import {
  MAX_OUTBOX_ENTRIES,
  MAX_SENT_TO_DEVICES,
  type OutboxEntry,
} from "../contacts/account_state.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import {
  encodeInboxMessage,
  INBOX_LIFETIME_MS,
  type InboxMessage,
  MESSAGE_ID_BYTES,
} from "./inbox_message.ts";

/** Longest wait between two outbox sweeps, when nothing is due sooner. */
export const SWEEP_IDLE_MS = 60_000;
/** Doublings of the retry delay stop here (the delay is capped long before). */
const MAX_BACKOFF_DOUBLINGS = 20;

/** When entries go out again; the presence profile carries these fields. */
export interface RetryPolicy {
  /**
   * Targets acknowledge with receipts: retry with backoff until one
   * arrives. Without: send once, and again only when the target comes
   * online; confirmations once.
   */
  readonly receipts: boolean;
  /** Delay before the first retry, in ms; it doubles with each attempt. */
  readonly retryInitialMs: number;
  /** Longest delay between two retries, in ms. */
  readonly retryMaxMs: number;
}

/** What an {@link Outbox} works on. */
export interface OutboxOptions {
  /** The account's persisted outbox, by message id; the outbox changes it in place. */
  readonly entries: Map<string, OutboxEntry>;
  /** When entries go out again. */
  readonly policy: RetryPolicy;
  /** Draws a new message id (hex); called once per new entry. */
  newId(): string;
  /**
   * Called after an entry to `uri` is added (every time): the account
   * watches the target's presence, to send again when it comes online.
   */
  onEnqueued?(uri: string): void;
  /** Called after the last entry to `uri` left: its presence may be unwatched. */
  onTargetCleared?(uri: string): void;
  /**
   * The proof-of-work stamp of a request (see `stamp.ts`); called when a
   * request is first sealed after this outbox was made.
   */
  stamp?(entry: OutboxEntry): Uint8Array | undefined;
}

/** How an attempt reaches the target's devices; the account implements it. */
export interface OutboxCourier {
  /**
   * The devices (and mailbox) a message to `uri` is sealed to now.
   *
   * @param uri Target account id hex.
   * @param onlineOnly Only devices announced online (no receipts: a box for
   *   an offline device would be lost).
   */
  recipients(uri: string, onlineOnly: boolean): readonly DeviceCertificate[];
  /** Seals an encoded message to one device (draws randomness). */
  seal(message: Uint8Array, recipient: DeviceCertificate): Uint8Array;
  /** Puts one sealed box at the device's inbox key. */
  put(
    recipient: DeviceCertificate,
    messageId: Uint8Array,
    box: Uint8Array,
  ): void;
}

/**
 * What {@link Outbox.attempt} did: `skipped` (gone, or delivered and waiting
 * for the answer), `unreachable` (no recipient known: only the next attempt
 * was scheduled), `sent` (a box put for every recipient).
 */
export type AttemptOutcome = "skipped" | "unreachable" | "sent";

/** What an entry that ended undelivered reports. */
export type OutboxExpiry =
  | {
    readonly type: "trustRequestExpired";
    readonly uri: string;
    readonly requestId: string;
  }
  | { readonly type: "confirmationExpired"; readonly uri: string };

/** What {@link Outbox.sweep} asks of the caller, in the order entries are visited. */
export interface SweepHandlers {
  /** An entry is due: attempt it now (through {@link Outbox.attempt}). */
  attempt(entry: OutboxEntry): void;
  /** An entry ended undelivered (it is already dropped): report it. */
  expired(expiry: OutboxExpiry): void;
}

/** What {@link Outbox.sweep} found. */
export interface SweepResult {
  /** When the outbox next needs a sweep, epoch ms. */
  readonly nextMs: number;
  /** Entries ended: the outbox must be persisted. */
  readonly changed: boolean;
}

/**
 * The delay after the `attempts`-th attempt with receipts:
 * `min(retryMaxMs, retryInitialMs * 2^min(attempts - 1, 20))`.
 *
 * @param policy Retry delays.
 * @param attempts Attempts made so far (1 after the first).
 * @returns The delay in ms.
 *
 * @example 30 s doubling up to 30 min
 * ```ts
 * import assert from "node:assert/strict";
 * import { retryDelayMs } from "./outbox.ts";
 *
 * const policy = { receipts: true, retryInitialMs: 30_000, retryMaxMs: 1_800_000 };
 * assert.deepEqual(
 *   [1, 2, 3, 7, 8, 100].map((attempts) => retryDelayMs(policy, attempts)),
 *   [30_000, 60_000, 120_000, 1_800_000, 1_800_000, 1_800_000],
 * );
 * ```
 */
export function retryDelayMs(policy: RetryPolicy, attempts: number): number {
  return Math.min(
    policy.retryMaxMs,
    policy.retryInitialMs * 2 ** Math.min(attempts - 1, MAX_BACKOFF_DOUBLINGS),
  );
}

/**
 * The inbox message an entry carries (its id is the entry's), addressed to
 * the entry's target account. A confirmation's payload is the id of the
 * request it answers (16 bytes; empty in entries from before it named one).
 *
 * @param entry An outbox entry.
 * @param stamp A request's proof-of-work stamp, if any.
 * @returns The request (with its payload) or the confirmation.
 */
export function outboxMessage(
  entry: OutboxEntry,
  stamp?: Uint8Array,
): InboxMessage {
  const id = Uint8Array.fromHex(entry.id);
  const to = Uint8Array.fromHex(entry.to);
  if (entry.kind === "request") {
    const request = {
      kind: "request" as const,
      id,
      sentMs: entry.createdMs,
      to,
      payload: entry.payload,
    };
    return stamp === undefined ? request : { ...request, stamp };
  }
  return entry.payload.length === MESSAGE_ID_BYTES
    ? {
      kind: "confirm",
      id,
      sentMs: entry.createdMs,
      to,
      requestId: entry.payload,
    }
    : { kind: "confirm", id, sentMs: entry.createdMs, to };
}

/** The outbox of one account on one device. */
export class Outbox {
  readonly #options: OutboxOptions;
  readonly #entries: Map<string, OutboxEntry>;
  /** Entry id → device id hex → box sealed for it, reused by every retry. */
  readonly #boxes = new Map<string, Map<string, Uint8Array>>();

  /**
   * An outbox over the account's persisted entries.
   *
   * @param options See {@link OutboxOptions}.
   */
  constructor(options: OutboxOptions) {
    this.#options = options;
    this.#entries = options.entries;
  }

  /** Entries held, delivered or not. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The entry with this message id.
   *
   * @param id Message id hex.
   * @returns The entry, if held.
   */
  get(id: string): OutboxEntry | undefined {
    return this.#entries.get(id);
  }

  /**
   * The entries, in insertion order (the order every sweep visits them).
   *
   * @returns A copy: dropping while iterating is safe.
   */
  entries(): OutboxEntry[] {
    return [...this.#entries.values()];
  }

  /**
   * Makes room for a new request to `to`: the older requests to it are
   * dropped (a newer request replaces them), unless the outbox would still
   * be full.
   *
   * @param to Target account id hex.
   * @returns False, with nothing dropped, if the outbox is full.
   */
  makeRoomForRequest(to: string): boolean {
    const replaced = this.entries().filter((entry) =>
      entry.to === to && entry.kind === "request"
    );
    if (this.#entries.size - replaced.length >= MAX_OUTBOX_ENTRIES) {
      return false;
    }
    for (const entry of replaced) this.drop(entry);
    return true;
  }

  /**
   * Adds an entry, due at once. A confirmation replaces the older
   * confirmation to the same target; when the outbox is full the oldest
   * entry is dropped, so a confirmation is never refused (a request is
   * checked first with {@link Outbox.makeRoomForRequest}).
   *
   * @param kind Request or confirmation.
   * @param to Target account id hex.
   * @param payload The request's payload; for a confirmation, the id of the
   *   request it answers (16 bytes).
   * @param nowMs Creation time, epoch ms.
   * @returns The new entry.
   */
  enqueue(
    kind: "request" | "confirm",
    to: string,
    payload: Uint8Array,
    nowMs: number,
  ): OutboxEntry {
    if (kind === "confirm") {
      for (const entry of this.entries()) {
        if (entry.to === to && entry.kind === "confirm") this.drop(entry);
      }
    }
    const entry: OutboxEntry = {
      id: this.#options.newId(),
      kind,
      to,
      payload,
      createdMs: nowMs,
      expiresMs: nowMs + INBOX_LIFETIME_MS,
      attempts: 0,
      nextMs: nowMs,
      sentTo: [],
      delivered: false,
    };
    if (this.#entries.size >= MAX_OUTBOX_ENTRIES) {
      // Sorting is stable: of equal ages the first inserted goes.
      const oldest = this.entries().sort((a, b) =>
        a.createdMs - b.createdMs
      )[0];
      if (oldest) this.drop(oldest);
    }
    this.#add(entry);
    return entry;
  }

  /**
   * Adds an entry another device of the account sent (see
   * `mergeSyncSnapshot`, which decides what is adopted and when it is due).
   *
   * @param entry The entry, with its local retry state set.
   */
  adopt(entry: OutboxEntry): void {
    this.#add(entry);
  }

  #add(entry: OutboxEntry): void {
    this.#entries.set(entry.id, entry);
    this.#options.onEnqueued?.(entry.to);
  }

  /**
   * Removes an entry and its sealed boxes.
   *
   * @param entry The entry (nothing happens if it is not held).
   */
  drop(entry: OutboxEntry): void {
    this.#entries.delete(entry.id);
    this.#boxes.delete(entry.id);
    if (!this.entries().some((other) => other.to === entry.to)) {
      this.#options.onTargetCleared?.(entry.to);
    }
  }

  /**
   * Removes every entry to `uri` (the contact was removed).
   *
   * @param uri Target account id hex.
   */
  dropAllTo(uri: string): void {
    for (const entry of this.entries()) {
      if (entry.to === uri) this.drop(entry);
    }
  }

  /**
   * Our requests to `uri` are answered (it confirmed, or asked us): they are
   * dropped.
   *
   * @param uri Target account id hex.
   * @returns The ids of the requests dropped, for `trustRequestAccepted`.
   */
  settleRequestsTo(uri: string): string[] {
    const ids: string[] = [];
    for (const entry of this.entries()) {
      if (entry.to === uri && entry.kind === "request") {
        ids.push(entry.id);
        this.drop(entry);
      }
    }
    return ids;
  }

  /**
   * The target's receipt for an entry: a request is kept as delivered
   * (without further sends) until answered, a confirmation is dropped.
   *
   * @param from The account the receipt came from.
   * @param ackId The acknowledged message id hex.
   * @returns The entry, or undefined if the receipt changes nothing (not
   *   ours, from another account, or already delivered).
   */
  acknowledge(from: string, ackId: string): OutboxEntry | undefined {
    const entry = this.#entries.get(ackId);
    if (entry === undefined || entry.to !== from || entry.delivered) {
      return undefined;
    }
    if (entry.kind === "request") {
      entry.delivered = true;
      this.#boxes.delete(entry.id);
    } else {
      this.drop(entry);
    }
    return entry;
  }

  /**
   * The entries to send again now that `uri` came online: all of them with
   * receipts, only requests without (Jami sends a confirmation once).
   *
   * @param uri Target account id hex.
   * @returns The entries, in outbox order.
   */
  retryableTo(uri: string): OutboxEntry[] {
    return this.entries().filter((entry) =>
      entry.to === uri &&
      (this.#options.policy.receipts || entry.kind === "request")
    );
  }

  /**
   * The confirmations to `uri`, to send at once after accepting it.
   *
   * @param uri Target account id hex.
   * @returns The entries, in outbox order.
   */
  confirmationsTo(uri: string): OutboxEntry[] {
    return this.entries().filter((entry) =>
      entry.to === uri && entry.kind === "confirm"
    );
  }

  /**
   * Sends an entry to every recipient the courier knows now and sets its
   * next attempt: after {@link retryDelayMs} with receipts, else at its
   * expiry. Each recipient's box is sealed once and reused by later
   * attempts. Without receipts a confirmation is dropped once sent.
   *
   * @param entry The entry.
   * @param nowMs Current time, epoch ms.
   * @param courier Recipients, sealing and puts.
   * @returns What was done; the caller persists unless `skipped`.
   */
  attempt(
    entry: OutboxEntry,
    nowMs: number,
    courier: OutboxCourier,
  ): AttemptOutcome {
    if (!this.#entries.has(entry.id) || entry.delivered) return "skipped";
    const policy = this.#options.policy;
    const recipients = courier.recipients(entry.to, !policy.receipts);
    entry.attempts += 1;
    entry.nextMs = policy.receipts
      ? nowMs + retryDelayMs(policy, entry.attempts)
      : entry.expiresMs;
    if (recipients.length === 0) return "unreachable";
    let message: Uint8Array | undefined;
    let boxes = this.#boxes.get(entry.id);
    if (boxes === undefined) {
      boxes = new Map();
      this.#boxes.set(entry.id, boxes);
    }
    for (const recipient of recipients) {
      const hex = recipient.deviceId.toString();
      let box = boxes.get(hex);
      if (box === undefined) {
        // Encoded (and a request stamped) once per attempt that seals.
        message ??= encodeInboxMessage(
          outboxMessage(entry, this.#options.stamp?.(entry)),
        );
        box = courier.seal(message, recipient);
        boxes.set(hex, box);
      }
      courier.put(recipient, Uint8Array.fromHex(entry.id), box);
      if (
        !entry.sentTo.includes(hex) &&
        entry.sentTo.length < MAX_SENT_TO_DEVICES
      ) entry.sentTo.push(hex);
    }
    if (!policy.receipts && entry.kind === "confirm") {
      // Jami sends a confirmation once.
      this.drop(entry);
    }
    return "sent";
  }

  /**
   * Visits every entry in order: one past its expiry is dropped (and
   * reported unless delivered), one due is handed to `handlers.attempt`.
   *
   * @param nowMs Current time, epoch ms.
   * @param handlers Attempts and expiry reports, called in visiting order.
   * @returns When to sweep next (at most {@link SWEEP_IDLE_MS} away), and
   *   whether entries ended.
   */
  sweep(nowMs: number, handlers: SweepHandlers): SweepResult {
    let nextMs = nowMs + SWEEP_IDLE_MS;
    let changed = false;
    for (const entry of this.entries()) {
      if (entry.expiresMs <= nowMs) {
        this.drop(entry);
        changed = true;
        // A delivered request that is never answered just ends.
        if (!entry.delivered) handlers.expired(expiryOf(entry));
        continue;
      }
      if (entry.delivered) {
        nextMs = Math.min(nextMs, entry.expiresMs);
        continue;
      }
      if (entry.nextMs <= nowMs) handlers.attempt(entry);
      nextMs = Math.min(nextMs, entry.nextMs, entry.expiresMs);
    }
    return { nextMs, changed };
  }
}

function expiryOf(entry: OutboxEntry): OutboxExpiry {
  return entry.kind === "request"
    ? { type: "trustRequestExpired", uri: entry.to, requestId: entry.id }
    : { type: "confirmationExpired", uri: entry.to };
}
