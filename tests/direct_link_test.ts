/**
 * Status 2 between real daemons on the simulator: direct links over
 * simulated TCP, notes as PIDF over SIP, link loss, bans, revocations and
 * peers that are not contacts.
 */
import assert from "node:assert/strict";
import { type EventLog, pair, runUntil } from "./_daemon_swarm_helpers.ts";
import { DaemonSwarm } from "../sim/daemon_swarm.ts";
import type { DeviceSlot } from "../sim/daemon_swarm.ts";
import { ENDPOINT_SAVE_DELAY_MS } from "../lib/daemon/account.ts";

const SECOND = 1_000;

/** A pair of accounts that are each other's contacts and subscribed. */
async function friends(seed: string) {
  const p = await pair(seed);
  const { alice, bob, a, b } = p;
  await alice.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  const statusOf = (slot: DeviceSlot, self: string) => () =>
    slot.daemon!.presence.getSubscriptions(self)[0];
  return { ...p, aliceSees: statusOf(alice, a), bobSees: statusOf(bob, b) };
}

/** Every datagram to and from `slot` is lost from now on (streams still work). */
function loseDatagrams(swarm: DaemonSwarm, slot: DeviceSlot): void {
  const network = swarm.network;
  for (let host = 0; host < network.hostCount; host++) {
    if (host === slot.index) continue;
    network.setLinkLoss(slot.index, host, 1);
    network.setLinkLoss(host, slot.index, 1);
  }
}

function statuses(log: EventLog): number[] {
  return log.of("newBuddyNotification").map((event) => event.detail.status);
}

Deno.test("Contacts go 0 → 1 → 2, the note travels as PIDF, an update arrives within a second", async () => {
  const { swarm, bob, b, aliceLog, aliceSees, bobSees } = await friends(
    "link-up",
  );
  bob.daemon!.presence.publish(b, 1, "at my desk");
  const took = await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  assert.ok(took < 3 * SECOND, `status 2 after ${took} ms`);
  await runUntil(swarm, () => bobSees().status === 2, 1_000, 10);
  assert.equal(aliceSees().lineStatus, "at my desk");
  assert.deepEqual(statuses(aliceLog).slice(0, 2), [1, 2]);
  bob.daemon!.presence.publish(b, 1, "in a meeting");
  const noteTook = await runUntil(
    swarm,
    () => aliceSees().lineStatus === "in a meeting",
    5 * SECOND,
    10,
  );
  assert.ok(noteTook <= SECOND, `note after ${noteTook} ms`);
  assert.equal(aliceSees().status, 2);
  swarm.shutdown();
});

Deno.test("A crash ends status 2 within 10 s (keepalive), then the DHT takes it to 0", async () => {
  const { swarm, alice, bob, a, b, aliceSees } = await friends("link-crash");
  await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  const bobDevice = bob.daemon!.account(b).deviceId;
  assert.deepEqual(
    alice.daemon!.presence.getDevices(a, b).map((d) => [d.device, d.connected]),
    [[bobDevice, true]],
  );
  await swarm.run(20 * SECOND); // idle: keepalives hold the link
  assert.equal(aliceSees().status, 2);
  swarm.crash(bob);
  const lost = await runUntil(swarm, () => aliceSees().status < 2, 15_000, 50);
  assert.ok(lost <= 10 * SECOND, `link loss seen after ${lost} ms`);
  // Keepalive 7 s, dead after 9.5 s: at least 2.5 s minus a round trip.
  assert.ok(lost >= 2 * SECOND, `link loss after ${lost} ms: too soon`);
  const offline = await runUntil(swarm, () => aliceSees().status === 0, 40_000);
  assert.ok(lost + offline <= 30 * SECOND);
  swarm.shutdown();
});

