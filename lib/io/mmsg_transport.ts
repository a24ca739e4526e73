/**
 * A {@link Transport} over a UDP socket driven through libc by FFI
 * (`Deno.dlopen`, needs `--allow-ffi`; Linux on a 64-bit CPU): datagrams
 * are read many at a time with `recvmmsg` and the replies they cause are
 * sent together with one `sendmmsg`, instead of one async operation per
 * datagram each way. Same contract and counters as {@link UdpTransport}.
 *
 * Why: under load, `Deno.listenDatagram` costs one promise, one op and one
 * system call per datagram received and per datagram sent; in
 * `deno task bench:dht` that floor was most of our node's CPU time per
 * request (`docs/figures.md`, "The UDP node's I/O floor"). Here a busy
 * socket costs two system calls per batch of up to {@link RECEIVE_BATCH}
 * datagrams, and waiting for an idle socket to become readable costs one
 * `poll` on a thread of Deno's blocking pool (a nonblocking FFI call).
 *
 * How the loop runs: read with `recvmmsg(MSG_DONTWAIT)` until the socket
 * is empty (at most {@link MAX_BATCHES_PER_TURN} batches, so timers and
 * other I/O get their turn), hand each datagram to the handler, send what
 * the handlers queued, then wait in `poll` for the socket or for `close()`
 * (an `eventfd` wakes it). Sends made outside a batch (timers) are sent
 * together at the end of the current microtask checkpoint.
 *
 * Hostnames are not resolved: a send to anything but an IPv4 or IPv6
 * address is counted as a send error (the node resolves its bootstrap
 * names before it starts).
 *
 * {@link bindUdpTransport} (`datagram_transport.ts`) picks this transport
 * where it can run ({@link MmsgTransport.available}), so callers need not
 * care.
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
  AddressInUseError,
  type KernelUdpStats,
  parseProcNetUdpDrops,
  UdpBindError,
  type UdpTransportOptions,
} from "./udp_transport.ts";
import { SlabCopier } from "./_slab_copier.ts";
import { readGranted, readNumberFile } from "./_proc_files.ts";
import { checkBindOptions } from "./_bind_options.ts";
import {
  AF_INET,
  AF_INET6,
  parseIpv4,
  parseIpv6,
  readSockaddr,
  SOCKADDR_BYTES,
  writeSockaddr,
} from "./_sockaddr.ts";

/** Datagrams read by one `recvmmsg`. */
export const RECEIVE_BATCH = 32;
/**
 * Batches read before the loop yields to the event loop (through `poll`,
 * which returns at once while datagrams wait): 8 × 32 datagrams.
 */
export const MAX_BATCHES_PER_TURN = 8;
/** Datagrams sent by one `sendmmsg`; a fuller queue is sent at once. */
const SEND_BATCH = 64;
/** Bytes queued for one `sendmmsg`: room for four of the largest datagrams. */
const SEND_BUFFER_BYTES = 4 * 65_536;
/**
 * How long one `poll` waits before the loop looks again: 1 s. `close()`
 * wakes it at once through the eventfd; this only bounds the wait if that
 * write ever failed.
 */
const POLL_TIMEOUT_MS = 1_000;
/** Destination hosts whose socket address is kept; the cache is emptied when full. */
const MAX_CACHED_DESTINATIONS = 4_096;
/** Source addresses whose text is kept; the cache is emptied when full. */
const MAX_CACHED_SOURCES = 4_096;

// Linux constants (x86_64 and aarch64 share them).
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const POLLIN = 1;
const EINTR = 4;
const EAGAIN = 11;
const EADDRINUSE = 98;
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  13: "EACCES",
  22: "EINVAL",
  24: "EMFILE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
};
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
/** `sizeof(struct mmsghdr)` on 64-bit Linux: a 56-byte `msghdr` and `msg_len`, padded. */
const MMSGHDR_BYTES = 64;
/** `sizeof(struct iovec)` on 64-bit Linux. */
const IOVEC_BYTES = 16;
// Offsets in a 64-bit Linux `struct mmsghdr`, in 32-bit words.
const MSG_NAME_WORD = 0;
const MSG_NAMELEN_WORD = 2;
const MSG_IOV_WORD = 4;
const MSG_IOVLEN_WORD = 6;
const MSG_FLAGS_WORD = 12;
const MSG_LEN_WORD = 14;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  recvmmsg: {
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
  },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  // On a thread of Deno's blocking pool: the event loop goes on meanwhile.
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** libc once loaded; `null` once it could not be. */
let libc: Libc | null | undefined;

