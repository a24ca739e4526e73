/**
 * RevokedDevices (the union of an account's lists), RevocationList.reconcile
 * and renew, and RevocationRegistry (revocation of any sender, fetched when
 * unknown, bounded): a scripted fetch and a ManualClock.
 */
import assert from "node:assert/strict";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";
import {
  REVOCATION_RENEW_BEFORE_MS,
  RevocationList,
} from "../lib/identity/revocation_list.ts";
import {
  MAX_UNION_REVOKED_DEVICES,
  RevokedDevices,
} from "../lib/identity/revoked_devices.ts";
import {
  FETCH_GRACE_MS,
  FETCH_TIMEOUT_MS,
  MAX_CACHED_ACCOUNTS,
  MAX_CONCURRENT_FETCHES,
  MAX_LISTS_PER_FETCH,
  MAX_WAITING,
  MAX_WAITING_PER_ACCOUNT,
  REVOCATION_CACHE_MS,
  RevocationRegistry,
} from "../lib/identity/revocation_registry.ts";
import { SignerMismatchError } from "../lib/identity/errors.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const NOW_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("revocation-registry"));
const alice = AccountKeys.generate(random);
const mallory = AccountKeys.generate(random);
const [laptop, phone, tablet] = [
  DeviceKeys.generate(random),
  DeviceKeys.generate(random),
  DeviceKeys.generate(random),
];

function list(
  seq: number,
  revoked: DeviceKeys[],
  account = alice,
  issuedMs = NOW_MS,
): RevocationList {
  return RevocationList.create(account, {
    seq,
    revoked: revoked.map((d) => d.id),
    issuedMs,
  });
}

const hexes = (ids: readonly InfoHash[]) => ids.map((id) => id.toString());

// --- RevokedDevices ----------------------------------------------------------

Deno.test("RevokedDevices keeps the union of lists with the same sequence number, and of an older one", () => {
  const revoked = new RevokedDevices(alice.id);
  assert.deepEqual(
    hexes(revoked.add(list(1, [phone]), NOW_MS)),
    hexes([phone.id]),
  );
  assert.deepEqual(
    hexes(revoked.add(list(1, [tablet]), NOW_MS)),
    hexes([tablet.id]),
  );
  // An older list adds nothing new and takes nothing away.
  assert.deepEqual(revoked.add(list(0, [phone]), NOW_MS), []);
  assert.ok(revoked.isRevoked(phone.id) && revoked.isRevoked(tablet.id));
  assert.ok(!revoked.isRevoked(laptop.id));
  assert.equal(revoked.newest?.seq, 1);
});

Deno.test("RevokedDevices counts an expired list, refuses a foreign one", () => {
  const revoked = new RevokedDevices(alice.id);
  const old = RevocationList.create(alice, {
    seq: 1,
    revoked: [phone.id],
    issuedMs: NOW_MS,
    lifetimeMs: 1_000,
  });
  revoked.add(RevocationList.decode(old.bytes), NOW_MS + 10_000);
  assert.ok(revoked.isRevoked(phone.id));
  assert.throws(
    () => revoked.add(list(2, [laptop], mallory), NOW_MS),
    SignerMismatchError,
  );
  assert.ok(!revoked.isRevoked(laptop.id));
});

Deno.test("RevokedDevices holds at most MAX_UNION_REVOKED_DEVICES ids", () => {
  const revoked = new RevokedDevices(alice.id);
  const rng = rngBytes(seededRng("many"));
  let total = 0;
  for (let seq = 1; total <= MAX_UNION_REVOKED_DEVICES; seq++) {
    const ids = Array.from(
      { length: 1_024 },
      () => DeviceKeys.generate(rng).id,
    );
    total += ids.length;
    revoked.add(
      RevocationList.create(alice, { seq, revoked: ids, issuedMs: NOW_MS }),
      NOW_MS,
    );
  }
  assert.equal(revoked.revoked.length, MAX_UNION_REVOKED_DEVICES);
});

// --- reconcile, renew ----------------------------------------------------------

Deno.test("RevocationList.reconcile(): same seq, different devices: a union above both; then stable", () => {
  const mine = list(1, [phone]);
  const theirs = list(1, [tablet]);
  const merged = RevocationList.reconcile(alice, mine, theirs, NOW_MS + 1);
  assert.equal(merged.seq, 2);
  assert.deepEqual(
    hexes(merged.revoked),
    hexes(list(0, [phone, tablet]).revoked),
  );
  // The other device does the same; each then keeps its own.
  const other = RevocationList.reconcile(alice, theirs, mine, NOW_MS + 2);
  assert.equal(
    RevocationList.reconcile(alice, merged, other, NOW_MS + 3),
    merged,
  );
  assert.equal(
    RevocationList.reconcile(alice, other, merged, NOW_MS + 3),
    other,
  );
});

