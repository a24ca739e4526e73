/**
 * Issue 18, item 1: a full state never breaks the account. Requests with
 * the largest payloads fill the outbox's byte budget: the next one is a
 * {@link StateFullError} that leaves nothing behind, while adds, removes and
 * accepts still work and persist, and a restart shows exactly what was
 * acknowledged. A save that fails (storage refusing writes) undoes the
 * change it carried, and `stop()` still resolves, reporting it as a
 * `saveFailed` warning.
 */
import assert from "node:assert/strict";
import { Daemon, type DaemonWarning } from "../lib/daemon/daemon.ts";
import {
  MAX_OUTBOX_ENTRIES,
  StateFullError,
} from "../lib/contacts/account_state.ts";
import { MAX_TRUST_REQUEST_PAYLOAD_BYTES } from "../lib/trust/inbox_message.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import { seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";

const BOB = "b".repeat(40);
const CAROL = "c".repeat(40);
const stranger = (i: number) => i.toString(16).padStart(40, "e");

/** Memory storage whose writes can be made to fail. */
class FailingStorage extends MemoryStorage {
  failing = false;
  override set(key: string, value: Uint8Array): Promise<void> {
    if (this.failing) {
      return Promise.reject(new Error("simulated write failure"));
    }
    return super.set(key, value);
  }
}

function setup(name: string, storage: MemoryStorage) {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng(name) });
  const warnings: DaemonWarning[] = [];
  const open = () =>
    Daemon.open({
      transport: network.attach(),
      clock,
      rng: seededRng(`${name}-daemon`),
      storage,
      scryptLog2N: 10,
      onWarning: (warning) => warnings.push(warning),
    });
  return { open, warnings };
}

/** What a restart must show: contacts, requests and outbox targets. */
function snapshot(daemon: Daemon, a: string) {
  const state = daemon.account(a).state;
  return {
    contacts: daemon.config.getContacts(a),
    requests: [...state.requests.keys()].sort(),
    outbox: [...state.outbox.values()].map((e) => `${e.kind}:${e.to}`).sort(),
  };
}

Deno.test("A full outbox refuses the next request with StateFullError, keeps nothing of it, and the rest still works across a restart", async () => {
  const storage = new MemoryStorage();
  const { open } = setup("state-full", storage);
  const daemon = await open();
  const a = await daemon.createAccount();
  daemon.start();
  // A request from Bob is pending (as the inbox would have stored it).
  daemon.account(a).state.requests.set(BOB, {
    from: BOB,
    id: "1".repeat(32),
    sentMs: 1,
    receivedMs: 1,
    payload: new Uint8Array(10),
  });
  const payload = new Uint8Array(MAX_TRUST_REQUEST_PAYLOAD_BYTES);
  let refused: unknown;
  let sent = 0;
  for (; sent < MAX_OUTBOX_ENTRIES; sent++) {
    try {
      await daemon.config.sendTrustRequest(a, stranger(sent), payload);
    } catch (error) {
      refused = error;
      break;
    }
  }
  assert.ok(refused instanceof StateFullError, String(refused));
  assert.ok(sent > 0);
  const state = daemon.account(a).state;
  assert.equal(daemon.config.getContactDetails(a, stranger(sent)), undefined);
  assert.ok(![...state.outbox.values()].some((e) => e.to === stranger(sent)));
  // Everything else still works: accept, remove, a plain add.
  await daemon.config.acceptTrustRequest(a, BOB);
  await daemon.config.removeContact(a, stranger(0), false);
  await daemon.config.addContact(a, CAROL);
  // Removing made room: a request fits again.
  await daemon.config.sendTrustRequest(a, stranger(sent), payload);
  const before = snapshot(daemon, a);
  await daemon.whenIdle();
  daemon.crash();
  const again = await open();
  assert.deepEqual(snapshot(again, a), before);
  assert.equal(again.config.getContactDetails(a, BOB)?.confirmed, true);
  again.crash();
});

Deno.test("A failed save undoes its change, and stop() resolves reporting it", async () => {
  const storage = new FailingStorage();
  const { open, warnings } = setup("save-fails", storage);
  const daemon = await open();
  const a = await daemon.createAccount();
  daemon.start();
  await daemon.config.addContact(a, BOB);
  storage.failing = true;
  await assert.rejects(daemon.config.addContact(a, CAROL));
  assert.equal(daemon.config.getContactDetails(a, CAROL), undefined);
  await assert.rejects(
    daemon.config.sendTrustRequest(a, CAROL, new Uint8Array(8)),
  );
  assert.equal(daemon.config.getContactDetails(a, CAROL), undefined);
  assert.equal(daemon.account(a).state.outbox.size, 0);
  await assert.rejects(daemon.config.removeContact(a, BOB, true));
  assert.equal(daemon.config.getContactDetails(a, BOB)?.banned, false);
  // The final save fails too: stop still resolves and says so.
  await daemon.stop();
  assert.ok(!daemon.running);
  assert.ok(
    warnings.some((w) => w.kind === "saveFailed" && w.key.includes(a)),
    JSON.stringify(warnings),
  );
  storage.failing = false;
  const again = await open();
  assert.equal(again.config.getContactDetails(a, BOB)?.confirmed, false);
  assert.equal(again.config.getContactDetails(a, CAROL), undefined);
  again.crash();
});