/** Loads libc (glibc, then musl), or `null` where there is no FFI or no Linux. */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const deno = Deno as { dlopen?: typeof Deno.dlopen };
  if (
    Deno.build.os !== "linux" ||
    (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") ||
    typeof deno.dlopen !== "function"
  ) return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return libc;
    }
  } catch {
    return libc;
  }
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      libc = deno.dlopen(name, SYMBOLS).symbols;
      return libc;
    } catch {
      // Try the next name.
    }
  }
  return libc;
}

/**
 * Memory the kernel reads or writes through pointers: made from an
 * `ArrayBuffer` of its own, which V8 keeps off its heap and never moves
 * (a small typed array made directly may live on the heap and move).
 */
function kernelBytes(length: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(length));
}

/** The address of a buffer's first byte, as a number (user space fits in 53 bits). */
function addressOf(buffer: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** Writes a 64-bit pointer or length as two little-endian 32-bit words. */
function setWord64(words: Uint32Array, index: number, value: number): void {
  words[index] = value % 0x1_0000_0000;
  words[index + 1] = Math.floor(value / 0x1_0000_0000);
}

/** The calling thread's `errno`. */
function errno(c: Libc): number {
  const at = c.__errno_location();
  return at === null ? 0 : new Deno.UnsafePointerView(at).getInt32(0);
}

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
  readonly #fd: number;
  /** Written by `close()` to wake the `poll` of the receive loop. */
  readonly #wakeFd: number;
  readonly #ipv6: boolean;
  readonly #maxDatagramBytes: number;
  readonly #receiving: Promise<void>;
  readonly #copier = new SlabCopier();
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
  readonly #pollFds = kernelBytes(16);
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

  private constructor(
    c: Libc,
    fds: { fd: number; wakeFd: number },
    localAddress: PeerAddress,
    maxDatagramBytes: number,
  ) {
    this.#libc = c;
    this.#fd = fds.fd;
    this.#wakeFd = fds.wakeFd;
    this.localAddress = localAddress;
    this.#ipv6 = localAddress.host.includes(":");
    this.#maxDatagramBytes = maxDatagramBytes;
    // A truncated datagram is flagged MSG_TRUNC: a slot of the limit's size
    // tells every oversized datagram.
    this.#slotBytes = maxDatagramBytes;
    this.#receiveData = kernelBytes(RECEIVE_BATCH * maxDatagramBytes);
    this.#sendDataAddress = addressOf(this.#sendData);
    this.#linkHeaders();
    const pollWords = new Int32Array(this.#pollFds.buffer);
    pollWords[0] = this.#fd;
    pollWords[1] = POLLIN;
    pollWords[2] = this.#wakeFd;
    pollWords[3] = POLLIN;
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
   * @param options Where to bind and the incoming size limit.
   * @returns The bound transport.
   * @throws {AddressInUseError} If another socket holds the address.
   * @throws {UdpBindError} If binding fails for another reason, the host is
   * not an IP address, or this runtime cannot run the transport (no FFI
   * permission, not Linux).
   * @throws {TypeError} If the host is empty.
   * @throws {RangeError} If the port or `maxDatagramBytes` is out of range.
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
    const address = formatAddress({ host, port });
    const c = loadLibc();
    const ipv6 = parseIpv4(host) === undefined;
    const name = new Uint8Array(SOCKADDR_BYTES);
    const nameBytes = writeSockaddr(name, 0, host, port, ipv6);
    if (c === null || nameBytes === 0) {
      throw new UdpBindError(
        `Cannot bind UDP socket: binding "${address}" needs FFI on Linux and an IP address`,
        { host, port },
      );
    }
    const fail = (what: string, fd: number): never => {
      const code = errno(c);
      if (fd >= 0) c.close(fd);
      const codeName = ERRNO_NAMES[code] ?? `errno ${code}`;
      if (code === EADDRINUSE) {
        throw new AddressInUseError(
          `Cannot bind UDP socket: address "${address}" is in use`,
          { host, port },
        );
      }
      throw new UdpBindError(
        `Cannot bind UDP socket: ${what} for "${address}" failed with "${codeName}"`,
        { host, port, code: ERRNO_NAMES[code] },
      );
    };
    const fd = c.socket(
      ipv6 ? AF_INET6 : AF_INET,
      SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
      0,
    );
    if (fd < 0) fail("socket", fd);
    if (host === "::") {
      // Dual-stack whatever the system default: IPv4 peers arrive mapped.
      const off = new Int32Array(1);
      const set = c.setsockopt(
        fd,
        IPPROTO_IPV6,
        IPV6_V6ONLY,
        new Uint8Array(off.buffer),
        4,
      );
      if (set !== 0) fail("setsockopt", fd);
    }
    if (c.bind(fd, name, nameBytes) !== 0) fail("bind", fd);
    const length = Uint32Array.of(SOCKADDR_BYTES);
    if (c.getsockname(fd, name, new Uint8Array(length.buffer)) !== 0) {
      fail("getsockname", fd);
    }
    const bound = readSockaddr(name, 0);
    const wakeFd = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd < 0 || bound === undefined) fail("eventfd", fd);
    return new MmsgTransport(
      c,
      { fd, wakeFd },
      { host, port: bound!.port },
      maxDatagramBytes,
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
      this.#closed = (async () => {
        // Wake the loop's poll; the fds close once it has returned.
        this.#libc.write(
          this.#wakeFd,
          new Uint8Array(new BigUint64Array([1n]).buffer),
          8n,
        );
        await this.#receiving;
        this.#libc.close(this.#fd);
        this.#libc.close(this.#wakeFd);
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
   * tells it: drops (with read permission for `/proc/net/udp`) and buffer
   * sizes.
   *
   * @returns Drops and buffer sizes.
   */
  kernelStats(): KernelUdpStats {
    const { host, port } = this.localAddress;
    const table = readGranted(
      this.#ipv6 ? "/proc/net/udp6" : "/proc/net/udp",
    );
    return {
      drops: table === undefined
        ? undefined
        : parseProcNetUdpDrops(table, port, host),
      receiveBufferBytes: this.#receiveBufferBytes,
      sendBufferBytes: this.#sendBufferBytes,
    };
  }

  async #receiveLoop(): Promise<void> {
    while (this.#closed === undefined) {
      for (let batch = 0; batch < MAX_BATCHES_PER_TURN; batch++) {
        const count = this.#receiveBatch();
        if (count < RECEIVE_BATCH || this.#closed !== undefined) break;
      }
      // The replies the handlers queued, in one system call.
      this.#flush();
      if (this.#closed !== undefined) return;
      const ready = await this.#libc.poll(this.#pollFds, 2n, POLL_TIMEOUT_MS);
      if (ready < 0) this.#socketErrorCount++;
    }
  }

  /** Reads one batch and hands it out; returns how many datagrams came. */
  #receiveBatch(): number {
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
        const code = errno(this.#libc);
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
      const handler = this.#handler;
      if (this.#closed !== undefined) return count;
      const from = this.#source(i * SOCKADDR_BYTES);
      if (
        handler === undefined || truncated ||
        length > this.#maxDatagramBytes || from === undefined
      ) {
        this.#droppedCount++;
        continue;
      }
      this.#receivedCount++;
      const start = i * this.#slotBytes;
      try {
        handler(
          this.#copier.copy(this.#receiveData, start, start + length),
          from,
        );
      } catch {
        this.#handlerErrorCount++;
      }
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
