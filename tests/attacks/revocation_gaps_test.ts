/**
 * Issue 13 item 10, "revocation gaps":
 * (a) two devices of an account revoking different devices both published
 *     sequence 1, and the first list to arrive won: the other revocation
 *     was lost at every watcher;
 * (b) lists expired after a year while certificates live two, so a revoked
 *     certificate verified again once the list expired;
 * (c) a sender's revocation was only checked if its account was watched: a
 *     stolen, revoked device could still send trust requests to anyone who
 *     did not follow its account.
 *
 * (a), (b) renewal and (c) run real daemons on a simulated DHT (virtual
 * time); (b) expiry runs a BuddyTracker on a scripted DHT and a ManualClock.
 */
import assert from "node:assert/strict";
import { DaemonSwarm, type DeviceSlot } from "../../sim/daemon_swarm.ts";
import { EventLog, runUntil, text } from "../_daemon_swarm_helpers.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import {
  DEFAULT_CERTIFICATE_LIFETIME_MS,
  DeviceCertificate,
} from "../../lib/identity/device_certificate.ts";
import {
  DEFAULT_REVOCATION_LIFETIME_MS,
  REVOCATION_RENEW_BEFORE_MS,
  RevocationList,
} from "../../lib/identity/revocation_list.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { BuddyTracker } from "../../lib/presence/buddy_tracker.ts";
import { DeviceAnnouncement } from "../../lib/presence/device_announcement.ts";
import {
  ACCOUNT_RECORD_VALUE_TYPE,
  ANNOUNCEMENT_VALUE_TYPE,
} from "../../lib/presence/presence_profile.ts";
import type { DhtClient, ListenEvent } from "../../lib/dht/dht_client.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";

/** The online devices of `uri` as `watcher` (account `as`) sees them. */
function onlineDevices(watcher: DeviceSlot, as: string, uri: string): string[] {
  return watcher.daemon!.presence.getDevices(as, uri).filter((d) => d.online)
    .map((d) => d.device).sort();
}

function revokedIn(slot: DeviceSlot, uri: string): string[] {
  const bytes = slot.daemon!.account(uri).state.revocationList;
  if (bytes === undefined) return [];
  return RevocationList.decode(bytes).revoked.map((id) => id.toString());
}

Deno.test("item 10a: two devices revoking different devices at once: both revocations hold everywhere", async () => {
  const swarm = await DaemonSwarm.create({
    seed: "revoke-race",
    infraNodes: 20,
  });
  const [laptop, desktop, tablet, watch, bob] = [
    await swarm.addDevice(),
    await swarm.addDevice(),
    await swarm.addDevice(),
    await swarm.addDevice(),
    await swarm.addDevice(),
  ];
  const a = await swarm.createAccount(laptop);
  for (const slot of [desktop, tablet, watch]) {
    await swarm.linkDevice(slot, laptop, a);
  }
  const b = await swarm.createAccount(bob);
  for (const slot of [laptop, desktop, tablet, watch, bob]) swarm.start(slot);
  await swarm.run(10_000);
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  await swarm.run(10_000);
  const id = (slot: DeviceSlot) => slot.daemon!.account(a).deviceId;
  assert.equal(onlineDevices(bob, b, a).length, 4);

  // The laptop loses the tablet, the desktop the watch, at the same moment:
  // each signs a list with sequence 1 before hearing of the other.
  await Promise.all([
    laptop.daemon!.revokeDevice(a, id(tablet)),
    desktop.daemon!.revokeDevice(a, id(watch)),
  ]);
  await swarm.run(30_000);

  // Bob no longer counts either of them (both keep announcing).
  assert.ok(tablet.online && watch.online);
  assert.deepEqual(onlineDevices(bob, b, a), [id(laptop), id(desktop)].sort());
  // The revoking devices merged their lists: each holds both revocations,
  // under a sequence number above 1.
  const both = [id(tablet), id(watch)].sort();
  for (const slot of [laptop, desktop]) {
    assert.deepEqual(revokedIn(slot, a), both);
    const list = RevocationList.decode(
      slot.daemon!.account(a).state.revocationList!,
    );
    assert.ok(list.seq > 1);
  }
  swarm.shutdown();
});

// --- (b) expiry ---------------------------------------------------------------

const START_MS = 1_700_000_000_000;
const DAY_MS = 24 * 3_600_000;

class ScriptedDht {
  listener?: (event: ListenEvent) => void;
  listen(_key: InfoHash, callback: (event: ListenEvent) => void) {
    this.listener = callback;
    return { cancel() {}, relocate() {} };
  }
  get() {
    return { cancel() {} };
  }
}

