/**
 * The checked settings of a `SecureChannel`: its options' timings and size
 * limits, validated once at creation and with the defaults applied.
 *
 * @example Defaults apply
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { readSettings } from "./_secure_channel_settings.ts";
 * import { DEFAULT_KEEPALIVE_MS } from "./secure_channel_options.ts";
 *
 * const randomBytes = rngBytes(seededRng(6));
 * const device = DeviceKeys.generate(randomBytes);
 * const certificate = DeviceCertificate.issue(AccountKeys.generate(randomBytes), device, { issuedMs: 0 });
 * const settings = readSettings({
 *   identity: { device, certificate }, clock: new ManualClock(), randomBytes, authorize: () => true,
 * });
 * assert.equal(settings.keepaliveMs, DEFAULT_KEEPALIVE_MS);
 * assert.throws(() => readSettings({
 *   identity: { device, certificate }, clock: new ManualClock(), randomBytes, authorize: () => true,
 *   deadAfterMs: 0,
 * }), RangeError);
 * ```
 *
 * @module
 */
import { TAG_BYTES } from "../crypto.ts";
import { MAX_AUTH_PLAINTEXT_BYTES } from "./_secure_channel_wire.ts";
import {
  DEFAULT_DEAD_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES_LIMIT,
  type SecureChannelOptions,
} from "./secure_channel_options.ts";

/** A channel's timings and size limits, checked. */
export interface Settings {
  readonly keepaliveMs: number;
  readonly deadAfterMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Largest ciphertext after a length prefix. */
  readonly maxFrameBytes: number;
}

/** `value`, if it is a positive finite number; else a `RangeError` naming it. */
function checkDuration(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot create secure channel: ${name} ${value} is not a positive number`,
    );
  }
  return value;
}

/**
 * Checks a channel's options and applies the defaults.
 *
 * @param options The options given to `SecureChannel.initiate` or `accept`.
 * @returns The settings.
 * @throws {RangeError} If a timing or `maxMessageBytes` is out of range.
 * @throws {TypeError} If the certificate is not for the identity's device.
 */
export function readSettings(options: SecureChannelOptions): Settings {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (
    !Number.isInteger(maxMessageBytes) || maxMessageBytes < 1 ||
    maxMessageBytes > MAX_MESSAGE_BYTES_LIMIT
  ) {
    throw new RangeError(
      `Cannot create secure channel: maxMessageBytes ${maxMessageBytes} is not an integer from 1 to ${MAX_MESSAGE_BYTES_LIMIT}`,
    );
  }
  const { device, certificate } = options.identity;
  if (!certificate.deviceId.equals(device.id)) {
    throw new TypeError(
      `Cannot create secure channel: certificate is for device "${certificate.deviceId}", not "${device.id}"`,
    );
  }
  return {
    keepaliveMs: checkDuration(
      "keepaliveMs",
      options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    ),
    deadAfterMs: checkDuration(
      "deadAfterMs",
      options.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS,
    ),
    handshakeTimeoutMs: checkDuration(
      "handshakeTimeoutMs",
      options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    ),
    maxMessageBytes,
    maxFrameBytes: Math.max(1 + maxMessageBytes, MAX_AUTH_PLAINTEXT_BYTES) +
      TAG_BYTES,
  };
}
