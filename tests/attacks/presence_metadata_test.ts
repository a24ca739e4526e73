/**
 * Issue 13 item 12, "presence metadata": everything at an account hash is
 * public. The device announcement carried the status note and the device's
 * certificate with its name, so anyone who knew (or guessed) an account id
 * read them. Now the note goes to contacts over direct links and the public
 * certificate has no name. Real daemons on a simulated DHT (DaemonSwarm,
 * virtual time): an outsider's node reads the account hash with `get`.
 */
import assert from "node:assert/strict";
import { DaemonSwarm } from "../../sim/daemon_swarm.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { SignedRecord } from "../../lib/identity/signed_record.ts";
import { DeviceAnnouncement } from "../../lib/presence/device_announcement.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { runUntil } from "../_daemon_swarm_helpers.ts";

const NAME = "Alice's work laptop";
const NOTE = "at the dentist until 3";

function contains(haystack: Uint8Array, needle: string): boolean {
  const bytes = new TextEncoder().encode(needle);
  outer: for (let i = 0; i + bytes.length <= haystack.length; i++) {
    for (let j = 0; j < bytes.length; j++) {
      if (haystack[i + j] !== bytes[j]) continue outer;
    }
    return true;
  }
  return false;
}

Deno.test("presence metadata: who reads the account hash learns that the device is online, not its note nor its name; a contact gets the note", async () => {
  const swarm = await DaemonSwarm.create({ seed: "metadata", infraNodes: 20 });
  const alice = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await alice.daemon!.createAccount({ deviceName: NAME });
  const b = await swarm.createAccount(bob);
  await alice.daemon!.config.addContact(a, b);
  await bob.daemon!.config.addContact(b, a);
  swarm.start(alice);
  swarm.start(bob);
  await swarm.run(5_000);
  alice.daemon!.presence.publish(a, 1, NOTE);
  bob.daemon!.presence.subscribeBuddy(b, a, true);
  // The contact sees Alice linked, with her note.
  await runUntil(
    swarm,
    () =>
      bob.daemon!.presence.getSubscriptions(b)[0].lineStatus === NOTE &&
      bob.daemon!.presence.getSubscriptions(b)[0].status === 2,
    60_000,
  );

  // An outsider reads Alice's account hash.
  let values: readonly DhtValue[] | undefined;
  swarm.testnet.nodes[0].get(InfoHash.fromHex(a), {
    onDone: (found) => values = found,
  });
  await runUntil(swarm, () => values !== undefined, 30_000);
  const announcements = values!.flatMap((value) => {
    try {
      return [DeviceAnnouncement.fromRecord(SignedRecord.decode(value.data))];
    } catch {
      return [];
    }
  });
  // It sees the device online (what the DHT is for) ...
  assert.ok(announcements.length > 0, "no announcement at the account hash");
  assert.ok(announcements.every((found) => !found.goodbye));
  assert.ok(announcements.every((found) => found.endpoints.length > 0));
  // ... and nothing else: no note, no device name, in any value.
  for (const found of announcements) {
    assert.equal(found.note, "");
    assert.equal(found.certificate.name, "");
  }
  for (const value of values!) {
    assert.ok(!contains(value.data, NOTE), "the note is public");
    assert.ok(!contains(value.data, NAME), "the device name is public");
  }
  // The certificate sealed boxes carry still names the device.
  const own = alice.daemon!.account(a).identity.certificate;
  assert.equal(DeviceCertificate.decode(own.bytes).name, NAME);
  swarm.shutdown();
});
