/**
 * The real {@link StreamNetwork}: TCP connections from `node:net`, which
 * Deno supports with `--allow-net` alone. Nagle's algorithm is off, since
 * channel frames are small and latency matters more than packet count.
 * Connect timeouts run on an injected {@link Clock} (the system clock by
 * default), so this adapter never touches host timers itself.
 *
 * @example Connect to a listener on loopback and send bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ByteStream } from "../channel/byte_stream.ts";
 * import { TcpStreamNetwork } from "./tcp_stream_network.ts";
 *
 * const network = new TcpStreamNetwork({ host: "127.0.0.1" });
 * const accepted = Promise.withResolvers<ByteStream>();
 * const listener = await network.listen(0, accepted.resolve);
 * const stream = await network.connect(listener.localAddress);
 * const server = await accepted.promise;
 * const received = new Promise<Uint8Array>((resolve) => server.onData(resolve));
 * stream.write(new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode(await received), "hi");
 * const closed = new Promise((resolve) => server.onClose(resolve));
 * stream.close();
 * assert.equal(await closed, "remote");
 * await listener.close();
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import type {
  ByteStream,
  StreamCloseReason,
  StreamListener,
  StreamNetwork,
} from "../channel/byte_stream.ts";
import type { Clock } from "../clock.ts";
import { systemClock } from "./system_clock.ts";
import { formatAddress, type PeerAddress } from "../transport.ts";

/** Give up on a connection attempt after this long by default: 5 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Close a stream when more than this would wait unsent, by default: 1 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;
/** After `close()`, give the peer this long to end its side by default: 5 s. */
export const DEFAULT_LINGER_MS = 5_000;

/** Settings and collaborators of a {@link TcpStreamNetwork}. */
export interface TcpStreamNetworkOptions {
  /** Local address that `listen` binds (IPv4 or IPv6). @default {"127.0.0.1"} */
  readonly host?: string;
  /** Times connection attempts. @default {systemClock} */
  readonly clock?: Clock;
  /** `connect` rejects if the connection is not up after this long. @default {5_000} */
  readonly connectTimeoutMs?: number;
  /**
   * A write that would leave more than this many bytes waiting unsent
   * closes the stream with "error" instead: a peer that stops reading must
   * not make us buffer without limit.
   *
   * @default {1_048_576}
   */
  readonly maxQueuedBytes?: number;
  /**
   * `close()` ends our side gracefully, so queued bytes still go out; a peer
   * that has not ended its side this long afterwards is cut off, so that it
   * cannot hold the socket open forever.
   *
   * @default {5_000}
   */
  readonly lingerMs?: number;
}

/**
 * A TCP connection could not be opened; `code` carries the system error
 * code, and `cause` the original error.
 *
 * @example Nobody listens on the port
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpConnectError, TcpStreamNetwork } from "./tcp_stream_network.ts";
 *
 * const network = new TcpStreamNetwork();
 * const listener = await network.listen(0, () => {});
 * const address = listener.localAddress;
 * await listener.close();
 * const error = await network.connect(address).catch((error) => error);
 * assert.ok(error instanceof TcpConnectError);
 * assert.equal(error.code, "ECONNREFUSED");
 * ```
 */
