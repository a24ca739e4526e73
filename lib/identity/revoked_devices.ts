/**
 * `RevokedDevices`: every device an account has revoked, as far as the
 * lists seen so far tell: the union of the validly signed
 * {@link RevocationList}s of that account.
 *
 * Why a union and not the list with the highest sequence number: two devices
 * of an account may each revoke a device and both publish sequence 1; with
 * "highest wins" the first to arrive would hide the other revocation. And
 * why an expired list still counts: a revocation is permanent (a device id
 * is the hash of its key and is never re-admitted), so a list past its
 * expiry still proves the account revoked those devices; otherwise a revoked
 * certificate that outlives the list would verify again.
 *
 * The union is bounded ({@link MAX_UNION_REVOKED_DEVICES}): ids beyond it
 * are not added (the lists' signer is the account itself, so only someone
 * holding the account key can grow it).
 *
 * @example Two lists with the same sequence number
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "./account_keys.ts";
 * import { DeviceKeys } from "./device_keys.ts";
 * import { RevocationList } from "./revocation_list.ts";
 * import { RevokedDevices } from "./revoked_devices.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const random = rngBytes(seededRng(6));
 * const account = AccountKeys.generate(random);
 * const [tablet, watch] = [DeviceKeys.generate(random), DeviceKeys.generate(random)];
 * const revoked = new RevokedDevices(account.id);
 * for (const lost of [tablet, watch]) {
 *   const list = RevocationList.create(account, { seq: 1, revoked: [lost.id], issuedMs: 0 });
 *   revoked.add(RevocationList.decode(list.bytes), 1);
 * }
 * assert.ok(revoked.isRevoked(tablet.id) && revoked.isRevoked(watch.id));
 * ```
 *
 * @module
 */
import type { InfoHash } from "./info_hash.ts";
import {
  MAX_REVOKED_DEVICES,
  type RevocationList,
  type RevocationStatus,
} from "./revocation_list.ts";

/** Most revoked device ids kept per account (the union of its lists). */
export const MAX_UNION_REVOKED_DEVICES: number = 4 * MAX_REVOKED_DEVICES;

/** The devices one account revoked: the union of its verified lists. */
export class RevokedDevices implements RevocationStatus {
  /** The account. */
  readonly accountId: InfoHash;
  readonly #ids = new Map<string, InfoHash>();
  #newest?: RevocationList;

  /**
   * Nothing revoked yet.
   *
   * @param accountId The account whose lists count.
   */
  constructor(accountId: InfoHash) {
    this.accountId = accountId;
  }

  /**
   * Verifies `list` (signature and signer; an expired list still counts) and
   * adds its devices.
   *
   * @param list A list, not yet verified.
   * @param nowMs Time of the check.
   * @returns The devices newly revoked (empty if none).
   * @throws {BadSignatureError} If the signature does not verify.
   * @throws {SignerMismatchError} If another account signed it.
   * @throws {RecordFromFutureError} If it claims to be issued in the future.
   */
  add(list: RevocationList, nowMs: number): InfoHash[] {
    list.verify({ accountId: this.accountId, nowMs, acceptExpired: true });
    if (this.#newest === undefined || list.seq > this.#newest.seq) {
      this.#newest = list;
    }
    const added: InfoHash[] = [];
    for (const id of list.revoked) {
      const hex = id.toString();
      if (this.#ids.has(hex)) continue;
      if (this.#ids.size >= MAX_UNION_REVOKED_DEVICES) break;
      this.#ids.set(hex, id);
      added.push(id);
    }
    return added;
  }

  /**
   * Whether the account revoked `deviceId` in any list seen.
   *
   * @param deviceId A device id.
   * @returns True if revoked.
   */
  isRevoked(deviceId: InfoHash): boolean {
    return this.#ids.has(deviceId.toString());
  }

  /** Every revoked device id, sorted. */
  get revoked(): InfoHash[] {
    return [...this.#ids.values()].sort((a, b) => a.compare(b));
  }

  /** The list with the highest sequence number seen, if any. */
  get newest(): RevocationList | undefined {
    return this.#newest;
  }
}
