/**
 * Presence on a network of stock OpenDHT 2.4 storing nodes: the store policy
 * that makes a `DhtNode` play one, the seeded choice of stock nodes in a
 * `Testnet`, the tracker's silence rule (a device whose refreshes stock nodes
 * pushed, then stopped, is offline), and the targets on a small simulation at
 * `--stock-share 0.99`, on virtual time.
 */
import assert from "node:assert/strict";
import { ValueStore } from "../lib/dht/value_store.ts";
import {
  OUR_STORE_POLICY,
  STOCK_OPENDHT_STORE_POLICY,
} from "../lib/dht/store_policy.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import {
  ANNOUNCEMENT_VALUE_TYPE,
  JAMI_PROFILE,
  OUR_PROFILE,
  presenceNodeConfig,
  presenceValueTypes,
} from "../lib/presence/presence_profile.ts";
import type { DhtClient } from "../lib/dht/dht_client.ts";
import { Testnet } from "../lib/testing/testnet.ts";
import { BuddyTracker } from "../lib/presence/buddy_tracker.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { announcementValue, ListenRecordingDht } from "./_presence_helpers.ts";
import { runPresenceScenario } from "../sim/scenarios/presence.ts";
import { parseChurnSpec } from "../sim/churn/spec.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const KEY = InfoHash.get("stock presence");
const LISTENER = {
  nodeId: InfoHash.get("listener"),
  address: { host: "10.0.0.9", port: 4222 },
  socketId: 7,
};

function storeWith(policy: typeof OUR_STORE_POLICY): ValueStore {
  return new ValueStore({}, policy.storeTypes(presenceValueTypes(OUR_PROFILE)));
}

const announcement = {
  id: 9n,
  type: ANNOUNCEMENT_VALUE_TYPE,
  data: new Uint8Array([1, 2, 3]),
};

Deno.test("stock store policy: our announcement type is unknown, kept 10 min, and its refreshes are pushed", () => {
  const stock = storeWith(STOCK_OPENDHT_STORE_POLICY);
  stock.listen(KEY, LISTENER, 0);
  assert.equal(stock.store(KEY, announcement, 0, 0).outcome, "stored");
  const refresh = stock.refresh(KEY, announcement.id, 14 * SECOND);
  assert.deepEqual(refresh.notices.map((notice) => notice.refreshed), [[9n]]);
  // Our 24 s lifetime does not apply: still there a minute later.
  assert.equal(stock.get(KEY, MINUTE).length, 1);
  // Expired 10 minutes after the refresh, and the expiry is pushed (to a
  // listener that renewed its listen meanwhile).
  stock.listen(KEY, LISTENER, 5 * MINUTE);
  const lapse = 14 * SECOND + 10 * MINUTE;
  assert.equal(stock.expire(lapse - 1).notices.length, 0);
  assert.deepEqual(
    stock.expire(lapse).notices.map((notice) => notice.expired),
    [[9n]],
  );
});

Deno.test("our store policy: the announcement lives 24 s and its refreshes are quiet", () => {
  const ours = storeWith(OUR_STORE_POLICY);
  ours.listen(KEY, LISTENER, 0);
  ours.store(KEY, announcement, 0, 0);
  assert.equal(
    ours.refresh(KEY, announcement.id, 14 * SECOND).notices.length,
    0,
  );
  assert.equal(ours.expire(38 * SECOND).notices.length, 1);
});

Deno.test("Testnet stockShare: stock nodes are drawn from the seed, none at share 0", () => {
  const stockOf = (seed: number, share: number) => {
    const net = Testnet.create({
      nodes: 12,
      seed,
      stockShare: share,
      settleMs: 0,
    });
    const stock = net.nodes.map((_, i) => net.isStock(i));
    for (const node of net.nodes) node.stop();
    return stock;
  };
  const half = stockOf(1, 0.5);
  assert.deepEqual(stockOf(1, 0.5), half);
  assert.ok(half.some((stock) => stock) && half.some((stock) => !stock));
  assert.ok(stockOf(1, 0).every((stock) => !stock));
  assert.ok(stockOf(1, 1).every((stock) => stock));
});

const random = rngBytes(seededRng("stock-presence"));
const account = AccountKeys.generate(random);
const laptop = DeviceKeys.generate(random);
const START_MS = 1_700_000_000_000;
const certificate = DeviceCertificate.issue(account, laptop, {
  issuedMs: START_MS - 1_000,
});

