/**
 * `DatagramTransport` (Deno.listenDatagram) keeps `UdpTransport`'s contract:
 * copies both ways, counters, size limit, handler errors, close; and
 * `bindUdpTransport` picks it whenever unstable net is on, unless batched
 * I/O is asked for (`MmsgTransport`, with FFI). Loopback only; every wait is
 * bounded by `within`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type AnyUdpTransport,
  bindUdpTransport,
  DatagramTransport,
} from "../lib/io/datagram_transport.ts";
import { MmsgTransport } from "../lib/io/mmsg_transport.ts";
import { AddressInUseError } from "../lib/io/udp_transport.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { within } from "./_within.ts";

/** Waits (in 10 ms steps, at most 5 s) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let step = 0; step < 500 && !done(); step++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!done()) throw new Error(`${what}: not within 5 s`);
}

/** Collects datagrams until `count` have arrived. */
function collect(
  transport: DatagramTransport,
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

Deno.test("DatagramTransport: datagrams arrive whole and in their own bytes, from the sender's address", async () => {
  const alice = await DatagramTransport.bind();
  const bob = await DatagramTransport.bind();
  try {
    const arriving = collect(bob, 3);
    const buffer = new Uint8Array([1, 2, 3]);
    alice.send(bob.localAddress, buffer);
    // The sender may reuse its buffer at once: the transport copied it.
    buffer.fill(9);
    alice.send(bob.localAddress, buffer.subarray(0, 2));
    alice.send(bob.localAddress, new Uint8Array(1_400).fill(7));
    // Sends may complete out of order: sorted by length.
    const got = (await arriving).sort((a, b) => a[0].length - b[0].length);
    assert.deepEqual([...got[1][0]], [1, 2, 3]);
    assert.deepEqual([...got[0][0]], [9, 9]);
    assert.equal(got[2][0].length, 1_400);
    assert.ok(got[2][0].every((byte) => byte === 7));
    // Each handler call got bytes of its own: changing one changes no other.
    got[1][0].fill(0);
    assert.deepEqual([...got[0][0]], [9, 9]);
    assert.equal(got[2][0][0], 7);
    assert.deepEqual(got[0][1], alice.localAddress);
    assert.equal(bob.receivedCount, 3);
  } finally {
    await alice.close();
    await bob.close();
  }
  assert.equal(alice.sentCount, 3);
  assert.equal(alice.sendErrorCount, 0);
});

Deno.test("DatagramTransport: oversized datagrams are dropped and counted, handler errors counted, and receiving goes on", async () => {
  const sender = await DatagramTransport.bind();
  const receiver = await DatagramTransport.bind({ maxDatagramBytes: 100 });
  try {
    let calls = 0;
    let delivered = 0;
    receiver.receive((bytes) => {
      calls++;
      if (bytes.length === 1) throw new Error("handler bug");
      delivered = bytes.length;
    });
    sender.send(receiver.localAddress, new Uint8Array(101));
    sender.send(receiver.localAddress, new Uint8Array(1));
    sender.send(receiver.localAddress, new Uint8Array(100));
    await until(
      () => receiver.droppedCount + receiver.receivedCount === 3,
      "three datagrams",
    );
    assert.equal(delivered, 100);
    assert.equal(calls, 2);
    assert.equal(receiver.droppedCount, 1);
    assert.equal(receiver.handlerErrorCount, 1);
    assert.equal(receiver.receivedCount, 2);
  } finally {
    await sender.close();
    await receiver.close();
  }
});

Deno.test("DatagramTransport: bad sends are counted, never thrown; nothing is sent once closed", async () => {
  const transport = await DatagramTransport.bind();
  transport.send({ host: "127.0.0.1", port: 0 }, new Uint8Array(1));
  transport.send({ host: "127.0.0.1", port: 1.5 }, new Uint8Array(1));
  transport.send(transport.localAddress, new Uint8Array(65_508));
  assert.equal(transport.sendErrorCount, 3);
  const closing = transport.close();
  assert.equal(transport.close(), closing);
  await closing;
  transport.send({ host: "127.0.0.1", port: 9 }, new Uint8Array(1));
  assert.equal(transport.sentCount + transport.sendErrorCount, 3);
});

Deno.test("DatagramTransport: a taken port is an AddressInUseError; kernel figures are there on Linux", async () => {
  const first = await DatagramTransport.bind();
  try {
    await assert.rejects(
      DatagramTransport.bind({ port: first.localAddress.port }),
      AddressInUseError,
    );
    await assert.rejects(
      DatagramTransport.bind({ port: 70_000 }),
      RangeError,
    );
    if (Deno.build.os === "linux") {
      assert.equal(first.kernelStats().drops, 0);
    }
  } finally {
    await first.close();
  }
});

Deno.test("bindUdpTransport: DatagramTransport by default (FFI allowed or not), MmsgTransport when batched I/O is asked for, for IPv4 and IPv6", async () => {
  const batched = MmsgTransport.available("127.0.0.1");
  for (const host of ["127.0.0.1", "::1"]) {
    let plain: AnyUdpTransport;
    try {
      plain = await bindUdpTransport({ host });
    } catch {
      console.log(`no ${host} here: that case is not checked`);
      continue;
    }
    await plain.close();
    assert.ok(plain instanceof DatagramTransport, host);
    if (batched) {
      const fast = await bindUdpTransport({ host, batched: true });
      await fast.close();
      assert.ok(fast instanceof MmsgTransport, host);
    } else {
      console.log(
        "no FFI batching on this machine: the batched case is not checked",
      );
    }
  }
});

Deno.test("bindUdpTransport: with the permissions of `deno task run` (no FFI) it binds DatagramTransport, and refuses batched I/O with a typed error", async () => {
  // A child process run with the task's flags, which grant no FFI (`deno
  // eval` would grant everything).
  const url = new URL("../lib/io/datagram_transport.ts", import.meta.url);
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    `const { bindUdpTransport } = await import(${JSON.stringify(url.href)});
    const transport = await bindUdpTransport({ host: "127.0.0.1" });
    console.log(transport.constructor.name);
    await transport.close();
    const refused = await bindUdpTransport({ host: "127.0.0.1", batched: true })
      .then(async (t) => { await t.close(); return "bound"; },
        (error) => error.name + " " + error.code);
    console.log(refused);`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-net",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys=networkInterfaces",
      script,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output().finally(() => Deno.remove(script));
  assert.equal(
    new TextDecoder().decode(output.stdout).trim(),
    "DatagramTransport\nUdpBindError EBATCHUNAVAILABLE",
    new TextDecoder().decode(output.stderr),
  );
});

Deno.test('DatagramTransport on "::": an IPv4 peer is named by its IPv4 address, and answers reach it', async () => {
  let dual: DatagramTransport;
  try {
    dual = await DatagramTransport.bind({ host: "::", port: 0 });
  } catch {
    console.log("no dual-stack socket here: not checked");
    return;
  }
  const peer = await DatagramTransport.bind({ host: "127.0.0.1", port: 0 });
  try {
    const arrived = collect(dual, 1);
    peer.send(
      { host: "127.0.0.1", port: dual.localAddress.port },
      Uint8Array.of(1, 2),
    );
    const [[bytes, from]] = await arrived;
    assert.deepEqual([...bytes], [1, 2]);
    assert.deepEqual(from, { host: "127.0.0.1", port: peer.localAddress.port });
    const answered = collect(peer, 1);
    dual.send(from, Uint8Array.of(3));
    const [[answer]] = await answered;
    assert.deepEqual([...answer], [3]);
  } finally {
    await Promise.all([dual.close(), peer.close()]);
  }
});
