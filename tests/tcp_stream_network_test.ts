/**
 * TcpStreamNetwork on 127.0.0.1: streams carry bytes both ways, closes are
 * reported with the right reason, failures reject with typed errors, and a
 * peer that stops reading cannot make us buffer without limit. Every wait is
 * bounded by a guard timer, so a hang fails instead of stalling the suite.
 */
import assert from "node:assert/strict";
import net from "node:net";
import type {
  ByteStream,
  StreamCloseReason,
  StreamListener,
} from "../lib/channel/byte_stream.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import {
  DEFAULT_MAX_QUEUED_BYTES,
  TcpConnectError,
  TcpConnectTimeoutError,
  TcpListenError,
  TcpStreamNetwork,
} from "../lib/io/tcp_stream_network.ts";

const GUARD_MS = 5_000;

/** Resolves with `promise`, or rejects if it takes longer than the guard. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out waiting for ${what}`)),
      GUARD_MS,
    );
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects a stream's bytes and its close reason. */
class Sink {
  readonly chunks: Uint8Array[] = [];
  readonly closed: Promise<StreamCloseReason>;
  #received = 0;
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(stream: ByteStream) {
    const closed = Promise.withResolvers<StreamCloseReason>();
    this.closed = closed.promise;
    stream.onClose(closed.resolve);
    stream.onData((bytes) => {
      this.chunks.push(bytes.slice());
      this.#received += bytes.length;
      this.#waiters = this.#waiters.filter((waiter) => {
        if (this.#received < waiter.count) return true;
        waiter.resolve();
        return false;
      });
    });
  }

  get bytes(): Uint8Array {
    const out = new Uint8Array(this.#received);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  until(count: number): Promise<void> {
    if (this.#received >= count) return Promise.resolve();
    const waiter = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve: waiter.resolve });
    return within(waiter.promise, `${count} bytes`);
  }
}

