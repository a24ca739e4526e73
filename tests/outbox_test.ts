/**
 * Outbox alone: the retry policy, replacement, the size limit, expiry and
 * receipts, without a swarm. A recording courier stands for the account's
 * sealing and puts, a ManualClock drives the sweeps the way the account's
 * retry timer does, and message ids are counted, not drawn.
 */
import assert from "node:assert/strict";
import {
  type AttemptOutcome,
  Outbox,
  type OutboxCourier,
  type OutboxExpiry,
  retryDelayMs,
  type RetryPolicy,
  SWEEP_IDLE_MS,
} from "../lib/trust/outbox.ts";
import {
  MAX_OUTBOX_ENTRIES,
  type OutboxEntry,
} from "../lib/contacts/account_state.ts";
import type { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { INBOX_LIFETIME_MS } from "../lib/trust/inbox_message.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const OURS: RetryPolicy = {
  receipts: true,
  retryInitialMs: 30 * SECOND,
  retryMaxMs: 30 * MINUTE,
};
const JAMI: RetryPolicy = { receipts: false, retryInitialMs: 0, retryMaxMs: 0 };
const BOB = "b".repeat(40);
const CAROL = "c".repeat(40);
const EMPTY = new Uint8Array(0);

/** Stands for a device certificate: the outbox only reads its device id. */
function device(name: string): DeviceCertificate {
  return { deviceId: InfoHash.get(name) } as unknown as DeviceCertificate;
}

/** Records seals and puts; recipients are set by the test. */
class RecordingCourier implements OutboxCourier {
  devices: DeviceCertificate[] = [];
  readonly asked: { uri: string; onlineOnly: boolean }[] = [];
  readonly sealed: string[] = [];
  readonly puts: { device: string; id: string; box: Uint8Array }[] = [];

  recipients(uri: string, onlineOnly: boolean): DeviceCertificate[] {
    this.asked.push({ uri, onlineOnly });
    return this.devices;
  }
  seal(_message: Uint8Array, recipient: DeviceCertificate): Uint8Array {
    this.sealed.push(recipient.deviceId.toString());
    return new Uint8Array([this.sealed.length]);
  }
  put(recipient: DeviceCertificate, id: Uint8Array, box: Uint8Array): void {
    this.puts.push({
      device: recipient.deviceId.toString(),
      id: id.toHex(),
      box,
    });
  }
}

interface Setup {
  outbox: Outbox;
  entries: Map<string, OutboxEntry>;
  /** "+uri" when an entry to uri was added, "-uri" when its last one left. */
  targets: string[];
}

function setup(policy: RetryPolicy = OURS): Setup {
  const entries = new Map<string, OutboxEntry>();
  const targets: string[] = [];
  let ids = 0;
  const outbox = new Outbox({
    entries,
    policy,
    newId: () => (++ids).toString(16).padStart(32, "0"),
    onEnqueued: (uri) => targets.push(`+${uri.slice(0, 1)}`),
    onTargetCleared: (uri) => targets.push(`-${uri.slice(0, 1)}`),
  });
  return { outbox, entries, targets };
}

/**
 * Runs the outbox as the account does: a sweep at start, then at each
 * sweep's next time (at least 1 s later); returns the attempt times in
 * minutes from the start.
 */
function driveSweeps(
  outbox: Outbox,
  courier: OutboxCourier,
  clock: ManualClock,
  untilMs: number,
): { attempts: number[]; expiries: OutboxExpiry[] } {
  const startMs = clock.now();
  const attempts: number[] = [];
  const expiries: OutboxExpiry[] = [];
  const sweep = () => {
    const now = clock.now();
    const { nextMs } = outbox.sweep(now, {
      attempt: (entry) => {
        attempts.push((now - startMs) / MINUTE);
        outbox.attempt(entry, now, courier);
      },
      expired: (expiry) => expiries.push(expiry),
    });
    clock.setTimer(Math.max(SECOND, nextMs - now), sweep);
  };
  clock.setTimer(0, sweep);
  clock.advance(untilMs);
  return { attempts, expiries };
}

Deno.test("retryDelayMs() doubles from retryInitialMs and stops at retryMaxMs", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => retryDelayMs(OURS, n) / SECOND),
    [30, 60, 120, 240, 480, 960, 1_800, 1_800, 1_800],
  );
  // The exponent stops at 20: no overflow to Infinity for a huge count.
  const slow = { ...OURS, retryMaxMs: Number.MAX_SAFE_INTEGER };
  assert.equal(retryDelayMs(slow, 10_000), 30 * SECOND * 2 ** 20);
});

