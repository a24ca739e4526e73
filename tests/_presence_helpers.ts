/**
 * Fakes for presence tests that watch buddies without a network: a DhtClient
 * that only records listens (the test pushes values into them) and the DHT
 * value a device's signed announcement is put as.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DeviceAnnouncement } from "../lib/presence/device_announcement.ts";
import { derivedValueId } from "../lib/presence/announcer.ts";
import { ANNOUNCEMENT_VALUE_TYPE } from "../lib/presence/presence_profile.ts";
import type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
  ListenHandle,
} from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import type { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import type { DeviceKeys } from "../lib/identity/device_keys.ts";
import type { InfoHash } from "../lib/identity/info_hash.ts";

/**
 * `device`'s announcement number `seq`, signed at `nowMs` for 30 minutes,
 * as the DHT value its announcer puts (id derived from device and seq).
 */
export function announcementValue(
  device: DeviceKeys,
  certificate: DeviceCertificate,
  seq: number,
  nowMs: number,
  options: { note?: string; goodbye?: boolean; endpoints?: string[] } = {},
): DhtValue {
  const signed = DeviceAnnouncement.create(device, certificate, {
    seq,
    nowMs,
    lifetimeMs: 30 * 60_000,
    ...options,
  });
  const seqBytes = new Uint8Array(8);
  new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
  return {
    id: derivedValueId(device.id.bytes, seqBytes),
    type: ANNOUNCEMENT_VALUE_TYPE,
    data: signed.bytes,
  };
}

/** A DhtClient that only records listens; the test pushes values to them. */
export class ListenRecordingDht implements DhtClient {
  /** Every listen started, oldest first. */
  readonly listens: { key: string; callback: (event: ListenEvent) => void }[] =
    [];
  /** The key of every listen cancelled, in order. */
  readonly cancelled: string[] = [];

  /** Records the listen; cancelling it records its key. */
  listen(key: InfoHash, callback: (event: ListenEvent) => void): ListenHandle {
    this.listens.push({ key: key.toString(), callback });
    return {
      cancel: () => this.cancelled.push(key.toString()),
      relocate() {},
    };
  }
  /** Never answers. */
  get(_key: InfoHash, _callbacks: GetCallbacks) {
    return { cancel() {} };
  }
  /** Drops the value. */
  put() {
    return { cancel() {} };
  }
  /** Drops the value. */
  putPermanent() {
    return { cancel() {}, replace() {} };
  }

  /** Pushes values to the newest listen at `uri`. */
  add(uri: string, ...values: DhtValue[]): void {
    const listen = this.listens.findLast((listen) => listen.key === uri);
    assert.ok(listen, `nobody listens at ${uri}`);
    listen.callback({ kind: "added", values });
  }
}
