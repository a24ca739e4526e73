/**
 * `LinkRendezvous` alone, on a fake DHT and socket: when a device offers its
 * link candidates to a wanted contact device.
 */
import assert from "node:assert/strict";
import {
  LINK_CANDIDATES_VALUE_TYPE,
  linkKeyOf,
  LinkRendezvous,
} from "../lib/channel/link_rendezvous.ts";
import { sealLinkCandidates } from "../lib/channel/link_candidates.ts";
import type { ListenEvent } from "../lib/dht/dht_client.ts";
import type { PunchedPaths } from "../lib/channel/link_socket.ts";
import type { HolePunchResult } from "../lib/channel/hole_punch.ts";
import type { DhtClient, ListenHandle } from "../lib/dht/dht_client.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { memoryStreamNetwork } from "../lib/testing/memory_stream_network.ts";

function setup(behindNat: () => boolean | undefined, contactCount = 1) {
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
  const contacts = Array.from(
    { length: contactCount },
    () => device(AccountKeys.generate(randomBytes)),
  );
  const contact = contacts[0];
  const puts: string[] = [];
  const prepared: string[] = [];
  let onListen: ((event: ListenEvent) => void) | undefined;
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
    prepare: (key: { toString(): string }) => prepared.push(key.toString()),
    putPermanent: () => ({ cancel() {}, replace() {} }),
    listen: (_key: unknown, callback: (event: ListenEvent) => void) => {
      onListen = callback;
      return handle;
    },
  } as unknown as DhtClient;
  const paths: PunchedPaths = {
    streams: memoryStreamNetwork().host("self"),
    candidates: () => [{ host: "203.0.113.7", port: 4222 }],
    behindNat,
    punch: (options) => {
      punches.push(options.candidates[0].host);
      return true;
    },
    expect() {},
    close() {},
  };
  const wanted = new Set([contact.certificate.deviceId.toString()]);
  const punches: string[] = [];
  const rendezvous = new LinkRendezvous({
    dht,
    clock,
    randomBytes,
    identity: self,
    paths,
    wanted: (hex) =>
      wanted.has(hex)
        ? contacts.find((c) => c.certificate.deviceId.toString() === hex)
          ?.certificate
        : undefined,
    linked: () => false,
    authorize: () => true,
    onPunched() {},
  });
  rendezvous.start();
  let nextId = 1n;
  /** Each contact puts an offer (a fresh token) at our link key. */
  const offerFrom = (from: typeof contacts) => {
    const now = Math.floor(clock.now());
    onListen?.({
      kind: "added",
      values: from.map((c, i) => ({
        id: nextId++,
        type: LINK_CANDIDATES_VALUE_TYPE,
        data: sealLinkCandidates({
          issuedMs: now,
          expiresMs: now + 20_000,
          token: randomBytes(16),
          candidates: [{ host: `198.51.100.${i + 1}`, port: 4222 }],
        }, { sender: c, recipient: self.certificate, randomBytes }),
      })),
    } as ListenEvent);
  };
  return {
    clock,
    rendezvous,
    contact,
    contacts,
    puts,
    prepared,
    punches,
    offerFrom,
    want: (c: (typeof contacts)[number]) => {
      wanted.add(c.certificate.deviceId.toString());
      rendezvous.want(c.certificate);
    },
  };
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

Deno.test("offers from many contacts that beat their announcements are all answered once each is wanted", () => {
  // A device that starts gets an offer from every online contact before it
  // has seen any of them online: 40 here, more than the 16 sets once held.
  const {
    rendezvous,
    contacts,
    puts,
    prepared,
    punches,
    offerFrom,
    want,
    clock,
  } = setup(() => true, 40);
  const others = contacts.slice(1);
  offerFrom(others);
  clock.advance(100);
  assert.equal(puts.length, 0, "nothing answered before the device is wanted");
  assert.equal(punches.length, 0, "nothing probed before the device is wanted");
  // The answers' lookups are made ahead, one per held set (no put yet).
  assert.deepEqual(
    prepared.toSorted(),
    others.map((c) => linkKeyOf(c.certificate.deviceId.toString()).toString())
      .toSorted(),
  );
  for (const c of others) want(c);
  clock.advance(0);
  // Every held offer is answered (one put each, none of our own offers) and
  // punched towards its sender's candidate.
  assert.equal(rendezvous.counters.answersSent, others.length);
  assert.equal(rendezvous.counters.offersSent, 0);
  assert.equal(puts.length, others.length);
  assert.deepEqual(
    punches.toSorted(),
    others.map((_, i) => `198.51.100.${i + 1}`).toSorted(),
  );
});

/**
 * Two rendezvous on one fake DHT (a put reaches the listener at its key 50
 * ms later); punches are recorded by token. `authorizes` says whether each
 * side takes the other for a contact.
 */
