/**
 * Trust requests between real daemons on a simulated DHT (DaemonSwarm,
 * virtual time, one seed per test): delivery exactly once, receipts and
 * retries, offline targets through the mailbox, accept / discard / ban,
 * crossing requests, and bad input refused before anything changes.
 */
import assert from "node:assert/strict";
import {
  EventLog,
  pair,
  restart,
  runUntil,
  stopCleanly,
  text,
} from "./_daemon_swarm_helpers.ts";
import {
  NoPendingRequestError,
  OwnAccountError,
  PayloadTooLargeError,
  QuotaExceededError,
  UnknownAccountError,
} from "../lib/daemon/errors.ts";
import { MAX_OUTBOX_ENTRIES } from "../lib/contacts/account_state.ts";
import { InvalidUriError } from "../lib/identity/errors.ts";
import {
  INBOX_LIFETIME_MS,
  MAX_TRUST_REQUEST_PAYLOAD_BYTES,
} from "../lib/trust/inbox_message.ts";
import { Daemon } from "../lib/daemon/daemon.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
import { DaemonSwarm } from "../sim/daemon_swarm.ts";

const MINUTE = 60_000;

Deno.test("sendTrustRequest() is shown once at the target, acknowledged, and not resent after the receipt", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("deliver");
  const requestId = await alice.daemon!.config.sendTrustRequest(
    a,
    b,
    text("vCard alice"),
  );
  assert.match(requestId, /^[0-9a-f]{32}$/);
  // Sending adds the target as an unconfirmed contact at once.
  assert.deepEqual(aliceLog.of("contactAdded").map((e) => e.detail), [
    { accountId: a, uri: b, confirmed: false },
  ]);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    30_000,
  );
  assert.deepEqual(aliceLog.of("trustRequestDelivered")[0].detail, {
    accountId: a,
    uri: b,
    requestId,
  });
  const shown = bobLog.of("incomingTrustRequest");
  assert.equal(shown.length, 1);
  assert.equal(shown[0].detail.from, a);
  assert.deepEqual(shown[0].detail.payload, text("vCard alice"));
  const [pending] = bob.daemon!.config.getTrustRequests(b);
  assert.equal(pending.from, a);
  assert.deepEqual(pending.payload, text("vCard alice"));
  // Delivered: no more sends, however long we wait.
  const sender = alice.daemon!.account(a);
  const sent = sender.counters.messagesSent;
  await swarm.run(20 * MINUTE, 200);
  assert.equal(sender.counters.messagesSent, sent);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(aliceLog.count("trustRequestDelivered"), 1);
  assert.equal(sender.state.outbox.get(requestId)?.delivered, true);
  swarm.shutdown();
});

Deno.test("acceptTrustRequest() confirms the contact on both sides and tells the sender", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("accept");
  const requestId = await alice.daemon!.config.sendTrustRequest(
    a,
    b,
    text("hi"),
  );
  await runUntil(swarm, () => bobLog.count("incomingTrustRequest") > 0, 30_000);
  await bob.daemon!.config.acceptTrustRequest(b, a);
  assert.deepEqual(bob.daemon!.config.getTrustRequests(b), []);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, true);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestAccepted") > 0,
    30_000,
  );
  assert.deepEqual(aliceLog.of("trustRequestAccepted")[0].detail, {
    accountId: a,
    uri: b,
    requestId,
  });
  assert.equal(alice.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  await runUntil(
    swarm,
    () => bobLog.count("confirmationDelivered") > 0,
    30_000,
  );
  // Both outboxes drain.
  assert.equal(alice.daemon!.account(a).state.outbox.size, 0);
  assert.equal(bob.daemon!.account(b).state.outbox.size, 0);
  await swarm.run(10 * MINUTE, 200);
  assert.equal(aliceLog.count("trustRequestAccepted"), 1);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  swarm.shutdown();
});

