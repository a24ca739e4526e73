/**
 * Trust requests between Jami accounts of two daemons on a simulated
 * network: the request reaches every announced device, acceptance confirms
 * both sides, requests carry a conversation id when given, and forged or
 * flooding values are dropped by the inbox (counted by reason).
 *
 * Method: real RSA-2048 identities (`TEST_BITS`), virtual time advanced in
 * 100 ms steps; forged values are made with the codec and put directly
 * into the victim's inbox.
 */
import assert from "node:assert/strict";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { systemRandomBytes } from "../../lib/io/system_random.ts";
import { certificateValue } from "../../lib/jami/certificate_value.ts";
import { createJamiCertificate, JamiCertificate } from "../../lib/jami/certificate.ts";
import { JamiCertificateChain } from "../../lib/jami/certificate_chain.ts";
import { createJamiIdentity } from "../../lib/jami/jami_identity.ts";
import { JamiPrivateKey } from "../../lib/jami/rsa_key.ts";
import {
  inboxKey,
  sealTrustRequest,
} from "../../lib/jami/trust_request.ts";
import { encryptValue, signValue } from "../../lib/jami/value_crypto.ts";
import { encodeJamiTrustRequest } from "../../lib/jami/trust_request.ts";
import { eventsOf, JamiSwarm, TEST_BITS } from "./_jami_account_helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function pair() {
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  await swarm.run(5_000);
  return { swarm, alice, bob, a, b };
}

Deno.test("Jami request, acceptance and confirmation between two daemons", async () => {
  const { swarm, alice, bob, a, b } = await pair();
  assert.equal(alice.daemon.accountKind(a), "jami");
  const requestId = await alice.daemon.config.sendTrustRequest(
    a,
    b,
    text("BEGIN:VCARD alice"),
  );
  assert.match(requestId, /^[0-9a-f]{32}$/);
  assert.deepEqual(eventsOf(alice, "contactAdded"), [
    { accountId: a, uri: b, confirmed: false },
  ]);
  const waited = await swarm.until(
    () => eventsOf(bob, "incomingTrustRequest").length > 0,
    30_000,
  );
  assert.ok(waited >= 0, "the request arrives");
  const [incoming] = eventsOf(bob, "incomingTrustRequest");
  assert.equal(incoming.from, a);
  assert.deepEqual(incoming.payload, text("BEGIN:VCARD alice"));
  assert.equal(bob.daemon.config.getTrustRequests(b).length, 1);
  assert.equal(bob.daemon.jamiAccount(b).state.requests.get(a)?.conversationId, "");

  await bob.daemon.config.acceptTrustRequest(b, a);
  assert.equal(bob.daemon.config.getContactDetails(b, a)?.confirmed, true);
  assert.equal(bob.daemon.config.getTrustRequests(b).length, 0);
  const confirmed = await swarm.until(
    () => alice.daemon.config.getContactDetails(a, b)?.confirmed === true,
    30_000,
  );
  assert.ok(confirmed >= 0, "the confirmation arrives");
  assert.deepEqual(eventsOf(alice, "trustRequestAccepted"), [
    { accountId: a, uri: b, requestId },
  ]);
  assert.deepEqual(eventsOf(alice, "contactAdded").at(-1), {
    accountId: a,
    uri: b,
    confirmed: true,
  });
  // Re-deliveries show nothing new.
  await swarm.run(10_000);
  assert.equal(eventsOf(bob, "incomingTrustRequest").length, 1);
  assert.equal(eventsOf(alice, "trustRequestAccepted").length, 1);
  await swarm.stopAll();
});

Deno.test("a Jami request carries the conversation id given, the other way round", async () => {
  const { swarm, alice, bob, a, b } = await pair();
  const conversationId = "c".repeat(40);
  await bob.daemon.config.sendTrustRequest(b, a, text("from bob"), {
    conversationId,
  });
  assert.ok(
    await swarm.until(
      () => eventsOf(alice, "incomingTrustRequest").length > 0,
      30_000,
    ) >= 0,
  );
  const stored = alice.daemon.jamiAccount(a).state.requests.get(b);
  assert.equal(stored?.conversationId, conversationId);
  await alice.daemon.config.acceptTrustRequest(a, b);
  assert.equal(alice.daemon.jamiAccount(a).conversationId(b), conversationId);
  assert.ok(
    await swarm.until(
      () => bob.daemon.config.getContactDetails(b, a)?.confirmed === true,
      30_000,
    ) >= 0,
  );
  await swarm.stopAll();
});

Deno.test("a Jami request to a contact whose devices announce later reaches them", async () => {
  const swarm = new JamiSwarm();
  const alice = await swarm.add();
  const bob = await swarm.add();
  const a = await alice.daemon.createJamiAccount({ bits: TEST_BITS });
  await swarm.run(3_000);
  // Bob's account exists but his daemon is not running yet.
  const b = await bob.daemon.createJamiAccount({ bits: TEST_BITS });
  bob.daemon.crash();
  await alice.daemon.config.sendTrustRequest(a, b, text("early"));
  await swarm.run(30_000);
  assert.equal(alice.daemon.jamiAccount(a).counters.putsSent, 0);
  await swarm.reopen(bob);
  assert.ok(
    await swarm.until(
      () => eventsOf(bob, "incomingTrustRequest").length > 0,
      120_000,
    ) >= 0,
    "sent once bob's device announced",
  );
  await swarm.stopAll();
});

