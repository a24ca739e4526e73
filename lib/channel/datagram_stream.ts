/**
 * One reliable, ordered byte stream over datagrams: the per-stream state
 * machine of `datagram_streams.ts`, which owns the table, the limits and
 * the socket. A stream is a {@link ByteStream}, so the secure channel and
 * SIP run over it unchanged.
 *
 * States (one timer each, at most one armed):
 *
 * - `connecting`: SYN sent, resent every `synIntervalMs` doubling, until a
 *   SYN-ACK (then `open`) or `connectTimeoutMs` (then `closed`).
 * - `accepting` (half-open): a SYN was answered with one SYN-ACK; the first
 *   ACK, DATA or FIN makes it `open` (and it is handed to the listener);
 *   nothing for `halfOpenTimeoutMs` drops it silently.
 * - `open`: DATA both ways; unacknowledged segments are resent when the
 *   RFC 6298 retransmission timeout expires, with back-off; after
 *   `maxRetransmissions` timeouts without progress the stream closes
 *   "error" (and sends one RST). Three duplicate acks with selective acks
 *   above a hole resend the missing segment at once.
 * - `closing`: closed locally ("local" reported); queued data, then a FIN,
 *   are still delivered reliably; once the FIN is acknowledged, `lingering`.
 * - `lingering`: the peer's FIN was delivered ("remote" reported) or ours
 *   acknowledged; for `lingerMs` a resent FIN is acknowledged again, then
 *   `closed`.
 *
 * Sequence numbers count segments (DATA and FIN), from 0 each way: the
 * 64-bit connection id is the secret that keeps off-path senders out. The
 * receiver buffers at most {@link WINDOW_SEGMENTS} segments ahead of the
 * next one it expects; the sender has at most as many in flight. Every
 * segment carries the cumulative and selective acks; a DATA received is
 * acknowledged at once, by a reply written while it was delivered (a pong,
 * a SIP response) or else by an ACK.
 *
 * @example Two streams wired back to back
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { decodeSegment } from "./_datagram_stream_wire.ts";
 * import { DatagramStream, type DatagramStreamHost } from "./datagram_stream.ts";
 * import {
 *   emptyDatagramStreamsCounters, resolveDatagramStreamSettings,
 * } from "./_datagram_stream_settings.ts";
 *
 * const clock = new ManualClock(0);
 * const settings = resolveDatagramStreamSettings({});
 * const id = new Uint8Array(8).fill(3);
 * const ends: DatagramStream[] = [];
 * const host = (other: () => DatagramStream): DatagramStreamHost => ({
 *   clock,
 *   counters: emptyDatagramStreamsCounters(),
 *   transmit: (_to, bytes) => clock.setTimer(10, () => other().receive(decodeSegment(bytes)!)),
 *   stateChanged: () => {},
 * });
 * const a = new DatagramStream(host(() => ends[1]), settings, { host: "b", port: 1 }, id, "connecting");
 * const b = new DatagramStream(host(() => ends[0]), settings, { host: "a", port: 1 }, id, "accepting");
 * ends.push(a, b);
 * const received: number[] = [];
 * b.onData((bytes) => received.push(...bytes));
 * a.start();
 * clock.advance(50);
 * assert.equal(a.state, "open");
 * a.write(new Uint8Array([1, 2, 3]));
 * clock.advance(50);
 * assert.deepEqual(received, [1, 2, 3]);
 * ```
 *
 * @module
 */

import type { Clock, Timer } from "../clock.ts";
import type { PeerAddress } from "../transport.ts";
import type { ByteStream, StreamCloseReason } from "./byte_stream.ts";
import {
  encodeSegment,
  MAX_SEGMENT_PAYLOAD_BYTES,
  type Segment,
  SegmentType,
  type SegmentTypeValue,
  sequenceDistance,
} from "./_datagram_stream_wire.ts";
import { RetransmitTimeout } from "./_retransmit_timeout.ts";
import type {
  DatagramStreamsCounters,
  DatagramStreamSettings,
} from "./_datagram_stream_settings.ts";

