/**
 * What a daemon keeps across restarts (Daemon.open on the same storage):
 * contacts, pending requests and the outbox; nothing acknowledged is lost
 * to a crash right after the call resolved; damaged state refuses to load.
 */
import assert from "node:assert/strict";
import {
  pair,
  restart,
  runUntil,
  stopCleanly,
  text,
} from "./_daemon_swarm_helpers.ts";
import { Daemon } from "../lib/daemon/daemon.ts";
import {
  AccountStateStore,
  StateCorruptError,
} from "../lib/contacts/account_state.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import { seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";

const MINUTE = 60_000;
const CAROL = "c".repeat(40);
const DAVE = "d".repeat(40);

Deno.test("Contacts, pending requests and the outbox survive a clean restart", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("restart");
  await bob.daemon!.config.sendTrustRequest(b, a, text("from bob"));
  await runUntil(
    swarm,
    () => aliceLog.count("incomingTrustRequest") > 0,
    MINUTE,
  );
  await alice.daemon!.config.addContact(a, CAROL);
  await alice.daemon!.config.removeContact(a, DAVE, true);
  // Nobody will ever answer this one: it stays in the outbox.
  const pendingId = await alice.daemon!.config.sendTrustRequest(
    a,
    "e".repeat(40),
    text("to nobody"),
  );
  const contactsBefore = alice.daemon!.config.getContacts(a);
  await stopCleanly(swarm, alice);
  await swarm.run(MINUTE);
  await restart(swarm, alice, aliceLog);
  const config = alice.daemon!.config;
  assert.deepEqual(config.getContacts(a), contactsBefore);
  assert.equal(config.getContactDetails(a, DAVE)?.banned, true);
  const [request] = config.getTrustRequests(a);
  assert.equal(request.from, b);
  assert.deepEqual(request.payload, text("from bob"));
  const entry = alice.daemon!.account(a).state.outbox.get(pendingId);
  assert.equal(entry?.to, "e".repeat(40));
  assert.deepEqual(entry?.payload, text("to nobody"));
  // The restored request is not shown again, and can be accepted.
  await swarm.run(5 * MINUTE, 200);
  assert.equal(aliceLog.count("incomingTrustRequest"), 1);
  await config.acceptTrustRequest(a, b);
  await runUntil(swarm, () => bobLog.count("trustRequestAccepted") > 0, MINUTE);
  swarm.shutdown();
});

Deno.test("A crash right after an acknowledged call loses nothing", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("crash-ack");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await swarm.run(10_000);
  // Each call resolved: it must survive a kill at that very moment.
  const id = await alice.daemon!.config.sendTrustRequest(a, b, text("durable"));
  swarm.crash(alice);
  await restart(swarm, alice, aliceLog);
  assert.ok(alice.daemon!.account(a).state.outbox.has(id));
  await runUntil(
    swarm,
    () => bobLog.count("incomingTrustRequest") > 0,
    2 * MINUTE,
  );
  await bob.daemon!.config.acceptTrustRequest(b, a);
  swarm.crash(bob);
  await restart(swarm, bob, bobLog);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, true);
  assert.deepEqual(bob.daemon!.config.getTrustRequests(b), []);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestAccepted") > 0,
    5 * MINUTE,
  );
  await alice.daemon!.config.removeContact(a, CAROL, true);
  await alice.daemon!.config.addContact(a, DAVE);
  swarm.crash(alice);
  await restart(swarm, alice, aliceLog);
  const config = alice.daemon!.config;
  assert.equal(config.getContactDetails(a, CAROL)?.banned, true);
  assert.equal(config.getContactDetails(a, DAVE)?.banned, false);
  assert.equal(config.getContactDetails(a, b)?.confirmed, true);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  swarm.shutdown();
});

Deno.test("Daemon.open() throws StateCorruptError for damaged account state", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("corrupt") });
  const storage = new MemoryStorage();
  const options = {
    transport: network.attach(),
    clock,
    rng: seededRng("corrupt-daemon"),
    storage,
    scryptLog2N: 10,
  };
  const first = await Daemon.open(options);
  const a = await first.createAccount();
  await first.config.addContact(a, CAROL);
  const key = AccountStateStore.keyFor(a);
  const good = (await storage.get(key))!;
  // A healthy copy opens.
  const again = await Daemon.open(options);
  assert.equal(again.config.getContactDetails(a, CAROL)?.banned, false);
  for (
    const damaged of [
      good.subarray(0, good.length - 5),
      new TextEncoder().encode("not msgpack at all"),
      good.map((byte, index) => index === 1 ? byte ^ 0x55 : byte),
    ]
  ) {
    await storage.set(key, damaged);
    await assert.rejects(() => Daemon.open(options), StateCorruptError);
  }
});

/** A storage whose writes can be held back, like a slow disk. */
class SlowStorage extends MemoryStorage {
  hold = false;
  readonly held: (() => void)[] = [];
  override async set(key: string, value: Uint8Array): Promise<void> {
    if (this.hold) await new Promise<void>((go) => this.held.push(go));
    await super.set(key, value);
  }
  releaseAll(): void {
    for (const go of this.held.splice(0)) go();
  }
}

Deno.test("Every API call resolves only once its change is on disk", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("durable") });
  const storage = new SlowStorage();
  const daemon = await Daemon.open({
    transport: network.attach(),
    clock,
    rng: seededRng("durable-daemon"),
    storage,
    scryptLog2N: 10,
  });
  const a = await daemon.createAccount();
  daemon.start();
  await daemon.whenIdle();
  const stored = async () =>
    (await Daemon.open({
      transport: network.attach(),
      clock,
      rng: seededRng("reader"),
      storage,
      scryptLog2N: 10,
    })).account(a).state;
  const calls: [string, () => Promise<unknown>, () => Promise<boolean>][] = [
    [
      "sendTrustRequest",
      () => daemon.config.sendTrustRequest(a, CAROL, text("x")),
      async () => (await stored()).outbox.size === 1,
    ],
    [
      "addContact",
      () => daemon.config.addContact(a, DAVE),
      async () => (await stored()).contacts.isActive(DAVE),
    ],
    [
      "removeContact",
      () => daemon.config.removeContact(a, DAVE, true),
      async () => (await stored()).contacts.isBanned(DAVE),
    ],
    [
      "acceptTrustRequest",
      () => {
        daemon.account(a).state.requests.set("e".repeat(40), {
          from: "e".repeat(40),
          id: "1".repeat(32),
          sentMs: clock.now(),
          receivedMs: clock.now(),
          payload: new Uint8Array(0),
        });
        return daemon.config.acceptTrustRequest(a, "e".repeat(40));
      },
      async () =>
        (await stored()).contacts.get("e".repeat(40))?.confirmed ===
          true,
    ],
  ];
  for (const [name, call, durable] of calls) {
    storage.hold = true;
    let resolved = false;
    const pending = call().then(() => resolved = true);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    assert.equal(resolved, false, `${name} resolved before its write`);
    assert.equal(await durable(), false, `${name} already on disk`);
    storage.hold = false;
    storage.releaseAll();
    await pending;
    assert.ok(await durable(), `${name} not on disk once resolved`);
  }
  daemon.crash();
});
