/**
 * Presence of Jami accounts between daemons on a simulated network:
 * `subscribeBuddy` reports status 1 once a verified device announces, 0
 * within Jami's 10-minute value lifetime after the last device stops; every
 * device of an account counts (an imported archive is the same account, a
 * new device), and a device the account revokes stops counting.
 *
 * Method: RSA-2048 identities, virtual time in 100 ms steps; bounds are
 * asserted in virtual time.
 */
import assert from "node:assert/strict";
import { eventsOf, JamiSwarm, TEST_BITS } from "./_jami_account_helpers.ts";

/** A Jami announcement lives 10 minutes after its last refresh. */
const JAMI_VALUE_LIFETIME_MS = 10 * 60_000;

function statuses(node: Parameters<typeof eventsOf>[0], buddy: string) {
  return eventsOf(node, "newBuddyNotification")
    .filter((n) => n.buddyUri === buddy)
    .map((n) => n.status);
}

Deno.test("a Jami buddy goes online, then offline within 10 minutes of its device stopping", async () => {
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  alice.daemon.presence.subscribeBuddy(a, b, true);
  const online = await swarm.until(
    () => statuses(alice, b).at(-1) === 1,
    30_000,
  );
  assert.ok(online >= 0, "online");
  assert.deepEqual(alice.daemon.presence.getSubscriptions(a), [
    { buddy: b, status: 1, lineStatus: "" },
  ]);
  const devices = alice.daemon.presence.getDevices(a, b);
  assert.deepEqual(devices.map((d) => [d.device, d.online]), [
    [bob.daemon.jamiAccount(b).deviceId, true],
  ]);
  // Bob's device is killed: no goodbye, as jamid.
  bob.daemon.crash();
  const stoppedAt = swarm.clock.now();
  const offline = await swarm.until(
    () => statuses(alice, b).at(-1) === 0,
    JAMI_VALUE_LIFETIME_MS + 60_000,
  );
  assert.ok(offline >= 0, "offline");
  const lastEvent = eventsOf(alice, "newBuddyNotification").length;
  assert.ok(
    swarm.clock.now() - stoppedAt <= JAMI_VALUE_LIFETIME_MS + 60_000,
  );
  assert.deepEqual(statuses(alice, b), [1, 0]);
  assert.equal(lastEvent, 2);
  await swarm.stopAll();
});

Deno.test("every device of a Jami account counts, and a revoked one stops counting", async () => {
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const bobPhone = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  const archive = await bob.daemon.exportJamiArchive(b, "secret");
  assert.equal(
    await bobPhone.daemon.importJamiArchive(archive, "secret", {
      bits: TEST_BITS,
    }),
    b,
    "the same account",
  );
  const phoneDevice = bobPhone.daemon.jamiAccount(b).deviceId;
  assert.notEqual(phoneDevice, bob.daemon.jamiAccount(b).deviceId);
  alice.daemon.presence.subscribeBuddy(a, b, true);
  const both = () =>
    alice.daemon.presence.getDevices(a, b).filter((d) => d.online).length;
  assert.ok(await swarm.until(() => both() === 2, 60_000) >= 0, "two devices");
  assert.deepEqual(statuses(alice, b), [1]);

  // The laptop revokes the phone: alice stops counting it at once.
  const revoking = bob.daemon.revokeDevice(b, phoneDevice);
  await swarm.run(10_000);
  await revoking;
  assert.ok(
    await swarm.until(() => both() === 1, 60_000) >= 0,
    "the revoked phone no longer counts",
  );
  assert.deepEqual(
    alice.daemon.presence.getDevices(a, b).find((d) => d.online)?.device,
    bob.daemon.jamiAccount(b).deviceId,
  );
  // The laptop stops: the phone's announcement is still there, revoked, so
  // the buddy goes offline.
  bob.daemon.crash();
  assert.ok(
    await swarm.until(
      () => statuses(alice, b).at(-1) === 0,
      JAMI_VALUE_LIFETIME_MS + 60_000,
    ) >= 0,
    "offline though the revoked phone still announces",
  );
  assert.deepEqual(statuses(alice, b), [1, 0]);
  await swarm.stopAll();
});

Deno.test("a Jami buddy that hides (publish 0) goes offline, and back online on publish 1", async () => {
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  alice.daemon.presence.subscribeBuddy(a, b, true);
  assert.ok(
    await swarm.until(() => statuses(alice, b).at(-1) === 1, 30_000) >= 0,
  );
  bob.daemon.presence.publish(b, 0, "");
  assert.ok(
    await swarm.until(
      () => statuses(alice, b).at(-1) === 0,
      JAMI_VALUE_LIFETIME_MS + 60_000,
    ) >= 0,
  );
  bob.daemon.presence.publish(b, 1, "");
  assert.ok(
    await swarm.until(() => statuses(alice, b).at(-1) === 1, 30_000) >= 0,
  );
  assert.deepEqual(statuses(alice, b), [1, 0, 1]);
  await swarm.stopAll();
});

Deno.test("an announcement at a Jami id signed by another account does not count", async () => {
  const { createJamiIdentity } = await import(
    "../../lib/jami/jami_identity.ts"
  );
  const { announcementValue } = await import(
    "../../lib/jami/device_announcement.ts"
  );
  const { certificateValue } = await import(
    "../../lib/jami/certificate_value.ts"
  );
  const { InfoHash } = await import("../../lib/identity/info_hash.ts");
  const { systemRandomBytes } = await import("../../lib/io/system_random.ts");
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  bob.daemon.crash(); // Bob's own device never announces.
  const mallory = await createJamiIdentity({
    bits: TEST_BITS,
    now: swarm.clock.now(),
    random: systemRandomBytes,
  });
  // Mallory's valid device, announced (signed by Mallory) at Bob's id.
  alice.daemon.dht.put(
    InfoHash.fromHex(mallory.deviceId),
    certificateValue(mallory.deviceChain),
    { permanent: true },
  );
  alice.daemon.dht.put(
    InfoHash.fromHex(b),
    await announcementValue(mallory, 77n),
    { permanent: true },
  );
  alice.daemon.presence.subscribeBuddy(a, b, true);
  await swarm.run(60_000);
  assert.deepEqual(statuses(alice, b), []);
  assert.deepEqual(alice.daemon.presence.getDevices(a, b), []);
  assert.ok(alice.daemon.jamiAccount(a).counters.directoryDropped >= 1);
  await swarm.stopAll();
});
