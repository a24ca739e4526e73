/**
 * BuddySubscriptions alone: a real WatchList over a fake DhtClient (the test
 * pushes signed announcements into its listens), a ManualClock standing
 * still, and fake direct links that record connect/forget/disconnect and
 * answer a status and linked devices the test sets. Wired as the account
 * wires it: the watch list asks the subscriptions for presence, and tracker
 * changes call notify() and linkDevice().
 */
import assert from "node:assert/strict";
import {
  type BuddyNotification,
  BuddySubscriptions,
} from "../lib/presence/buddy_subscriptions.ts";
import { WatchList } from "../lib/presence/watch_list.ts";
import type { TrackedDevice } from "../lib/presence/buddy_tracker.ts";
import type {
  ConnectionManager,
  LinkStatus,
} from "../lib/channel/connection_manager.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { announcementValue, ListenRecordingDht } from "./_presence_helpers.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const START_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("buddy-subscriptions"));
const bob = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const phone = DeviceKeys.generate(random);
const BOB = bob.id.toString();
const CAROL = AccountKeys.generate(random).id.toString();
const DAVE = AccountKeys.generate(random).id.toString();
const LAPTOP = laptop.id.toString();
const PHONE = phone.id.toString();

const certificates = new Map([
  [
    laptop,
    DeviceCertificate.issue(bob, laptop, {
      issuedMs: START_MS - 1_000,
      name: "laptop",
    }),
  ],
  [
    phone,
    DeviceCertificate.issue(bob, phone, {
      issuedMs: START_MS - 1_000,
      name: "phone",
    }),
  ],
]);

function announcement(
  device: DeviceKeys,
  seq: number,
  options: { note?: string; goodbye?: boolean; endpoints?: string[] } = {},
): DhtValue {
  return announcementValue(
    device,
    certificates.get(device)!,
    seq,
    START_MS,
    options,
  );
}

/** The part of ConnectionManager BuddySubscriptions uses, recording calls. */
class FakeLinks {
  readonly calls: string[] = [];
  readonly statusOf = new Map<string, LinkStatus>();
  readonly linked = new Map<string, string[]>();

  connect(certificate: DeviceCertificate, endpoints: readonly string[]): void {
    this.calls.push(
      `connect ${certificate.deviceId.toString()} [${endpoints.join(",")}]`,
    );
  }
  forget(deviceHex: string): void {
    this.calls.push(`forget ${deviceHex}`);
  }
  disconnect(accountHex: string): void {
    this.calls.push(`disconnect ${accountHex}`);
  }
  status(accountHex: string): LinkStatus {
    return this.statusOf.get(accountHex) ??
      { connected: false, note: undefined };
  }
  linkedDevices(accountHex: string): string[] {
    return this.linked.get(accountHex) ?? [];
  }
}

interface Setup {
  dht: ListenRecordingDht;
  watches: WatchList;
  buddies: BuddySubscriptions;
  links: FakeLinks;
  emitted: BuddyNotification[];
  banned: Set<string>;
  /** Links on (the fake is handed out) or off (undefined). */
  linksOn: { value: boolean };
  /** The account runs: watch() reaches the watch list. */
  running: { value: boolean };
}

function setup(): Setup {
  const dht = new ListenRecordingDht();
  const links = new FakeLinks();
  const emitted: BuddyNotification[] = [];
  const banned = new Set<string>();
  const linksOn = { value: true };
  const running = { value: true };
  // deno-lint-ignore prefer-const
  let buddies: BuddySubscriptions;
  const watches = new WatchList({
    dht,
    clock: new ManualClock(START_MS),
    expiryCheckMs: 1_500,
    presenceOf: (uri, tracker) => buddies.presenceOf(uri, tracker),
    onChange: (uri) => buddies.notify(uri),
    onDevice: (uri, device) => {
      buddies.notify(uri);
      buddies.linkDevice(uri, device);
    },
  });
  buddies = new BuddySubscriptions({
    watches,
    links: () =>
      linksOn.value ? links as unknown as ConnectionManager : undefined,
    isBanned: (uri) => banned.has(uri),
    watch: (uri, reason) => {
      if (running.value) watches.watch(uri, reason);
    },
    emit: (notification) => emitted.push(notification),
  });
  return { dht, watches, buddies, links, emitted, banned, linksOn, running };
}

