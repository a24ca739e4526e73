/**
 * PLACEHOLDER until branch `dgram` lands: byte streams over a datagram
 * socket, with the API `dgram` builds (`DatagramStreams`), but no
 * retransmission: only for a loss-free simulated network. Replaced by the
 * real one at the merge.
 *
 * Datagram format: `"RNGS"`, one byte kind (1 open, 2 data, 3 close), an
 * 8-byte stream id, a 4-byte sequence number, the payload; datagrams are
 * put back in order (the simulated network reorders), never resent.
 *
 * @example A stream between two hosts
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../testing/simulated_network.ts";
 * import { DatagramStreams } from "./datagram_streams.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const [a, b] = [network.attach(), network.attach()];
 * const randomBytes = rngBytes(seededRng(2));
 * const sa = new DatagramStreams({ socket: a, clock, randomBytes });
 * const sb = new DatagramStreams({ socket: b, clock, randomBytes });
 * a.receive((bytes, from) => sa.handle(bytes, from));
 * b.receive((bytes, from) => sb.handle(bytes, from));
 * const got: number[] = [];
 * await sb.listen(0, (stream) => stream.onData((bytes) => got.push(...bytes)));
 * const stream = await sa.connect(b.localAddress);
 * stream.write(new Uint8Array([1, 2]));
 * clock.runUntilIdle();
 * assert.deepEqual(got, [1, 2]);
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { RandomBytes } from "../rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import type {
  ByteStream,
  StreamCloseReason,
  StreamListener,
  StreamNetwork,
} from "./byte_stream.ts";

/** The first bytes of every stream datagram: `"RNGS"`. */
export const STREAM_MAGIC: Uint8Array = new Uint8Array([
  0x52,
  0x4e,
  0x47,
  0x53,
]);
const OPEN = 1;
const DATA = 2;
const CLOSE = 3;
const HEADER = 4 + 1 + 8 + 4;
const MAX_PAYLOAD = 1_200;
const MAX_STREAMS = 256;

/**
 * Whether a datagram belongs to the streams (by its magic).
 *
 * @param bytes A datagram.
 * @returns Whether it starts with `"RNGS"`.
 */
export function isStreamDatagram(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x52 && bytes[1] === 0x4e &&
    bytes[2] === 0x47 && bytes[3] === 0x53;
}

/** What {@link DatagramStreams} runs on. */
export interface DatagramStreamsComponents {
  /** The shared socket. */
  readonly socket: Pick<Transport, "send">;
  /** Timers. */
  readonly clock: Clock;
  /** Stream ids. */
  readonly randomBytes: RandomBytes;
}

class DatagramStream implements ByteStream {
  readonly remote: PeerAddress;
  readonly #send: (kind: number, payload: Uint8Array) => void;
  readonly #forget: () => void;
  #onData: ((bytes: Uint8Array) => void) | undefined;
  #onClose: ((reason: StreamCloseReason) => void) | undefined;
  #closed = false;

