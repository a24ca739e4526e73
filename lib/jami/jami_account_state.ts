/**
 * `JamiAccountState`: what a Jami-format account keeps across restarts —
 * contacts (with the conversation id Jami pairs with each), pending incoming
 * requests, and the outbox of requests and confirmations still being sent —
 * and {@link JamiAccountStateStore}, which writes it atomically through the
 * daemon's `Storage` (coalesced writes; `FileStorage` renames a complete
 * temporary file over the old one and keeps the previous generation).
 *
 * The encoding is JSON (bytes as base64), validated field by field on load:
 * a damaged file is a {@link StateCorruptError}, never a crash.
 *
 * @example Save and load back
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "../testing/memory_storage.ts";
 * import { emptyJamiAccountState, JamiAccountStateStore } from "./jami_account_state.ts";
 *
 * const storage = new MemoryStorage();
 * const id = "a".repeat(40);
 * const store = new JamiAccountStateStore(storage, id, emptyJamiAccountState());
 * store.state.contacts.add("b".repeat(40), 1_000);
 * await store.save();
 * const loaded = await JamiAccountStateStore.load(storage, id);
 * assert.ok(loaded?.state.contacts.isActive("b".repeat(40)));
 * ```
 *
 * @module
 */
import { StateWriter } from "../contacts/state_writer.ts";
import { StateCorruptError } from "../contacts/account_state.ts";
import { type Contact, ContactList } from "../contacts/contact_list.ts";
import type { Storage } from "../storage.ts";

/** Most pending incoming requests kept (one per sender account, as jamid). */
export const MAX_JAMI_PENDING_REQUESTS = 256;
/** Most outbox entries (requests and confirmations being sent). */
export const MAX_JAMI_OUTBOX_ENTRIES = 512;
/** Most devices an outbox entry records as reached. */
export const MAX_JAMI_SENT_TO_DEVICES = 32;
/** Largest payload kept with a pending request or an outbox entry (jamid's 64,000). */
export const MAX_JAMI_PAYLOAD_BYTES = 64_000;

const HEX40 = /^[0-9a-f]{40}$/;
const HEX32 = /^[0-9a-f]{32}$/;
/** A conversation id: empty (legacy) or up to 64 printable characters. */
const CONVERSATION_ID = /^[\x21-\x7e]{0,64}$/;

/** A trust request received and not yet accepted or discarded. */
export interface JamiPendingRequest {
  /** Sender account id, 40 hex. */
  readonly from: string;
  /** Our receive time, epoch ms (jamid keeps the earliest). */
  readonly receivedMs: number;
  /** The sender's vCard, usually. */
  readonly payload: Uint8Array;
  /** The conversation id the request carried ("" legacy). */
  readonly conversationId: string;
}

/** A request or confirmation being put into a contact's device inboxes. */
export interface JamiOutboxEntry {
  /** Entry id, 32 hex (the `requestId` of the events). */
  readonly id: string;
  /** A request (`confirm: false`) or a confirmation (`confirm: true`). */
  readonly kind: "request" | "confirm";
  /** Target account id, 40 hex. */
  readonly to: string;
  /** Conversation id carried. */
  readonly conversationId: string;
  /** Payload (empty for a confirmation). */
  readonly payload: Uint8Array;
  /** Creation, epoch ms. */
  readonly createdMs: number;
  /** Given up after this, epoch ms (a request's value lives 7 days). */
  readonly expiresMs: number;
  /** Device SHA-1 ids (hex) whose inbox stored it (at least one ack). */
  readonly sentTo: string[];
  /** Rounds so far (device lookups that led to puts). */
  attempts: number;
  /** Next retry round, epoch ms. */
  nextMs: number;
  /** Start of the current hour window of the per-hour put budget, epoch ms. */
  windowStartMs: number;
  /** Puts sent in the current window. */
  windowPuts: number;
}

