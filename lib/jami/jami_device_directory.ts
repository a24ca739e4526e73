/**
 * `JamiDeviceDirectory`: who the devices of a Jami account are, as the DHT
 * tells it — jamid's `forEachDevice` and `findCertificate`, with caches and
 * bounds.
 *
 * - {@link JamiDeviceDirectory.readAccountValues} sorts the values found at
 *   an account id: DeviceAnnouncements whose signer is the account
 *   (SHA-1(owner SPKI) == account id) and CRLs (unsigned type-0 values whose
 *   data is a DER CRL in a msgpack `bin`).
 * - {@link JamiDeviceDirectory.resolve} turns a device SHA-1 into a verified
 *   device: the type-8 certificate value at that id, its chain validated as
 *   jamid does (signatures up to the top issuer, CA flags, validity, not
 *   self-signed) against the account's newest known CRL, and the issuer's
 *   key id as the device's account.
 * - {@link JamiDeviceDirectory.lookup} does both: the verified devices an
 *   account announces now.
 *
 * Hostile input: at most {@link MAX_ANNOUNCEMENTS_CHECKED} announcements and
 * {@link MAX_CRLS_CHECKED} CRLs are verified per account lookup; results are
 * cached ({@link MAX_CACHED_DEVICES} devices, failures for
 * {@link NEGATIVE_CACHE_MS}) and concurrent lookups of one key share one DHT
 * get. Network waits are plain callbacks; only the CPU work (signature and
 * chain checks) goes through `track`, so a simulator can wait for it.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { JamiCertificateChain } from "./certificate_chain.ts";
import { parseCertificateValue } from "./certificate_value.ts";
import { decodeJamiAnnouncement } from "./device_announcement.ts";
import { JamiRevocationList } from "./revocation_list.ts";
import type { JamiPublicKey } from "./rsa_key.ts";
import { verifyValue } from "./value_crypto.ts";

/** Most announcements verified per account lookup (jamid accounts rarely have more than a few devices). */
export const MAX_ANNOUNCEMENTS_CHECKED = 16;
/** Most CRL candidates parsed per account lookup. */
export const MAX_CRLS_CHECKED = 2;
/** Devices whose verified chain is cached. */
export const MAX_CACHED_DEVICES = 512;
/** A verified device is fetched again after this long (its certificate value may have changed). */
export const DEVICE_CACHE_MS = 60 * 60_000;
/** A device whose certificate was missing or invalid is not looked up again for this long. */
export const NEGATIVE_CACHE_MS = 60_000;
/** Accounts whose newest CRL is remembered. */
export const MAX_CACHED_CRLS = 256;
/** Longest wait for a certificate by listen once a get brought none. */
export const CERTIFICATE_LISTEN_MS = 15_000;
/** An account's CRLs are read again from the DHT at most this often when a request from it arrives. */
export const CRL_RECHECK_MS = 60_000;
/** Largest CRL value data parsed (the captured one is 755 bytes; thousands of revocations fit). */
export const MAX_CRL_VALUE_BYTES = 60_000;

/** A device of a Jami account whose certificate chain validated. */
export interface JamiDevice {
  /** Device SHA-1 id, 40 hex (the inbox and certificate-value key). */
  readonly deviceId: string;
  /** The account that issued it, 40 hex. */
  readonly accountId: string;
  /** The device's public key (requests are encrypted to it). */
  readonly publicKey: JamiPublicKey;
  /** Its chain (device, account, CA). */
  readonly chain: JamiCertificateChain;
}

/** A DeviceAnnouncement whose signer is the account. */
export interface JamiAnnouncementRecord {
  /** The value id (presence counts live ids). */
  readonly valueId: bigint;
  /** The announced device SHA-1, 40 hex. */
  readonly deviceId: string;
}

/** What was found at an account id. */
export interface JamiAccountValues {
  /** Announcements signed by the account. */
  readonly announcements: JamiAnnouncementRecord[];
  /** CRLs found (not yet tied to the account key). */
  readonly crls: JamiRevocationList[];
  /** Values dropped (bad signature, other signer, malformed). */
  readonly dropped: number;
}

