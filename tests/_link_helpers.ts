/**
 * An initiator's first flight on a link, built by hand: the hello and the
 * sealed auth frame a stranger (or an impostor) sends before the responder
 * has said anything. Attack tests, the link fuzzer and the handshake bench
 * feed these bytes to a responder directly.
 *
 * @module
 */
import {
  authMessage,
  deriveEarly,
  encodeAuthBody,
  encodeInitiatorHello,
  FrameType,
  type SessionKeys,
} from "../lib/channel/_secure_channel_wire.ts";
import { x25519PublicKey, x25519Shared } from "../lib/crypto.ts";
import type { RandomBytes } from "../lib/rng.ts";

/** The two frames of a first flight and the early keys that sealed the auth frame. */
export interface InitiatorFlight {
  hello: Uint8Array;
  auth: Uint8Array;
  early: SessionKeys;
}

/**
 * A fresh ephemeral hello to the responder whose static key is `staticKey`,
 * then an auth frame showing `certificate` signed by `signer` (which need
 * not be the certificate's device).
 */
export function initiatorFlight(
  randomBytes: RandomBytes,
  staticKey: Uint8Array,
  certificate: Uint8Array,
  signer: { sign(message: Uint8Array): Uint8Array },
): InitiatorFlight {
  const secret = randomBytes(32);
  const hello = encodeInitiatorHello(x25519PublicKey(secret), staticKey);
  const early = deriveEarly({
    role: "initiator",
    staticShared: x25519Shared(secret, staticKey),
    initiatorHello: hello,
    responderStaticKey: staticKey,
  })!;
  const auth = early.sealer.seal(
    FrameType.AUTH,
    encodeAuthBody({
      certificate,
      signature: signer.sign(authMessage("initiator", early.transcriptHash)),
    }),
  );
  return { hello, auth, early };
}