Deno.test("forged Jami requests are dropped: bad signature, self-signed, unknown or revoked device", async () => {
  const { swarm, alice, bob, a, b } = await pair();
  const victim = bob.daemon.jamiAccount(b);
  const target = victim.identity.deviceKey.publicKey;
  const inbox = await inboxKey(victim.deviceId);
  const put = async (value: Parameters<typeof alice.daemon.dht.put>[1]) => {
    alice.daemon.dht.put(inbox, value);
    await swarm.run(5_000);
  };
  const request = {
    service: "cx.ring" as const,
    conversationId: "",
    payload: text("forged"),
    confirm: false,
  };
  const now = swarm.clock.now();
  const random = systemRandomBytes;

  // 1. Bad signature: signed, then the data changed before encryption.
  const sender = alice.daemon.jamiAccount(a).identity.deviceKey;
  const signed = await signValue({
    id: 11n,
    type: 4,
    data: encodeJamiTrustRequest(request),
    recipient: target.infoHash,
  }, sender);
  await put(encryptValue(
    { ...signed, data: encodeJamiTrustRequest({ ...request, payload: text("x") }) },
    target,
    random,
  ));
  // 2. A self-signed device certificate published on the DHT.
  const selfKey = await JamiPrivateKey.generate(TEST_BITS);
  const selfCert = await JamiCertificate.fromDer(
    await createJamiCertificate({
      commonName: "Jami device",
      subjectKey: selfKey.publicKey,
      issuerKey: selfKey,
      isCa: false,
      serial: new Uint8Array([1, 2, 3]),
      now,
    }),
  );
  alice.daemon.dht.put(
    InfoHash.fromHex(selfKey.publicKey.infoHash.toString()),
    certificateValue(JamiCertificateChain.fromCertificates([selfCert])),
  );
  await put(await sealTrustRequest(request, selfKey, target, 12n, random));
  // 3. A device of a real account whose certificate is not on the DHT.
  const stranger = await createJamiIdentity({ bits: TEST_BITS, now, random });
  await put(
    await sealTrustRequest(request, stranger.deviceKey, target, 13n, random),
  );
  // A missing certificate is waited for 15 s (a listen) before the drop.
  await swarm.run(20_000);
  assert.equal(eventsOf(bob, "incomingTrustRequest").length, 0);
  const dropped = victim.counters.inboxDropped;
  assert.equal(dropped.undecryptable, 1, "bad signature");
  assert.equal(dropped.unknownDevice, 2, "self-signed and unpublished");

  // 4. A revoked device: alice's second device, revoked by alice.
  const second = await swarm.add();
  const archive = await alice.daemon.exportJamiArchive(a);
  assert.equal(
    await second.daemon.importJamiArchive(archive, undefined, { bits: TEST_BITS }),
    a,
  );
  await swarm.run(5_000);
  const secondDevice = second.daemon.jamiAccount(a).deviceId;
  const revoking = alice.daemon.revokeDevice(a, secondDevice);
  await swarm.run(10_000);
  await revoking;
  await swarm.run(5_000);
  await second.daemon.config.sendTrustRequest(a, b, text("from revoked"));
  await swarm.run(20_000);
  assert.equal(eventsOf(bob, "incomingTrustRequest").length, 0);
  assert.ok(victim.counters.inboxDropped.rejected >= 1, "revoked");
  // Control: the same account's valid device gets through.
  await alice.daemon.config.sendTrustRequest(a, b, text("valid"));
  assert.ok(
    await swarm.until(
      () => eventsOf(bob, "incomingTrustRequest").length === 1,
      30_000,
    ) >= 0,
  );
  await swarm.stopAll();
});

Deno.test("a flood of valid Jami values from one device is cut at the per-sender bound", async () => {
  const { swarm, alice, bob, a, b } = await pair();
  const victim = bob.daemon.jamiAccount(b);
  const target = victim.identity.deviceKey.publicKey;
  const inbox = await inboxKey(victim.deviceId);
  const sender = alice.daemon.jamiAccount(a).identity.deviceKey;
  for (let i = 0; i < 30; i++) {
    alice.daemon.dht.put(
      inbox,
      await sealTrustRequest({
        service: "cx.ring",
        conversationId: "",
        payload: text(`flood ${i}`),
        confirm: false,
      }, sender, target, BigInt(1_000 + i), systemRandomBytes),
    );
  }
  await swarm.run(30_000);
  // One stored request per sender: shown once, payload of a later value.
  assert.equal(eventsOf(bob, "incomingTrustRequest").length, 1);
  assert.equal(victim.counters.inboxAccepted, 20);
  assert.equal(victim.counters.inboxDropped.quota, 10);
  await swarm.stopAll();
});

Deno.test("a Jami account's outbox puts at most 8 values per contact and hour", async () => {
  const { swarm, alice, a, b } = await pair();
  for (let i = 0; i < 20; i++) {
    await alice.daemon.config.sendTrustRequest(a, b, text(`again ${i}`));
    await swarm.run(1_000);
  }
  const { putsSent, putsThrottled } = alice.daemon.jamiAccount(a).counters;
  assert.ok(putsSent <= 8, `${putsSent} puts`);
  assert.ok(putsThrottled > 0);
  await swarm.stopAll();
});
