/**
 * `RevocationList`: the account's signed list of devices that no longer
 * belong to it. Lists carry a sequence number; a newer one replaces an older
 * one, and a revoked device's certificate no longer verifies.
 *
 * @example Revoke a device
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "./account_keys.ts";
 * import { DeviceKeys } from "./device_keys.ts";
 * import { RevocationList } from "./revocation_list.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const random = rngBytes(seededRng(5));
 * const account = AccountKeys.generate(random);
 * const lost = DeviceKeys.generate(random);
 * const list = RevocationList.create(account, { seq: 1, revoked: [lost.id], issuedMs: 0 });
 * const received = RevocationList.decode(list.bytes);
 * received.verify({ accountId: account.id, nowMs: 1 });
 * assert.ok(received.isRevoked(lost.id));
 * ```
 *
 * @module
 */
import { decodeTuple, encodeTuple, readBytes } from "./_codec.ts";
import { MalformedRecordError, SignerMismatchError } from "./errors.ts";
import { INFO_HASH_BYTES, InfoHash } from "./info_hash.ts";
import { SignedRecord } from "./signed_record.ts";
import type { AccountKeys } from "./account_keys.ts";
import { DEFAULT_CERTIFICATE_LIFETIME_MS } from "./device_certificate.ts";

/** Record type of a revocation list. */
export const REVOCATION_LIST_TYPE = "revocation-list";
/** Most devices one list may revoke. */
export const MAX_REVOKED_DEVICES = 1_024;
/**
 * Default validity of a revocation list: the default certificate lifetime
 * plus 30 days, so a list outlives every default certificate it revokes (a
 * revoked certificate was issued before the list). The account also re-signs
 * it {@link REVOCATION_RENEW_BEFORE_MS} before it expires.
 */
export const DEFAULT_REVOCATION_LIFETIME_MS: number =
  DEFAULT_CERTIFICATE_LIFETIME_MS + 30 * 24 * 3_600_000;
/** How long before its expiry the account re-signs its list: 30 days. */
export const REVOCATION_RENEW_BEFORE_MS = 30 * 24 * 3_600_000;

const BODY_TAG = "rlb1";

/** Who an account revoked: a {@link RevocationList}, or the union of several. */
export interface RevocationStatus {
  /** The account whose devices these are. */
  readonly accountId: InfoHash;
  /**
   * Whether `deviceId` is revoked.
   *
   * @param deviceId A device id.
   * @returns True if revoked.
   */
  isRevoked(deviceId: InfoHash): boolean;
}

/** Options of {@link RevocationList.create}. */
export interface CreateRevocationListOptions {
  /** Sequence number; must grow with every new list. */
  readonly seq: number;
  /** Every device revoked so far: a list replaces its predecessor, so it repeats earlier revocations. */
  readonly revoked: readonly InfoHash[];
  /** Issue time, epoch ms. */
  readonly issuedMs: number;
  /** Validity. @default {DEFAULT_REVOCATION_LIFETIME_MS} */
  readonly lifetimeMs?: number;
}

/** A revocation list; decoding checks structure only, call {@link RevocationList.verify}. */
export class RevocationList implements RevocationStatus {
  /** The signed record carrying the list. */
  readonly record: SignedRecord;
  /** Revoked device ids, sorted. */
  readonly revoked: readonly InfoHash[];
  readonly #revokedHex: ReadonlySet<string>;

  private constructor(record: SignedRecord) {
    const what = "revocation list";
    const fields = decodeTuple(record.body, what, BODY_TAG, 2);
    const ids = fields[1];
    if (!Array.isArray(ids) || ids.length > MAX_REVOKED_DEVICES) {
      throw new MalformedRecordError(
        what,
        `expected at most ${MAX_REVOKED_DEVICES} device ids`,
      );
    }
    this.revoked = ids.map((_, index) =>
      InfoHash.fromBytes(readBytes(ids, index, what, INFO_HASH_BYTES))
    );
    this.#revokedHex = new Set(this.revoked.map((id) => id.toString()));
    this.record = record;
  }

