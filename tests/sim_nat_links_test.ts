/**
 * Status 2 through NATs, real daemons on the simulator (virtual time): two
 * devices behind endpoint-independent NATs exchange candidates through the
 * DHT, punch a hole from their DHT sockets and link over UDP; a crash is
 * seen through the link's keepalive; symmetric NATs on both sides stay at
 * status 1 and skip the punch; a stranger's candidates are never answered.
 */
import assert from "node:assert/strict";
import { DaemonSwarm, type DeviceSlot } from "../sim/daemon_swarm.ts";
import { parseNatSpec } from "../sim/nat_spec.ts";
import { runUntil } from "./_daemon_swarm_helpers.ts";
import { linkKeyOf } from "../lib/channel/link_rendezvous.ts";
import { sealLinkCandidates } from "../lib/channel/link_candidates.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";

const SECOND = 1_000;

/** Alice and Bob, contacts subscribed to each other, both behind `nat`. */
async function friendsBehind(seed: string, nat: string) {
  const swarm = await DaemonSwarm.create({
    seed,
    infraNodes: 30,
    nat: parseNatSpec(nat),
  });
  const alice = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await swarm.createAccount(alice);
  const b = await swarm.createAccount(bob);
  swarm.start(alice);
  swarm.start(bob);
  await swarm.run(5 * SECOND);
  await alice.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  const statusOf = (slot: DeviceSlot, self: string) => () =>
    slot.daemon!.presence.getSubscriptions(self)[0] ??
      { status: 0, lineStatus: "" };
  return {
    swarm,
    alice,
    bob,
    a,
    b,
    aliceSees: statusOf(alice, a),
    bobSees: statusOf(bob, b),
    subscribe: () => {
      alice.daemon!.presence.subscribeBuddy(a, b, true);
      bob.daemon!.presence.subscribeBuddy(b, a, true);
    },
  };
}

Deno.test("behind eim-prf NATs: status 2 over a punched UDP path, the note travels, a crash is seen by the keepalive", async () => {
  const f = await friendsBehind("nat-link", "eim-prf:1");
  const { swarm, alice, bob, a, b } = f;
  assert.ok(swarm.network.natOf(alice.index) !== undefined);
  assert.ok(swarm.network.natOf(bob.index) !== undefined);
  bob.daemon!.presence.publish(b, 1, "behind a router");
  f.subscribe();
  const took = await runUntil(swarm, () => f.aliceSees().status === 2, 20_000);
  await runUntil(swarm, () => f.bobSees().status === 2, 5_000, 10);
  assert.equal(f.aliceSees().lineStatus, "behind a router");
  const counters = alice.daemon!.account(a).linkCounters;
  assert.equal(counters.punchedLinksOpened, 1);
  assert.equal(counters.linksOpened, 1);
  assert.ok(took <= 5 * SECOND, `status 2 after ${took} ms`);
  // Idle: keepalives hold the link and the NAT mappings.
  await swarm.run(60 * SECOND);
  assert.equal(f.aliceSees().status, 2);
  assert.equal(alice.daemon!.account(a).linkCounters.linksClosed, 0);
  swarm.crash(bob);
  const lost = await runUntil(
    swarm,
    () => f.aliceSees().status < 2,
    15_000,
    50,
  );
  assert.ok(lost <= 10 * SECOND, `link loss seen after ${lost} ms`);
  swarm.shutdown();
});

Deno.test("behind symmetric NATs on both sides: status 1, no link, no error", async () => {
  const f = await friendsBehind("nat-symmetric", "symmetric:1");
  const { swarm, alice, a } = f;
  f.subscribe();
  await runUntil(swarm, () => f.aliceSees().status === 1, 20_000);
  await swarm.run(60 * SECOND);
  assert.equal(f.aliceSees().status, 1);
  const rendezvous = alice.daemon!.account(a).rendezvousCounters!;
  assert.ok(rendezvous.offersSent > 0, JSON.stringify(rendezvous));
  // Both know their NATs rule a punch out (tests/sim_symmetric_links_test.ts).
  assert.ok(rendezvous.skipped > 0, JSON.stringify(rendezvous));
  assert.equal(alice.daemon!.account(a).linkCounters.linksOpened, 0);
  swarm.shutdown();
});

Deno.test("a stranger's candidate set at our link key is never answered nor probed", async () => {
  const f = await friendsBehind("nat-stranger", "eim-prf:1");
  const { swarm, alice, a } = f;
  // The attacker: a public host with a DHT-valid device certificate of an
  // account Alice does not know, putting candidates at Alice's link key
  // that point at a victim.
  const attacker = swarm.network.attach();
  const victim = swarm.network.attach();
  const victimHits: PeerAddress[] = [];
  victim.receive((_bytes, from) => victimHits.push(from));
  const random = rngBytes(seededRng("attacker"));
  const keys = DeviceKeys.generate(random);
  const certificate = DeviceCertificate.issue(
    AccountKeys.generate(random),
    keys,
    { issuedMs: Math.floor(swarm.clock.now()) },
  );
  const aliceAccount = alice.daemon!.account(a);
  const aliceCertificate = aliceAccount.identity.certificate;
  const now = Math.floor(swarm.clock.now());
  const sealed = sealLinkCandidates({
    issuedMs: now,
    expiresMs: now + 60_000,
    token: random(16),
    candidates: [victim.localAddress],
  }, {
    sender: { device: keys, certificate },
    recipient: aliceCertificate,
    randomBytes: random,
  });
  const key = linkKeyOf(aliceAccount.deviceId);
  let answers = 0;
  alice.daemon!.dht.listen(linkKeyOf(certificate.deviceId.toString()), (e) => {
    if (e.kind === "added") answers += e.values.length;
  });
  const before = { ...aliceAccount.rendezvousCounters! };
  // The attacker puts through a DHT node of the swarm (any node will do).
  swarm.testnet.nodes[0].put(key, { id: 77n, type: 5, data: sealed });
  await swarm.run(15 * SECOND);
  const after = aliceAccount.rendezvousCounters!;
  assert.equal(after.strangers, before.strangers + 1);
  assert.equal(after.answersSent, before.answersSent);
  assert.equal(answers, 0);
  assert.deepEqual(victimHits, []);
  void attacker;
  swarm.shutdown();
});

Deno.test("links through NATs replay exactly: same seed, same times and counters", async () => {
  const once = async () => {
    const f = await friendsBehind("nat-replay", "eim-prf:1");
    f.subscribe();
    const took = await runUntil(
      f.swarm,
      () => f.aliceSees().status === 2,
      20_000,
      10,
    );
    await f.swarm.run(5 * SECOND);
    const trace = JSON.stringify({
      took,
      now: f.swarm.clock.now(),
      alice: f.alice.daemon!.account(f.a).rendezvousCounters,
      bob: f.bob.daemon!.account(f.b).rendezvousCounters,
      sockets: [
        f.alice.daemon!.linkSocketCounters,
        f.bob.daemon!.linkSocketCounters,
      ],
      bytes: f.swarm.deviceBytes([f.alice, f.bob]),
    });
    f.swarm.shutdown();
    return trace;
  };
  assert.equal(await once(), await once());
});