Deno.test("A clean stop takes status 2 to 0 at once", async () => {
  const { swarm, bob, aliceSees, aliceLog } = await friends("link-stop");
  await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  const start = swarm.clock.now();
  let seenZeroAt = -1;
  let stopped = false;
  swarm.stop(bob).then(() => stopped = true);
  while (
    (!stopped || seenZeroAt < 0) && swarm.clock.now() - start < 10_000
  ) {
    await swarm.run(20, 20);
    if (seenZeroAt < 0 && aliceSees().status === 0) {
      seenZeroAt = swarm.clock.now() - start;
    }
  }
  assert.ok(seenZeroAt >= 0 && seenZeroAt < 2 * SECOND, `${seenZeroAt} ms`);
  // Links close after the goodbye is stored: straight from 2 to 0.
  assert.deepEqual(statuses(aliceLog).slice(-2), [2, 0]);
  swarm.shutdown();
});

Deno.test("A restarted device dials its contacts where they announced last: status 2 with no DHT at all", async () => {
  const { swarm, bob, b, aliceSees, aliceLog } = await friends("link-resume");
  await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  // Bob saves Alice's endpoint a while after he learned it.
  await swarm.run(ENDPOINT_SAVE_DELAY_MS + SECOND, 100);
  swarm.crash(bob);
  await runUntil(swarm, () => aliceSees().status === 0, 60_000);
  // Bob comes back with every datagram lost both ways: his DHT node hears
  // nothing and announces nowhere, so only a direct dial can link.
  loseDatagrams(swarm, bob);
  void swarm.restart(bob);
  const took = await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  // One connect and one handshake (three round trips at most), no DHT.
  assert.ok(took < 2 * SECOND, `status 2 after ${took} ms`);
  assert.equal(bob.daemon!.account(b).linkCounters.resumeDials, 1);
  assert.deepEqual(statuses(aliceLog).slice(-2), [0, 2]);
  swarm.shutdown();
});

Deno.test("A restarted device listens on the port of its last run: a contact that was away links to it from memory", async () => {
  const { swarm, alice, bob, a, b, aliceSees, bobSees } = await friends(
    "link-port",
  );
  await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  await runUntil(swarm, () => bobSees().status === 2, 10_000);
  await swarm.run(ENDPOINT_SAVE_DELAY_MS + SECOND, 100);
  const port = bob.daemon!.account(b).state.linkPort;
  assert.ok(port !== undefined && port > 0);
  // Alice goes away; Bob restarts meanwhile (the DHT works for him).
  swarm.crash(alice);
  swarm.crash(bob);
  void swarm.restart(bob);
  await swarm.run(5 * SECOND, 100);
  assert.equal(bob.daemon!.account(b).state.linkPort, port);
  // Alice comes back with no DHT at all: only her memory of Bob's endpoint.
  loseDatagrams(swarm, alice);
  void swarm.restart(alice);
  await runUntil(
    swarm,
    () => alice.daemon!.account(a).linkCounters.linksOpened > 0,
    2 * SECOND,
  );
  assert.equal(alice.daemon!.account(a).linkCounters.resumeDials, 1);
  swarm.shutdown();
});

Deno.test("Status 2 holds while the link is up even when the DHT records lapse", async () => {
  const { swarm, bob, aliceSees } = await friends("link-holds");
  await runUntil(swarm, () => aliceSees().status === 2, 10_000);
  // Bob's datagrams are all lost from now on: his announcement expires on
  // the DHT, but the direct link (a stream) still carries keepalives.
  const network = swarm.network;
  for (let host = 0; host < network.hostCount; host++) {
    if (host !== bob.index) network.setLinkLoss(bob.index, host, 1);
  }
  await swarm.run(90 * SECOND, 500);
  assert.equal(aliceSees().status, 2);
  swarm.shutdown();
});

