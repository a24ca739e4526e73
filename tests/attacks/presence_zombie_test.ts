/**
 * Issue 13 item 7, "zombie presence": a device's signed announcement is
 * public at its account hash and was valid 30 minutes, while storing nodes
 * keep it 24 s unless refreshed. After a crash (no goodbye) anyone who read
 * the last announcement could re-put it and keep the device online for its
 * whole validity; after a goodbye, which storing nodes dropped after 24 s, a
 * watcher that started listening later believed the replay.
 *
 * Real nodes on a {@link Testnet}, in virtual time (seeded: exact replays):
 * the device announces with {@link PresenceAnnouncer}, watchers run
 * {@link BuddyTracker}, and the attacker's node listens at the account hash
 * and re-puts the newest announcement it heard, under its own id and a
 * fresh one, every half storing-node lifetime.
 */
import assert from "node:assert/strict";
import { Testnet } from "../../lib/testing/testnet.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { PresenceAnnouncer } from "../../lib/presence/announcer.ts";
import { BuddyTracker } from "../../lib/presence/buddy_tracker.ts";
import { DeviceAnnouncement } from "../../lib/presence/device_announcement.ts";
import {
  OUR_PROFILE,
  presenceNodeConfig,
} from "../../lib/presence/presence_profile.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";

const profile = OUR_PROFILE;
const DEVICE = 0;
const WATCHER = 1;
const ATTACKER = 2;
/** Late watchers start on these nodes. */
const LATE = [3, 4, 5, 6, 7, 8, 9, 10];
const STEP_MS = 1_000;

/** Most a crashed device may be shown online: the profile's design bound. */
const ZOMBIE_BOUND_MS = profile.announcementLifetimeMs;

function setup(seed: string) {
  const net = Testnet.create({
    nodes: 24,
    seed,
    nodeConfig: presenceNodeConfig(profile),
  });
  const random = rngBytes(seededRng(seed));
  const account = AccountKeys.generate(random);
  const device = DeviceKeys.generate(random);
  const certificate = DeviceCertificate.issue(account, device, {
    name: "laptop",
    issuedMs: net.clock.now() - 1_000,
  });
  const announcer = new PresenceAnnouncer({
    dht: net.nodes[DEVICE],
    clock: net.clock,
    accountId: account.id,
    device,
    certificate,
    profile,
  });
  const watch = (index: number) => {
    const changes: { status: number; atMs: number }[] = [];
    const tracker = new BuddyTracker({
      dht: net.nodes[index],
      clock: net.clock,
      accountId: account.id,
      expiryCheckMs: profile.expiryCheckMs,
      onChange: (status) => changes.push({ status, atMs: net.clock.now() }),
    });
    tracker.start();
    return { tracker, changes };
  };

  // The attacker reads the account hash like anyone and keeps the newest
  // announcement (not goodbye) it heard.
  let heard: { value: DhtValue; announcement: DeviceAnnouncement } | undefined;
  net.nodes[ATTACKER].listen(account.id, (event) => {
    if (event.kind !== "added") return;
    for (const value of event.values) {
      let announcement: DeviceAnnouncement;
      try {
        announcement = DeviceAnnouncement.decode(value.data);
      } catch {
        continue;
      }
      if (announcement.goodbye) continue;
      if (heard === undefined || announcement.seq > heard.announcement.seq) {
        heard = { value, announcement };
      }
    }
  });
  let replaying = false;
  let freshId = 1n << 62n;
  const replay = () => {
    if (!replaying || heard === undefined) return;
    const node = net.nodes[ATTACKER];
    node.put(account.id, heard.value);
    node.put(account.id, { ...heard.value, id: freshId++ });
    net.clock.setTimer(profile.dhtLifetimeMs / 2, replay);
  };
  const startReplaying = () => {
    replaying = true;
    replay();
  };
  const runUntil = (done: () => boolean, limitMs: number) => {
    const end = net.clock.now() + limitMs;
    while (!done() && net.clock.now() < end) net.run(STEP_MS);
  };
  return {
    net,
    announcer,
    watch,
    heard: () => heard,
    startReplaying,
    runUntil,
  };
}

