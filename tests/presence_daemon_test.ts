/**
 * Presence between real daemons on a simulated DHT (DaemonSwarm, virtual
 * time): newBuddyNotification on changes only, replay on subscribe, notes,
 * goodbyes, and how fast a crash is noticed with our 24 s DHT lifetime.
 */
import assert from "node:assert/strict";
import {
  EventLog,
  pair,
  restart,
  runUntil,
  stopCleanly,
  text,
} from "./_daemon_swarm_helpers.ts";
import { OUR_PROFILE } from "../lib/presence/presence_profile.ts";
import { InvalidUriError } from "../lib/identity/errors.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

function notifications(log: EventLog) {
  return log.of("newBuddyNotification").map((e) => ({
    buddy: e.detail.buddyUri,
    status: e.detail.status,
    lineStatus: e.detail.lineStatus,
  }));
}

Deno.test("subscribeBuddy() reports an online buddy, its note only to a linked contact, and getSubscriptions() lists it", async () => {
  const { swarm, alice, bob, a, b, aliceLog } = await pair("subscribe");
  bob.daemon!.presence.publish(b, 1, "at my desk");
  alice.daemon!.presence.subscribeBuddy(a, `jami:${b}`, true);
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 0,
    30 * SECOND,
  );
  // Alice is not Bob's contact: she sees him online, not his note (it is
  // not on the DHT, and Bob does not link with her).
  assert.deepEqual(notifications(aliceLog), [
    { buddy: b, status: 1, lineStatus: "" },
  ]);
  assert.equal(aliceLog.of("newBuddyNotification")[0].detail.accountId, a);
  assert.deepEqual(alice.daemon!.presence.getSubscriptions(a), [
    { buddy: b, status: 1, lineStatus: "" },
  ]);
  // Contacts: the direct link comes up and carries the note.
  await alice.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  await runUntil(
    swarm,
    () =>
      alice.daemon!.presence.getSubscriptions(a)[0].lineStatus ===
        "at my desk",
    30 * SECOND,
  );
  const linked = aliceLog.count("newBuddyNotification");
  assert.deepEqual(notifications(aliceLog).at(-1), {
    buddy: b,
    status: 2,
    lineStatus: "at my desk",
  });
  // A new note is a change; the same note again is not.
  bob.daemon!.presence.publish(b, 1, "in a meeting");
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > linked,
    30 * SECOND,
  );
  bob.daemon!.presence.publish(b, 1, "in a meeting");
  await swarm.run(MINUTE);
  assert.deepEqual(notifications(aliceLog).slice(linked - 1), [
    { buddy: b, status: 2, lineStatus: "at my desk" },
    { buddy: b, status: 2, lineStatus: "in a meeting" },
  ]);
  // Unsubscribed: no more notifications, and not listed.
  const told = aliceLog.count("newBuddyNotification");
  alice.daemon!.presence.subscribeBuddy(a, b, false);
  assert.deepEqual(alice.daemon!.presence.getSubscriptions(a), []);
  await stopCleanly(swarm, bob);
  await swarm.run(MINUTE);
  assert.equal(aliceLog.count("newBuddyNotification"), told);
  swarm.shutdown();
});

Deno.test("newBuddyNotification does not repeat while nothing changes, across re-signs", async () => {
  const { swarm, alice, a, b, aliceLog } = await pair("no-flap");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 0,
    30 * SECOND,
  );
  // 25 minutes: several re-signs and ~100 DHT refreshes.
  assert.ok(25 * MINUTE >= 2 * OUR_PROFILE.resignMs);
  await swarm.run(25 * MINUTE, 200);
  assert.deepEqual(notifications(aliceLog), [
    { buddy: b, status: 1, lineStatus: "" },
  ]);
  assert.equal(alice.daemon!.presence.getSubscriptions(a)[0].status, 1);
  swarm.shutdown();
});

Deno.test("subscribeBuddy() replays the current state to a new subscription", async () => {
  const { swarm, alice, bob, a, b, aliceLog } = await pair("replay");
  bob.daemon!.presence.publish(b, 1, "hello");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 0,
    30 * SECOND,
  );
  // Subscribing again (or after unsubscribing) tells the state at once.
  alice.daemon!.presence.subscribeBuddy(a, b, false);
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  // Nothing else watched Bob, so the tracker started afresh: the replay
  // comes once its listen finds the announcement again.
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 1,
    30 * SECOND,
  );
  // Not Bob's contact: no note (it goes to contacts, over links).
  assert.deepEqual(notifications(aliceLog), [
    { buddy: b, status: 1, lineStatus: "" },
    { buddy: b, status: 1, lineStatus: "" },
  ]);
  // With a tracker kept alive by an outbox entry, the replay is synchronous.
  await alice.daemon!.config.sendTrustRequest(a, b, text("hi"));
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  assert.equal(aliceLog.count("newBuddyNotification"), 3);
  assert.deepEqual(notifications(aliceLog)[2], {
    buddy: b,
    status: 1,
    lineStatus: "",
  });
  swarm.shutdown();
});

