/**
 * The real {@link Transport}: one UDP socket from `node:dgram`, which Deno
 * supports without unstable flags.
 *
 * The socket keeps the kernel's default buffer sizes: Deno's `node:dgram`
 * does not pass `setRecvBufferSize` to the kernel (Deno 2.9 only records
 * the size, and then allocates twice that for every datagram it receives:
 * 8 MiB per datagram for a 4 MiB buffer), and `Deno.listenDatagram` has no
 * such option. A busy node can therefore lose datagrams when its receive
 * buffer fills; `kernelStats()` tells how many (Linux: the `drops` column of
 * `/proc/net/udp` for this socket) and the buffer size the kernel gave it.
 * The remedy is system-wide: raise `net.core.rmem_default`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import dgram from "node:dgram";
import { unmappedHost } from "../dht/origin_shares.ts";
import { readGranted, readNumberFile } from "./_proc_files.ts";
import {
  type DatagramHandler,
  formatAddress,
  MAX_DATAGRAM_BYTES,
  type PeerAddress,
  type Transport,
} from "../transport.ts";

/**
 * Options for {@link UdpTransport.bind}.
 *
 * @example Bind to any free port on loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { UdpTransport, type UdpTransportOptions } from "./udp_transport.ts";
 *
 * const options: UdpTransportOptions = { host: "127.0.0.1", port: 0 };
 * const transport = await UdpTransport.bind(options);
 * assert.ok(transport.localAddress.port > 0);
 * await transport.close();
 * ```
 */
export interface UdpTransportOptions {
  /**
   * Local address to bind: an IPv4 or IPv6 address (IPv6 selects a `udp6` socket).
   *
   * @default {"127.0.0.1"}
   */
  host?: string;
  /**
   * Local port; 0 lets the system pick any free port.
   *
   * @default {0}
   */
  port?: number;
  /**
   * Incoming datagrams longer than this are dropped and counted; lower it to
   * enforce a protocol's own limit.
   *
   * @default {65507}
   */
  maxDatagramBytes?: number;
  /**
   * The receive buffer asked of the kernel, in bytes; only
   * `MmsgTransport` (FFI) can ask (Deno's sockets keep the system
   * default, `net.core.rmem_default`). Linux grants at most
   * `net.core.rmem_max` and reports twice what it grants;
   * `kernelStats().receiveBufferBytes` tells what the socket got.
   *
   * @default {4194304} (`RECEIVE_BUFFER_BYTES`)
   */
  receiveBufferBytes?: number;
}

/**
 * A UDP socket as the kernel sees it; from {@link UdpTransport.kernelStats}.
 * Fields are `undefined` where the system does not tell (not Linux, or no
 * read permission for `/proc`).
 */
export interface KernelUdpStats {
  /**
   * Datagrams the kernel dropped for this socket since it opened, mostly
   * because its receive buffer was full (Linux: the `drops` column of
   * `/proc/net/udp`).
   */
  readonly drops: number | undefined;
  /**
   * The socket's receive buffer in bytes: the kernel default it was created
   * with (Linux: `net.core.rmem_default`), as nothing here can change it.
   */
  readonly receiveBufferBytes: number | undefined;
  /** The socket's send buffer in bytes (Linux: `net.core.wmem_default`). */
  readonly sendBufferBytes: number | undefined;
}

/**
 * The `drops` column of `/proc/net/udp` (or `udp6`) for the socket bound to
 * `port` (and, when several sockets share the port, to IPv4 `host`).
 *
 * @param table The file's text.
 * @param port Our local port.
 * @param host Our local IPv4 address, to tell sockets on one port apart.
 * @returns The drop count, or `undefined` if no single line matches.
 *
 * @example One socket on port 4222 (0x107E) with 3 drops
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProcNetUdpDrops } from "./udp_transport.ts";
 *
 * const table = [
 *   "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
 *   "  12: 0100007F:107E 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 12345 2 0000000000000000 3",
 * ].join("\n");
 * assert.equal(parseProcNetUdpDrops(table, 4222, "127.0.0.1"), 3);
 * assert.equal(parseProcNetUdpDrops(table, 4223, "127.0.0.1"), undefined);
 * ```
 */
