/**
 * The stream seam: direct channels between devices run over a reliable,
 * ordered byte stream, a TCP connection on the real network
 * (`lib/tcp_stream_network.ts`) and a simulated stream inside the simulator
 * (`sim/stream_network.ts`). Everything above it (handshake, frames, SIP,
 * PIDF) is the same code in both.
 *
 * @example A pair of in-memory streams
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryStreamPair } from "./byte_stream.ts";
 *
 * const [a, b] = memoryStreamPair();
 * const received: number[] = [];
 * b.onData((bytes) => received.push(...bytes));
 * a.write(new Uint8Array([1, 2, 3]));
 * await Promise.resolve();
 * assert.deepEqual(received, [1, 2, 3]);
 * ```
 *
 * @module
 */
import type { PeerAddress } from "../transport.ts";

/** Why a stream closed. */
export type StreamCloseReason = "local" | "remote" | "error";

/**
 * One reliable, ordered, bidirectional byte stream. Writes after close are
 * ignored; handlers are set once (a second call replaces the first).
 */
export interface ByteStream {
  /** The other end's address. */
  readonly remote: PeerAddress;
  /**
   * Queues bytes for the other end; never throws (a failed stream closes).
   *
   * @param bytes The bytes; the stream copies them if it sends later.
   */
  write(bytes: Uint8Array): void;
  /**
   * Sets the handler for incoming bytes (chunk boundaries carry no meaning).
   *
   * @param handler Called with each chunk as it arrives.
   */
  onData(handler: (bytes: Uint8Array) => void): void;
  /**
   * Sets the handler called once when the stream closes for any reason.
   *
   * @param handler Called with the reason.
   */
  onClose(handler: (reason: StreamCloseReason) => void): void;
  /** Closes both directions; idempotent. The other end sees "remote". */
  close(): void;
}

/** A listening socket: where peers reach this device. */
export interface StreamListener {
  /** The bound address (with the real port when 0 was asked for). */
  readonly localAddress: PeerAddress;
  /** Stops accepting; open streams stay open. Idempotent. */
  close(): Promise<void>;
}

/** Opens and accepts streams. */
export interface StreamNetwork {
  /**
   * Opens a stream to `to`.
   *
   * @param to The peer's listening address.
   * @returns The open stream.
   * @throws {Error} (rejects) If the peer cannot be reached.
   */
  connect(to: PeerAddress): Promise<ByteStream>;
  /**
   * Accepts streams on `port` (0: any free port).
   *
   * @param port Local port to accept on; 0 picks a free one, reported by the listener.
   * @param handler Called with each accepted stream.
   * @returns The listener.
   */
  listen(
    port: number,
    handler: (stream: ByteStream) => void,
  ): Promise<StreamListener>;
}

class MemoryStream implements ByteStream {
  readonly remote: PeerAddress;
  peer: MemoryStream | undefined;
  #data: ((bytes: Uint8Array) => void) | undefined;
  #close: ((reason: StreamCloseReason) => void) | undefined;
  #closed = false;

  constructor(remote: PeerAddress) {
    this.remote = remote;
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    const copy = bytes.slice();
    const peer = this.peer;
    queueMicrotask(() => peer?.deliver(copy));
  }

  onData(handler: (bytes: Uint8Array) => void): void {
    this.#data = handler;
  }

  onClose(handler: (reason: StreamCloseReason) => void): void {
    this.#close = handler;
  }

  close(): void {
    if (this.#closed) return;
    this.finish("local");
    const peer = this.peer;
    queueMicrotask(() => peer?.finish("remote"));
  }

  deliver(bytes: Uint8Array): void {
    if (!this.#closed) this.#data?.(bytes);
  }

  finish(reason: StreamCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#close?.(reason);
  }
}

/**
 * Two connected in-memory streams (for tests): bytes written to one arrive
 * at the other on a later microtask, in order.
 *
 * @param firstRemote What the first end reports as its peer's address.
 * @param secondRemote What the second end reports as its peer's address.
 * @returns The two ends.
 */
export function memoryStreamPair(
  firstRemote: PeerAddress = { host: "127.0.0.2", port: 2 },
  secondRemote: PeerAddress = { host: "127.0.0.1", port: 1 },
): [ByteStream, ByteStream] {
  const a = new MemoryStream(firstRemote);
  const b = new MemoryStream(secondRemote);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
