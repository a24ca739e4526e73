/**
 * `ConfigurationManager`: the seed's trust-request and contact API, per
 * account, with its events.
 *
 * Every method validates its input first (a malformed URI, an unknown
 * account, an oversized payload or the account's own id throw a typed error
 * and change nothing), and resolves once the change is durable.
 *
 * @example Send a request and hear when it arrives
 * ```ts
 * import type { Daemon } from "./daemon.ts";
 *
 * async function invite(daemon: Daemon, accountId: string, to: string) {
 *   daemon.config.on("trustRequestDelivered", (d) => console.log("delivered to", d.uri));
 *   daemon.config.on("trustRequestAccepted", (d) => console.log("accepted by", d.uri));
 *   await daemon.config.sendTrustRequest(accountId, to, new TextEncoder().encode("BEGIN:VCARD…"));
 * }
 * ```
 *
 * @module
 */
import { parseUri } from "../identity/uri.ts";
import type {
  ManagedAccount,
  SendTrustRequestOptions,
} from "./managed_account.ts";
import { TypedEventTarget } from "./typed_event_target.ts";

/** A pending request as `getTrustRequests` lists it. */
export interface TrustRequest {
  /** The sending account's id, 40 lowercase hex. */
  readonly from: string;
  /** When we received it, epoch seconds (as Jami). */
  readonly received: number;
  /** What the sender attached (usually a vCard); never interpreted, at most 64,000 bytes. */
  readonly payload: Uint8Array;
}

/** A contact as `getContacts`/`getContactDetails` show it. */
export interface ContactDetails {
  /** The contact's account id, 40 lowercase hex. */
  readonly id: string;
  /** Last added, epoch seconds (0 = never). */
  readonly added: number;
  /** Last removed, epoch seconds (0 = never). */
  readonly removed: number;
  /** Both sides agreed: they accepted our request, or we accepted theirs. */
  readonly confirmed: boolean;
  /** Removed with a ban: their trust requests are dropped and their links refused. */
  readonly banned: boolean;
}

/** Events of the {@link ConfigurationManager}. */
export interface ConfigurationEventMap {
  /** A new trust request (shown exactly once). */
  incomingTrustRequest: {
    accountId: string;
    from: string;
    payload: Uint8Array;
    receiveTime: number;
  };
  /** A contact was added or confirmed (here or on another device of ours). */
  contactAdded: { accountId: string; uri: string; confirmed: boolean };
  /** A contact was removed or banned. */
  contactRemoved: { accountId: string; uri: string; banned: boolean };
  /** The target acknowledged our request (signed receipt). */
  trustRequestDelivered: { accountId: string; uri: string; requestId: string };
  /** The target accepted our request. */
  trustRequestAccepted: { accountId: string; uri: string; requestId: string };
  /** Our request got no receipt in 7 days. */
  trustRequestExpired: { accountId: string; uri: string; requestId: string };
  /** The target acknowledged our confirmation. */
  confirmationDelivered: { accountId: string; uri: string };
  /** Our confirmation got no receipt in 7 days. */
  confirmationExpired: { accountId: string; uri: string };
}

function seconds(ms: number): number {
  return Math.floor(ms / 1_000);
}

/** Trust requests and contacts API. */
export class ConfigurationManager
  extends TypedEventTarget<ConfigurationEventMap> {
  readonly #account: (accountId: string) => ManagedAccount;

  /**
   * The API over the daemon's accounts.
   *
   * @param account Looks up a running account (throws UnknownAccountError).
   */
  constructor(account: (accountId: string) => ManagedAccount) {
    super();
    this.#account = account;
  }

  /**
   * Sends a trust request; it is retried until the target's receipt arrives
   * (or 7 days pass), also while the target is offline.
   *
   * @param accountId Our account.
   * @param to Target URI.
   * @param payload Opaque payload, at most 64,000 bytes.
   * @param options For a Jami account, the conversation id to carry
   *   (default "", a legacy request); ignored by our accounts.
   * @returns The request id (hex).
   * @throws {InvalidUriError} Malformed URI.
   * @throws {PayloadTooLargeError} Payload over the limit.
   * @throws {OwnAccountError} `to` is this account.
   */
  sendTrustRequest(
    accountId: string,
    to: string,
    payload: Uint8Array,
    options?: SendTrustRequestOptions,
  ): Promise<string> {
    const target = parseUri(to).toString();
    if (!(payload instanceof Uint8Array)) {
      throw new TypeError("Cannot send trust request: payload is not bytes");
    }
    return this.#account(accountId).sendTrustRequest(target, payload, options);
  }

  /**
   * Pending incoming requests.
   *
   * @param accountId Our account.
   * @returns The requests.
   */
  getTrustRequests(accountId: string): TrustRequest[] {
    return this.#account(accountId).getTrustRequests().map((request) => ({
      from: request.from,
      received: seconds(request.receivedMs),
      payload: request.payload,
    }));
  }

  /**
   * Accepts the pending request from `from`.
   *
   * @param accountId Our account.
   * @param from Sender URI.
   * @throws {NoPendingRequestError} If no request from `from` is pending.
   */
  acceptTrustRequest(accountId: string, from: string): Promise<void> {
    return this.#account(accountId).acceptTrustRequest(
      parseUri(from).toString(),
    );
  }

  /**
   * Drops the request from `from` silently.
   *
   * @param accountId Our account.
   * @param from Sender URI.
   * @returns True if there was one.
   */
  discardTrustRequest(accountId: string, from: string): Promise<boolean> {
    return this.#account(accountId).discardTrustRequest(
      parseUri(from).toString(),
    );
  }

  /**
   * Adds a contact (lifting a ban); sends nothing.
   *
   * @param accountId Our account.
   * @param uri Contact URI.
   */
  addContact(accountId: string, uri: string): Promise<void> {
    return this.#account(accountId).addContact(parseUri(uri).toString());
  }

  /**
   * Removes a contact; with `ban`, blocks it silently.
   *
   * @param accountId Our account.
   * @param uri Contact URI.
   * @param ban Also ban.
   */
  removeContact(accountId: string, uri: string, ban: boolean): Promise<void> {
    return this.#account(accountId).removeContact(
      parseUri(uri).toString(),
      ban,
    );
  }

  /**
   * Active and banned contacts.
   *
   * @param accountId Our account.
   * @returns Their details.
   */
  getContacts(accountId: string): ContactDetails[] {
    return this.#account(accountId).getContacts().map((contact) => ({
      id: contact.uri,
      added: seconds(contact.addedMs),
      removed: seconds(contact.removedMs),
      confirmed: contact.confirmed,
      banned: contact.banned && contact.removedMs >= contact.addedMs,
    }));
  }

  /**
   * One contact's details.
   *
   * @param accountId Our account.
   * @param uri Contact URI.
   * @returns The details, or undefined if unknown.
   */
  getContactDetails(
    accountId: string,
    uri: string,
  ): ContactDetails | undefined {
    const id = parseUri(uri).toString();
    const contact = this.#account(accountId).contact(id);
    if (contact === undefined) return undefined;
    return {
      id,
      added: seconds(contact.addedMs),
      removed: seconds(contact.removedMs),
      confirmed: contact.confirmed,
      banned: contact.banned && contact.removedMs >= contact.addedMs,
    };
  }
}
