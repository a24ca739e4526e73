import assert from "node:assert/strict";
import { systemClock } from "../lib/io/system_clock.ts";
import {
  formatAddress,
  MAX_DATAGRAM_BYTES,
  parseAddress,
  type PeerAddress,
} from "../lib/transport.ts";
import {
  AddressInUseError,
  UdpBindError,
  UdpTransport,
} from "../lib/io/udp_transport.ts";

/** Longest a loopback datagram may take before a test fails: 2 s. */
const LOOPBACK_TIMEOUT_MS = 2_000;

/** Resolves with `promise`, or rejects after `LOOPBACK_TIMEOUT_MS`; the guard timer is always cleared. */
async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: { cancel(): void } | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = systemClock.setTimer(
      LOOPBACK_TIMEOUT_MS,
      () => reject(new Error(`Timed out waiting for ${what}`)),
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    timer?.cancel();
  }
}

/** Collects datagrams on `transport`; `next()` waits for the next one. */
function collect(transport: UdpTransport): {
  next(): Promise<[Uint8Array, PeerAddress]>;
} {
  const queue: Array<[Uint8Array, PeerAddress]> = [];
  let wake: (() => void) | undefined;
  transport.receive((bytes, from) => {
    queue.push([bytes, from]);
    wake?.();
  });
  return {
    async next(): Promise<[Uint8Array, PeerAddress]> {
      while (queue.length === 0) {
        await withTimeout(
          new Promise<void>((resolve) => wake = resolve),
          "a datagram",
        );
      }
      return queue.shift()!;
    },
  };
}

const VALID_ADDRESSES: Array<[string, PeerAddress]> = [
  ["1.2.3.4:5", { host: "1.2.3.4", port: 5 }],
  ["127.0.0.1:4222", { host: "127.0.0.1", port: 4222 }],
  ["255.255.255.255:65535", { host: "255.255.255.255", port: 65535 }],
  ["[::1]:5", { host: "::1", port: 5 }],
  ["[::]:1", { host: "::", port: 1 }],
  ["[2001:db8::8a2e:370:7334]:4222", {
    host: "2001:db8::8a2e:370:7334",
    port: 4222,
  }],
  ["[1:2:3:4:5:6:7:8]:9", { host: "1:2:3:4:5:6:7:8", port: 9 }],
  ["[::ffff:192.0.2.1]:80", { host: "::ffff:192.0.2.1", port: 80 }],
  ["bootstrap.jami.net:4222", { host: "bootstrap.jami.net", port: 4222 }],
  ["localhost:1", { host: "localhost", port: 1 }],
];

Deno.test("parseAddress() and formatAddress() round-trip valid addresses", () => {
  for (const [text, address] of VALID_ADDRESSES) {
    assert.deepEqual(parseAddress(text), address, text);
    assert.equal(formatAddress(address), text);
  }
});

Deno.test("parseAddress() lower-cases IPv6 addresses and host names", () => {
  assert.deepEqual(parseAddress("[2001:DB8::A]:1"), {
    host: "2001:db8::a",
    port: 1,
  });
  assert.deepEqual(parseAddress("Example.ORG:2"), {
    host: "example.org",
    port: 2,
  });
});

const INVALID_ADDRESSES = [
  "",
  "1.2.3.4",
  "1.2.3.4:",
  ":4222",
  "1.2.3.4:0",
  "1.2.3.4:65536",
  "1.2.3.4:-1",
  "1.2.3.4:080",
  "1.2.3.4:1e3",
  "1.2.3.4: 80",
  "256.1.1.1:80",
  "01.2.3.4:80",
  "1.2.3:80",
  "1.2.3.4.5:80",
  "::1:80",
  "[::1]",
  "[::1]:0",
  "[1::2::3]:80",
  "[1:2:3:4:5:6:7:8:9]:80",
  "[1:2:3:4:5:6:7]:80",
  "[12345::]:80",
  "[1.2.3.4::]:80",
  "[fe80::1%eth0]:80",
  "[::1:80",
  "-bad.example:80",
  "bad_host:80",
  "a..b:80",
  "x".repeat(300) + ":80",
];

