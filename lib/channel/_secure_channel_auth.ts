/**
 * The auth frame of a `SecureChannel` handshake: how a device proves itself
 * (its certificate and its signature over the handshake transcript, sealed
 * under the handshake keys) and how the other side checks that proof, from
 * the cheapest refusal to the costliest check.
 *
 * The checks, in order: the body decodes, the certificate decodes, `screen`
 * (when given) accepts the account it claims, the certificate verifies at
 * `clock.now()`, its device key made the signature, and it is the
 * `expectedPeer` when one is given. `authorize` is the caller's to ask.
 *
 * @example A device's own auth frame checks out
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { authMessage, decodeAuthBody, encodeAuthBody } from "./_secure_channel_wire.ts";
 * import { checkAuth } from "./_secure_channel_auth.ts";
 *
 * const randomBytes = rngBytes(seededRng(7));
 * const clock = new ManualClock();
 * const device = DeviceKeys.generate(randomBytes);
 * const certificate = DeviceCertificate.issue(AccountKeys.generate(randomBytes), device, {
 *   issuedMs: clock.now(),
 * });
 * const transcriptHash = new Uint8Array(32);
 * const body = encodeAuthBody({
 *   certificate: certificate.bytes,
 *   signature: device.sign(authMessage("initiator", transcriptHash)),
 * });
 * assert.ok(decodeAuthBody(body) !== undefined);
 * const outcome = checkAuth(body, {
 *   transcriptHash, peerRole: "initiator", clock,
 *   screen: undefined, expectedPeer: undefined,
 * });
 * assert.equal(outcome.kind, "accepted");
 * const replayed = checkAuth(body, {
 *   transcriptHash: new Uint8Array(32).fill(1), peerRole: "initiator", clock,
 *   screen: undefined, expectedPeer: undefined,
 * });
 * assert.equal(replayed.kind, "refused");
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { bytesEqual, ed25519Verify } from "../crypto.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import {
  authMessage,
  decodeAuthBody,
  encodeAuthBody,
  FrameType,
  type Role,
  type SessionKeys,
} from "./_secure_channel_wire.ts";
import type {
  ChannelIdentity,
  ChannelPeer,
  SecureChannelOptions,
} from "./secure_channel_options.ts";

/** Outcome of checking a peer's auth frame. */
export type AuthOutcome =
  | { readonly kind: "accepted"; readonly peer: ChannelPeer }
  | { readonly kind: "refused" }
  | { readonly kind: "malformed" };

/** What the checker of a peer's auth frame needs to know. */
export interface AuthCheck {
  /** The transcript hash the peer signed, from the keys its frame came under. */
  readonly transcriptHash: Uint8Array;
  /** The peer's role in the handshake. */
  readonly peerRole: Role;
  /** Time for the certificate's validity. */
  readonly clock: Clock;
  /** The cheap first look at the claimed peer, if any. */
  readonly screen: ((claimed: ChannelPeer) => boolean) | undefined;
  /** The device the initiator dialled; `undefined` on the responder. */
  readonly expectedPeer: SecureChannelOptions["expectedPeer"];
}

/**
 * A whole auth frame by `role` over `keys`' transcript, sealed with `keys`.
 *
 * @param identity This device's keys and certificate.
 * @param keys The keys of the handshake step: their transcript is signed.
 * @param role This device's role.
 * @returns The frame, length prefix included.
 */
export function authFrame(
  identity: ChannelIdentity,
  keys: SessionKeys,
  role: Role,
): Uint8Array {
  const signature = identity.device.sign(
    authMessage(role, keys.transcriptHash),
  );
  const body = encodeAuthBody({
    certificate: identity.certificate.bytes,
    signature,
  });
  // The sealer's buffer: written before another frame is sealed (the
  // initiator's first flight goes out at the end of its constructor).
  return keys.sealer.seal(FrameType.AUTH, body);
}

/**
 * Checks a peer's auth frame body (all but `authorize`).
 *
 * @param body The decrypted body after the type byte; hostile.
 * @param check The transcript, roles, clock and expectations.
 * @returns `"malformed"` if the body does not decode, `"refused"` if a
 * check fails, else `"accepted"` with the claimed peer, now verified.
 */
export function checkAuth(body: Uint8Array, check: AuthCheck): AuthOutcome {
  const auth = decodeAuthBody(body);
  if (auth === undefined) return { kind: "malformed" };
  let certificate: DeviceCertificate;
  try {
    certificate = DeviceCertificate.decode(auth.certificate);
  } catch {
    return { kind: "refused" };
  }
  const claimed: ChannelPeer = {
    accountId: certificate.accountId,
    deviceId: certificate.deviceId,
    certificate,
  };
  // Cheapest refusal first: a stranger costs no signature check.
  if (check.screen !== undefined && check.screen(claimed) !== true) {
    return { kind: "refused" };
  }
  try {
    certificate.verify({ nowMs: check.clock.now() });
  } catch {
    // Forged, expired or not yet valid: not a peer we can trust.
    return { kind: "refused" };
  }
  const signed = ed25519Verify(
    auth.signature,
    authMessage(check.peerRole, check.transcriptHash),
    certificate.devicePublicKey,
  );
  const expected = check.expectedPeer;
  if (
    !signed ||
    (expected !== undefined &&
      (!expected.deviceId.equals(certificate.deviceId) ||
        !bytesEqual(expected.encryptionKey, certificate.encryptionKey)))
  ) {
    return { kind: "refused" };
  }
  return { kind: "accepted", peer: claimed };
}
