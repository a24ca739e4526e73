/**
 * `ContactList`: an account's contacts and bans, with Jami's rules and its
 * multi-device merge.
 *
 * A contact is `{added, removed, confirmed, banned}` (times in epoch ms):
 * active while `added > removed`; banned when removed with the ban flag.
 * `add` makes it active again and lifts a ban; `remove(…, ban)` makes it
 * inactive and, with `ban`, banned (strangers can be banned too).
 * `confirmed` says both sides agreed (a request was accepted either way).
 *
 * Merging a record from another device of the account is field by field:
 * the later `added` and the later `removed` win, the ban flag follows the
 * later removal, and `confirmed` holds if the side whose `added` won had it.
 * The merge is commutative, associative and idempotent, so devices converge
 * whatever order their syncs arrive in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContactList } from "./contact_list.ts";
 *
 * const contacts = new ContactList();
 * const bob = "b".repeat(40);
 * contacts.add(bob, 1_000);
 * assert.ok(contacts.isActive(bob));
 * contacts.remove(bob, true, 2_000);
 * assert.ok(contacts.isBanned(bob));
 * contacts.add(bob, 3_000); // adding again lifts the ban
 * assert.ok(!contacts.isBanned(bob));
 * ```
 *
 * @module
 */

/** Most contacts (including removed and banned records) an account keeps. */
export const MAX_CONTACTS = 10_000;

/** One contact record. */
export interface Contact {
  /** Account id, 40 lowercase hex. */
  readonly uri: string;
  /** Last time it was added, epoch ms (0 = never). */
  readonly addedMs: number;
  /** Last time it was removed, epoch ms (0 = never). */
  readonly removedMs: number;
  /** Both sides agreed. */
  readonly confirmed: boolean;
  /** Removed with a ban. */
  readonly banned: boolean;
}

/** Thrown when a list would exceed {@link MAX_CONTACTS}. */
export class ContactListFullError extends RangeError {
  /**
   * The list is full.
   *
   * @param limit The limit.
   */
  constructor(limit: number) {
    super(`Cannot add contact: the list holds its maximum of ${limit}`);
    this.name = "ContactListFullError";
  }
}

/** True if the record is an active contact. */
export function isActiveContact(contact: Contact | undefined): boolean {
  return contact !== undefined && contact.addedMs > contact.removedMs;
}

/**
 * Merges two records of the same contact (see the module doc).
 *
 * @param a One record.
 * @param b Another record of the same uri.
 * @returns The merged record.
 */
export function mergeContact(a: Contact, b: Contact): Contact {
  const addedMs = Math.max(a.addedMs, b.addedMs);
  const removedMs = Math.max(a.removedMs, b.removedMs);
  const confirmed = (a.addedMs === addedMs && a.confirmed) ||
    (b.addedMs === addedMs && b.confirmed);
  let banned: boolean;
  if (a.removedMs === b.removedMs) banned = a.banned || b.banned;
  else banned = a.removedMs > b.removedMs ? a.banned : b.banned;
  return { uri: a.uri, addedMs, removedMs, confirmed, banned };
}

function sameContact(a: Contact | undefined, b: Contact): boolean {
  return a !== undefined && a.addedMs === b.addedMs &&
    a.removedMs === b.removedMs && a.confirmed === b.confirmed &&
    a.banned === b.banned;
}

/** An account's contacts. */
export class ContactList {
  readonly #contacts = new Map<string, Contact>();

  /**
   * A list holding `records`.
   *
   * @param records Initial records (e.g. loaded from disk).
   */
  constructor(records: readonly Contact[] = []) {
    for (const record of records.slice(0, MAX_CONTACTS)) {
      this.#contacts.set(record.uri, record);
    }
  }

  /** Number of records (all states). */
  get size(): number {
    return this.#contacts.size;
  }

  /**
   * The record for `uri`.
   *
   * @param uri Account id hex.
   * @returns The record, if any.
   */
  get(uri: string): Contact | undefined {
    return this.#contacts.get(uri);
  }