Deno.test("Banning a linked contact closes the link and refuses its redials", async () => {
  const { swarm, alice, bob, a, b, bobSees } = await friends("link-ban");
  await runUntil(swarm, () => bobSees().status === 2, 10_000);
  // When both sides' first dials crossed, the link the lower id dialled
  // replaces the first one up (status stays 2): let that settle.
  await swarm.run(3 * SECOND, 100);
  // PIDF documents Bob had before the ban: one per link that came up.
  const pidfBefore = bob.daemon!.account(b).linkCounters.pidfReceived;
  await alice.daemon!.config.removeContact(a, b, true);
  await runUntil(swarm, () => bobSees().status < 2, 2_000, 20);
  const refusedBefore = alice.daemon!.account(a).linkCounters.refused;
  await swarm.run(60 * SECOND, 200);
  // Bob still sees Alice on the DHT and keeps trying; Alice refuses.
  assert.equal(bobSees().status, 1);
  assert.ok(
    alice.daemon!.account(a).linkCounters.refused > refusedBefore,
    "no redial was refused",
  );
  // None since: no redial got as far as SIP.
  assert.ok(pidfBefore >= 1);
  assert.equal(bob.daemon!.account(b).linkCounters.pidfReceived, pidfBefore);
  swarm.shutdown();
});

Deno.test("A peer that is not a contact is refused before any SIP: status stays 1", async () => {
  const { swarm, alice, bob, a, b, aliceLog } = await pair("link-stranger");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await swarm.run(30 * SECOND, 100);
  assert.deepEqual(statuses(aliceLog), [1]);
  const bobCounters = bob.daemon!.account(b).linkCounters;
  assert.ok(
    bobCounters.refused + alice.daemon!.account(a).linkCounters.refused > 0,
  );
  assert.equal(bobCounters.pidfReceived, 0);
  assert.equal(alice.daemon!.account(a).linkCounters.pidfReceived, 0);
  swarm.shutdown();
});

Deno.test("Revoking a device closes its links at its contacts", async () => {
  const swarm = await DaemonSwarm.create({
    seed: "link-revoke",
    infraNodes: 20,
  });
  const laptop = await swarm.addDevice();
  const phone = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await swarm.createAccount(laptop);
  await swarm.linkDevice(phone, laptop, a);
  const b = await swarm.createAccount(bob);
  await laptop.daemon!.config.addContact(a, b);
  await phone.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  for (const slot of [laptop, phone, bob]) swarm.start(slot);
  await swarm.run(5_000);
  for (const slot of [laptop, phone]) {
    slot.daemon!.presence.subscribeBuddy(a, b, true);
  }
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  const connected = () =>
    bob.daemon!.presence.getDevices(b, a).filter((d) => d.connected)
      .map((d) => d.device).sort();
  const phoneId = phone.daemon!.account(a).deviceId;
  const laptopId = laptop.daemon!.account(a).deviceId;
  await runUntil(swarm, () => connected().length === 2, 20_000);
  await laptop.daemon!.revokeDevice(a, phoneId);
  await runUntil(swarm, () => connected().length === 1, 20_000);
  assert.deepEqual(connected(), [laptopId]);
  assert.equal(bob.daemon!.presence.getSubscriptions(b)[0].status, 2);
  // The phone keeps dialing; Bob refuses it now.
  await swarm.run(30 * SECOND, 200);
  assert.deepEqual(connected(), [laptopId]);
  swarm.shutdown();
});

Deno.test("A note published right at start still announces the link endpoint", async () => {
  const { swarm, alice, bob, a, b } = await pair("link-early-note", {
    startBob: false,
  });
  await alice.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  // Bob does not watch Alice, so only Alice dials: she needs his endpoint.
  swarm.start(bob);
  bob.daemon!.presence.publish(b, 1, "just started");
  await runUntil(
    swarm,
    () => alice.daemon!.presence.getSubscriptions(a)[0].status === 2,
    10_000,
  );
  assert.equal(
    alice.daemon!.presence.getSubscriptions(a)[0].lineStatus,
    "just started",
  );
  swarm.shutdown();
});
