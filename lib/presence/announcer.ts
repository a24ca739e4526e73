/**
 * `PresenceAnnouncer`: keeps one device's presence on the DHT.
 *
 * At the account hash it keeps, as permanent puts: the device's signed
 * {@link DeviceAnnouncement} (refreshed by the DHT node 10 s before its
 * storing-node lifetime ends, re-signed every `resignMs` and whenever the
 * endpoints change), the account's mailbox certificate, and the account's
 * revocation list if it has one. The announcement carries no note: anyone
 * can read the account hash, so the note goes to contacts over direct links
 * only (see `PresencePublisher`). On a clean shutdown it replaces the
 * announcement with a signed goodbye at the nodes that hold it, so watchers
 * see the device leave at once instead of after the lifetime. The goodbye is
 * a value of its own type ({@link GOODBYE_VALUE_TYPE}) that storing nodes
 * keep until the last announcement's signed validity is over: a watcher that
 * starts listening meanwhile hears the goodbye beside any replay of that
 * announcement, and the goodbye's higher sequence number wins.
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DhtClient, PermanentPutHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import { sha1 } from "../crypto.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { RevocationList } from "../identity/revocation_list.ts";
import { DeviceAnnouncement } from "./device_announcement.ts";
import {
  ACCOUNT_RECORD_VALUE_TYPE,
  ANNOUNCEMENT_VALUE_TYPE,
  GOODBYE_VALUE_TYPE,
  type PresenceProfile,
} from "./presence_profile.ts";

/** Options of a {@link PresenceAnnouncer}. */
export interface PresenceAnnouncerOptions {
  /** Where the announcement is put and kept alive (`putPermanent`). */
  readonly dht: DhtClient;
  /** Time source for record validity and the re-sign timer. */
  readonly clock: Clock;
  /** The account id (its hash is the key). */
  readonly accountId: InfoHash;
  /** This device's keys. */
  readonly device: DeviceKeys;
  /** The account's certificate for this device. */
  readonly certificate: DeviceCertificate;
  /** The account's mailbox certificate, published next to the announcement. */
  readonly mailbox?: DeviceCertificate;
  /** The account's revocation list, if any. */
  readonly revocationList?: RevocationList;
  /** Record lifetime, refresh period and value types (ours or the Jami profile). */
  readonly profile: PresenceProfile;
  /** Lowest sequence number to use (persisted by the caller). @default {0} */
  readonly minSeq?: number;
}

/**
 * A value id derived from two byte strings (non-zero uint64).
 *
 * @param parts Inputs.
 * @returns Value id.
 */
export function derivedValueId(...parts: Uint8Array[]): bigint {
  const total = parts.reduce((sum, part) => sum + part.length + 1, 0);
  const input = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    input[offset++] = part.length & 0xff;
    input.set(part, offset);
    offset += part.length;
  }
  const hash = sha1(input);
  let value = 0n;
  for (let i = 0; i < 8; i++) value = (value << 8n) | BigInt(hash[i]);
  return value === 0n ? 1n : value;
}

function seqBytes(seq: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(seq));
  return bytes;
}

/**
 * The value id a device puts its announcement `seq` under (watchers prefer
 * it over copies of the same record under other ids).
 *
 * @param deviceId The announcing device.
 * @param seq The announcement's sequence number.
 * @returns Value id.
 */
export function announcementValueId(deviceId: InfoHash, seq: number): bigint {
  return derivedValueId(deviceId.bytes, seqBytes(seq));
}

/** Publishes one device's presence. */
export class PresenceAnnouncer {
  readonly #options: PresenceAnnouncerOptions;
  #seq: number;
  #endpoints: readonly string[] = [];
  #announcement?: PermanentPutHandle;
  #records: PermanentPutHandle[] = [];
  #resignTimer?: Timer;
  #running = false;
  /** Announcements signed so far. */
  signed = 0;

  /**
   * An announcer (call {@link PresenceAnnouncer.start}).
   *
   * @param options See {@link PresenceAnnouncerOptions}.
   */
  constructor(options: PresenceAnnouncerOptions) {
    this.#options = options;
    this.#seq = options.minSeq ?? 0;
  }

  /** The last sequence number used (persist it to keep it growing). */
  get seq(): number {
    return this.#seq;
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.#running;
  }

  #value(goodbye: boolean): DhtValue {
    const { clock, device, certificate, profile } = this.#options;
    const now = Math.floor(clock.now());
    this.#seq = Math.max(this.#seq + 1, now);
    this.signed += 1;
    const announcement = DeviceAnnouncement.create(device, certificate, {
      seq: this.#seq,
      nowMs: now,
      lifetimeMs: profile.announcementLifetimeMs,
      goodbye,
      endpoints: this.#endpoints,
    });
    return {
      id: announcementValueId(device.id, this.#seq),
      type: goodbye ? GOODBYE_VALUE_TYPE : ANNOUNCEMENT_VALUE_TYPE,
      data: announcement.bytes,
    };
  }

  /**
   * Starts publishing.
   *
   * @param onAnnounced Called with the number of nodes that stored the first announcement.
   */
  start(onAnnounced?: (stored: number) => void): void {
    if (this.#running) return;
    this.#running = true;
    const { dht, accountId, mailbox, revocationList } = this.#options;
    this.#announcement = dht.putPermanent(
      accountId,
      this.#value(false),
      onAnnounced,
    );
    for (const record of [mailbox?.bytes, revocationList?.bytes]) {
      if (record !== undefined) this.publishRecord(record);
    }
    this.#scheduleResign();
  }

  /**
   * Keeps another account record (a newer revocation list) at the account
   * hash while the announcer runs.
   *
   * @param record Encoded record.
   */
  publishRecord(record: Uint8Array): void {
    if (!this.#running) return;
    const { dht, accountId, device } = this.#options;
    this.#records.push(dht.putPermanent(accountId, {
      id: derivedValueId(device.id.bytes, record),
      type: ACCOUNT_RECORD_VALUE_TYPE,
      data: record,
    }));
  }

  #scheduleResign(): void {
    this.#resignTimer?.cancel();
    this.#resignTimer = this.#options.clock.setTimer(
      this.#options.profile.resignMs,
      () => this.#republish(),
    );
  }

  #republish(): void {
    if (!this.#running) return;
    this.#announcement?.replace(this.#value(false));
    this.#scheduleResign();
  }

  /**
   * Changes the endpoints; while running, republishes at once if they
   * changed.
   *
   * @param endpoints Where the device accepts direct links ("host:port").
   */
  setEndpoints(endpoints: readonly string[]): void {
    const changed = endpoints.join() !== this.#endpoints.join();
    this.#endpoints = endpoints;
    if (changed && this.#running) this.#republish();
  }

  /**
   * Stops publishing. With a goodbye (if the profile sends one), the
   * announcement is replaced by a signed goodbye at its holders.
   *
   * @param onDone Called once the goodbye was acknowledged (or at once).
   */
  stop(onDone?: () => void): void {
    if (!this.#running) {
      onDone?.();
      return;
    }
    this.#running = false;
    this.#resignTimer?.cancel();
    for (const record of this.#records) record.cancel();
    this.#records = [];
    const handle = this.#announcement;
    this.#announcement = undefined;
    if (handle !== undefined && this.#options.profile.goodbye) {
      handle.replace(this.#value(true), {
        keep: false,
        onDone: () => onDone?.(),
      });
    } else {
      handle?.cancel();
      onDone?.();
    }
  }
}
