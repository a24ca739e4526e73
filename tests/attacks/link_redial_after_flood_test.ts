/**
 * Issue 18, item 2, "links are not redialled after a handshake flood": with
 * 512 silent connections held against both contacts for 20 s, from the
 * contacts' own address (all on loopback), each side's dial was refused
 * during the flood and never retried, so the link stayed down after the
 * flood ended. Now a dialled handshake that never opens is redialled with
 * backoff (`ConnectionManagerOptions.redialMs`, doubling up to 5 minutes):
 * the link comes up after the flood without any restart.
 *
 * In virtual time over the in-memory stream network.
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

const SILENT_CONNECTIONS = 512;
const FLOOD_MS = 20_000;
const REDIAL_MS = 5_000;
/** The documented cap of the doubling redial delay. */
const MAX_REDIAL_MS = 5 * 60_000;

function device(name: string, clock: ManualClock, streams: StreamNetwork) {
  const randomBytes = rngBytes(seededRng(name));
  const account = AccountKeys.generate(randomBytes);
  const keys = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, keys, {
    issuedMs: clock.now(),
  });
  const contacts = new Set<string>();
  const manager = new ConnectionManager({
    identity: { device: keys, certificate },
    clock,
    randomBytes,
    streams,
    redialMs: REDIAL_MS,
    authorize: (peer) => contacts.has(peer.accountId.toString()),
    onChange: () => {},
  });
  return { accountHex: account.id.toString(), certificate, manager, contacts };
}

async function run(clock: ManualClock, ms: number, stepMs = 50) {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

/** Silent connections to `to` from `host`, reopened when closed, until `end()`. */
function flood(host: StreamNetwork, to: PeerAddress, count: number) {
  const open = new Set<ByteStream>();
  let ended = false;
  let opened = 0;
  const connect = (): void => {
    if (ended) return;
    opened += 1;
    host.connect(to).then((stream) => {
      if (ended) return stream.close();
      open.add(stream);
      stream.onData(() => {});
      stream.onClose(() => {
        open.delete(stream);
        connect();
      });
    }, () => {});
  };
  for (let i = 0; i < count; i++) connect();
  return {
    get opened() {
      return opened;
    },
    end() {
      ended = true;
      for (const stream of [...open]) stream.close();
    },
  };
}

Deno.test("attack: a link refused during a handshake flood on both sides comes up after it, by redial, without a restart", async () => {
  const clock = new ManualClock(1_000_000);
  const network = memoryStreamNetwork();
  // Everything on one address per side, as on loopback: the flood shares
  // the contacts' origin, so their own handshakes hit its per-origin cap.
  const aliceHost = network.host("127.0.0.1");
  const bobHost = network.host("127.0.0.2");
  const alice = device("alice", clock, aliceHost);
  const bob = device("bob", clock, bobHost);
  alice.contacts.add(bob.accountHex);
  bob.contacts.add(alice.accountHex);
  const aliceAddress = await alice.manager.start(0);
  const bobAddress = await bob.manager.start(0);

  const floods = [
    flood(network.host("127.0.0.1"), bobAddress, SILENT_CONNECTIONS),
    flood(network.host("127.0.0.2"), aliceAddress, SILENT_CONNECTIONS),
  ];
  await run(clock, 200);
  alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
  bob.manager.connect(alice.certificate, [endpointOf(aliceAddress)]);
  await run(clock, FLOOD_MS);
  for (const f of floods) assert.ok(f.opened >= SILENT_CONNECTIONS);
  // The flood kept the link down.
  assert.equal(alice.manager.status(bob.accountHex).connected, false);
  assert.equal(bob.manager.status(alice.accountHex).connected, false);

  for (const f of floods) f.end();
  // Without a restart or a new connect(): the redial brings it up, within
  // the longest redial delay.
  let waitedMs = 0;
  while (
    !alice.manager.status(bob.accountHex).connected && waitedMs < MAX_REDIAL_MS
  ) {
    await run(clock, 1_000);
    waitedMs += 1_000;
  }
  assert.equal(alice.manager.status(bob.accountHex).connected, true);
  assert.equal(bob.manager.status(alice.accountHex).connected, true);
  assert.deepEqual(alice.manager.linkedDevices(bob.accountHex), [
    bob.certificate.deviceId.toString(),
  ]);
  console.log(`link up ${waitedMs} ms (virtual) after the flood ended`);
  alice.manager.stop();
  bob.manager.stop();
});
