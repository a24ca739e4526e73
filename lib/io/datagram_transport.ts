/**
 * A {@link Transport} over `Deno.listenDatagram` (unstable: `"unstable":
 * ["net"]` in `deno.json`, or `--unstable-net`), with the same contract
 * and counters as {@link UdpTransport}, and a third of its receive cost.
 *
 * Why: Deno's `node:dgram` allocates and zeroes a fresh 64 KiB buffer for
 * every datagram it receives (and hands out a view of it), which made
 * `malloc`, `memset` and page faults a third of our DHT node's CPU time in
 * `deno task bench:dht` (`docs/figures.md`, "Where the UDP node's time
 * goes"). Here one 64 KiB buffer is reused for every receive and the handler
 * gets an exact-size copy of the datagram.
 *
 * {@link bindUdpTransport} picks this transport when `Deno.listenDatagram`
 * is there (IPv4, IPv6, or both on the dual-stack "::", IPv4 peers named by
 * their IPv4 address), unless the caller asks for batched I/O (`batched`:
 * the {@link MmsgTransport}, which needs `--allow-ffi` and costs less than
 * half as much per datagram), and {@link UdpTransport} for a program run
 * without the unstable flag, so callers need not care.
 *
 * @example Two transports on loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindUdpTransport } from "./datagram_transport.ts";
 *
 * const alice = await bindUdpTransport({ host: "127.0.0.1" });
 * const bob = await bindUdpTransport({ host: "127.0.0.1" });
 * try {
 *   const received = new Promise<Uint8Array>((resolve) => bob.receive(resolve));
 *   alice.send(bob.localAddress, new TextEncoder().encode("hello"));
 *   assert.equal(new TextDecoder().decode(await received), "hello");
 * } finally {
 *   await alice.close();
 *   await bob.close();
 * }
 * ```
 *
 * @module
 */