/** The persisted state of one Jami account on this device. */
export interface JamiAccountState {
  /** Contacts and bans (the same records as our accounts'). */
  readonly contacts: ContactList;
  /** Conversation id per contact ("" or absent: none). */
  readonly conversations: Map<string, string>;
  /** Pending incoming requests by sender. */
  readonly requests: Map<string, JamiPendingRequest>;
  /** Outbox by entry id. */
  readonly outbox: Map<string, JamiOutboxEntry>;
  /** Buddies subscribed to (kept so a restart follows them again). */
  readonly subscriptions: Set<string>;
  /** The account's newest CRL (DER), when a device was revoked. */
  revocationList?: Uint8Array;
}

/**
 * A fresh, empty state.
 *
 * @returns The state.
 */
export function emptyJamiAccountState(): JamiAccountState {
  return {
    contacts: new ContactList(),
    conversations: new Map(),
    requests: new Map(),
    outbox: new Map(),
    subscriptions: new Set(),
  };
}

const VERSION = 1;

/**
 * Encodes a state for storage.
 *
 * @param state The state.
 * @returns JSON bytes.
 */
export function encodeJamiAccountState(state: JamiAccountState): Uint8Array {
  const json = {
    v: VERSION,
    contacts: state.contacts.all(),
    conversations: [...state.conversations],
    requests: [...state.requests.values()].map((r) => ({
      ...r,
      payload: r.payload.toBase64(),
    })),
    outbox: [...state.outbox.values()].map((e) => ({
      ...e,
      payload: e.payload.toBase64(),
    })),
    subscriptions: [...state.subscriptions],
    revocationList: state.revocationList?.toBase64() ?? null,
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

function fail(reason: string): never {
  throw new SyntaxError(reason);
}
function str(value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== "string" || !pattern.test(value)) fail(`bad ${what}`);
  return value;
}
function int(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    fail(`bad ${what}`);
  }
  return value as number;
}
function bool(value: unknown, what: string): boolean {
  if (typeof value !== "boolean") fail(`bad ${what}`);
  return value;
}
function b64(value: unknown, what: string): Uint8Array {
  if (typeof value !== "string") fail(`bad ${what}`);
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(value);
  } catch {
    fail(`bad ${what}`);
  }
  if (bytes.length > MAX_JAMI_PAYLOAD_BYTES) fail(`${what} too large`);
  return bytes;
}
function list(value: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(value) || value.length > max) fail(`bad ${what} list`);
  return value;
}
function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null) fail(`bad ${what}`);
  return value as Record<string, unknown>;
}

/**
 * Decodes stored state (untrusted bytes).
 *
 * @param data Bytes from {@link encodeJamiAccountState}.
 * @returns The state.
 * @throws {SyntaxError} If the bytes are not a valid state.
 */
export function decodeJamiAccountState(data: Uint8Array): JamiAccountState {
  let top: Record<string, unknown>;
  try {
    top = record(JSON.parse(new TextDecoder().decode(data)), "state");
  } catch (error) {
    if (error instanceof SyntaxError) throw error;
    fail("not JSON");
  }
  if (top.v !== VERSION) fail(`unknown version ${String(top.v)}`);
  const contacts: Contact[] = list(top.contacts, 10_000, "contact").map(
    (raw) => {
      const c = record(raw, "contact");
      return {
        uri: str(c.uri, HEX40, "contact uri"),
        addedMs: int(c.addedMs, "addedMs"),
        removedMs: int(c.removedMs, "removedMs"),
        confirmed: bool(c.confirmed, "confirmed"),
        banned: bool(c.banned, "banned"),
      };
    },
  );
  const state: JamiAccountState = {
    ...emptyJamiAccountState(),
    contacts: new ContactList(contacts),
  };
  for (const raw of list(top.conversations, 10_000, "conversation")) {
    const pair = list(raw, 2, "conversation");
    state.conversations.set(
      str(pair[0], HEX40, "conversation uri"),
      str(pair[1], CONVERSATION_ID, "conversation id"),
    );
  }
  for (const raw of list(top.requests, MAX_JAMI_PENDING_REQUESTS, "request")) {
    const r = record(raw, "request");
    const request: JamiPendingRequest = {
      from: str(r.from, HEX40, "request sender"),
      receivedMs: int(r.receivedMs, "receivedMs"),
      payload: b64(r.payload, "payload"),
      conversationId: str(r.conversationId, CONVERSATION_ID, "conversationId"),
    };
    state.requests.set(request.from, request);
  }
  for (const raw of list(top.outbox, MAX_JAMI_OUTBOX_ENTRIES, "outbox")) {
    const e = record(raw, "outbox entry");
    if (e.kind !== "request" && e.kind !== "confirm") fail("bad kind");
    const entry: JamiOutboxEntry = {
      id: str(e.id, HEX32, "entry id"),
      kind: e.kind,
      to: str(e.to, HEX40, "entry target"),
      conversationId: str(e.conversationId, CONVERSATION_ID, "conversationId"),
      payload: b64(e.payload, "payload"),
      createdMs: int(e.createdMs, "createdMs"),
      expiresMs: int(e.expiresMs, "expiresMs"),
      sentTo: list(e.sentTo, MAX_JAMI_SENT_TO_DEVICES, "sentTo").map((d) =>
        str(d, HEX40, "device id")
      ),
      attempts: int(e.attempts, "attempts"),
      nextMs: int(e.nextMs, "nextMs"),
      windowStartMs: int(e.windowStartMs, "windowStartMs"),
      windowPuts: int(e.windowPuts, "windowPuts"),
    };
    state.outbox.set(entry.id, entry);
  }
  for (const raw of list(top.subscriptions, 10_000, "subscription")) {
    state.subscriptions.add(str(raw, HEX40, "subscription"));
  }
  if (top.revocationList !== null && top.revocationList !== undefined) {
    state.revocationList = b64(top.revocationList, "revocation list");
  }
  return state;
}