Deno.test("discardTrustRequest() removes the request silently and it is not shown again", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("discard");
  await alice.daemon!.config.sendTrustRequest(a, b, text("hi"));
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    30_000,
  );
  assert.equal(await bob.daemon!.config.discardTrustRequest(b, a), true);
  assert.equal(await bob.daemon!.config.discardTrustRequest(b, a), false);
  assert.deepEqual(bob.daemon!.config.getTrustRequests(b), []);
  assert.equal(bob.daemon!.config.getContactDetails(b, a), undefined);
  await swarm.run(10 * MINUTE, 200);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(aliceLog.count("trustRequestAccepted"), 0);
  assert.equal(alice.daemon!.config.getContactDetails(a, b)?.confirmed, false);
  swarm.shutdown();
});

Deno.test("A newer request from the same sender replaces the pending one", async () => {
  const { swarm, alice, bob, a, b, aliceLog } = await pair("replace");
  const first = await alice.daemon!.config.sendTrustRequest(a, b, text("one"));
  const second = await alice.daemon!.config.sendTrustRequest(a, b, text("two"));
  assert.notEqual(first, second);
  // The sender keeps only the newer one.
  assert.deepEqual(
    [...alice.daemon!.account(a).state.outbox.keys()],
    [second],
  );
  await runUntil(
    swarm,
    () =>
      aliceLog.of("trustRequestDelivered").some((e) =>
        e.detail.requestId === second
      ),
    30_000,
  );
  await swarm.run(MINUTE);
  const requests = bob.daemon!.config.getTrustRequests(b);
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0].payload, text("two"));
  // Once replaced, the first one is never shown, even if it arrives late.
  const third = await alice.daemon!.config.sendTrustRequest(
    a,
    b,
    text("three"),
  );
  await runUntil(
    swarm,
    () =>
      aliceLog.of("trustRequestDelivered").some((e) =>
        e.detail.requestId === third
      ),
    30_000,
  );
  assert.deepEqual(
    bob.daemon!.config.getTrustRequests(b)[0].payload,
    text("three"),
  );
  swarm.shutdown();
});

Deno.test("A banned sender is dropped silently but still gets a receipt; addContact() lifts the ban", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("ban");
  await bob.daemon!.config.removeContact(b, a, true);
  assert.deepEqual(bobLog.of("contactRemoved").map((e) => e.detail), [
    { accountId: b, uri: a, banned: true },
  ]);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.banned, true);
  await alice.daemon!.config.sendTrustRequest(a, b, text("let me in"));
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    30_000,
  );
  await swarm.run(MINUTE);
  assert.equal(bobLog.count("incomingTrustRequest"), 0);
  assert.deepEqual(bob.daemon!.config.getTrustRequests(b), []);
  assert.ok(bob.daemon!.account(b).counters.dropped.banned >= 1);
  // The sender cannot tell: delivered, never accepted, no more sends.
  const sent = alice.daemon!.account(a).counters.messagesSent;
  await swarm.run(10 * MINUTE, 200);
  assert.equal(alice.daemon!.account(a).counters.messagesSent, sent);
  assert.equal(aliceLog.count("trustRequestAccepted"), 0);
  // Adding the contact lifts the ban; a new request is then auto-confirmed.
  await bob.daemon!.config.addContact(b, a);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.banned, false);
  await alice.daemon!.config.sendTrustRequest(a, b, text("again"));
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestAccepted") > 0,
    30_000,
  );
  assert.equal(alice.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, true);
  assert.equal(bobLog.count("incomingTrustRequest"), 0);
  swarm.shutdown();
});

Deno.test("A request from an active contact is confirmed automatically", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("auto");
  await bob.daemon!.config.addContact(b, a);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, false);
  await alice.daemon!.config.sendTrustRequest(a, b, text("hi"));
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestAccepted") > 0,
    30_000,
  );
  assert.equal(bobLog.count("incomingTrustRequest"), 0);
  assert.deepEqual(bob.daemon!.config.getTrustRequests(b), []);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, true);
  assert.equal(alice.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  assert.ok(
    bobLog.of("contactAdded").some((e) =>
      e.detail.uri === a && e.detail.confirmed
    ),
  );
  swarm.shutdown();
});