  /**
   * Signs a new revocation list.
   *
   * @param account Account keys.
   * @param options Sequence, revoked ids, time.
   * @returns The list.
   * @throws {RangeError} If more than {@link MAX_REVOKED_DEVICES} ids are given.
   */
  static create(
    account: AccountKeys,
    options: CreateRevocationListOptions,
  ): RevocationList {
    const unique = new Map<string, InfoHash>();
    for (const id of options.revoked) unique.set(id.toString(), id);
    if (unique.size > MAX_REVOKED_DEVICES) {
      throw new RangeError(
        `Cannot create revocation list: more than ${MAX_REVOKED_DEVICES} devices`,
      );
    }
    const sorted = [...unique.values()].sort((a, b) => a.compare(b));
    const record = SignedRecord.sign(account, {
      type: REVOCATION_LIST_TYPE,
      seq: options.seq,
      createdMs: options.issuedMs,
      expiresMs: options.issuedMs +
        (options.lifetimeMs ?? DEFAULT_REVOCATION_LIFETIME_MS),
      body: encodeTuple([BODY_TAG, sorted.map((id) => id.bytes)]),
    });
    return new RevocationList(record);
  }

  /**
   * Decodes a list from untrusted bytes (structure only).
   *
   * @param bytes Encoded list.
   * @returns The list, not yet verified.
   * @throws {MalformedRecordError} If the bytes are not a revocation list.
   */
  static decode(bytes: Uint8Array): RevocationList {
    const record = SignedRecord.decode(bytes);
    if (record.type !== REVOCATION_LIST_TYPE) {
      throw new MalformedRecordError(
        "revocation list",
        `record type is "${record.type}"`,
      );
    }
    return new RevocationList(record);
  }

  /**
   * Of two verified lists of the same account, the one to keep: the higher
   * sequence number wins; `current` is kept on a tie.
   *
   * @param current The list held so far, if any.
   * @param incoming A newly received, verified list.
   * @returns The list to keep.
   * @throws {SignerMismatchError} If the lists belong to different accounts.
   */
  static newest(
    current: RevocationList | undefined,
    incoming: RevocationList,
  ): RevocationList {
    if (current === undefined) return incoming;
    if (!current.accountId.equals(incoming.accountId)) {
      throw new SignerMismatchError(
        "revocation list",
        current.accountId.toString(),
        incoming.accountId.toString(),
      );
    }
    return incoming.seq > current.seq ? incoming : current;
  }

  /** The account that signed the list. */
  get accountId(): InfoHash {
    return this.record.signerId;
  }

  /** Sequence number: of two lists, the one with the higher number wins. */
  get seq(): number {
    return this.record.seq;
  }

  /** The signed record's bytes, as published in the DHT. */
  get bytes(): Uint8Array {
    return this.record.bytes;
  }

  /** Expiry time, epoch ms. */
  get expiresMs(): number {
    return this.record.expiresMs;
  }

  /** When the account should re-sign it ({@link REVOCATION_RENEW_BEFORE_MS} before expiry). */
  get renewalDueMs(): number {
    return Math.max(
      this.record.createdMs,
      this.record.expiresMs - REVOCATION_RENEW_BEFORE_MS,
    );
  }

  /**
   * Checks the account signature and validity window.
   *
   * @param options The account that must have signed it, the time, and
   *   whether an expired list still counts (revocations are permanent: see
   *   `RevokedDevices`).
   * @throws {BadSignatureError} If the signature does not verify.
   * @throws {SignerMismatchError} If another account signed it.
   * @throws {RecordExpiredError} If the list has expired (unless `acceptExpired`).
   * @throws {RecordFromFutureError} If it claims to be issued in the future.
   */
  verify(
    options: {
      readonly accountId: InfoHash;
      readonly nowMs: number;
      readonly acceptExpired?: boolean;
    },
  ): void {
    this.record.verify({
      type: REVOCATION_LIST_TYPE,
      signer: options.accountId,
      nowMs: options.nowMs,
      acceptExpired: options.acceptExpired,
    });
  }

