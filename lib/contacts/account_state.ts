/**
 * `AccountState`: everything an account must not forget across restarts —
 * contacts, pending incoming requests, the outbox, the ids of messages
 * already shown (so a redelivery is never shown twice), what it learnt about
 * peers (their device and mailbox certificates, to keep retrying while they
 * are offline), and the announcement sequence number.
 *
 * {@link AccountStateStore} writes it through a {@link Storage} (the file
 * storage writes atomically: temp file, fsync, rename). Writes are coalesced:
 * `save()` resolves once a write that includes every change made before the
 * call is durable, so a caller acknowledges something only after that.
 * Loading treats the stored bytes as hostile: any malformed field makes
 * {@link StateCorruptError}, never a crash or a half-loaded state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountStateStore, emptyAccountState } from "./account_state.ts";
 * import { MemoryStorage } from "../testing/memory_storage.ts";
 *
 * const storage = new MemoryStorage();
 * const store = new AccountStateStore(storage, "a".repeat(40), emptyAccountState());
 * store.state.contacts.add("b".repeat(40), 1_000);
 * await store.save();
 * const loaded = await AccountStateStore.load(storage, "a".repeat(40));
 * assert.ok(loaded?.state.contacts.isActive("b".repeat(40)));
 * ```
 *
 * @module
 */
import { decode, encode } from "npm:@msgpack/msgpack@^3.1.3";
import type { Storage } from "../storage.ts";
import { type Contact, ContactList } from "./contact_list.ts";
import { StateWriter } from "./state_writer.ts";

/** Most pending incoming requests kept per account. */
export const MAX_PENDING_REQUESTS = 256;
/** Most outbox entries per account. */
export const MAX_OUTBOX_ENTRIES = 1_024;
/**
 * Most bytes of request payloads in the outbox: past it a new request is
 * refused with {@link StateFullError}, so the state file stays under
 * `MAX_STORAGE_VALUE_BYTES` (1,024 entries of 64 KB would not).
 */
export const MAX_OUTBOX_PAYLOAD_BYTES = 1024 * 1024;
/**
 * Most bytes of payloads in pending incoming requests: past it the oldest
 * request goes first (remote senders fill this, so it never refuses).
 */
export const MAX_PENDING_PAYLOAD_BYTES = 1024 * 1024;
/** Most message ids remembered for deduplication. */
export const MAX_SEEN_IDS = 8_192;
/** Most peers whose certificates are remembered. */
export const MAX_PEERS = 2_048;
/** Most device certificates remembered per peer; the oldest goes first. */
export const MAX_PEER_DEVICES = 8;
/**
 * Largest certificate remembered for a peer (a stock one with a 64-character
 * name takes 414 bytes); a larger one is used but not kept.
 */
export const MAX_PEER_CERTIFICATE_BYTES = 512;
/**
 * Most devices of a peer whose direct-link endpoints are remembered (the
 * ones announced last): a restarted device dials them before the DHT has
 * shown the peer (`ConnectionManager.resume`).
 */
export const MAX_PEER_ENDPOINT_DEVICES = 2;
/** Most endpoints remembered per device (an announcement's own limit). */
export const MAX_PEER_ENDPOINTS = 4;
/** Longest endpoint remembered (`host:port`; an announcement's own limit). */
export const MAX_PEER_ENDPOINT_LENGTH = 64;
/** A remembered endpoint: printable ASCII, not empty, bounded. */
const ENDPOINT = new RegExp(`^[\\x21-\\x7e]{1,${MAX_PEER_ENDPOINT_LENGTH}}$`);

/**
 * Whether an announced endpoint may be kept in a {@link PeerRecord}: 1 to
 * {@link MAX_PEER_ENDPOINT_LENGTH} printable ASCII characters, no space.
 *
 * @param endpoint The announced text.
 * @returns True if it may be kept (and reads back from the state file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRememberableEndpoint } from "./account_state.ts";
 *
 * assert.equal(isRememberableEndpoint("203.0.113.7:4222"), true);
 * assert.equal(isRememberableEndpoint("a b:1"), false);
 * ```
 */
export function isRememberableEndpoint(endpoint: string): boolean {
  return ENDPOINT.test(endpoint);
}
/** Most devices an outbox entry records as sent to (the rest are not recorded). */
export const MAX_SENT_TO_DEVICES = 16;