/**
 * Segments a receiver buffers ahead of the next expected one, and a sender
 * keeps in flight: 32, the bits of the selective-ack field. 32 × 1,200
 * bytes is 38 KB per stream.
 */
export const WINDOW_SEGMENTS = 32;

/**
 * How far behind the next expected sequence number a segment still counts
 * as a duplicate (answered with an ack, since our ack may have been lost);
 * further back, or further ahead than the window, it is dropped unanswered.
 */
const DUPLICATE_HORIZON_SEGMENTS = 1_024;

/** Duplicate acks that trigger a fast retransmit (RFC 5681's 3). */
const FAST_RETRANSMIT_DUPLICATE_ACKS = 3;

/** Where a stream is in its life; see the module documentation. */
export type DatagramStreamState =
  | "connecting"
  | "accepting"
  | "open"
  | "closing"
  | "lingering"
  | "closed";

/** What a stream needs from its table. */
export interface DatagramStreamHost {
  /** The clock every timer of the stream runs on. */
  readonly clock: Clock;
  /** The table's counters, which the stream updates. */
  readonly counters: DatagramStreamsCounters;
  /**
   * Sends one segment to the stream's peer.
   *
   * @param to The peer.
   * @param bytes The encoded segment.
   */
  transmit(to: PeerAddress, bytes: Uint8Array): void;
  /**
   * The stream moved from `previous` to its current state.
   *
   * @param stream The stream.
   * @param previous Its former state.
   */
  stateChanged(stream: DatagramStream, previous: DatagramStreamState): void;
}

/** A DATA or FIN segment not yet acknowledged. */
interface Outgoing {
  readonly type: SegmentTypeValue;
  readonly sequence: number;
  payload: Uint8Array;
  sentAtMs: number;
  transmissions: number;
  selectivelyAcked: boolean;
}

/** One stream; see the module documentation. */
export class DatagramStream implements ByteStream {
  /** The peer's address: every segment of this stream comes from and goes to it. */
  readonly remote: PeerAddress;
  /** The connection id the connector drew. */
  readonly id: Uint8Array;
  readonly #host: DatagramStreamHost;
  readonly #settings: DatagramStreamSettings;
  readonly #rto: RetransmitTimeout;
  readonly #acceptor: boolean;
  #state: DatagramStreamState;
  #timer: Timer | undefined;
  #dataHandler: ((bytes: Uint8Array) => void) | undefined;
  #closeHandler: ((reason: StreamCloseReason) => void) | undefined;
  #closeReason: StreamCloseReason | undefined;
  #closeDelivered = false;
  /** In-order payloads that arrived before a data handler was set, or before an earlier flush ran. */
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  // Sending: acknowledged up to #queue[0]; the first #inFlight were sent.
  readonly #queue: Outgoing[] = [];
  #inFlight = 0;
  #nextSequence = 0;
  #queuedBytes = 0;
  #retransmissions = 0;
  #duplicateAcks = 0;

  // Receiving.
  #receiveNext = 0;
  readonly #reorder = new Map<number, Segment>();
  #peerFinished = false;
  /** Received in order since the last segment we sent (every segment carries the ack). */
  #ackOwed = false;

  // Connecting.
  #connectStartMs = 0;
  #synIntervalMs = 0;

