/**
 * `MmsgTransport` (recvmmsg/sendmmsg through FFI) keeps `UdpTransport`'s
 * contract: copies both ways, counters, size limit (truncated datagrams
 * too), handler errors, close; bursts longer than one `sendmmsg` and one
 * `recvmmsg` batch arrive whole and in order. Loopback only; every wait is
 * bounded by `within` or `until`. Ignored where the transport cannot run
 * (not Linux, or no FFI permission).
 *
 * @module
 */
import assert from "node:assert/strict";
import { MmsgTransport, RECEIVE_BATCH } from "../lib/io/mmsg_transport.ts";
import { AddressInUseError, UdpBindError } from "../lib/io/udp_transport.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { readNumberFile } from "../lib/io/_proc_files.ts";
import { within } from "./_within.ts";

const ignore = !MmsgTransport.available("127.0.0.1");

/** Waits (in 10 ms steps, at most 5 s) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let step = 0; step < 500 && !done(); step++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!done()) throw new Error(`${what}: not within 5 s`);
}

/** Collects datagrams until `count` have arrived. */
function collect(
  transport: MmsgTransport,
  count: number,
): Promise<[Uint8Array, PeerAddress][]> {
  return within(5_000, `${count} datagrams`, (done) => {
    const got: [Uint8Array, PeerAddress][] = [];
    transport.receive((bytes, from) => {
      got.push([bytes, from]);
      if (got.length === count) done(got);
    });
  });
}

Deno.test({
  name:
    "MmsgTransport: datagrams arrive whole and in their own bytes, from the sender's address",
  ignore,
  async fn() {
    const alice = await MmsgTransport.bind();
    const bob = await MmsgTransport.bind();
    try {
      const arriving = collect(bob, 3);
      const buffer = new Uint8Array([1, 2, 3]);
      alice.send(bob.localAddress, buffer);
      // The sender may reuse its buffer at once: the transport copied it.
      buffer.fill(9);
      alice.send(bob.localAddress, buffer.subarray(0, 2));
      alice.send(bob.localAddress, new Uint8Array(1_400).fill(7));
      const got = await arriving;
      // One sendmmsg, in order.
      assert.deepEqual([...got[0][0]], [1, 2, 3]);
      assert.deepEqual([...got[1][0]], [9, 9]);
      assert.equal(got[2][0].length, 1_400);
      assert.ok(got[2][0].every((byte) => byte === 7));
      // Each handler call got bytes of its own: changing one changes no other.
      got[0][0].fill(0);
      assert.deepEqual([...got[1][0]], [9, 9]);
      assert.equal(got[2][0][0], 7);
      assert.deepEqual(got[0][1], alice.localAddress);
      assert.equal(bob.receivedCount, 3);
    } finally {
      await alice.close();
      await bob.close();
    }
    assert.equal(alice.sentCount, 3);
    assert.equal(alice.sendErrorCount, 0);
  },
});

Deno.test({
  name:
    "MmsgTransport: a burst longer than a send batch and several receive batches arrives whole, in order, each datagram its own",
  ignore,
  async fn() {
    const alice = await MmsgTransport.bind();
    const bob = await MmsgTransport.bind();
    // 130 datagrams of 2 to 41 bytes: three sendmmsg calls (64 a call) and
    // five recvmmsg batches; small enough for the default receive buffer.
    const count = 4 * RECEIVE_BATCH + 2;
    try {
      const arriving = collect(bob, count);
      for (let i = 0; i < count; i++) {
        const bytes = new Uint8Array(2 + (i % 40)).fill(i & 0xff);
        bytes[0] = i >> 8;
        alice.send(bob.localAddress, bytes);
      }
      const got = await arriving;
      got.forEach(([bytes], i) => {
        assert.equal(bytes.length, 2 + (i % 40), `datagram ${i}`);
        assert.equal(bytes[0], i >> 8);
        assert.ok(bytes.subarray(1).every((byte) => byte === (i & 0xff)));
      });
      assert.equal(bob.kernelStats().drops, 0);
    } finally {
      await alice.close();
      await bob.close();
    }
    assert.equal(alice.sentCount, count);
  },
});