Deno.test("Outbox retries an unacknowledged request on the backoff schedule, sweeping at least every minute", () => {
  const clock = new ManualClock(0);
  const { outbox } = setup();
  const courier = new RecordingCourier();
  courier.devices = [device("phone")];
  outbox.enqueue("request", BOB, new Uint8Array([7]), clock.now());
  const { attempts } = driveSweeps(outbox, courier, clock, 2 * 60 * MINUTE);
  // 0, +0.5, +1, +2, +4, +8, +16, then every 30 min. Sweeps run on whole
  // seconds of the idle minute, so a due time is met exactly.
  assert.deepEqual(attempts, [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 61.5, 91.5]);
  // One box for the phone, sealed once and put at every attempt.
  assert.deepEqual(courier.sealed, [InfoHash.get("phone").toString()]);
  assert.equal(courier.puts.length, 9);
  assert.ok(courier.puts.every((put) => put.box[0] === 1));
  const [entry] = outbox.entries();
  assert.equal(entry.attempts, 9);
  assert.deepEqual(entry.sentTo, [InfoHash.get("phone").toString()]);
});

Deno.test("Outbox.attempt() with nobody to reach counts the attempt and schedules the next", () => {
  const { outbox } = setup();
  const courier = new RecordingCourier();
  const entry = outbox.enqueue("confirm", BOB, EMPTY, 1_000);
  const outcomes: AttemptOutcome[] = [
    outbox.attempt(entry, 1_000, courier),
    outbox.attempt(entry, 31_000, courier),
  ];
  assert.deepEqual(outcomes, ["unreachable", "unreachable"]);
  assert.equal(entry.attempts, 2);
  assert.equal(entry.nextMs, 31_000 + 60 * SECOND);
  assert.deepEqual(courier.asked, [
    { uri: BOB, onlineOnly: false },
    { uri: BOB, onlineOnly: false },
  ]);
  assert.deepEqual(courier.sealed, []);
  // A device appears: sealed and put.
  courier.devices = [device("phone"), device("mailbox")];
  assert.equal(outbox.attempt(entry, 100_000, courier), "sent");
  assert.equal(courier.puts.length, 2);
  assert.ok(courier.puts.every((put) => put.id === entry.id));
});

Deno.test("Outbox without receipts (Jami) sends to online devices once, a request again only at its expiry or when retried, a confirmation once", () => {
  const { outbox, targets } = setup(JAMI);
  const courier = new RecordingCourier();
  courier.devices = [device("phone")];
  const request = outbox.enqueue("request", BOB, EMPTY, 0);
  const confirm = outbox.enqueue("confirm", CAROL, EMPTY, 0);
  assert.equal(outbox.attempt(request, 0, courier), "sent");
  assert.equal(request.nextMs, request.expiresMs);
  assert.equal(outbox.attempt(confirm, 0, courier), "sent");
  assert.deepEqual(courier.asked.map((ask) => ask.onlineOnly), [true, true]);
  // The confirmation went once and is gone; its target may be unwatched.
  assert.equal(outbox.get(confirm.id), undefined);
  assert.deepEqual(targets, ["+b", "+c", "-c"]);
  // Coming online retries requests only.
  outbox.enqueue("confirm", BOB, EMPTY, 0);
  assert.deepEqual(outbox.retryableTo(BOB), [request]);
  assert.equal(setup(OURS).outbox.retryableTo(BOB).length, 0);
});

Deno.test("Outbox: a newer request replaces the older one to the same target, a confirmation the older confirmation", () => {
  const { outbox, targets } = setup();
  const first = outbox.enqueue("request", BOB, new Uint8Array([1]), 0);
  const toCarol = outbox.enqueue("request", CAROL, EMPTY, 0);
  const confirm = outbox.enqueue("confirm", BOB, EMPTY, 0);
  assert.ok(outbox.makeRoomForRequest(BOB));
  const second = outbox.enqueue("request", BOB, new Uint8Array([2]), 10);
  assert.deepEqual(outbox.entries(), [toCarol, confirm, second]);
  const again = outbox.enqueue("confirm", BOB, EMPTY, 20);
  assert.deepEqual(outbox.entries(), [toCarol, second, again]);
  assert.notEqual(again.id, confirm.id);
  assert.equal(first.payload[0], 1);
  // Bob always had an entry left: his presence stayed watched.
  assert.deepEqual(targets, ["+b", "+c", "+b", "+b", "+b"]);
});

Deno.test("Outbox: a full outbox refuses a new request, takes a replacing one, and drops the oldest entry for a confirmation", () => {
  const { outbox } = setup();
  for (let i = 0; i < MAX_OUTBOX_ENTRIES; i++) {
    // Created newest first, so the oldest is the last inserted.
    const to = i.toString(16).padStart(40, "0");
    outbox.enqueue("request", to, EMPTY, MAX_OUTBOX_ENTRIES - i);
  }
  assert.equal(outbox.size, MAX_OUTBOX_ENTRIES);
  assert.equal(outbox.makeRoomForRequest(BOB), false);
  assert.equal(outbox.size, MAX_OUTBOX_ENTRIES);
  const replaced = "0".repeat(40);
  assert.equal(outbox.makeRoomForRequest(replaced), true);
  assert.equal(outbox.size, MAX_OUTBOX_ENTRIES - 1);
  outbox.enqueue("request", replaced, EMPTY, 5_000);
  const oldest = outbox.entries().find((entry) => entry.createdMs === 1)!;
  const confirm = outbox.enqueue("confirm", BOB, EMPTY, 6_000);
  assert.equal(outbox.size, MAX_OUTBOX_ENTRIES);
  assert.equal(outbox.get(oldest.id), undefined);
  assert.equal(outbox.get(confirm.id), confirm);
});