function told(
  buddyUri: string,
  status: 0 | 1 | 2,
  lineStatus: string,
): BuddyNotification {
  return { type: "newBuddyNotification", buddyUri, status, lineStatus };
}

/** The device of `uri` whose id is `deviceHex`, as the tracker sees it. */
function tracked(
  watches: WatchList,
  uri: string,
  deviceHex: string,
): TrackedDevice {
  const device = watches.tracker(uri)?.devices().find((device) =>
    device.certificate.deviceId.toString() === deviceHex
  );
  assert.ok(device, `no device ${deviceHex} tracked for ${uri}`);
  return device;
}

Deno.test("BuddySubscriptions does not follow a banned account: no listen, no notification", () => {
  const { dht, buddies, emitted, banned, links } = setup();
  banned.add(CAROL);
  buddies.subscribe(CAROL);
  assert.deepEqual(dht.listens, []);
  assert.deepEqual(emitted, []);
  assert.equal(buddies.uris.has(CAROL), false);
  assert.deepEqual(buddies.statuses(), []);
  assert.deepEqual(links.calls, []);
  // A notify for it tells nothing either.
  buddies.notify(CAROL);
  assert.deepEqual(emitted, []);
});

Deno.test("BuddySubscriptions tells a new subscriber to an already watched online buddy its state at once", () => {
  const { dht, watches, buddies, emitted, links } = setup();
  // Watched for an outbox entry: online, but nobody subscribed is told.
  watches.watch(BOB, "outbox");
  dht.add(
    BOB,
    announcement(laptop, 1, { note: "hi", endpoints: ["udp:10.0.0.1:4000"] }),
  );
  assert.deepEqual(emitted, []);
  // Not subscribed: not linked.
  assert.deepEqual(links.calls, []);

  buddies.subscribe(BOB);
  assert.deepEqual(emitted, [told(BOB, 1, "hi")]);
  // Same tracker, no second listen.
  assert.equal(dht.listens.length, 1);
  // Its online device is linked now.
  assert.deepEqual(links.calls, [`connect ${LAPTOP} [udp:10.0.0.1:4000]`]);
  // Subscribing again tells the state again (a new subscriber).
  buddies.subscribe(BOB);
  assert.deepEqual(emitted, [told(BOB, 1, "hi"), told(BOB, 1, "hi")]);
  assert.deepEqual([...buddies.uris], [BOB]);
});

Deno.test("BuddySubscriptions tells a new subscriber nothing while the buddy is offline, then the change", () => {
  const { dht, buddies, emitted } = setup();
  buddies.subscribe(BOB);
  assert.deepEqual(dht.listens.map((listen) => listen.key), [BOB]);
  assert.deepEqual(emitted, []);
  dht.add(BOB, announcement(phone, 1, { note: "on the go" }));
  assert.deepEqual(emitted, [told(BOB, 1, "on the go")]);
});

Deno.test("BuddySubscriptions.presenceOf() is 2 with the link's note while linked, else the DHT's 1 or 0", () => {
  const { dht, watches, buddies, links, linksOn } = setup();
  buddies.subscribe(BOB);
  const tracker = watches.tracker(BOB)!;
  assert.deepEqual(buddies.presenceOf(BOB, tracker), { status: 0, note: "" });
  dht.add(BOB, announcement(laptop, 1, { note: "from the dht" }));
  assert.deepEqual(buddies.presenceOf(BOB, tracker), {
    status: 1,
    note: "from the dht",
  });
  links.statusOf.set(BOB, { connected: true, note: "from the link" });
  assert.deepEqual(buddies.presenceOf(BOB, tracker), {
    status: 2,
    note: "from the link",
  });
  // Linked with no note over the link yet: the DHT's note.
  links.statusOf.set(BOB, { connected: true, note: undefined });
  assert.deepEqual(buddies.presenceOf(BOB, tracker), {
    status: 2,
    note: "from the dht",
  });
  // A link that is not up does not count, whatever its note.
  links.statusOf.set(BOB, { connected: false, note: "stale" });
  assert.deepEqual(buddies.presenceOf(BOB, tracker), {
    status: 1,
    note: "from the dht",
  });
  // Links off: the DHT alone.
  links.statusOf.set(BOB, { connected: true, note: "from the link" });
  linksOn.value = false;
  assert.deepEqual(buddies.presenceOf(BOB, tracker), {
    status: 1,
    note: "from the dht",
  });
  // The DHT says offline.
  dht.add(BOB, announcement(laptop, 2, { goodbye: true }));
  assert.deepEqual(buddies.presenceOf(BOB, tracker), { status: 0, note: "" });
});

