/**
 * Issue 13, item 11 (link handshake DoS), part (a): silent TCP connections
 * to a device's link port must not keep a genuine contact from linking.
 *
 * Mallory opens 512 connections to Bob's link port and never sends a byte;
 * whenever Bob closes one, she opens another. Then Alice, Bob's contact,
 * dials in. Before the fix every accepted stream took one of the 512 link
 * slots until its handshake timed out, so Alice was refused. Now accepted
 * handshakes are capped per origin, and slots are kept for known contact
 * addresses, so Alice's link comes up. And an address that reconnects at
 * once after each refusal gets at most 30 handshakes checked a minute.
 */
import assert from "node:assert/strict";
import {
  ConnectionManager,
  endpointOf,
} from "../../lib/channel/connection_manager.ts";
import type {
  ByteStream,
  StreamNetwork,
} from "../../lib/channel/byte_stream.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { memoryStreamNetwork } from "../../lib/testing/memory_stream_network.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import type { PeerAddress } from "../../lib/transport.ts";
import { initiatorFlight } from "../_link_helpers.ts";

const SILENT_CONNECTIONS = 512;

function device(name: string, clock: ManualClock, streams: StreamNetwork) {
  const randomBytes = rngBytes(seededRng(name));
  const account = AccountKeys.generate(randomBytes);
  const keys = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, keys, {
    issuedMs: clock.now(),
  });
  const contacts = new Set<string>();
  /** Calls of `authorize`: the screen before the signature checks, and after them. */
  const checks = { count: 0 };
  const manager = new ConnectionManager({
    identity: { device: keys, certificate },
    clock,
    randomBytes,
    streams,
    authorize: (peer) => {
      checks.count += 1;
      return contacts.has(peer.accountId.toString());
    },
    onChange: () => {},
  });
  return {
    accountHex: account.id.toString(),
    certificate,
    manager,
    contacts,
    checks,
  };
}

async function run(clock: ManualClock, ms: number, stepMs = 50) {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

/**
 * Keeps `count` silent connections open to `to`, spread over `hosts`,
 * reopening each one Bob closes (at most `budget` opens in all).
 */
function flood(
  hosts: StreamNetwork[],
  to: PeerAddress,
  count: number,
  budget: number,
) {
  const stats = { opened: 0, closedByVictim: 0 };
  const open = (index: number): void => {
    if (stats.opened >= budget) return;
    stats.opened += 1;
    hosts[index % hosts.length].connect(to).then((stream: ByteStream) => {
      stream.onData(() => {});
      stream.onClose(() => {
        stats.closedByVictim += 1;
        open(index);
      });
    }, () => {});
  };
  for (let index = 0; index < count; index++) open(index);
  return stats;
}

for (
  const [label, origins, knownAddress, names] of [
    ["one address", 1, false, { alice: "alice", mallory: "mallory" }],
    ["512 addresses", SILENT_CONNECTIONS, true, {
      alice: "alice",
      mallory: "mallory",
    }],
    // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses:
    // each is still its own origin, not one shared /64.
    ["one IPv4 address seen as IPv4-mapped IPv6", 1, false, {
      alice: "::ffff:198.51.100.2",
      mallory: "::ffff:198.51.100.1",
    }],
  ] as const
) {
  Deno.test(`link handshake flood: 512 silent connections from ${label}, then a contact links`, async () => {
    const clock = new ManualClock(1_000_000);
    const network = memoryStreamNetwork();
    const alice = device("alice", clock, network.host(names.alice));
    const bob = device("bob", clock, network.host("bob"));
    alice.contacts.add(bob.accountHex);
    bob.contacts.add(alice.accountHex);
    const bobAddress = await bob.manager.start(0);
    await alice.manager.start(0);
    if (knownAddress) {
      // Bob knows where Alice announced herself, but cannot reach her
      // there (behind NAT): the link has to come from her side.
      bob.manager.connect(alice.certificate, [`${names.alice}:9`]);
    }

    const hosts = Array.from(
      { length: origins },
      (_, index) =>
        network.host(origins === 1 ? names.mallory : `mallory-${index}`),
    );
    const stats = flood(hosts, bobAddress, SILENT_CONNECTIONS, 20_000);
    await run(clock, 200);
    assert.ok(stats.opened >= SILENT_CONNECTIONS);

    alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
    await run(clock, 2_000);
    assert.deepEqual(alice.manager.linkedDevices(bob.accountHex), [
      bob.certificate.deviceId.toString(),
    ]);
    assert.equal(alice.manager.status(bob.accountHex).connected, true);
    assert.equal(bob.manager.status(alice.accountHex).connected, true);
    assert.equal(alice.manager.counters.dialFailures, 0);
    alice.manager.stop();
    bob.manager.stop();
  });
}

Deno.test("link handshake flood: rapid reconnects from one address posing as a contact cost at most 30 handshakes a minute", async () => {
  const clock = new ManualClock(1_000_000);
  const network = memoryStreamNetwork();
  const alice = device("alice", clock, network.host("alice"));
  const bob = device("bob", clock, network.host("bob"));
  bob.contacts.add(alice.accountHex);
  alice.contacts.add(bob.accountHex);
  const bobAddress = await bob.manager.start(0);
  await alice.manager.start(0);

  // Mallory shows Alice's public certificate with her own signature: it
  // passes the contact screen, so each attempt costs Bob a key agreement
  // and a signature check before he refuses it. She reconnects at once.
  const randomBytes = rngBytes(seededRng("mallory"));
  const mallory = DeviceKeys.generate(randomBytes);
  const flight = () => {
    const { hello, auth } = initiatorFlight(
      randomBytes,
      bob.certificate.encryptionKey,
      alice.certificate.bytes,
      mallory,
    );
    return [hello, auth];
  };
  const attempt = async () => {
    const stream = await network.host("mallory").connect(bobAddress);
    for (const bytes of flight()) stream.write(bytes);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    stream.close();
  };
  for (let i = 0; i < 200; i++) await attempt();
  await run(clock, 100);
  assert.ok(bob.checks.count > 0);
  assert.ok(bob.checks.count <= 30, `${bob.checks.count} handshakes checked`);
  assert.equal(bob.manager.status(alice.accountHex).connected, false);

  // A minute later Mallory's origin may try again; Alice links meanwhile.
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  await run(clock, 2_000);
  assert.equal(alice.manager.status(bob.accountHex).connected, true);
  await run(clock, 60_000, 1_000);
  const before = bob.checks.count;
  await attempt();
  await run(clock, 100);
  assert.ok(bob.checks.count > before);
  alice.manager.stop();
  bob.manager.stop();
});