function pair() {
  const clock = new ManualClock(1_700_000_000_000);
  const randomBytes = rngBytes(seededRng(5));
  const listeners = new Map<string, (event: ListenEvent) => void>();
  const dht = {
    get: () => ({ cancel() {} }),
    put: (key: { toString(): string }, value: unknown) => {
      clock.setTimer(50, () =>
        listeners.get(key.toString())?.({
          kind: "added",
          values: [value],
        } as ListenEvent));
      return { cancel() {} };
    },
    prepare() {},
    putPermanent: () => ({ cancel() {}, replace() {} }),
    listen: (
      key: { toString(): string },
      callback: (e: ListenEvent) => void,
    ) => {
      listeners.set(key.toString(), callback);
      return { cancel() {} } as unknown as ListenHandle;
    },
  } as unknown as DhtClient;
  const side = (host: string) => {
    const keys = DeviceKeys.generate(randomBytes);
    const certificate = DeviceCertificate.issue(
      AccountKeys.generate(randomBytes),
      keys,
      { issuedMs: clock.now() },
    );
    return {
      identity: { device: keys, certificate },
      host,
      authorizes: false,
      wanted: false,
      /** Tokens (hex) of the punches started. */
      punchTokens: new Set<string>(),
      /** The running punches' result callbacks. */
      results: [] as ((result: HolePunchResult) => void)[],
      rendezvous: undefined as LinkRendezvous | undefined,
    };
  };
  const a = side("198.51.100.2");
  const b = side("192.0.2.2");
  for (const [self, other] of [[a, b], [b, a]] as const) {
    const paths: PunchedPaths = {
      streams: memoryStreamNetwork().host(self.host),
      candidates: () => [{ host: self.host, port: 4222 }],
      behindNat: () => true,
      punch: (options, onResult) => {
        self.punchTokens.add(options.token.toHex());
        self.results.push(onResult);
        return true;
      },
      expect() {},
      close() {},
    };
    self.rendezvous = new LinkRendezvous({
      dht,
      clock,
      randomBytes,
      identity: self.identity,
      paths,
      wanted: () => self.wanted ? other.identity.certificate : undefined,
      linked: () => false,
      authorize: () => self.authorizes,
      onPunched() {},
    });
    self.rendezvous.start();
  }
  return { clock, a, b };
}

Deno.test("an offer dropped before its recipient accepted us: its crossing offer is answered after a second without a punch, and both punch with one token", () => {
  // What every accepted trust request did through real NATs: A (who sent
  // the request) sees B online and offers; B has not accepted yet, so A's
  // set is a stranger's and dropped. B accepts, sees A and offers; A,
  // whose offer is still out, took that for crossing offers and only
  // punched, while B waited 5 s for an answer.
  const { clock, a, b } = pair();
  a.authorizes = true;
  a.wanted = true;
  a.rendezvous!.want(b.identity.certificate);
  clock.advance(100);
  assert.equal(b.rendezvous!.counters.strangers, 1);
  b.authorizes = true;
  b.wanted = true;
  b.rendezvous!.want(a.identity.certificate);
  clock.advance(200);
  assert.equal(b.punchTokens.size, 0, "B waits for an answer");
  assert.equal(a.rendezvous!.counters.answersSent, 0);
  clock.advance(1_000);
  assert.equal(a.rendezvous!.counters.answersSent, 1);
  const shared = [...a.punchTokens].filter((t) => b.punchTokens.has(t));
  assert.equal(shared.length, 1, "both sides punch with B's token");
  // Well before B's answer timeout (5 s): no second offer.
  assert.equal(b.rendezvous!.counters.offersSent, 1);
});

Deno.test("crossing offers both received: both punch with both tokens, and no answer is put once a punch succeeded", () => {
  const { clock, a, b } = pair();
  for (const side of [a, b]) {
    side.authorizes = true;
    side.wanted = true;
  }
  a.rendezvous!.want(b.identity.certificate);
  b.rendezvous!.want(a.identity.certificate);
  clock.advance(500);
  assert.equal(a.rendezvous!.counters.offersSent, 1);
  assert.equal(b.rendezvous!.counters.offersSent, 1);
  assert.equal(a.punchTokens.size, 2);
  assert.deepEqual(
    [...a.punchTokens].toSorted(),
    [...b.punchTokens].toSorted(),
  );
  for (const side of [a, b]) {
    side.results[0]({
      kind: "punched",
      address: { host: "192.0.2.9", port: 4222 },
      atMs: clock.now(),
    });
  }
  clock.advance(2_000);
  assert.equal(a.rendezvous!.counters.answersSent, 0);
  assert.equal(b.rendezvous!.counters.answersSent, 0);
});
