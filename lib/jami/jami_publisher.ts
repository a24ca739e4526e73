/**
 * `JamiPublisher`: what a Jami device keeps on the DHT so that jamid sees it
 * (interop spec §3–§4, §1.5):
 * - the certificate value (type 8, id 1, unsigned, the PEM chain) at
 *   SHA-1(device SPKI), which jamid's `findCertificate` resolves;
 * - the DeviceAnnouncement (type 0, signed by the **account** key) at the
 *   account id, under a random value id drawn at each start (as jamid);
 * - the account's CRL, when it has one (type 0, unsigned) at the account id.
 *
 * All are permanent puts of the node (`lib/dht/permanent_puts.ts`), which
 * refreshes each before its type's lifetime ends (type 0: 10 minutes,
 * refreshed 10 s before, at 590 s as OpenDHT; type 8: 7 days). Status 0
 * withdraws the announcement (its refreshes stop; storing nodes drop it
 * within 10 minutes, the most any Jami watcher can notice).
 *
 * @module
 */
import type { DhtClient, PermanentPutHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import { certificateValue } from "./certificate_value.ts";
import { announcementValue } from "./device_announcement.ts";
import type { JamiIdentity } from "./jami_identity.ts";

/** What the publisher runs on. */
export interface JamiPublisherOptions {
  /** The account and this device. */
  readonly identity: JamiIdentity;
  /** Where the values are kept alive. */
  readonly dht: Pick<DhtClient, "putPermanent">;
  /** Source of value ids. */
  readonly randomBytes: RandomBytes;
  /** Wraps CPU work a simulator must wait for (the announcement's signature). */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /** The account's CRL, DER, if a device was revoked. */
  readonly revocationList?: () => Uint8Array | undefined;
}

/**
 * A random non-zero uint64 value id.
 *
 * @param randomBytes Source of randomness.
 * @returns The id.
 */
export function randomValueId(randomBytes: RandomBytes): bigint {
  const bytes = randomBytes(8);
  let id = 0n;
  for (const byte of bytes) id = (id << 8n) | BigInt(byte);
  return id === 0n ? 1n : id;
}

/**
 * A msgpack `bin` of `bytes` (how Jami packs a CRL or a PEM chain as data).
 *
 * @param bytes The contents.
 * @returns `c4`/`c5`/`c6` header followed by the bytes.
 */
export function msgpackBin(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  const header = n < 0x100
    ? [0xc4, n]
    : n < 0x10000
    ? [0xc5, n >> 8, n & 0xff]
    : [0xc6, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(header.length + n);
  out.set(header);
  out.set(bytes, header.length);
  return out;
}

/** This device's Jami values on the DHT. */
export class JamiPublisher {
  readonly #options: JamiPublisherOptions;
  #certificate?: PermanentPutHandle;
  #announcement?: PermanentPutHandle;
  #crl?: PermanentPutHandle;
  #crlBytes?: Uint8Array;
  #running = false;
  #visible = true;
  /** Puts started (certificate, announcement, CRL), for tests and reports. */
  putsStarted = 0;

  /**
   * A publisher (call {@link JamiPublisher.start}).
   *
   * @param options Identity, DHT, randomness.
   */
  constructor(options: JamiPublisherOptions) {
    this.#options = options;
  }

  #track<T>(work: Promise<T>): Promise<T> {
    return this.#options.track ? this.#options.track(work) : work;
  }

  /** Starts keeping the certificate, the announcement (unless hidden) and the CRL alive. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const { identity, dht } = this.#options;
    // The announcement follows the certificate's first store, so that a
    // watcher who sees it finds the certificate (jamid puts both at once).
    let announced = false;
    const announce = () => {
      if (announced || !this.#running) return;
      announced = true;
      if (this.#visible) this.#announce();
    };
    this.#certificate = dht.putPermanent(
      InfoHash.fromHex(identity.deviceId),
      certificateValue(identity.deviceChain),
      announce,
    );
    this.putsStarted++;
    this.refreshRevocationList();
  }

  #announce(): void {
    const { identity, dht, randomBytes } = this.#options;
    // jamid draws a new value id on every start.
    const valueId = randomValueId(randomBytes);
    this.#track(announcementValue(identity, valueId)).then((value) => {
      if (!this.#running || !this.#visible || this.#announcement) return;
      this.#announcement = dht.putPermanent(
        InfoHash.fromHex(identity.accountId),
        value,
      );
      this.putsStarted++;
    }, () => {});
  }

  /** Publishes the account's CRL (again) if it changed. */
  refreshRevocationList(): void {
    if (!this.#running) return;
    const der = this.#options.revocationList?.();
    if (der === undefined || der === this.#crlBytes) return;
    this.#crlBytes = der;
    const value: DhtValue = {
      id: randomValueId(this.#options.randomBytes),
      type: 0,
      data: msgpackBin(der),
    };
    this.#crl?.cancel();
    this.#crl = this.#options.dht.putPermanent(
      InfoHash.fromHex(this.#options.identity.accountId),
      value,
    );
    this.putsStarted++;
  }

  /**
   * Shows (true) or hides (false) this device's announcement.
   *
   * @param visible Whether to announce.
   */
  setVisible(visible: boolean): void {
    if (visible === this.#visible) return;
    this.#visible = visible;
    if (!this.#running) return;
    if (visible) this.#announce();
    else {
      this.#announcement?.cancel();
      this.#announcement = undefined;
    }
  }

  /** Stops every refresh (the values lapse on the storing nodes). */
  stop(): void {
    this.#running = false;
    this.#certificate?.cancel();
    this.#announcement?.cancel();
    this.#crl?.cancel();
    this.#certificate = this.#announcement = this.#crl = undefined;
    this.#crlBytes = undefined;
  }
}
