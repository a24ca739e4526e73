/**
 * A Jami account survives restarts and crashes of its daemon: the same
 * account and device ids, contacts, pending requests and the outbox come
 * back from storage; a request re-delivered after a restart is not shown
 * twice; archives round-trip (with and without password) and a wrong
 * password is a typed error.
 */
import assert from "node:assert/strict";
import { JamiArchiveError } from "../../lib/jami/errors.ts";
import { eventsOf, JamiSwarm, TEST_BITS } from "./_jami_account_helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("a Jami account and its state come back after a crash and a clean restart", async () => {
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  const aliceDevice = alice.daemon.jamiAccount(a).deviceId;
  await swarm.run(5_000);
  await alice.daemon.config.sendTrustRequest(a, b, text("hello"), {
    conversationId: "d".repeat(40),
  });
  alice.daemon.presence.subscribeBuddy(a, b, true);
  await swarm.run(1_000);
  // Killed right after the call resolved: the request is durable.
  alice.daemon.crash();
  await swarm.reopen(alice);
  assert.deepEqual(alice.daemon.listAccounts(), [a]);
  assert.equal(alice.daemon.accountKind(a), "jami");
  assert.equal(alice.daemon.jamiAccount(a).deviceId, aliceDevice);
  assert.equal(alice.daemon.config.getContactDetails(a, b)?.confirmed, false);
  assert.equal(alice.daemon.jamiAccount(a).state.outbox.size, 1);
  assert.deepEqual(
    alice.daemon.presence.getSubscriptions(a).map((s) => s.buddy),
    [b],
  );
  assert.ok(
    await swarm.until(
      () => eventsOf(bob, "incomingTrustRequest").length === 1,
      60_000,
    ) >= 0,
  );
  // Bob restarts cleanly: the pending request is kept, and the listen's
  // re-delivery of the stored value shows nothing new.
  const stopping = bob.daemon.stop();
  await swarm.run(3_000);
  await stopping;
  await swarm.reopen(bob);
  await swarm.run(30_000);
  assert.equal(eventsOf(bob, "incomingTrustRequest").length, 1);
  const [pending] = bob.daemon.config.getTrustRequests(b);
  assert.equal(pending.from, a);
  assert.deepEqual(pending.payload, text("hello"));
  await bob.daemon.config.acceptTrustRequest(b, a);
  assert.ok(
    await swarm.until(
      () => alice.daemon.config.getContactDetails(a, b)?.confirmed === true,
      60_000,
    ) >= 0,
  );
  await swarm.stopAll();
});

Deno.test("a Jami archive exported with a password imports only with it", async () => {
  const swarm = new JamiSwarm();
  const first = await swarm.add();
  const second = await swarm.add();
  const id = await first.daemon.createJamiAccount({ bits: TEST_BITS });
  const archive = await first.daemon.exportJamiArchive(id, "right");
  await assert.rejects(
    second.daemon.importJamiArchive(archive, "wrong", { bits: TEST_BITS }),
    JamiArchiveError,
  );
  assert.deepEqual(second.daemon.listAccounts(), []);
  assert.equal(
    await second.daemon.importJamiArchive(archive, "right", { bits: TEST_BITS }),
    id,
  );
  // Importing it again changes nothing (no second device on one daemon).
  const device = second.daemon.jamiAccount(id).deviceId;
  assert.equal(
    await second.daemon.importJamiArchive(
      await first.daemon.exportJamiArchive(id),
    ),
    id,
  );
  assert.equal(second.daemon.jamiAccount(id).deviceId, device);
  // Both kinds on one daemon.
  const ours = await second.daemon.createAccount();
  assert.equal(second.daemon.accountKind(ours), "dht-contacts");
  assert.deepEqual(second.daemon.listAccounts(), [ours, id]);
  await swarm.stopAll();
});