export function parseProcNetUdpDrops(
  table: string,
  port: number,
  host: string,
): number | undefined {
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  const rows = table.split("\n").slice(1).map((line) =>
    line.trim().split(/\s+/)
  )
    .filter((fields) =>
      fields.length >= 13 && fields[1].endsWith(`:${portHex}`)
    );
  let row = rows.length === 1 ? rows[0] : undefined;
  if (rows.length > 1) {
    const address = ipv4ToProcHex(host);
    const matching = rows.filter((fields) =>
      fields[1] === `${address}:${portHex}`
    );
    row = matching.length === 1 ? matching[0] : undefined;
  }
  if (row === undefined) return undefined;
  const drops = Number(row[12]);
  return Number.isSafeInteger(drops) && drops >= 0 ? drops : undefined;
}

/** An IPv4 address as `/proc/net/udp` prints it on a little-endian host. */
function ipv4ToProcHex(host: string): string {
  const parts = host.split(".").map(Number);
  if (parts.length !== 4) return "";
  return parts.reverse().map((n) =>
    n.toString(16).toUpperCase().padStart(2, "0")
  )
    .join("");
}

/**
 * A bound socket's {@link KernelUdpStats}: its drops from `/proc/net/udp`
 * or `udp6` (when read permission is granted) and the buffer sizes given.
 *
 * @param address The socket's bound address.
 * @param ipv6 Whether it is an IPv6 socket (its row is in `udp6`).
 * @param receiveBufferBytes The receive buffer size, if known.
 * @param sendBufferBytes The send buffer size, if known.
 * @returns Drops and buffer sizes.
 */
export function socketKernelStats(
  address: PeerAddress,
  ipv6: boolean,
  receiveBufferBytes: number | undefined,
  sendBufferBytes: number | undefined,
): KernelUdpStats {
  const table = readGranted(ipv6 ? "/proc/net/udp6" : "/proc/net/udp");
  return {
    drops: table === undefined
      ? undefined
      : parseProcNetUdpDrops(table, address.port, address.host),
    receiveBufferBytes,
    sendBufferBytes,
  };
}

/**
 * Binding a UDP socket failed; `code` carries the system error code, and
 * `cause` the original error.
 *
 * @example Tell a bind failure from other errors
 * ```ts
 * import assert from "node:assert/strict";
 * import { UdpBindError, UdpTransport } from "./udp_transport.ts";
 *
 * // 192.0.2.1 (TEST-NET-1) is not an address of this host.
 * await assert.rejects(UdpTransport.bind({ host: "192.0.2.1" }), UdpBindError);
 * ```
 */
export class UdpBindError extends Error {
  /** The host that could not be bound. */
  readonly host: string;
  /** The port that could not be bound (0 for any). */
  readonly port: number;
  /** The system error code, such as `"EADDRINUSE"`, if known. */
  readonly code: string | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed, as "Cannot bind UDP socket: …".
   * @param details The address, the system code and the original error.
   *
   * @example Build one by hand
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpBindError } from "./udp_transport.ts";
   *
   * const error = new UdpBindError("Cannot bind UDP socket: test", {
   *   host: "127.0.0.1",
   *   port: 9,
   *   code: "EACCES",
   * });
   * assert.equal(error.code, "EACCES");
   * assert.equal(error.name, "UdpBindError");
   * ```
   */
  constructor(
    message: string,
    details: { host: string; port: number; code?: string; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.name = "UdpBindError";
    this.host = details.host;
    this.port = details.port;
    this.code = details.code;
  }
}

/**
 * Binding failed because another socket holds the address (`EADDRINUSE`).
 *
 * @example Two sockets on one port
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressInUseError, UdpTransport } from "./udp_transport.ts";
 *
 * const first = await UdpTransport.bind();
 * try {
 *   await assert.rejects(
 *     UdpTransport.bind({ port: first.localAddress.port }),
 *     AddressInUseError,
 *   );
 * } finally {
 *   await first.close();
 * }
 * ```
 */