/** A trust request received and not yet accepted or discarded. */
export interface PendingRequest {
  /** Sender account id hex. */
  readonly from: string;
  /** Request id hex. */
  readonly id: string;
  /** Sender's send time, epoch ms. */
  readonly sentMs: number;
  /** Our receive time, epoch ms. */
  readonly receivedMs: number;
  /** Opaque payload. */
  readonly payload: Uint8Array;
}

/** Something we keep sending until a receipt (or the end of its life). */
export interface OutboxEntry {
  /** Message id hex. */
  readonly id: string;
  /** What it is. */
  readonly kind: "request" | "confirm";
  /** Target account id hex. */
  readonly to: string;
  /**
   * Payload of a request; for a confirmation, the id of the request it
   * answers (16 bytes, empty in entries from before it named one).
   */
  readonly payload: Uint8Array;
  /** Creation (first send), epoch ms. */
  readonly createdMs: number;
  /** Give up after this, epoch ms. */
  readonly expiresMs: number;
  /** Sends so far. */
  attempts: number;
  /** Next retry, epoch ms. */
  nextMs: number;
  /** Devices (hex) a box was put for at least once. */
  readonly sentTo: string[];
  /**
   * A request the target acknowledged (receipt) and has not answered yet:
   * no more sends; kept to report the acceptance.
   */
  delivered: boolean;
}

/** What we know of a peer, to reach it while it is offline. */
export interface PeerRecord {
  /** Account id hex. */
  readonly uri: string;
  /** Device certificates seen (encoded), newest last. */
  devices: Uint8Array[];
  /** The peer's mailbox certificate (encoded). */
  mailbox?: Uint8Array;
  /** Last time we heard of it, epoch ms. */
  seenMs: number;
  /**
   * Direct-link endpoints its devices announced last, by device id hex,
   * least recently announced first; at most
   * {@link MAX_PEER_ENDPOINT_DEVICES} devices.
   */
  endpoints?: Map<string, readonly string[]>;
}

/** The persisted state of one account on one device. */
export interface AccountState {
  /** Contacts and bans. */
  readonly contacts: ContactList;
  /** Pending incoming requests by sender hex. */
  readonly requests: Map<string, PendingRequest>;
  /** Outbox by message id hex. */
  readonly outbox: Map<string, OutboxEntry>;
  /** Message id hex → when to forget it, its sender and time (`seen_ids.ts`). */
  readonly seen: Map<string, {
    /** Forget after, epoch ms. */
    readonly untilMs: number;
    /** Sender account hex, or "" for ids from our own devices (or older state). */
    readonly from: string;
    /** The message's time: its send time, at most the time it was received. */
    readonly atMs: number;
  }>;
  /** Messages from strangers at or before this are refused, epoch ms (`seen_ids.ts`). */
  seenFloorMs: number;
  /** Peers by account hex. */
  readonly peers: Map<string, PeerRecord>;
  /** Last announcement sequence number. */
  announcementSeq: number;
  /** The account's newest revocation list (encoded), if a device was revoked. */
  revocationList?: Uint8Array;
  /**
   * The port links were last accepted on: taken again at the next start
   * (when free), so that contacts that remembered our endpoint reach us.
   */
  linkPort?: number;
}

/** A fresh, empty state. */
export function emptyAccountState(): AccountState {
  return {
    contacts: new ContactList(),
    requests: new Map(),
    outbox: new Map(),
    seen: new Map(),
    seenFloorMs: 0,
    peers: new Map(),
    announcementSeq: 0,
  };
}

/** Thrown when stored state cannot be read back. */
export class StateCorruptError extends Error {
  /**
   * A state that cannot be loaded.
   *
   * @param key Storage key.
   * @param reason What is wrong.
   * @param options Cause.
   */
  constructor(key: string, reason: string, options?: ErrorOptions) {
    super(`Cannot load account state "${key}": ${reason}`, options);
    this.name = "StateCorruptError";
  }
}

/**
 * Thrown when a change would make the state too large to store: the change
 * is refused (nothing of it is kept) and everything that shrinks the state
 * (remove, accept, discard) still works.
 */
export class StateFullError extends Error {
  /**
   * An error naming what was refused.
   *
   * @param what What was refused, or the storage key that would overflow.
   * @param detail Why.
   */
  constructor(what: string, detail: string) {
    super(`Cannot ${what}: the account state is full (${detail})`);
    this.name = "StateFullError";
  }
}

/**
 * Bytes of request payloads in an outbox.
 *
 * @param outbox The outbox.
 * @returns The sum of the request payloads' lengths.
 */
