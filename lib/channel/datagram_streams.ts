/**
 * Reliable, ordered byte streams over one UDP socket: a
 * {@link StreamNetwork} whose streams run over datagrams, so that the secure
 * channel and SIP run unchanged over a hole punched from the DHT socket
 * (docs/links.md, "Links through NATs"). The socket is shared: feed
 * {@link DatagramStreams.handle} every datagram that
 * {@link isStreamDatagram} (`PunchDemux.onStream` does it).
 *
 * Protocol (segment format in `_datagram_stream_wire.ts`, per-stream state
 * machine and timers in `datagram_stream.ts`): the connector draws a 64-bit
 * connection id from the cryptographic `randomBytes` and sends SYN (resent
 * after 250 ms, doubling, for 3 s); the listener answers each SYN with one
 * SYN-ACK of the same size (no amplification) and hands the stream out on
 * the connector's first ACK or DATA. A stream is keyed by the peer's address
 * and the id: a segment for an unknown key is dropped and never answered (no
 * reflection, no RST to strangers), and a FIN or RST from another address
 * cannot touch a stream. DATA carries up to 1,200 bytes; segments are
 * numbered, acknowledged cumulatively with 32 selective-ack bits, resent on
 * an RFC 6298 timeout (500 ms initial, 200 ms floor, 2 s ceiling, doubling)
 * and the stream closes "error" after 10 timeouts without progress. FIN
 * closes both directions ("remote" at the other end).
 *
 * Bounds (all options): SYNs per origin (IPv4 address, IPv6 /64) per
 * minute, over a bounded table of origins; half-open streams per origin,
 * and in total (then the oldest half-open stream makes room, so that
 * spoofed SYNs from many origins cannot lock honest connectors out);
 * streams per origin and in total (connecting, open, closing); finished
 * streams kept to re-acknowledge a FIN; 32 segments buffered out of order
 * and in flight per stream; 256 KiB written and unacknowledged, and as much
 * received and not yet read, per stream. A refused SYN is dropped silently
 * and counted.
 *
 * @example Two sockets, one stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../testing/simulated_network.ts";
 * import { DatagramStreams } from "./datagram_streams.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1), lossProbability: 0.1 });
 * const [a, b] = [network.attach(), network.attach()];
 * const randomBytes = rngBytes(seededRng(2));
 * const alice = new DatagramStreams({ socket: a, clock, randomBytes });
 * const bob = new DatagramStreams({ socket: b, clock, randomBytes });
 * a.receive((bytes, from) => alice.handle(bytes, from));
 * b.receive((bytes, from) => bob.handle(bytes, from));
 * const received: number[] = [];
 * await bob.listen(0, (stream) => stream.onData((bytes) => received.push(...bytes)));
 * const connecting = alice.connect(b.localAddress);
 * clock.advance(3_000);
 * const stream = await connecting;
 * stream.write(new Uint8Array([1, 2, 3]));
 * clock.advance(10_000);
 * assert.deepEqual(received, [1, 2, 3]);
 * alice.close();
 * bob.close();
 * ```
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { originOf, unmappedHost } from "../dht/origin_shares.ts";
import type { RandomBytes } from "../rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import type {
  ByteStream,
  StreamListener,
  StreamNetwork,
} from "./byte_stream.ts";
import {
  CONNECTION_ID_BYTES,
  decodeSegment,
  idHex,
  SegmentType,
} from "./_datagram_stream_wire.ts";
import {
  DatagramStream,
  type DatagramStreamHost,
  type DatagramStreamState,
} from "./datagram_stream.ts";
import {
  type DatagramStreamsCounters,
  type DatagramStreamSettings,
  type DatagramStreamSettingsInput,
  emptyDatagramStreamsCounters,
  resolveDatagramStreamSettings,
} from "./_datagram_stream_settings.ts";

export {
  isStreamDatagram,
  MAX_SEGMENT_PAYLOAD_BYTES,
  STREAM_MAGIC,
} from "./_datagram_stream_wire.ts";
export type {
  DatagramStreamsCounters,
  DatagramStreamsDrops,
  DatagramStreamSettingsInput,
} from "./_datagram_stream_settings.ts";

/** What a {@link DatagramStreams} runs on. */
export interface DatagramStreamsComponents {
  /**
   * The socket segments leave from: the DHT's, so that its NAT mapping is
   * the punched one. Its `localAddress`, if it has one, is what listeners
   * report.
   */
  readonly socket: Pick<Transport, "send"> & {
    readonly localAddress?: PeerAddress;
  };
  /** The clock every stream timer runs on. */
  readonly clock: Clock;
  /** The source of connection ids: cryptographic outside the simulator. */
  readonly randomBytes: RandomBytes;
}