Deno.test("BuddySubscriptions.notify() tells a link coming up as status 2 with its note", () => {
  const { dht, buddies, links, emitted } = setup();
  buddies.subscribe(BOB);
  dht.add(BOB, announcement(laptop, 1, { note: "dht" }));
  assert.deepEqual(emitted, [told(BOB, 1, "dht")]);
  links.statusOf.set(BOB, { connected: true, note: "linked" });
  buddies.notify(BOB);
  links.statusOf.set(BOB, { connected: false, note: undefined });
  buddies.notify(BOB);
  assert.deepEqual(emitted, [
    told(BOB, 1, "dht"),
    told(BOB, 2, "linked"),
    told(BOB, 1, "dht"),
  ]);
});

Deno.test("BuddySubscriptions.notify() does not repeat an unchanged state", () => {
  const { dht, buddies, emitted } = setup();
  buddies.subscribe(BOB);
  dht.add(BOB, announcement(laptop, 1, { note: "a" }));
  assert.deepEqual(emitted, [told(BOB, 1, "a")]);
  buddies.notify(BOB);
  buddies.notify(BOB);
  // A newer announcement with the same note changes nothing to tell.
  dht.add(BOB, announcement(laptop, 2, { note: "a" }));
  buddies.notify(BOB);
  assert.deepEqual(emitted, [told(BOB, 1, "a")]);
  dht.add(BOB, announcement(laptop, 3, { note: "b" }));
  buddies.notify(BOB);
  assert.deepEqual(emitted, [told(BOB, 1, "a"), told(BOB, 1, "b")]);
  dht.add(BOB, announcement(laptop, 4, { note: "b", goodbye: true }));
  buddies.notify(BOB);
  assert.deepEqual(emitted, [
    told(BOB, 1, "a"),
    told(BOB, 1, "b"),
    told(BOB, 0, ""),
  ]);
  // Not subscribed: nothing to tell.
  buddies.notify(CAROL);
  assert.equal(emitted.length, 3);
});

Deno.test("BuddySubscriptions.unsubscribe() cancels the listen and closes the links", () => {
  const { dht, watches, buddies, links, emitted } = setup();
  buddies.subscribe(BOB);
  dht.add(BOB, announcement(laptop, 1));
  links.calls.length = 0;
  buddies.unsubscribe(BOB);
  assert.deepEqual(dht.cancelled, [BOB]);
  assert.deepEqual(links.calls, [`disconnect ${BOB}`]);
  assert.equal(watches.tracker(BOB), undefined);
  assert.equal(buddies.uris.has(BOB), false);
  assert.deepEqual(buddies.statuses(), []);
  // No longer told anything.
  const before = emitted.length;
  buddies.notify(BOB);
  assert.equal(emitted.length, before);
});

Deno.test("BuddySubscriptions.unsubscribe() keeps a listen another reason holds", () => {
  const { dht, watches, buddies, links } = setup();
  watches.watch(BOB, "outbox");
  buddies.subscribe(BOB);
  buddies.unsubscribe(BOB);
  assert.deepEqual(dht.cancelled, []);
  assert.ok(watches.isWatchedFor(BOB, "outbox"));
  assert.equal(watches.isWatchedFor(BOB, "subscription"), false);
  assert.deepEqual(links.calls, [`disconnect ${BOB}`]);
});