function trackerWith(quietOfflineMs: number) {
  const clock = new ManualClock(START_MS);
  const dht = new ListenRecordingDht();
  const statuses: number[] = [];
  const tracker = new BuddyTracker({
    dht,
    clock,
    accountId: account.id,
    expiryCheckMs: 1_500,
    quietOfflineMs,
    onChange: (status) => statuses.push(status),
  });
  tracker.start();
  const value = announcementValue(laptop, certificate, 1, START_MS);
  dht.add(account.id.toString(), value);
  const refresh = () =>
    dht.listens[0].callback({ kind: "refreshed", ids: [value.id] });
  return { clock, statuses, refresh, tracker };
}

Deno.test("BuddyTracker: a device whose pushed refreshes stop is offline after the silence, and back with the next push", () => {
  const { clock, statuses, refresh } = trackerWith(30 * SECOND);
  assert.deepEqual(statuses, [1]);
  refresh(); // a stock storing node pushes refreshes: silence now means something
  clock.advance(14 * SECOND);
  refresh();
  clock.advance(29 * SECOND);
  assert.deepEqual(statuses, [1]);
  clock.advance(1 * SECOND);
  assert.deepEqual(statuses, [1, 0]);
  refresh(); // it was only late
  assert.deepEqual(statuses, [1, 0, 1]);
});

Deno.test("BuddyTracker: no silence rule without pushed refreshes (our nodes) or when it is off (Jami)", () => {
  const quietNodes = trackerWith(30 * SECOND);
  quietNodes.clock.advance(5 * MINUTE);
  assert.deepEqual(quietNodes.statuses, [1]);
  const off = trackerWith(0);
  off.refresh();
  off.clock.advance(5 * MINUTE);
  assert.deepEqual(off.statuses, [1]);
});

const CHURN = parseChurnSpec(
  "weibull:shape=0.5,scale=8m/pareto:alpha=1.5,min=3m",
);

const onStock = (
  options: { profile?: typeof OUR_PROFILE; stockShare?: number; seed?: number },
) =>
  runPresenceScenario({
    accounts: 20,
    // Several plain nodes per device: the devices' own nodes run our policy,
    // and stock nodes should hold most values as on the public network.
    infraNodes: 100,
    seed: options.seed ?? 7,
    durationMs: 15 * MINUTE,
    churn: CHURN,
    minContacts: 5,
    maxContacts: 15,
    profile: options.profile ?? OUR_PROFILE,
    stockShare: options.stockShare,
  });

/** Each stock run once, shared by the tests that read it. */
const runs = new Map<string, ReturnType<typeof onStock>>();
const once = (name: string, run: () => ReturnType<typeof onStock>) => {
  if (!runs.has(name)) runs.set(name, run());
  return runs.get(name)!;
};
const withSilenceRule = () =>
  once("after", () => onStock({ stockShare: 0.99 }));
const withoutSilenceRule = () =>
  once("before", () =>
    onStock({
      stockShare: 0.99,
      profile: { ...OUR_PROFILE, quietOfflineMs: 0 },
    }));

Deno.test("presence on stock OpenDHT nodes (share 0.99): crash seen within 30 s, clean leave within 2 s, no false offline", async () => {
  const ours = await withSilenceRule();
  const text = JSON.stringify({ ...ours, cdf: undefined });
  assert.equal(ours.stock_share, 0.99);
  assert.ok(ours.offline_crash_ms.count > 0, text);
  assert.ok(ours.offline_graceful_ms.count > 0, text);
  assert.ok(ours.offline_crash_ms.p99 <= 30 * SECOND, text);
  assert.ok(ours.offline_graceful_ms.p99 <= 2 * SECOND, text);
  assert.ok(ours.online_detect_ms.p99 <= 2 * SECOND, text);
  assert.equal(ours.false_offline_events, 0, text);
  assert.deepEqual(ours.missed, {
    online: 0,
    offline_graceful: 0,
    offline_crash: 0,
  }, text);
});

Deno.test("presence on stock OpenDHT nodes without the silence rule: crashes take minutes, for the same bytes", async () => {
  const before = await withoutSilenceRule();
  const after = await withSilenceRule();
  const text = JSON.stringify({
    before: { ...before, cdf: undefined },
    after: { ...after, cdf: undefined },
  });
  const slowest = Math.max(
    before.offline_crash_ms.count > 0 ? before.offline_crash_ms.p99 : 0,
    before.unseen_at_end.offline_crash > 0 ? 10 * MINUTE : 0,
  );
  assert.ok(slowest > 2 * MINUTE, text);
  // The rule reads pushes that come anyway: no more than a few percent
  // apart (the runs differ in what the devices do after each status).
  assert.ok(
    after.presence_bytes_per_device_hour <=
      1.05 * before.presence_bytes_per_device_hour,
    text,
  );
});

