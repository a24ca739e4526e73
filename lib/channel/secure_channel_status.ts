/**
 * What a `SecureChannel` tells of itself: its public state, why it closed,
 * its counters, and the error `send()` throws when the channel is not open.
 *
 * @example Sending before the channel opens is a typed error
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   type ChannelCloseReason,
 *   ChannelNotOpenError,
 *   type ChannelState,
 * } from "./secure_channel_status.ts";
 *
 * const state: ChannelState = "handshake";
 * const reason: ChannelCloseReason = "timeout";
 * assert.throws(() => {
 *   throw new ChannelNotOpenError(state);
 * }, ChannelNotOpenError);
 * assert.equal(reason, "timeout");
 * ```
 *
 * @module
 */

/**
 * Why a channel closed: `"local"` this side called `close()`; `"remote"` the
 * peer sent a close frame; `"timeout"` the handshake took too long or the
 * peer fell silent; `"refused"` this side refused the peer's identity, or the
 * peer refused ours; `"protocol"` the peer sent bytes that break the
 * protocol; `"stream"` the underlying stream closed without a close frame.
 */
export type ChannelCloseReason =
  | "local"
  | "remote"
  | "timeout"
  | "refused"
  | "protocol"
  | "stream";

/** The public state of a channel. */
export type ChannelState = "handshake" | "open" | "closed";

/** Counters of one channel. */
export interface ChannelStats {
  /** Bytes written to the stream: hellos and whole frames. */
  readonly bytesSent: number;
  /** Bytes read from the stream, whether or not they made sense. */
  readonly bytesReceived: number;
  /** Application messages encrypted and written as DATA frames. */
  readonly messagesSent: number;
  /** Application messages delivered to the message handler. */
  readonly messagesReceived: number;
}

/**
 * `send()` was called on a channel that is not open.
 *
 * @example Sending during the handshake
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChannelNotOpenError } from "./secure_channel.ts";
 *
 * const error = new ChannelNotOpenError("handshake");
 * assert.equal(error.state, "handshake");
 * assert.equal(error.message, 'Cannot send on secure channel: state is "handshake"');
 * ```
 */
export class ChannelNotOpenError extends Error {
  /** The channel's state when `send()` was called. */
  readonly state: ChannelState;

  /**
   * Creates the error.
   *
   * @param state The channel's state, "handshake" or "closed".
   */
  constructor(state: ChannelState) {
    super(`Cannot send on secure channel: state is "${state}"`);
    this.name = "ChannelNotOpenError";
    this.state = state;
  }
}
