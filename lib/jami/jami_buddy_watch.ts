/**
 * `JamiBuddyWatch`: the presence of one Jami account, as jamid's
 * `trackPresence` computes it, made stricter: a listen (and a first get) at
 * the account id; each DeviceAnnouncement counts only if its signer is the
 * account, its device's certificate chain (type-8 value) validates with the
 * account as issuer, and the account's CRL does not revoke it. Online while
 * at least one such announcement is live.
 *
 * Expiry: a Jami announcement lives 10 minutes after its last refresh
 * (refreshed every 590 s). When the listen reports a value `expiring` (some
 * storing nodes dropped it), a `get` confirms: an id no node returns any
 * more is gone now rather than when the last holder reports. `expired`
 * removes it at once. A device that stops without a word (jamid never says
 * goodbye) therefore shows offline at most 10 minutes after its last
 * refresh — Jami's own bound; nothing on the DHT can tell sooner.
 *
 * Bounds: at most {@link MAX_LIVE_VALUES} value ids per account are
 * followed; values beyond are ignored (and counted).
 *
 * @module
 */
import { DueRetries } from "./_due_retries.ts";
import type { Clock } from "../clock.ts";
import type { DhtClient, ListenHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import { InfoHash } from "../identity/info_hash.ts";
import {
  getValuesTwice,
  type JamiDevice,
  type JamiDeviceDirectory,
} from "./jami_device_directory.ts";
import type { JamiRevocationList } from "./revocation_list.ts";

/** Most announcement value ids followed per watched account. */
export const MAX_LIVE_VALUES = 64;
/** Refused value ids remembered (then forgotten all at once). */
export const MAX_REFUSED_IDS = 256;
/** Times an announced device whose certificate was not found is looked up again. */
export const MAX_DEVICE_RETRIES = 3;
/** First wait before looking it up again (doubled each time): past the directory's negative cache. */
export const DEVICE_RETRY_MS = 65_000;

/** A watched account's device as {@link JamiBuddyWatch.devices} lists it. */
export interface JamiWatchedDevice {
  /** Device SHA-1, 40 hex. */
  readonly deviceId: string;
  /** Announced, verified and not revoked. */
  readonly online: boolean;
}

/** What a watch runs on. */
export interface JamiBuddyWatchOptions {
  /** The watched account id, 40 hex. */
  readonly accountId: string;
  /** Where the announcements are. */
  readonly dht: Pick<DhtClient, "get" | "listen">;
  /** Time of the lookup retries. */
  readonly clock: Clock;
  /** Verifies announcements and resolves devices. */
  readonly directory: JamiDeviceDirectory;
  /** Wraps CPU work a simulator must wait for. */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /** Told when the count of online devices goes 0 ↔ >0, or a device changes. */
  readonly onChange: () => void;
  /** Told when a verified device shows up for the first time (outbox retries). */
  readonly onNewDevice?: (device: JamiDevice) => void;
}

interface LiveValue {
  readonly deviceId: string;
}

/** One watched Jami account. */
export class JamiBuddyWatch {
  readonly #options: JamiBuddyWatchOptions;
  readonly #key: InfoHash;
  readonly #live = new Map<bigint, LiveValue>();
  /** Device id → the verified device, or null while unknown/invalid/revoked. */
  readonly #devices = new Map<string, JamiDevice | null>();
  readonly #retries: DueRetries<string, { dueMs: number; tries: number }>;
  /** Signed value ids that failed verification. */
  readonly #refused = new Set<bigint>();
  #listen?: ListenHandle;
  #stopped = false;
  /** Values ignored past the bound, or failing verification. */
  ignored = 0;

  /**
   * A watch (call {@link JamiBuddyWatch.start}).
   *
   * @param options Account, DHT, directory, callbacks.
   */
  constructor(options: JamiBuddyWatchOptions) {
    this.#options = options;
    this.#retries = new DueRetries(
      options.clock,
      (deviceId, retry) => this.#resolve(deviceId, retry.tries),
    );
    this.#key = InfoHash.fromHex(options.accountId);
  }

  #track<T>(work: Promise<T>): Promise<T> {
    return this.#options.track ? this.#options.track(work) : work;
  }

  /** Starts the listen. */
  start(): void {
    if (this.#listen !== undefined || this.#stopped) return;
    this.#listen = this.#options.dht.listen(this.#key, (event) => {
      if (this.#stopped) return;
      switch (event.kind) {
        case "added":
          this.#onValues(event.values);
          return;
        case "expiring":
          this.#confirmExpiry(event.ids);
          return;
        case "expired":
          this.#remove(event.ids);
          return;
        case "refreshed":
          return;
      }
    });
  }

  /** Stops the listen; the watch is done. */
  stop(): void {
    this.#stopped = true;
    this.#retries.clear();
    this.#listen?.cancel();
    this.#listen = undefined;
  }

  /** Online devices (distinct, verified, not revoked, with a live announcement). */
  get onlineCount(): number {
    const online = new Set<string>();
    for (const { deviceId } of this.#live.values()) {
      if (this.#devices.get(deviceId)) online.add(deviceId);
    }
    return online.size;
  }

  /** 1 while at least one device is online, else 0. */
  get status(): 0 | 1 {
    return this.onlineCount > 0 ? 1 : 0;
  }

  /**
   * The devices seen announced (live or not yet verified).
   *
   * @returns Device ids and whether each counts as online.
   */
  devices(): JamiWatchedDevice[] {
    const live = new Set([...this.#live.values()].map((v) => v.deviceId));
    return [...this.#devices].map(([deviceId, device]) => ({
      deviceId,
      online: device !== null && live.has(deviceId),
    }));
  }

  /** The verified devices with a live announcement. */
  onlineDevices(): JamiDevice[] {
    const live = new Set([...this.#live.values()].map((v) => v.deviceId));
    return [...this.#devices.values()].filter((d): d is JamiDevice =>
      d !== null && live.has(d.deviceId)
    );
  }

  #onValues(incoming: readonly DhtValue[]): void {
    const { directory, accountId } = this.#options;
    // Values already counted or refused are not verified again (a storing
    // node may push the same values over and over).
    const values = incoming.filter((value) =>
      !this.#live.has(value.id) && !this.#refused.has(value.id)
    );
    if (values.length === 0) return;
    this.#track(directory.readAccountValues(accountId, values)).then(
      (found) => {
        if (this.#stopped) return;
        const accepted = new Set(found.announcements.map((a) => a.valueId));
        for (const value of values) {
          if (value.owner === undefined || accepted.has(value.id)) continue;
          if (this.#refused.size >= MAX_REFUSED_IDS) this.#refused.clear();
          this.#refused.add(value.id);
        }
        for (const { valueId, deviceId } of found.announcements) {
          if (this.#live.has(valueId)) continue;
          if (this.#live.size >= MAX_LIVE_VALUES) {
            this.ignored++;
            continue;
          }
          this.#live.set(valueId, { deviceId });
          this.#resolve(deviceId);
        }
        if (found.crls.length > 0) this.#adoptCrls(found.crls);
        this.#options.onChange();
      },
      () => {},
    );
  }

  #resolve(deviceId: string, tries = 0): void {
    if (this.#devices.get(deviceId)) return; // Verified already.
    if (tries === 0 && this.#devices.has(deviceId)) return; // Resolving, or a retry is planned.
    this.#devices.set(deviceId, null);
    this.#options.directory.resolve(deviceId, (device) => {
      if (this.#stopped) return;
      if (device === undefined) {
        this.#retryLater(deviceId, tries + 1);
        return;
      }
      this.#track(this.#options.directory.isRevoked(device)).then(
        (revoked) => {
          if (this.#stopped || revoked) return;
          this.#devices.set(deviceId, device);
          this.#options.onNewDevice?.(device);
          this.#options.onChange();
        },
        () => {},
      );
    }, this.#options.accountId);
  }

  /**
   * A device whose certificate was not found (yet: jamid may put its
   * announcement before its certificate reaches the nodes we ask) is looked
   * up again after 65 s, 130 s, 260 s while its announcement is live.
   */
  #retryLater(deviceId: string, tries: number): void {
    if (tries > MAX_DEVICE_RETRIES || this.#stopped) return;
    const live = [...this.#live.values()].some((v) => v.deviceId === deviceId);
    if (!live) return;
    const clock = this.#options.clock;
    this.#retries.set(deviceId, {
      dueMs: clock.now() + DEVICE_RETRY_MS * 2 ** (tries - 1),
      tries,
    });
  }

  #adoptCrls(crls: readonly JamiRevocationList[]): void {
    const known = [...this.#devices.values()].find((d) => d !== null);
    if (!known) return; // No account key yet; the lookups of devices use the directory's CRL.
    const { directory, accountId } = this.#options;
    this.#track((async () => {
      const accountKey = known.chain.account!.publicKey;
      let changed = false;
      for (const crl of crls) {
        changed =
          await directory.adoptRevocationList(accountId, crl, accountKey) ||
          changed;
      }
      if (!changed) return;
      for (const [deviceId, device] of this.#devices) {
        if (device !== null && await directory.isRevoked(device)) {
          this.#devices.set(deviceId, null);
        }
      }
    })()).then(() => {
      if (!this.#stopped) this.#options.onChange();
    }, () => {});
  }

  #remove(ids: readonly bigint[]): void {
    let changed = false;
    for (const id of ids) changed = this.#live.delete(id) || changed;
    if (changed) this.#options.onChange();
  }

  /** Some holders dropped these ids: a get tells whether any still has them. */
  #confirmExpiry(ids: readonly bigint[]): void {
    const watched = ids.filter((id) => this.#live.has(id));
    if (watched.length === 0) return;
    getValuesTwice(
      this.#options.dht,
      this.#key,
      (values) => watched.every((id) => values.some((v) => v.id === id)),
      (values) => {
        if (this.#stopped) return;
        const present = new Set(values.map((v) => v.id));
        this.#remove(watched.filter((id) => !present.has(id)));
      },
    );
  }
}
