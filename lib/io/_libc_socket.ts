/**
 * The libc side of {@link MmsgTransport}: the functions it calls through
 * FFI, the Linux constants and the 64-bit `struct mmsghdr` layout it
 * writes, memory the kernel may read and write, and the search for the
 * descriptor of a socket Deno opened.
 *
 * @example Nothing is loaded without FFI permission or off Linux
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadLibc } from "./_libc_socket.ts";
 *
 * const libc = loadLibc();
 * const ffi = Deno.permissions.querySync({ name: "ffi" }).state;
 * if (Deno.build.os !== "linux" || ffi !== "granted") assert.equal(libc, null);
 * ```
 *
 * @module
 */
import { listenDatagramFunction } from "./_bind_options.ts";
import { SOCKADDR_BYTES, writeSockaddr } from "./_sockaddr.ts";

// Linux constants (x86_64 and aarch64 share them).
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_RCVBUF = 8;
/** File descriptors searched for the socket's (Deno opens few). */
const MAX_DESCRIPTOR = 65_536;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const EINTR = 4;
export const EAGAIN = 11;
/** `sizeof(struct mmsghdr)` on 64-bit Linux: a 56-byte `msghdr` and `msg_len`, padded. */
export const MMSGHDR_BYTES = 64;
/** `sizeof(struct iovec)` on 64-bit Linux. */
export const IOVEC_BYTES = 16;
// Offsets in a 64-bit Linux `struct mmsghdr`, in 32-bit words (`msg_name`,
// `msg_namelen`, `msg_iov`, `msg_iovlen`, `msg_flags`, then `msg_len`).
export const MSG_NAME_WORD = 0;
export const MSG_NAMELEN_WORD = 2;
export const MSG_IOV_WORD = 4;
export const MSG_IOVLEN_WORD = 6;
export const MSG_FLAGS_WORD = 12;
export const MSG_LEN_WORD = 14;

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  recvmmsg: {
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
  },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** libc once loaded; `null` once it could not be. */
let libc: Libc | null | undefined;

/**
 * Loads libc (glibc, then musl), or `null` where there is no FFI, no Linux,
 * or no `Deno.listenDatagram`.
 */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const deno = Deno as { dlopen?: typeof Deno.dlopen };
  if (
    Deno.build.os !== "linux" ||
    (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") ||
    typeof deno.dlopen !== "function" || listenDatagramFunction() === undefined
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
export function kernelBytes(length: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(length));
}

/** The address of a buffer's first byte, as a number (user space fits in 53 bits). */
export function addressOf(buffer: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** Writes a 64-bit pointer or length as two little-endian 32-bit words. */
export function setWord64(
  words: Uint32Array,
  index: number,
  value: number,
): void {
  words[index] = value % 0x1_0000_0000;
  words[index + 1] = Math.floor(value / 0x1_0000_0000);
}

/**
 * The `errno` of the calling thread, read where libc keeps it (one place
 * per thread for the thread's life, so the view is made once).
 */
export function errnoReader(c: Libc): () => number {
  const at = c.__errno_location();
  if (at === null) return () => 0;
  const view = new Deno.UnsafePointerView(at);
  return () => view.getInt32(0);
}

/**
 * The file descriptor of the UDP socket bound to `bound` (this process can
 * hold only one: nothing here sets `SO_REUSEADDR`), or -1.
 */
export function descriptorOf(c: Libc, bound: Deno.NetAddr): number {
  const expected = new Uint8Array(SOCKADDR_BYTES);
  const length = writeSockaddr(
    expected,
    0,
    bound.hostname,
    bound.port,
    bound.hostname.includes(":"),
  );
  const name = new Uint8Array(SOCKADDR_BYTES);
  const size = new Uint32Array(1);
  const sizeBytes = new Uint8Array(size.buffer);
  const type = new Int32Array(1);
  for (let fd = 0; fd < MAX_DESCRIPTOR; fd++) {
    size[0] = SOCKADDR_BYTES;
    if (c.getsockname(fd, name, sizeBytes) !== 0 || size[0] !== length) {
      continue;
    }
    let same = true;
    for (let i = 0; i < length && same; i++) same = name[i] === expected[i];
    if (!same) continue;
    size[0] = 4;
    if (
      c.getsockopt(
          fd,
          SOL_SOCKET,
          SO_TYPE,
          new Uint8Array(type.buffer),
          sizeBytes,
        ) ===
        0 && type[0] === SOCK_DGRAM
    ) return fd;
  }
  return -1;
}

/**
 * Asks the kernel for a receive buffer of `bytes` on `fd` (`SO_RCVBUF`;
 * Linux grants at most `net.core.rmem_max` without privileges, and doubles
 * what it grants for its own bookkeeping) and reads back what the socket
 * has now.
 *
 * @param c libc.
 * @param fd A socket.
 * @param bytes The size asked for.
 * @returns The socket's receive buffer in bytes after the call, as the
 *   kernel reports it (`SO_RCVBUF`), or `undefined` if it cannot be read.
 */
export function setReceiveBuffer(
  c: Libc,
  fd: number,
  bytes: number,
): number | undefined {
  const value = new Int32Array([bytes]);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(value.buffer), 4);
  const size = new Uint32Array([4]);
  const read = c.getsockopt(
    fd,
    SOL_SOCKET,
    SO_RCVBUF,
    new Uint8Array(value.buffer),
    new Uint8Array(size.buffer),
  );
  return read === 0 ? value[0] : undefined;
}
