/**
 * `RevocationRegistry`: whether a sender's device is revoked, for every
 * sender, watched or not.
 *
 * A watched account's tracker listens at its account hash and knows its
 * revocation lists (`local`). For any other account the registry fetches the
 * records at its account hash once, keeps the union of its validly signed
 * lists ({@link RevokedDevices}) for {@link REVOCATION_CACHE_MS}, and makes
 * the caller wait meanwhile: {@link RevocationRegistry.checkSender} answers
 * `pending` and calls `retry` once the lists are known.
 *
 * Everything is bounded, per account and in all, since accounts are free to
 * mint: {@link MAX_CACHED_ACCOUNTS} accounts cached (least recently used
 * forgotten first), {@link MAX_CONCURRENT_FETCHES} fetches at a time (others
 * queue), {@link MAX_WAITING_PER_ACCOUNT} and {@link MAX_WAITING} callers
 * waiting (beyond: `busy`, the caller drops the message and the sender's
 * retry comes back later), {@link MAX_LISTS_PER_FETCH} lists verified per
 * fetch. A fetch ends when the lookup converges, or {@link FETCH_GRACE_MS}
 * after the first records arrived; one that finds nothing within
 * {@link FETCH_TIMEOUT_MS} counts as finding nothing.
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DeviceCertificate } from "./device_certificate.ts";
import type { InfoHash } from "./info_hash.ts";
import { RevocationList, type RevocationStatus } from "./revocation_list.ts";
import { RevokedDevices } from "./revoked_devices.ts";

/** How long a fetched account's revocations are trusted before fetching again: 10 minutes. */
export const REVOCATION_CACHE_MS = 10 * 60_000;
/** Most accounts whose revocations are cached. */
export const MAX_CACHED_ACCOUNTS = 256;
/** Most fetches running at once. */
export const MAX_CONCURRENT_FETCHES = 8;
/** Most callers waiting for one account's revocations. */
export const MAX_WAITING_PER_ACCOUNT = 4;
/** Most callers waiting in all. */
export const MAX_WAITING = 64;
/** Most revocation lists verified per fetch (the highest sequence numbers). */
export const MAX_LISTS_PER_FETCH = 16;
/** Most records kept from one fetch (a DHT key holds at most 1,024 values). */
export const MAX_RECORDS_PER_FETCH = 1_024;
/** A fetch not done after this long counts as finding nothing: 30 s. */
export const FETCH_TIMEOUT_MS = 30_000;
/**
 * A fetch ends this long after the first records arrived, if the lookup has
 * not converged by then: 1 s. The account's devices put all its records on
 * the same storing nodes, so the first answers normally hold its lists;
 * whatever else arrives meanwhile is merged too.
 */
export const FETCH_GRACE_MS = 1_000;

/** What {@link RevocationRegistry.checkSender} decides. */
export type SenderVerdict =
  /** Not revoked as far as the account's lists tell. */
  | "accepted"
  /** The account revoked this device. */
  | "revoked"
  /** The account's lists are being fetched: `retry` is called once they are. */
  | "pending"
  /** Too many waiting already: drop it (the sender retries). */
  | "busy";

/** Counters of a registry. */
export interface RevocationRegistryCounters {
  /** Fetches started. */
  fetches: number;
  /** Senders refused as revoked. */
  revoked: number;
  /** Senders refused as `busy`. */
  busy: number;
}

/** What a {@link RevocationRegistry} runs on. */
export interface RevocationRegistryOptions {
  /** The clock of cache ages and fetch timeouts. */
  readonly clock: Clock;
  /**
   * Fetches the records stored at an account hash (a DHT `get`): `found`
   * with records as they arrive, `done` once at the end.
   */
  fetch(
    accountId: InfoHash,
    callbacks: {
      found(records: readonly Uint8Array[]): void;
      done(): void;
    },
  ): { cancel(): void };
  /** The revocations of a watched account, as its tracker knows them. */
  local?(accountId: InfoHash): RevocationStatus | undefined;
}

interface Entry {
  readonly accountId: InfoHash;
  readonly revoked: RevokedDevices;
  /** When the last fetch ended; undefined: never. */
  fetchedMs?: number;
  fetch?: { cancel(): void };
  timeout?: Timer;
  /** Records found by the running fetch. */
  found: Uint8Array[];
  queued: boolean;
  waiting: (() => void)[];
}

/** Revocation status of any sender's account, fetched when unknown. */
export class RevocationRegistry {
  /** What happened so far. */
  readonly counters: RevocationRegistryCounters = {
    fetches: 0,
    revoked: 0,
    busy: 0,
  };
  readonly #options: RevocationRegistryOptions;
  /** Account hex → entry, least recently used first. */
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Entry[] = [];
  #fetching = 0;
  #waiting = 0;

  /**
   * An empty registry.
   *
   * @param options See {@link RevocationRegistryOptions}.
   */
  constructor(options: RevocationRegistryOptions) {
    this.#options = options;
  }

