/**
 * The replay window: how old (or how far ahead) an inbox message's send time
 * may be for the message to be handled at all.
 *
 * Inbox values live {@link INBOX_LIFETIME_MS} and a sender retries the same
 * message (same send time) for as long, so a genuine message is never older
 * than that, give or take the two clocks' difference. Anything older is a
 * replay of a captured box, refused whatever the seen-set remembers (issue
 * 13, item 2). The seen-set keeps ids for the window plus the skew, so a
 * message accepted once stays refused until it is too old anyway.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isInReplayWindow, REPLAY_WINDOW_MS } from "./replay_window.ts";
 *
 * const now = 10 * REPLAY_WINDOW_MS;
 * assert.ok(isInReplayWindow(now - 60_000, now));
 * assert.ok(!isInReplayWindow(now - REPLAY_WINDOW_MS - 1, now));
 * ```
 *
 * @module
 */
import { INBOX_LIFETIME_MS } from "./inbox_message.ts";

/** Largest clock difference between two devices tolerated, in ms (12 h). */
export const MAX_CLOCK_SKEW_MS: number = 12 * 3_600_000;
/** Oldest send time accepted, before now, in ms: a value's life plus the skew. */
export const REPLAY_WINDOW_MS: number = INBOX_LIFETIME_MS + MAX_CLOCK_SKEW_MS;

/**
 * True if a message sent at `sentMs` (sender's clock) may be handled now.
 *
 * @param sentMs The message's send time, epoch ms.
 * @param nowMs Current time, epoch ms.
 * @returns Whether it is within the window and not from the future.
 */
export function isInReplayWindow(sentMs: number, nowMs: number): boolean {
  return sentMs >= nowMs - REPLAY_WINDOW_MS &&
    sentMs <= nowMs + MAX_CLOCK_SKEW_MS;
}
