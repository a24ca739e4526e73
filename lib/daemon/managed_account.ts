/**
 * `ManagedAccount`: what the daemon's managers need from an account, so
 * that our accounts (`Account`) and Jami-format accounts (`JamiAccount`,
 * `lib/jami/jami_account.ts`) sit behind the same `PresenceManager` and
 * `ConfigurationManager`, routed by account id.
 *
 * @example Both kinds answer the same calls
 * ```ts
 * import type { ManagedAccount } from "./managed_account.ts";
 *
 * function describe(account: ManagedAccount): string {
 *   return `${account.kind} ${account.id}: ${account.getContacts().length} contacts`;
 * }
 * ```
 *
 * @module
 */
import type { Contact } from "../contacts/contact_list.ts";
import type {
  BuddyDevice,
  BuddyStatus,
} from "../presence/buddy_subscriptions.ts";

/** Which protocol an account speaks. */
export type AccountKind = "dht-contacts" | "jami";

/** A pending incoming request, as an account lists it. */
export interface ManagedTrustRequest {
  /** The sending account's id, 40 lowercase hex. */
  readonly from: string;
  /** Our receive time, epoch ms. */
  readonly receivedMs: number;
  /** What the sender attached (usually a vCard). */
  readonly payload: Uint8Array;
}

/** Options of {@link ManagedAccount.sendTrustRequest}. */
export interface SendTrustRequestOptions {
  /**
   * Jami accounts: the conversation id carried by the request (40 hex, the
   * sender's 1:1 swarm), or "" for a legacy request. Ignored by our
   * accounts. @default {""}
   */
  readonly conversationId?: string;
}

/** An account as the daemon's managers drive it. */
export interface ManagedAccount {
  /** Account id, 40 lowercase hex. */
  readonly id: string;
  /** Which protocol the account speaks. */
  readonly kind: AccountKind;
  /** Publishes presence, listens to the inbox, resumes the outbox. */
  start(): void;
  /** Stops and saves; resolves once the state is durable. */
  stop(): Promise<void>;
  /** Stops at once with no final write (a killed process, for tests). */
  crash(): void;
  /** Follows (or stops following) a buddy's presence. */
  subscribeBuddy(uri: string, flag: boolean): void;
  /** The followed buddies and their status. */
  getSubscriptions(): BuddyStatus[];
  /** The devices of a followed buddy. */
  getDevices(uri: string): BuddyDevice[];
  /** Sets this device's presence (0 hides it). */
  publish(status: number, note: string): void;
  /** Sends a trust request; resolves with its id (hex) once it is durable. */
  sendTrustRequest(
    to: string,
    payload: Uint8Array,
    options?: SendTrustRequestOptions,
  ): Promise<string>;
  /** Pending incoming requests. */
  getTrustRequests(): ManagedTrustRequest[];
  /** Accepts the pending request from `from`. */
  acceptTrustRequest(from: string): Promise<void>;
  /** Drops the pending request from `from`, telling nobody. */
  discardTrustRequest(from: string): Promise<boolean>;
  /** Adds a contact (lifting a ban); sends nothing. */
  addContact(uri: string): Promise<void>;
  /** Removes a contact; with `ban`, blocks it. */
  removeContact(uri: string, ban: boolean): Promise<void>;
  /** Active and banned contacts. */
  getContacts(): Contact[];
  /** One contact as stored, or undefined. */
  contact(uri: string): Contact | undefined;
}