export class AddressInUseError extends UdpBindError {
  /**
   * Creates the error.
   *
   * @param message What failed, as "Cannot bind UDP socket: …".
   * @param details The address and the original error.
   *
   * @example Build one by hand
   * ```ts
   * import assert from "node:assert/strict";
   * import { AddressInUseError } from "./udp_transport.ts";
   *
   * const error = new AddressInUseError("Cannot bind UDP socket: test", {
   *   host: "127.0.0.1",
   *   port: 9,
   * });
   * assert.equal(error.code, "EADDRINUSE");
   * ```
   */
  constructor(
    message: string,
    details: { host: string; port: number; cause?: unknown },
  ) {
    super(message, { ...details, code: "EADDRINUSE" });
    this.name = "AddressInUseError";
  }
}

function toBindError(error: unknown, host: string, port: number): UdpBindError {
  const code = error instanceof Error && "code" in error &&
      typeof error.code === "string"
    ? error.code
    : undefined;
  const address = formatAddress({ host, port });
  if (code === "EADDRINUSE") {
    return new AddressInUseError(
      `Cannot bind UDP socket: address "${address}" is in use`,
      { host, port, cause: error },
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new UdpBindError(
    `Cannot bind UDP socket: binding "${address}" failed with "${reason}"`,
    { host, port, code, cause: error },
  );
}

function checkBindOptions(
  host: string,
  port: number,
  maxDatagramBytes: number,
): void {
  if (typeof host !== "string" || host === "") {
    throw new TypeError(
      `Cannot bind UDP socket: host "${
        String(host)
      }" is not a non-empty string`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot bind UDP socket: port ${port} is not an integer from 0 to 65535`,
    );
  }
  if (
    !Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 1 ||
    maxDatagramBytes > MAX_DATAGRAM_BYTES
  ) {
    throw new RangeError(
      `Cannot bind UDP socket: maxDatagramBytes ${maxDatagramBytes} is not an integer from 1 to ${MAX_DATAGRAM_BYTES}`,
    );
  }
}

function closeQuietly(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      // Already closed, or never got as far as holding a handle.
      resolve();
    }
  });
}

/**
 * A {@link Transport} over one UDP socket. Nothing from the network is
 * thrown at the caller: oversized datagrams, datagrams arriving before a
 * handler is set, handler exceptions and send failures are all counted.
 *
 * @example Two transports on loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { UdpTransport } from "./udp_transport.ts";
 *
 * const alice = await UdpTransport.bind();
 * const bob = await UdpTransport.bind();
 * try {
 *   const received = new Promise<Uint8Array>((resolve) => bob.receive(resolve));
 *   alice.send(bob.localAddress, new TextEncoder().encode("hello"));
 *   assert.equal(new TextDecoder().decode(await received), "hello");
 * } finally {
 *   await alice.close();
 *   await bob.close();
 * }
 * ```
 */
export class UdpTransport implements Transport {
  /** The bound address; the real port when bound with port 0. */
  readonly localAddress: PeerAddress;
  #socket: dgram.Socket;
  #maxDatagramBytes: number;
  #handler: DatagramHandler | undefined;
  #closed: Promise<void> | undefined;
  #receivedCount = 0;
  #sentCount = 0;
  #droppedCount = 0;
  #handlerErrorCount = 0;
  #sendErrorCount = 0;
  #socketErrorCount = 0;
  readonly #receiveBufferBytes: number | undefined;
  readonly #sendBufferBytes: number | undefined;

  private constructor(socket: dgram.Socket, maxDatagramBytes: number) {
    this.#socket = socket;
    this.#maxDatagramBytes = maxDatagramBytes;
    // The defaults in force when the socket was made are its sizes: nothing
    // sets SO_RCVBUF or SO_SNDBUF on it.
    this.#receiveBufferBytes = readNumberFile(
      "/proc/sys/net/core/rmem_default",
    );
    this.#sendBufferBytes = readNumberFile("/proc/sys/net/core/wmem_default");
    const bound = socket.address();
    this.localAddress = { host: bound.address, port: bound.port };
    socket.on("message", (message, remote) => this.#onMessage(message, remote));
    // Without a listener, an asynchronous socket error would be thrown out of the event loop.
    socket.on("error", () => this.#socketErrorCount++);
  }

  /**
   * Opens a UDP socket bound to `host` and `port`.
   *
   * @param options Where to bind and the incoming size limit.
   * @returns The bound transport.
   * @throws {AddressInUseError} If another socket holds the address.
   * @throws {UdpBindError} If binding fails for another reason.
   * @throws {TypeError} If the host is empty.
   * @throws {RangeError} If the port or `maxDatagramBytes` is out of range.
   *
   * @example Bind to a system-chosen port
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind({ host: "127.0.0.1" });
   * assert.equal(transport.localAddress.host, "127.0.0.1");
   * await transport.close();
   * ```
   */
  static async bind(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? 0;
    const maxDatagramBytes = options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES;
    checkBindOptions(host, port, maxDatagramBytes);
    const socket = dgram.createSocket({
      type: host.includes(":") ? "udp6" : "udp4",
      reuseAddr: false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.once("listening", () => {
          socket.off("error", reject);
          resolve();
        });
        socket.bind(port, host);
      });
    } catch (error) {
      await closeQuietly(socket);
      throw toBindError(error, host, port);
    }
    // No setRecvBufferSize: see the module doc.
    return new UdpTransport(socket, maxDatagramBytes);
  }

  /**
   * Sends one datagram. The bytes are copied first, so the caller may reuse
   * them. Nothing is thrown: datagrams over {@link MAX_DATAGRAM_BYTES} and
   * failed sends are counted in `sendErrorCount`. Does nothing once closed.
   *
   * @param to The peer's address; a bad one counts as a send error.
   * @param bytes The UDP payload, copied before sending.
   *
   * @example A send to an invalid port is counted, not thrown
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * transport.send({ host: "127.0.0.1", port: 70_000 }, new Uint8Array(1));
   * assert.equal(transport.sendErrorCount, 1);
   * await transport.close();
   * ```
   */
  send(to: PeerAddress, bytes: Uint8Array): void {
    if (this.#closed !== undefined) return;
    if (bytes.byteLength > MAX_DATAGRAM_BYTES) {
      this.#sendErrorCount++;
      return;
    }
    try {
      this.#socket.send(Buffer.from(bytes), to.port, to.host, (error) => {
        if (error) this.#sendErrorCount++;
        else this.#sentCount++;
      });
    } catch {
      this.#sendErrorCount++;
    }
  }

  /**
   * Sets the handler for incoming datagrams, replacing any earlier one. The
   * handler gets its own copy of the bytes; if it throws, the error is
   * counted in `handlerErrorCount` and the socket keeps receiving.
   *
   * @param handler Called once per datagram.
   *
   * @example Replace the handler
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * transport.receive(() => {});
   * transport.receive(() => {});
   * assert.equal(transport.receivedCount, 0);
   * await transport.close();
   * ```
   */
  receive(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  /**
   * Closes the socket and releases the port; idempotent. From the call on,
   * `send` does nothing and no datagram is delivered.
   *
   * @returns Resolves once the socket is closed; every call returns the same promise.
   *
   * @example Close twice
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * const first = transport.close();
   * assert.equal(transport.close(), first);
   * await first;
   * ```
   */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#handler = undefined;
      this.#closed = closeQuietly(this.#socket);
    }
    return this.#closed;
  }

  /**
   * Datagrams handed to the handler, including those whose handler threw.
   *
   * @returns The count.
   *
   * @example Starts at zero
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * assert.equal(transport.receivedCount, 0);
   * await transport.close();
   * ```
   */
  get receivedCount(): number {
    return this.#receivedCount;
  }

  /**
   * Datagrams the system accepted for sending.
   *
   * @returns The count.
   *
   * @example Starts at zero
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * assert.equal(transport.sentCount, 0);
   * await transport.close();
   * ```
   */
  get sentCount(): number {
    return this.#sentCount;
  }

  /**
   * Incoming datagrams dropped for being over the size limit or arriving
   * while no handler was set.
   *
   * @returns The count.
   *
   * @example Starts at zero
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * assert.equal(transport.droppedCount, 0);
   * await transport.close();
   * ```
   */
  get droppedCount(): number {
    return this.#droppedCount;
  }

  /**
   * Exceptions thrown by the handler and swallowed.
   *
   * @returns The count.
   *
   * @example Starts at zero
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * assert.equal(transport.handlerErrorCount, 0);
   * await transport.close();
   * ```
   */
  get handlerErrorCount(): number {
    return this.#handlerErrorCount;
  }

  /**
   * Sends that failed: oversized payloads, bad destinations, system errors.
   *
   * @returns The count.
   *
   * @example An oversized payload is counted
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   * import { MAX_DATAGRAM_BYTES } from "../transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * transport.send(transport.localAddress, new Uint8Array(MAX_DATAGRAM_BYTES + 1));
   * assert.equal(transport.sendErrorCount, 1);
   * await transport.close();
   * ```
   */
  get sendErrorCount(): number {
    return this.#sendErrorCount;
  }

  /**
   * Asynchronous socket errors reported outside any send, such as receive failures.
   *
   * @returns The count.
   *
   * @example Starts at zero
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * assert.equal(transport.socketErrorCount, 0);
   * await transport.close();
   * ```
   */
  get socketErrorCount(): number {
    return this.#socketErrorCount;
  }

  /**
   * The socket as the kernel sees it: datagrams the kernel dropped for it
   * and its buffer sizes (Linux). Reads `/proc/net/udp` (or `udp6`) on each
   * call; without read permission for it (never asked for), `drops` is
   * `undefined`.
   *
   * @returns Drops and buffer sizes.
   *
   * @example Drops start at zero on Linux
   * ```ts
   * import assert from "node:assert/strict";
   * import { UdpTransport } from "./udp_transport.ts";
   *
   * const transport = await UdpTransport.bind();
   * const stats = transport.kernelStats();
   * if (Deno.build.os === "linux") assert.equal(stats.drops, 0);
   * await transport.close();
   * ```
   */
  kernelStats(): KernelUdpStats {
    return socketKernelStats(
      this.localAddress,
      this.localAddress.host.includes(":"),
      this.#receiveBufferBytes,
      this.#sendBufferBytes,
    );
  }

  #onMessage(message: Uint8Array, remote: dgram.RemoteInfo): void {
    const handler = this.#handler;
    if (this.#closed !== undefined) return;
    if (handler === undefined || message.byteLength > this.#maxDatagramBytes) {
      this.#droppedCount++;
      return;
    }
    this.#receivedCount++;
    try {
      // A copy, so the handler may keep the bytes whatever the socket does with its buffers.
      // A dual-stack socket ("::") sees IPv4 peers as ::ffff:a.b.c.d: they
      // are named by their IPv4 address, as a v4 socket would (node lists,
      // reply matching and per-origin limits all expect that).
      handler(new Uint8Array(message), {
        host: unmappedHost(remote.address),
        port: remote.port,
      });
    } catch {
      this.#handlerErrorCount++;
    }
  }
}