export function outboxPayloadBytes(outbox: Map<string, OutboxEntry>): number {
  let total = 0;
  for (const entry of outbox.values()) {
    if (entry.kind === "request") total += entry.payload.length;
  }
  return total;
}

/**
 * Bytes of payloads in pending requests.
 *
 * @param requests The pending requests.
 * @returns The sum of their payloads' lengths.
 */
export function pendingPayloadBytes(
  requests: Map<string, PendingRequest>,
): number {
  let total = 0;
  for (const request of requests.values()) total += request.payload.length;
  return total;
}

const HEX40 = /^[0-9a-f]{40}$/;
const HEX32 = /^[0-9a-f]{32}$/;
/** A seen entry's sender: an account id, or "" for our own. */
const SENDER = /^(?:[0-9a-f]{40})?$/;

function fail(reason: string): never {
  throw new TypeError(reason);
}
function str(value: unknown, pattern?: RegExp): string {
  if (typeof value !== "string" || (pattern && !pattern.test(value))) {
    fail("bad text field");
  }
  return value as string;
}
function int(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail("bad integer field");
  }
  return value as number;
}
function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) fail("bad bytes field");
  return (value as Uint8Array).slice();
}
function bool(value: unknown): boolean {
  if (typeof value !== "boolean") fail("bad boolean field");
  return value as boolean;
}
function list(value: unknown, max: number): unknown[] {
  if (!Array.isArray(value) || value.length > max) fail("bad list field");
  return value as unknown[];
}

/**
 * Encodes a state.
 *
 * @param state State.
 * @returns Bytes.
 */
export function encodeAccountState(state: AccountState): Uint8Array {
  return encode([
    "as1",
    state.contacts.all().map((c) => [
      c.uri,
      c.addedMs,
      c.removedMs,
      c.confirmed,
      c.banned,
    ]),
    [...state.requests.values()].map((r) => [
      r.from,
      r.id,
      r.sentMs,
      r.receivedMs,
      r.payload,
    ]),
    [...state.outbox.values()].map((e) => [
      e.id,
      e.kind,
      e.to,
      e.payload,
      e.createdMs,
      e.expiresMs,
      e.attempts,
      e.nextMs,
      e.sentTo,
      e.delivered,
    ]),
    [...state.seen].map(([id, e]) => [id, e.untilMs, e.from, e.atMs]),
    [...state.peers.values()].map((p) => {
      const fields: unknown[] = [p.uri, p.devices, p.mailbox ?? null, p.seenMs];
      // A fifth field only when there are endpoints: older states had four.
      if (p.endpoints !== undefined && p.endpoints.size > 0) {
        fields.push([...p.endpoints].map(([device, list]) => [device, list]));
      }
      return fields;
    }),
    state.announcementSeq,
    state.revocationList ?? null,
    state.seenFloorMs,
    // A tenth field only with a port: older states had nine.
    ...(state.linkPort === undefined ? [] : [state.linkPort]),
  ]);
}

/**
 * Decodes a state from untrusted bytes.
 *
 * @param data Bytes.
 * @returns The state.
 * @throws {TypeError} If anything is malformed.
 */
