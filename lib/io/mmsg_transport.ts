/**
 * A {@link Transport} that reads and writes its UDP socket in batches
 * through libc by FFI (`Deno.dlopen`, needs `--allow-ffi`; Linux on a
 * 64-bit CPU; and `Deno.listenDatagram`, unstable net): datagrams are read
 * many at a time with `recvmmsg` and the replies they cause are sent
 * together with one `sendmmsg`, instead of one async operation per datagram
 * each way. Same contract and counters as {@link UdpTransport}.
 *
 * Why: under load, `Deno.listenDatagram` alone costs one promise, one op
 * and one system call per datagram received and per datagram sent; in
 * `deno task bench:dht` that floor was most of our node's CPU time per
 * request (`docs/figures.md`, "The UDP node's I/O floor").
 *
 * How: the socket is a `Deno.DatagramConn`, so Deno's event loop watches
 * it; its file descriptor is found once (the one socket whose
 * `getsockname` is the bound address). One `receive()` waits for the
 * first datagram of a burst; then `recvmmsg(MSG_DONTWAIT)` takes the ones
 * queued behind it, {@link RECEIVE_BATCH} at a time (at most
 * {@link MAX_BATCHES_PER_TURN} batches before the event loop gets a turn),
 * each is handed to the handler, and what the handlers sent in answer to
 * a batch goes out in one `sendmmsg` before the next batch is read. Sends made outside a burst (timers) are sent together at
 * the end of the current microtask checkpoint. Reading behind Deno's back
 * is safe: Deno (tokio) tries the socket before waiting and waits again
 * when it finds it empty.
 *
 * Hostnames are not resolved: a send to anything but an IPv4 or IPv6
 * address is counted as a send error (the node resolves its bootstrap
 * names before it starts).
 *
 * {@link bindUdpTransport} (`datagram_transport.ts`) binds this transport
 * when batched I/O is asked for (`batched: true`) and it can run
 * ({@link MmsgTransport.available}).
 *
 * @example Two transports on loopback (run with --allow-ffi)
 * ```ts
 * import assert from "node:assert/strict";
 * import { MmsgTransport } from "./mmsg_transport.ts";
 *
 * if (MmsgTransport.available("127.0.0.1")) {
 *   const alice = await MmsgTransport.bind({ host: "127.0.0.1" });
 *   const bob = await MmsgTransport.bind({ host: "127.0.0.1" });
 *   try {
 *     const received = new Promise<Uint8Array>((resolve) => bob.receive(resolve));
 *     alice.send(bob.localAddress, new TextEncoder().encode("hello"));
 *     assert.equal(new TextDecoder().decode(await received), "hello");
 *   } finally {
 *     await alice.close();
 *     await bob.close();
 *   }
 * }
 * ```
 *
 * @module
 */
