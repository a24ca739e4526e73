/**
 * `JamiOutbox`: the requests and confirmations a Jami account is putting
 * into contacts' device inboxes, and its retry policy.
 *
 * jamid puts a request once into the inbox of every device the contact
 * announces (a 7-day value), and again only on an offline → online edge of
 * the contact; confirmations are one-shot. We do the same, plus what makes
 * delivery dependable without flooding anyone:
 * - a device is sent an entry until one put of it is acknowledged by a
 *   storing node (`sentTo`); it is never sent twice after that (the value
 *   stays 7 days in its inbox and jamid's listen re-reads it on restart);
 * - a device that announces later (the contact's watch sees it) is sent the
 *   entry at once;
 * - rounds (a fresh device lookup) at 0, 1 min, 10 min, 1 h, 6 h and 24 h
 *   after creation ({@link RETRY_SCHEDULE_MS}), then only on new devices;
 * - at most {@link MAX_PUTS_PER_HOUR} puts per entry per hour, and one
 *   request and one confirmation per contact, so a contact's devices get at
 *   most 2 × 8 values an hour from us, whatever happens;
 * - an entry ends after 7 days (the value's own lifetime), or when it is
 *   answered (a confirmation settles our request) or the contact removed.
 *
 * One named timer serves every entry (the earliest due round).
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import type { RandomBytes } from "../rng.ts";
import type {
  JamiAccountState,
  JamiOutboxEntry,
} from "./jami_account_state.ts";
import {
  MAX_JAMI_OUTBOX_ENTRIES,
  MAX_JAMI_SENT_TO_DEVICES,
} from "./jami_account_state.ts";
import type { JamiDevice, JamiDeviceDirectory } from "./jami_device_directory.ts";
import { randomValueId } from "./jami_publisher.ts";
import type { JamiPrivateKey } from "./rsa_key.ts";
import { inboxKey, sealTrustRequest } from "./trust_request.ts";

/** Delays of the lookup rounds after an entry's creation. */
export const RETRY_SCHEDULE_MS: readonly number[] = [
  60_000,
  10 * 60_000,
  60 * 60_000,
  6 * 60 * 60_000,
  24 * 60 * 60_000,
];
/** Most puts of one entry per hour. */
export const MAX_PUTS_PER_HOUR = 8;
/** How long an entry is sent: a TrustRequest value's lifetime, 7 days. */
export const OUTBOX_ENTRY_LIFETIME_MS = 7 * 24 * 3_600_000;
const HOUR_MS = 3_600_000;

/** What the outbox runs on. */
export interface JamiOutboxOptions {
  /** The account's state (holds the entries). */
  readonly state: JamiAccountState;
  /** Finds the contact's devices. */
  readonly directory: JamiDeviceDirectory;
  /** Where inboxes are. */
  readonly dht: Pick<DhtClient, "put">;
  /** Time of rounds and windows. */
  readonly clock: Clock;
  /** Value ids and the encryption's randomness. */
  readonly randomBytes: RandomBytes;
  /** Signs every value (the sender device's key). */
  readonly deviceKey: JamiPrivateKey;
  /** Wraps CPU work a simulator must wait for. */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /** Saves the state (an entry reached a device, or ended). */
  readonly persist: () => void;
  /** An entry ended unanswered after its lifetime. */
  readonly onExpired: (entry: JamiOutboxEntry) => void;
  /** True while the account runs. */
  readonly isRunning: () => boolean;
}

/** The account's outgoing requests and confirmations. */
export class JamiOutbox {
  readonly #options: JamiOutboxOptions;
  #timer?: Timer;
  /** `entry:device` pairs being sealed or put. */
  readonly #inFlight = new Set<string>();
  /** Puts sent (one per device per attempt). */
  putsSent = 0;
  /** Puts skipped by the hourly bound. */
  putsThrottled = 0;

  /**
   * An outbox over the state's entries.
   *
   * @param options See {@link JamiOutboxOptions}.
   */
  constructor(options: JamiOutboxOptions) {
    this.#options = options;
  }

