/**
 * The receive path against a flood and against junk: boxes sealed by hand
 * with a real sender's keys (or plain garbage) are put straight at the
 * target's inbox key from a plain DHT node, bypassing the sender's outbox.
 */
import assert from "node:assert/strict";
import { pair, restart } from "./_daemon_swarm_helpers.ts";
import { SENDER_QUOTA_PER_HOUR } from "../lib/daemon/account.ts";
import type { AccountIdentity } from "../lib/daemon/account.ts";
import type { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { sealBox } from "../lib/identity/sealed_box.ts";
import {
  encodeInboxMessage,
  INBOX_PURPOSE,
  INBOX_VALUE_TYPE,
  inboxKey,
  inboxValueId,
  MESSAGE_ID_BYTES,
} from "../lib/trust/inbox_message.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import {
  DEFAULT_STAMP_BITS,
  mintStamp,
  stampChallenge,
} from "../lib/trust/stamp.ts";
import type { DhtNode } from "../lib/dht/dht_node.ts";

const MINUTE = 60_000;
const random = rngBytes(seededRng("inbox-quota"));

/** A request from `from` to `to`'s account, stamped as our senders do. */
function stampedRequest(
  from: AccountIdentity,
  to: DeviceCertificate,
  id: Uint8Array,
  sentMs: number,
  text: string,
): Uint8Array {
  const target = to.accountId.bytes;
  const stamp = mintStamp(
    stampChallenge({
      to: target,
      from: from.account.id.bytes,
      requestId: id,
      sentMs,
    }),
    DEFAULT_STAMP_BITS,
  );
  return encodeInboxMessage({
    kind: "request",
    id,
    sentMs,
    to: target,
    payload: new TextEncoder().encode(text),
    stamp,
  });
}

function putRequest(
  node: DhtNode,
  from: AccountIdentity,
  to: DeviceCertificate,
  sentMs: number,
): string {
  const id = random(MESSAGE_ID_BYTES);
  const message = stampedRequest(from, to, id, sentMs, `request ${sentMs}`);
  const box = sealBox(message, {
    sender: { device: from.device, certificate: from.certificate },
    recipient: to,
    purpose: INBOX_PURPOSE,
    randomBytes: random,
  });
  node.put(inboxKey(to.deviceId), {
    id: inboxValueId(id, to.deviceId),
    type: INBOX_VALUE_TYPE,
    data: box,
  });
  return id.toHex();
}

Deno.test(`More than SENDER_QUOTA_PER_HOUR (${SENDER_QUOTA_PER_HOUR}) messages from one sender in an hour are dropped`, async () => {
  // A tiny DHT: the test waits an hour of virtual time, and every stored
  // box is replicated by every storing node meanwhile.
  const { swarm, alice, bob, a, b, bobLog } = await pair("quota", {
    infraNodes: 2,
  });
  const sender = alice.daemon!.account(a).identity;
  const target = bob.daemon!.account(b);
  const recipient = target.identity.certificate;
  const node = swarm.testnet.nodes[0];
  const ids: string[] = [];
  const flood = SENDER_QUOTA_PER_HOUR + 10;
  for (let i = 0; i < flood; i++) {
    ids.push(putRequest(node, sender, recipient, swarm.clock.now()));
    await swarm.run(500);
  }
  await swarm.run(MINUTE);
  const handled = ids.filter((id) => target.state.seen.has(id));
  assert.equal(handled.length, SENDER_QUOTA_PER_HOUR);
  assert.ok(
    target.counters.dropped.quota >= flood - SENDER_QUOTA_PER_HOUR,
    `dropped.quota = ${target.counters.dropped.quota}`,
  );
  // Each handled request replaced the one before: one pending, shown at most
  // once per message that got through.
  assert.equal(bob.daemon!.config.getTrustRequests(b).length, 1);
  const shown = bobLog.count("incomingTrustRequest");
  assert.ok(shown >= 1 && shown <= SENDER_QUOTA_PER_HOUR, `${shown} shown`);
  // An hour later the sender is welcome again. (Alice's daemon is not
  // needed for that: only her keys are.)
  swarm.crash(alice);
  await swarm.run(60 * MINUTE, 1_000);
  const late = putRequest(node, sender, recipient, swarm.clock.now());
  await swarm.run(MINUTE);
  assert.ok(target.state.seen.has(late));
  assert.equal(bobLog.count("incomingTrustRequest"), shown + 1);
  swarm.shutdown();
});

Deno.test("Junk in an inbox is dropped and counted, and the account keeps working", async () => {
  const { swarm, alice, bob, a, b, bobLog } = await pair("junk");
  const target = bob.daemon!.account(b);
  const key = inboxKey(target.identity.certificate.deviceId);
  const node = swarm.testnet.nodes[1];
  const junk = [
    new Uint8Array(0),
    new Uint8Array([0xc1, 2, 3]),
    random(500),
  ];
  junk.forEach((data, index) =>
    node.put(key, { id: BigInt(index + 1), type: INBOX_VALUE_TYPE, data })
  );
  await swarm.run(30_000);
  assert.equal(target.counters.dropped.malformed, junk.length);
  await alice.daemon!.config.sendTrustRequest(
    a,
    b,
    new TextEncoder().encode("real"),
  );
  await swarm.run(30_000);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  swarm.shutdown();
});

Deno.test("A redelivered request is not shown again but acknowledged again", async () => {
  const { swarm, alice, bob, a, b, bobLog } = await pair("redelivery", {
    infraNodes: 2,
  });
  const sender = alice.daemon!.account(a).identity;
  const target = bob.daemon!.account(b);
  const recipient = target.identity.certificate;
  const id = random(MESSAGE_ID_BYTES);
  const box = sealBox(
    stampedRequest(sender, recipient, id, swarm.clock.now(), "once"),
    {
      sender: { device: sender.device, certificate: sender.certificate },
      recipient,
      purpose: INBOX_PURPOSE,
      randomBytes: random,
    },
  );
  const node = swarm.testnet.nodes[0];
  const key = inboxKey(recipient.deviceId);
  // The same box under three value ids, as a confused or hostile relay might.
  for (const valueId of [11n, 12n, 13n]) {
    node.put(key, { id: valueId, type: INBOX_VALUE_TYPE, data: box });
    await swarm.run(10_000);
  }
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(target.counters.dropped.duplicate, 2);
  assert.equal(target.counters.receiptsSent, 3);
  // Still shown once after a restart that sees all three again.
  swarm.crash(bob);
  await restart(swarm, bob, bobLog);
  await swarm.run(30_000);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(bob.daemon!.config.getTrustRequests(b).length, 1);
  swarm.shutdown();
});
