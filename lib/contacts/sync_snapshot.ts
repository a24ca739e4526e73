/**
 * The snapshot one device of an account sends its other devices: contacts,
 * pending requests, outbox entries and recently handled message ids, cut to
 * fit in one DHT value (payloads are dropped first, then the oldest items).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSyncSnapshot, encodeSyncSnapshot } from "./sync_snapshot.ts";
 * import { emptyAccountState } from "./account_state.ts";
 *
 * const state = emptyAccountState();
 * state.contacts.add("b".repeat(40), 1_000);
 * const snapshot = decodeSyncSnapshot(encodeSyncSnapshot(state, 2_000));
 * assert.equal(snapshot.contacts[0].uri, "b".repeat(40));
 * ```
 *
 * @module
 */
import { decode, encode } from "npm:@msgpack/msgpack@^3.1.3";
import type {
  AccountState,
  OutboxEntry,
  PendingRequest,
} from "./account_state.ts";
import type { Contact } from "./contact_list.ts";

/** Largest encoded snapshot (leaves room for the sealed box in a 64 KiB value). */
export const MAX_SNAPSHOT_BYTES = 60_000;
const MAX_ITEMS = 2_000;
const MAX_SEEN_IN_SNAPSHOT = 512;
const HEX40 = /^[0-9a-f]{40}$/;
const HEX32 = /^[0-9a-f]{32}$/;

/** A decoded snapshot. */
export interface SyncSnapshot {
  /** Sender's time, epoch ms. */
  readonly sentMs: number;
  /** Contact records. */
  readonly contacts: Contact[];
  /** Pending incoming requests (payloads may be dropped to fit). */
  readonly requests: PendingRequest[];
  /** Outbox entries (retry state is local). */
  readonly outbox: OutboxEntry[];
  /** Message ids recently handled. */
  readonly seen: string[];
}

function build(
  state: AccountState,
  nowMs: number,
  withPayloads: boolean,
  limit: number,
): Uint8Array {
  const newest = <T>(items: T[], key: (item: T) => number) =>
    items.sort((a, b) => key(b) - key(a)).slice(0, limit);
  const contacts = newest(
    state.contacts.all(),
    (c) => Math.max(c.addedMs, c.removedMs),
  );
  const requests = newest([...state.requests.values()], (r) => r.receivedMs);
  const outbox = newest([...state.outbox.values()], (e) => e.createdMs);
  const seen = [...state.seen].sort((a, b) => b[1].untilMs - a[1].untilMs)
    .slice(
      0,
      Math.min(limit, MAX_SEEN_IN_SNAPSHOT),
    );
  const empty = new Uint8Array(0);
  return encode([
    "ss1",
    nowMs,
    contacts.map((c) => [c.uri, c.addedMs, c.removedMs, c.confirmed, c.banned]),
    requests.map((r) => [
      r.from,
      r.id,
      r.sentMs,
      r.receivedMs,
      withPayloads ? r.payload : empty,
    ]),
    outbox.map((e) => [
      e.id,
      e.kind,
      e.to,
      withPayloads ? e.payload : empty,
      e.createdMs,
      e.expiresMs,
      e.delivered,
    ]),
    seen.map(([id]) => id),
  ]);
}

/**
 * Encodes a snapshot of `state` that fits {@link MAX_SNAPSHOT_BYTES}.
 *
 * @param state Account state.
 * @param nowMs Time, epoch ms.
 * @returns Bytes.
 */
export function encodeSyncSnapshot(
  state: AccountState,
  nowMs: number,
): Uint8Array {
  let bytes = build(state, nowMs, true, MAX_ITEMS);
  if (bytes.length <= MAX_SNAPSHOT_BYTES) return bytes;
  for (let limit = MAX_ITEMS; limit >= 1; limit = Math.floor(limit / 2)) {
    bytes = build(state, nowMs, false, limit);
    if (bytes.length <= MAX_SNAPSHOT_BYTES) return bytes;
  }
  return build(state, nowMs, false, 0);
}

function check(condition: boolean): void {
  if (!condition) throw new TypeError("malformed sync snapshot");
}
function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) &&
    value >= 0;
}
function isHex(value: unknown, pattern: RegExp): value is string {
  return typeof value === "string" && pattern.test(value);
}
function asList(value: unknown, max = MAX_ITEMS): unknown[] {
  check(Array.isArray(value) && value.length <= max);
  return value as unknown[];
}

/**
 * Decodes an untrusted snapshot.
 *
 * @param bytes Bytes.
 * @returns The snapshot.
 * @throws {TypeError} If malformed.
 */
export function decodeSyncSnapshot(bytes: Uint8Array): SyncSnapshot {
  check(bytes.length <= MAX_SNAPSHOT_BYTES);
  let decoded: unknown;
  try {
    decoded = decode(bytes);
  } catch (cause) {
    throw new TypeError("malformed sync snapshot", { cause });
  }
  const root = asList(decoded, 6);
  check(root.length === 6 && root[0] === "ss1" && isInt(root[1]));
  const contacts = asList(root[2]).map((raw) => {
    const f = asList(raw, 5);
    check(
      isHex(f[0], HEX40) && isInt(f[1]) && isInt(f[2]) &&
        typeof f[3] === "boolean" && typeof f[4] === "boolean",
    );
    return {
      uri: f[0] as string,
      addedMs: f[1] as number,
      removedMs: f[2] as number,
      confirmed: f[3] as boolean,
      banned: f[4] as boolean,
    };
  });
  const requests = asList(root[3]).map((raw) => {
    const f = asList(raw, 5);
    check(
      isHex(f[0], HEX40) && isHex(f[1], HEX32) && isInt(f[2]) && isInt(f[3]) &&
        f[4] instanceof Uint8Array,
    );
    return {
      from: f[0] as string,
      id: f[1] as string,
      sentMs: f[2] as number,
      receivedMs: f[3] as number,
      payload: (f[4] as Uint8Array).slice(),
    };
  });
  const outbox = asList(root[4]).map((raw): OutboxEntry => {
    const f = asList(raw, 7);
    check(
      isHex(f[0], HEX32) && (f[1] === "request" || f[1] === "confirm") &&
        isHex(f[2], HEX40) && f[3] instanceof Uint8Array && isInt(f[4]) &&
        isInt(f[5]) && typeof f[6] === "boolean",
    );
    return {
      id: f[0] as string,
      kind: f[1] as "request" | "confirm",
      to: f[2] as string,
      payload: (f[3] as Uint8Array).slice(),
      createdMs: f[4] as number,
      expiresMs: f[5] as number,
      attempts: 0,
      nextMs: 0,
      sentTo: [],
      delivered: f[6] as boolean,
    };
  });
  const seen = asList(root[5], MAX_SEEN_IN_SNAPSHOT).map((id) => {
    check(isHex(id, HEX32));
    return id as string;
  });
  return { sentMs: root[1] as number, contacts, requests, outbox, seen };
}