Deno.test("RevocationList.reconcile(): keeps a covering own list, adopts a covering newer one, outbids a newer smaller one", () => {
  const both = list(2, [phone, tablet]);
  assert.equal(
    RevocationList.reconcile(alice, both, list(1, [phone]), NOW_MS),
    both,
  );
  assert.equal(RevocationList.reconcile(alice, undefined, both, NOW_MS), both);
  const newer = list(5, [phone, tablet]);
  assert.equal(RevocationList.reconcile(alice, both, newer, NOW_MS), newer);
  // A newer list that forgets a revocation: re-signed above it, with it.
  const forgetful = list(7, [phone]);
  const kept = RevocationList.reconcile(alice, both, forgetful, NOW_MS);
  assert.equal(kept.seq, 8);
  assert.deepEqual(hexes(kept.revoked), hexes(both.revoked));
  assert.throws(
    () =>
      RevocationList.reconcile(alice, both, list(9, [laptop], mallory), NOW_MS),
    SignerMismatchError,
  );
});

Deno.test("RevocationList.renew(): same devices, next seq, renewal due before expiry", () => {
  const old = list(4, [phone, tablet]);
  assert.equal(old.renewalDueMs, old.expiresMs - REVOCATION_RENEW_BEFORE_MS);
  const renewed = old.renew(alice, old.renewalDueMs);
  assert.equal(renewed.seq, 5);
  assert.deepEqual(hexes(renewed.revoked), hexes(old.revoked));
  assert.ok(renewed.expiresMs > old.expiresMs);
});

// --- RevocationRegistry ----------------------------------------------------------

interface Fetch {
  accountId: InfoHash;
  /** Records arrive. */
  found: (records: readonly Uint8Array[]) => void;
  /** Records arrive and the lookup converges. */
  done: (records: readonly Uint8Array[]) => void;
  cancelled: boolean;
}

function registry(local?: (id: InfoHash) => RevokedDevices | undefined) {
  const clock = new ManualClock(NOW_MS);
  const fetches: Fetch[] = [];
  const registry = new RevocationRegistry({
    clock,
    fetch(accountId, callbacks) {
      const fetch: Fetch = {
        accountId,
        found: (records) => callbacks.found(records),
        done: (records) => {
          callbacks.found(records);
          callbacks.done();
        },
        cancelled: false,
      };
      fetches.push(fetch);
      return { cancel: () => fetch.cancelled = true };
    },
    local,
  });
  return { clock, fetches, registry };
}

function certificate(account: AccountKeys, device: DeviceKeys) {
  return DeviceCertificate.issue(account, device, { issuedMs: NOW_MS - 1 });
}

Deno.test("RevocationRegistry: an unknown account is fetched once; its senders wait, then are judged", () => {
  const { fetches, registry: revocations } = registry();
  const retried: string[] = [];
  assert.equal(
    revocations.checkSender(
      certificate(alice, phone),
      () => retried.push("phone"),
    ),
    "pending",
  );
  assert.equal(
    revocations.checkSender(
      certificate(alice, laptop),
      () => retried.push("laptop"),
    ),
    "pending",
  );
  assert.equal(fetches.length, 1);
  fetches[0].done([list(1, [phone]).bytes, new Uint8Array([1, 2, 3])]);
  assert.deepEqual(retried, ["phone", "laptop"]);
  const never = () => assert.fail("no retry expected");
  assert.equal(
    revocations.checkSender(certificate(alice, phone), never),
    "revoked",
  );
  assert.equal(
    revocations.checkSender(certificate(alice, laptop), never),
    "accepted",
  );
  assert.equal(fetches.length, 1);
  assert.equal(revocations.counters.revoked, 1);
});

Deno.test("RevocationRegistry: a watched account is judged by its tracker, with no fetch", () => {
  const tracked = new RevokedDevices(alice.id);
  tracked.add(list(1, [phone]), NOW_MS);
  const { fetches, registry: revocations } = registry((id) =>
    id.equals(alice.id) ? tracked : undefined
  );
  const never = () => assert.fail("no retry expected");
  assert.equal(
    revocations.checkSender(certificate(alice, phone), never),
    "revoked",
  );
  assert.equal(
    revocations.checkSender(certificate(alice, laptop), never),
    "accepted",
  );
  assert.ok(revocations.isRevoked(alice.id, phone.id));
  assert.equal(fetches.length, 0);
});

