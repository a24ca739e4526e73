/**
 * Two devices of one account (DaemonSwarm.linkDevice) keep contacts and
 * requests in step through sync messages, also when one of them was offline
 * while the other changed something.
 */
import assert from "node:assert/strict";
import {
  EventLog,
  restart,
  runUntil,
  stopCleanly,
  text,
} from "./_daemon_swarm_helpers.ts";
import { DaemonSwarm } from "../sim/daemon_swarm.ts";

const MINUTE = 60_000;

async function linked(seed: string) {
  const swarm = await DaemonSwarm.create({ seed, infraNodes: 30 });
  const laptop = await swarm.addDevice();
  const phone = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await swarm.createAccount(laptop);
  assert.equal(await swarm.linkDevice(phone, laptop, a), a);
  const b = await swarm.createAccount(bob);
  const laptopLog = new EventLog(swarm, laptop);
  const phoneLog = new EventLog(swarm, phone);
  const bobLog = new EventLog(swarm, bob);
  for (const slot of [laptop, phone, bob]) swarm.start(slot);
  await swarm.run(10_000);
  return { swarm, laptop, phone, bob, a, b, laptopLog, phoneLog, bobLog };
}

Deno.test("linkDevice() gives the account a second device with its own key", async () => {
  const { swarm, laptop, phone, a } = await linked("link");
  const one = laptop.daemon!.account(a);
  const two = phone.daemon!.account(a);
  assert.equal(one.id, two.id);
  assert.notEqual(one.deviceId, two.deviceId);
  assert.ok(two.identity.certificate.accountId.equals(one.accountId));
  swarm.shutdown();
});

Deno.test("A contact added on one device appears on the other", async () => {
  const { swarm, laptop, phone, a, b, phoneLog } = await linked("sync-add");
  await laptop.daemon!.config.addContact(a, b);
  await runUntil(
    swarm,
    () => phone.daemon!.config.getContactDetails(a, b) !== undefined,
    MINUTE,
  );
  assert.deepEqual(phoneLog.of("contactAdded").map((e) => e.detail), [
    { accountId: a, uri: b, confirmed: false },
  ]);
  // Removing with a ban travels the same way.
  await laptop.daemon!.config.removeContact(a, b, true);
  await runUntil(
    swarm,
    () => phone.daemon!.config.getContactDetails(a, b)?.banned === true,
    MINUTE,
  );
  assert.deepEqual(phoneLog.of("contactRemoved").map((e) => e.detail), [
    { accountId: a, uri: b, banned: true },
  ]);
  swarm.shutdown();
});

Deno.test("A device that was offline catches up when it comes back", async () => {
  const { swarm, laptop, phone, a, b, phoneLog } = await linked("sync-offline");
  await stopCleanly(swarm, phone);
  await laptop.daemon!.config.addContact(a, b);
  await swarm.run(5 * MINUTE, 100);
  await restart(swarm, phone, phoneLog);
  await runUntil(
    swarm,
    () => phone.daemon!.config.getContactDetails(a, b) !== undefined,
    2 * MINUTE,
  );
  assert.equal(phone.daemon!.config.getContactDetails(a, b)?.banned, false);
  assert.equal(phoneLog.count("contactAdded"), 1);
  swarm.shutdown();
});

Deno.test("A request answered on one device is settled on the other", async () => {
  const { swarm, laptop, phone, bob, a, b, laptopLog, phoneLog, bobLog } =
    await linked("sync-request");
  await bob.daemon!.config.sendTrustRequest(b, a, text("hi both"));
  await runUntil(
    swarm,
    () =>
      laptopLog.count("incomingTrustRequest") > 0 &&
      phoneLog.count("incomingTrustRequest") > 0,
    MINUTE,
  );
  // Each device shows it once.
  await swarm.run(MINUTE);
  assert.equal(laptopLog.count("incomingTrustRequest"), 1);
  assert.equal(phoneLog.count("incomingTrustRequest"), 1);
  await laptop.daemon!.config.acceptTrustRequest(a, b);
  await runUntil(
    swarm,
    () =>
      phone.daemon!.config.getContactDetails(a, b)?.confirmed === true &&
      bobLog.count("trustRequestAccepted") > 0,
    2 * MINUTE,
  );
  assert.deepEqual(phone.daemon!.config.getTrustRequests(a), []);
  assert.deepEqual(laptop.daemon!.config.getTrustRequests(a), []);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, true);
  await swarm.run(5 * MINUTE, 200);
  assert.equal(phoneLog.count("incomingTrustRequest"), 1);
  assert.equal(bobLog.count("trustRequestAccepted"), 1);
  swarm.shutdown();
});