/** What the directory runs on. */
export interface JamiDeviceDirectoryOptions {
  /** The DHT values are read from. */
  readonly dht: Pick<DhtClient, "get" | "listen">;
  /** Time of certificate validity checks, cache expiry and listen timeouts. */
  readonly clock: Clock;
  /** Wraps CPU work a simulator must wait for (default: none). */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
}

type Cached =
  | { readonly ok: true; readonly device: JamiDevice; readonly atMs: number }
  | { readonly ok: false; readonly atMs: number };

/**
 * Strips a msgpack `bin` header (`c4`/`c5`/`c6`) if present: Jami's type-0
 * CRL and type-8 certificate data are msgpack bins.
 *
 * @param data Value data.
 * @returns The bin's contents, or `data` when it is not a whole bin.
 */
export function unwrapMsgpackBin(data: Uint8Array): Uint8Array {
  if (data.length < 2) return data;
  const size = data[0] === 0xc4
    ? 1
    : data[0] === 0xc5
    ? 2
    : data[0] === 0xc6
    ? 4
    : 0;
  if (size === 0 || data.length < 1 + size) return data;
  let length = 0;
  for (let i = 1; i <= size; i++) length = length * 256 + data[i];
  if (1 + size + length !== data.length) return data;
  return data.subarray(1 + size);
}

/**
 * A DHT get that is asked once more when its answer lacks what is expected
 * (a value being published while the first get ran). A storing node's answer
 * cut for an address it has not seen yet is completed by the lookup itself
 * (it re-asks with the answer's token, `docs/dht.md`).
 *
 * @param dht The DHT.
 * @param key Where to look.
 * @param enough True when the values found are complete enough.
 * @param callback Told the values of the last get.
 */
export function getValuesTwice(
  dht: Pick<DhtClient, "get">,
  key: InfoHash,
  enough: (values: readonly DhtValue[]) => boolean,
  callback: (values: readonly DhtValue[]) => void,
): void {
  const fetch = (second: boolean) =>
    dht.get(key, {
      onDone: (values) => {
        if (!second && !enough(values)) fetch(true);
        else callback(values);
      },
    });
  fetch(false);
}

/** The devices of Jami accounts, verified from the DHT. */
export class JamiDeviceDirectory {
  readonly #options: JamiDeviceDirectoryOptions;
  readonly #devices = new Map<string, Cached>();
  readonly #crls = new Map<string, JamiRevocationList>();
  readonly #crlCheckedMs = new Map<string, number>();
  readonly #crlWaiting = new Map<string, (() => void)[]>();
  readonly #waiting = new Map<
    string,
    ((device: JamiDevice | undefined) => void)[]
  >();
  /** Values dropped while reading accounts and certificates. */
  dropped = 0;

  /**
   * A directory over `dht`.
   *
   * @param options DHT, clock, tracker.
   */
  constructor(options: JamiDeviceDirectoryOptions) {
    this.#options = options;
  }

