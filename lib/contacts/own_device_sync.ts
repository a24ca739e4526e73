/**
 * `OwnDeviceSync`: how the devices of one account keep the same contacts,
 * bans, pending requests and outbox. After a local change a device sends a
 * snapshot of its state ({@link encodeSyncSnapshot}) to its other online
 * devices, sealed to each like any inbox message; a device that comes online
 * gets one at once. A snapshot that arrives is merged
 * ({@link mergeSyncSnapshot}) and the caller does what the merge returns
 * (persist, emit, close links, adopt outbox entries).
 *
 * Changes are coalesced: the first one starts a one-second timer
 * ({@link SYNC_DELAY_MS}) and the snapshot sent when it fires carries every
 * change made meanwhile.
 *
 * @example A change on the laptop reaches the phone
 * ```ts
 * import assert from "node:assert/strict";
 * import { OwnDeviceSync } from "./own_device_sync.ts";
 * import { emptyAccountState } from "./account_state.ts";
 * import { decodeInboxMessage } from "../trust/inbox_message.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import type { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const clock = new ManualClock();
 * const laptop = emptyAccountState();
 * const phone = { deviceId: InfoHash.get("phone") } as DeviceCertificate;
 * const sent: Uint8Array[] = [];
 * const sync = new OwnDeviceSync({
 *   accountId: "a".repeat(40),
 *   deviceId: InfoHash.get("laptop"),
 *   clock,
 *   randomBytes: rngBytes(seededRng("sync")),
 *   state: laptop,
 *   courier: { seal: (message) => message, put: (_to, _id, box) => sent.push(box) },
 *   counters: { syncsSent: 0, dropped: { malformed: 0 } },
 *   retryInitialMs: 30_000,
 *   isRunning: () => true,
 *   ownDevices: () => [{ online: true, certificate: phone }],
 *   apply: () => {},
 * });
 * laptop.contacts.add("b".repeat(40), clock.now());
 * sync.schedule();
 * clock.advance(1_000);
 * assert.equal(sent.length, 1);
 * assert.equal(decodeInboxMessage(sent[0]).kind, "sync");
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import {
  encodeInboxMessage,
  MESSAGE_ID_BYTES,
} from "../trust/inbox_message.ts";
import type { AccountState } from "./account_state.ts";
import { type DeviceSyncResult, mergeSyncSnapshot } from "./device_sync.ts";
import {
  decodeSyncSnapshot,
  encodeSyncSnapshot,
  type SyncSnapshot,
} from "./sync_snapshot.ts";

/** How long after a local change the snapshot goes out (changes meanwhile ride along). */
export const SYNC_DELAY_MS = 1_000;

/** What {@link OwnDeviceSync} runs on. */
export interface OwnDeviceSyncOptions {
  /** The account id hex: entries naming it are skipped by the merge. */
  readonly accountId: string;
  /** This device's id: it never sends a snapshot to itself. */
  readonly deviceId: InfoHash;
  /** Time source for the coalescing timer and snapshot times. */
  readonly clock: Clock;
  /** Source of message ids. */
  readonly randomBytes: RandomBytes;
  /** The account's state: what is sent, and where a merge lands. */
  readonly state: AccountState;
  /** Seals a message to one device and puts it in that device's inbox. */
  readonly courier: {
    seal(message: Uint8Array, recipient: DeviceCertificate): Uint8Array;
    put(recipient: DeviceCertificate, id: Uint8Array, box: Uint8Array): void;
  };
  /** The account's counters: snapshots sent, malformed snapshots dropped. */
  readonly counters: {
    syncsSent: number;
    readonly dropped: { malformed: number };
  };
  /** First retry delay given to adopted outbox entries (the profile's). */
  readonly retryInitialMs: number;
  /** False once the account stopped: nothing is sent then. */
  isRunning(): boolean;
  /** This account's devices as its presence tracker sees them now. */
  ownDevices(): readonly {
    readonly online: boolean;
    readonly certificate: DeviceCertificate;
  }[];
  /** Does the merge's IO: close banned links, settle and adopt outbox entries, persist, emit. */
  apply(result: DeviceSyncResult): void;
}

/** Sends this device's state to the account's other devices and merges theirs. */
export class OwnDeviceSync {
  readonly #options: OwnDeviceSyncOptions;
  #timer?: Timer;

  /**
   * A sync for one account on this device.
   *
   * @param options Where snapshots come from and go to.
   */
  constructor(options: OwnDeviceSyncOptions) {
    this.#options = options;
  }

  /**
   * Sends a snapshot to every other online device in {@link SYNC_DELAY_MS}
   * (once, however many changes come meanwhile).
   */
  schedule(): void {
    const options = this.#options;
    if (!options.isRunning() || this.#timer !== undefined) return;
    this.#timer = options.clock.setTimer(SYNC_DELAY_MS, () => {
      this.#timer = undefined;
      const others = options.ownDevices().filter((device) =>
        device.online && !device.certificate.deviceId.equals(options.deviceId)
      ).map((device) => device.certificate);
      if (others.length > 0) this.send(others);
    });
  }

  /**
   * Sends a snapshot of the state now to `targets` (one message id, one box
   * each).
   *
   * @param targets Certificates of this account's other devices.
   */
  send(targets: readonly DeviceCertificate[]): void {
    const { isRunning, state, randomBytes, courier, counters } = this.#options;
    if (!isRunning()) return;
    const snapshot = encodeSyncSnapshot(state, this.#now());
    const id = randomBytes(MESSAGE_ID_BYTES);
    const message = encodeInboxMessage({
      kind: "sync",
      id,
      sentMs: this.#now(),
      to: Uint8Array.fromHex(this.#options.accountId),
      snapshot,
    });
    for (const target of targets) {
      courier.put(target, id, courier.seal(message, target));
    }
    counters.syncsSent += 1;
  }

  /**
   * Merges a snapshot another device of this account sent, then hands the
   * result to `apply`. Bytes that do not decode are counted as malformed.
   *
   * @param bytes The snapshot, from an opened and verified inbox message.
   */
  receive(bytes: Uint8Array): void {
    const options = this.#options;
    let snapshot: SyncSnapshot;
    try {
      snapshot = decodeSyncSnapshot(bytes);
    } catch {
      options.counters.dropped.malformed += 1;
      return;
    }
    options.apply(
      mergeSyncSnapshot(options.state, snapshot, {
        accountId: options.accountId,
        nowMs: this.#now(),
        retryInitialMs: options.retryInitialMs,
      }),
    );
  }

  /** Cancels a pending snapshot (the account stopped). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Whole milliseconds (the simulator's clock has fractions). */
  #now(): number {
    return Math.floor(this.#options.clock.now());
  }
}
