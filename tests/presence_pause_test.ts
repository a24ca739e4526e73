/**
 * Pausing a linked contact's DHT listen, end to end on the simulator with
 * real daemons: while Alice is linked to Bob's one device her node sends no
 * listen for Bob's account hash (no renewals, no re-search); when Bob
 * crashes the link's keepalive notices it within 10 s, the listen resumes,
 * and Bob is shown offline within 30 s of the crash, as with the listen
 * running all along. (A clean stop, straight from 2 to 0 through the paused
 * listen: tests/direct_link_test.ts.)
 */
import assert from "node:assert/strict";
import { pair, runUntil } from "./_daemon_swarm_helpers.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

Deno.test("A linked contact's listen is paused; a crash resumes it and is seen offline within 30 s", async () => {
  const { swarm, alice, bob, a, b } = await pair("pause-crash");
  await alice.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  const aliceSees = () => alice.daemon!.presence.getSubscriptions(a)[0];
  // Every listen request Alice's node sends for Bob's account hash.
  const bobHash = InfoHash.fromHex(b);
  const listensForBob: number[] = [];
  swarm.network.observe((direction, source, _target, bytes) => {
    if (direction !== "sent" || source !== alice.index) return;
    try {
      const message = decodeMessage(bytes);
      if (
        message.kind === "request" && message.method === "listen" &&
        message.key.equals(bobHash)
      ) listensForBob.push(swarm.clock.now());
    } catch {
      // Not a DHT message.
    }
  });
  await runUntil(swarm, () => aliceSees().status === 2, 10 * SECOND);
  assert.ok(listensForBob.length > 0, "Alice listened before the link");
  await swarm.run(5 * SECOND);
  const linkedFromMs = swarm.clock.now();
  // Two renewal periods (5 min) and a re-search (10 min) go by in silence.
  await swarm.run(12 * MINUTE, SECOND);
  assert.equal(aliceSees().status, 2);
  assert.deepEqual(listensForBob.filter((ms) => ms > linkedFromMs), []);
  swarm.crash(bob);
  const crashedMs = swarm.clock.now();
  const lost = await runUntil(swarm, () => aliceSees().status < 2, 15 * SECOND);
  assert.ok(lost <= 10 * SECOND, `link loss seen after ${lost} ms`);
  const offline = await runUntil(
    swarm,
    () => aliceSees().status === 0,
    40 * SECOND,
  );
  assert.ok(
    lost + offline <= 30 * SECOND,
    `offline after ${lost + offline} ms`,
  );
  // Resumed once the link was lost (at least 2.5 s minus a round trip
  // after the crash, see DEFAULT_DEAD_AFTER_MS), not before.
  const resumed = listensForBob.filter((ms) => ms > crashedMs);
  assert.ok(resumed.length > 0, "the listen did not resume");
  assert.ok(
    resumed[0] - crashedMs >= 2 * SECOND,
    `listen ${resumed[0] - crashedMs} ms after the crash`,
  );
  swarm.network.observe(undefined);
  swarm.shutdown();
});