Deno.test("Crossing requests converge to one confirmed contact on each side", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("crossing");
  // Both send before either has received anything.
  await Promise.all([
    alice.daemon!.config.sendTrustRequest(a, b, text("from alice")),
    bob.daemon!.config.sendTrustRequest(b, a, text("from bob")),
  ]);
  await runUntil(
    swarm,
    () =>
      alice.daemon!.config.getContactDetails(a, b)?.confirmed === true &&
      bob.daemon!.config.getContactDetails(b, a)?.confirmed === true,
    60_000,
  );
  await swarm.run(5 * MINUTE, 200);
  for (
    const [daemon, self, other] of [
      [alice.daemon!, a, b],
      [bob.daemon!, b, a],
    ] as const
  ) {
    assert.deepEqual(
      daemon.config.getContacts(self).map((c) => [c.id, c.confirmed]),
      [[other, true]],
    );
    assert.deepEqual(daemon.config.getTrustRequests(self), []);
    assert.equal(daemon.account(self).state.outbox.size, 0);
  }
  assert.equal(aliceLog.count("incomingTrustRequest"), 0);
  assert.equal(bobLog.count("incomingTrustRequest"), 0);
  swarm.shutdown();
});

Deno.test("A request to an offline target reaches it through the mailbox, even with the sender offline by then", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("mailbox");
  // Alice learns Bob's devices and mailbox while he is online.
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await runUntil(
    swarm,
    () => alice.daemon!.presence.getSubscriptions(a)[0].status === 1,
    30_000,
  );
  await stopCleanly(swarm, bob);
  await alice.daemon!.config.sendTrustRequest(a, b, text("while you were out"));
  await swarm.run(MINUTE);
  assert.equal(aliceLog.count("trustRequestDelivered"), 0);
  await stopCleanly(swarm, alice);
  await swarm.run(10 * MINUTE, 200);
  // Bob comes back while Alice is away: the request is in his mailbox.
  await restart(swarm, bob, bobLog);
  await runUntil(swarm, () => bobLog.count("incomingTrustRequest") > 0, 60_000);
  assert.deepEqual(
    bobLog.of("incomingTrustRequest")[0].detail.payload,
    text("while you were out"),
  );
  // Alice comes back and finds Bob's receipt.
  await restart(swarm, alice, aliceLog);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    2 * MINUTE,
  );
  await swarm.run(5 * MINUTE, 200);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(aliceLog.count("trustRequestDelivered"), 1);
  swarm.shutdown();
});

Deno.test("A request to a target that was never online is delivered when it first comes online", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair(
    "never-online",
    {
      startBob: false,
    },
  );
  await alice.daemon!.config.sendTrustRequest(a, b, text("hello?"));
  await swarm.run(5 * MINUTE, 100);
  assert.equal(aliceLog.count("trustRequestDelivered"), 0);
  swarm.start(bob);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    2 * MINUTE,
  );
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  swarm.shutdown();
});

Deno.test("The outbox retries with backoff until the receipt arrives", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("retry");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await swarm.run(10_000);
  // Bob dies without a goodbye; Alice does not know yet.
  swarm.crash(bob);
  const id = await alice.daemon!.config.sendTrustRequest(a, b, text("retry"));
  const entry = () => alice.daemon!.account(a).state.outbox.get(id)!;
  await swarm.run(30 * MINUTE, 1_000);
  // Retries at 0, 30 s, 1 min, 2 min, 4 min, 8 min, 16 min (±): 6 to 8 sends.
  const attempts = entry().attempts;
  assert.ok(attempts >= 6 && attempts <= 8, `${attempts} attempts`);
  assert.ok(entry().nextMs - swarm.clock.now() <= 32 * MINUTE);
  assert.equal(aliceLog.count("trustRequestDelivered"), 0);
  await restart(swarm, bob, bobLog);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    2 * MINUTE,
  );
  const final = entry().attempts;
  // Longer than the next retry was due (at most 32 min away).
  await swarm.run(40 * MINUTE, 1_000);
  assert.equal(entry().attempts, final, "sent again after the receipt");
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  swarm.shutdown();
});