Deno.test("publish(0) hides the device at once (a goodbye), publish(1) shows it again", async () => {
  const { swarm, alice, bob, a, b, aliceLog } = await pair("publish-zero");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 0,
    30 * SECOND,
  );
  bob.daemon!.presence.publish(b, 0, "");
  const hidden = await runUntil(
    swarm,
    () => alice.daemon!.presence.getSubscriptions(a)[0].status === 0,
    30 * SECOND,
    20,
  );
  assert.ok(hidden < 3 * SECOND, `offline after ${hidden} ms`);
  bob.daemon!.presence.publish(b, 1, "back");
  await runUntil(
    swarm,
    () => alice.daemon!.presence.getSubscriptions(a)[0].status === 1,
    30 * SECOND,
  );
  assert.deepEqual(notifications(aliceLog), [
    { buddy: b, status: 1, lineStatus: "" },
    { buddy: b, status: 0, lineStatus: "" },
    { buddy: b, status: 1, lineStatus: "" },
  ]);
  assert.throws(
    () => bob.daemon!.presence.publish(b, 1, "x".repeat(257)),
    RangeError,
  );
  assert.throws(() => bob.daemon!.presence.publish(b, 3, ""), RangeError);
  swarm.shutdown();
});

Deno.test("A clean stop takes the buddy offline at once; a crash within the DHT lifetime", async () => {
  const { swarm, alice, bob, a, b, aliceLog } = await pair("goodbye-crash");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 0,
    30 * SECOND,
  );
  const status = () => alice.daemon!.presence.getSubscriptions(a)[0].status;
  // Clean stop: the goodbye replaces the announcement at its holders.
  const stopAt = swarm.clock.now();
  let stopped = false;
  swarm.stop(bob).then(() => stopped = true);
  await runUntil(swarm, () => status() === 0, 30 * SECOND, 20);
  assert.ok(swarm.clock.now() - stopAt < 3 * SECOND);
  await runUntil(swarm, () => stopped, 5 * SECOND);
  // Back, then killed: no goodbye, so watchers wait for the values to expire.
  await restart(swarm, bob, new EventLog(swarm, bob));
  await runUntil(swarm, () => status() === 1, 60 * SECOND);
  // Let a refresh or two happen so the crash is not right after a put.
  await swarm.run(20 * SECOND);
  assert.equal(status(), 1);
  swarm.crash(bob);
  const crashAt = swarm.clock.now();
  const took = await runUntil(swarm, () => status() === 0, 60 * SECOND, 100);
  assert.equal(OUR_PROFILE.dhtLifetimeMs, 24 * SECOND);
  assert.ok(
    took >= 10 * SECOND,
    `offline ${took} ms after the crash: too soon`,
  );
  assert.ok(took <= 30 * SECOND, `offline ${took} ms after the crash`);
  assert.equal(swarm.clock.now() - crashAt, took);
  assert.deepEqual(notifications(aliceLog).map((n) => n.status), [1, 0, 1, 0]);
  swarm.shutdown();
});

Deno.test("A banned contact cannot be subscribed to, and banning ends a subscription", async () => {
  const { swarm, alice, a, b, aliceLog } = await pair("ban-presence");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await runUntil(
    swarm,
    () => aliceLog.count("newBuddyNotification") > 0,
    30 * SECOND,
  );
  await alice.daemon!.config.removeContact(a, b, true);
  assert.deepEqual(alice.daemon!.presence.getSubscriptions(a), []);
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  assert.deepEqual(alice.daemon!.presence.getSubscriptions(a), []);
  await swarm.run(MINUTE);
  assert.equal(aliceLog.count("newBuddyNotification"), 1);
  swarm.shutdown();
});

Deno.test("setSubscriptions() sets exactly the list, and a malformed uri changes nothing", async () => {
  const { swarm, alice, a, b } = await pair("set-subscriptions", {
    startBob: false,
  });
  const presence = alice.daemon!.presence;
  const carol = "c".repeat(40);
  presence.setSubscriptions(a, [b, `jami:${carol}`, a]);
  assert.deepEqual(
    presence.getSubscriptions(a).map((s) => s.buddy).sort(),
    [b, carol].sort(),
  );
  assert.throws(
    () => presence.setSubscriptions(a, [b, "not a uri"]),
    InvalidUriError,
  );
  assert.equal(presence.getSubscriptions(a).length, 2);
  presence.setSubscriptions(a, [carol]);
  assert.deepEqual(presence.getSubscriptions(a), [
    { buddy: carol, status: 0, lineStatus: "" },
  ]);
  swarm.shutdown();
});

Deno.test("getDevices names a contact's device from the certificate its sealed request carried, not from the nameless announcement", async () => {
  const { swarm, alice, bob, a, b, bobLog } = await pair("device-names");
  const name = alice.daemon!.account(a).identity.certificate.name;
  assert.notEqual(name, "", "the swarm's devices have names");
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  await runUntil(
    swarm,
    () => bob.daemon!.presence.getDevices(b, a).some((d) => d.online),
    30_000,
  );
  // Seen on the DHT only: the announced certificate carries no name.
  assert.deepEqual(
    bob.daemon!.presence.getDevices(b, a).map((d) => d.name),
    [""],
  );
  await alice.daemon!.config.sendTrustRequest(a, b, text("vCard alice"));
  await runUntil(swarm, () => bobLog.count("incomingTrustRequest") > 0, 30_000);
  // The request was sealed with Alice's named certificate: now Bob knows it.
  assert.deepEqual(
    bob.daemon!.presence.getDevices(b, a).map((d) => d.name),
    [name],
  );
  swarm.shutdown();
});