Deno.test("parseAddress() throws TypeError naming the input for bad text", () => {
  for (const text of INVALID_ADDRESSES) {
    assert.throws(() => parseAddress(text), (error: unknown) => {
      assert.ok(error instanceof TypeError, text);
      assert.match(error.message, /^Cannot parse address: "/);
      assert.ok(
        error.message.includes(JSON.stringify(text.slice(0, 20)).slice(0, -1)),
        error.message,
      );
      return true;
    });
  }
});

Deno.test("formatAddress() accepts port 0 and rejects bad ports and hosts", () => {
  assert.equal(formatAddress({ host: "0.0.0.0", port: 0 }), "0.0.0.0:0");
  for (const port of [-1, 65536, 1.5, NaN]) {
    assert.throws(() => formatAddress({ host: "1.2.3.4", port }), RangeError);
  }
  assert.throws(() => formatAddress({ host: "", port: 1 }), TypeError);
});

Deno.test("UdpTransport sends and receives between two sockets on 127.0.0.1", async () => {
  const alice = await UdpTransport.bind();
  const bob = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  try {
    assert.equal(alice.localAddress.host, "127.0.0.1");
    assert.ok(alice.localAddress.port > 0);
    assert.notEqual(alice.localAddress.port, bob.localAddress.port);
    const atAlice = collect(alice);
    const atBob = collect(bob);

    const hello = new Uint8Array([1, 2, 3]);
    alice.send(bob.localAddress, hello);
    // The transport copied the bytes; changing them now must not matter.
    hello[0] = 99;
    const [bytes, from] = await atBob.next();
    assert.deepEqual(bytes, new Uint8Array([1, 2, 3]));
    assert.deepEqual(from, alice.localAddress);

    bob.send(from, new Uint8Array([4]));
    const [reply, replyFrom] = await atAlice.next();
    assert.deepEqual(reply, new Uint8Array([4]));
    assert.deepEqual(replyFrom, bob.localAddress);

    assert.equal(alice.sentCount, 1);
    assert.equal(bob.receivedCount, 1);
    assert.equal(alice.receivedCount, 1);
    assert.equal(bob.sendErrorCount, 0);
  } finally {
    await alice.close();
    await bob.close();
  }
});

Deno.test("UdpTransport carries a datagram of MAX_DATAGRAM_BYTES", async () => {
  const alice = await UdpTransport.bind();
  const bob = await UdpTransport.bind();
  try {
    const atBob = collect(bob);
    const big = new Uint8Array(MAX_DATAGRAM_BYTES).map((_, index) => index);
    alice.send(bob.localAddress, big);
    const [bytes] = await atBob.next();
    assert.deepEqual(bytes, big);
  } finally {
    await alice.close();
    await bob.close();
  }
});

Deno.test("UdpTransport drops and counts oversized incoming datagrams", async () => {
  const alice = await UdpTransport.bind();
  const bob = await UdpTransport.bind({ maxDatagramBytes: 100 });
  try {
    const atBob = collect(bob);
    alice.send(bob.localAddress, new Uint8Array(101));
    alice.send(bob.localAddress, new Uint8Array(100));
    // Loopback keeps order, so once the second arrived the first was seen.
    const [bytes] = await atBob.next();
    assert.equal(bytes.length, 100);
    assert.equal(bob.droppedCount, 1);
    assert.equal(bob.receivedCount, 1);
  } finally {
    await alice.close();
    await bob.close();
  }
});

Deno.test("UdpTransport.send() counts oversized and undeliverable datagrams without throwing", async () => {
  const alice = await UdpTransport.bind();
  try {
    alice.send(alice.localAddress, new Uint8Array(MAX_DATAGRAM_BYTES + 1));
    alice.send({ host: "127.0.0.1", port: 70_000 }, new Uint8Array(1));
    alice.send({ host: "127.0.0.1", port: -1 }, new Uint8Array(1));
    assert.equal(alice.sendErrorCount, 3);
    assert.equal(alice.sentCount, 0);
  } finally {
    await alice.close();
  }
});

Deno.test("UdpTransport keeps receiving after the handler throws", async () => {
  const alice = await UdpTransport.bind();
  const bob = await UdpTransport.bind();
  try {
    const received: number[] = [];
    let done: () => void = () => {};
    const second = new Promise<void>((resolve) => done = resolve);
    bob.receive((bytes) => {
      if (bytes[0] === 1) throw new Error("handler bug");
      received.push(bytes[0]);
      done();
    });
    alice.send(bob.localAddress, new Uint8Array([1]));
    alice.send(bob.localAddress, new Uint8Array([2]));
    await withTimeout(second, "the second datagram");
    assert.deepEqual(received, [2]);
    assert.equal(bob.handlerErrorCount, 1);
    assert.equal(bob.receivedCount, 2);
  } finally {
    await alice.close();
    await bob.close();
  }
});

Deno.test("UdpTransport.close() is idempotent, silences send and releases the port", async () => {
  const transport = await UdpTransport.bind();
  const { port } = transport.localAddress;
  const first = transport.close();
  assert.equal(transport.close(), first);
  await first;
  await transport.close();
  transport.send({ host: "127.0.0.1", port }, new Uint8Array([1]));
  assert.equal(transport.sentCount, 0);
  assert.equal(transport.sendErrorCount, 0);
  const again = await UdpTransport.bind({ port });
  try {
    assert.equal(again.localAddress.port, port);
  } finally {
    await again.close();
  }
});

Deno.test("UdpTransport delivers nothing after close()", async () => {
  const alice = await UdpTransport.bind();
  const bob = await UdpTransport.bind();
  const delivered: Uint8Array[] = [];
  bob.receive((bytes) => delivered.push(bytes));
  alice.send(bob.localAddress, new Uint8Array([1]));
  await bob.close();
  await alice.close();
  assert.deepEqual(delivered, []);
});

Deno.test("UdpTransport.bind() rejects with AddressInUseError for a taken port", async () => {
  const holder = await UdpTransport.bind();
  try {
    const { port } = holder.localAddress;
    await assert.rejects(UdpTransport.bind({ port }), (error: unknown) => {
      assert.ok(error instanceof AddressInUseError);
      assert.ok(error instanceof UdpBindError);
      assert.equal(error.code, "EADDRINUSE");
      assert.equal(error.port, port);
      assert.equal(error.host, "127.0.0.1");
      assert.ok(error.cause instanceof Error);
      assert.equal(
        error.message,
        `Cannot bind UDP socket: address "127.0.0.1:${port}" is in use`,
      );
      return true;
    });
  } finally {
    await holder.close();
  }
});

Deno.test("UdpTransport.bind() wraps other bind failures in UdpBindError", async () => {
  // 192.0.2.1 is TEST-NET-1, never an address of this host.
  await assert.rejects(
    UdpTransport.bind({ host: "192.0.2.1" }),
    (error: unknown) => {
      assert.ok(error instanceof UdpBindError);
      assert.ok(!(error instanceof AddressInUseError));
      assert.equal(error.code, "EADDRNOTAVAIL");
      assert.match(error.message, /^Cannot bind UDP socket: binding "192/);
      return true;
    },
  );
});

Deno.test("UdpTransport.bind() rejects bad options before opening a socket", async () => {
  await assert.rejects(UdpTransport.bind({ host: "" }), TypeError);
  await assert.rejects(UdpTransport.bind({ port: -1 }), RangeError);
  await assert.rejects(UdpTransport.bind({ port: 65536 }), RangeError);
  await assert.rejects(
    UdpTransport.bind({ maxDatagramBytes: MAX_DATAGRAM_BYTES + 1 }),
    RangeError,
  );
  await assert.rejects(UdpTransport.bind({ maxDatagramBytes: 0 }), RangeError);
});