Deno.test("A lost confirmation is retried and reaches the sender when it comes back", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair(
    "confirm-retry",
  );
  const requestId = await alice.daemon!.config.sendTrustRequest(
    a,
    b,
    text("hi"),
  );
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    30_000,
  );
  // Alice is gone (no goodbye) when Bob accepts.
  swarm.crash(alice);
  await bob.daemon!.config.acceptTrustRequest(b, a);
  await swarm.run(20 * MINUTE, 200);
  assert.equal(bobLog.count("confirmationDelivered"), 0);
  assert.equal(bob.daemon!.account(b).state.outbox.size, 1);
  await restart(swarm, alice, aliceLog);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestAccepted") > 0,
    5 * MINUTE,
  );
  assert.equal(
    aliceLog.of("trustRequestAccepted")[0].detail.requestId,
    requestId,
  );
  assert.equal(alice.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  await runUntil(
    swarm,
    () => bobLog.count("confirmationDelivered") > 0,
    5 * MINUTE,
  );
  assert.equal(bob.daemon!.account(b).state.outbox.size, 0);
  swarm.shutdown();
});

Deno.test("A request is shown exactly once across receiver crashes before and after delivery", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair("crashes");
  alice.daemon!.presence.subscribeBuddy(a, b, true);
  await swarm.run(10_000);
  // Crash before: Bob is down when the request is sent.
  swarm.crash(bob);
  await alice.daemon!.config.sendTrustRequest(a, b, text("once"));
  await swarm.run(2 * MINUTE);
  await restart(swarm, bob, bobLog);
  await runUntil(
    swarm,
    () => bobLog.count("incomingTrustRequest") > 0,
    2 * MINUTE,
  );
  // Crash after: right after it was shown, before anything else happens.
  swarm.crash(bob);
  await swarm.run(MINUTE);
  await restart(swarm, bob, bobLog);
  await swarm.run(10 * MINUTE, 200);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(bob.daemon!.config.getTrustRequests(b).length, 1);
  assert.ok(aliceLog.count("trustRequestDelivered") === 1);
  swarm.shutdown();
});

Deno.test("A request with the maximum payload is delivered; one byte more is refused", async () => {
  const { swarm, alice, a, b, aliceLog, bobLog } = await pair("max-size");
  const payload = rngBytes(seededRng("payload"))(
    MAX_TRUST_REQUEST_PAYLOAD_BYTES,
  );
  await alice.daemon!.config.sendTrustRequest(a, b, payload);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    60_000,
  );
  assert.deepEqual(
    bobLog.of("incomingTrustRequest")[0].detail.payload,
    payload,
  );
  await assert.rejects(
    async () =>
      await alice.daemon!.config.sendTrustRequest(
        a,
        b,
        new Uint8Array(MAX_TRUST_REQUEST_PAYLOAD_BYTES + 1),
      ),
    PayloadTooLargeError,
  );
  swarm.shutdown();
});

