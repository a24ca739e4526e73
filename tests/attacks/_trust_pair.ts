/**
 * Two accounts' trust deliveries over a fake DHT that queues every put until
 * the test hands it to the listeners (so a test can capture, drop or re-put
 * any box), with a ManualClock and seeded RNGs.
 */
import {
  type TrustCounters,
  TrustDelivery,
  type TrustEvent,
} from "../../lib/trust/trust_delivery.ts";
import {
  type AccountState,
  emptyAccountState,
} from "../../lib/contacts/account_state.ts";
import type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
  ListenHandle,
} from "../../lib/dht/dht_client.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import type { InfoHash } from "../../lib/identity/info_hash.ts";
import { OUR_PROFILE } from "../../lib/presence/presence_profile.ts";
import type { ManualClock } from "../../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";

/** Virtual start time. */
export const NOW_MS = 1_700_000_000_000;

/** Puts wait in a queue until `deliver()` hands them to the listeners. */
export class QueuedDht implements DhtClient {
  readonly #listeners = new Map<string, ((event: ListenEvent) => void)[]>();
  readonly queue: { key: string; value: DhtValue }[] = [];
  gets = 0;

  listen(key: InfoHash, callback: (event: ListenEvent) => void): ListenHandle {
    const list = this.#listeners.get(key.toString()) ?? [];
    list.push(callback);
    this.#listeners.set(key.toString(), list);
    return {
      cancel: () => list.splice(list.indexOf(callback), 1),
      relocate() {},
    };
  }
  put(key: InfoHash, value: DhtValue) {
    this.queue.push({ key: key.toString(), value });
    return { cancel() {} };
  }
  putPermanent(key: InfoHash, value: DhtValue) {
    this.put(key, value);
    return { cancel() {}, replace() {} };
  }
  get(_key: InfoHash, callbacks: GetCallbacks) {
    // No mailbox is ever found: every receipt looks one up.
    this.gets += 1;
    callbacks.onDone?.([], { nodes: [] } as never);
    return { cancel() {} };
  }

  /** Hands every queued put to the listeners at its key; returns how many. */
  deliver(): number {
    const batch = this.queue.splice(0);
    for (const { key, value } of batch) {
      for (const listener of this.#listeners.get(key) ?? []) {
        listener({ kind: "added", values: [value] });
      }
    }
    return batch.length;
  }
}

/** One account with one device, its state and its trust delivery. */
export interface Side {
  uri: string;
  device: DeviceKeys;
  certificate: DeviceCertificate;
  state: AccountState;
  counters: TrustCounters;
  delivery: TrustDelivery;
  /** What delivery reported, in order. */
  events: TrustEvent[];
}

/** An account seeded from `name`, listening on its inbox over `dht`. */
export function side(name: string, dht: QueuedDht, clock: ManualClock): Side {
  const random = rngBytes(seededRng(name));
  const account = AccountKeys.generate(random);
  const device = DeviceKeys.generate(random);
  const certificate = DeviceCertificate.issue(account, device, {
    issuedMs: NOW_MS - 1_000,
  });
  const state = emptyAccountState();
  const events: TrustEvent[] = [];
  const counters: TrustCounters = {
    messagesSent: 0,
    boxesPut: 0,
    receiptsSent: 0,
    dropped: {
      malformed: 0,
      banned: 0,
      quota: 0,
      duplicate: 0,
      stale: 0,
      stamp: 0,
    },
  };
  const delivery = new TrustDelivery({
    accountId: account.id.toString(),
    device,
    certificate,
    inboxKeys: [device],
    dht,
    clock,
    randomBytes: random,
    profile: OUR_PROFILE,
    state,
    counters,
    isRunning: () => true,
    tracker: () => undefined,
    watchTarget() {},
    unwatchTarget() {},
    persist: () => Promise.resolve(),
    track: (work) => work,
    emit: (event) => events.push(event),
    onShared() {},
    onOwnSync() {},
  });
  delivery.listen();
  return {
    uri: account.id.toString(),
    device,
    certificate,
    state,
    counters,
    delivery,
    events,
  };
}

/** Lets the persist-then continuations run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