Deno.test("zombie presence: re-putting a crashed device's last announcement keeps it online no longer than its short signed validity", () => {
  const { net, announcer, watch, heard, startReplaying, runUntil } = setup(
    "presence-zombie-crash",
  );
  const { tracker, changes } = watch(WATCHER);
  announcer.start();
  runUntil(() => tracker.status === 1, 30_000);
  assert.equal(tracker.status, 1);

  // Crash just after a re-sign: the newest announcement has its whole
  // validity ahead (the worst case).
  const signed = announcer.signed;
  runUntil(() => announcer.signed > signed, 2 * profile.resignMs);
  assert.equal(announcer.signed, signed + 1);
  net.run(5 * STEP_MS);
  const last = heard();
  assert.ok(last !== undefined, "the attacker did not hear the announcement");
  assert.equal(last.announcement.seq, announcer.seq);
  const crashAt = net.clock.now();
  net.crash(DEVICE);
  startReplaying();

  // Bounded by 30 minutes or more: the validity before the fix.
  runUntil(() => tracker.status === 0, 4 * 30 * 60_000);
  const offline = changes.find((change) => change.status === 0);
  assert.ok(offline !== undefined, "still online after the replays");
  const zombieMs = offline.atMs - crashAt;
  // The replays worked: without them the device would go offline once
  // storing nodes drop its value.
  assert.ok(
    zombieMs > profile.dhtLifetimeMs + profile.expiryCheckMs,
    `offline after ${zombieMs} ms: the replays had no effect`,
  );
  // Never online past the signed validity of what was replayed ...
  assert.ok(offline.atMs <= last.announcement.expiresMs);
  // ... which is short: a few re-sign periods, not half an hour.
  assert.ok(
    zombieMs <= ZOMBIE_BOUND_MS,
    `shown online ${zombieMs} ms after the crash (bound ${ZOMBIE_BOUND_MS} ms)`,
  );
  assert.deepEqual(changes.map((change) => change.status), [1, 0]);
  net.stop();
});

Deno.test("zombie presence: after a goodbye, a replay of the last announcement brings the device back for nobody, not even watchers that start later", () => {
  const { net, announcer, watch, heard, startReplaying, runUntil } = setup(
    "presence-zombie-goodbye",
  );
  const early = watch(WATCHER);
  announcer.start();
  runUntil(() => early.tracker.status === 1, 30_000);
  assert.equal(early.tracker.status, 1);
  net.run(profile.resignMs + 5 * STEP_MS);
  const last = heard();
  assert.ok(last !== undefined, "the attacker did not hear the announcement");

  announcer.stop();
  runUntil(() => early.tracker.status === 0, 10_000);
  assert.equal(early.tracker.status, 0);
  startReplaying();

  // Watchers come online one after another until the replayed
  // announcement's signed validity is over (on the watchers' clock).
  const late: ReturnType<typeof watch>[] = [];
  const spacing = Math.floor(
    (last.announcement.expiresMs - net.clock.now()) / LATE.length,
  );
  assert.ok(spacing > profile.dhtLifetimeMs, "late watchers come too early");
  for (const index of LATE) {
    net.run(spacing);
    late.push(watch(index));
  }
  net.run(profile.clockSkewMs + profile.resignMs);
  assert.ok(net.clock.now() > last.announcement.expiresMs);
  assert.deepEqual(early.changes.map((change) => change.status), [1, 0]);
  for (const [i, watcher] of late.entries()) {
    assert.deepEqual(
      watcher.changes,
      [],
      `late watcher ${i} believed the replay`,
    );
  }
  // The replays did reach them: they hold the device's records.
  assert.ok(late.every((watcher) => watcher.tracker.devices().length === 1));
  net.stop();
});
