import assert from "node:assert/strict";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import {
  MalformedRecordError,
  WrongRecipientError,
} from "../lib/identity/errors.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { encodeTuple } from "../lib/identity/_codec.ts";
import {
  decodeLinkCandidates,
  encodeLinkCandidates,
  type LinkCandidates,
  LinkCandidatesExpiredError,
  openLinkCandidates,
  sealLinkCandidates,
} from "../lib/channel/link_candidates.ts";

const random = rngBytes(seededRng("candidates"));
function device() {
  const account = AccountKeys.generate(random);
  const keys = DeviceKeys.generate(random);
  return {
    device: keys,
    certificate: DeviceCertificate.issue(account, keys, { issuedMs: 0 }),
  };
}
const SET: LinkCandidates = {
  issuedMs: 10_000,
  expiresMs: 130_000,
  token: new Uint8Array(16).fill(3),
  candidates: [
    { host: "192.168.1.20", port: 4222 },
    { host: "203.0.113.7", port: 4222 },
    { host: "2001:db8::1", port: 4222 },
  ],
};

Deno.test("link candidates: encode/decode round trip", () => {
  assert.deepEqual(decodeLinkCandidates(encodeLinkCandidates(SET)), SET);
});

Deno.test("link candidates: the sender's NAT and relay travel as v2; a set without them stays v1, as before", () => {
  for (const nat of ["public", "independent", "dependent"] as const) {
    const bytes = encodeLinkCandidates({ ...SET, nat });
    assert.deepEqual(decodeLinkCandidates(bytes), { ...SET, nat });
  }
  const relay = { host: "198.51.100.9", port: 3478 };
  assert.deepEqual(
    decodeLinkCandidates(encodeLinkCandidates({ ...SET, relay })),
    {
      ...SET,
      relay,
    },
  );
  assert.throws(
    () =>
      encodeLinkCandidates({
        ...SET,
        relay: { host: "relay.example", port: 1 },
      }),
    MalformedRecordError,
  );
  const v1 = encodeLinkCandidates({ ...SET, nat: "unknown" });
  assert.deepEqual(v1, encodeLinkCandidates(SET));
  // Written by the version before: the same bytes as the v1 tuple.
  assert.deepEqual(
    v1,
    encodeTuple([
      "link-candidates-v1",
      SET.issuedMs,
      SET.expiresMs,
      SET.token,
      SET.candidates.map(({ host, port }) => [host, port]),
    ]),
  );
  assert.deepEqual(decodeLinkCandidates(v1), SET);
  for (
    const [nat, relay] of [
      [4, null],
      [-1, null],
      ["dependent", null],
      [3, ["evil.example", 1]],
      [3, ["203.0.113.7", 0]],
      [3, "203.0.113.7"],
    ]
  ) {
    const raw = encodeTuple([
      "link-candidates-v2",
      SET.issuedMs,
      SET.expiresMs,
      SET.token,
      [],
      nat,
      relay,
    ]);
    assert.throws(() => decodeLinkCandidates(raw), MalformedRecordError);
  }
  const v1WithNat = encodeTuple([
    "link-candidates-v1",
    SET.issuedMs,
    SET.expiresMs,
    SET.token,
    [],
    3,
  ]);
  assert.throws(() => decodeLinkCandidates(v1WithNat), MalformedRecordError);
});

Deno.test("link candidates: hostile sets are refused with MalformedRecordError", () => {
  const bad = [
    { ...SET, token: new Uint8Array(15) },
    { ...SET, expiresMs: SET.issuedMs },
    { ...SET, expiresMs: SET.issuedMs + 3_600_000 },
    { ...SET, candidates: Array(9).fill({ host: "203.0.113.7", port: 1 }) },
    { ...SET, candidates: [{ host: "evil.example", port: 1 }] },
    { ...SET, candidates: [{ host: "203.0.113.7", port: 0 }] },
  ];
  for (const value of bad) {
    assert.throws(() => encodeLinkCandidates(value), MalformedRecordError);
  }
  const raw = encodeTuple([
    "link-candidates-v1",
    1,
    2,
    new Uint8Array(16),
    [["203.0.113.7", 70_000]],
  ]);
  assert.throws(() => decodeLinkCandidates(raw), MalformedRecordError);
  assert.throws(
    () => decodeLinkCandidates(new Uint8Array([0xc1])),
    MalformedRecordError,
  );
});

Deno.test("link candidates: sealed to one device; another device cannot open; expiry enforced", () => {
  const [alice, bob, carol] = [device(), device(), device()];
  const box = sealLinkCandidates(SET, {
    sender: alice,
    recipient: bob.certificate,
    randomBytes: random,
  });
  const opened = openLinkCandidates(box, { device: bob.device, nowMs: 20_000 });
  assert.deepEqual(opened.candidates, SET);
  assert.ok(opened.sender.deviceId.equals(alice.device.id));
  assert.throws(
    () => openLinkCandidates(box, { device: carol.device, nowMs: 20_000 }),
    WrongRecipientError,
  );
  assert.throws(
    () => openLinkCandidates(box, { device: bob.device, nowMs: 130_000 }),
    LinkCandidatesExpiredError,
  );
});
