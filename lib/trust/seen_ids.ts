/**
 * The seen-set: the ids of inbox messages an account already handled, so a
 * copy put again (by the sender's retry, or by anyone: inbox values are
 * public) is never handled twice.
 *
 * Each id is kept with its sender and its time for {@link SEEN_RETENTION_MS}
 * (longer than any message is accepted: see `replay_window.ts`). Strangers
 * cannot flush it (issue 13, item 2):
 * - one sender holds at most {@link MAX_SEEN_PER_SENDER} ids: beyond, its
 *   new messages are refused, nobody else's id is forgotten;
 * - when the set is full, a stranger's id (not a contact, banned or removed
 *   contact, or outbox target; a pending request's sender is a stranger
 *   too, since anyone can be one) goes first, oldest
 *   message first, and the strangers' floor rises to its time: any message
 *   from a stranger sent at or before the floor is refused from then on, so
 *   an id forgotten this way cannot be replayed. Strangers never push out a
 *   known sender's id; if only known senders' ids are held, a stranger's
 *   message is refused.
 * - ids this account learnt from its own devices are kept under
 *   {@link OWN_SENDER}, known and without a per-sender cap.
 *
 * @example A stranger's ids are bounded; the set remembers who sent what
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyAccountState } from "../contacts/account_state.ts";
 * import { MAX_SEEN_PER_SENDER, rememberSeenId } from "./seen_ids.ts";
 *
 * const state = emptyAccountState();
 * const stranger = "b".repeat(40);
 * const known = () => false;
 * let kept = 0;
 * for (let i = 0; i < MAX_SEEN_PER_SENDER + 5; i++) {
 *   const id = i.toString(16).padStart(32, "0");
 *   if (rememberSeenId(state, id, stranger, 1_000, 1_000, known)) kept++;
 * }
 * assert.equal(kept, MAX_SEEN_PER_SENDER);
 * assert.equal(state.seen.get("0".repeat(32))?.from, stranger);
 * ```
 *
 * @module
 */
import { type AccountState, MAX_SEEN_IDS } from "../contacts/account_state.ts";
import { INBOX_LIFETIME_MS } from "./inbox_message.ts";

/** How long a message id is remembered after its inbox value can no longer exist. */
export const SEEN_RETENTION_MS: number = INBOX_LIFETIME_MS + 24 * 3_600_000;
/** Most ids one sender holds in the seen-set. */
export const MAX_SEEN_PER_SENDER = 64;
/** Sender of the ids this account learnt from its own devices (or older state). */
export const OWN_SENDER = "";

/** One remembered id: when to forget it, its sender and its time. */
export type SeenEntry = AccountState["seen"] extends Map<string, infer E> ? E
  : never;

/** The parts of the account state the seen-set lives in. */
export interface SeenState {
  /** Message id hex → entry. */
  readonly seen: Map<string, SeenEntry>;
  /** Messages from strangers at or before this time are refused, epoch ms. */
  seenFloorMs: number;
}

/**
 * Remembers a handled message id until {@link SEEN_RETENTION_MS} from now
 * (see the module doc for what is forgotten to make room).
 *
 * @param state The seen-set and the strangers' floor, changed in place.
 * @param id Message id hex.
 * @param from Sender account hex, or {@link OWN_SENDER}.
 * @param atMs The message's time, epoch ms.
 * @param nowMs Current time, epoch ms.
 * @param isKnown Whether a sender is known (its ids are never forgotten for
 *   a stranger's).
 * @returns False, with nothing changed, if the id cannot be kept: the
 *   message must then be dropped.
 */
export function rememberSeenId(
  state: SeenState,
  id: string,
  from: string,
  atMs: number,
  nowMs: number,
  isKnown: (from: string) => boolean,
): boolean {
  const { seen } = state;
  const entry = { untilMs: nowMs + SEEN_RETENTION_MS, from, atMs };
  if (seen.has(id)) {
    seen.set(id, entry);
    return true;
  }
  if (from !== OWN_SENDER && heldBy(seen, from) >= MAX_SEEN_PER_SENDER) {
    return false;
  }
  if (seen.size >= MAX_SEEN_IDS) {
    const known = (sender: string) => sender === OWN_SENDER || isKnown(sender);
    let victim: string | undefined;
    let victimAt = Infinity;
    for (const [key, held] of seen) {
      if (!known(held.from) && held.atMs < victimAt) {
        [victim, victimAt] = [key, held.atMs];
      }
    }
    if (victim !== undefined) {
      state.seenFloorMs = Math.max(state.seenFloorMs, victimAt);
    } else if (!known(from)) {
      return false;
    } else {
      // Only known senders' ids: the one nearest its end goes.
      let firstMs = Infinity;
      for (const [key, held] of seen) {
        if (held.untilMs < firstMs) [victim, firstMs] = [key, held.untilMs];
      }
    }
    if (victim !== undefined) seen.delete(victim);
  }
  seen.set(id, entry);
  return true;
}

function heldBy(seen: Map<string, SeenEntry>, from: string): number {
  let count = 0;
  for (const entry of seen.values()) if (entry.from === from) count++;
  return count;
}

/**
 * Forgets the ids whose retention ended.
 *
 * @param seen The account's seen-set.
 * @param nowMs Current time, epoch ms.
 * @returns True if any was forgotten (the state must be persisted).
 */
export function forgetExpiredSeenIds(
  seen: Map<string, SeenEntry>,
  nowMs: number,
): boolean {
  let changed = false;
  for (const [id, entry] of seen) {
    if (entry.untilMs <= nowMs) {
      seen.delete(id);
      changed = true;
    }
  }
  return changed;
}