Deno.test("Bad input throws a typed error and changes nothing", async () => {
  const { swarm, alice, a, b, aliceLog } = await pair("bad-input", {
    startBob: false,
  });
  const daemon = alice.daemon!;
  const account = daemon.account(a);
  const before = account.state.contacts.size;
  const writes = swarm.work.size;
  const unknown = "f".repeat(40);
  const cases: [string, () => unknown, new (...args: never[]) => Error][] = [
    [
      "malformed uri",
      () => daemon.config.sendTrustRequest(a, "jami:xyz", text("x")),
      InvalidUriError,
    ],
    [
      "unknown account",
      () => daemon.config.sendTrustRequest(unknown, b, text("x")),
      UnknownAccountError,
    ],
    [
      "malformed account",
      () => daemon.config.sendTrustRequest("nope", b, text("x")),
      UnknownAccountError,
    ],
    [
      "too large",
      () => daemon.config.sendTrustRequest(a, b, new Uint8Array(64_001)),
      PayloadTooLargeError,
    ],
    [
      "own id",
      () => daemon.config.sendTrustRequest(a, a, text("x")),
      OwnAccountError,
    ],
    [
      "accept own",
      () => daemon.config.acceptTrustRequest(a, `jami:${a}`),
      OwnAccountError,
    ],
    [
      "accept bad uri",
      () => daemon.config.acceptTrustRequest(a, "bob"),
      InvalidUriError,
    ],
    [
      "accept with no pending request",
      () => daemon.config.acceptTrustRequest(a, b),
      NoPendingRequestError,
    ],
    ["add own", () => daemon.config.addContact(a, a), OwnAccountError],
    ["add bad uri", () => daemon.config.addContact(a, "12"), InvalidUriError],
    [
      "add unknown account",
      () => daemon.config.addContact(unknown, b),
      UnknownAccountError,
    ],
    [
      "remove own",
      () => daemon.config.removeContact(a, a, true),
      OwnAccountError,
    ],
    [
      "discard own",
      () => daemon.config.discardTrustRequest(a, a),
      OwnAccountError,
    ],
    [
      "subscribe own",
      () => daemon.presence.subscribeBuddy(a, a, true),
      OwnAccountError,
    ],
    [
      "subscribe bad uri",
      () => daemon.presence.subscribeBuddy(a, "x", true),
      InvalidUriError,
    ],
    [
      "requests of unknown",
      () => daemon.config.getTrustRequests(unknown),
      UnknownAccountError,
    ],
  ];
  for (const [name, call, errorClass] of cases) {
    await assert.rejects(async () => await call(), errorClass, name);
  }
  assert.equal(account.state.outbox.size, 0);
  assert.equal(account.state.contacts.size, before);
  assert.equal(account.state.requests.size, 0);
  assert.deepEqual(daemon.presence.getSubscriptions(a), []);
  assert.equal(swarm.work.size, writes);
  assert.equal(aliceLog.events.length, 0);
  assert.equal(account.counters.messagesSent, 0);
  swarm.shutdown();
});

Deno.test("An unacknowledged request or confirmation expires after 7 days", async () => {
  // One daemon alone on the network: nothing it sends is ever answered.
  // (No swarm: a week of a whole DHT's maintenance would take minutes.)
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("expiry") });
  const daemon = await Daemon.open({
    transport: network.attach(),
    clock,
    rng: seededRng("expiry-daemon"),
    storage: new MemoryStorage(),
    scryptLog2N: 10,
  });
  const a = await daemon.createAccount();
  daemon.start();
  const expired: string[] = [];
  const confirmations: string[] = [];
  daemon.config.on("trustRequestExpired", (e) => expired.push(e.requestId));
  daemon.config.on("confirmationExpired", (e) => confirmations.push(e.uri));
  const bob = "b".repeat(40);
  const carol = "c".repeat(40);
  const start = clock.now();
  const id = await daemon.config.sendTrustRequest(a, bob, text("anyone?"));
  // A pending request from Carol, whose devices are never found.
  daemon.account(a).state.requests.set(carol, {
    from: carol,
    id: "1".repeat(32),
    sentMs: start,
    receivedMs: start,
    payload: new Uint8Array(0),
  });
  await daemon.config.acceptTrustRequest(a, carol);
  const account = daemon.account(a);
  const run = async (ms: number) => {
    const end = clock.now() + ms;
    while (clock.now() < end) {
      clock.advance(Math.min(60_000, end - clock.now()));
      await daemon.whenIdle();
    }
  };
  await run(INBOX_LIFETIME_MS - 2 * MINUTE);
  assert.deepEqual(expired, []);
  assert.deepEqual(confirmations, []);
  // Backoff doubles from 30 s up to every 30 min: about 340 sends in 7 days.
  const attempts = account.state.outbox.get(id)!.attempts;
  assert.ok(attempts > 320 && attempts < 345, `${attempts} attempts`);
  await run(4 * MINUTE);
  assert.deepEqual(expired, [id]);
  assert.deepEqual(confirmations, [carol]);
  assert.ok(clock.now() - start >= INBOX_LIFETIME_MS);
  assert.equal(account.state.outbox.size, 0);
  // The contacts stay: only the delivery gave up.
  assert.equal(daemon.config.getContactDetails(a, bob)?.confirmed, false);
  assert.equal(daemon.config.getContactDetails(a, carol)?.confirmed, true);
  // A restart from storage does not bring them back.
  const stopping = daemon.stop();
  await run(3_000);
  await stopping;
  assert.equal(account.state.outbox.size, 0);
});

