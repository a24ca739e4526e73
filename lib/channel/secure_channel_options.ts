/**
 * What a `SecureChannel` is given: this device's identity, the peer it
 * dials, the clock, the randomness, the authorization callbacks and the
 * timings, with their defaults; and what it reports of the peer once that
 * peer is verified.
 *
 * @example An initiator's options
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import {
 *   type ChannelIdentity,
 *   DEFAULT_KEEPALIVE_MS,
 *   type SecureChannelOptions,
 * } from "./secure_channel_options.ts";
 *
 * const randomBytes = rngBytes(seededRng(5));
 * const issue = (): ChannelIdentity => {
 *   const device = DeviceKeys.generate(randomBytes);
 *   const account = AccountKeys.generate(randomBytes);
 *   return { device, certificate: DeviceCertificate.issue(account, device, { issuedMs: 0 }) };
 * };
 * const bob = issue();
 * const options: SecureChannelOptions = {
 *   identity: issue(),
 *   clock: new ManualClock(),
 *   randomBytes,
 *   authorize: () => true,
 *   expectedPeer: bob.certificate,
 *   keepaliveMs: 2 * DEFAULT_KEEPALIVE_MS,
 * };
 * assert.equal(options.expectedPeer?.deviceId.equals(bob.device.id), true);
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";

/**
 * The initiator sends a ping when it sent nothing for this long: 7 s. With
 * {@link DEFAULT_DEAD_AFTER_MS} a crashed peer is seen within 9.5 s (the
 * link-loss target is 10 s). Idle pings and pongs were most of a device's
 * link bytes (each write also carries 40 to 52 bytes of TCP/IP headers): a
 * 4 s ping with an 8.5 s dead timer cost 75 % more for a second less.
 */
export const DEFAULT_KEEPALIVE_MS = 7_000;
/**
 * Close "timeout" when nothing was received for this long: 9.5 s, one
 * keepalive period plus 2.5 s for the pong's round trip and a
 * retransmission (TCP's, or the datagram stream's 2 s at most) of a lost
 * ping or pong.
 */
export const DEFAULT_DEAD_AFTER_MS = 9_500;
/** Close "timeout" when the handshake is not done after this long: 5 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Largest application message by default: 64 KiB of plaintext. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;
/** Largest `maxMessageBytes` accepted: 16 MiB. */
export const MAX_MESSAGE_BYTES_LIMIT = 16 * 1024 * 1024;

/** Who this device is on a channel: its keys and its account's certificate for them. */
export interface ChannelIdentity {
  /** This device's keys; the device key signs the handshake transcript. */
  readonly device: DeviceKeys;
  /** The account's certificate for `device`, sent to the peer. */
  readonly certificate: DeviceCertificate;
}

/** The other end of a channel, once its certificate and signature checked out. */
export interface ChannelPeer {
  /** The peer's account. */
  readonly accountId: InfoHash;
  /** The peer's device. */
  readonly deviceId: InfoHash;
  /** The peer's verified device certificate. */
  readonly certificate: DeviceCertificate;
}

/** Collaborators and settings of a `SecureChannel`. */
export interface SecureChannelOptions {
  /** This device's keys and certificate. */
  readonly identity: ChannelIdentity;
  /** Time for certificate checks and every timer. */
  readonly clock: Clock;
  /** Source of the ephemeral X25519 secret. */
  readonly randomBytes: RandomBytes;
  /**
   * Called once the peer proved its device key and its certificate verified
   * (signature by its account, validity at `clock.now()`). Return false to
   * refuse (unknown, banned, revoked): the channel then closes with
   * "refused" before any application message is delivered. If it throws,
   * the channel closes "refused" and the exception propagates.
   */
  readonly authorize: (peer: ChannelPeer) => boolean;
  /**
   * A cheap first look at the peer its certificate claims to be, before any
   * signature is checked (they cost the most): return false to refuse at
   * once (a stranger's account). The peer is not verified yet, so a true
   * answer grants nothing: `authorize` still decides after the checks.
   */
  readonly screen?: (claimed: ChannelPeer) => boolean;
  /**
   * The device an initiator dials, as its certificate (from the DHT) names
   * it: its id, and its static X25519 key (`DeviceCertificate.encryptionKey`)
   * that the first flight is sealed to; only that device may answer.
   * Required to initiate, ignored when accepting. A certificate will do.
   */
  readonly expectedPeer?: {
    /** The device's id. */
    readonly deviceId: InfoHash;
    /** The device's static X25519 key. */
    readonly encryptionKey: Uint8Array;
  };
  /** The initiator pings when it sent nothing for this long (the responder only answers). @default {7_000} */
  readonly keepaliveMs?: number;
  /** Close "timeout" when nothing was received for this long. @default {9_500} */
  readonly deadAfterMs?: number;
  /** Close "timeout" if the handshake is not done this long after creation. @default {5_000} */
  readonly handshakeTimeoutMs?: number;
  /** Largest application message, in plaintext bytes. @default {65_536} */
  readonly maxMessageBytes?: number;
}
