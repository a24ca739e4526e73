/**
 * DatagramStreams over real UDP sockets on 127.0.0.1 with the system clock
 * and cryptographic ids: 200 KB in order and a close both ways, then a
 * ConnectionManager link carrying a note. Every wait is bounded by
 * `within` or a 5 s poll; nothing asserts how long it took.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { StreamCloseReason } from "../lib/channel/byte_stream.ts";
import {
  ConnectionManager,
  endpointOf,
} from "../lib/channel/connection_manager.ts";
import { DatagramStreams } from "../lib/channel/datagram_streams.ts";
import { PunchDemux } from "../lib/channel/punch_demux.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { bindUdpTransport } from "../lib/io/datagram_transport.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { systemRandomBytes } from "../lib/io/system_random.ts";
import { within } from "./_within.ts";

/** Waits in 10 ms steps, at most 5 s, until `value()` is defined. */
async function until<T>(value: () => T | undefined, what: string): Promise<T> {
  for (let step = 0; step < 500; step++) {
    const found = value();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${what}: not within 5 s`);
}

async function end() {
  const socket = await bindUdpTransport({ host: "127.0.0.1" });
  const demux = new PunchDemux(socket);
  const streams = new DatagramStreams({
    socket,
    clock: systemClock,
    randomBytes: systemRandomBytes,
  });
  demux.onStream((bytes, from) => streams.handle(bytes, from));
  return { socket, streams };
}

Deno.test("DatagramStreams on loopback UDP: 200 KB arrive in order, close reaches the other end as 'remote'", async () => {
  const alice = await end();
  const bob = await end();
  try {
    const sent = new Uint8Array(200_000);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 31 + (i >> 9)) & 255;
    const received: number[] = [];
    let bobClosed: StreamCloseReason | undefined;
    const allArrived = within<void>(5_000, "200 KB over UDP", (done) => {
      bob.streams.listen(0, (stream) => {
        stream.onData((bytes) => {
          received.push(...bytes);
          if (received.length >= sent.length) done();
        });
        stream.onClose((reason) => bobClosed = reason);
      });
    });
    const stream = await alice.streams.connect(bob.socket.localAddress);
    for (let at = 0; at < sent.length; at += 50_000) {
      stream.write(sent.subarray(at, at + 50_000));
    }
    await allArrived;
    assert.equal(received.length, sent.length);
    assert.deepEqual(new Uint8Array(received), sent);
    stream.close();
    assert.equal(await until(() => bobClosed, "close"), "remote");
    assert.equal(alice.streams.counters.streamsFailed, 0);
  } finally {
    alice.streams.close();
    bob.streams.close();
    await alice.socket.close();
    await bob.socket.close();
  }
});

function device(name: string, streams: DatagramStreams) {
  const account = AccountKeys.generate(systemRandomBytes);
  const keys = DeviceKeys.generate(systemRandomBytes);
  const certificate = DeviceCertificate.issue(account, keys, {
    issuedMs: systemClock.now() - 60_000,
  });
  const notes: string[] = [];
  const manager = new ConnectionManager({
    identity: { device: keys, certificate },
    clock: systemClock,
    randomBytes: systemRandomBytes,
    streams,
    authorize: () => true,
    onChange: () => notes.push(name),
  });
  return { accountHex: account.id.toString(), certificate, manager };
}

Deno.test("DatagramStreams on loopback UDP: a ConnectionManager link comes up and carries a note", async () => {
  const aliceEnd = await end();
  const bobEnd = await end();
  const alice = device("alice", aliceEnd.streams);
  const bob = device("bob", bobEnd.streams);
  try {
    await alice.manager.start(0);
    const bobAddress = await bob.manager.start(0);
    bob.manager.publish(true, "over UDP");
    alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
    const note = await until(
      () => alice.manager.status(bob.accountHex).note,
      "note over UDP",
    );
    assert.equal(note, "over UDP");
    assert.equal(alice.manager.status(bob.accountHex).connected, true);
  } finally {
    alice.manager.stop();
    bob.manager.stop();
    aliceEnd.streams.close();
    bobEnd.streams.close();
    await aliceEnd.socket.close();
    await bobEnd.socket.close();
  }
});