Deno.test("A sender that never saw the target online still reaches its mailbox", async () => {
  const { swarm, alice, bob, a, b, aliceLog, bobLog } = await pair(
    "mailbox-cold",
  );
  // Bob leaves before Alice ever looks at him; his mailbox certificate stays
  // stored at his account hash (a 7-day record).
  await stopCleanly(swarm, bob);
  await swarm.run(5 * MINUTE, 100);
  await alice.daemon!.config.sendTrustRequest(a, b, text("cold"));
  await swarm.run(2 * MINUTE, 100);
  assert.ok(
    alice.daemon!.account(a).counters.boxesPut > 0,
    "nothing was put for Bob's mailbox",
  );
  await stopCleanly(swarm, alice);
  await restart(swarm, bob, bobLog);
  await runUntil(swarm, () => bobLog.count("incomingTrustRequest") > 0, MINUTE);
  await restart(swarm, alice, aliceLog);
  await runUntil(
    swarm,
    () => aliceLog.count("trustRequestDelivered") > 0,
    2 * MINUTE,
  );
  swarm.shutdown();
});

Deno.test("On a lossy network a request is still shown once and accepted on both sides", async () => {
  const swarm = await DaemonSwarm.create({
    seed: "lossy",
    infraNodes: 30,
    lossProbability: 0.1,
  });
  const alice = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await swarm.createAccount(alice);
  const b = await swarm.createAccount(bob);
  const aliceLog = new EventLog(swarm, alice);
  const bobLog = new EventLog(swarm, bob);
  swarm.start(alice);
  swarm.start(bob);
  await swarm.run(10_000, 50);
  await alice.daemon!.config.sendTrustRequest(a, b, text("through the noise"));
  await runUntil(
    swarm,
    () => bobLog.count("incomingTrustRequest") > 0,
    5 * MINUTE,
  );
  await bob.daemon!.config.acceptTrustRequest(b, a);
  await runUntil(
    swarm,
    () =>
      aliceLog.count("trustRequestAccepted") > 0 &&
      bobLog.count("confirmationDelivered") > 0,
    10 * MINUTE,
  );
  await swarm.run(10 * MINUTE, 200);
  assert.equal(bobLog.count("incomingTrustRequest"), 1);
  assert.equal(aliceLog.count("trustRequestAccepted"), 1);
  assert.equal(alice.daemon!.config.getContactDetails(a, b)?.confirmed, true);
  assert.equal(bob.daemon!.config.getContactDetails(b, a)?.confirmed, true);
  assert.equal(alice.daemon!.account(a).state.outbox.size, 0);
  assert.equal(bob.daemon!.account(b).state.outbox.size, 0);
  swarm.shutdown();
});

Deno.test("sendTrustRequest() throws QuotaExceededError with a full outbox and changes nothing", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("full") });
  const daemon = await Daemon.open({
    transport: network.attach(),
    clock,
    rng: seededRng("full-daemon"),
    storage: new MemoryStorage(),
    scryptLog2N: 10,
  });
  const a = await daemon.createAccount();
  daemon.start();
  const account = daemon.account(a);
  for (let i = 1; i <= MAX_OUTBOX_ENTRIES; i++) {
    const to = i.toString(16).padStart(40, "0");
    await daemon.config.sendTrustRequest(a, to, text("x"));
  }
  const stranger = "f".repeat(40);
  await assert.rejects(
    () => daemon.config.sendTrustRequest(a, stranger, text("one too many")),
    QuotaExceededError,
  );
  assert.equal(account.state.outbox.size, MAX_OUTBOX_ENTRIES);
  assert.equal(daemon.config.getContactDetails(a, stranger), undefined);
  // A newer request to a target already in the outbox replaces its entry.
  const first = "1".padStart(40, "0");
  await daemon.config.sendTrustRequest(a, first, text("again"));
  assert.equal(account.state.outbox.size, MAX_OUTBOX_ENTRIES);
  daemon.crash();
});