/** A listener whose accepted streams arrive through a queue. */
async function listenQueue(network: TcpStreamNetwork): Promise<{
  listener: StreamListener;
  next: () => Promise<ByteStream>;
}> {
  const waiting: Array<(stream: ByteStream) => void> = [];
  const ready: ByteStream[] = [];
  const listener = await network.listen(0, (stream) => {
    const take = waiting.shift();
    if (take) take(stream);
    else ready.push(stream);
  });
  function next(): Promise<ByteStream> {
    const stream = ready.shift();
    if (stream) return Promise.resolve(stream);
    return within(
      new Promise((resolve) => waiting.push(resolve)),
      "an accepted stream",
    );
  }
  return { listener, next };
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

Deno.test("TcpStreamNetwork carries bytes both ways; the peer sees a close as 'remote'", async () => {
  const network = new TcpStreamNetwork({ host: "127.0.0.1" });
  const { listener, next } = await listenQueue(network);
  try {
    assert.equal(listener.localAddress.host, "127.0.0.1");
    assert.ok(listener.localAddress.port > 0);
    const client = await within(
      network.connect(listener.localAddress),
      "connect",
    );
    const server = await next();
    assert.equal(client.remote.port, listener.localAddress.port);
    assert.equal(server.remote.host, "127.0.0.1");
    const atServer = new Sink(server);
    const atClient = new Sink(client);

    client.write(new Uint8Array([1, 2, 3]));
    server.write(new Uint8Array([4, 5]));
    await atServer.until(3);
    await atClient.until(2);
    assert.deepEqual(atServer.bytes, new Uint8Array([1, 2, 3]));
    assert.deepEqual(atClient.bytes, new Uint8Array([4, 5]));

    client.close();
    client.close();
    client.write(new Uint8Array([9])); // Ignored after close.
    assert.equal(await within(atClient.closed, "client close"), "local");
    assert.equal(await within(atServer.closed, "server close"), "remote");
    assert.equal(atServer.bytes.length, 3);
  } finally {
    await listener.close();
  }
});

Deno.test("TcpStreamNetwork delivers everything written before close, in order", async () => {
  const network = new TcpStreamNetwork();
  const { listener, next } = await listenQueue(network);
  try {
    const client = await within(
      network.connect(listener.localAddress),
      "connect",
    );
    const atServer = new Sink(await next());
    const sent: Uint8Array[] = [];
    // 768 KiB in 48 writes, under the 1 MiB queue limit even if none left yet.
    for (let i = 0; i < 48; i++) {
      const chunk = pattern(16_384, i);
      sent.push(chunk);
      client.write(chunk);
    }
    client.close();
    assert.equal(await within(atServer.closed, "server close"), "remote");
    const expected = new Uint8Array(48 * 16_384);
    sent.forEach((chunk, i) => expected.set(chunk, i * 16_384));
    assert.deepEqual(atServer.bytes, expected);
  } finally {
    await listener.close();
  }
});

Deno.test("TcpStreamNetwork.connect() rejects with TcpConnectError when nobody listens", async () => {
  const network = new TcpStreamNetwork();
  const listener = await network.listen(0, () => {});
  const address = listener.localAddress;
  await listener.close();
  const error = await within(
    network.connect(address).then(
      () => assert.fail("connected to a closed port"),
      (error: unknown) => error,
    ),
    "connect failure",
  );
  assert.ok(error instanceof TcpConnectError);
  assert.ok(!(error instanceof TcpConnectTimeoutError));
  assert.equal(error.code, "ECONNREFUSED");
  assert.deepEqual(error.address, address);
  assert.ok(error.cause instanceof Error);
  assert.match(error.message, /^Cannot connect: "127\.0\.0\.1:\d+" failed/);
});

Deno.test("TcpStreamNetwork.connect() rejects with TcpConnectTimeoutError when its clock runs out first", async () => {
  // The connect timeout runs on the injected clock: advancing it before the
  // event loop gets a turn decides the race deterministically.
  const clock = new ManualClock();
  const network = new TcpStreamNetwork({ clock, connectTimeoutMs: 2_000 });
  const listener = await network.listen(0, (stream) => stream.close());
  try {
    const attempt = network.connect(listener.localAddress);
    clock.advance(1_999);
    assert.equal(clock.pendingCount, 1);
    clock.advance(1);
    const error = await within(
      attempt.then(() => assert.fail("connected"), (error: unknown) => error),
      "connect timeout",
    );
    assert.ok(error instanceof TcpConnectTimeoutError);
    assert.equal(error.timeoutMs, 2_000);
    assert.equal(error.code, "ETIMEDOUT");
    assert.equal(clock.pendingCount, 0);
  } finally {
    await listener.close();
  }
  // Let a connection the listener may have accepted in the meantime wind down.
  await new Promise((resolve) => setTimeout(resolve, 50));
});

Deno.test("TcpStreamNetwork: a connected attempt cancels its timeout timer", async () => {
  const clock = new ManualClock();
  const network = new TcpStreamNetwork({ clock });
  const { listener, next } = await listenQueue(network);
  try {
    const client = await within(
      network.connect(listener.localAddress),
      "connect",
    );
    assert.equal(clock.pendingCount, 0);
    const atServer = new Sink(await next());
    client.close();
    await within(atServer.closed, "server close");
  } finally {
    await listener.close();
  }
});

Deno.test("TcpStreamNetwork listener close stops accepting and keeps open streams", async () => {
  const network = new TcpStreamNetwork();
  const { listener, next } = await listenQueue(network);
  const client = await within(
    network.connect(listener.localAddress),
    "connect",
  );
  const server = await next();
  await listener.close();
  await listener.close(); // Idempotent.
  await assert.rejects(
    within(network.connect(listener.localAddress), "refused connect"),
    TcpConnectError,
  );
  const atServer = new Sink(server);
  client.write(new Uint8Array([7]));
  await atServer.until(1);
  server.close();
  assert.equal(await within(new Sink(client).closed, "client close"), "remote");
});

Deno.test("TcpStreamNetwork.listen() rejects with TcpListenError when the port is taken", async () => {
  const network = new TcpStreamNetwork();
  const first = await network.listen(0, () => {});
  try {
    const error = await network.listen(first.localAddress.port, () => {})
      .catch((error: unknown) => error);
    assert.ok(error instanceof TcpListenError);
    assert.equal(error.code, "EADDRINUSE");
    assert.equal(error.port, first.localAddress.port);
    assert.equal(error.host, "127.0.0.1");
  } finally {
    await first.close();
  }
});

Deno.test("TcpStreamNetwork closes a stream 'error' when a write would queue more than maxQueuedBytes", async () => {
  const network = new TcpStreamNetwork();
  const { listener, next } = await listenQueue(network);
  try {
    const client = await within(
      network.connect(listener.localAddress),
      "connect",
    );
    const atServer = new Sink(await next());
    const atClient = new Sink(client);
    client.write(new Uint8Array(DEFAULT_MAX_QUEUED_BYTES + 1));
    assert.equal(await within(atClient.closed, "client close"), "error");
    await within(atServer.closed, "server close");
    assert.equal(atServer.bytes.length, 0);
  } finally {
    await listener.close();
  }
});

Deno.test("TcpStreamNetwork closes a stream 'error' once a peer that stops reading lets the queue fill", async () => {
  const network = new TcpStreamNetwork({ maxQueuedBytes: 256 * 1024 });
  // The server never sets a data handler, so it never reads.
  const { listener, next } = await listenQueue(network);
  try {
    const client = await within(
      network.connect(listener.localAddress),
      "connect",
    );
    const server = await next();
    const atClient = new Sink(client);
    let reason: StreamCloseReason | undefined;
    atClient.closed.then((value) => reason = value);
    // Kernel buffers take a few MiB on loopback; 256 MiB bounds the loop.
    let written = 0;
    while (reason === undefined && written < 256 * 1024 * 1024) {
      client.write(new Uint8Array(64 * 1024));
      written += 64 * 1024;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(reason, "error");
    server.close();
  } finally {
    await listener.close();
  }
});

Deno.test("TcpStreamNetwork closes a stream whose handler throws, and counts it", async () => {
  const network = new TcpStreamNetwork();
  const listener = await network.listen(0, () => {
    throw new Error("handler bug");
  });
  try {
    const client = await within(
      network.connect(listener.localAddress),
      "connect",
    );
    assert.equal(await within(new Sink(client).closed, "close"), "remote");
    assert.equal(network.handlerErrorCount, 1);
  } finally {
    await listener.close();
  }
});

Deno.test("TcpStreamNetwork cuts off a peer that does not end its side within lingerMs of close()", async () => {
  const clock = new ManualClock();
  const network = new TcpStreamNetwork({ clock, lingerMs: 3_000 });
  // A raw peer that keeps its side open after our FIN (half-open allowed).
  const peerSocket = Promise.withResolvers<net.Socket>();
  const peerEnded = Promise.withResolvers<void>();
  const peerClosed = Promise.withResolvers<void>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("end", () => peerEnded.resolve());
    socket.on("close", () => peerClosed.resolve());
    socket.on("error", () => {});
    socket.resume();
    peerSocket.resolve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  let socket: net.Socket | undefined;
  try {
    const client = await within(
      network.connect({ host: "127.0.0.1", port }),
      "connect",
    );
    socket = await within(peerSocket.promise, "the accepted socket");
    client.close();
    await within(peerEnded.promise, "our FIN at the peer");
    // Half-closed, our socket still takes the peer's bytes (and drops them);
    // once it is gone, the peer's bytes meet a reset.
    let cutOff = false;
    peerClosed.promise.then(() => cutOff = true);
    const poke = async (attempts: number): Promise<void> => {
      for (let attempt = 0; attempt < attempts && !cutOff; attempt++) {
        socket!.write(new Uint8Array([attempt]));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    clock.advance(2_999);
    await poke(5);
    assert.equal(cutOff, false);
    clock.advance(1);
    assert.equal(clock.pendingCount, 0);
    await poke(50);
    await within(peerClosed.promise, "the peer's socket to be reset");
  } finally {
    socket?.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("TcpStreamNetwork rejects invalid options and ports", async () => {
  assert.throws(() => new TcpStreamNetwork({ host: "" }), TypeError);
  assert.throws(
    () => new TcpStreamNetwork({ connectTimeoutMs: 0 }),
    RangeError,
  );
  assert.throws(() => new TcpStreamNetwork({ maxQueuedBytes: 0 }), RangeError);
  assert.throws(() => new TcpStreamNetwork({ lingerMs: NaN }), RangeError);
  const network = new TcpStreamNetwork();
  await assert.rejects(
    network.connect({ host: "127.0.0.1", port: 0 }),
    RangeError,
  );
  await assert.rejects(
    network.connect({ host: "127.0.0.1", port: 70_000 }),
    RangeError,
  );
});