  #track<T>(work: Promise<T>): Promise<T> {
    return this.#options.track ? this.#options.track(work) : work;
  }

  /**
   * The newest CRL known for `accountId` (from its account key), if any.
   *
   * @param accountId Account id, 40 hex.
   * @returns The CRL.
   */
  revocationList(accountId: string): JamiRevocationList | undefined {
    return this.#crls.get(accountId);
  }

  /**
   * Sorts and verifies the values found at an account id.
   *
   * @param accountId The account id the values were stored at, 40 hex.
   * @param values Values as the DHT returned them (hostile).
   * @returns Announcements signed by the account, and CRL candidates.
   */
  async readAccountValues(
    accountId: string,
    values: readonly DhtValue[],
  ): Promise<JamiAccountValues> {
    const announcements: JamiAnnouncementRecord[] = [];
    const crls: JamiRevocationList[] = [];
    let dropped = 0;
    let signedChecked = 0;
    for (const value of values) {
      if (value.cypher !== undefined || value.type !== 0) continue;
      if (value.owner === undefined) {
        if (crls.length >= MAX_CRLS_CHECKED) continue;
        if (value.data.length > MAX_CRL_VALUE_BYTES) {
          dropped++;
          continue;
        }
        try {
          crls.push(JamiRevocationList.fromDer(unwrapMsgpackBin(value.data)));
        } catch {
          dropped++;
        }
        continue;
      }
      if (signedChecked >= MAX_ANNOUNCEMENTS_CHECKED) {
        dropped++;
        continue;
      }
      signedChecked++;
      try {
        const owner = await verifyValue(value);
        if ((await owner.id()).toString() !== accountId) {
          dropped++;
          continue;
        }
        const announcement = decodeJamiAnnouncement(value.data);
        announcements.push({
          valueId: value.id,
          deviceId: InfoHash.fromBytes(announcement.dev).toString(),
        });
      } catch {
        dropped++;
      }
    }
    this.dropped += dropped;
    return { announcements, crls, dropped };
  }

  /**
   * Keeps a CRL of `accountId` if the account key signed it (the key comes
   * from a verified device of that account) and it is newer than the one
   * kept. Cached devices of the account are checked again on next use.
   *
   * @param accountId Account id, 40 hex.
   * @param crl A CRL candidate.
   * @param accountKey The account's public key.
   * @returns True if it was kept (new or changed).
   */
  async adoptRevocationList(
    accountId: string,
    crl: JamiRevocationList,
    accountKey: JamiPublicKey,
  ): Promise<boolean> {
    try {
      if (!(await crl.verify(accountKey))) return false;
    } catch {
      return false;
    }
    const old = this.#crls.get(accountId);
    if (old !== undefined && !isNewer(crl, old)) return false;
    if (!this.#crls.has(accountId) && this.#crls.size >= MAX_CACHED_CRLS) {
      const first = this.#crls.keys().next().value;
      if (first !== undefined) this.#crls.delete(first);
    }
    this.#crls.set(accountId, crl);
    // Cached chains of this account are checked again against it.
    for (const [id, cached] of this.#devices) {
      if (cached.ok && cached.device.accountId === accountId) {
        this.#devices.delete(id);
      }
    }
    return true;
  }

  /**
   * Reads the CRLs at a device's account id (at most once per
   * {@link CRL_RECHECK_MS} per account) and adopts those the account key
   * signed, then tells whether the device is revoked: jamid's contacts pin
   * the CRLs they find, and a request from a device its account revoked
   * must not pass because we never looked.
   *
   * @param device A verified device.
   * @param callback Told whether it is revoked.
   */
  checkRevocation(
    device: JamiDevice,
    callback: (revoked: boolean) => void,
  ): void {
    const { accountId } = device;
    const now = this.#options.clock.now();
    const checked = this.#crlCheckedMs.get(accountId);
    const answer = () =>
      this.#track(this.isRevoked(device)).then(callback, () => callback(true));
    const waiting = this.#crlWaiting.get(accountId);
    if (waiting !== undefined) {
      // A read is under way: answer once it is done.
      if (waiting.length < 64) waiting.push(answer);
      else callback(true);
      return;
    }
    if (checked !== undefined && now - checked < CRL_RECHECK_MS) {
      answer();
      return;
    }
    const done = () => {
      const queued = this.#crlWaiting.get(accountId) ?? [];
      this.#crlWaiting.delete(accountId);
      answer();
      for (const next of queued) next();
    };
    this.#crlWaiting.set(accountId, []);
    if (this.#crlCheckedMs.size >= MAX_CACHED_CRLS) {
      const first = this.#crlCheckedMs.keys().next().value;
      if (first !== undefined) this.#crlCheckedMs.delete(first);
    }
    this.#crlCheckedMs.set(accountId, now);
    // A device that sends is normally announced: an empty answer is asked again.
    getValuesTwice(
      this.#options.dht,
      InfoHash.fromHex(accountId),
      (values) => values.length > 0,
      (values) => {
        const unsigned = values.filter((v) =>
          v.type === 0 && v.owner === undefined && v.cypher === undefined
        );
        this.#track((async () => {
          const found = await this.readAccountValues(accountId, unsigned);
          const accountKey = device.chain.account!.publicKey;
          for (const crl of found.crls) {
            await this.adoptRevocationList(accountId, crl, accountKey);
          }
        })()).then(done, done);
      },
    );
  }

  /**
   * Whether a verified device is revoked by its account's newest known CRL.
   *
   * @param device The device.
   * @returns True if revoked.
   */
  async isRevoked(device: JamiDevice): Promise<boolean> {
    const crl = this.#crls.get(device.accountId);
    if (crl === undefined) return false;
    try {
      await device.chain.validate(this.#options.clock.now(), crl);
      return false;
    } catch {
      return true;
    }
  }

  /**
   * Resolves a device SHA-1 into a verified device (cache, else the type-8
   * value on the DHT). `callback` gets undefined when no valid certificate
   * is found, the chain does not validate, or `expectedAccount` is given and
   * the device belongs to another account.
   *
   * @param deviceId Device SHA-1, 40 hex.
   * @param callback Told the result once.
   * @param expectedAccount The account it must belong to, if known.
   */
  resolve(
    deviceId: string,
    callback: (device: JamiDevice | undefined) => void,
    expectedAccount?: string,
  ): void {
    const done = (device: JamiDevice | undefined) =>
      callback(
        device !== undefined && expectedAccount !== undefined &&
          device.accountId !== expectedAccount
          ? undefined
          : device,
      );
    const now = this.#options.clock.now();
    const cached = this.#devices.get(deviceId);
    if (cached !== undefined) {
      const ttl = cached.ok ? DEVICE_CACHE_MS : NEGATIVE_CACHE_MS;
      if (now - cached.atMs < ttl) {
        done(cached.ok ? cached.device : undefined);
        return;
      }
      this.#devices.delete(deviceId);
    }
    const waiting = this.#waiting.get(deviceId);
    if (waiting !== undefined) {
      if (waiting.length < 64) waiting.push(done);
      else done(undefined);
      return;
    }
    if (this.#waiting.size >= MAX_CACHED_DEVICES) {
      done(undefined); // Too many lookups at once: refuse, do not queue.
      return;
    }
    this.#waiting.set(deviceId, [done]);
    let key: InfoHash;
    try {
      key = InfoHash.fromHex(deviceId);
    } catch {
      this.#finish(deviceId, undefined);
      return;
    }
    this.#fetchCertificate(key, (values) => {
      this.#track(this.#checkCertificate(deviceId, key, values)).then(
        (device) => this.#finish(deviceId, device),
        () => this.#finish(deviceId, undefined),
      );
    });
  }

  /**
   * The values at a device id: a get, and when it brings no certificate a
   * listen for at most {@link CERTIFICATE_LISTEN_MS}: the certificate may
   * be published just after the get (a device that sends before its
   * announcement reached the DHT). A get already brings a large certificate
   * from a node that has not seen us (the lookup re-asks with its token).
   */
  #fetchCertificate(
    key: InfoHash,
    callback: (values: readonly DhtValue[]) => void,
  ): void {
    const { dht, clock } = this.#options;
    const isCertificate = (value: DhtValue) => value.type === 8;
    dht.get(key, {
      onDone: (values) => {
        if (values.some(isCertificate)) {
          callback(values);
          return;
        }
        let done = false;
        const finish = (found: readonly DhtValue[]) => {
          if (done) return;
          done = true;
          timer.cancel();
          // Cancelled after this callback returns, outside the listen's own call.
          queueMicrotask(() => listen.cancel());
          callback(found);
        };
        const timer = clock.setTimer(
          CERTIFICATE_LISTEN_MS,
          () => finish([]),
        );
        const listen = dht.listen(key, (event) => {
          if (event.kind !== "added") return;
          const found = event.values.filter(isCertificate);
          if (found.length > 0) finish(found);
        });
      },
    });
  }

  #finish(deviceId: string, device: JamiDevice | undefined): void {
    if (this.#devices.size >= MAX_CACHED_DEVICES) {
      const first = this.#devices.keys().next().value;
      if (first !== undefined) this.#devices.delete(first);
    }
    this.#devices.set(
      deviceId,
      device === undefined
        ? { ok: false, atMs: this.#options.clock.now() }
        : { ok: true, device, atMs: this.#options.clock.now() },
    );
    const callbacks = this.#waiting.get(deviceId) ?? [];
    this.#waiting.delete(deviceId);
    for (const callback of callbacks) callback(device);
  }

  /**
   * Verifies a device from its certificate chain (PEM, device first): the
   * chain must validate and the device key's SHA-1 must be `deviceId`.
   *
   * @param deviceId Device SHA-1, 40 hex.
   * @param chain Its chain.
   * @returns The device, or undefined if it does not validate.
   */
  async verifyChain(
    deviceId: string,
    chain: JamiCertificateChain,
  ): Promise<JamiDevice | undefined> {
    try {
      if ((await chain.deviceId()) !== deviceId) return undefined;
      const accountId = await chain.accountId();
      await chain.validate(
        this.#options.clock.now(),
        this.#crls.get(accountId),
      );
      return {
        deviceId,
        accountId,
        publicKey: chain.device.publicKey,
        chain,
      };
    } catch {
      return undefined;
    }
  }

  async #checkCertificate(
    deviceId: string,
    key: InfoHash,
    values: readonly DhtValue[],
  ): Promise<JamiDevice | undefined> {
    let checked = 0;
    for (const value of values) {
      if (value.type !== 8 || value.cypher !== undefined) continue;
      if (++checked > 2) break;
      let chain: JamiCertificateChain;
      try {
        chain = await parseCertificateValue(value, key);
      } catch {
        this.dropped++;
        continue;
      }
      const device = await this.verifyChain(deviceId, chain);
      if (device !== undefined) return device;
      this.dropped++;
    }
    return undefined;
  }

  /**
   * The verified, unrevoked devices `accountId` announces now: a DHT get at
   * the account id, then each announced device resolved.
   *
   * @param accountId Account id, 40 hex.
   * @param callback Told the devices once (possibly none).
   */
  lookup(accountId: string, callback: (devices: JamiDevice[]) => void): void {
    let key: InfoHash;
    try {
      key = InfoHash.fromHex(accountId);
    } catch {
      callback([]);
      return;
    }
    getValuesTwice(
      this.#options.dht,
      key,
      (values) => values.some((v) => v.type === 0 && v.owner !== undefined),
      (values) => {
        this.#track(this.readAccountValues(accountId, values)).then(
          (found) => this.#resolveAll(accountId, found, callback),
          () => callback([]),
        );
      },
    );
  }

  #resolveAll(
    accountId: string,
    found: JamiAccountValues,
    callback: (devices: JamiDevice[]) => void,
  ): void {
    const ids = [...new Set(found.announcements.map((a) => a.deviceId))];
    if (ids.length === 0) {
      callback([]);
      return;
    }
    const devices: JamiDevice[] = [];
    let left = ids.length;
    const step = () => {
      if (--left > 0) return;
      this.#track(this.#applyCrls(accountId, found.crls, devices)).then(
        (kept) => callback(kept),
        () => callback([]),
      );
    };
    for (const id of ids) {
      this.resolve(id, (device) => {
        if (device !== undefined) devices.push(device);
        step();
      }, accountId);
    }
  }

  /** Adopts the CRLs found with the account key, then drops revoked devices. */
  async #applyCrls(
    accountId: string,
    crls: readonly JamiRevocationList[],
    devices: readonly JamiDevice[],
  ): Promise<JamiDevice[]> {
    if (devices.length > 0) {
      const accountKey = devices[0].chain.account!.publicKey;
      for (const crl of crls) {
        await this.adoptRevocationList(accountId, crl, accountKey);
      }
    }
    const kept: JamiDevice[] = [];
    for (const device of devices) {
      if (!(await this.isRevoked(device))) kept.push(device);
    }
    return kept;
  }
}

/**
 * A CRL is newer when its `thisUpdate` is later (jamid pins the newest);
 * within one second (its resolution), the one listing more serials.
 */
function isNewer(a: JamiRevocationList, b: JamiRevocationList): boolean {
  return a.thisUpdate > b.thisUpdate ||
    (a.thisUpdate === b.thisUpdate &&
      a.revokedSerials.length > b.revokedSerials.length);
}