Deno.test({
  name:
    "MmsgTransport: oversized and truncated datagrams are dropped and counted, handler errors counted, and receiving goes on",
  ignore,
  async fn() {
    const sender = await MmsgTransport.bind();
    const receiver = await MmsgTransport.bind({ maxDatagramBytes: 100 });
    try {
      let calls = 0;
      let delivered = 0;
      receiver.receive((bytes) => {
        calls++;
        if (bytes.length === 1) throw new Error("handler bug");
        delivered = bytes.length;
      });
      sender.send(receiver.localAddress, new Uint8Array(101));
      // Far larger than the receive slot: the kernel truncates it.
      sender.send(receiver.localAddress, new Uint8Array(60_000));
      sender.send(receiver.localAddress, new Uint8Array(1));
      sender.send(receiver.localAddress, new Uint8Array(100));
      await until(
        () => receiver.droppedCount + receiver.receivedCount === 4,
        "four datagrams",
      );
      assert.equal(delivered, 100);
      assert.equal(calls, 2);
      assert.equal(receiver.droppedCount, 2);
      assert.equal(receiver.handlerErrorCount, 1);
      assert.equal(receiver.receivedCount, 2);
    } finally {
      await sender.close();
      await receiver.close();
    }
  },
});

Deno.test({
  name:
    "MmsgTransport: bad sends are counted, never thrown; queued sends go out on close; nothing is sent once closed",
  ignore,
  async fn() {
    const transport = await MmsgTransport.bind();
    const peer = await MmsgTransport.bind();
    try {
      transport.send({ host: "127.0.0.1", port: 0 }, new Uint8Array(1));
      transport.send({ host: "127.0.0.1", port: 1.5 }, new Uint8Array(1));
      transport.send(transport.localAddress, new Uint8Array(65_508));
      transport.send({ host: "localhost", port: 9 }, new Uint8Array(1));
      // An IPv4 socket cannot reach an IPv6 peer.
      transport.send({ host: "2001:db8::1", port: 9 }, new Uint8Array(1));
      assert.equal(transport.sendErrorCount, 5);
      const arrived = collect(peer, 1);
      transport.send(peer.localAddress, Uint8Array.of(4));
      // Queued, not yet sent: close sends it first.
      const closing = transport.close();
      assert.equal(transport.close(), closing);
      await closing;
      assert.equal(transport.sentCount, 1);
      assert.deepEqual([...(await arrived)[0][0]], [4]);
      transport.send(peer.localAddress, new Uint8Array(1));
      assert.equal(transport.sentCount + transport.sendErrorCount, 6);
    } finally {
      await transport.close();
      await peer.close();
    }
  },
});

Deno.test({
  name:
    "MmsgTransport: a handler that closes the transport gets no further datagram of its batch",
  ignore,
  async fn() {
    const sender = await MmsgTransport.bind();
    const receiver = await MmsgTransport.bind();
    try {
      let calls = 0;
      const closed = within(5_000, "the close", (done) => {
        receiver.receive(() => {
          calls++;
          done(receiver.close());
        });
      });
      for (let i = 0; i < 5; i++) {
        sender.send(receiver.localAddress, new Uint8Array(1));
      }
      await await closed;
      assert.equal(calls, 1);
      assert.equal(receiver.receivedCount, 1);
    } finally {
      await sender.close();
      await receiver.close();
    }
  },
});

Deno.test({
  name:
    "MmsgTransport.bind(): AddressInUseError for a taken port, UdpBindError for a name or an address not ours, RangeError for a bad port",
  ignore,
  async fn() {
    const first = await MmsgTransport.bind();
    try {
      await assert.rejects(
        MmsgTransport.bind({ port: first.localAddress.port }),
        AddressInUseError,
      );
      await assert.rejects(MmsgTransport.bind({ port: 70_000 }), RangeError);
      await assert.rejects(MmsgTransport.bind({ host: "" }), TypeError);
      await assert.rejects(
        MmsgTransport.bind({ host: "localhost" }),
        UdpBindError,
      );
      await assert.rejects(
        MmsgTransport.bind({ host: "192.0.2.1" }),
        (error: unknown) => {
          assert.ok(error instanceof UdpBindError);
          assert.equal(error.code, "EADDRNOTAVAIL");
          return true;
        },
      );
      assert.equal(first.kernelStats().drops, 0);
    } finally {
      await first.close();
    }
  },
});