Deno.test("RevocationRegistry: fetched again after REVOCATION_CACHE_MS, revocations kept", () => {
  const { clock, fetches, registry: revocations } = registry();
  revocations.checkSender(certificate(alice, laptop), () => {});
  fetches[0].done([list(1, [phone]).bytes]);
  clock.advance(REVOCATION_CACHE_MS);
  assert.equal(
    revocations.checkSender(certificate(alice, laptop), () => {}),
    "pending",
  );
  assert.equal(fetches.length, 2);
  fetches[1].done([]);
  assert.ok(revocations.isRevoked(alice.id, phone.id));
});

Deno.test("RevocationRegistry: a fetch that never ends counts as finding nothing after FETCH_TIMEOUT_MS", () => {
  const { clock, fetches, registry: revocations } = registry();
  let retried = 0;
  revocations.checkSender(certificate(alice, laptop), () => retried++);
  clock.advance(FETCH_TIMEOUT_MS);
  assert.equal(retried, 1);
  assert.ok(fetches[0].cancelled);
  // A late answer changes nothing.
  fetches[0].done([list(1, [laptop]).bytes]);
  assert.ok(!revocations.isRevoked(alice.id, laptop.id));
});

Deno.test("RevocationRegistry: a slow lookup ends FETCH_GRACE_MS after the first records, with what arrived by then", () => {
  const { clock, fetches, registry: revocations } = registry();
  let retried = 0;
  revocations.checkSender(certificate(alice, phone), () => retried++);
  fetches[0].found([list(1, [tablet]).bytes]);
  clock.advance(FETCH_GRACE_MS - 1);
  fetches[0].found([list(1, [phone]).bytes]);
  assert.equal(retried, 0);
  clock.advance(1);
  assert.equal(retried, 1);
  assert.ok(fetches[0].cancelled);
  assert.ok(revocations.isRevoked(alice.id, phone.id));
  assert.ok(revocations.isRevoked(alice.id, tablet.id));
});

Deno.test("RevocationRegistry: bounded waiting per account and in all, fetches at a time, and lists verified per fetch", () => {
  const { fetches, registry: revocations } = registry();
  const sender = certificate(alice, laptop);
  for (let i = 0; i < MAX_WAITING_PER_ACCOUNT; i++) {
    assert.equal(revocations.checkSender(sender, () => {}), "pending");
  }
  assert.equal(revocations.checkSender(sender, () => {}), "busy");
  // Fresh accounts: fetches beyond the limit queue, waiters beyond the total are refused.
  const rng = rngBytes(seededRng("fresh"));
  const verdicts: string[] = [];
  for (let i = 0; i < MAX_WAITING; i++) {
    const account = AccountKeys.generate(rng);
    verdicts.push(
      revocations.checkSender(certificate(account, laptop), () => {}),
    );
  }
  assert.equal(
    verdicts.filter((v) => v === "pending").length,
    MAX_WAITING - MAX_WAITING_PER_ACCOUNT,
  );
  assert.equal(
    verdicts.filter((v) => v === "busy").length,
    MAX_WAITING_PER_ACCOUNT,
  );
  assert.equal(fetches.length, MAX_CONCURRENT_FETCHES);
  // One fetch ends: a queued account's fetch starts. Its account stored
  // more lists than are verified: only the highest sequence numbers count.
  const many = Array.from(
    { length: MAX_LISTS_PER_FETCH + 4 },
    (_, i) => list(i + 1, i < 4 ? [phone] : [tablet]).bytes,
  );
  fetches[0].done(many);
  assert.equal(fetches.length, MAX_CONCURRENT_FETCHES + 1);
  assert.ok(revocations.isRevoked(alice.id, tablet.id));
  assert.ok(!revocations.isRevoked(alice.id, phone.id));
});

Deno.test("RevocationRegistry: at most MAX_CACHED_ACCOUNTS accounts, the least recently used forgotten", () => {
  const { fetches, registry: revocations } = registry();
  const rng = rngBytes(seededRng("cache"));
  const first = AccountKeys.generate(rng);
  const firstList = RevocationList.create(first, {
    seq: 1,
    revoked: [phone.id],
    issuedMs: NOW_MS,
  });
  revocations.checkSender(certificate(first, laptop), () => {});
  fetches.at(-1)!.done([firstList.bytes]);
  assert.ok(revocations.isRevoked(first.id, phone.id));
  for (let i = 0; i < MAX_CACHED_ACCOUNTS; i++) {
    const account = AccountKeys.generate(rng);
    revocations.checkSender(certificate(account, laptop), () => {});
    fetches.at(-1)!.done([]);
  }
  assert.ok(!revocations.isRevoked(first.id, phone.id));
});