/** Persists one Jami account's state with coalesced atomic writes. */
export class JamiAccountStateStore {
  /** The live state; change it, then call {@link JamiAccountStateStore.save}. */
  readonly state: JamiAccountState;
  readonly #storage: Storage;
  readonly #key: string;
  readonly #writer: StateWriter;

  /**
   * A store writing `state` under the account's key.
   *
   * @param storage Where to write.
   * @param accountId Jami account id, 40 hex.
   * @param state Initial state.
   */
  constructor(storage: Storage, accountId: string, state: JamiAccountState) {
    this.#storage = storage;
    this.#key = JamiAccountStateStore.keyFor(accountId);
    this.state = state;
    this.#writer = new StateWriter(
      storage,
      this.#key,
      () => encodeJamiAccountState(this.state),
    );
  }

  /**
   * Storage key of a Jami account's state.
   *
   * @param accountId Jami account id, 40 hex.
   * @returns The key.
   */
  static keyFor(accountId: string): string {
    return `jami-${accountId}.state`;
  }

  /**
   * Loads a Jami account's state; a damaged current generation falls back
   * to the previous one when the storage keeps it.
   *
   * @param storage Storage.
   * @param accountId Jami account id, 40 hex.
   * @returns The store, or undefined if nothing is stored.
   * @throws {StateCorruptError} If the stored bytes (and any previous
   *   generation) are malformed.
   */
  static async load(
    storage: Storage,
    accountId: string,
  ): Promise<JamiAccountStateStore | undefined> {
    const key = JamiAccountStateStore.keyFor(accountId);
    const data = await storage.get(key);
    if (data === undefined) return undefined;
    try {
      return new JamiAccountStateStore(
        storage,
        accountId,
        decodeJamiAccountState(data),
      );
    } catch (cause) {
      const previous = await storage.getPrevious?.(key);
      if (previous !== undefined) {
        try {
          return new JamiAccountStateStore(
            storage,
            accountId,
            decodeJamiAccountState(previous),
          );
        } catch {
          // Fall through to the error about the current generation.
        }
      }
      throw new StateCorruptError(key, (cause as Error).message, { cause });
    }
  }

  /**
   * Writes the state; resolves once a write including every change made
   * before this call is durable.
   *
   * @returns Resolves when written.
   * @throws {StateFullError} If the encoded state is over the storage limit.
   */
  save(): Promise<void> {
    return this.#writer.save();
  }

  /**
   * Deletes the stored state.
   *
   * @returns Resolves once deleted.
   */
  remove(): Promise<void> {
    return this.#writer.remove();
  }
}