  constructor(
    remote: PeerAddress,
    send: (kind: number, payload: Uint8Array) => void,
    forget: () => void,
  ) {
    this.remote = remote;
    this.#send = send;
    this.#forget = forget;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    for (let at = 0; at < bytes.length; at += MAX_PAYLOAD) {
      this.#send(DATA, bytes.subarray(at, at + MAX_PAYLOAD));
    }
  }

  onData(handler: (bytes: Uint8Array) => void): void {
    this.#onData = handler;
  }

  onClose(handler: (reason: StreamCloseReason) => void): void {
    this.#onClose = handler;
  }

  close(): void {
    if (this.#closed) return;
    this.#send(CLOSE, new Uint8Array(0));
    this.finish("local");
  }

  deliver(bytes: Uint8Array): void {
    if (!this.#closed) this.#onData?.(bytes);
  }

  finish(reason: StreamCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#forget();
    this.#onClose?.(reason);
  }
}

/** Streams over one datagram socket; see the module documentation. */
export class DatagramStreams implements StreamNetwork {
  readonly #c: DatagramStreamsComponents;
  readonly #streams = new Map<string, DatagramStream>();
  readonly #pending = new Map<
    string,
    { next: number; held: Map<number, Uint8Array> }
  >();
  readonly #sent = new Map<string, number>();
  #handler: ((stream: ByteStream) => void) | undefined;
  #closed = false;

  /**
   * Streams on a socket whose stream datagrams the caller feeds to {@link DatagramStreams.handle}.
   *
   * @param components Socket, clock, randomness.
   */
  constructor(components: DatagramStreamsComponents) {
    this.#c = components;
  }

  /**
   * Looks at one stream datagram.
   *
   * @param bytes The datagram.
   * @param from Its source.
   */
  handle(bytes: Uint8Array, from: PeerAddress): void {
    if (this.#closed || !isStreamDatagram(bytes) || bytes.length < HEADER) {
      return;
    }
    const id = bytes.subarray(5, 13);
    const key = `${formatAddress(from)}/${hex(id)}`;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      if (this.#pending.size >= MAX_STREAMS) return;
      pending = { next: 0, held: new Map() };
      this.#pending.set(key, pending);
    }
    const seq = new DataView(bytes.buffer, bytes.byteOffset + 13, 4)
      .getUint32(0);
    if (seq < pending.next || pending.held.size >= 256) return;
    pending.held.set(seq, bytes.slice());
    for (;;) {
      const next = pending.held.get(pending.next);
      if (next === undefined) break;
      pending.held.delete(pending.next);
      pending.next += 1;
      this.#apply(next, from, id, key);
    }
  }

  #apply(
    bytes: Uint8Array,
    from: PeerAddress,
    id: Uint8Array,
    key: string,
  ): void {
    const kind = bytes[4];
    let stream = this.#streams.get(key);
    if (stream === undefined && kind === OPEN) {
      if (this.#handler === undefined || this.#streams.size >= MAX_STREAMS) {
        return;
      }
      stream = this.#open(from, id.slice(), key);
      this.#handler(stream);
    }
    if (stream === undefined) return;
    if (kind === DATA) stream.deliver(bytes.slice(HEADER));
    else if (kind === CLOSE) {
      this.#pending.delete(key);
      stream.finish("remote");
    }
  }

  /**
   * Opens a stream to `to`.
   *
   * @param to The peer's address.
   * @returns The stream.
   */
  connect(to: PeerAddress): Promise<ByteStream> {
    if (this.#closed || this.#streams.size >= MAX_STREAMS) {
      return Promise.reject(new Error("Cannot connect: streams closed"));
    }
    const id = this.#c.randomBytes(8);
    const stream = this.#open(to, id, `${formatAddress(to)}/${hex(id)}`);
    this.#send(to, id, OPEN, new Uint8Array(0));
    return Promise.resolve(stream);
  }

  /**
   * Accepts streams (the port is ignored: the socket is shared).
   *
   * @param _port Ignored.
   * @param handler Called with each new stream.
   * @returns A listener.
   */
  listen(
    _port: number,
    handler: (stream: ByteStream) => void,
  ): Promise<StreamListener> {
    this.#handler = handler;
    return Promise.resolve({
      localAddress: { host: "0.0.0.0", port: 0 },
      close: () => {
        if (this.#handler === handler) this.#handler = undefined;
        return Promise.resolve();
      },
    });
  }

  /** Closes every stream. */
  close(): void {
    this.#closed = true;
    for (const stream of [...this.#streams.values()]) stream.close();
  }

  #open(to: PeerAddress, id: Uint8Array, key: string): DatagramStream {
    const stream = new DatagramStream(
      to,
      (kind, payload) => this.#send(to, id, kind, payload),
      () => {
        this.#streams.delete(key);
        this.#sent.delete(hex(id));
      },
    );
    this.#streams.set(key, stream);
    return stream;
  }

  #send(to: PeerAddress, id: Uint8Array, kind: number, payload: Uint8Array) {
    const bytes = new Uint8Array(HEADER + payload.length);
    bytes.set(STREAM_MAGIC, 0);
    bytes[4] = kind;
    bytes.set(id, 5);
    const key = hex(id);
    const seq = this.#sent.get(key) ?? 0;
    this.#sent.set(key, seq + 1);
    new DataView(bytes.buffer).setUint32(13, seq);
    bytes.set(payload, HEADER);
    this.#c.socket.send(to, bytes);
  }
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