export function decodeAccountState(data: Uint8Array): AccountState {
  let root: unknown;
  try {
    root = decode(data, { maxBinLength: 1 << 20, maxStrLength: 1 << 16 });
  } catch (cause) {
    throw new TypeError("not msgpack", { cause });
  }
  // 8 fields before the strangers' floor was added, 9 before the link port
  // (both still read).
  const top = list(root, 10);
  if (top.length < 8 || top[0] !== "as1") fail("not an account state");
  const contacts: Contact[] = list(top[1], 10_000).map((raw) => {
    const f = list(raw, 5);
    return {
      uri: str(f[0], HEX40),
      addedMs: int(f[1]),
      removedMs: int(f[2]),
      confirmed: bool(f[3]),
      banned: bool(f[4]),
    };
  });
  const state: AccountState = {
    ...emptyAccountState(),
    contacts: new ContactList(contacts),
  };
  for (const raw of list(top[2], MAX_PENDING_REQUESTS)) {
    const f = list(raw, 5);
    const request: PendingRequest = {
      from: str(f[0], HEX40),
      id: str(f[1], HEX32),
      sentMs: int(f[2]),
      receivedMs: int(f[3]),
      payload: bytes(f[4]),
    };
    state.requests.set(request.from, request);
  }
  for (const raw of list(top[3], MAX_OUTBOX_ENTRIES)) {
    const f = list(raw, 10);
    const kind = f[1];
    if (kind !== "request" && kind !== "confirm") fail("bad outbox kind");
    const entry: OutboxEntry = {
      id: str(f[0], HEX32),
      kind,
      to: str(f[2], HEX40),
      payload: bytes(f[3]),
      createdMs: int(f[4]),
      expiresMs: int(f[5]),
      attempts: int(f[6]),
      nextMs: int(f[7]),
      sentTo: list(f[8], 256).map((hex) => str(hex, HEX40)),
      delivered: bool(f[9]),
    };
    state.outbox.set(entry.id, entry);
  }
  for (const raw of list(top[4], MAX_SEEN_IDS)) {
    // [id, until] before senders were kept: counted as our own.
    const f = list(raw, 4);
    if (f.length !== 2 && f.length !== 4) fail("bad seen entry");
    const untilMs = int(f[1]);
    state.seen.set(str(f[0], HEX32), {
      untilMs,
      from: f.length === 4 ? str(f[2], SENDER) : "",
      atMs: f.length === 4 ? int(f[3]) : 0,
    });
  }
  for (const raw of list(top[5], MAX_PEERS)) {
    const f = list(raw, 5);
    if (f.length < 4) fail("bad peer entry");
    const peer: PeerRecord = {
      uri: str(f[0], HEX40),
      devices: list(f[1], 64).map(bytes),
      seenMs: int(f[3]),
    };
    if (f[2] !== null) peer.mailbox = bytes(f[2]);
    if (f.length === 5) {
      peer.endpoints = new Map();
      for (const entry of list(f[4], MAX_PEER_ENDPOINT_DEVICES)) {
        const [device, endpoints] = list(entry, 2);
        peer.endpoints.set(
          str(device, HEX40),
          list(endpoints, MAX_PEER_ENDPOINTS).map((e) => str(e, ENDPOINT)),
        );
      }
    }
    state.peers.set(peer.uri, peer);
  }
  state.announcementSeq = int(top[6]);
  if (top[7] !== null) state.revocationList = bytes(top[7]);
  if (top.length >= 9) state.seenFloorMs = int(top[8]);
  if (top.length === 10) {
    const port = int(top[9]);
    if (port < 1 || port > 65_535) fail("bad link port");
    state.linkPort = port;
  }
  return state;
}

/** Persists one account's state with coalesced atomic writes. */
export class AccountStateStore {
  /** The live state; change it, then call {@link AccountStateStore.save}. */
  readonly state: AccountState;
  readonly #storage: Storage;
  readonly #key: string;
  readonly #writer: StateWriter;

  /**
   * A store writing `state` under the account's key.
   *
   * @param storage Where to write.
   * @param accountId Account id hex (names the storage key).
   * @param state Initial state.
   */
  constructor(storage: Storage, accountId: string, state: AccountState) {
    this.#storage = storage;
    this.#key = AccountStateStore.keyFor(accountId);
    this.state = state;
    this.#writer = new StateWriter(
      storage,
      this.#key,
      () => encodeAccountState(this.state),
    );
  }

  /** Storage key of an account's state. */
  static keyFor(accountId: string): string {
    return `account-${accountId}.state`;
  }

  /**
   * Loads an account's state.
   *
   * @param storage Storage.
   * @param accountId Account id hex.
   * @returns The store, or undefined if nothing is stored.
   * @throws {StateCorruptError} If the stored bytes are malformed.
   */
  static async load(
    storage: Storage,
    accountId: string,
  ): Promise<AccountStateStore | undefined> {
    const key = AccountStateStore.keyFor(accountId);
    const data = await storage.get(key);
    if (data === undefined) return undefined;
    let state: AccountState;
    try {
      state = decodeAccountState(data);
    } catch (cause) {
      throw new StateCorruptError(key, (cause as Error).message, { cause });
    }
    return new AccountStateStore(storage, accountId, state);
  }

  /** Writes done. */
  get writes(): number {
    return this.#writer.writes;
  }

  /**
   * Writes the state; resolves once a write including every change made
   * before this call is durable.
   *
   * @returns Resolves when written.
   * @throws {StateFullError} If the encoded state is over
   *   `MAX_STORAGE_VALUE_BYTES` (nothing is written; the caller
   *   undoes its change).
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