export class TcpConnectError extends Error {
  /** The address that could not be reached. */
  readonly address: PeerAddress;
  /** The system error code, such as `"ECONNREFUSED"`, if known. */
  readonly code: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed, as "Cannot connect: …".
   * @param details The address, the system code and the original error.
   */
  constructor(
    message: string,
    details: { address: PeerAddress; code?: string; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.name = "TcpConnectError";
    this.address = details.address;
    this.code = details.code;
  }
}

/**
 * A TCP connection was not up within the connect timeout.
 *
 * @example Build one by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpConnectError, TcpConnectTimeoutError } from "./tcp_stream_network.ts";
 *
 * const error = new TcpConnectTimeoutError({ host: "192.0.2.1", port: 4222 }, 5_000);
 * assert.ok(error instanceof TcpConnectError);
 * assert.equal(error.code, "ETIMEDOUT");
 * assert.equal(error.timeoutMs, 5_000);
 * ```
 */
export class TcpConnectTimeoutError extends TcpConnectError {
  /** How long the attempt was given, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param address The address that did not answer in time.
   * @param timeoutMs How long the attempt was given.
   */
  constructor(address: PeerAddress, timeoutMs: number) {
    super(
      `Cannot connect: "${
        formatAddress(address)
      }" did not answer within ${timeoutMs} ms`,
      { address, code: "ETIMEDOUT" },
    );
    this.name = "TcpConnectTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Listening on a TCP port failed; `code` carries the system error code.
 *
 * @example Two listeners on one port
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpListenError, TcpStreamNetwork } from "./tcp_stream_network.ts";
 *
 * const network = new TcpStreamNetwork();
 * const first = await network.listen(0, () => {});
 * const error = await network.listen(first.localAddress.port, () => {}).catch((error) => error);
 * assert.ok(error instanceof TcpListenError);
 * assert.equal(error.code, "EADDRINUSE");
 * await first.close();
 * ```
 */
export class TcpListenError extends Error {
  /** The host that could not be bound. */
  readonly host: string;
  /** The port that could not be bound (0 for any). */
  readonly port: number;
  /** The system error code, such as `"EADDRINUSE"`, if known. */
  readonly code: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed, as "Cannot listen: …".
   * @param details The address, the system code and the original error.
   */
  constructor(
    message: string,
    details: { host: string; port: number; code?: string; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.name = "TcpListenError";
    this.host = details.host;
    this.port = details.port;
    this.code = details.code;
  }
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error &&
      typeof error.code === "string"
    ? error.code
    : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Limits and clock shared by every stream of one network. */
interface StreamSettings {
  readonly clock: Clock;
  readonly maxQueuedBytes: number;
  readonly lingerMs: number;
}

/** One TCP connection as a {@link ByteStream}. */
class TcpStream implements ByteStream {
  readonly remote: PeerAddress;
  readonly #socket: net.Socket;
  readonly #settings: StreamSettings;
  #onData: ((bytes: Uint8Array) => void) | undefined;
  #onClose: ((reason: StreamCloseReason) => void) | undefined;
  #reading = false;
  #closed = false;

  constructor(
    socket: net.Socket,
    remote: PeerAddress,
    settings: StreamSettings,
  ) {
    this.remote = remote;
    this.#socket = socket;
    this.#settings = settings;
    socket.setNoDelay(true);
    // Without a listener, an asynchronous socket error would be thrown out of the event loop.
    socket.on("error", () => this.#fail());
    // The peer's FIN; with allowHalfOpen off, Node ends our side as well.
    socket.on("end", () => this.#finish("remote"));
    socket.on(
      "close",
      (hadError) => this.#finish(hadError ? "error" : "remote"),
    );
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    const queuedBytes = this.#socket.writableLength + bytes.length;
    if (queuedBytes > this.#settings.maxQueuedBytes) {
      this.#fail();
      return;
    }
    this.#socket.write(Buffer.from(bytes));
  }

  onData(handler: (bytes: Uint8Array) => void): void {
    this.#onData = handler;
    if (this.#reading) return;
    // The socket stays paused, its bytes kept by Node, until a handler is set.
    this.#reading = true;
    this.#socket.on("data", (chunk: Buffer) => {
      if (this.#closed) return;
      this.#onData?.(
        new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
      );
    });
  }

  onClose(handler: (reason: StreamCloseReason) => void): void {
    this.#onClose = handler;
  }

  close(): void {
    if (this.#closed) return;
    // A graceful end: queued bytes still go out, then our FIN. Node closes
    // the socket once the peer's FIN arrives; the linger timer bounds the wait.
    const socket = this.#socket;
    socket.end();
    const linger = this.#settings.clock.setTimer(
      this.#settings.lingerMs,
      () => socket.destroy(),
    );
    socket.once("close", () => linger.cancel());
    this.#finish("local");
  }

  #fail(): void {
    this.#socket.destroy();
    this.#finish("error");
  }

  #finish(reason: StreamCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose?.(reason);
  }
}

/** A listening TCP server. */
class TcpListener implements StreamListener {
  readonly localAddress: PeerAddress;
  readonly #server: net.Server;
  #closed = false;

  constructor(server: net.Server) {
    this.#server = server;
    const bound = server.address() as net.AddressInfo;
    this.localAddress = { host: bound.address, port: bound.port };
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Stops accepting at once; Node's callback would wait for every open
      // stream to end, which is not what closing a listener means here.
      this.#server.close();
    }
    return Promise.resolve();
  }
}

/**
 * A {@link StreamNetwork} over TCP. Nothing from the network is thrown at
 * the caller once a stream is up: errors and resets close the stream with
 * "error", the peer's FIN with "remote".
 *
 * @example Bytes both ways
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ByteStream } from "../channel/byte_stream.ts";
 * import { TcpStreamNetwork } from "./tcp_stream_network.ts";
 *
 * const network = new TcpStreamNetwork();
 * const listener = await network.listen(0, (stream: ByteStream) => {
 *   stream.onData((bytes) => stream.write(bytes)); // Echo.
 * });
 * const stream = await network.connect(listener.localAddress);
 * const echoed = new Promise<Uint8Array>((resolve) => stream.onData(resolve));
 * stream.write(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await echoed, new Uint8Array([1, 2, 3]));
 * const closed = new Promise((resolve) => stream.onClose(resolve));
 * stream.close();
 * assert.equal(await closed, "local");
 * await listener.close();
 * ```
 */
export class TcpStreamNetwork implements StreamNetwork {
  readonly #host: string;
  readonly #clock: Clock;
  readonly #connectTimeoutMs: number;
  readonly #streamSettings: StreamSettings;
  #handlerErrorCount = 0;