  /**
   * A stream in its first state; call {@link DatagramStream.start} on a
   * connecting one.
   *
   * @param host The table: clock, counters, socket, state changes.
   * @param settings Timers and bounds.
   * @param remote The peer.
   * @param id The connection id.
   * @param state `"connecting"` (we dial) or `"accepting"` (a SYN arrived; a SYN-ACK is sent).
   */
  constructor(
    host: DatagramStreamHost,
    settings: DatagramStreamSettings,
    remote: PeerAddress,
    id: Uint8Array,
    state: "connecting" | "accepting",
  ) {
    this.#host = host;
    this.#settings = settings;
    this.remote = remote;
    this.id = id;
    this.#state = state;
    this.#acceptor = state === "accepting";
    this.#rto = new RetransmitTimeout({
      initialMs: settings.initialRtoMs,
      minMs: settings.minRtoMs,
      maxMs: settings.maxRtoMs,
    });
    if (state === "accepting") {
      this.#sendControl(SegmentType.SYN_ACK);
      this.#arm(settings.halfOpenTimeoutMs, () => this.#moveTo("closed"));
    }
  }

  /** Where the stream is in its life. */
  get state(): DatagramStreamState {
    return this.#state;
  }

  /** Sends the first SYN of a connecting stream; idempotent. */
  start(): void {
    if (this.#state !== "connecting" || this.#timer !== undefined) return;
    this.#connectStartMs = this.#host.clock.now();
    this.#synIntervalMs = this.#settings.synIntervalMs;
    this.#sendSyn();
  }

  /**
   * Queues bytes: split into segments of at most 1,200 bytes, sent as the
   * window allows. Ignored unless open; past `maxSendQueueBytes`
   * unacknowledged, the stream closes "error".
   *
   * @param bytes The bytes (copied).
   */
  write(bytes: Uint8Array): void {
    if (this.#state !== "open" || bytes.length === 0) return;
    if (this.#queuedBytes + bytes.length > this.#settings.maxSendQueueBytes) {
      this.#fail();
      return;
    }
    this.#queuedBytes += bytes.length;
    let offset = this.#appendToLast(bytes);
    while (offset < bytes.length) {
      const end = Math.min(bytes.length, offset + MAX_SEGMENT_PAYLOAD_BYTES);
      this.#enqueue(SegmentType.DATA, bytes.slice(offset, end));
      offset = end;
    }
    this.#transmitMore();
  }

  /**
   * Sets the handler for incoming bytes, replacing any earlier one.
   *
   * @param handler Called with each in-order payload.
   */
  onData(handler: (bytes: Uint8Array) => void): void {
    const flushQueued = this.#dataHandler !== undefined;
    this.#dataHandler = handler;
    // Bytes that came before the handler go out on a microtask, not inside
    // this call: the caller may still be setting itself up.
    if (this.#pending.length > 0 && !flushQueued) {
      queueMicrotask(() => this.#flushPending());
    }
  }

  /**
   * Sets the handler called once when the stream closes.
   *
   * @param handler Called with the reason.
   */
  onClose(handler: (reason: StreamCloseReason) => void): void {
    this.#closeHandler = handler;
    if (this.#closeReason === undefined) return;
    queueMicrotask(() => {
      // Closed before anyone read: unread bytes would hold the close back forever.
      if (this.#dataHandler === undefined) {
        this.#pending.length = 0;
        this.#pendingBytes = 0;
      }
      this.#flushPending();
    });
  }

  /** Closes both directions: queued bytes and then a FIN still go out reliably. Idempotent. */
  close(): void {
    if (this.#state !== "open") return;
    this.#reportClose("local");
    this.#enqueue(SegmentType.FIN, new Uint8Array(0));
    this.#moveTo("closing");
    this.#transmitMore();
  }

  /**
   * Ends the stream at once, as when the socket goes away: an open stream
   * sends one FIN (not retransmitted) and reports "local".
   */
  shutdown(): void {
    if (this.#state === "open") {
      this.#reportClose("local");
      this.#sendSegment(SegmentType.FIN, this.#nextSequence, new Uint8Array(0));
    }
    this.#moveTo("closed");
  }

  /**
   * Takes one segment that came from {@link DatagramStream.remote} with this
   * stream's id.
   *
   * @param segment The decoded segment.
   */
  receive(segment: Segment): void {
    const drops = this.#host.counters.dropped;
    switch (this.#state) {
      case "connecting":
        if (segment.type === SegmentType.SYN_ACK) {
          this.#moveTo("open");
          this.#sendControl(SegmentType.ACK);
        } else drops.unexpected++;
        return;
      case "accepting":
        if (segment.type === SegmentType.SYN) {
          this.#sendControl(SegmentType.SYN_ACK);
          return;
        }
        if (segment.type === SegmentType.RST) {
          this.#moveTo("closed");
          return;
        }
        if (segment.type === SegmentType.SYN_ACK) {
          drops.unexpected++;
          return;
        }
        // The connector heard our SYN-ACK: hand the stream out, then read on.
        this.#moveTo("open");
        break;
      case "closed":
        drops.unknownStream++;
        return;
    }
    this.#receiveEstablished(segment);
  }

  #receiveEstablished(segment: Segment): void {
    const drops = this.#host.counters.dropped;
    switch (segment.type) {
      case SegmentType.SYN:
        // A late SYN resend: answer it as we did (one SYN-ACK per SYN).
        if (this.#acceptor) this.#sendControl(SegmentType.SYN_ACK);
        else drops.unexpected++;
        return;
      case SegmentType.SYN_ACK:
        // Our ACK was lost and the SYN resent: acknowledge again.
        if (!this.#acceptor) this.#sendControl(SegmentType.ACK);
        else drops.unexpected++;
        return;
      case SegmentType.RST:
        if (this.#state === "open") this.#reportClose("error");
        this.#moveTo("closed");
        return;
    }
    if (!this.#takeAck(segment)) return;
    if (segment.type === SegmentType.DATA || segment.type === SegmentType.FIN) {
      this.#receiveSequenced(segment);
    }
  }

  /** Applies the ack fields; `false` if they are outside the window (the segment is then dropped). */
  #takeAck(segment: Segment): boolean {
    const unacked = this.#queue[0]?.sequence ?? this.#nextSequence;
    const acked = sequenceDistance(unacked, segment.ack);
    if (acked > this.#inFlight) {
      // An ack overtaken by a later one on the path is stale, not hostile.
      if (
        sequenceDistance(segment.ack, unacked) <= DUPLICATE_HORIZON_SEGMENTS
      ) {
        return true;
      }
      this.#host.counters.dropped.outsideWindow++;
      return false;
    }
    if (acked > 0) {
      const done = this.#queue.splice(0, acked);
      this.#inFlight -= acked;
      const newest = done[done.length - 1];
      // Karn: only a segment sent once gives an unambiguous sample.
      if (newest.transmissions === 1) {
        this.#rto.sample(this.#host.clock.now() - newest.sentAtMs);
      }
      for (const outgoing of done) this.#queuedBytes -= outgoing.payload.length;
      this.#retransmissions = 0;
      this.#duplicateAcks = 0;
      this.#cancelTimer();
      if (done.some((outgoing) => outgoing.type === SegmentType.FIN)) {
        this.#moveTo("lingering");
        return true;
      }
    }
    this.#markSelectiveAcks(segment.selectiveAcks);
    if (acked === 0 && segment.selectiveAcks !== 0 && this.#inFlight > 0) {
      this.#duplicateAcks++;
      if (this.#duplicateAcks === FAST_RETRANSMIT_DUPLICATE_ACKS) {
        this.#retransmit(this.#queue[0]);
      }
    }
    this.#transmitMore();
    return true;
  }

  #markSelectiveAcks(bits: number): void {
    for (let bit = 0; bit < WINDOW_SEGMENTS; bit++) {
      if ((bits >>> bit & 1) === 0) continue;
      const index = bit + 1;
      if (index >= this.#inFlight) break;
      this.#queue[index].selectivelyAcked = true;
    }
  }

  #receiveSequenced(segment: Segment): void {
    const drops = this.#host.counters.dropped;
    const ahead = sequenceDistance(this.#receiveNext, segment.sequence);
    const behind = sequenceDistance(segment.sequence, this.#receiveNext);
    if (ahead !== 0 && behind > 0 && behind <= DUPLICATE_HORIZON_SEGMENTS) {
      drops.duplicate++;
      this.#sendControl(SegmentType.ACK);
      return;
    }
    if (ahead >= WINDOW_SEGMENTS || this.#peerFinished) {
      drops.outsideWindow++;
      return;
    }
    if (ahead > 0) {
      if (this.#reorder.has(segment.sequence)) drops.duplicate++;
      else this.#reorder.set(segment.sequence, segment);
      this.#sendControl(SegmentType.ACK);
      return;
    }
    let next: Segment | undefined = segment;
    while (next !== undefined && !this.#peerFinished) {
      this.#reorder.delete(next.sequence);
      this.#receiveNext = (this.#receiveNext + 1) >>> 0;
      this.#ackOwed = true;
      if (next.type === SegmentType.FIN) this.#peerFinished = true;
      else if (this.#state === "open") this.#deliver(next.payload);
      // Delivering may have closed the stream (a handler's close, an overflow).
      if (this.#state === "closed") return;
      next = this.#reorder.get(this.#receiveNext);
    }
    // A reply written while delivering (a pong, a SIP response) already
    // carried this ack; only acknowledge on its own otherwise.
    if (this.#ackOwed) this.#sendControl(SegmentType.ACK);
    if (this.#peerFinished) {
      this.#reorder.clear();
      if (this.#state === "open") {
        this.#reportClose("remote");
        this.#moveTo("lingering");
      }
    }
  }

  #appendToLast(bytes: Uint8Array): number {
    const last = this.#queue[this.#queue.length - 1];
    if (
      last === undefined || this.#queue.length <= this.#inFlight ||
      last.type !== SegmentType.DATA
    ) return 0;
    const room = MAX_SEGMENT_PAYLOAD_BYTES - last.payload.length;
    const taken = Math.min(room, bytes.length);
    if (taken === 0) return 0;
    const joined = new Uint8Array(last.payload.length + taken);
    joined.set(last.payload, 0);
    joined.set(bytes.subarray(0, taken), last.payload.length);
    last.payload = joined;
    return taken;
  }

  #enqueue(type: SegmentTypeValue, payload: Uint8Array): void {
    this.#queue.push({
      type,
      sequence: this.#nextSequence,
      payload,
      sentAtMs: 0,
      transmissions: 0,
      selectivelyAcked: false,
    });
    this.#nextSequence = (this.#nextSequence + 1) >>> 0;
  }

  #transmitMore(): void {
    if (this.#state !== "open" && this.#state !== "closing") return;
    while (
      this.#inFlight < WINDOW_SEGMENTS && this.#inFlight < this.#queue.length
    ) {
      const outgoing = this.#queue[this.#inFlight++];
      outgoing.transmissions = 1;
      outgoing.sentAtMs = this.#host.clock.now();
      this.#sendSegment(outgoing.type, outgoing.sequence, outgoing.payload);
    }
    if (this.#inFlight > 0 && this.#timer === undefined) {
      this.#arm(this.#rto.currentMs, () => this.#onRetransmitTimeout());
    }
  }

  #onRetransmitTimeout(): void {
    this.#retransmissions++;
    if (this.#retransmissions > this.#settings.maxRetransmissions) {
      // The peer is gone: tell it in case only its acks are lost.
      if (this.#state === "open") this.#fail();
      else this.#moveTo("closed");
      return;
    }
    this.#rto.backOff();
    for (let index = 0; index < this.#inFlight; index++) {
      const outgoing = this.#queue[index];
      if (!outgoing.selectivelyAcked) this.#retransmit(outgoing);
    }
    this.#arm(this.#rto.currentMs, () => this.#onRetransmitTimeout());
  }

  #retransmit(outgoing: Outgoing): void {
    outgoing.transmissions++;
    outgoing.sentAtMs = this.#host.clock.now();
    this.#host.counters.segmentsRetransmitted++;
    this.#sendSegment(outgoing.type, outgoing.sequence, outgoing.payload);
  }

  #sendSyn(): void {
    const elapsedMs = this.#host.clock.now() - this.#connectStartMs;
    if (elapsedMs >= this.#settings.connectTimeoutMs) {
      this.#moveTo("closed");
      return;
    }
    if (elapsedMs > 0) this.#host.counters.segmentsRetransmitted++;
    this.#sendControl(SegmentType.SYN);
    const waitMs = Math.min(
      this.#synIntervalMs,
      this.#settings.connectTimeoutMs - elapsedMs,
    );
    this.#synIntervalMs *= 2;
    this.#arm(waitMs, () => this.#sendSyn());
  }

  #sendControl(type: SegmentTypeValue): void {
    this.#sendSegment(type, 0, new Uint8Array(0));
  }

  #sendSegment(
    type: SegmentTypeValue,
    sequence: number,
    payload: Uint8Array,
  ): void {
    this.#ackOwed = false;
    let selectiveAcks = 0;
    for (let bit = 0; bit < WINDOW_SEGMENTS && this.#reorder.size > 0; bit++) {
      if (this.#reorder.has((this.#receiveNext + 1 + bit) >>> 0)) {
        selectiveAcks |= 1 << bit;
      }
    }
    this.#host.transmit(
      this.remote,
      encodeSegment({
        type,
        id: this.id,
        sequence,
        ack: this.#receiveNext,
        selectiveAcks: selectiveAcks >>> 0,
        payload,
      }),
    );
  }

  /** Closes "error" after a local failure, telling the peer with one RST. */
  #fail(): void {
    this.#reportClose("error");
    this.#sendControl(SegmentType.RST);
    this.#moveTo("closed");
  }

  #deliver(payload: Uint8Array): void {
    if (this.#dataHandler !== undefined && this.#pending.length === 0) {
      this.#dataHandler(payload);
      return;
    }
    this.#pendingBytes += payload.length;
    if (this.#pendingBytes > this.#settings.maxSendQueueBytes) {
      this.#fail();
      return;
    }
    this.#pending.push(payload);
  }

  #flushPending(): void {
    while (this.#pending.length > 0 && this.#dataHandler !== undefined) {
      const payload = this.#pending.shift()!;
      this.#pendingBytes -= payload.length;
      this.#dataHandler(payload);
    }
    if (this.#pending.length === 0) this.#deliverClose();
  }

  #reportClose(reason: StreamCloseReason): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    if (reason === "error") this.#host.counters.streamsFailed++;
    // A local close drops what the caller has not read yet.
    if (reason !== "remote") {
      this.#pending.length = 0;
      this.#pendingBytes = 0;
    }
    if (this.#pending.length === 0) this.#deliverClose();
  }

  #deliverClose(): void {
    const reason = this.#closeReason;
    if (reason === undefined || this.#closeDelivered) return;
    const handler = this.#closeHandler;
    if (handler === undefined) return;
    this.#closeDelivered = true;
    handler(reason);
  }

  #moveTo(state: DatagramStreamState): void {
    const previous = this.#state;
    if (previous === state || previous === "closed") return;
    this.#state = state;
    this.#cancelTimer();
    if (state === "open") {
      this.#host.counters.streamsOpened++;
    } else if (state === "lingering") {
      this.#queue.length = 0;
      this.#inFlight = 0;
      this.#queuedBytes = 0;
      this.#arm(this.#settings.lingerMs, () => this.#moveTo("closed"));
    } else if (state === "closed") {
      this.#queue.length = 0;
      this.#inFlight = 0;
      this.#queuedBytes = 0;
      this.#reorder.clear();
    }
    this.#host.stateChanged(this, previous);
  }

  #arm(delayMs: number, callback: () => void): void {
    this.#cancelTimer();
    this.#timer = this.#host.clock.setTimer(delayMs, () => {
      this.#timer = undefined;
      callback();
    });
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