Deno.test("presence at stock share 0: the same report as without the option", async () => {
  const without = await onStock({});
  const zero = await onStock({ stockShare: 0 });
  assert.deepEqual(zero, without);
  assert.equal(without.stock_share, undefined);
});

/**
 * A stock-only network, a publisher keeping a device announcement alive and
 * a watcher's tracker listening at 2 storing nodes with the silence rule;
 * both devices are outside the key's closest nodes.
 */
function twoListenNodes(seed: string) {
  const net = Testnet.create({
    nodes: 16,
    seed,
    stockShare: 1,
    nodeConfig: presenceNodeConfig(OUR_PROFILE),
  });
  const key = account.id;
  const closest = new Set(
    net.closestOnline(key, 6).map((id) => id.toString()),
  );
  const [publisher, watcher] = net.nodes.filter((node) =>
    !closest.has(node.id.toString())
  );
  const issued = DeviceCertificate.issue(account, laptop, {
    issuedMs: net.clock.now() - 1_000,
  });
  const put = publisher.putPermanent(
    key,
    announcementValue(laptop, issued, 1, net.clock.now()),
  );
  const statuses: { status: number; atMs: number }[] = [];
  const tracker = new BuddyTracker({
    dht: watcher,
    clock: net.clock,
    accountId: account.id,
    expiryCheckMs: OUR_PROFILE.expiryCheckMs,
    quietOfflineMs: OUR_PROFILE.quietOfflineMs,
    listenNodes: OUR_PROFILE.listenNodes,
    onChange: (status) => statuses.push({ status, atMs: net.clock.now() }),
  });
  tracker.start();
  net.run(20 * SECOND);
  /** Online storing nodes (not the watcher) that hold a listener of it. */
  const listenedAt = () =>
    net.onlineIndexes().filter((i) =>
      net.nodes[i] !== watcher && net.nodes[i].stats().storage.listeners > 0
    );
  return { net, put, statuses, listenedAt, publisher };
}

Deno.test("stock nodes, 2 listen nodes: a listened storing node that dies is replaced within a minute, with no false offline", () => {
  const { net, statuses, listenedAt } = twoListenNodes("two-listen-nodes");
  assert.equal(OUR_PROFILE.listenNodes, 2);
  const before = listenedAt();
  assert.equal(before.length, 2, JSON.stringify(before));
  assert.deepEqual(statuses.map((s) => s.status), [1]);
  net.crash(before[0]);
  net.run(MINUTE);
  const after = listenedAt();
  // Moved at once, not at the next renewal (every 5 minutes).
  assert.equal(after.length, 2, JSON.stringify(after));
  assert.ok(!after.includes(before[0]));
  assert.ok(after.includes(before[1]));
  // The other node kept pushing refreshes meanwhile: never offline.
  net.run(3 * MINUTE);
  assert.deepEqual(statuses.map((s) => s.status), [1]);
  net.stop();
});

Deno.test("stock nodes, 2 listen nodes: a crashed publisher is offline within 30 s", () => {
  const { net, statuses, put, publisher } = twoListenNodes("crash-two-nodes");
  net.run(2 * MINUTE + 7 * SECOND);
  put.cancel();
  const crashedMs = net.clock.now();
  net.crash(net.nodes.indexOf(publisher));
  net.run(MINUTE);
  assert.deepEqual(statuses.map((s) => s.status), [1, 0]);
  assert.ok(
    statuses[1].atMs - crashedMs <= 30 * SECOND,
    JSON.stringify(statuses),
  );
  net.stop();
});

Deno.test("presence on stock OpenDHT nodes (share 0.99): no more bytes than the Jami profile", async () => {
  const ours = await withSilenceRule();
  const jami = await once("jami", () =>
    onStock({
      stockShare: 0.99,
      profile: JAMI_PROFILE,
    }));
  const text = JSON.stringify({
    ours: ours.presence_bytes_by_kind,
    jami: jami.presence_bytes_by_kind,
  });
  assert.ok(
    ours.presence_bytes_per_device_hour <= jami.presence_bytes_per_device_hour,
    text,
  );
  // The split adds up, and stock nodes' pushed refreshes are in it.
  const kinds = Object.values(ours.presence_bytes_by_kind);
  const sum = kinds.reduce((a, b) => a + b, 0);
  assert.ok(
    Math.abs(sum - ours.presence_bytes_per_device_hour) <= kinds.length,
    text,
  );
  assert.ok((ours.presence_bytes_by_kind["update re"] ?? 0) > 0, text);
});

