/**
 * PresencePublisher alone, without links: a fake DhtClient records the
 * permanent puts and their replacements (the goodbye is one with `keep:
 * false`), a ManualClock runs the goodbye wait, and a counter stands for the
 * account's saves.
 */
import assert from "node:assert/strict";
import {
  GOODBYE_WAIT_MS,
  PresencePublisher,
  type PublishedState,
} from "../lib/presence/presence_publisher.ts";
import { DeviceAnnouncement } from "../lib/presence/device_announcement.ts";
import { OUR_PROFILE } from "../lib/presence/presence_profile.ts";
import { SignedRecord } from "../lib/identity/signed_record.ts";
import type { DhtClient } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const NOW_MS = 1_700_000_000_000;
const random = rngBytes(seededRng("presence-publisher"));
const account = AccountKeys.generate(random);
const device = DeviceKeys.generate(random);
const certificate = DeviceCertificate.issue(account, device, {
  issuedMs: NOW_MS - 1_000,
});

/** What the announcement at the account hash says, in publishing order. */
type Published = { note: string; goodbye: boolean; kept: boolean };

/** Records announcements; a goodbye is acknowledged only when told. */
class RecordingDht {
  readonly published: Published[] = [];
  readonly goodbyeAcks: (() => void)[] = [];

  #record(value: DhtValue, kept: boolean): void {
    const announcement = DeviceAnnouncement.fromRecord(
      SignedRecord.decode(value.data),
    );
    this.published.push({
      note: announcement.note,
      goodbye: announcement.goodbye,
      kept,
    });
  }
  putPermanent(_key: InfoHash, value: DhtValue) {
    this.#record(value, true);
    return {
      cancel() {},
      replace: (
        next: DhtValue,
        options?: { keep?: boolean; onDone?: (stored: number) => void },
      ) => {
        this.#record(next, options?.keep ?? true);
        const onDone = options?.onDone;
        if (onDone !== undefined) this.goodbyeAcks.push(() => onDone(1));
      },
    };
  }
}

function setup() {
  const dht = new RecordingDht();
  const clock = new ManualClock(NOW_MS);
  const state: PublishedState = { announcementSeq: 0 };
  let saves = 0;
  const publisher = new PresencePublisher({
    accountId: account.id,
    device,
    certificate,
    dht: dht as unknown as DhtClient,
    clock,
    randomBytes: random,
    profile: OUR_PROFILE,
    state,
    persist: () => {
      saves += 1;
      return Promise.resolve();
    },
    track: (work) => work,
    authorize: () => false,
    onLinkChange() {},
  });
  return { dht, clock, state, publisher, saves: () => saves };
}

Deno.test("PresencePublisher announces at start, without the note (it is for contacts, over links), and persists the sequence number", () => {
  const { dht, state, publisher, saves } = setup();
  publisher.publish(true, "back soon");
  assert.deepEqual(dht.published, []);
  publisher.start();
  assert.deepEqual(dht.published, [
    { note: "", goodbye: false, kept: true },
  ]);
  assert.ok(state.announcementSeq >= NOW_MS);
  assert.equal(saves(), 1);
  assert.equal(publisher.links, undefined);
});

Deno.test("PresencePublisher.publish() does not re-sign for a new note, says goodbye when invisible, announces again when visible", () => {
  const { dht, state, publisher, saves } = setup();
  publisher.start();
  const first = state.announcementSeq;
  publisher.publish(true, "busy");
  assert.equal(state.announcementSeq, first);
  publisher.publish(false, "");
  publisher.publish(true, "here");
  assert.deepEqual(dht.published, [
    { note: "", goodbye: false, kept: true },
    { note: "", goodbye: true, kept: false },
    { note: "", goodbye: false, kept: true },
  ]);
  assert.equal(saves(), 3);
});

Deno.test("PresencePublisher.stop() says goodbye and finishes once it is acknowledged", async () => {
  const { dht, publisher, state } = setup();
  publisher.start();
  let finished = false;
  const stopped = publisher.stop(() => {
    finished = true;
    return Promise.resolve();
  });
  assert.deepEqual(dht.published.at(-1), {
    note: "",
    goodbye: true,
    kept: false,
  });
  assert.ok(state.announcementSeq > 0);
  await Promise.resolve();
  assert.equal(finished, false);
  dht.goodbyeAcks[0]();
  await stopped;
  assert.equal(finished, true);
  // Stopped: a new note is only remembered.
  publisher.publish(true, "later");
  assert.equal(dht.published.length, 2);
});

Deno.test(`PresencePublisher.stop() gives up waiting for the goodbye's acknowledgement after GOODBYE_WAIT_MS (${GOODBYE_WAIT_MS} ms)`, async () => {
  const { clock, publisher } = setup();
  publisher.start();
  let finished = false;
  const stopped = publisher.stop(() => {
    finished = true;
    return Promise.resolve();
  });
  clock.advance(GOODBYE_WAIT_MS - 1);
  await Promise.resolve();
  assert.equal(finished, false);
  clock.advance(1);
  await stopped;
  assert.equal(finished, true);
});

Deno.test("PresencePublisher.crash() drops the announcement without a goodbye", () => {
  const { dht, publisher } = setup();
  publisher.start();
  publisher.crash();
  publisher.publish(true, "ignored");
  assert.deepEqual(dht.published, [{ note: "", goodbye: false, kept: true }]);
});