/** Timers of each stream and bounds of the table. */
export interface DatagramStreamsOptions extends DatagramStreamSettingsInput {
  /** Half-open accepted streams (SYN answered, nothing since) per origin. @default {4} */
  readonly maxHalfOpenPerOrigin?: number;
  /** Half-open accepted streams in total; beyond, the oldest is dropped for the newcomer. @default {64} */
  readonly maxHalfOpen?: number;
  /** Streams (half-open, connecting, open, closing) per origin. @default {16} */
  readonly maxStreamsPerOrigin?: number;
  /** Streams in total. @default {256} */
  readonly maxStreams?: number;
  /** New SYNs accepted per origin in a minute. @default {60} */
  readonly maxSynsPerOriginPerMinute?: number;
  /** Origins whose SYN rate is tracked; the oldest is forgotten beyond. @default {1024} */
  readonly maxRateOrigins?: number;
  /** Finished streams kept to acknowledge a resent FIN; the oldest go first. @default {256} */
  readonly maxLingering?: number;
  /**
   * The address listeners report (the one to announce).
   * @default {the socket's `localAddress`, else 0.0.0.0 and the port asked for}
   */
  readonly localAddress?: PeerAddress;
}

/** Why a {@link DatagramStreams.connect} failed. */
export type DatagramConnectFailure = "timeout" | "closed" | "limit";

/** A connect that did not open a stream. */
export class DatagramConnectError extends Error {
  /** The address that was dialled. */
  readonly remote: PeerAddress;
  /**
   * `"timeout"`: no SYN-ACK within `connectTimeoutMs`; `"closed"`: the
   * streams were closed; `"limit"`: too many streams open.
   */
  readonly reason: DatagramConnectFailure;

  /**
   * A failed connect.
   *
   * @param remote The address dialled.
   * @param reason Why it failed.
   */
  constructor(remote: PeerAddress, reason: DatagramConnectFailure) {
    super(`Cannot connect to ${quoteAddress(remote)}: ${reason}`);
    this.name = "DatagramConnectError";
    this.remote = remote;
    this.reason = reason;
  }
}

/** The SYN-rate window. */
const RATE_WINDOW_MS = 60_000;

/** Draws of a connection id before giving up on a collision (2^-64 each). */
const ID_DRAWS = 4;

/** What a stream counts against. */
type Slot = "half-open" | "stream" | "lingering" | "none";

interface Entry {
  readonly key: string;
  readonly origin: string;
  slot: Slot;
}

interface PendingConnect {
  readonly resolve: (stream: ByteStream) => void;
  readonly reject: (error: DatagramConnectError) => void;
}

/** The streams of one socket; see the module documentation. */
export class DatagramStreams implements StreamNetwork {
  /** Running totals since construction; callers only read them. */
  readonly counters: DatagramStreamsCounters = emptyDatagramStreamsCounters();
  readonly #components: DatagramStreamsComponents;
  readonly #settings: DatagramStreamSettings;
  readonly #limits: Required<
    Omit<
      DatagramStreamsOptions,
      keyof DatagramStreamSettingsInput | "localAddress"
    >
  >;
  readonly #localAddress: PeerAddress | undefined;
  readonly #host: DatagramStreamHost;
  readonly #byKey = new Map<string, DatagramStream>();
  readonly #entries = new Map<DatagramStream, Entry>();
  readonly #connects = new Map<DatagramStream, PendingConnect>();
  /** Per origin: half-open streams, and streams of every other live state. */
  readonly #halfOpenByOrigin = new Map<string, number>();
  readonly #streamsByOrigin = new Map<string, number>();
  #halfOpen = 0;
  #streams = 0;
  /** Lingering streams, oldest first. */
  readonly #lingering = new Set<DatagramStream>();
  /** SYNs per origin in its current minute, oldest origin first. */
  readonly #synRates = new Map<string, { startMs: number; count: number }>();
  #handler: ((stream: ByteStream) => void) | undefined;
  #closing = false;

