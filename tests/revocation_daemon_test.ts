/**
 * Revoking a lost device: the account publishes a new revocation list and its
 * contacts drop the device, even while it keeps announcing itself.
 */
import assert from "node:assert/strict";
import { DaemonSwarm } from "../sim/daemon_swarm.ts";

Deno.test("revokeDevice(): contacts drop the revoked device and keep the others", async () => {
  const swarm = await DaemonSwarm.create({ seed: "revoke", infraNodes: 20 });
  const laptop = await swarm.addDevice();
  const phone = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await swarm.createAccount(laptop);
  await swarm.linkDevice(phone, laptop, a);
  const b = await swarm.createAccount(bob);
  for (const slot of [laptop, phone, bob]) swarm.start(slot);
  await swarm.run(10_000);
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  await swarm.run(10_000);
  const online = () =>
    bob.daemon!.presence.getDevices(b, a).filter((d) => d.online)
      .map((d) => d.device).sort();
  const phoneId = phone.daemon!.account(a).deviceId;
  const laptopId = laptop.daemon!.account(a).deviceId;
  assert.deepEqual(online(), [laptopId, phoneId].sort());

  // Bad input changes nothing.
  await assert.rejects(
    () => laptop.daemon!.revokeDevice(a, "not a device"),
    RangeError,
  );
  await assert.rejects(
    () => laptop.daemon!.revokeDevice(a, laptopId),
    RangeError,
  );
  assert.equal(laptop.daemon!.account(a).state.revocationList, undefined);

  await laptop.daemon!.revokeDevice(a, phoneId);
  await swarm.run(10_000);
  // The phone is still running and announcing, but Bob no longer counts it.
  assert.ok(phone.online);
  assert.deepEqual(online(), [laptopId]);
  assert.equal(bob.daemon!.presence.getSubscriptions(b)[0].status, 1);
  // The list survives a restart of the laptop.
  assert.ok(laptop.daemon!.account(a).state.revocationList !== undefined);
  swarm.crash(laptop);
  await swarm.restart(laptop);
  await swarm.run(30_000);
  assert.ok(laptop.daemon!.account(a).state.revocationList !== undefined);
  assert.deepEqual(online(), [laptopId]);
  swarm.shutdown();
});