Deno.test("item 10b: a revoked certificate does not verify again once the list that revoked it has expired", () => {
  const random = rngBytes(seededRng("revocation-expiry"));
  const account = AccountKeys.generate(random);
  const stolen = DeviceKeys.generate(random);
  // A two-year certificate, revoked the next day by a one-year list (the
  // old default lifetime).
  const certificate = DeviceCertificate.issue(account, stolen, {
    issuedMs: START_MS,
  });
  const list = RevocationList.create(account, {
    seq: 1,
    revoked: [stolen.id],
    issuedMs: START_MS + DAY_MS,
    lifetimeMs: 365 * DAY_MS,
  });
  // 400 days later: the list has expired, the certificate has not.
  const now = START_MS + 400 * DAY_MS;
  const clock = new ManualClock(now);
  assert.ok(now >= list.expiresMs && now < certificate.expiresMs);
  const dht = new ScriptedDht();
  const tracker = new BuddyTracker({
    dht: dht as unknown as DhtClient,
    clock,
    accountId: account.id,
    expiryCheckMs: 0,
    onChange() {},
  });
  tracker.start();
  // A watcher that only now hears the list (a restart; the account's
  // devices keep it stored), then the stolen device announcing.
  dht.listener!({
    kind: "added",
    values: [{ id: 1n, type: ACCOUNT_RECORD_VALUE_TYPE, data: list.bytes }],
  });
  const announcement = DeviceAnnouncement.create(stolen, certificate, {
    seq: 1,
    nowMs: now,
    lifetimeMs: 30 * 60_000,
  });
  dht.listener!({
    kind: "added",
    values: [{
      id: 2n,
      type: ANNOUNCEMENT_VALUE_TYPE,
      data: announcement.bytes,
    }],
  });
  assert.equal(tracker.status, 0);
  assert.deepEqual(tracker.devices(), []);
  assert.ok(tracker.revocationList.isRevoked(stolen.id));
  tracker.stop();
});

Deno.test("item 10b: a list made now outlives every default certificate it can revoke", () => {
  const random = rngBytes(seededRng("revocation-lifetime"));
  const account = AccountKeys.generate(random);
  const stolen = DeviceKeys.generate(random);
  // The youngest certificate a list can revoke was issued just before it.
  const certificate = DeviceCertificate.issue(account, stolen, {
    issuedMs: START_MS,
  });
  const list = RevocationList.create(account, {
    seq: 1,
    revoked: [stolen.id],
    issuedMs: START_MS,
  });
  assert.ok(DEFAULT_REVOCATION_LIFETIME_MS >= DEFAULT_CERTIFICATE_LIFETIME_MS);
  const lastValid = certificate.expiresMs - 1;
  certificate.verify({ accountId: account.id, nowMs: lastValid });
  list.verify({ accountId: account.id, nowMs: lastValid });
});

Deno.test("item 10b: the account re-signs its list on its clock before it expires", async () => {
  const swarm = await DaemonSwarm.create({
    seed: "revoke-renew",
    infraNodes: 20,
  });
  const laptop = await swarm.addDevice();
  const phone = await swarm.addDevice();
  const a = await swarm.createAccount(laptop);
  await swarm.linkDevice(phone, laptop, a);
  const account = laptop.daemon!.account(a);
  // A list (as an older version would have left it) that is due for
  // renewal a minute from now.
  const now = Math.floor(swarm.clock.now());
  const old = RevocationList.create(account.identity.account, {
    seq: 3,
    revoked: [InfoHash.fromHex(phone.daemon!.account(a).deviceId)],
    issuedMs: now,
    lifetimeMs: REVOCATION_RENEW_BEFORE_MS + 60_000,
  });
  account.state.revocationList = old.bytes;
  swarm.start(laptop);
  await swarm.run(30_000);
  assert.deepEqual(account.state.revocationList, old.bytes);
  await runUntil(
    swarm,
    () => account.state.revocationList !== old.bytes,
    2 * 60_000,
    1_000,
  );
  const renewed = RevocationList.decode(account.state.revocationList!);
  assert.ok(renewed.seq > old.seq);
  assert.deepEqual(renewed.revoked.map(String), old.revoked.map(String));
  assert.ok(renewed.expiresMs > old.expiresMs + 365 * DAY_MS);
  renewed.verify({ accountId: account.accountId, nowMs: old.expiresMs });
  swarm.shutdown();
});

// --- (c) unwatched senders ------------------------------------------------------

Deno.test("item 10c: a revoked device's trust request is refused by an account that does not watch its account", async () => {
  const swarm = await DaemonSwarm.create({
    seed: "revoked-sender",
    infraNodes: 20,
  });
  const laptop = await swarm.addDevice();
  const phone = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const carol = await swarm.addDevice();
  const a = await swarm.createAccount(laptop);
  await swarm.linkDevice(phone, laptop, a);
  const b = await swarm.createAccount(bob);
  const c = await swarm.createAccount(carol);
  const bobLog = new EventLog(swarm, bob);
  const carolLog = new EventLog(swarm, carol);
  for (const slot of [laptop, phone, bob, carol]) swarm.start(slot);
  await swarm.run(10_000);

  // The phone is stolen: the laptop revokes it. Bob has never heard of
  // Alice's account (he does not watch it).
  await laptop.daemon!.revokeDevice(a, phone.daemon!.account(a).deviceId);
  await swarm.run(10_000);
  await phone.daemon!.config.sendTrustRequest(a, b, text("it's me, Alice"));
  await swarm.run(60_000);
  assert.equal(bobLog.count("incomingTrustRequest"), 0);
  assert.equal(bob.daemon!.account(b).getTrustRequests().length, 0);

  // A device that is not revoked still gets through to someone new.
  await laptop.daemon!.config.sendTrustRequest(a, c, text("hi Carol"));
  await runUntil(
    swarm,
    () => carolLog.count("incomingTrustRequest") > 0,
    60_000,
  );
  assert.equal(carolLog.of("incomingTrustRequest")[0].detail.from, a);
  swarm.shutdown();
});