  /**
   * A table with no stream and no listener.
   *
   * @param components Socket, clock, randomness.
   * @param options Timers and bounds.
   * @throws {RangeError} If a timer or bound is not a positive number.
   */
  constructor(
    components: DatagramStreamsComponents,
    options: DatagramStreamsOptions = {},
  ) {
    this.#components = components;
    this.#settings = resolveDatagramStreamSettings(options);
    this.#limits = {
      maxHalfOpenPerOrigin: options.maxHalfOpenPerOrigin ?? 4,
      maxHalfOpen: options.maxHalfOpen ?? 64,
      maxStreamsPerOrigin: options.maxStreamsPerOrigin ?? 16,
      maxStreams: options.maxStreams ?? 256,
      maxSynsPerOriginPerMinute: options.maxSynsPerOriginPerMinute ?? 60,
      maxRateOrigins: options.maxRateOrigins ?? 1_024,
      maxLingering: options.maxLingering ?? 256,
    };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!(Number.isInteger(value) && value > 0)) {
        throw new RangeError(
          `Cannot create datagram streams: ${name} ${value} is not a positive integer`,
        );
      }
    }
    this.#localAddress = options.localAddress;
    this.#host = {
      clock: components.clock,
      counters: this.counters,
      transmit: (to, bytes) => {
        this.counters.segmentsSent++;
        this.#components.socket.send(to, bytes);
      },
      stateChanged: (stream, previous) => this.#stateChanged(stream, previous),
    };
  }

  /** Streams in the table, every state but closed (lingering ones included). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Takes one datagram from the shared socket. Malformed ones, segments of
   * unknown streams and refused SYNs are dropped and counted; nothing here
   * throws for hostile input.
   *
   * @param bytes A datagram starting with the stream magic.
   * @param from Its source.
   */
  handle(bytes: Uint8Array, from: PeerAddress): void {
    if (this.#closing) return;
    const segment = decodeSegment(bytes);
    if (segment === undefined) {
      this.counters.dropped.malformed++;
      return;
    }
    const key = keyOf(from, segment.id);
    const stream = this.#byKey.get(key);
    if (stream !== undefined) {
      this.counters.segmentsReceived++;
      stream.receive(segment);
      return;
    }
    if (segment.type !== SegmentType.SYN) {
      this.counters.dropped.unknownStream++;
      return;
    }
    this.counters.segmentsReceived++;
    this.#accept(from, segment.id, key);
  }

  /**
   * Opens a stream to `to` (a punched address, usually).
   *
   * @param to The peer's socket address.
   * @returns The open stream.
   * @throws {DatagramConnectError} (rejects) On timeout, when closed, or over the stream limit.
   */
  connect(to: PeerAddress): Promise<ByteStream> {
    if (this.#closing) {
      return Promise.reject(new DatagramConnectError(to, "closed"));
    }
    const origin = originOf(to.host).origin;
    if (!this.#roomForStream(origin)) {
      return Promise.reject(new DatagramConnectError(to, "limit"));
    }
    let id = this.#components.randomBytes(CONNECTION_ID_BYTES);
    for (
      let draw = 1;
      draw < ID_DRAWS && this.#byKey.has(keyOf(to, id));
      draw++
    ) {
      id = this.#components.randomBytes(CONNECTION_ID_BYTES);
    }
    const key = keyOf(to, id);
    if (this.#byKey.has(key)) {
      return Promise.reject(new DatagramConnectError(to, "limit"));
    }
    const stream = new DatagramStream(
      this.#host,
      this.#settings,
      to,
      id.slice(),
      "connecting",
    );
    this.#register(stream, key, origin, "stream");
    const opened = new Promise<ByteStream>((resolve, reject) => {
      this.#connects.set(stream, { resolve, reject });
    });
    stream.start();
    return opened;
  }

  /**
   * Accepts streams on the socket; there is one handler, a second call
   * replaces the first.
   *
   * @param port Ignored except in the reported address (the socket is bound already).
   * @param handler Called with each stream once the connector's first ACK or DATA arrived.
   * @returns The listener; closing it stops accepting, open streams stay open.
   */
  listen(
    port: number,
    handler: (stream: ByteStream) => void,
  ): Promise<StreamListener> {
    this.#handler = handler;
    const localAddress = this.#localAddress ??
      this.#components.socket.localAddress ?? { host: "0.0.0.0", port };
    const listener: StreamListener = {
      localAddress,
      close: () => {
        if (this.#handler === handler) this.#handler = undefined;
        return Promise.resolve();
      },
    };
    return Promise.resolve(listener);
  }

  /**
   * Closes every stream ("local"; open ones send one FIN), rejects pending
   * connects, stops every timer and accepts nothing more. Idempotent.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#handler = undefined;
    for (const stream of [...this.#entries.keys()]) stream.shutdown();
    this.#synRates.clear();
  }

  #accept(from: PeerAddress, id: Uint8Array, key: string): void {
    const drops = this.counters.dropped;
    if (this.#handler === undefined) {
      drops.noListener++;
      return;
    }
    const origin = originOf(from.host).origin;
    if (!this.#synAllowed(origin)) {
      drops.synRate++;
      return;
    }
    if (
      (this.#halfOpenByOrigin.get(origin) ?? 0) >=
        this.#limits.maxHalfOpenPerOrigin
    ) {
      drops.halfOpenLimit++;
      return;
    }
    const halfOpenFull = this.#halfOpen >= this.#limits.maxHalfOpen;
    if (!this.#roomForStream(origin, halfOpenFull ? 1 : 0)) {
      drops.streamLimit++;
      return;
    }
    if (halfOpenFull) {
      // Full of half-open streams from many origins (spoofed SYNs, likely):
      // the oldest makes room, so a flood cannot lock honest connectors out;
      // one of them only needs its ACK back before maxHalfOpen more SYNs.
      this.#oldestHalfOpen()?.shutdown();
      this.counters.halfOpenEvicted++;
    }
    const stream = new DatagramStream(
      this.#host,
      this.#settings,
      { host: from.host, port: from.port },
      id,
      "accepting",
    );
    this.#register(stream, key, origin, "half-open");
  }

  #oldestHalfOpen(): DatagramStream | undefined {
    for (const [stream, entry] of this.#entries) {
      if (entry.slot === "half-open") return stream;
    }
    return undefined;
  }

  /**
   * Whether one more stream (of any live state) fits for `origin`, counting
   * `evictable` half-open streams (of other origins) as room in the total.
   */
  #roomForStream(origin: string, evictable = 0): boolean {
    const ofOrigin = (this.#streamsByOrigin.get(origin) ?? 0) +
      (this.#halfOpenByOrigin.get(origin) ?? 0);
    const total = this.#streams + this.#halfOpen -
      Math.min(evictable, this.#halfOpen);
    return ofOrigin < this.#limits.maxStreamsPerOrigin &&
      total < this.#limits.maxStreams;
  }

  #synAllowed(origin: string): boolean {
    const nowMs = this.#components.clock.now();
    const rate = this.#synRates.get(origin);
    if (rate !== undefined && nowMs - rate.startMs < RATE_WINDOW_MS) {
      if (rate.count >= this.#limits.maxSynsPerOriginPerMinute) return false;
      rate.count++;
      return true;
    }
    this.#synRates.delete(origin);
    this.#synRates.set(origin, { startMs: nowMs, count: 1 });
    if (this.#synRates.size > this.#limits.maxRateOrigins) {
      this.#synRates.delete(this.#synRates.keys().next().value!);
    }
    return true;
  }

  #register(
    stream: DatagramStream,
    key: string,
    origin: string,
    slot: Slot,
  ): void {
    const entry: Entry = { key, origin, slot: "none" };
    this.#byKey.set(key, stream);
    this.#entries.set(stream, entry);
    this.#take(stream, entry, slot);
  }

  #stateChanged(stream: DatagramStream, previous: DatagramStreamState): void {
    const entry = this.#entries.get(stream);
    if (entry === undefined) return;
    const state = stream.state;
    this.#take(stream, entry, slotOf(state));
    if (previous === "connecting") {
      const pending = this.#connects.get(stream);
      this.#connects.delete(stream);
      if (state === "open") pending?.resolve(stream);
      else {
        pending?.reject(
          new DatagramConnectError(
            stream.remote,
            this.#closing ? "closed" : "timeout",
          ),
        );
      }
    } else if (previous === "accepting" && state === "open") {
      if (this.#handler === undefined) stream.shutdown();
      else this.#handler(stream);
    }
    if (state === "closed") {
      this.#byKey.delete(entry.key);
      this.#entries.delete(stream);
    }
  }

  /** Moves a stream's claim from its old slot to `slot`. */
  #take(stream: DatagramStream, entry: Entry, slot: Slot): void {
    const origin = entry.origin;
    if (entry.slot === "half-open") {
      this.#halfOpen--;
      decrement(this.#halfOpenByOrigin, origin);
    } else if (entry.slot === "stream") {
      this.#streams--;
      decrement(this.#streamsByOrigin, origin);
    } else if (entry.slot === "lingering") {
      this.#lingering.delete(stream);
    }
    entry.slot = slot;
    if (slot === "half-open") {
      this.#halfOpen++;
      increment(this.#halfOpenByOrigin, origin);
    } else if (slot === "stream") {
      this.#streams++;
      increment(this.#streamsByOrigin, origin);
    } else if (slot === "lingering") {
      this.#lingering.add(stream);
      if (this.#lingering.size > this.#limits.maxLingering) {
        this.#lingering.values().next().value!.shutdown();
      }
    }
  }
}

function slotOf(state: DatagramStreamState): Slot {
  switch (state) {
    case "accepting":
      return "half-open";
    case "connecting":
    case "open":
    case "closing":
      return "stream";
    case "lingering":
      return "lingering";
    case "closed":
      return "none";
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = (counts.get(key) ?? 0) - 1;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}

/** The table key: the peer's address (IPv4-mapped IPv6 as IPv4) and the id. */
function keyOf(address: PeerAddress, id: Uint8Array): string {
  return `${unmappedHost(address.host)}|${address.port}|${idHex(id)}`;
}

function quoteAddress(address: PeerAddress): string {
  try {
    return JSON.stringify(formatAddress(address));
  } catch {
    return JSON.stringify(`${address.host}:${address.port}`);
  }
}
