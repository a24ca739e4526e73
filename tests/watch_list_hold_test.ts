/**
 * WatchList.hold() and recheck() (our own node offline, then back), with a
 * fake DHT whose gets the test answers by hand and a manual clock: nothing
 * is told while held, the re-check looks every account up, and only what
 * differs from what was last told is told after it. A lookup nobody answered
 * drops nothing while our own node hears nothing back (`reachable`).
 */
import assert from "node:assert/strict";
import { WatchList } from "../lib/presence/watch_list.ts";
import type { GetCallbacks } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import type { SearchResult } from "../lib/dht/search.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import type { InfoHash as Key } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { announcementValue, ListenRecordingDht } from "./_presence_helpers.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const START_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("watch-list-hold"));

function account() {
  const keys = AccountKeys.generate(random);
  const device = DeviceKeys.generate(random);
  const certificate = DeviceCertificate.issue(keys, device, {
    issuedMs: START_MS - 1_000,
  });
  return { uri: keys.id.toString(), device, certificate };
}
const bob = account();
const carol = account();

/** Records gets; the test ends them with `answer`. */
class ManualGetDht extends ListenRecordingDht {
  readonly gets: { key: string; callbacks: GetCallbacks }[] = [];
  override get(key: Key, callbacks: GetCallbacks) {
    this.gets.push({ key: key.toString(), callbacks });
    return { cancel() {} };
  }
  answer(key: string, values: DhtValue[], nodes: number): void {
    const index = this.gets.findIndex((get) => get.key === key);
    assert.ok(index >= 0, `no get at ${key}`);
    const [get] = this.gets.splice(index, 1);
    const result = {
      nodes: new Array(nodes).fill({ id: InfoHash.get("n") }),
      hops: 1,
      requests: nodes,
    } as unknown as SearchResult;
    get.callbacks.onDone?.(values, result);
  }
}

function setup() {
  const clock = new ManualClock(START_MS);
  const dht = new ManualGetDht();
  const told: string[] = [];
  /** Our own node hears the network (tests turn it off for an outage). */
  const network = { reachable: true };
  const watches: WatchList = new WatchList({
    dht,
    clock,
    expiryCheckMs: 1_500,
    reachable: () => network.reachable,
    onChange: (uri) => {
      const presence = watches.notification(uri);
      if (presence) {
        told.push(`${uri === bob.uri ? "bob" : "carol"}:${presence.status}`);
      }
    },
    onDevice() {},
  });
  for (const { uri } of [bob, carol]) watches.watch(uri, "subscription");
  const online = (who: typeof bob, seq: number) =>
    announcementValue(who.device, who.certificate, seq, clock.now());
  return { clock, dht, told, watches, online, network };
}

Deno.test("WatchList.hold(): nothing is told while held; recheck() tells only real changes", () => {
  const { clock, dht, told, watches, online, network } = setup();
  const bobValue = online(bob, 1);
  const carolValue = online(carol, 1);
  dht.add(bob.uri, bobValue);
  dht.add(carol.uri, carolValue);
  assert.deepEqual(told, ["bob:1", "carol:1"]);

  watches.hold();
  network.reachable = false;
  assert.equal(watches.held, true);
  // While held, both records are said to expire (no refresh heard).
  for (const listen of dht.listens) {
    listen.callback({
      kind: "expired",
      ids: [listen.key === bob.uri ? bobValue.id : carolValue.id],
    });
  }
  // Their expiry checks run: Carol's lookup is answered without her record
  // (her tracker goes to 0, told to nobody), Bob's by no node (nothing
  // changes).
  clock.advance(1_500);
  assert.equal(dht.gets.length, 2);
  dht.answer(carol.uri, [], 3);
  dht.answer(bob.uri, [], 0);
  assert.equal(watches.tracker(carol.uri)?.status, 0);
  assert.equal(watches.tracker(bob.uri)?.status, 1);
  assert.deepEqual(told, ["bob:1", "carol:1"]);

  // Back online: one get per watched account; Bob is still stored, Carol
  // is not (she crashed meanwhile). Nothing is told before both are back.
  network.reachable = true;
  let settled = 0;
  watches.recheck(() => settled++);
  assert.deepEqual(
    dht.gets.map((get) => get.key).sort(),
    [bob.uri, carol.uri].sort(),
  );
  dht.answer(bob.uri, [bobValue], 3);
  assert.equal(settled, 0);
  assert.equal(watches.held, true);
  dht.answer(carol.uri, [], 3);
  assert.equal(settled, 1);
  assert.equal(watches.held, false);
  for (const uri of [bob.uri, carol.uri]) {
    const presence = watches.notification(uri);
    if (presence) {
      told.push(`${uri === bob.uri ? "bob" : "carol"}:${presence.status}`);
    }
  }
  assert.deepEqual(told, ["bob:1", "carol:1", "carol:0"]);
});

Deno.test("WatchList.recheck(): a lookup no node answered drops nothing while our node hears nothing; a new hold keeps the hold", () => {
  const { dht, watches, online, network } = setup();
  dht.add(bob.uri, online(bob, 1));
  dht.add(carol.uri, online(carol, 1));
  watches.hold();
  network.reachable = false;
  let settled = 0;
  watches.recheck(() => settled++);
  // Offline again before the lookups came back: the hold stays.
  watches.hold();
  dht.answer(bob.uri, [], 0);
  dht.answer(carol.uri, [], 0);
  assert.equal(settled, 0);
  assert.equal(watches.held, true);
  // Nobody answered: both are still online as far as we know.
  assert.equal(watches.tracker(bob.uri)?.status, 1);
  assert.equal(watches.tracker(carol.uri)?.status, 1);
  watches.recheck(() => settled++);
  dht.answer(bob.uri, [], 0);
  dht.answer(carol.uri, [], 0);
  assert.equal(settled, 1);
  assert.equal(watches.notification(bob.uri), undefined);
  // While our node hears the network, a lookup nobody answered is evidence
  // (the only nodes that held Bob's record are gone).
  network.reachable = true;
  watches.recheck(() => settled++);
  dht.answer(bob.uri, [], 0);
  dht.answer(carol.uri, [online(carol, 2)], 0);
  assert.equal(watches.tracker(bob.uri)?.status, 0);
  assert.equal(watches.tracker(carol.uri)?.status, 1);
});

Deno.test("WatchList.clear() during a re-check ends the hold without telling anything", () => {
  const { dht, watches, online } = setup();
  dht.add(bob.uri, online(bob, 1));
  watches.hold();
  let settled = 0;
  watches.recheck(() => settled++);
  watches.clear();
  assert.equal(settled, 0);
  assert.equal(watches.held, false);
});
