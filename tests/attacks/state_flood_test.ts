/**
 * Issue 18, item 1, "a full state file breaks the account": requests at the
 * largest payload from many stranger accounts (256 × 64 KB pending, with
 * every peer record full) pushed the state file over its 16 MiB limit, and
 * from then on every write failed with a `RangeError`. Now pending payloads
 * have a byte budget (the oldest stranger's request goes first), peers keep
 * at most {@link MAX_PEER_DEVICES} certificates, and the state stays under
 * the limit: the account keeps working, and a local request past the
 * outbox's budget is a {@link StateFullError}, never a `RangeError`.
 *
 * The flood goes through the account's own {@link Inbox} logic (the stamp
 * check is below this seam: difficulty 0 here, as every sender could mint)
 * and through `rememberPeerDevice`, as received boxes and announcements do.
 */
import assert from "node:assert/strict";
import { Daemon } from "../../lib/daemon/daemon.ts";
import {
  encodeAccountState,
  MAX_PEER_DEVICES,
  MAX_PEERS,
  MAX_PENDING_PAYLOAD_BYTES,
  MAX_PENDING_REQUESTS,
  MAX_SEEN_IDS,
  pendingPayloadBytes,
  StateFullError,
} from "../../lib/contacts/account_state.ts";
import { Inbox } from "../../lib/trust/inbox.ts";
import { rememberPeerDevice } from "../../lib/trust/recipients.ts";
import { MAX_TRUST_REQUEST_PAYLOAD_BYTES } from "../../lib/trust/inbox_message.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { MAX_STORAGE_VALUE_BYTES } from "../../lib/storage.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../../lib/testing/memory_storage.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { SimulatedNetwork } from "../../lib/testing/simulated_network.ts";

const CAROL = "c".repeat(40);
const stranger = (i: number) => i.toString(16).padStart(40, "5");

Deno.test("attack: strangers filling every remote-fed queue at the largest sizes keep the state under its file limit; the account still works", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("flood") });
  const storage = new MemoryStorage();
  const open = () =>
    Daemon.open({
      transport: network.attach(),
      clock,
      rng: seededRng("flood-daemon"),
      storage,
      scryptLog2N: 10,
    });
  const daemon = await open();
  const a = await daemon.createAccount();
  daemon.start();
  const state = daemon.account(a).state;

  // Every peer record full of the largest certificates (64-character names).
  const random = rngBytes(seededRng("flood-certs"));
  const signer = AccountKeys.generate(random);
  const certificates = Array.from(
    { length: MAX_PEER_DEVICES + 1 },
    () =>
      DeviceCertificate.issue(signer, DeviceKeys.generate(random), {
        name: "\u0800".repeat(64),
        issuedMs: clock.now(),
      }),
  );
  for (let i = 0; i < MAX_PEERS; i++) {
    for (const certificate of certificates) {
      rememberPeerDevice(state.peers, stranger(i), certificate, clock.now());
    }
  }

  // More requests than the pending list and the seen ids hold, all at the
  // largest payload, each from a different stranger.
  const inbox = new Inbox(state, undefined, 0);
  const payload = new Uint8Array(MAX_TRUST_REQUEST_PAYLOAD_BYTES);
  const flood = MAX_SEEN_IDS + MAX_PENDING_REQUESTS;
  let stored = 0;
  for (let i = 0; i < flood; i++) {
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(12, i + 1);
    const outcome = inbox.receive(stranger(i), {
      kind: "request",
      id,
      sentMs: clock.now() - flood + i,
      payload,
    }, clock.now());
    if (outcome.kind === "newRequest") stored += 1;
  }
  assert.equal(stored, flood);
  assert.ok(pendingPayloadBytes(state.requests) <= MAX_PENDING_PAYLOAD_BYTES);
  // The newest request is kept.
  assert.ok(state.requests.has(stranger(flood - 1)));
  const size = encodeAccountState(state).length;
  assert.ok(size <= MAX_STORAGE_VALUE_BYTES, `${size} bytes`);

  // The account still works: a local add, then requests until the outbox's
  // budget, refused with the typed error.
  await daemon.config.addContact(a, CAROL);
  let refused: unknown;
  for (let i = 0; i < MAX_PENDING_REQUESTS && refused === undefined; i++) {
    await daemon.config.sendTrustRequest(
      a,
      i.toString(16).padStart(40, "7"),
      payload,
    ).catch((error) => refused = error);
  }
  assert.ok(refused instanceof StateFullError, String(refused));
  await daemon.config.discardTrustRequest(a, stranger(flood - 1));
  const pending = daemon.config.getTrustRequests(a).length;
  await daemon.whenIdle();
  daemon.crash();

  const again = await open();
  assert.equal(again.config.getContactDetails(a, CAROL)?.banned, false);
  assert.equal(again.config.getTrustRequests(a).length, pending);
  again.crash();
});