  #track<T>(work: Promise<T>): Promise<T> {
    return this.#options.track ? this.#options.track(work) : work;
  }

  #now(): number {
    return Math.floor(this.#options.clock.now());
  }

  /** Entries (all targets). */
  entries(): JamiOutboxEntry[] {
    return [...this.#options.state.outbox.values()];
  }

  /**
   * The entry of `kind` to `to`, if any.
   *
   * @param kind Request or confirmation.
   * @param to Target account id.
   * @returns The entry.
   */
  find(kind: JamiOutboxEntry["kind"], to: string): JamiOutboxEntry | undefined {
    return this.entries().find((e) => e.kind === kind && e.to === to);
  }

  /**
   * Adds an entry (replacing one of the same kind to the same target).
   *
   * @param kind Request or confirmation.
   * @param to Target account id.
   * @param conversationId Conversation id carried.
   * @param payload Payload (empty for a confirmation).
   * @returns The new entry and the one it replaced.
   * @throws {RangeError} If the outbox is full.
   */
  enqueue(
    kind: JamiOutboxEntry["kind"],
    to: string,
    conversationId: string,
    payload: Uint8Array,
  ): { entry: JamiOutboxEntry; replaced?: JamiOutboxEntry } {
    const outbox = this.#options.state.outbox;
    const replaced = this.find(kind, to);
    if (replaced === undefined && outbox.size >= MAX_JAMI_OUTBOX_ENTRIES) {
      throw new RangeError("Cannot send: the Jami outbox is full");
    }
    if (replaced !== undefined) outbox.delete(replaced.id);
    const now = this.#now();
    // A replacement inherits the hour's budget: re-sending cannot flood.
    const window = replaced !== undefined && now - replaced.windowStartMs < HOUR_MS
      ? { windowStartMs: replaced.windowStartMs, windowPuts: replaced.windowPuts }
      : { windowStartMs: now, windowPuts: 0 };
    const entry: JamiOutboxEntry = {
      id: this.#options.randomBytes(16).toHex(),
      kind,
      to,
      conversationId,
      payload,
      createdMs: now,
      expiresMs: now + OUTBOX_ENTRY_LIFETIME_MS,
      sentTo: [],
      attempts: 0,
      nextMs: now,
      ...window,
    };
    outbox.set(entry.id, entry);
    return { entry, replaced };
  }

  /**
   * Puts an entry back (undo of a failed save).
   *
   * @param entry The entry.
   */
  adopt(entry: JamiOutboxEntry): void {
    this.#options.state.outbox.set(entry.id, entry);
  }

  /**
   * Removes an entry.
   *
   * @param entry The entry.
   */
  drop(entry: JamiOutboxEntry): void {
    this.#options.state.outbox.delete(entry.id);
  }

  /**
   * Removes every entry to `to`.
   *
   * @param to Target account id.
   * @returns The entries removed.
   */
  dropAllTo(to: string): JamiOutboxEntry[] {
    const removed = this.entries().filter((e) => e.to === to);
    for (const entry of removed) this.drop(entry);
    return removed;
  }

  /** Runs due rounds now and arms the timer (call on start). */
  resume(): void {
    this.#onTimer();
  }

  /** Cancels the timer (call on stop). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /**
   * A round for `entry` now: looks the target's devices up and sends to
   * each one not reached yet.
   *
   * @param entry The entry.
   */
  attempt(entry: JamiOutboxEntry): void {
    if (!this.#options.isRunning()) return;
    entry.attempts++;
    entry.nextMs = entry.attempts <= RETRY_SCHEDULE_MS.length
      ? entry.createdMs + RETRY_SCHEDULE_MS[entry.attempts - 1]
      : entry.expiresMs;
    this.#arm();
    this.#options.directory.lookup(entry.to, (devices) => {
      for (const device of devices) this.#send(entry, device);
    });
  }

  /**
   * A device of `to` showed up (its announcement verified): entries to `to`
   * that have not reached it are sent to it now.
   *
   * @param to Account id.
   * @param device The device.
   */
  onDevice(to: string, device: JamiDevice): void {
    for (const entry of this.entries()) {
      if (entry.to === to) this.#send(entry, device);
    }
  }

  #send(entry: JamiOutboxEntry, device: JamiDevice): void {
    if (!this.#options.isRunning()) return;
    if (this.#options.state.outbox.get(entry.id) !== entry) return;
    if (device.accountId !== entry.to) return;
    if (entry.sentTo.includes(device.deviceId)) return;
    // A lookup round and a device showing up can ask at the same time.
    const flight = `${entry.id}:${device.deviceId}`;
    if (this.#inFlight.has(flight)) return;
    if (entry.sentTo.length >= MAX_JAMI_SENT_TO_DEVICES) return;
    const now = this.#now();
    if (now - entry.windowStartMs >= HOUR_MS) {
      entry.windowStartMs = now;
      entry.windowPuts = 0;
    }
    if (entry.windowPuts >= MAX_PUTS_PER_HOUR) {
      this.putsThrottled++;
      return;
    }
    entry.windowPuts++;
    this.#inFlight.add(flight);
    const { deviceKey, randomBytes, dht } = this.#options;
    const request = {
      service: "cx.ring" as const,
      conversationId: entry.conversationId,
      payload: entry.payload,
      confirm: entry.kind === "confirm",
    };
    this.#track((async () => {
      const value = await sealTrustRequest(
        request,
        deviceKey,
        device.publicKey,
        randomValueId(randomBytes),
        randomBytes,
      );
      return { value, key: await inboxKey(device.deviceId) };
    })()).then(({ value, key }) => {
      if (!this.#options.isRunning()) {
        this.#inFlight.delete(flight);
        return;
      }
      this.putsSent++;
      dht.put(key, value, {
        onDone: (stored) => {
          this.#inFlight.delete(flight);
          if (stored === 0 || entry.sentTo.includes(device.deviceId)) return;
          if (this.#options.state.outbox.get(entry.id) !== entry) return;
          entry.sentTo.push(device.deviceId);
          this.#options.persist();
        },
      });
    }, () => this.#inFlight.delete(flight));
  }

  /** Arms the one timer at the earliest due round. */
  #arm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (!this.#options.isRunning()) return;
    let due = Infinity;
    for (const entry of this.entries()) due = Math.min(due, entry.nextMs);
    if (due === Infinity) return;
    this.#timer = this.#options.clock.setTimer(
      Math.max(0, due - this.#now()),
      () => {
        this.#timer = undefined;
        this.#onTimer();
      },
    );
  }

  #onTimer(): void {
    if (!this.#options.isRunning()) return;
    const now = this.#now();
    let changed = false;
    for (const entry of this.entries()) {
      if (entry.nextMs > now) continue;
      if (now >= entry.expiresMs) {
        this.drop(entry);
        changed = true;
        if (entry.kind === "request") this.#options.onExpired(entry);
        continue;
      }
      this.attempt(entry);
      changed = true;
    }
    if (changed) this.#options.persist();
    this.#arm();
  }
}