  /**
   * Creates the network; nothing is opened until `connect` or `listen`.
   *
   * @param options Listening host, clock, connect timeout, queue limit, linger time.
   * @throws {TypeError} If the host is empty.
   * @throws {RangeError} If a duration or the queue limit is not positive.
   */
  constructor(options: TcpStreamNetworkOptions = {}) {
    const host = options.host ?? "127.0.0.1";
    const connectTimeoutMs = options.connectTimeoutMs ??
      DEFAULT_CONNECT_TIMEOUT_MS;
    const maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if (typeof host !== "string" || host === "") {
      throw new TypeError(
        `Cannot create TCP network: host "${String(host)}" is empty`,
      );
    }
    const lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    for (
      const [name, value] of [["connectTimeoutMs", connectTimeoutMs], [
        "lingerMs",
        lingerMs,
      ]] as const
    ) {
      if (!Number.isFinite(value) || value <= 0) {
        throw new RangeError(
          `Cannot create TCP network: ${name} ${value} is not a positive number`,
        );
      }
    }
    if (!Number.isSafeInteger(maxQueuedBytes) || maxQueuedBytes < 1) {
      throw new RangeError(
        `Cannot create TCP network: maxQueuedBytes ${maxQueuedBytes} is not a positive integer`,
      );
    }
    this.#host = host;
    this.#clock = options.clock ?? systemClock;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#streamSettings = { clock: this.#clock, maxQueuedBytes, lingerMs };
  }

  /** Exceptions thrown by `listen` handlers; each closed its stream. */
  get handlerErrorCount(): number {
    return this.#handlerErrorCount;
  }

  /**
   * Opens a TCP connection to `to`.
   *
   * @param to The peer's listening address.
   * @returns The open stream.
   * @throws {RangeError} (rejects) If the port is not an integer from 1 to 65535.
   * @throws {TcpConnectTimeoutError} (rejects) If the connection is not up within the connect timeout.
   * @throws {TcpConnectError} (rejects) If the connection fails, such as `"ECONNREFUSED"`.
   */
  connect(to: PeerAddress): Promise<ByteStream> {
    if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) {
      return Promise.reject(
        new RangeError(
          `Cannot connect: port ${to.port} is not an integer from 1 to 65535`,
        ),
      );
    }
    const remote: PeerAddress = { host: to.host, port: to.port };
    return new Promise((resolve, reject) => {
      let settled = false;
      const socket = net.connect({ host: to.host, port: to.port });
      const timer = this.#clock.setTimer(this.#connectTimeoutMs, () => {
        if (settled) return;
        settled = true;
        socket.destroy();
        reject(new TcpConnectTimeoutError(remote, this.#connectTimeoutMs));
      });
      // Stays attached: an error after the attempt settled must not go unheard.
      socket.on("error", (error) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        socket.destroy();
        reject(
          new TcpConnectError(
            `Cannot connect: "${formatAddress(remote)}" failed with "${
              errorText(error)
            }"`,
            { address: remote, code: errorCode(error), cause: error },
          ),
        );
      });
      socket.once("connect", () => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(new TcpStream(socket, remote, this.#streamSettings));
      });
    });
  }

  /**
   * Accepts TCP connections on the constructor's host and `port`.
   *
   * @param port The port, 0 for any free one.
   * @param handler Called with each accepted stream; if it throws, the
   * stream is closed and the error counted in `handlerErrorCount`.
   * @returns The listener, with the real port.
   * @throws {TcpListenError} (rejects) If the address cannot be bound.
   */
  async listen(
    port: number,
    handler: (stream: ByteStream) => void,
  ): Promise<StreamListener> {
    const host = this.#host;
    const server = net.createServer({ allowHalfOpen: false }, (socket) => {
      this.#accept(socket, handler);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      server.close();
      throw new TcpListenError(
        `Cannot listen: binding "${
          formatAddress({ host, port })
        }" failed with "${errorText(error)}"`,
        { host, port, code: errorCode(error), cause: error },
      );
    }
    // Later server errors (such as too many open files) must not crash the process.
    server.on("error", () => {});
    return new TcpListener(server);
  }

  #accept(socket: net.Socket, handler: (stream: ByteStream) => void): void {
    const host = socket.remoteAddress;
    const port = socket.remotePort;
    if (host === undefined || port === undefined) {
      // Already gone before we saw it.
      socket.destroy();
      return;
    }
    const stream = new TcpStream(socket, { host, port }, this.#streamSettings);
    try {
      handler(stream);
    } catch {
      this.#handlerErrorCount++;
      stream.close();
    }
  }
}