  /** True if `uri` is an active contact. */
  isActive(uri: string): boolean {
    return isActiveContact(this.#contacts.get(uri));
  }

  /** True if `uri` is banned. */
  isBanned(uri: string): boolean {
    const contact = this.#contacts.get(uri);
    return contact !== undefined && !isActiveContact(contact) &&
      contact.banned;
  }

  /** Every record, in insertion order. */
  all(): Contact[] {
    return [...this.#contacts.values()];
  }

  /** Active contacts and banned ones (removed, unbanned ones are hidden, as in Jami). */
  visible(): Contact[] {
    return this.all().filter((contact) =>
      isActiveContact(contact) || contact.banned
    );
  }

  #set(contact: Contact): Contact {
    if (
      !this.#contacts.has(contact.uri) && this.#contacts.size >= MAX_CONTACTS
    ) {
      throw new ContactListFullError(MAX_CONTACTS);
    }
    this.#contacts.set(contact.uri, contact);
    return contact;
  }

  /**
   * Adds (or re-adds, unbanning) `uri`. An already active contact is left
   * as it is.
   *
   * @param uri Account id hex.
   * @param nowMs Time, epoch ms.
   * @param confirmed Whether the other side agreed already.
   * @returns The record and whether it changed.
   * @throws {ContactListFullError} If the list is full.
   */
  add(
    uri: string,
    nowMs: number,
    confirmed = false,
  ): { contact: Contact; changed: boolean } {
    const old = this.#contacts.get(uri);
    if (isActiveContact(old)) {
      if (!confirmed || old!.confirmed) {
        return { contact: old!, changed: false };
      }
      return {
        contact: this.#set({ ...old!, confirmed: true }),
        changed: true,
      };
    }
    const addedMs = Math.max(nowMs, (old?.removedMs ?? 0) + 1);
    return {
      contact: this.#set({
        uri,
        addedMs,
        removedMs: old?.removedMs ?? 0,
        confirmed,
        banned: false,
      }),
      changed: true,
    };
  }

  /**
   * Marks an active contact confirmed.
   *
   * @param uri Account id hex.
   * @returns True if it changed.
   */
  confirm(uri: string): boolean {
    const old = this.#contacts.get(uri);
    if (!isActiveContact(old) || old!.confirmed) return false;
    this.#set({ ...old!, confirmed: true });
    return true;
  }

  /**
   * Removes `uri`, banning it with `ban` (also for a stranger).
   *
   * @param uri Account id hex.
   * @param ban Block it silently.
   * @param nowMs Time, epoch ms.
   * @returns The record and whether it changed.
   * @throws {ContactListFullError} If banning a stranger while the list is full.
   */
  remove(
    uri: string,
    ban: boolean,
    nowMs: number,
  ): { contact: Contact; changed: boolean } {
    const old = this.#contacts.get(uri);
    if (old !== undefined && !isActiveContact(old) && old.banned === ban) {
      return { contact: old, changed: false };
    }
    if (old === undefined && !ban) {
      return {
        contact: {
          uri,
          addedMs: 0,
          removedMs: 0,
          confirmed: false,
          banned: false,
        },
        changed: false,
      };
    }
    const removedMs = Math.max(nowMs, (old?.addedMs ?? 0) + 1);
    return {
      contact: this.#set({
        uri,
        addedMs: old?.addedMs ?? 0,
        removedMs,
        confirmed: false,
        banned: ban,
      }),
      changed: true,
    };
  }

  /**
   * Merges a record from another device of the account.
   *
   * @param incoming The other device's record.
   * @returns The merged record if it changed anything, else undefined.
   */
  merge(incoming: Contact): Contact | undefined {
    const old = this.#contacts.get(incoming.uri);
    const merged = old === undefined ? incoming : mergeContact(old, incoming);
    if (sameContact(old, merged)) return undefined;
    if (old === undefined && this.#contacts.size >= MAX_CONTACTS) {
      return undefined;
    }
    this.#contacts.set(merged.uri, merged);
    return merged;
  }

  /**
   * Puts back a record as it was before a change that could not be saved.
   *
   * @param uri Account id hex.
   * @param previous The record before the change, or undefined if there was none.
   */
  restore(uri: string, previous: Contact | undefined): void {
    if (previous === undefined) this.#contacts.delete(uri);
    else this.#contacts.set(uri, previous);
  }
}