import {
  type DatagramHandler,
  MAX_DATAGRAM_BYTES,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import { unmappedHost } from "../dht/origin_shares.ts";
import {
  type KernelUdpStats,
  socketKernelStats,
  UdpBindError,
  UdpTransport,
  type UdpTransportOptions,
} from "./udp_transport.ts";
import { SlabCopier } from "./_slab_copier.ts";
import { MmsgTransport } from "./mmsg_transport.ts";
import { readNumberFile } from "./_proc_files.ts";
import {
  checkBindOptions,
  listenDatagramFunction,
  listenUdp,
} from "./_bind_options.ts";

/** The receive buffer: the largest datagram the kernel can hand over. */
const RECEIVE_BUFFER_BYTES = 65_536;

/** What every UDP transport offers: the {@link Transport} and its counters. */
export type AnyUdpTransport = UdpTransport | DatagramTransport | MmsgTransport;

/** Options of {@link bindUdpTransport}. */
export interface BindUdpTransportOptions extends UdpTransportOptions {
  /**
   * Read and write the socket in batches ({@link MmsgTransport}:
   * `recvmmsg`/`sendmmsg` through FFI; Linux on x86_64 or aarch64,
   * `--allow-ffi`, an IP address to bind). Asked for and not possible, the
   * bind fails with {@link UdpBindError} (code `"EBATCHUNAVAILABLE"`)
   * rather than silently running on another socket.
   *
   * @default {false}
   */
  batched?: boolean;
}

/**
 * Binds a UDP transport: {@link MmsgTransport} when `batched` is asked for,
 * else {@link DatagramTransport} with unstable net (IPv4, IPv6, or both on
 * "::"), else {@link UdpTransport}.
 *
 * @param options Where to bind, the incoming size limit, batched I/O.
 * @returns The bound transport.
 * @throws {AddressInUseError} If another socket holds the address.
 * @throws {UdpBindError} If binding fails for another reason, or batched
 *   I/O was asked for where it cannot run.
 * @throws {TypeError} If the host is empty.
 * @throws {RangeError} If the port or `maxDatagramBytes` is out of range.
 *
 * @example Bind to a system-chosen port
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindUdpTransport } from "./datagram_transport.ts";
 *
 * const transport = await bindUdpTransport({ host: "127.0.0.1" });
 * assert.ok(transport.localAddress.port > 0);
 * await transport.close();
 * ```
 */
export function bindUdpTransport(
  options: BindUdpTransportOptions = {},
): Promise<AnyUdpTransport> {
  const { batched = false, ...socket } = options;
  if (batched) {
    const host = socket.host ?? "127.0.0.1";
    if (!MmsgTransport.available(host)) {
      return Promise.reject(
        new UdpBindError(
          "Cannot bind UDP socket: batched I/O needs Linux (x86_64 or aarch64), --allow-ffi and an IP address to bind",
          { host, port: socket.port ?? 0, code: "EBATCHUNAVAILABLE" },
        ),
      );
    }
    return MmsgTransport.bind(socket);
  }
  options = socket;
  return listenDatagramFunction() === undefined
    ? UdpTransport.bind(options)
    : DatagramTransport.bind(options);
}

/**
 * A {@link Transport} over one `Deno.DatagramConn`. As with
 * {@link UdpTransport}, nothing from the network is thrown at the caller:
 * oversized datagrams, datagrams arriving before a handler is set, handler
 * exceptions, receive errors and send failures are all counted.
 *
 * @example A send to an invalid port is counted, not thrown
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatagramTransport } from "./datagram_transport.ts";
 *
 * const transport = await DatagramTransport.bind();
 * transport.send({ host: "127.0.0.1", port: 70_000 }, new Uint8Array(1));
 * await transport.close();
 * assert.equal(transport.sendErrorCount, 1);
 * ```
 */
export class DatagramTransport implements Transport {
  /** The bound address; the real port when bound with port 0. */
  readonly localAddress: PeerAddress;
  readonly #conn: Deno.DatagramConn;
  readonly #maxDatagramBytes: number;
  readonly #buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  readonly #receiving: Promise<void>;
  readonly #received = new SlabCopier();
  readonly #sending = new SlabCopier();
  /** Sends handed to the socket and not yet settled. */
  #pendingSends = 0;
  /** Resolves `close()`'s wait once the last pending send settles. */
  #drained: (() => void) | undefined;
  readonly #onSent = (): void => {
    this.#sentCount++;
    this.#settled();
  };
  readonly #onSendError = (): void => {
    this.#sendErrorCount++;
    this.#settled();
  };
  #handler: DatagramHandler | undefined;
  #closed: Promise<void> | undefined;
  #receivedCount = 0;
  #sentCount = 0;
  #droppedCount = 0;
  #handlerErrorCount = 0;
  #sendErrorCount = 0;
  #socketErrorCount = 0;
  readonly #receiveBufferBytes = readNumberFile(
    "/proc/sys/net/core/rmem_default",
  );
  readonly #sendBufferBytes = readNumberFile("/proc/sys/net/core/wmem_default");

  private constructor(conn: Deno.DatagramConn, maxDatagramBytes: number) {
    this.#conn = conn;
    this.#maxDatagramBytes = maxDatagramBytes;
    const bound = conn.addr as Deno.NetAddr;
    this.localAddress = { host: bound.hostname, port: bound.port };
    this.#receiving = this.#receiveLoop();
  }

  /**
   * Opens a UDP socket bound to `host` and `port`.
   *
   * @param options Where to bind and the incoming size limit.
   * @returns The bound transport.
   * @throws {AddressInUseError} If another socket holds the address.
   * @throws {UdpBindError} If binding fails for another reason, or this
   * runtime has no `Deno.listenDatagram` (no unstable net).
   * @throws {TypeError} If the host is empty.
   * @throws {RangeError} If the port or `maxDatagramBytes` is out of range.
   *
   * @example Two sockets on one port
   * ```ts
   * import assert from "node:assert/strict";
   * import { DatagramTransport } from "./datagram_transport.ts";
   * import { AddressInUseError } from "./udp_transport.ts";
   *
   * const first = await DatagramTransport.bind();
   * try {
   *   await assert.rejects(
   *     DatagramTransport.bind({ port: first.localAddress.port }),
   *     AddressInUseError,
   *   );
   * } finally {
   *   await first.close();
   * }
   * ```
   */
  // deno-lint-ignore require-await
  static async bind(
    options: UdpTransportOptions = {},
  ): Promise<DatagramTransport> {
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? 0;
    const maxDatagramBytes = options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES;
    checkBindOptions(host, port, maxDatagramBytes);
    const conn = listenUdp(host, port);
    return new DatagramTransport(conn, maxDatagramBytes);
  }

  /**
   * Sends one datagram. The bytes are copied first, so the caller may reuse
   * them. Nothing is thrown: datagrams over {@link MAX_DATAGRAM_BYTES} and
   * failed sends are counted in `sendErrorCount`. Does nothing once closed.
   *
   * @param to The peer's address; a bad one counts as a send error.
   * @param bytes The UDP payload, copied before sending.
   */
  send(to: PeerAddress, bytes: Uint8Array): void {
    if (this.#closed !== undefined) return;
    const port = to.port;
    if (
      bytes.byteLength > MAX_DATAGRAM_BYTES || !Number.isInteger(port) ||
      port < 1 || port > 65535
    ) {
      this.#sendErrorCount++;
      return;
    }
    try {
      this.#conn.send(this.#sending.copy(bytes, 0, bytes.length), {
        transport: "udp",
        hostname: to.host,
        port,
      }).then(this.#onSent, this.#onSendError);
    } catch {
      this.#sendErrorCount++;
      return;
    }
    this.#pendingSends++;
  }

  #settled(): void {
    if (--this.#pendingSends === 0) this.#drained?.();
  }

  /**
   * Sets the handler for incoming datagrams, replacing any earlier one. The
   * handler gets its own copy of the bytes; if it throws, the error is
   * counted in `handlerErrorCount` and the socket keeps receiving.
   *
   * @param handler Called once per datagram.
   */
  receive(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  /**
   * Closes the socket and releases the port; idempotent. From the call on,
   * `send` does nothing and no datagram is delivered. Sends already handed
   * to the socket are waited for (and counted) first.
   *
   * @returns Resolves once the socket is closed; every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#handler = undefined;
      this.#closed = (async () => {
        if (this.#pendingSends > 0) {
          await new Promise<void>((resolve) => this.#drained = resolve);
        }
        try {
          this.#conn.close();
        } catch {
          // Already closed.
        }
        await this.#receiving;
      })();
    }
    return this.#closed;
  }

  /** Datagrams handed to the handler, including those whose handler threw. */
  get receivedCount(): number {
    return this.#receivedCount;
  }

  /** Datagrams the system accepted for sending. */
  get sentCount(): number {
    return this.#sentCount;
  }

  /** Incoming datagrams dropped for being over the size limit or arriving while no handler was set. */
  get droppedCount(): number {
    return this.#droppedCount;
  }

  /** Exceptions thrown by the handler and swallowed. */
  get handlerErrorCount(): number {
    return this.#handlerErrorCount;
  }

  /** Sends that failed: oversized payloads, bad destinations, system errors. */
  get sendErrorCount(): number {
    return this.#sendErrorCount;
  }

  /** Receive errors of the socket (the loop goes on after each). */
  get socketErrorCount(): number {
    return this.#socketErrorCount;
  }

  /**
   * The socket as the kernel sees it, as {@link UdpTransport.kernelStats}
   * tells it: drops (Linux, with read permission for `/proc/net/udp`) and
   * buffer sizes.
   *
   * @returns Drops and buffer sizes.
   */
  kernelStats(): KernelUdpStats {
    return socketKernelStats(
      this.localAddress,
      this.localAddress.host.includes(":"),
      this.#receiveBufferBytes,
      this.#sendBufferBytes,
    );
  }

  async #receiveLoop(): Promise<void> {
    const buffer = this.#buffer;
    while (this.#closed === undefined) {
      let length: number;
      let from: Deno.NetAddr;
      try {
        const [view, address] = await this.#conn.receive(buffer);
        length = view.byteLength;
        from = address as Deno.NetAddr;
      } catch (error) {
        if (
          this.#closed !== undefined ||
          error instanceof Deno.errors.BadResource ||
          error instanceof Deno.errors.Interrupted
        ) return;
        this.#socketErrorCount++;
        continue;
      }
      const handler = this.#handler;
      if (this.#closed !== undefined) return;
      if (handler === undefined || length > this.#maxDatagramBytes) {
        this.#droppedCount++;
        continue;
      }
      this.#receivedCount++;
      try {
        // A copy of its own: the buffer takes the next datagram.
        // A dual-stack socket ("::") sees IPv4 peers as ::ffff:a.b.c.d: they
        // are named by their IPv4 address, as UdpTransport does.
        handler(this.#received.copy(buffer, 0, length), {
          host: from.hostname.startsWith("::ffff:")
            ? unmappedHost(from.hostname)
            : from.hostname,
          port: from.port,
        });
      } catch {
        this.#handlerErrorCount++;
      }
    }
  }
}
