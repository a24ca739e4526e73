/**
 * Settings and counters of datagram streams: the timers and bounds every
 * stream of a `DatagramStreams` shares (with their defaults and range
 * checks), and the running totals the streams and their table update.
 *
 * @example Defaults, and a bound out of range
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   emptyDatagramStreamsCounters, resolveDatagramStreamSettings,
 * } from "./_datagram_stream_settings.ts";
 *
 * assert.equal(resolveDatagramStreamSettings({}).initialRtoMs, 500);
 * assert.throws(() => resolveDatagramStreamSettings({ lingerMs: -1 }), RangeError);
 * assert.equal(emptyDatagramStreamsCounters().dropped.malformed, 0);
 * ```
 *
 * @module
 */

/** Timers and bounds of every stream of a `DatagramStreams`. */
export interface DatagramStreamSettingsInput {
  /** Retransmission timeout before the first round-trip sample (SIP's Timer A). @default {500} */
  readonly initialRtoMs?: number;
  /** Floor of the retransmission timeout. @default {200} */
  readonly minRtoMs?: number;
  /**
   * Ceiling of the retransmission timeout, backed off or not. Low on
   * purpose: the secure channel above declares a link dead after 9.5 s
   * without a byte, 2.5 s after a ping is due: a 4 s wait would leave a lost
   * ping no retry in time; 2 s leaves it one (more with a shorter timeout).
   * @default {2000}
   */
  readonly maxRtoMs?: number;
  /**
   * Retransmission timeouts in a row without progress before the stream
   * closes "error": with the defaults, about 20 s after the peer vanished.
   * @default {10}
   */
  readonly maxRetransmissions?: number;
  /** First SYN resend interval, doubling. @default {250} */
  readonly synIntervalMs?: number;
  /** A connect without SYN-ACK fails after this long. @default {3000} */
  readonly connectTimeoutMs?: number;
  /** A half-open accepted stream (SYN answered, nothing since) is dropped after this long. @default {5000} */
  readonly halfOpenTimeoutMs?: number;
  /** A finished stream acknowledges a resent FIN for this long. @default {8000} */
  readonly lingerMs?: number;
  /**
   * Most bytes written and not yet acknowledged per stream; a write beyond
   * closes the stream "error". Above the secure channel's largest frame
   * (64 KiB message plus overhead). Also the most bytes received and held
   * for a data handler not set yet (beyond: "error" too). @default {262144}
   */
  readonly maxSendQueueBytes?: number;
}

/** {@link DatagramStreamSettingsInput} with every default filled in. */
export type DatagramStreamSettings = Required<DatagramStreamSettingsInput>;

/**
 * Fills in defaults and checks ranges.
 *
 * @param input Settings, any subset.
 * @returns The complete settings.
 * @throws {RangeError} If a value is not a positive finite number.
 */
export function resolveDatagramStreamSettings(
  input: DatagramStreamSettingsInput,
): DatagramStreamSettings {
  const settings: DatagramStreamSettings = {
    initialRtoMs: input.initialRtoMs ?? 500,
    minRtoMs: input.minRtoMs ?? 200,
    maxRtoMs: input.maxRtoMs ?? 2_000,
    maxRetransmissions: input.maxRetransmissions ?? 10,
    synIntervalMs: input.synIntervalMs ?? 250,
    connectTimeoutMs: input.connectTimeoutMs ?? 3_000,
    halfOpenTimeoutMs: input.halfOpenTimeoutMs ?? 5_000,
    lingerMs: input.lingerMs ?? 8_000,
    maxSendQueueBytes: input.maxSendQueueBytes ?? 262_144,
  };
  for (const [name, value] of Object.entries(settings)) {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new RangeError(
        `Cannot create datagram streams: ${name} ${value} is not a positive number`,
      );
    }
  }
  return settings;
}

/** Segments dropped, by reason; every one of them is silent (never answered). */
export interface DatagramStreamsDrops {
  /** Not a well-formed segment (short, unknown type, bad payload size). */
  malformed: number;
  /** No stream with this source address and connection id. */
  unknownStream: number;
  /** A SYN while nothing listens. */
  noListener: number;
  /** A SYN over the half-open limit of its origin. */
  halfOpenLimit: number;
  /** A SYN over the stream limit of its origin or in total. */
  streamLimit: number;
  /** A SYN over its origin's per-minute rate. */
  synRate: number;
  /** A sequence or ack number outside the window. */
  outsideWindow: number;
  /** A segment received before (acknowledged again). */
  duplicate: number;
  /** A valid segment the stream's state has no use for. */
  unexpected: number;
}

/** Running totals of a `DatagramStreams`; callers only read them. */
export interface DatagramStreamsCounters {
  /** Segments handed to the socket, first sendings and retransmissions. */
  segmentsSent: number;
  /** Segments resent by a timeout or a fast retransmit. */
  segmentsRetransmitted: number;
  /** Well-formed segments received for a stream or as a SYN. */
  segmentsReceived: number;
  /** Streams that reached `open`, either role. */
  streamsOpened: number;
  /** Streams closed "error" (gave up, overflowed, reset by the peer). */
  streamsFailed: number;
  /** Half-open streams dropped to make room for a newer SYN (the total was full). */
  halfOpenEvicted: number;
  /** Segments dropped, by reason. */
  readonly dropped: DatagramStreamsDrops;
}

/**
 * Zeroed counters.
 *
 * @returns Fresh counters.
 */
export function emptyDatagramStreamsCounters(): DatagramStreamsCounters {
  return {
    segmentsSent: 0,
    segmentsRetransmitted: 0,
    segmentsReceived: 0,
    streamsOpened: 0,
    streamsFailed: 0,
    halfOpenEvicted: 0,
    dropped: {
      malformed: 0,
      unknownStream: 0,
      noListener: 0,
      halfOpenLimit: 0,
      streamLimit: 0,
      synRate: 0,
      outsideWindow: 0,
      duplicate: 0,
      unexpected: 0,
    },
  };
}