Deno.test("stock nodes, 2 listen nodes: when both listened storing nodes die, the listen moves and the device is back within a minute", () => {
  const { net, statuses, listenedAt } = twoListenNodes("both-listen-nodes");
  const before = listenedAt();
  assert.equal(before.length, 2, JSON.stringify(before));
  const diedMs = net.clock.now();
  for (const index of before) net.crash(index);
  net.run(MINUTE);
  const after = listenedAt();
  assert.equal(after.length, 2, JSON.stringify(after));
  assert.ok(after.every((index) => !before.includes(index)));
  // The silence looked like a crash for a moment; the first push from the
  // new nodes ended it, long before the next renewal (5 minutes).
  assert.deepEqual(statuses.map((s) => s.status), [1, 0, 1]);
  assert.ok(statuses[2].atMs - diedMs <= MINUTE, JSON.stringify(statuses));
  net.run(3 * MINUTE);
  assert.deepEqual(statuses.map((s) => s.status), [1, 0, 1]);
  net.stop();
});

/**
 * A publisher keeps a device announcement alive (refreshed every 14 s);
 * a watcher starts listening just after a refresh round, hears the record,
 * and the publisher crashes before its next round: no refresh of it is ever
 * pushed to that watcher. `stockShare` 1: stock storing nodes; 0: ours.
 */
function newWatcherThenCrash(seed: string, stockShare: number) {
  const net = Testnet.create({
    nodes: 16,
    seed,
    stockShare,
    nodeConfig: presenceNodeConfig(OUR_PROFILE),
  });
  const key = account.id;
  const closest = new Set(
    net.closestOnline(key, 6).map((id) => id.toString()),
  );
  const [publisher, watcher] = net.nodes.filter((node) =>
    !closest.has(node.id.toString())
  );
  const issued = DeviceCertificate.issue(account, laptop, {
    issuedMs: net.clock.now() - 1_000,
  });
  const put = publisher.putPermanent(
    key,
    announcementValue(laptop, issued, 1, net.clock.now()),
  );
  // The put, then its first refresh round (10 s before the 24 s lifetime).
  net.run(15 * SECOND);
  const statuses: { status: number; atMs: number }[] = [];
  const refreshes: number[] = [];
  const tracker = new BuddyTracker({
    dht: {
      listen: (listenKey, callback, options) =>
        watcher.listen(listenKey, (event) => {
          if (event.kind === "refreshed") refreshes.push(net.clock.now());
          callback(event);
        }, options),
      get: (getKey, callbacks) => watcher.get(getKey, callbacks),
    } as Pick<DhtClient, "listen" | "get"> as DhtClient,
    clock: net.clock,
    accountId: account.id,
    expiryCheckMs: OUR_PROFILE.expiryCheckMs,
    quietOfflineMs: OUR_PROFILE.quietOfflineMs,
    listenNodes: OUR_PROFILE.listenNodes,
    onChange: (status) => statuses.push({ status, atMs: net.clock.now() }),
  });
  tracker.start();
  net.run(3 * SECOND);
  return { net, put, publisher, statuses, refreshes, tracker };
}

Deno.test("stock nodes: a publisher that crashes before a new watcher heard any refresh of it is offline within 35 s", () => {
  const { net, put, publisher, statuses, refreshes } = newWatcherThenCrash(
    "crash-before-first-refresh",
    1,
  );
  assert.deepEqual(statuses.map((s) => s.status), [1]);
  put.cancel();
  const crashedMs = net.clock.now();
  net.crash(net.nodes.indexOf(publisher));
  net.run(MINUTE);
  // No refresh was ever pushed to the watcher: only the stock holders'
  // answer to its listen (no quiet types named) made the silence count.
  assert.deepEqual(refreshes, []);
  assert.deepEqual(statuses.map((s) => s.status), [1, 0]);
  assert.ok(
    statuses[1].atMs - crashedMs <= 35 * SECOND,
    JSON.stringify({ crashedMs, statuses }),
  );
  net.stop();
});

Deno.test("a new watcher of a live device: no false offline, on stock nodes (refreshes pushed) or ours (refreshes quiet, named in the listen reply)", () => {
  for (const share of [1, 0]) {
    const { net, statuses, refreshes } = newWatcherThenCrash(
      `new-watcher-live-${share}`,
      share,
    );
    net.run(3 * MINUTE);
    assert.deepEqual(statuses.map((s) => s.status), [1], `share ${share}`);
    // Stock holders pushed the refreshes; ours kept them quiet.
    assert.equal(refreshes.length > 0, share === 1, `share ${share}`);
    net.stop();
  }
});