  /**
   * Whether `deviceId` of `accountId` is known to be revoked (no fetch).
   *
   * @param accountId The account.
   * @param deviceId One of its devices.
   * @returns True if a list seen revokes it.
   */
  isRevoked(accountId: InfoHash, deviceId: InfoHash): boolean {
    return this.#options.local?.(accountId)?.isRevoked(deviceId) === true ||
      this.#entries.get(accountId.toString())?.revoked.isRevoked(deviceId) ===
        true;
  }

  /**
   * Decides whether a message from `sender` (a verified certificate) may be
   * handled now.
   *
   * @param sender The sender device's certificate.
   * @param retry Called once the account's lists are known (after `pending`).
   * @returns The verdict.
   */
  checkSender(sender: DeviceCertificate, retry: () => void): SenderVerdict {
    const { accountId, deviceId } = sender;
    if (this.isRevoked(accountId, deviceId)) {
      this.counters.revoked += 1;
      return "revoked";
    }
    // A watched account's tracker listens where its lists are.
    if (this.#options.local?.(accountId) !== undefined) return "accepted";
    const hex = accountId.toString();
    const now = this.#options.clock.now();
    const known = this.#entries.get(hex);
    if (
      known?.fetchedMs !== undefined &&
      now < known.fetchedMs + REVOCATION_CACHE_MS
    ) {
      this.#touch(hex, known);
      return "accepted";
    }
    const entry = known ?? this.#create(accountId);
    if (
      entry === undefined ||
      entry.waiting.length >= MAX_WAITING_PER_ACCOUNT ||
      this.#waiting >= MAX_WAITING
    ) {
      this.counters.busy += 1;
      return "busy";
    }
    this.#touch(hex, entry);
    entry.waiting.push(retry);
    this.#waiting += 1;
    if (entry.fetch === undefined && !entry.queued) {
      if (this.#fetching < MAX_CONCURRENT_FETCHES) this.#start(entry);
      else {
        entry.queued = true;
        this.#queue.push(entry);
      }
    }
    return "pending";
  }

  /** Cancels fetches and forgets waiting callers (the account stops). */
  stop(): void {
    for (const entry of this.#entries.values()) {
      entry.fetch?.cancel();
      entry.fetch = undefined;
      entry.timeout?.cancel();
      entry.timeout = undefined;
      entry.queued = false;
      entry.waiting = [];
    }
    this.#queue.length = 0;
    this.#fetching = 0;
    this.#waiting = 0;
  }

  #touch(hex: string, entry: Entry): void {
    this.#entries.delete(hex);
    this.#entries.set(hex, entry);
  }

  /** A new entry, forgetting the least recently used idle one if full. */
  #create(accountId: InfoHash): Entry | undefined {
    if (this.#entries.size >= MAX_CACHED_ACCOUNTS) {
      let idle: string | undefined;
      for (const [hex, entry] of this.#entries) {
        if (entry.fetch === undefined && entry.waiting.length === 0) {
          idle = hex;
          break;
        }
      }
      if (idle === undefined) return undefined;
      this.#entries.delete(idle);
    }
    const entry: Entry = {
      accountId,
      revoked: new RevokedDevices(accountId),
      queued: false,
      waiting: [],
      found: [],
    };
    this.#entries.set(accountId.toString(), entry);
    return entry;
  }

  #start(entry: Entry): void {
    this.#fetching += 1;
    this.counters.fetches += 1;
    entry.found = [];
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      entry.fetch?.cancel();
      this.#done(entry, entry.found);
    };
    const clock = this.#options.clock;
    entry.timeout = clock.setTimer(FETCH_TIMEOUT_MS, finish);
    let grace = false;
    const handle = this.#options.fetch(entry.accountId, {
      found: (records) => {
        if (finished) return;
        for (const record of records) {
          if (entry.found.length < MAX_RECORDS_PER_FETCH) {
            entry.found.push(record);
          }
        }
        if (grace || entry.found.length === 0) return;
        grace = true;
        entry.timeout?.cancel();
        entry.timeout = clock.setTimer(FETCH_GRACE_MS, finish);
      },
      done: finish,
    });
    if (!finished) entry.fetch = handle;
  }

  #done(entry: Entry, records: readonly Uint8Array[]): void {
    this.#fetching = Math.max(0, this.#fetching - 1);
    entry.fetch = undefined;
    entry.timeout?.cancel();
    entry.timeout = undefined;
    const now = this.#options.clock.now();
    const lists: RevocationList[] = [];
    for (const bytes of records) {
      try {
        const list = RevocationList.decode(bytes);
        if (list.accountId.equals(entry.accountId)) lists.push(list);
      } catch {
        // Not a revocation list.
      }
    }
    lists.sort((a, b) => b.seq - a.seq);
    for (const list of lists.slice(0, MAX_LISTS_PER_FETCH)) {
      try {
        entry.revoked.add(list, now);
      } catch {
        // Forged or not yet valid: ignored.
      }
    }
    entry.fetchedMs = now;
    entry.found = [];
    const waiting = entry.waiting;
    entry.waiting = [];
    this.#waiting = Math.max(0, this.#waiting - waiting.length);
    while (this.#fetching < MAX_CONCURRENT_FETCHES && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      next.queued = false;
      if (next.waiting.length > 0) this.#start(next);
    }
    for (const retry of waiting) retry();
  }
}