Deno.test({
  name:
    'MmsgTransport on "::" and "::1": an IPv4 peer is named by its IPv4 address, an IPv6 peer in RFC 5952 text, and answers reach both',
  ignore,
  async fn() {
    let dual: MmsgTransport;
    let v6: MmsgTransport;
    try {
      dual = await MmsgTransport.bind({ host: "::" });
      v6 = await MmsgTransport.bind({ host: "::1" });
    } catch {
      console.log("no IPv6 here: not checked");
      return;
    }
    const v4 = await MmsgTransport.bind({ host: "127.0.0.1" });
    try {
      const arrived = collect(dual, 2);
      v4.send(
        { host: "127.0.0.1", port: dual.localAddress.port },
        Uint8Array.of(1),
      );
      v6.send({ host: "::1", port: dual.localAddress.port }, Uint8Array.of(2));
      const got = (await arrived).sort((a, b) => a[0][0] - b[0][0]);
      assert.deepEqual(got[0][1], {
        host: "127.0.0.1",
        port: v4.localAddress.port,
      });
      assert.deepEqual(got[1][1], { host: "::1", port: v6.localAddress.port });
      const answered = [collect(v4, 1), collect(v6, 1)];
      dual.send(got[0][1], Uint8Array.of(3));
      dual.send(got[1][1], Uint8Array.of(4));
      assert.deepEqual([...(await answered[0])[0][0]], [3]);
      assert.deepEqual([...(await answered[1])[0][0]], [4]);
    } finally {
      await Promise.all([dual.close(), v6.close(), v4.close()]);
    }
  },
});

Deno.test({
  name:
    "MmsgTransport asks the kernel for its receive buffer: what the socket gets is the size asked for, capped by rmem_max and doubled by Linux",
  ignore,
  async fn() {
    const rmemMax = readNumberFile("/proc/sys/net/core/rmem_max");
    const asked = 1024 * 1024;
    const transport = await MmsgTransport.bind({ receiveBufferBytes: asked });
    try {
      const got = transport.kernelStats().receiveBufferBytes;
      if (rmemMax !== undefined) {
        assert.equal(got, 2 * Math.min(asked, rmemMax));
      } else assert.ok(got !== undefined && got > 0);
    } finally {
      await transport.close();
    }
    const small = await MmsgTransport.bind({ receiveBufferBytes: 4_096 });
    try {
      // Linux's floor for a receive buffer is 2,304 bytes (twice 1,152).
      assert.equal(small.kernelStats().receiveBufferBytes, 8_192);
    } finally {
      await small.close();
    }
    for (const bad of [0, -1, 1.5, 2 ** 31, NaN]) {
      await assert.rejects(
        MmsgTransport.bind({ receiveBufferBytes: bad }),
        RangeError,
        String(bad),
      );
    }
  },
});

Deno.test({
  // What the larger buffer is for: a node reads its socket from its one
  // JavaScript thread, and while that thread is busy (a collection, a burst
  // of work) datagrams wait in the kernel. Here a burst of 1,500 datagrams
  // (about 1.5 MB of kernel memory, seven times the usual 208 KiB default)
  // lands while the receiver cannot read. Needs rmem_max ≥ 2 MiB (raised by
  // an administrator; `sysctl net.core.rmem_max`), else it cannot show it.
  name:
    "MmsgTransport: a burst that overflows the system's default receive buffer arrives whole in the buffer the transport asks for",
  ignore: ignore ||
    (readNumberFile("/proc/sys/net/core/rmem_max") ?? 0) < 2 * 1024 * 1024 ||
    (readNumberFile("/proc/sys/net/core/rmem_default") ?? Infinity) >
      1024 * 1024,
  async fn() {
    const alice = await MmsgTransport.bind();
    const bob = await MmsgTransport.bind();
    try {
      let received = 0;
      bob.receive(() => received++);
      const payload = new Uint8Array(200);
      // Every send of a full batch goes out at once (sendmmsg), so the whole
      // burst is in bob's kernel buffer before this thread reads anything.
      for (let i = 0; i < 1_500; i++) alice.send(bob.localAddress, payload);
      await until(() => received === 1_500, "the whole burst");
      assert.equal(bob.kernelStats().drops, 0);
    } finally {
      await alice.close();
      await bob.close();
    }
  },
});
