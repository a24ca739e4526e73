/**
 * The account mailbox: a virtual device that every device of an account can
 * act as, so a request reaches the account when none of its devices is
 * online (Jami then loses it: gap M3).
 *
 * Its keys are derived from the account secret (HKDF-SHA-256), so any device
 * holding the account archive derives the same mailbox; the account
 * certifies it like a device, with the reserved name {@link MAILBOX_NAME},
 * and devices publish that certificate at the account hash with a 7-day
 * lifetime. A sender seals to the mailbox exactly as to a device, and puts
 * the box at the mailbox's inbox key; whichever device of the target comes
 * back first opens it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { isMailboxCertificate, mailboxCertificate, mailboxKeys } from "./mailbox.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const account = AccountKeys.generate(rngBytes(seededRng(1)));
 * // Two devices of one account derive the same mailbox.
 * assert.ok(mailboxKeys(account).id.equals(mailboxKeys(account).id));
 * const certificate = mailboxCertificate(account, 0);
 * assert.ok(isMailboxCertificate(certificate));
 * ```
 *
 * @module
 */
import { hkdfSha256, utf8 } from "../crypto.ts";
import type { AccountKeys } from "../identity/account_keys.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import { DeviceKeys } from "../identity/device_keys.ts";

/** Device name reserved for the mailbox; real devices may not use it. */
export const MAILBOX_NAME = "@mailbox";
/** Validity of a mailbox certificate: 2 years. */
export const MAILBOX_CERTIFICATE_LIFETIME_MS = 2 * 365 * 24 * 3_600_000;

const SALT = utf8("jami-contacts/mailbox/v1");

/**
 * The mailbox keys of `account` (deterministic).
 *
 * @param account Account keys.
 * @returns The mailbox's device keys.
 */
export function mailboxKeys(account: AccountKeys): DeviceKeys {
  const okm = hkdfSha256(account.exportSecret(), SALT, utf8("keys"), 64);
  return DeviceKeys.fromSecrets({
    signing: okm.slice(0, 32),
    encryption: okm.slice(32, 64),
  });
}

/**
 * The account's certificate for its mailbox.
 *
 * @param account Account keys.
 * @param issuedMs Issue time, epoch ms.
 * @returns The certificate.
 */
export function mailboxCertificate(
  account: AccountKeys,
  issuedMs: number,
): DeviceCertificate {
  return DeviceCertificate.issue(account, mailboxKeys(account), {
    name: MAILBOX_NAME,
    issuedMs,
    lifetimeMs: MAILBOX_CERTIFICATE_LIFETIME_MS,
  });
}

/**
 * True if `certificate` certifies a mailbox (check its signature separately).
 *
 * @param certificate A device certificate.
 * @returns Whether it is a mailbox certificate.
 */
export function isMailboxCertificate(certificate: DeviceCertificate): boolean {
  return certificate.name === MAILBOX_NAME;
}