import {
  type DatagramHandler,
  formatAddress,
  MAX_DATAGRAM_BYTES,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import {
  type KernelUdpStats,
  socketKernelStats,
  UdpBindError,
  type UdpTransportOptions,
} from "./udp_transport.ts";
import { SlabCopier } from "./_slab_copier.ts";
import { readNumberFile } from "./_proc_files.ts";
import { checkBindOptions, listenUdp } from "./_bind_options.ts";
import {
  addressOf,
  descriptorOf,
  EAGAIN,
  EINTR,
  errnoReader,
  IOVEC_BYTES,
  kernelBytes,
  type Libc,
  loadLibc,
  MMSGHDR_BYTES,
  MSG_DONTWAIT,
  MSG_FLAGS_WORD,
  MSG_IOV_WORD,
  MSG_IOVLEN_WORD,
  MSG_LEN_WORD,
  MSG_NAME_WORD,
  MSG_NAMELEN_WORD,
  MSG_TRUNC,
  setReceiveBuffer,
  setWord64,
} from "./_libc_socket.ts";
import { unmappedHost } from "../dht/origin_shares.ts";
import {
  AF_INET,
  parseIpv4,
  parseIpv6,
  readSockaddr,
  SOCKADDR_BYTES,
  writeSockaddr,
} from "./_sockaddr.ts";

/** Datagrams read by one `recvmmsg`. */
export const RECEIVE_BATCH = 32;
/**
 * Batches read before the loop gives the event loop a turn (its next
 * `receive()` returns at once while datagrams wait): 8 × 32 datagrams.
 */
export const MAX_BATCHES_PER_TURN = 8;
/**
 * The receive buffer asked of the kernel (`SO_RCVBUF`), in bytes: a node
 * reads its socket from the one JavaScript thread, and while that thread is
 * busy (a garbage collection, a burst of work) datagrams wait in this
 * buffer; the system default (208 KiB on most Linux systems, about 200
 * small datagrams) overflows in 10 ms at 20,000 requests a second. Linux
 * grants at most `net.core.rmem_max` (208 KiB unless an administrator
 * raised it).
 */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
/** The largest receive buffer one may ask for: the kernel's `int`, halved. */
const MAX_RECEIVE_BUFFER_BYTES = 0x3fff_ffff;
/** Datagrams sent by one `sendmmsg`; a fuller queue is sent at once. */
const SEND_BATCH = 64;
/** Bytes queued for one `sendmmsg`: room for four of the largest datagrams. */
const SEND_BUFFER_BYTES = 4 * 65_536;
/** Destination hosts whose socket address is kept; the cache is emptied when full. */
const MAX_CACHED_DESTINATIONS = 4_096;
/** Source addresses whose text is kept; the cache is emptied when full. */
const MAX_CACHED_SOURCES = 4_096;

/**
 * A {@link Transport} over one UDP socket read with `recvmmsg` and written
 * with `sendmmsg`. As with {@link UdpTransport}, nothing from the network is
 * thrown at the caller: oversized or truncated datagrams, datagrams
 * arriving before a handler is set, handler exceptions, receive errors and
 * send failures are all counted.
 *
 * @example A send to an invalid port is counted, not thrown (--allow-ffi)
 * ```ts
 * import assert from "node:assert/strict";
 * import { MmsgTransport } from "./mmsg_transport.ts";
 *
 * if (MmsgTransport.available("127.0.0.1")) {
 *   const transport = await MmsgTransport.bind();
 *   transport.send({ host: "127.0.0.1", port: 70_000 }, new Uint8Array(1));
 *   transport.send({ host: "localhost", port: 9 }, new Uint8Array(1));
 *   await transport.close();
 *   assert.equal(transport.sendErrorCount, 2);
 * }
 * ```
 */
export class MmsgTransport implements Transport {
  /** The bound address; the real port when bound with port 0. */
  readonly localAddress: PeerAddress;
  readonly #libc: Libc;
  /** The socket as Deno sees it: its `receive()` waits for each burst. */
  readonly #conn: Deno.DatagramConn;
  /** The same socket's file descriptor, for `recvmmsg` and `sendmmsg`. */
  readonly #fd: number;
  /** Where `receive()` puts the first datagram of a burst. */
  readonly #firstBuffer = new Uint8Array(65_536);
  readonly #ipv6: boolean;
  readonly #maxDatagramBytes: number;
  readonly #receiving: Promise<void>;
  readonly #copier = new SlabCopier();
  /** This thread's `errno`, read after a failed `recvmmsg`. */
  readonly #errno: () => number;
  // The receive side: RECEIVE_BATCH headers, each with its iovec, its slot
  // of the data buffer and its socket address. The kernel writes into all
  // of them, so they live as long as the transport.
  readonly #receiveHeaders = kernelBytes(RECEIVE_BATCH * MMSGHDR_BYTES);
  readonly #receiveWords = new Uint32Array(this.#receiveHeaders.buffer);
  readonly #receiveIovecs = kernelBytes(RECEIVE_BATCH * IOVEC_BYTES);
  readonly #receiveNames = kernelBytes(RECEIVE_BATCH * SOCKADDR_BYTES);
  readonly #receiveData: Uint8Array;
  readonly #slotBytes: number;
  // The send side: the queue of datagrams for the next `sendmmsg`.
  readonly #sendHeaders = kernelBytes(SEND_BATCH * MMSGHDR_BYTES);
  readonly #sendWords = new Uint32Array(this.#sendHeaders.buffer);
  readonly #sendIovecs = kernelBytes(SEND_BATCH * IOVEC_BYTES);
  readonly #sendIovecWords = new Uint32Array(this.#sendIovecs.buffer);
  readonly #sendNames = kernelBytes(SEND_BATCH * SOCKADDR_BYTES);
  readonly #sendData = kernelBytes(SEND_BUFFER_BYTES);
  readonly #sendDataAddress: number;
  #queued = 0;
  #queuedBytes = 0;
  #flushScheduled = false;
  readonly #flushLater = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };
  /** Socket addresses (port left 0) of the hosts sent to, by host text. */
  readonly #destinations = new Map<string, Uint8Array>();
  /** Host text of IPv4 sources, by address as a 32-bit number. */
  readonly #sources = new Map<number, string>();
  #handler: DatagramHandler | undefined;
  #closed: Promise<void> | undefined;
  #receivedCount = 0;
  #sentCount = 0;
  #droppedCount = 0;
  #handlerErrorCount = 0;
  #sendErrorCount = 0;
  #socketErrorCount = 0;
  readonly #receiveBufferBytes: number | undefined;
  readonly #sendBufferBytes = readNumberFile("/proc/sys/net/core/wmem_default");

  private constructor(
    c: Libc,
    socket: { conn: Deno.DatagramConn; fd: number },
    maxDatagramBytes: number,
    receiveBufferBytes: number,
  ) {
    this.#libc = c;
    this.#receiveBufferBytes = setReceiveBuffer(
      c,
      socket.fd,
      receiveBufferBytes,
    );
    this.#errno = errnoReader(c);
    this.#conn = socket.conn;
    this.#fd = socket.fd;
    const bound = socket.conn.addr as Deno.NetAddr;
    const localAddress = { host: bound.hostname, port: bound.port };
    this.localAddress = localAddress;
    this.#ipv6 = localAddress.host.includes(":");
    this.#maxDatagramBytes = maxDatagramBytes;
    // A truncated datagram is flagged MSG_TRUNC: a slot of the limit's size
    // tells every oversized datagram.
    this.#slotBytes = maxDatagramBytes;
    this.#receiveData = kernelBytes(RECEIVE_BATCH * maxDatagramBytes);
    this.#sendDataAddress = addressOf(this.#sendData);
    this.#linkHeaders();
    this.#receiving = this.#receiveLoop();
  }

  /** Points every header at its iovec and name, and every receive iovec at its slot. */
  #linkHeaders(): void {
    const receiveIovecs = new Uint32Array(this.#receiveIovecs.buffer);
    const receiveIovecsAt = addressOf(this.#receiveIovecs);
    const receiveNamesAt = addressOf(this.#receiveNames);
    const receiveDataAt = addressOf(this.#receiveData);
    const sendIovecsAt = addressOf(this.#sendIovecs);
    const sendNamesAt = addressOf(this.#sendNames);
    for (let i = 0; i < RECEIVE_BATCH; i++) {
      const word = i * (MMSGHDR_BYTES / 4);
      setWord64(
        this.#receiveWords,
        word + MSG_NAME_WORD,
        receiveNamesAt + i * SOCKADDR_BYTES,
      );
      this.#receiveWords[word + MSG_NAMELEN_WORD] = SOCKADDR_BYTES;
      setWord64(
        this.#receiveWords,
        word + MSG_IOV_WORD,
        receiveIovecsAt + i * IOVEC_BYTES,
      );
      setWord64(this.#receiveWords, word + MSG_IOVLEN_WORD, 1);
      setWord64(receiveIovecs, i * 4, receiveDataAt + i * this.#slotBytes);
      setWord64(receiveIovecs, i * 4 + 2, this.#slotBytes);
    }
    for (let i = 0; i < SEND_BATCH; i++) {
      const word = i * (MMSGHDR_BYTES / 4);
      setWord64(
        this.#sendWords,
        word + MSG_NAME_WORD,
        sendNamesAt + i * SOCKADDR_BYTES,
      );
      setWord64(
        this.#sendWords,
        word + MSG_IOV_WORD,
        sendIovecsAt + i * IOVEC_BYTES,
      );
      setWord64(this.#sendWords, word + MSG_IOVLEN_WORD, 1);
    }
  }

  /**
   * Whether this transport can run here for `host`: Linux on x86_64 or
   * aarch64, FFI permission granted, libc loadable, and `host` an IPv4 or
   * IPv6 address (not a name).
   *
   * @param host The host to bind.
   * @returns `true` if {@link MmsgTransport.bind} can be tried.
   */
  static available(host: string): boolean {
    return loadLibc() !== null &&
      (parseIpv4(host) !== undefined || parseIpv6(host) !== undefined);
  }

  /**
   * Opens a UDP socket bound to `host` (an IPv4 or IPv6 address; "::" is
   * dual-stack) and `port`.
   *
   * @param options Where to bind, the incoming size limit and the receive
   *   buffer to ask for.
   * @returns The bound transport.
   * @throws {AddressInUseError} If another socket holds the address.
   * @throws {UdpBindError} If binding fails for another reason, the host is
   * not an IP address, or this runtime cannot run the transport (no FFI
   * permission, not Linux).
   * @throws {TypeError} If the host is empty.
   * @throws {RangeError} If the port, `maxDatagramBytes` or
   *   `receiveBufferBytes` is out of range.
   *
   * @example Two sockets on one port (--allow-ffi)
   * ```ts
   * import assert from "node:assert/strict";
   * import { MmsgTransport } from "./mmsg_transport.ts";
   * import { AddressInUseError } from "./udp_transport.ts";
   *
   * if (MmsgTransport.available("127.0.0.1")) {
   *   const first = await MmsgTransport.bind();
   *   try {
   *     await assert.rejects(
   *       MmsgTransport.bind({ port: first.localAddress.port }),
   *       AddressInUseError,
   *     );
   *   } finally {
   *     await first.close();
   *   }
   * }
   * ```
   */
  // deno-lint-ignore require-await
  static async bind(
    options: UdpTransportOptions = {},
  ): Promise<MmsgTransport> {
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? 0;
    const maxDatagramBytes = options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES;
    checkBindOptions(host, port, maxDatagramBytes);
    const receiveBufferBytes = options.receiveBufferBytes ??
      RECEIVE_BUFFER_BYTES;
    if (
      !Number.isInteger(receiveBufferBytes) || receiveBufferBytes < 1 ||
      receiveBufferBytes > MAX_RECEIVE_BUFFER_BYTES
    ) {
      throw new RangeError(
        `Cannot bind UDP socket: receiveBufferBytes ${receiveBufferBytes} is not an integer from 1 to ${MAX_RECEIVE_BUFFER_BYTES}`,
      );
    }
    const c = loadLibc();
    if (c === null || !MmsgTransport.available(host)) {
      throw new UdpBindError(
        `Cannot bind UDP socket: binding "${
          formatAddress({ host, port })
        }" needs FFI on Linux, Deno.listenDatagram and an IP address`,
        { host, port },
      );
    }
    const conn = listenUdp(host, port);
    const fd = descriptorOf(c, conn.addr as Deno.NetAddr);
    if (fd < 0) {
      conn.close();
      throw new UdpBindError(
        `Cannot bind UDP socket: the descriptor of "${
          formatAddress({ host, port })
        }" was not found`,
        { host, port },
      );
    }
    return new MmsgTransport(
      c,
      { conn, fd },
      maxDatagramBytes,
      receiveBufferBytes,
    );
  }

  /**
   * Queues one datagram; it is sent with the others queued in this turn of
   * the event loop. The bytes are copied at once, so the caller may reuse
   * them. Nothing is thrown: oversized datagrams, bad ports, host names and
   * failed sends are counted in `sendErrorCount`. Does nothing once closed.
   *
   * @param to The peer's address (an IPv4 or IPv6 address).
   * @param bytes The UDP payload, copied before this returns.
   */
  send(to: PeerAddress, bytes: Uint8Array): void {
    if (this.#closed !== undefined) return;
    const port = to.port;
    const length = bytes.byteLength;
    if (
      length > MAX_DATAGRAM_BYTES || !Number.isInteger(port) || port < 1 ||
      port > 65535
    ) {
      this.#sendErrorCount++;
      return;
    }
    const name = this.#destination(to.host);
    if (name === undefined) {
      this.#sendErrorCount++;
      return;
    }
    if (
      this.#queued === SEND_BATCH ||
      this.#queuedBytes + length > SEND_BUFFER_BYTES
    ) this.#flush();
    const slot = this.#queued++;
    const nameAt = slot * SOCKADDR_BYTES;
    this.#sendNames.set(name, nameAt);
    this.#sendNames[nameAt + 2] = port >> 8;
    this.#sendNames[nameAt + 3] = port & 0xff;
    this.#sendWords[slot * (MMSGHDR_BYTES / 4) + MSG_NAMELEN_WORD] =
      name.length;
    setWord64(
      this.#sendIovecWords,
      slot * 4,
      this.#sendDataAddress + this.#queuedBytes,
    );
    this.#sendIovecWords[slot * 4 + 2] = length;
    this.#sendData.set(bytes, this.#queuedBytes);
    this.#queuedBytes += length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushLater);
    }
  }

  /** The socket address (port 0) for `host`, or `undefined` if it cannot be sent to. */
  #destination(host: string): Uint8Array | undefined {
    const cached = this.#destinations.get(host);
    if (cached !== undefined) return cached;
    const name = new Uint8Array(SOCKADDR_BYTES);
    const length = writeSockaddr(name, 0, host, 0, this.#ipv6);
    if (length === 0) return undefined;
    if (this.#destinations.size >= MAX_CACHED_DESTINATIONS) {
      this.#destinations.clear();
    }
    const exact = name.subarray(0, length);
    this.#destinations.set(host, exact);
    return exact;
  }

  /** Sends every queued datagram; one that the kernel refuses is counted and skipped. */
  #flush(): void {
    const count = this.#queued;
    if (count === 0) return;
    let next = 0;
    while (next < count) {
      const sent = this.#libc.sendmmsg(
        this.#fd,
        next === 0
          ? this.#sendHeaders
          : this.#sendHeaders.subarray(next * MMSGHDR_BYTES),
        count - next,
        0,
      );
      if (sent > 0) {
        this.#sentCount += sent;
        next += sent;
      } else {
        // The datagram at `next` failed (a full buffer, an unreachable
        // network, ...): UDP loss, counted; the rest are tried.
        this.#sendErrorCount++;
        next++;
      }
    }
    this.#queued = 0;
    this.#queuedBytes = 0;
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
   * Closes the socket and releases the port; idempotent. Datagrams already
   * queued are sent (and counted) first; from the call on, `send` does
   * nothing and no datagram is delivered.
   *
   * @returns Resolves once the socket is closed; every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#handler = undefined;
      this.#flush();
      // The descriptor is Deno's: once closed, its number may be reused,
      // so nothing here touches it after this line.
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
      this.#closed = this.#receiving;
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
   * tells it: drops (with read permission for `/proc/net/udp`) and buffer
   * sizes.
   *
   * @returns Drops and buffer sizes.
   */
  kernelStats(): KernelUdpStats {
    return socketKernelStats(
      this.localAddress,
      this.#ipv6,
      this.#receiveBufferBytes,
      this.#sendBufferBytes,
    );
  }

  async #receiveLoop(): Promise<void> {
    const first = this.#firstBuffer;
    while (this.#closed === undefined) {
      let length: number;
      let from: Deno.NetAddr;
      try {
        const [view, address] = await this.#conn.receive(first);
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
      if (this.#closed !== undefined) return;
      // A dual-stack socket ("::") sees IPv4 peers as ::ffff:a.b.c.d: they
      // are named by their IPv4 address, as everywhere else.
      this.#deliver(first, 0, length, {
        host: from.hostname.startsWith("::ffff:")
          ? unmappedHost(from.hostname)
          : from.hostname,
        port: from.port,
      });
      // The rest of the burst, without waiting; the replies of each batch
      // go out in one system call before the next batch is read, so that
      // no answer waits for more than a batch of requests.
      for (let batch = 0; batch < MAX_BATCHES_PER_TURN; batch++) {
        const count = this.#receiveBatch();
        this.#flush();
        if (count < RECEIVE_BATCH) break;
      }
    }
  }

  /** Hands `bytes[start, start + length)` to the handler, or drops it. */
  #deliver(
    bytes: Uint8Array,
    start: number,
    length: number,
    from: PeerAddress | undefined,
  ): void {
    const handler = this.#handler;
    if (
      handler === undefined || length > this.#maxDatagramBytes ||
      from === undefined
    ) {
      this.#droppedCount++;
      return;
    }
    this.#receivedCount++;
    try {
      handler(this.#copier.copy(bytes, start, start + length), from);
    } catch {
      this.#handlerErrorCount++;
    }
  }

  /** Reads one batch and hands it out; returns how many datagrams came. */
  #receiveBatch(): number {
    if (this.#closed !== undefined) return 0;
    const words = this.#receiveWords;
    const count = this.#libc.recvmmsg(
      this.#fd,
      this.#receiveHeaders,
      RECEIVE_BATCH,
      MSG_DONTWAIT,
      null,
    );
    if (count <= 0) {
      if (count < 0) {
        const code = this.#errno();
        if (code !== EAGAIN && code !== EINTR) this.#socketErrorCount++;
      }
      return 0;
    }
    for (let i = 0; i < count; i++) {
      const word = i * (MMSGHDR_BYTES / 4);
      const length = words[word + MSG_LEN_WORD];
      const truncated = (words[word + MSG_FLAGS_WORD] & MSG_TRUNC) !== 0;
      // The kernel wrote the name's length; the next call needs the room back.
      words[word + MSG_NAMELEN_WORD] = SOCKADDR_BYTES;
      if (this.#closed !== undefined) return count;
      if (truncated) {
        this.#droppedCount++;
        continue;
      }
      this.#deliver(
        this.#receiveData,
        i * this.#slotBytes,
        length,
        this.#source(i * SOCKADDR_BYTES),
      );
    }
    return count;
  }

  /** The sender of the datagram whose name is at `at`. */
  #source(at: number): PeerAddress | undefined {
    const names = this.#receiveNames;
    const family = names[at] | (names[at + 1] << 8);
    if (family !== AF_INET) return readSockaddr(names, at);
    // IPv4: the text of each address is made once.
    const key = ((names[at + 4] << 24) | (names[at + 5] << 16) |
      (names[at + 6] << 8) | names[at + 7]) >>> 0;
    let host = this.#sources.get(key);
    if (host === undefined) {
      host = readSockaddr(names, at)!.host;
      if (this.#sources.size >= MAX_CACHED_SOURCES) this.#sources.clear();
      this.#sources.set(key, host);
    }
    return { host, port: (names[at + 2] << 8) | names[at + 3] };
  }
}