Deno.test("A request sent from one device is known to the other", async () => {
  const { swarm, laptop, phone, bob, a, b, bobLog } = await linked(
    "sync-outbox",
  );
  const id = await laptop.daemon!.config.sendTrustRequest(a, b, text("hi"));
  await runUntil(
    swarm,
    () => phone.daemon!.config.getContactDetails(a, b) !== undefined,
    MINUTE,
  );
  await runUntil(swarm, () => bobLog.count("incomingTrustRequest") > 0, MINUTE);
  await swarm.run(5 * MINUTE, 200);
  // Shown once at Bob although both devices know the request.
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  // The phone knows it as delivered (kept to report the answer) and has
  // stopped sending it.
  const copy = phone.daemon!.account(a).state.outbox.get(id);
  assert.equal(copy?.delivered, true);
  const sent = phone.daemon!.account(a).counters.messagesSent;
  await swarm.run(15 * MINUTE, 500);
  assert.equal(phone.daemon!.account(a).counters.messagesSent, sent);
  // Bob accepts: both devices hear of it, and both drop the request.
  await bob.daemon!.config.acceptTrustRequest(b, a);
  await runUntil(
    swarm,
    () =>
      laptop.daemon!.account(a).state.outbox.size === 0 &&
      phone.daemon!.account(a).state.outbox.size === 0,
    2 * MINUTE,
  );
  assert.equal(phone.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  assert.equal(laptop.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  swarm.shutdown();
});

Deno.test("A request discarded on one device is removed from the other", async () => {
  const { swarm, laptop, phone, bob, a, b, laptopLog, phoneLog } = await linked(
    "sync-discard",
  );
  await bob.daemon!.config.sendTrustRequest(b, a, text("ignore me"));
  await runUntil(
    swarm,
    () =>
      laptopLog.count("incomingTrustRequest") > 0 &&
      phoneLog.count("incomingTrustRequest") > 0,
    MINUTE,
  );
  assert.equal(await laptop.daemon!.config.discardTrustRequest(a, b), true);
  await runUntil(
    swarm,
    () => phone.daemon!.config.getTrustRequests(a).length === 0,
    2 * MINUTE,
  );
  await swarm.run(5 * MINUTE, 200);
  assert.deepEqual(phone.daemon!.config.getTrustRequests(a), []);
  assert.deepEqual(laptop.daemon!.config.getTrustRequests(a), []);
  assert.equal(phoneLog.count("incomingTrustRequest"), 1);
  swarm.shutdown();
});

Deno.test("A request discarded while the other device was offline does not stay pending there", async () => {
  const { swarm, laptop, phone, bob, a, b, laptopLog, phoneLog } = await linked(
    "sync-discard-offline",
  );
  await stopCleanly(swarm, phone);
  await bob.daemon!.config.sendTrustRequest(b, a, text("ignore me"));
  await runUntil(
    swarm,
    () => laptopLog.count("incomingTrustRequest") > 0,
    MINUTE,
  );
  await laptop.daemon!.config.discardTrustRequest(a, b);
  await swarm.run(5 * MINUTE, 100);
  // The phone finds the box in its inbox when it comes back, and the
  // laptop's sync tells it the request was handled.
  await restart(swarm, phone, phoneLog);
  await swarm.run(5 * MINUTE, 100);
  assert.deepEqual(phone.daemon!.config.getTrustRequests(a), []);
  assert.ok(phoneLog.count("incomingTrustRequest") <= 1);
  swarm.shutdown();
});