  /**
   * The list a device of the account should hold once it has seen
   * `incoming`, another verified list of the account (two devices may each
   * revoke a device and both publish the same sequence number):
   * - `own` if it already revokes everything `incoming` does and has a
   *   higher sequence number, or the same one and the same devices;
   * - `incoming` if it revokes everything `own` does with a higher
   *   sequence number;
   * - else a new list revoking both, numbered above both.
   *
   * Devices applying this converge: each new list is a superset numbered
   * above what it merges, so receivers that keep only the highest sequence
   * number see every revocation too.
   *
   * @param account The account keys (the lists' signer).
   * @param own The list this device holds, if any.
   * @param incoming A verified list of the same account.
   * @param nowMs Issue time of a new list.
   * @returns The list to keep (`own`, `incoming` or a new one).
   * @throws {SignerMismatchError} If a list is not `account`'s.
   * @throws {RangeError} If the union exceeds {@link MAX_REVOKED_DEVICES}.
   */
  static reconcile(
    account: AccountKeys,
    own: RevocationList | undefined,
    incoming: RevocationList,
    nowMs: number,
  ): RevocationList {
    for (const list of [own, incoming]) {
      if (list !== undefined && !list.accountId.equals(account.id)) {
        throw new SignerMismatchError(
          "revocation list",
          account.id.toString(),
          list.accountId.toString(),
        );
      }
    }
    if (own === undefined) return incoming;
    const union = new Map<string, InfoHash>();
    for (const id of [...own.revoked, ...incoming.revoked]) {
      union.set(id.toString(), id);
    }
    const ownCovers = own.revoked.length === union.size;
    const incomingCovers = incoming.revoked.length === union.size;
    if (
      ownCovers &&
      (own.seq > incoming.seq || incomingCovers && own.seq === incoming.seq)
    ) {
      return own;
    }
    if (incomingCovers && incoming.seq > own.seq) return incoming;
    return RevocationList.create(account, {
      seq: Math.max(own.seq, incoming.seq) + 1,
      revoked: [...union.values()],
      issuedMs: nowMs,
    });
  }

  /**
   * The same revocations re-signed with the next sequence number (before
   * the list expires).
   *
   * @param account The account keys (must be this list's account).
   * @param nowMs Issue time.
   * @returns The new list.
   * @throws {SignerMismatchError} If `account` is not this list's account.
   */
  renew(account: AccountKeys, nowMs: number): RevocationList {
    return this.revoke(account, [], nowMs);
  }

  /**
   * Whether `deviceId` is revoked by this list.
   *
   * @param deviceId A device id.
   * @returns True if revoked.
   */
  isRevoked(deviceId: InfoHash): boolean {
    return this.#revokedHex.has(deviceId.toString());
  }

  /**
   * A successor list that also revokes `deviceIds`, with the next sequence number.
   *
   * @param account The account keys (must be this list's account).
   * @param deviceIds Devices to add.
   * @param nowMs Issue time.
   * @returns The new list.
   * @throws {SignerMismatchError} If `account` is not this list's account.
   */
  revoke(
    account: AccountKeys,
    deviceIds: readonly InfoHash[],
    nowMs: number,
  ): RevocationList {
    if (!account.id.equals(this.accountId)) {
      throw new SignerMismatchError(
        "revocation list",
        this.accountId.toString(),
        account.id.toString(),
      );
    }
    return RevocationList.create(account, {
      seq: this.seq + 1,
      revoked: [...this.revoked, ...deviceIds],
      issuedMs: nowMs,
    });
  }
}
