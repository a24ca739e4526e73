/**
 * Errors the daemon API throws for bad input. Each is thrown before anything
 * changes or is sent.
 *
 * @module
 */

/** No account with this id on this daemon. */
export class UnknownAccountError extends Error {
  /**
   * An error naming the account.
   *
   * @param accountId The id asked for.
   */
  constructor(accountId: string) {
    super(`Unknown account: ${JSON.stringify(String(accountId).slice(0, 64))}`);
    this.name = "UnknownAccountError";
  }
}

/** A trust-request payload over the limit. */
export class PayloadTooLargeError extends RangeError {
  /**
   * An error naming the size and the limit.
   *
   * @param size Payload bytes.
   * @param limit The limit.
   */
  constructor(size: number, limit: number) {
    super(
      `Cannot send trust request: payload of ${size} bytes is over the limit of ${limit} bytes`,
    );
    this.name = "PayloadTooLargeError";
  }
}

/** The account's own id used where a contact is expected. */
export class OwnAccountError extends Error {
  /**
   * An error naming what was attempted.
   *
   * @param action What was attempted.
   */
  constructor(action: string) {
    super(`Cannot ${action}: that is this account's own id`);
    this.name = "OwnAccountError";
  }
}

/** The account is not running (stopped daemon, or removed). */
export class AccountStoppedError extends Error {
  /**
   * An error naming the account.
   *
   * @param accountId The account.
   */
  constructor(accountId: string) {
    super(`Account ${accountId} is not running`);
    this.name = "AccountStoppedError";
  }
}

/** A limit on pending state was reached (outbox, contacts). */
export class QuotaExceededError extends RangeError {
  /**
   * An error naming what is full.
   *
   * @param what What is full.
   */
  constructor(what: string) {
    super(`Cannot continue: ${what} is full`);
    this.name = "QuotaExceededError";
  }
}

/**
 * An account's state (its contacts) is in storage but its archive (its
 * keys) is not: starting anyway would make a new identity for everyone who
 * knows this account, so the daemon refuses to open.
 */
export class MissingArchiveError extends Error {
  /** The account whose archive is missing (40 hex). */
  readonly accountId: string;
  /** The storage key the archive is expected under. */
  readonly archiveKey: string;
  /** The storage key of the state that is present. */
  readonly stateKey: string;

  /**
   * An error saying what is missing and what to do.
   *
   * @param accountId The account (40 hex).
   * @param archiveKey The archive's storage key (its file name on disk).
   * @param stateKey The state's storage key (its file name on disk).
   */
  constructor(accountId: string, archiveKey: string, stateKey: string) {
    super(
      `Cannot open account ${accountId}: its archive "${archiveKey}" is missing but its state "${stateKey}" (contacts) is present. ` +
        `Restore "${archiveKey}" from a backup, or link this device again from another device's export; ` +
        `to start over with a new identity (contacts will not recognise it), move "${stateKey}" out of the data directory`,
    );
    this.name = "MissingArchiveError";
    this.accountId = accountId;
    this.archiveKey = archiveKey;
    this.stateKey = stateKey;
  }
}

/** `acceptTrustRequest` named an account with no pending request to accept. */
export class NoPendingRequestError extends Error {
  /**
   * An error naming the account.
   *
   * @param from The account named.
   */
  constructor(from: string) {
    super(
      `Cannot accept: no pending trust request from ${
        JSON.stringify(String(from).slice(0, 64))
      }`,
    );
    this.name = "NoPendingRequestError";
  }
}
