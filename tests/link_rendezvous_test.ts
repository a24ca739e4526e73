/**
 * `LinkRendezvous` alone, on a fake DHT and socket: when a device offers its
 * link candidates to a wanted contact device.
 */
import assert from "node:assert/strict";
import { LinkRendezvous } from "../lib/channel/link_rendezvous.ts";
import type { PunchedPaths } from "../lib/channel/link_socket.ts";
import type { DhtClient, ListenHandle } from "../lib/dht/dht_client.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { memoryStreamNetwork } from "../lib/testing/memory_stream_network.ts";

function setup(behindNat: () => boolean | undefined) {
  const clock = new ManualClock(1_700_000_000_000);
  const randomBytes = rngBytes(seededRng(3));
  const device = (account: AccountKeys) => {
    const keys = DeviceKeys.generate(randomBytes);
    return {
      device: keys,
      certificate: DeviceCertificate.issue(account, keys, {
        issuedMs: clock.now(),
      }),
    };
  };
  const self = device(AccountKeys.generate(randomBytes));
  const contact = device(AccountKeys.generate(randomBytes));
  const puts: string[] = [];
  const handle: ListenHandle = {
    cancel() {},
    relocate() {},
    check() {},
  } as unknown as ListenHandle;
  const dht = {
    get: () => ({ cancel() {} }),
    put: (key: { toString(): string }) => {
      puts.push(key.toString());
      return { cancel() {} };
    },
    putPermanent: () => ({ cancel() {}, replace() {} }),
    listen: () => handle,
  } as unknown as DhtClient;
  const paths: PunchedPaths = {
    streams: memoryStreamNetwork().host("self"),
    candidates: () => [{ host: "203.0.113.7", port: 4222 }],
    behindNat,
    punch: () => true,
    expect() {},
    close() {},
  };
  const contactHex = contact.certificate.deviceId.toString();
  const rendezvous = new LinkRendezvous({
    dht,
    clock,
    randomBytes,
    identity: self,
    paths,
    wanted: (hex) => hex === contactHex ? contact.certificate : undefined,
    linked: () => false,
    authorize: () => true,
    onPunched() {},
  });
  rendezvous.start();
  return { clock, rendezvous, contact, puts };
}

Deno.test("a device behind a NAT offers its candidates at once to a wanted contact device", () => {
  const { rendezvous, contact, puts, clock } = setup(() => true);
  rendezvous.want(contact.certificate);
  clock.advance(0);
  assert.equal(rendezvous.counters.offersSent, 1);
  assert.equal(puts.length, 1);
});

Deno.test("a reachable device does not offer on want, and after a failed dial only after a minute", () => {
  const { rendezvous, contact, puts, clock } = setup(() => false);
  rendezvous.want(contact.certificate);
  rendezvous.dialFailed(contact.certificate);
  clock.advance(59_000);
  assert.equal(puts.length, 0);
  // Dials failing again meanwhile do not postpone or multiply the offer.
  rendezvous.dialFailed(contact.certificate);
  clock.advance(1_000);
  assert.equal(rendezvous.counters.offersSent, 1);
  assert.equal(puts.length, 1);
});

Deno.test("a device that does not know its public address yet offers once it learns it is behind a NAT", () => {
  let behindNat: boolean | undefined = undefined;
  const { rendezvous, contact, puts, clock } = setup(() => behindNat);
  rendezvous.want(contact.certificate);
  clock.advance(2_000);
  assert.equal(puts.length, 0);
  behindNat = true;
  clock.advance(500);
  assert.equal(puts.length, 1);
});