Deno.test("BuddySubscriptions.linkDevice() links online devices of followed, unbanned buddies and forgets offline ones", () => {
  const { dht, watches, buddies, links, banned, linksOn } = setup();
  // Watched but not subscribed: an online device is not linked.
  watches.watch(BOB, "outbox");
  dht.add(BOB, announcement(laptop, 1, { endpoints: ["udp:10.0.0.1:4000"] }));
  const online = tracked(watches, BOB, LAPTOP);
  assert.equal(online.online, true);
  buddies.linkDevice(BOB, online);
  assert.deepEqual(links.calls, []);

  // Subscribed: linked (once by subscribe, once by the explicit call).
  buddies.subscribe(BOB);
  buddies.linkDevice(BOB, online);
  const connect = `connect ${LAPTOP} [udp:10.0.0.1:4000]`;
  assert.deepEqual(links.calls, [connect, connect]);

  // A device coming online later is linked through the tracker.
  dht.add(BOB, announcement(phone, 1, { endpoints: ["udp:10.0.0.2:4000"] }));
  assert.deepEqual(links.calls, [
    connect,
    connect,
    `connect ${PHONE} [udp:10.0.0.2:4000]`,
  ]);

  // A device going offline is forgotten (not redialed).
  links.calls.length = 0;
  dht.add(BOB, announcement(phone, 2, { goodbye: true }));
  assert.deepEqual(links.calls, [`forget ${PHONE}`]);
  links.calls.length = 0;
  buddies.linkDevice(BOB, tracked(watches, BOB, PHONE));
  assert.deepEqual(links.calls, [`forget ${PHONE}`]);

  // Banned (still subscribed): an online device is not linked.
  links.calls.length = 0;
  banned.add(BOB);
  buddies.linkDevice(BOB, online);
  assert.deepEqual(links.calls, []);

  // Links off: nothing at all.
  banned.delete(BOB);
  linksOn.value = false;
  buddies.linkDevice(BOB, online);
  buddies.linkDevice(BOB, tracked(watches, BOB, PHONE));
  assert.deepEqual(links.calls, []);
});

Deno.test("BuddySubscriptions.linkDevice() forgets an offline device of a buddy no longer followed", () => {
  const { dht, watches, buddies, links } = setup();
  watches.watch(BOB, "outbox");
  dht.add(BOB, announcement(laptop, 1));
  // The tracker reports it gone (the wiring forgets it)...
  dht.add(BOB, announcement(laptop, 2, { goodbye: true }));
  assert.deepEqual(links.calls, [`forget ${LAPTOP}`]);
  // ...and so does a direct call, followed or not.
  links.calls.length = 0;
  buddies.linkDevice(BOB, tracked(watches, BOB, LAPTOP));
  assert.deepEqual(links.calls, [`forget ${LAPTOP}`]);
});

Deno.test("BuddySubscriptions.devices() lists a watched buddy's devices with name, note and link", () => {
  const { dht, buddies, links } = setup();
  assert.deepEqual(buddies.devices(BOB), []);
  buddies.subscribe(BOB);
  dht.add(
    BOB,
    announcement(laptop, 1, { note: "at my desk" }),
    announcement(phone, 1, { note: "bye", goodbye: true }),
  );
  links.linked.set(BOB, [LAPTOP]);
  const byId = (a: { device: string }, b: { device: string }) =>
    a.device < b.device ? -1 : a.device > b.device ? 1 : 0;
  assert.deepEqual(
    buddies.devices(BOB).sort(byId),
    [
      {
        device: LAPTOP,
        name: "laptop",
        online: true,
        note: "at my desk",
        connected: true,
      },
      {
        device: PHONE,
        name: "phone",
        online: false,
        note: "bye",
        connected: false,
      },
    ].sort(byId),
  );
  assert.deepEqual(buddies.devices(CAROL), []);
});

Deno.test("BuddySubscriptions.statuses() lists every subscription in order, 0 for an untracked one", () => {
  const { dht, buddies, links, running } = setup();
  // Subscribed while the account is stopped: followed, but not tracked.
  running.value = false;
  buddies.subscribe(DAVE);
  running.value = true;
  buddies.subscribe(BOB);
  buddies.subscribe(CAROL);
  dht.add(BOB, announcement(laptop, 1, { note: "on the dht" }));
  links.statusOf.set(CAROL, { connected: true, note: "linked" });
  // Untracked is 0 even with a link up.
  links.statusOf.set(DAVE, { connected: true, note: "linked" });
  assert.deepEqual(buddies.statuses(), [
    { buddy: DAVE, status: 0, lineStatus: "" },
    { buddy: BOB, status: 1, lineStatus: "on the dht" },
    { buddy: CAROL, status: 2, lineStatus: "linked" },
  ]);
  assert.deepEqual(dht.listens.map((listen) => listen.key), [BOB, CAROL]);
  // Subscribing anew goes last (the order is the subscriptions', not the ids').
  buddies.unsubscribe(BOB);
  buddies.subscribe(BOB);
  dht.add(BOB, announcement(laptop, 1, { note: "on the dht" }));
  assert.deepEqual(buddies.statuses().map((status) => status.buddy), [
    DAVE,
    CAROL,
    BOB,
  ]);
});