Deno.test("Outbox.sweep() ends entries at their expiry, reporting only the undelivered ones", () => {
  const clock = new ManualClock(0);
  const { outbox, entries, targets } = setup();
  const courier = new RecordingCourier();
  const delivered = outbox.enqueue("request", BOB, EMPTY, 0);
  const request = outbox.enqueue("request", CAROL, EMPTY, 0);
  const confirm = outbox.enqueue("confirm", "d".repeat(40), EMPTY, 0);
  assert.equal(outbox.acknowledge(BOB, delivered.id), delivered);
  const { expiries } = driveSweeps(
    outbox,
    courier,
    clock,
    INBOX_LIFETIME_MS + MINUTE,
  );
  assert.deepEqual(expiries, [
    { type: "trustRequestExpired", uri: CAROL, requestId: request.id },
    { type: "confirmationExpired", uri: "d".repeat(40) },
  ]);
  assert.equal(entries.size, 0);
  assert.deepEqual(targets.slice(3), ["-b", "-c", "-d"]);
  // The delivered request was never attempted again, the others until the end.
  assert.equal(delivered.attempts, 0);
  assert.ok(request.attempts > 300);
  assert.equal(confirm.attempts, request.attempts);
});

Deno.test("Outbox.sweep() reports the next due time: the earliest retry or expiry, at most a minute away", () => {
  const { outbox } = setup();
  const courier = new RecordingCourier();
  const handlers = {
    attempt: (entry: OutboxEntry) => outbox.attempt(entry, 0, courier),
    expired: () => assert.fail("nothing expires"),
  };
  assert.deepEqual(outbox.sweep(0, handlers), {
    nextMs: SWEEP_IDLE_MS,
    changed: false,
  });
  outbox.enqueue("request", BOB, EMPTY, 0);
  // Attempted now, next in 30 s.
  assert.deepEqual(outbox.sweep(0, handlers), {
    nextMs: 30 * SECOND,
    changed: false,
  });
});

Deno.test("Outbox.acknowledge() marks a request delivered and drops a confirmation; foreign and repeated receipts change nothing", () => {
  const { outbox, targets } = setup();
  const courier = new RecordingCourier();
  courier.devices = [device("phone")];
  const request = outbox.enqueue("request", BOB, EMPTY, 0);
  const confirm = outbox.enqueue("confirm", CAROL, EMPTY, 0);
  outbox.attempt(request, 0, courier);
  // A receipt from someone else, or for an unknown id.
  assert.equal(outbox.acknowledge(CAROL, request.id), undefined);
  assert.equal(outbox.acknowledge(BOB, "f".repeat(32)), undefined);
  assert.equal(outbox.acknowledge(BOB, request.id), request);
  assert.equal(request.delivered, true);
  assert.equal(outbox.acknowledge(BOB, request.id), undefined);
  assert.equal(outbox.attempt(request, 60_000, courier), "skipped");
  assert.equal(outbox.acknowledge(CAROL, confirm.id), confirm);
  assert.equal(outbox.get(confirm.id), undefined);
  assert.deepEqual(targets, ["+b", "+c", "-c"]);
  // The answer settles the delivered request.
  assert.deepEqual(outbox.settleRequestsTo(BOB), [request.id]);
  assert.equal(outbox.size, 0);
});

Deno.test("Outbox.settleRequestsTo() drops only requests to that target and returns their ids", () => {
  const { outbox } = setup();
  const request = outbox.enqueue("request", BOB, EMPTY, 0);
  const confirm = outbox.enqueue("confirm", BOB, EMPTY, 0);
  const other = outbox.enqueue("request", CAROL, EMPTY, 0);
  assert.deepEqual(outbox.settleRequestsTo(BOB), [request.id]);
  assert.deepEqual(outbox.entries(), [confirm, other]);
  assert.deepEqual(outbox.confirmationsTo(BOB), [confirm]);
  outbox.dropAllTo(BOB);
  assert.deepEqual(outbox.entries(), [other]);
});

Deno.test("Outbox reseals for a device only after its boxes were dropped", () => {
  const { outbox } = setup();
  const courier = new RecordingCourier();
  courier.devices = [device("phone")];
  const entry = outbox.enqueue("request", BOB, EMPTY, 0);
  outbox.attempt(entry, 0, courier);
  courier.devices = [device("phone"), device("laptop")];
  outbox.attempt(entry, 30_000, courier);
  outbox.attempt(entry, 90_000, courier);
  assert.deepEqual(courier.sealed, [
    InfoHash.get("phone").toString(),
    InfoHash.get("laptop").toString(),
  ]);
  // Adopted back after a drop (a sync): sealed afresh.
  outbox.drop(entry);
  entry.attempts = 0;
  outbox.adopt(entry);
  outbox.attempt(entry, 100_000, courier);
  assert.equal(courier.sealed.length, 4);
});
